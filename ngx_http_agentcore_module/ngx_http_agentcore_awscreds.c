
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS credential sources (docs/credentials.md, bedrock-wire.md section
 * 9): the shapes of their answers and the blocking fetches, in plain C
 * on libcurl and jansson.  The nginx glue runs ac_creds_fetch() in a
 * thread and shares the result between the workers.
 *
 * Error texts are built for the error log: they name the source, the
 * endpoint's origin (scheme, host, port: never a path or a query) and
 * the cause, never a secret nor a byte of an answer that could hold one.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "ngx_http_agentcore_awscreds.h"


#define AC_IMDS_DEFAULT       "http://169.254.169.254"
#define AC_IMDS_DEFAULT_IPV6  "http://[fd00:ec2::254]"
#define AC_CONTAINER_HOST     "http://169.254.170.2"
#define AC_URL_MAX            2048
#define AC_ROLE_MAX           128
#define AC_IMDS_TOKEN_MAX     1024

#define ac_creds_is_digit(c)  ((c) >= '0' && (c) <= '9')
#define ac_creds_is_space(c)                                                 \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')


typedef struct {
    char               *data;      /* AC_CREDS_BODY_MAX + 1 bytes */
    size_t              len;
    int                 overflow;
} ac_body_t;


/* one fetch: its options and its clock */

typedef struct {
    const ac_creds_env_t   *env;
    const ac_creds_opts_t  *opts;
    struct timespec         start;
} ac_fetch_t;


struct ac_ini_s {
    struct ac_ini_entry_s  *entries;
    size_t                  n;
    size_t                  cap;
};


typedef struct ac_ini_entry_s {
    char                   *section;
    char                   *key;       /* NULL: the section's header */
    char                   *value;
} ac_ini_entry_t;


static int ac_fail(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void ac_clean(char *dst, size_t dstlen, const char *src, size_t len);
static char *ac_strndup(const char *s, size_t len);
static void ac_wipe_free(char *s);
static const char *ac_memmem(const char *p, size_t n, const char *s,
    size_t m);
static void ac_trim(const char **s, size_t *len);
static int ac_good_printable(const char *s, size_t len);
static int ac_is_true(const char *s);
static void ac_tried(char *tried, const char *what, const char *profile);
static int ac_fill(ac_creds_t *out, const char *akid, size_t akid_len,
    const char *secret, size_t secret_len, const char *token,
    size_t token_len, char *err, size_t errlen);
static int ac_xml_element(const char *p, const char *end, const char *name,
    const char **s, const char **e);
static char *ac_xml_text(const char *s, const char *e);
static void ac_url_origin(const char *url, char *out, size_t len);
static int ac_read_file(const char *path, size_t max, char **data,
    size_t *len, char *err, size_t errlen);
static int ac_shared_paths(const ac_creds_env_t *env, char *cred,
    char *conf, size_t len);
static int ac_load_ini(const char *path, ac_ini_t **ini, char *err,
    size_t errlen);
static int ac_read_token(const char *path, const char *what, char **token,
    char *err, size_t errlen);
static long ac_elapsed_ms(ac_fetch_t *f);
static int ac_http(ac_fetch_t *f, const char *method, const char *url,
    struct curl_slist *headers, const char *body, size_t body_len,
    long timeout_ms, int direct, long *status, ac_body_t *out, char *err,
    size_t errlen);
static int ac_body_init(ac_body_t *b);
static void ac_body_free(ac_body_t *b);
static int ac_fetch_container(ac_fetch_t *f, ac_creds_t *out, char *err,
    size_t errlen);
static int ac_fetch_imds(ac_fetch_t *f, ac_creds_t *out, char *err,
    size_t errlen);
static int ac_imds_token(ac_fetch_t *f, const char *base, char *token,
    size_t len, char *err, size_t errlen);
static int ac_fetch_web_identity(ac_fetch_t *f, const char *token_file,
    const char *role_arn, const char *session, const char *region,
    ac_creds_t *out, char *err, size_t errlen);
static int ac_fetch_profile(ac_fetch_t *f, const char *name, int must,
    ac_creds_t *out, char *err, size_t errlen);
static size_t ac_append(char *dst, const char *src);
static size_t ac_form_escape(char *dst, const char *src);


/* helpers */

static int
ac_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list  ap;

    if (errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }

    return -1;
}


/* text from elsewhere, for a message: printable ASCII, bounded */

static void
ac_clean(char *dst, size_t dstlen, const char *src, size_t len)
{
    size_t  i, n;

    if (dstlen == 0) {
        return;
    }

    n = (len < dstlen - 1) ? len : dstlen - 1;

    for (i = 0; i < n; i++) {
        dst[i] = ((unsigned char) src[i] >= 0x20
                  && (unsigned char) src[i] < 0x7f) ? src[i] : '?';
    }

    if (n < len && n >= 3) {
        memcpy(dst + n - 3, "...", 3);
    }

    dst[n] = '\0';
}


static char *
ac_strndup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/*
 * Every buffer that may hold a credential is wiped before it is released:
 * OPENSSL_cleanse(), a store the compiler cannot drop (a memset() right
 * before free() may be optimized away).
 */

static void
ac_wipe_free(char *s)
{
    if (s == NULL) {
        return;
    }

    OPENSSL_cleanse(s, strlen(s));
    free(s);
}


static const char *
ac_memmem(const char *p, size_t n, const char *s, size_t m)
{
    size_t  i;

    if (m == 0 || m > n) {
        return NULL;
    }

    for (i = 0; i + m <= n; i++) {
        if (p[i] == s[0] && memcmp(p + i, s, m) == 0) {
            return p + i;
        }
    }

    return NULL;
}


static void
ac_trim(const char **s, size_t *len)
{
    while (*len && ac_creds_is_space((*s)[0])) {
        (*s)++;
        (*len)--;
    }

    while (*len && ac_creds_is_space((*s)[*len - 1])) {
        (*len)--;
    }
}


/* visible ASCII only: nothing that could split a header line */

static int
ac_good_printable(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || (unsigned char) s[i] >= 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
ac_is_true(const char *s)
{
    return s != NULL && strcasecmp(s, "true") == 0;
}


int
ac_creds_good_key_id(const char *s, size_t len)
{
    size_t  i;

    if (len < 4 || len > AC_CREDS_AKID_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')
              || ac_creds_is_digit(s[i]) || s[i] == '_'))
        {
            return 0;
        }
    }

    return 1;
}


int
ac_creds_good_secret(const char *s, size_t len)
{
    return len >= 8 && len <= AC_CREDS_SECRET_MAX
           && ac_good_printable(s, len);
}


int
ac_creds_good_token(const char *s, size_t len)
{
    return len >= 1 && len <= AC_CREDS_TOKEN_MAX
           && ac_good_printable(s, len);
}


void
ac_creds_opts_default(ac_creds_opts_t *opts)
{
    opts->timeout_ms = 1000;
    opts->sts_timeout_ms = 5000;
    opts->budget_ms = 10000;
    opts->attempts = 3;
}


void
ac_creds_free(ac_creds_t *c)
{
    ac_wipe_free(c->access_key_id);
    ac_wipe_free(c->secret_access_key);
    ac_wipe_free(c->session_token);

    memset(c, 0, sizeof(ac_creds_t));
}


static int
ac_fill(ac_creds_t *out, const char *akid, size_t akid_len,
    const char *secret, size_t secret_len, const char *token,
    size_t token_len, char *err, size_t errlen)
{
    if (!ac_creds_good_key_id(akid, akid_len)) {
        return ac_fail(err, errlen, "the access key id is malformed "
                       "(4 to %d letters, digits or '_')", AC_CREDS_AKID_MAX);
    }

    if (!ac_creds_good_secret(secret, secret_len)) {
        return ac_fail(err, errlen, "the secret access key is malformed "
                       "(8 to %d visible ASCII characters)",
                       AC_CREDS_SECRET_MAX);
    }

    if (token && !ac_creds_good_token(token, token_len)) {
        return ac_fail(err, errlen, "the session token is malformed "
                       "(1 to %d visible ASCII characters)",
                       AC_CREDS_TOKEN_MAX);
    }

    out->access_key_id = ac_strndup(akid, akid_len);
    out->secret_access_key = ac_strndup(secret, secret_len);
    out->session_token = token ? ac_strndup(token, token_len) : NULL;

    if (out->access_key_id == NULL || out->secret_access_key == NULL
        || (token && out->session_token == NULL))
    {
        ac_creds_free(out);
        return ac_fail(err, errlen, "out of memory");
    }

    return 0;
}


/*
 * The variables, in the order they are looked at: a later name fills a
 * field only when an earlier one left it unset (AWS_REGION before
 * AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_STS before AWS_ENDPOINT_URL).
 * The one list of what the chain reads: the module passes exactly these
 * to the workers (ac_creds_env_name()).
 */

static const struct {
    const char  *name;
    size_t       offset;
} ac_creds_vars[] = {

#define ac_var(field, name)  { name, offsetof(ac_creds_env_t, field) }

    ac_var(access_key_id, "AWS_ACCESS_KEY_ID"),
    ac_var(secret_access_key, "AWS_SECRET_ACCESS_KEY"),
    ac_var(session_token, "AWS_SESSION_TOKEN"),
    ac_var(credential_expiration, "AWS_CREDENTIAL_EXPIRATION"),
    ac_var(bearer_token, "AWS_BEARER_TOKEN_BEDROCK"),
    ac_var(profile, "AWS_PROFILE"),
    ac_var(shared_credentials_file, "AWS_SHARED_CREDENTIALS_FILE"),
    ac_var(config_file, "AWS_CONFIG_FILE"),
    ac_var(home, "HOME"),
    ac_var(region, "AWS_REGION"),
    ac_var(region, "AWS_DEFAULT_REGION"),
    ac_var(web_identity_token_file, "AWS_WEB_IDENTITY_TOKEN_FILE"),
    ac_var(role_arn, "AWS_ROLE_ARN"),
    ac_var(role_session_name, "AWS_ROLE_SESSION_NAME"),
    ac_var(sts_endpoint, "AWS_ENDPOINT_URL_STS"),
    ac_var(sts_endpoint, "AWS_ENDPOINT_URL"),
    ac_var(container_full_uri, "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ac_var(container_relative_uri, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
    ac_var(container_token, "AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    ac_var(container_token_file, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
    ac_var(imds_endpoint, "AWS_EC2_METADATA_SERVICE_ENDPOINT"),
    ac_var(imds_endpoint_mode, "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"),
    ac_var(imds_disabled, "AWS_EC2_METADATA_DISABLED"),
    ac_var(imds_v1_disabled, "AWS_EC2_METADATA_V1_DISABLED")

#undef ac_var
};


void
ac_creds_env_load(ac_creds_env_t *env, ac_creds_getenv_pt get, void *data)
{
    size_t        i;
    const char  **field, *v;

    memset(env, 0, sizeof(ac_creds_env_t));

    for (i = 0; i < sizeof(ac_creds_vars) / sizeof(ac_creds_vars[0]); i++) {
        field = (const char **) ((char *) env + ac_creds_vars[i].offset);

        if (*field) {
            continue;
        }

        v = get(data, ac_creds_vars[i].name);

        if (v && v[0] != '\0') {
            *field = v;
        }
    }
}


const char *
ac_creds_env_name(size_t i)
{
    return i < sizeof(ac_creds_vars) / sizeof(ac_creds_vars[0])
           ? ac_creds_vars[i].name : NULL;
}


int
ac_creds_from_env(const ac_creds_env_t *env, time_t now, ac_creds_t *out,
    char *err, size_t errlen)
{
    time_t  t;

    memset(out, 0, sizeof(ac_creds_t));

    if (env->access_key_id == NULL && env->secret_access_key == NULL) {
        return 1;
    }

    if (env->access_key_id == NULL || env->secret_access_key == NULL) {
        return ac_fail(err, errlen, "%s is set without %s",
                       env->access_key_id ? "AWS_ACCESS_KEY_ID"
                                          : "AWS_SECRET_ACCESS_KEY",
                       env->access_key_id ? "AWS_SECRET_ACCESS_KEY"
                                          : "AWS_ACCESS_KEY_ID");
    }

    t = 0;

    if (env->credential_expiration) {
        if (ac_creds_parse_time(env->credential_expiration,
                                strlen(env->credential_expiration), &t)
            != 0)
        {
            return ac_fail(err, errlen, "AWS_CREDENTIAL_EXPIRATION is not "
                           "an ISO-8601 time");
        }

        if (t <= now) {
            return ac_fail(err, errlen, "the credentials in the environment "
                           "expired (AWS_CREDENTIAL_EXPIRATION)");
        }
    }

    if (ac_fill(out, env->access_key_id, strlen(env->access_key_id),
                env->secret_access_key, strlen(env->secret_access_key),
                env->session_token,
                env->session_token ? strlen(env->session_token) : 0,
                err, errlen)
        != 0)
    {
        return -1;
    }

    out->expiration = t;
    snprintf(out->source, sizeof(out->source), "environment");

    return 0;
}


/* ISO-8601 / RFC 3339 */

static int
ac_num(const char *s, size_t n, int *v)
{
    size_t  i;

    *v = 0;

    for (i = 0; i < n; i++) {
        if (!ac_creds_is_digit(s[i])) {
            return 0;
        }

        *v = *v * 10 + (s[i] - '0');
    }

    return 1;
}


int
ac_creds_parse_time(const char *s, size_t len, time_t *t)
{
    int         year, mon, day, hour, min, sec, oh, om, leap, mdays;
    long long   y, era, yoe, doy, doe, days, off;
    size_t      i, start;

    static const int  month_days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (len < 20
        || !ac_num(s, 4, &year) || s[4] != '-'
        || !ac_num(s + 5, 2, &mon) || s[7] != '-'
        || !ac_num(s + 8, 2, &day)
        || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        || !ac_num(s + 11, 2, &hour) || s[13] != ':'
        || !ac_num(s + 14, 2, &min) || s[16] != ':'
        || !ac_num(s + 17, 2, &sec))
    {
        return -1;
    }

    i = 19;

    if (s[i] == '.' || s[i] == ',') {
        start = ++i;

        while (i < len && ac_creds_is_digit(s[i])) {
            i++;
        }

        if (i == start) {
            return -1;
        }
    }

    off = 0;

    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;

    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        if (len - i == 6 && ac_num(s + i + 1, 2, &oh) && s[i + 3] == ':'
            && ac_num(s + i + 4, 2, &om))
        {
            /* +HH:MM */

        } else if (len - i == 5 && ac_num(s + i + 1, 2, &oh)
                   && ac_num(s + i + 3, 2, &om))
        {
            /* +HHMM */

        } else {
            return -1;
        }

        if (oh > 23 || om > 59) {
            return -1;
        }

        off = (long long) oh * 3600 + om * 60;

        if (s[i] == '-') {
            off = -off;
        }

        i = len;

    } else {
        return -1;
    }

    if (i != len) {
        return -1;
    }

    leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

    if (year < 1970 || mon < 1 || mon > 12 || day < 1) {
        return -1;
    }

    mdays = month_days[mon - 1] + (mon == 2 && leap);

    if (day > mdays || hour > 23 || min > 59 || sec > 60) {
        return -1;
    }

    /* days since 1970-01-01 of a proleptic Gregorian date */

    y = (mon <= 2) ? year - 1 : year;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (mon > 2 ? mon - 3 : mon + 9) + 2) / 5 + day - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    days = era * 146097 + doe - 719468;

    *t = (time_t) (days * 86400 + hour * 3600 + min * 60 + sec - off);

    return 0;
}


/* JSON answers */

int
ac_creds_parse_json(const char *body, size_t len, int imds, ac_creds_t *out,
    char *err, size_t errlen)
{
    char          code[64];
    json_t       *root, *akid, *secret, *token, *exp, *v;
    time_t        t;
    json_error_t  e;

    memset(out, 0, sizeof(ac_creds_t));

    root = json_loadb(body, len, 0, &e);

    if (root == NULL) {
        /* e.text may quote the answer: only the position is told */
        return ac_fail(err, errlen, "the answer is not JSON (error at "
                       "byte %d of %zu)", e.position, len);
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return ac_fail(err, errlen, "the answer is not a JSON object");
    }

    if (imds) {
        v = json_object_get(root, "Code");

        if (v && (!json_is_string(v)
                  || strcmp(json_string_value(v), "Success") != 0))
        {
            ac_clean(code, sizeof(code),
                     json_is_string(v) ? json_string_value(v) : "?",
                     json_is_string(v) ? json_string_length(v) : 1);
            json_decref(root);
            return ac_fail(err, errlen, "the answer's \"Code\" is \"%s\", "
                           "not \"Success\"", code);
        }
    }

    akid = json_object_get(root, "AccessKeyId");
    secret = json_object_get(root, "SecretAccessKey");
    token = json_object_get(root, "Token");
    exp = json_object_get(root, "Expiration");

    if (!json_is_string(akid) || !json_is_string(secret)
        || ((imds || token) && !json_is_string(token))
        || ((imds || exp) && !json_is_string(exp)))
    {
        json_decref(root);
        return ac_fail(err, errlen, "the answer lacks %s",
                       imds ? "one of the strings \"AccessKeyId\", "
                              "\"SecretAccessKey\", \"Token\", "
                              "\"Expiration\""
                            : "the strings \"AccessKeyId\" and "
                              "\"SecretAccessKey\" (\"Token\" and "
                              "\"Expiration\" must be strings too)");
    }

    t = 0;

    if (exp && ac_creds_parse_time(json_string_value(exp),
                                   json_string_length(exp), &t)
               != 0)
    {
        json_decref(root);
        return ac_fail(err, errlen, "the answer's \"Expiration\" is not an "
                       "ISO-8601 time");
    }

    if (ac_fill(out, json_string_value(akid), json_string_length(akid),
                json_string_value(secret), json_string_length(secret),
                token ? json_string_value(token) : NULL,
                token ? json_string_length(token) : 0, err, errlen)
        != 0)
    {
        json_decref(root);
        return -1;
    }

    out->expiration = t;

    json_decref(root);

    return 0;
}


void
ac_creds_error_json(const char *body, size_t len, char *out, size_t outlen)
{
    char          code[64], message[160];
    json_t       *root, *c, *m;
    json_error_t  e;

    out[0] = '\0';

    root = json_loadb(body, len, 0, &e);
    if (root == NULL) {
        return;
    }

    c = json_object_get(root, "Code");
    m = json_object_get(root, "Message");

    if (!json_is_string(m)) {
        m = json_object_get(root, "message");
    }

    code[0] = '\0';
    message[0] = '\0';

    if (json_is_string(c)) {
        ac_clean(code, sizeof(code), json_string_value(c),
                 json_string_length(c));
    }

    if (json_is_string(m)) {
        ac_clean(message, sizeof(message), json_string_value(m),
                 json_string_length(m));
    }

    if (code[0] || message[0]) {
        snprintf(out, outlen, "%s%s%s", code, (code[0] && message[0])
                 ? ": " : "", message);
    }

    json_decref(root);
}


int
ac_creds_imds_role(const char *body, size_t len, char *role, size_t rolelen)
{
    size_t       i;
    const char  *nl;

    nl = memchr(body, '\n', len);
    if (nl) {
        len = nl - body;
    }

    ac_trim(&body, &len);

    if (len == 0 || len >= rolelen || len > AC_ROLE_MAX) {
        return -1;
    }

    /* an IAM role name: it goes into the next URL as is */

    for (i = 0; i < len; i++) {
        if (!((body[i] >= 'A' && body[i] <= 'Z')
              || (body[i] >= 'a' && body[i] <= 'z')
              || ac_creds_is_digit(body[i])
              || (body[i] != '\0'
                  && strchr("+=,.@_-", body[i]) != NULL)))
        {
            return -1;
        }
    }

    memcpy(role, body, len);
    role[len] = '\0';

    return 0;
}


/* STS XML: the few elements needed, entities decoded */

static int
ac_xml_element(const char *p, const char *end, const char *name,
    const char **s, const char **e)
{
    char         close[80];
    size_t       n, m;
    const char  *q, *c;

    n = strlen(name);

    if (n + 4 > sizeof(close)) {
        return -1;
    }

    m = (size_t) snprintf(close, sizeof(close), "</%s>", name);

    while (p < end && (p = memchr(p, '<', end - p)) != NULL) {

        if ((size_t) (end - p) > n + 1 && memcmp(p + 1, name, n) == 0
            && (p[n + 1] == '>' || p[n + 1] == '/'
                || ac_creds_is_space(p[n + 1])))
        {
            q = memchr(p, '>', end - p);
            if (q == NULL) {
                return -1;
            }

            if (q[-1] == '/') {
                *s = q + 1;
                *e = q + 1;
                return 0;
            }

            c = ac_memmem(q + 1, end - (q + 1), close, m);
            if (c == NULL) {
                return -1;
            }

            *s = q + 1;
            *e = c;
            return 0;
        }

        p++;
    }

    return -1;
}


/* malloc'd, trimmed, with the five entities and &#N; decoded */

static char *
ac_xml_text(const char *s, const char *e)
{
    char          *out, *o;
    size_t         len;
    unsigned long  cp;
    const char    *semi, *d;

    len = e - s;
    ac_trim(&s, &len);
    e = s + len;

    out = malloc(len + 1);
    if (out == NULL) {
        return NULL;
    }

    o = out;

    while (s < e) {
        if (*s != '&') {
            *o++ = *s++;
            continue;
        }

        semi = memchr(s, ';', e - s);
        if (semi == NULL || semi - s > 10) {
            goto bad;
        }

        if (semi - s == 3 && memcmp(s, "&lt;", 4) == 0) {
            *o++ = '<';

        } else if (semi - s == 3 && memcmp(s, "&gt;", 4) == 0) {
            *o++ = '>';

        } else if (semi - s == 4 && memcmp(s, "&amp;", 5) == 0) {
            *o++ = '&';

        } else if (semi - s == 5 && memcmp(s, "&quot;", 6) == 0) {
            *o++ = '"';

        } else if (semi - s == 5 && memcmp(s, "&apos;", 6) == 0) {
            *o++ = '\'';

        } else if (s[1] == '#') {
            cp = 0;
            d = s + 2;

            if (d < semi && (*d == 'x' || *d == 'X')) {
                for (d++; d < semi; d++) {
                    cp = cp * 16 + (unsigned long) (ac_creds_is_digit(*d)
                         ? *d - '0'
                         : (*d >= 'a' && *d <= 'f') ? *d - 'a' + 10
                         : (*d >= 'A' && *d <= 'F') ? *d - 'A' + 10 : 999);
                    if (cp > 0x7f) {
                        goto bad;
                    }
                }

            } else {
                for ( /* void */ ; d < semi; d++) {
                    if (!ac_creds_is_digit(*d)) {
                        goto bad;
                    }
                    cp = cp * 10 + (unsigned long) (*d - '0');
                    if (cp > 0x7f) {
                        goto bad;
                    }
                }
            }

            if (d == s + 2 || cp == 0) {
                goto bad;
            }

            /* credentials are ASCII: anything else is refused later */
            *o++ = (char) cp;

        } else {
            goto bad;
        }

        s = semi + 1;
    }

    *o = '\0';

    return out;

bad:

    OPENSSL_cleanse(out, len + 1);
    free(out);
    return NULL;
}


int
ac_creds_parse_sts(const char *body, size_t len, ac_creds_t *out,
    char *err, size_t errlen)
{
    int          rc;
    char        *f[4], code[64], message[200];
    size_t       i;
    const char  *end, *s, *e, *rs, *re;

    static const char  *names[] = {
        "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"
    };

    memset(out, 0, sizeof(ac_creds_t));

    end = body + len;

    if (ac_xml_element(body, end, "ErrorResponse", &rs, &re) == 0
        || ac_xml_element(body, end, "Error", &rs, &re) == 0)
    {
        code[0] = '\0';
        message[0] = '\0';

        if (ac_xml_element(rs, re, "Code", &s, &e) == 0) {
            ac_clean(code, sizeof(code), s, e - s);
        }

        if (ac_xml_element(rs, re, "Message", &s, &e) == 0) {
            ac_clean(message, sizeof(message), s, e - s);
        }

        return ac_fail(err, errlen, "STS answered an error: %s%s%s",
                       code[0] ? code : "(no code)",
                       message[0] ? ": " : "", message);
    }

    if (ac_xml_element(body, end, "AssumeRoleWithWebIdentityResult",
                       &rs, &re)
        != 0
        || ac_xml_element(rs, re, "Credentials", &rs, &re) != 0)
    {
        return ac_fail(err, errlen, "the answer is not an "
                       "AssumeRoleWithWebIdentityResponse with Credentials");
    }

    memset(f, 0, sizeof(f));
    rc = 0;

    for (i = 0; i < 4; i++) {
        if (ac_xml_element(rs, re, names[i], &s, &e) != 0) {
            rc = ac_fail(err, errlen, "the answer's Credentials lack %s",
                         names[i]);
            goto done;
        }

        f[i] = ac_xml_text(s, e);

        if (f[i] == NULL) {
            rc = ac_fail(err, errlen, "the answer's %s is not valid XML "
                         "text", names[i]);
            goto done;
        }
    }

    if (ac_creds_parse_time(f[3], strlen(f[3]), &out->expiration) != 0) {
        rc = ac_fail(err, errlen, "the answer's Expiration is not an "
                     "ISO-8601 time");
        goto done;
    }

    rc = ac_fill(out, f[0], strlen(f[0]), f[1], strlen(f[1]), f[2],
                 strlen(f[2]), err, errlen);

done:

    for (i = 0; i < 4; i++) {
        ac_wipe_free(f[i]);
    }

    if (rc != 0) {
        out->expiration = 0;
    }

    return rc;
}


/* the shared ini files */

static int
ac_ini_add(ac_ini_t *ini, const char *section, const char *key,
    size_t key_len, const char *value, size_t value_len)
{
    size_t           i;
    ac_ini_entry_t  *e;

    if (ini->n == ini->cap) {
        ini->cap = ini->cap ? ini->cap * 2 : 16;
        e = realloc(ini->entries, ini->cap * sizeof(ac_ini_entry_t));
        if (e == NULL) {
            return -1;
        }

        ini->entries = e;
    }

    e = &ini->entries[ini->n];
    memset(e, 0, sizeof(ac_ini_entry_t));

    e->section = strdup(section);

    if (key) {
        e->key = ac_strndup(key, key_len);
        e->value = ac_strndup(value, value_len);
    }

    if (e->section == NULL || (key && (e->key == NULL || e->value == NULL)))
    {
        free(e->section);
        free(e->key);
        ac_wipe_free(e->value);
        return -1;
    }

    if (e->key) {
        for (i = 0; e->key[i]; i++) {
            if (e->key[i] >= 'A' && e->key[i] <= 'Z') {
                e->key[i] += 'a' - 'A';
            }
        }
    }

    ini->n++;

    return 0;
}


ac_ini_t *
ac_ini_parse(const char *text, size_t len)
{
    char         section[256];
    size_t       n, i, k, line_len;
    ac_ini_t    *ini;
    const char  *end, *line, *nl, *d, *key, *value;

    ini = calloc(1, sizeof(ac_ini_t));
    if (ini == NULL) {
        return NULL;
    }

    end = text + len;

    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
        text += 3;
    }

    section[0] = '\0';

    for (line = text; line < end; line = nl ? nl + 1 : end) {
        nl = memchr(line, '\n', end - line);
        line_len = (nl ? nl : end) - line;

        /* an indented line continues a value or nests keys: not ours */

        if (line_len && (line[0] == ' ' || line[0] == '\t')) {
            continue;
        }

        ac_trim(&line, &line_len);

        if (line_len == 0 || line[0] == '#' || line[0] == ';') {
            continue;
        }

        if (line[0] == '[') {
            if (line[line_len - 1] != ']') {
                continue;
            }

            key = line + 1;
            n = line_len - 2;
            ac_trim(&key, &n);

            if (n == 0 || n >= sizeof(section)) {
                section[0] = '\0';
                continue;
            }

            /* "profile   name" is "profile name" */

            for (i = 0, k = 0; i < n; i++) {
                if (ac_creds_is_space(key[i])) {
                    if (k && section[k - 1] != ' ') {
                        section[k++] = ' ';
                    }
                    continue;
                }

                section[k++] = key[i];
            }

            section[k] = '\0';

            if (ac_ini_add(ini, section, NULL, 0, NULL, 0) != 0) {
                goto failed;
            }

            continue;
        }

        if (section[0] == '\0') {
            continue;
        }

        d = NULL;

        for (i = 0; i < line_len; i++) {
            if (line[i] == '=' || line[i] == ':') {
                d = line + i;
                break;
            }
        }

        if (d == NULL) {
            continue;
        }

        key = line;
        n = d - line;
        ac_trim(&key, &n);

        value = d + 1;
        i = line + line_len - value;
        ac_trim(&value, &i);

        if (n == 0) {
            continue;
        }

        if (ac_ini_add(ini, section, key, n, value, i) != 0) {
            goto failed;
        }
    }

    return ini;

failed:

    ac_ini_free(ini);
    return NULL;
}


int
ac_ini_has(const ac_ini_t *ini, const char *section)
{
    size_t  i;

    if (ini == NULL) {
        return 0;
    }

    for (i = 0; i < ini->n; i++) {
        if (strcmp(ini->entries[i].section, section) == 0) {
            return 1;
        }
    }

    return 0;
}


const char *
ac_ini_get(const ac_ini_t *ini, const char *section, const char *key)
{
    size_t  i;

    if (ini == NULL || section == NULL) {
        return NULL;
    }

    /* the last one wins */

    for (i = ini->n; i > 0; i--) {
        if (ini->entries[i - 1].key
            && strcmp(ini->entries[i - 1].section, section) == 0
            && strcasecmp(ini->entries[i - 1].key, key) == 0)
        {
            return ini->entries[i - 1].value;
        }
    }

    return NULL;
}


void
ac_ini_free(ac_ini_t *ini)
{
    size_t  i;

    if (ini == NULL) {
        return;
    }

    for (i = 0; i < ini->n; i++) {
        free(ini->entries[i].section);
        free(ini->entries[i].key);
        ac_wipe_free(ini->entries[i].value);
    }

    free(ini->entries);
    free(ini);
}


static const char *
ac_profile_get(const ac_ini_t *cred, const char *csec, const ac_ini_t *conf,
    const char *fsec, const char *key)
{
    const char  *v;

    v = ac_ini_get(cred, csec, key);

    if (v == NULL || v[0] == '\0') {
        v = ac_ini_get(conf, fsec, key);
    }

    return (v && v[0]) ? v : NULL;
}


int
ac_creds_profile(const ac_ini_t *credentials, const ac_ini_t *config,
    const char *name, ac_creds_profile_t *p, char *err, size_t errlen)
{
    char         fsec[300];
    const char  *csec, *sec;

    memset(p, 0, sizeof(ac_creds_profile_t));

    csec = ac_ini_has(credentials, name) ? name : NULL;

    snprintf(fsec, sizeof(fsec), "profile %s", name);

    if (strcmp(name, "default") == 0 && ac_ini_has(config, "default")) {
        sec = "default";

    } else {
        sec = ac_ini_has(config, fsec) ? fsec : NULL;
    }

    if (csec == NULL && sec == NULL) {
        return 1;
    }

#define ac_get(key)  ac_profile_get(credentials, csec, config, sec, key)

    p->region = ac_get("region");
    p->role_arn = ac_get("role_arn");
    p->role_session_name = ac_get("role_session_name");
    p->web_identity_token_file = ac_get("web_identity_token_file");
    p->access_key_id = ac_get("aws_access_key_id");
    p->secret_access_key = ac_get("aws_secret_access_key");
    p->session_token = ac_get("aws_session_token");

    if (p->role_arn) {
        if (p->web_identity_token_file) {
            p->kind = AC_PROFILE_WEB_IDENTITY;
            return 0;
        }

        if (ac_get("source_profile") || ac_get("credential_source")) {
            return ac_fail(err, errlen, "role_arn with source_profile or "
                           "credential_source (AssumeRole) is not "
                           "supported; use web_identity_token_file or keys");
        }

        return ac_fail(err, errlen, "role_arn without "
                       "web_identity_token_file");
    }

    if (ac_get("sso_session") || ac_get("sso_start_url")) {
        return ac_fail(err, errlen, "IAM Identity Center (sso_*) profiles "
                       "are not supported");
    }

    if (p->access_key_id && p->secret_access_key) {
        p->kind = AC_PROFILE_KEYS;
        return 0;
    }

    if (p->access_key_id || p->secret_access_key) {
        return ac_fail(err, errlen, "%s without %s",
                       p->access_key_id ? "aws_access_key_id"
                                        : "aws_secret_access_key",
                       p->access_key_id ? "aws_secret_access_key"
                                        : "aws_access_key_id");
    }

    if (ac_get("credential_process")) {
        return ac_fail(err, errlen, "credential_process is not supported");
    }

#undef ac_get

    return ac_fail(err, errlen, "no aws_access_key_id and "
                   "aws_secret_access_key, nor role_arn with "
                   "web_identity_token_file");
}


/* files */

static int
ac_read_file(const char *path, size_t max, char **data, size_t *len,
    char *err, size_t errlen)
{
    int          fd;
    char        *buf;
    size_t       n;
    ssize_t      r;
    struct stat  st;

    *data = NULL;
    *len = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
        if (errno == ENOENT) {
            return 1;
        }

        return ac_fail(err, errlen, "cannot open \"%s\": %s", path,
                       strerror(errno));
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ac_fail(err, errlen, "\"%s\" is not a regular file", path);
    }

    if ((size_t) st.st_size > max) {
        close(fd);
        return ac_fail(err, errlen, "\"%s\" is larger than %zu bytes", path,
                       max);
    }

    buf = malloc((size_t) st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return ac_fail(err, errlen, "out of memory");
    }

    n = 0;

    while (n < (size_t) st.st_size) {
        r = read(fd, buf + n, (size_t) st.st_size - n);

        if (r == -1 && errno == EINTR) {
            continue;
        }

        if (r <= 0) {
            break;
        }

        n += r;
    }

    close(fd);

    buf[n] = '\0';
    *data = buf;
    *len = n;

    return 0;
}


static int
ac_expand(const char *path, const char *home, const char *dflt, char *out,
    size_t len)
{
    int  n;

    if (path == NULL) {
        if (home == NULL) {
            return -1;
        }

        n = snprintf(out, len, "%s/%s", home, dflt);

    } else if (path[0] == '~' && path[1] == '/' && home) {
        n = snprintf(out, len, "%s%s", home, path + 1);

    } else {
        n = snprintf(out, len, "%s", path);
    }

    return (n < 0 || (size_t) n >= len) ? -1 : 0;
}


static int
ac_shared_paths(const ac_creds_env_t *env, char *cred, char *conf,
    size_t len)
{
    if (ac_expand(env->shared_credentials_file, env->home,
                  ".aws/credentials", cred, len)
        != 0)
    {
        snprintf(cred, len, "~/.aws/credentials");
    }

    if (ac_expand(env->config_file, env->home, ".aws/config", conf, len)
        != 0)
    {
        snprintf(conf, len, "~/.aws/config");
    }

    return 0;
}


/* *ini is NULL for a missing file */

static int
ac_load_ini(const char *path, ac_ini_t **ini, char *err, size_t errlen)
{
    int      rc;
    char    *data;
    size_t   len;

    *ini = NULL;

    if (path[0] == '~') {
        /* no home directory to look in */
        return 0;
    }

    rc = ac_read_file(path, AC_CREDS_FILE_MAX, &data, &len, err, errlen);

    if (rc == 1) {
        return 0;
    }

    if (rc != 0) {
        return -1;
    }

    *ini = ac_ini_parse(data, len);

    OPENSSL_cleanse(data, len);
    free(data);

    if (*ini == NULL) {
        return ac_fail(err, errlen, "out of memory");
    }

    return 0;
}


/* a token file: trimmed, one line, visible ASCII */

static int
ac_read_token(const char *path, const char *what, char **token, char *err,
    size_t errlen)
{
    int          rc;
    char        *data;
    size_t       len;
    const char  *s;

    *token = NULL;

    rc = ac_read_file(path, AC_CREDS_BODY_MAX, &data, &len, err, errlen);

    if (rc == 1) {
        return ac_fail(err, errlen, "the %s file \"%s\" does not exist",
                       what, path);
    }

    if (rc != 0) {
        return -1;
    }

    s = data;
    ac_trim(&s, &len);

    if (len == 0 || !ac_good_printable(s, len)) {
        OPENSSL_cleanse(data, strlen(data));
        free(data);
        return ac_fail(err, errlen, "the %s file \"%s\" is empty or holds "
                       "more than one line", what, path);
    }

    memmove(data, s, len);
    data[len] = '\0';
    *token = data;

    return 0;
}


/* URLs */

static void
ac_url_origin(const char *url, char *out, size_t len)
{
    size_t       n;
    const char  *p, *host;

    p = strstr(url, "://");
    host = p ? p + 3 : url;

    for (p = host; *p && *p != '/' && *p != '?' && *p != '#'; p++) {
        /* void */
    }

    n = p - url;
    ac_clean(out, len, url, n);
}


/* the host part of an http URL with no userinfo: 0, or -1 */

static int
ac_url_host(const char *url, char *host, size_t len)
{
    size_t       n;
    const char  *p, *e;

    p = url + sizeof("http://") - 1;

    for (e = p; *e && *e != '/' && *e != '?' && *e != '#'; e++) {
        if (*e == '@') {
            return -1;
        }
    }

    if (*p == '[') {
        e = memchr(p, ']', e - p);
        if (e == NULL) {
            return -1;
        }

        e++;

    } else {
        n = e - p;
        e = memchr(p, ':', n);
        if (e == NULL) {
            e = p + n;
        }
    }

    n = e - p;

    if (n == 0 || n >= len) {
        return -1;
    }

    memcpy(host, p, n);
    host[n] = '\0';

    return 0;
}


static int
ac_container_host_allowed(const char *host)
{
    int          dots, digits;
    const char  *p;

    if (strcmp(host, "169.254.170.2") == 0
        || strcmp(host, "169.254.170.23") == 0
        || strcasecmp(host, "[fd00:ec2::23]") == 0
        || strcmp(host, "[::1]") == 0
        || strcasecmp(host, "localhost") == 0)
    {
        return 1;
    }

    if (strncmp(host, "127.", 4) != 0) {
        return 0;
    }

    /* 127.0.0.0/8 as a dotted quad: three more parts of 1 to 3 digits */

    dots = 0;
    digits = 0;

    for (p = host + 4; *p; p++) {
        if (*p == '.' && digits) {
            dots++;
            digits = 0;

        } else if (ac_creds_is_digit(*p) && ++digits <= 3) {
            /* void */

        } else {
            return 0;
        }
    }

    return dots == 2 && digits;
}


int
ac_creds_container_url(const ac_creds_env_t *env, char *url, size_t len,
    char *err, size_t errlen)
{
    int          n;
    char         host[256];
    const char  *p;

    if (env->container_relative_uri) {
        if (env->container_relative_uri[0] != '/') {
            return ac_fail(err, errlen, "AWS_CONTAINER_CREDENTIALS_"
                           "RELATIVE_URI does not start with \"/\"");
        }

        p = env->container_relative_uri;
        n = snprintf(url, len, "%s%s", AC_CONTAINER_HOST, p);

    } else if (env->container_full_uri) {
        p = env->container_full_uri;

        if (strncasecmp(p, "https://", 8) == 0) {
            /* any host */

        } else if (strncasecmp(p, "http://", 7) == 0) {
            if (ac_url_host(p, host, sizeof(host)) != 0
                || !ac_container_host_allowed(host))
            {
                return ac_fail(err, errlen, "AWS_CONTAINER_CREDENTIALS_"
                               "FULL_URI must be https, or http to a "
                               "loopback or container-metadata address");
            }

        } else {
            return ac_fail(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI"
                           " is not an http or https URL");
        }

        n = snprintf(url, len, "%s", p);

    } else {
        return 1;
    }

    if (n < 0 || (size_t) n >= len || !ac_good_printable(url, n)) {
        return ac_fail(err, errlen, "the container credentials URL is too "
                       "long or holds spaces or control characters");
    }

    return 0;
}


/* HTTP over libcurl */

int
ac_creds_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


static long
ac_elapsed_ms(ac_fetch_t *f)
{
    struct timespec  now;

    clock_gettime(CLOCK_MONOTONIC, &now);

    return (long) (now.tv_sec - f->start.tv_sec) * 1000
           + (now.tv_nsec - f->start.tv_nsec) / 1000000;
}


static size_t
ac_curl_write(char *p, size_t size, size_t n, void *data)
{
    ac_body_t  *b = data;

    size *= n;

    if (size > AC_CREDS_BODY_MAX - b->len) {
        b->overflow = 1;
        return 0;
    }

    memcpy(b->data + b->len, p, size);
    b->len += size;
    b->data[b->len] = '\0';

    return size;
}


static int
ac_body_init(ac_body_t *b)
{
    b->data = malloc(AC_CREDS_BODY_MAX + 1);
    b->len = 0;
    b->overflow = 0;

    if (b->data) {
        b->data[0] = '\0';
    }

    return b->data ? 0 : -1;
}


/* answers may hold secrets: wiped */

static void
ac_body_free(ac_body_t *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->len);
        free(b->data);
        b->data = NULL;
    }
}


/*
 * One HTTP exchange: 0 with *status (any), or -2 for a network error
 * or a timeout (to retry), or -1.  The body is reset first.
 */

static int
ac_http(ac_fetch_t *f, const char *method, const char *url,
    struct curl_slist *headers, const char *body, size_t body_len,
    long timeout_ms, int direct, long *status, ac_body_t *out, char *err,
    size_t errlen)
{
    long      left;
    char      origin[128];
    CURL     *h;
    CURLcode  rc;

    out->len = 0;
    out->overflow = 0;
    out->data[0] = '\0';

    ac_url_origin(url, origin, sizeof(origin));

    left = f->opts->budget_ms - ac_elapsed_ms(f);

    if (left <= 0) {
        return ac_fail(err, errlen, "%s %s: gave up after %ld ms", method,
                       origin, f->opts->budget_ms);
    }

    if (timeout_ms > left) {
        timeout_ms = left;
    }

    h = curl_easy_init();
    if (h == NULL) {
        return ac_fail(err, errlen, "curl_easy_init() failed");
    }

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                     (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ngx_http_agentcore_module");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ac_curl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);

    if (headers) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    }

    if (direct) {
        /* link-local and loopback metadata endpoints: never a proxy */
        curl_easy_setopt(h, CURLOPT_PROXY, "");
    }

    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long) body_len);
    }

    rc = curl_easy_perform(h);

    if (rc != CURLE_OK) {
        curl_easy_cleanup(h);

        if (rc == CURLE_WRITE_ERROR && out->overflow) {
            return ac_fail(err, errlen, "%s %s: the answer is larger than "
                           "%d bytes", method, origin, AC_CREDS_BODY_MAX);
        }

        if (rc == CURLE_OPERATION_TIMEDOUT) {
            ac_fail(err, errlen, "%s %s timed out after %ld ms", method,
                    origin, timeout_ms);
            return -2;
        }

        ac_fail(err, errlen, "%s %s failed: %s", method, origin,
                curl_easy_strerror(rc));
        return -2;
    }

    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);

    return 0;
}


/* one call with retries for network errors and 5xx */

static int
ac_http_retry(ac_fetch_t *f, const char *method, const char *url,
    struct curl_slist *headers, const char *body, size_t body_len,
    long timeout_ms, int direct, long *status, ac_body_t *out, char *err,
    size_t errlen)
{
    int   i, rc;
    char  origin[128];

    rc = -1;

    for (i = 0; i < f->opts->attempts; i++) {
        rc = ac_http(f, method, url, headers, body, body_len, timeout_ms,
                     direct, status, out, err, errlen);

        if (rc == -1) {
            return -1;
        }

        if (rc == 0 && *status < 500) {
            return 0;
        }

        if (rc == 0) {
            ac_url_origin(url, origin, sizeof(origin));
            ac_fail(err, errlen, "%s %s answered HTTP %ld", method, origin,
                    *status);
        }
    }

    return (rc == 0) ? -1 : rc;
}


/* the container endpoint: ECS, EKS Pod Identity, and the like */

static int
ac_fetch_container(ac_fetch_t *f, ac_creds_t *out, char *err, size_t errlen)
{
    int                 rc, have;
    long                status;
    char               *token, *header, url[AC_URL_MAX], origin[128],
                        msg[240];
    size_t              n;
    ac_body_t           body;
    struct curl_slist  *headers, *h;

    rc = ac_creds_container_url(f->env, url, sizeof(url), err, errlen);
    if (rc != 0) {
        return -1;
    }

    ac_url_origin(url, origin, sizeof(origin));

    token = NULL;

    if (f->env->container_token_file) {
        if (ac_read_token(f->env->container_token_file,
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token,
                          err, errlen)
            != 0)
        {
            return -1;
        }

    } else if (f->env->container_token) {
        if (strchr(f->env->container_token, '\r')
            || strchr(f->env->container_token, '\n'))
        {
            return ac_fail(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN "
                           "holds CR or LF");
        }

        token = strdup(f->env->container_token);
        if (token == NULL) {
            return ac_fail(err, errlen, "out of memory");
        }
    }

    headers = curl_slist_append(NULL, "Accept: application/json");
    header = NULL;
    have = (token != NULL);

    if (headers && token) {
        n = sizeof("Authorization: ") + strlen(token);
        header = malloc(n);

        if (header) {
            snprintf(header, n, "Authorization: %s", token);
            h = curl_slist_append(headers, header);
            headers = h;
        }
    }

    ac_wipe_free(token);

    if (headers == NULL || (have && header == NULL) || ac_body_init(&body))
    {
        ac_wipe_free(header);
        curl_slist_free_all(headers);
        return ac_fail(err, errlen, "out of memory");
    }

    rc = ac_http_retry(f, "GET", url, headers, NULL, 0, f->opts->timeout_ms,
                       1, &status, &body, err, errlen);

    /* the header list holds the token */
    curl_slist_free_all(headers);
    ac_wipe_free(header);

    if (rc != 0) {
        ac_body_free(&body);
        return -1;
    }

    if (status != 200) {
        ac_creds_error_json(body.data, body.len, msg, sizeof(msg));
        ac_body_free(&body);
        return ac_fail(err, errlen, "GET %s answered HTTP %ld%s%s", origin,
                       status, msg[0] ? ": " : "", msg);
    }

    rc = ac_creds_parse_json(body.data, body.len, 0, out, msg, sizeof(msg));
    ac_body_free(&body);

    if (rc != 0) {
        return ac_fail(err, errlen, "GET %s: %s", origin, msg);
    }

    snprintf(out->source, sizeof(out->source), "container endpoint");

    return 0;
}


/* IMDSv2: the token, the role, the credentials */

static int
ac_imds_token(ac_fetch_t *f, const char *base, char *token, size_t len,
    char *err, size_t errlen)
{
    int                 rc;
    long                status;
    char                url[AC_URL_MAX];
    size_t              n;
    ac_body_t           body;
    const char         *s;
    struct curl_slist  *headers;

    token[0] = '\0';

    snprintf(url, sizeof(url), "%s/latest/api/token", base);

    headers = curl_slist_append(NULL,
                                "x-aws-ec2-metadata-token-ttl-seconds: 21600");
    if (headers) {
        headers = curl_slist_append(headers, "Content-Type:");
    }

    if (headers == NULL || ac_body_init(&body) != 0) {
        curl_slist_free_all(headers);
        return ac_fail(err, errlen, "out of memory");
    }

    rc = ac_http_retry(f, "PUT", url, headers, NULL, 0, f->opts->timeout_ms,
                       1, &status, &body, err, errlen);

    curl_slist_free_all(headers);

    if (rc == -1) {
        ac_body_free(&body);
        return -1;
    }

    if (rc == -2 || status == 403 || status == 404 || status == 405) {
        /* no token: IMDSv1, unless it is forbidden */
        ac_body_free(&body);

        if (ac_is_true(f->env->imds_v1_disabled)) {
            if (rc == 0) {
                ac_fail(err, errlen, "PUT /latest/api/token answered HTTP "
                        "%ld and AWS_EC2_METADATA_V1_DISABLED is set",
                        status);
            }

            return -1;
        }

        return 1;
    }

    if (status != 200) {
        ac_body_free(&body);
        return ac_fail(err, errlen, "PUT /latest/api/token answered HTTP "
                       "%ld", status);
    }

    s = body.data;
    n = body.len;
    ac_trim(&s, &n);

    if (n == 0 || n >= len || n > AC_IMDS_TOKEN_MAX
        || !ac_good_printable(s, n))
    {
        ac_body_free(&body);
        return ac_fail(err, errlen, "PUT /latest/api/token answered a "
                       "malformed token");
    }

    memcpy(token, s, n);
    token[n] = '\0';

    ac_body_free(&body);

    return 0;
}


static int
ac_fetch_imds(ac_fetch_t *f, ac_creds_t *out, char *err, size_t errlen)
{
    int                 rc, tries, have;
    long                status;
    char                base[AC_URL_MAX / 2], url[AC_URL_MAX], origin[128],
                        token[AC_IMDS_TOKEN_MAX + 1], role[AC_ROLE_MAX + 1],
                        header[AC_IMDS_TOKEN_MAX + 64], msg[240];
    size_t              n;
    ac_body_t           body;
    struct curl_slist  *headers;

    if (f->env->imds_endpoint) {
        if (strncasecmp(f->env->imds_endpoint, "http://", 7) != 0
            && strncasecmp(f->env->imds_endpoint, "https://", 8) != 0)
        {
            return ac_fail(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT "
                           "is not an http or https URL");
        }

        n = snprintf(base, sizeof(base), "%s", f->env->imds_endpoint);

    } else if (f->env->imds_endpoint_mode
               && strcasecmp(f->env->imds_endpoint_mode, "IPv6") == 0)
    {
        n = snprintf(base, sizeof(base), "%s", AC_IMDS_DEFAULT_IPV6);

    } else {
        n = snprintf(base, sizeof(base), "%s", AC_IMDS_DEFAULT);
    }

    if (n >= sizeof(base) || !ac_good_printable(base, n)) {
        return ac_fail(err, errlen, "the IMDS endpoint is too long or holds "
                       "spaces");
    }

    while (n && base[n - 1] == '/') {
        base[--n] = '\0';
    }

    ac_url_origin(base, origin, sizeof(origin));

    if (ac_body_init(&body) != 0) {
        return ac_fail(err, errlen, "out of memory");
    }

    role[0] = '\0';

    for (tries = 0; tries < 2; tries++) {

        rc = ac_imds_token(f, base, token, sizeof(token), msg, sizeof(msg));

        if (rc < 0) {
            ac_body_free(&body);
            return ac_fail(err, errlen, "IMDS %s: %s", origin, msg);
        }

        headers = NULL;
        have = (rc == 0);

        if (have) {
            snprintf(header, sizeof(header), "x-aws-ec2-metadata-token: %s",
                     token);

            headers = curl_slist_append(NULL, header);
            if (headers == NULL) {
                ac_body_free(&body);
                return ac_fail(err, errlen, "out of memory");
            }
        }

        if (role[0] == '\0') {
            snprintf(url, sizeof(url),
                     "%s/latest/meta-data/iam/security-credentials/", base);

            rc = ac_http_retry(f, "GET", url, headers, NULL, 0,
                               f->opts->timeout_ms, 1, &status, &body, msg,
                               sizeof(msg));

            if (rc == 0 && status == 401 && have && tries == 0) {
                /* the token expired: a new one */
                curl_slist_free_all(headers);
                continue;
            }

            if (rc != 0 || status != 200) {
                curl_slist_free_all(headers);
                ac_body_free(&body);

                if (rc != 0) {
                    return ac_fail(err, errlen, "IMDS %s: %s", origin, msg);
                }

                return ac_fail(err, errlen, "IMDS %s: the role list answered "
                               "HTTP %ld%s", origin, status,
                               status == 404 ? " (no IAM role is attached "
                                               "to the instance)" : "");
            }

            if (ac_creds_imds_role(body.data, body.len, role, sizeof(role))
                != 0)
            {
                curl_slist_free_all(headers);
                ac_body_free(&body);
                return ac_fail(err, errlen, "IMDS %s: the role list is empty "
                               "or malformed", origin);
            }
        }

        snprintf(url, sizeof(url),
                 "%s/latest/meta-data/iam/security-credentials/%s", base,
                 role);

        rc = ac_http_retry(f, "GET", url, headers, NULL, 0,
                           f->opts->timeout_ms, 1, &status, &body, msg,
                           sizeof(msg));

        curl_slist_free_all(headers);

        if (rc == 0 && status == 401 && have && tries == 0) {
            continue;
        }

        if (rc != 0) {
            ac_body_free(&body);
            return ac_fail(err, errlen, "IMDS %s: %s", origin, msg);
        }

        if (status != 200) {
            ac_body_free(&body);
            return ac_fail(err, errlen, "IMDS %s: the credentials of the "
                           "role answered HTTP %ld", origin, status);
        }

        rc = ac_creds_parse_json(body.data, body.len, 1, out, msg,
                                 sizeof(msg));
        ac_body_free(&body);

        if (rc != 0) {
            return ac_fail(err, errlen, "IMDS %s: %s", origin, msg);
        }

        snprintf(out->source, sizeof(out->source), "IMDS role %.40s",
                 role);

        return 0;
    }

    ac_body_free(&body);

    return ac_fail(err, errlen, "IMDS %s: HTTP 401 with a new token",
                   origin);
}


/* STS AssumeRoleWithWebIdentity: an unsigned query-protocol POST */

static size_t
ac_append(char *dst, const char *src)
{
    size_t  n;

    n = strlen(src);
    memcpy(dst, src, n);

    return n;
}


static size_t
ac_form_escape(char *dst, const char *src)
{
    size_t       n;
    const char  *p;

    static const char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (p = src; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
            || ac_creds_is_digit(*p) || *p == '-' || *p == '_' || *p == '.'
            || *p == '~')
        {
            if (dst) {
                dst[n] = *p;
            }
            n++;
            continue;
        }

        if (dst) {
            dst[n] = '%';
            dst[n + 1] = hex[(unsigned char) *p >> 4];
            dst[n + 2] = hex[(unsigned char) *p & 0x0f];
        }

        n += 3;
    }

    return n;
}


static int
ac_fetch_web_identity(ac_fetch_t *f, const char *token_file,
    const char *role_arn, const char *session, const char *region,
    ac_creds_t *out, char *err, size_t errlen)
{
    int                 rc;
    long                status;
    char               *token, *form, url[AC_URL_MAX], origin[128],
                        name[80], msg[240];
    size_t              n;
    ac_body_t           body;
    struct timespec     ts;
    struct curl_slist  *headers;

    if (f->env->sts_endpoint) {
        n = snprintf(url, sizeof(url), "%s", f->env->sts_endpoint);

        while (n && url[n - 1] == '/') {
            url[--n] = '\0';
        }

        if (strncasecmp(url, "http://", 7) != 0
            && strncasecmp(url, "https://", 8) != 0)
        {
            return ac_fail(err, errlen, "AWS_ENDPOINT_URL_STS is not an "
                           "http or https URL");
        }

        snprintf(url + n, sizeof(url) - n, "/");

    } else {
        region = region ? region : "us-east-1";

        snprintf(url, sizeof(url), "https://sts.%s.amazonaws.com%s/", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
    }

    if (!ac_good_printable(url, strlen(url))) {
        return ac_fail(err, errlen, "the STS URL holds spaces");
    }

    ac_url_origin(url, origin, sizeof(origin));

    if (strncmp(role_arn, "arn:", 4) != 0) {
        return ac_fail(err, errlen, "the role ARN does not start with "
                       "\"arn:\"");
    }

    if (session == NULL) {
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(name, sizeof(name), "nginx-agentcore-%lld",
                 (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        session = name;
    }

    if (ac_read_token(token_file, "web identity token", &token, err, errlen)
        != 0)
    {
        return -1;
    }

    n = sizeof("Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
               "&RoleArn=&RoleSessionName=&WebIdentityToken=")
        + ac_form_escape(NULL, role_arn) + ac_form_escape(NULL, session)
        + ac_form_escape(NULL, token);

    form = malloc(n);

    if (form == NULL || ac_body_init(&body) != 0) {
        free(form);
        ac_wipe_free(token);
        return ac_fail(err, errlen, "out of memory");
    }

    n = 0;
    n += ac_append(form + n, "Action=AssumeRoleWithWebIdentity"
                   "&Version=2011-06-15&RoleArn=");
    n += ac_form_escape(form + n, role_arn);
    n += ac_append(form + n, "&RoleSessionName=");
    n += ac_form_escape(form + n, session);
    n += ac_append(form + n, "&WebIdentityToken=");
    n += ac_form_escape(form + n, token);
    form[n] = '\0';

    ac_wipe_free(token);

    headers = curl_slist_append(NULL, "Content-Type: "
                                "application/x-www-form-urlencoded");
    if (headers) {
        headers = curl_slist_append(headers, "Expect:");
    }

    if (headers == NULL) {
        ac_wipe_free(form);
        ac_body_free(&body);
        return ac_fail(err, errlen, "out of memory");
    }

    rc = ac_http_retry(f, "POST", url, headers, form, n,
                       f->opts->sts_timeout_ms, 0, &status, &body, msg,
                       sizeof(msg));

    curl_slist_free_all(headers);
    ac_wipe_free(form);

    if (rc != 0) {
        ac_body_free(&body);
        return ac_fail(err, errlen, "STS %s: %s", origin, msg);
    }

    rc = ac_creds_parse_sts(body.data, body.len, out, msg, sizeof(msg));
    ac_body_free(&body);

    if (rc != 0) {
        return ac_fail(err, errlen, "STS %s (HTTP %ld): %s", origin, status,
                       msg);
    }

    if (status != 200) {
        ac_creds_free(out);
        return ac_fail(err, errlen, "STS %s answered HTTP %ld", origin,
                       status);
    }

    snprintf(out->source, sizeof(out->source), "web identity");

    return 0;
}


/* a profile of the shared files: 0, 1 (none and !must), -1 */

static int
ac_fetch_profile(ac_fetch_t *f, const char *name, int must, ac_creds_t *out,
    char *err, size_t errlen)
{
    int                  rc;
    char                 cpath[1024], fpath[1024], msg[240];
    ac_ini_t            *cred, *conf;
    ac_creds_profile_t   p;

    ac_shared_paths(f->env, cpath, fpath, sizeof(cpath));

    if (ac_load_ini(cpath, &cred, err, errlen) != 0) {
        return -1;
    }

    if (ac_load_ini(fpath, &conf, err, errlen) != 0) {
        ac_ini_free(cred);
        return -1;
    }

    rc = ac_creds_profile(cred, conf, name, &p, msg, sizeof(msg));

    if (rc == 1) {
        if (must) {
            ac_fail(err, errlen, "profile \"%s\" is in neither \"%s\" nor "
                    "\"%s\"", name, cpath, fpath);
            rc = -1;
        }

    } else if (rc < 0) {
        ac_fail(err, errlen, "profile \"%s\": %s", name, msg);

    } else if (p.kind == AC_PROFILE_KEYS) {
        rc = ac_fill(out, p.access_key_id, strlen(p.access_key_id),
                     p.secret_access_key, strlen(p.secret_access_key),
                     p.session_token,
                     p.session_token ? strlen(p.session_token) : 0,
                     msg, sizeof(msg));

        if (rc != 0) {
            ac_fail(err, errlen, "profile \"%s\": %s", name, msg);

        } else {
            snprintf(out->source, sizeof(out->source), "profile %.40s",
                     name);
        }

    } else {
        rc = ac_fetch_web_identity(f, p.web_identity_token_file, p.role_arn,
                                   p.role_session_name,
                                   f->env->region ? f->env->region
                                                  : p.region,
                                   out, msg, sizeof(msg));
        if (rc != 0) {
            ac_fail(err, errlen, "profile \"%s\": %s", name, msg);

        } else {
            snprintf(out->source, sizeof(out->source),
                     "profile %.30s (web identity)", name);
        }
    }

    ac_ini_free(cred);
    ac_ini_free(conf);

    return rc;
}


int
ac_creds_fetch(ac_creds_source_e source, const char *profile,
    const ac_creds_env_t *env, const ac_creds_opts_t *opts, ac_creds_t *out,
    char *err, size_t errlen)
{
    int                rc;
    char               tried[AC_CREDS_TRIED_MAX];
    ac_fetch_t         f;
    const char        *name;
    ac_creds_opts_t    dflt;

    memset(out, 0, sizeof(ac_creds_t));

    if (opts == NULL) {
        ac_creds_opts_default(&dflt);
        opts = &dflt;
    }

    f.env = env;
    f.opts = opts;
    clock_gettime(CLOCK_MONOTONIC, &f.start);

    name = profile ? profile : (env->profile ? env->profile : "default");

    /*
     * what was asked, for the user: written last, the fetches may wipe
     * *out on failure
     */

    tried[0] = '\0';
    rc = 1;

    switch (source) {

    case AC_CREDS_CONTAINER:
        ac_tried(tried, "container endpoint", NULL);

        if (env->container_full_uri == NULL
            && env->container_relative_uri == NULL)
        {
            rc = ac_fail(err, errlen, "neither AWS_CONTAINER_CREDENTIALS_"
                         "FULL_URI nor _RELATIVE_URI is set");
            goto done;
        }

        rc = ac_fetch_container(&f, out, err, errlen);
        goto done;

    case AC_CREDS_IMDS:
        ac_tried(tried, "IMDS", NULL);
        rc = ac_fetch_imds(&f, out, err, errlen);
        goto done;

    case AC_CREDS_WEB_IDENTITY:
        ac_tried(tried, "web identity", NULL);

        if (env->web_identity_token_file == NULL || env->role_arn == NULL) {
            rc = ac_fail(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE and "
                         "AWS_ROLE_ARN must both be set");
            goto done;
        }

        rc = ac_fetch_web_identity(&f, env->web_identity_token_file,
                                   env->role_arn, env->role_session_name,
                                   env->region, out, err, errlen);
        goto done;

    case AC_CREDS_PROFILE:
        ac_tried(tried, "shared files", name);
        rc = ac_fetch_profile(&f, name, 1, out, err, errlen);
        goto done;

    case AC_CREDS_AUTO:
        break;

    default:
        return ac_fail(err, errlen, "this source needs no fetch");
    }

    /* the chain, after the environment (the caller's) */

    ac_tried(tried, "environment", NULL);

    if (env->web_identity_token_file && env->role_arn) {
        ac_tried(tried, "web identity", NULL);
        rc = ac_fetch_web_identity(&f, env->web_identity_token_file,
                                   env->role_arn, env->role_session_name,
                                   env->region, out, err, errlen);
        goto done;
    }

    ac_tried(tried, "shared files", name);
    rc = ac_fetch_profile(&f, name, env->profile != NULL, out, err, errlen);

    if (rc != 1) {
        goto done;
    }

    if (env->container_full_uri || env->container_relative_uri) {
        ac_tried(tried, "container endpoint", NULL);
        rc = ac_fetch_container(&f, out, err, errlen);
        goto done;
    }

    if (ac_is_true(env->imds_disabled)) {
        ac_tried(tried, NULL, NULL);
        rc = ac_fail(err, errlen, "none found: no AWS_ACCESS_KEY_ID, "
                     "AWS_WEB_IDENTITY_TOKEN_FILE or AWS_CONTAINER_"
                     "CREDENTIALS_*_URI in the environment, no profile "
                     "\"%s\" in the shared files, and IMDS is disabled "
                     "(AWS_EC2_METADATA_DISABLED)", name);
        goto done;
    }

    ac_tried(tried, "IMDS", NULL);
    rc = ac_fetch_imds(&f, out, err, errlen);

done:

    memcpy(out->tried, tried, sizeof(tried));

    return rc;
}


/*
 * "a, b (profile NAME)": the names of the sources asked, cut if long;
 * what NULL: IMDS was not asked, it is disabled.  A profile name is
 * shown in printable ASCII.
 */

static void
ac_tried(char *tried, const char *what, const char *profile)
{
    char    *p;
    size_t   n;

    n = strlen(tried);

    if (what == NULL) {
        snprintf(tried + n, AC_CREDS_TRIED_MAX - n, "; IMDS is disabled "
                 "(AWS_EC2_METADATA_DISABLED)");

    } else if (profile) {
        snprintf(tried + n, AC_CREDS_TRIED_MAX - n, "%s%s (profile %.40s)",
                 n ? ", " : "", what, profile);

        for (p = tried + n; *p; p++) {
            if (*p < 0x20 || *p > 0x7e) {
                *p = '?';
            }
        }

    } else {
        snprintf(tried + n, AC_CREDS_TRIED_MAX - n, "%s%s",
                 n ? ", " : "", what);
    }
}


/* what "nginx -t" can tell */

int
ac_creds_check(ac_creds_source_e source, const char *profile,
    const ac_creds_env_t *env, char *err, size_t errlen)
{
    int                  rc;
    char                 url[AC_URL_MAX], cpath[1024], fpath[1024],
                         msg[240];
    ac_ini_t            *cred, *conf;
    ac_creds_t           c;
    struct stat          st;
    const char          *name;
    ac_creds_profile_t   p;

    switch (source) {

    case AC_CREDS_ENV:
        rc = ac_creds_from_env(env, 0, &c, err, errlen);
        ac_creds_free(&c);

        if (rc == 1) {
            return ac_fail(err, errlen, "AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY are not in the workers' "
                           "environment (set them in nginx's, or with "
                           "\"env NAME=VALUE\")");
        }

        return rc;

    case AC_CREDS_BEARER:
        if (env->bearer_token == NULL) {
            return ac_fail(err, errlen, "AWS_BEARER_TOKEN_BEDROCK is not in "
                           "the workers' environment (set it in nginx's, "
                           "or with \"env NAME=VALUE\")");
        }

        if (!ac_creds_good_token(env->bearer_token,
                                 strlen(env->bearer_token)))
        {
            return ac_fail(err, errlen, "AWS_BEARER_TOKEN_BEDROCK holds "
                           "spaces or control characters");
        }

        return 0;

    case AC_CREDS_CONTAINER:
        rc = ac_creds_container_url(env, url, sizeof(url), err, errlen);

        if (rc == 1) {
            return ac_fail(err, errlen, "neither AWS_CONTAINER_CREDENTIALS_"
                           "FULL_URI nor _RELATIVE_URI is in the workers' "
                           "environment");
        }

        if (rc == 0 && env->container_token_file
            && stat(env->container_token_file, &st) != 0)
        {
            return ac_fail(err, errlen, "AWS_CONTAINER_AUTHORIZATION_TOKEN_"
                           "FILE \"%s\": %s", env->container_token_file,
                           strerror(errno));
        }

        return rc;

    case AC_CREDS_IMDS:
        if (ac_is_true(env->imds_disabled)) {
            return ac_fail(err, errlen, "AWS_EC2_METADATA_DISABLED is set");
        }

        if (env->imds_endpoint
            && strncasecmp(env->imds_endpoint, "http://", 7) != 0
            && strncasecmp(env->imds_endpoint, "https://", 8) != 0)
        {
            return ac_fail(err, errlen, "AWS_EC2_METADATA_SERVICE_ENDPOINT "
                           "is not an http or https URL");
        }

        return 0;

    case AC_CREDS_WEB_IDENTITY:
        if (env->web_identity_token_file == NULL || env->role_arn == NULL) {
            return ac_fail(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE and "
                           "AWS_ROLE_ARN are not both in the workers' "
                           "environment");
        }

        if (stat(env->web_identity_token_file, &st) != 0) {
            return ac_fail(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE \"%s\": "
                           "%s", env->web_identity_token_file,
                           strerror(errno));
        }

        return 0;

    case AC_CREDS_PROFILE:
        break;

    default:
        return 0;
    }

    name = profile ? profile : (env->profile ? env->profile : "default");

    ac_shared_paths(env, cpath, fpath, sizeof(cpath));

    if (ac_load_ini(cpath, &cred, err, errlen) != 0) {
        return -1;
    }

    if (ac_load_ini(fpath, &conf, err, errlen) != 0) {
        ac_ini_free(cred);
        return -1;
    }

    rc = ac_creds_profile(cred, conf, name, &p, msg, sizeof(msg));

    if (rc == 1) {
        rc = ac_fail(err, errlen, "profile \"%s\" is in neither \"%s\" nor "
                     "\"%s\"", name, cpath, fpath);

    } else if (rc < 0) {
        ac_fail(err, errlen, "profile \"%s\": %s", name, msg);

    } else if (p.kind == AC_PROFILE_KEYS) {
        memset(&c, 0, sizeof(ac_creds_t));

        rc = ac_fill(&c, p.access_key_id, strlen(p.access_key_id),
                     p.secret_access_key, strlen(p.secret_access_key),
                     p.session_token,
                     p.session_token ? strlen(p.session_token) : 0,
                     msg, sizeof(msg));
        ac_creds_free(&c);

        if (rc != 0) {
            ac_fail(err, errlen, "profile \"%s\": %s", name, msg);
        }

    } else if (stat(p.web_identity_token_file, &st) != 0) {
        rc = ac_fail(err, errlen, "profile \"%s\": web_identity_token_file "
                     "\"%s\": %s", name, p.web_identity_token_file,
                     strerror(errno));

    } else if (strncmp(p.role_arn, "arn:", 4) != 0) {
        rc = ac_fail(err, errlen, "profile \"%s\": role_arn does not start "
                     "with \"arn:\"", name);
    }

    ac_ini_free(cred);
    ac_ini_free(conf);

    return rc;
}
