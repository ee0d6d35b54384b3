/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of the SigV4 signer: the 38 official aws-c-auth cases, the
 * 6 Bedrock cases and the 4 SigV4 requests the JS SDK sent; the signing
 * key cache against signatures made without it and OpenSSL's HMAC().
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ngx_http_agentcore_sigv4.h"


#define OFFICIAL_DIR     AC_VECTORS "/sigv4_official/v4/"
#define OFFICIAL_CASES   38
#define BEDROCK_CASES    6
#define SDK_SIGV4_CASES  4
#define MAX_HEADERS      64
#define MAX_CASES        256


/* AWS's published example key (vectors/README.md), not a secret */
static const char  example_secret[] =
    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";


typedef struct {
    const char         *method;
    size_t              method_len;
    const char         *path;
    size_t              path_len;
    const char         *query;
    size_t              query_len;
    ac_sigv4_header_t   headers[MAX_HEADERS];
    size_t              nheaders;
    const char         *body;
    size_t              body_len;
} http_req_t;


static char    *official_cases[MAX_CASES];
static size_t   official_ncases;
static size_t   official_passed;


static char *
read_file(const char *path, size_t *len)
{
    FILE    *f;
    char    *p;
    long     n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    p = malloc((size_t) n + 1);
    assert_non_null(p);

    if (fread(p, 1, (size_t) n, f) != (size_t) n) {
        free(p);
        fclose(f);
        return NULL;
    }

    fclose(f);

    p[n] = '\0';

    if (len) {
        *len = (size_t) n;
    }

    return p;
}


static char *
read_case_file(const char *name, const char *file, size_t *len)
{
    char  path[1024];

    snprintf(path, sizeof(path), "%s%s/%s", OFFICIAL_DIR, name, file);

    return read_file(path, len);
}


/*
 * Parses a raw request as the suite writes it: "METHOD target HTTP/1.1",
 * header lines (a line starting with white space continues the previous
 * value), a blank line, the body.  Everything points into text; a
 * continued value keeps its line breaks for the signer to fold.
 */

static int
parse_request(const char *text, size_t len, http_req_t *r)
{
    const char  *p, *end, *eol, *le, *sp, *ver, *colon, *q;

    memset(r, 0, sizeof(http_req_t));

    p = text;
    end = text + len;

    eol = memchr(p, '\n', (size_t) (end - p));
    if (eol == NULL) {
        return -1;
    }

    le = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;

    sp = memchr(p, ' ', (size_t) (le - p));
    if (sp == NULL) {
        return -1;
    }

    /* the target may hold spaces: it ends at the last " HTTP/" */

    for (ver = le - 6; ver > sp; ver--) {
        if (memcmp(ver, " HTTP/", 6) == 0) {
            break;
        }
    }

    if (ver <= sp) {
        return -1;
    }

    r->method = p;
    r->method_len = (size_t) (sp - p);
    r->path = sp + 1;

    q = memchr(r->path, '?', (size_t) (ver - r->path));

    if (q) {
        r->path_len = (size_t) (q - r->path);
        r->query = q + 1;
        r->query_len = (size_t) (ver - q - 1);

    } else {
        r->path_len = (size_t) (ver - r->path);
    }

    p = eol + 1;

    while (p < end) {
        eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }

        le = (eol > p && eol[-1] == '\r') ? eol - 1 : eol;

        if (le == p) {
            r->body = (eol < end) ? eol + 1 : end;
            r->body_len = (size_t) (end - r->body);
            return 0;
        }

        if (*p == ' ' || *p == '\t') {
            if (r->nheaders == 0) {
                return -1;
            }

            r->headers[r->nheaders - 1].value_len =
                (size_t) (le - r->headers[r->nheaders - 1].value);

        } else {
            colon = memchr(p, ':', (size_t) (le - p));
            if (colon == NULL || r->nheaders == MAX_HEADERS) {
                return -1;
            }

            r->headers[r->nheaders].name = p;
            r->headers[r->nheaders].name_len = (size_t) (colon - p);
            r->headers[r->nheaders].value = colon + 1;
            r->headers[r->nheaders].value_len = (size_t) (le - colon - 1);
            r->nheaders++;
        }

        p = (eol < end) ? eol + 1 : end;
    }

    r->body = end;
    r->body_len = 0;

    return 0;
}


static int
header_is(const ac_sigv4_header_t *h, const char *name)
{
    return h->name_len == strlen(name)
           && strncasecmp(h->name, name, h->name_len) == 0;
}


static int
value_is(const ac_sigv4_header_t *h, const char *value)
{
    return h->value_len == strlen(value)
           && memcmp(h->value, value, h->value_len) == 0;
}


/* is name (name_len bytes, any case) in the ';'-separated list? */

static int
in_list(const char *list, size_t list_len, const char *name, size_t len)
{
    const char  *p, *end, *semi;

    p = list;
    end = list + list_len;

    while (p < end) {
        semi = memchr(p, ';', (size_t) (end - p));
        if (semi == NULL) {
            semi = end;
        }

        if ((size_t) (semi - p) == len && strncasecmp(p, name, len) == 0) {
            return 1;
        }

        p = semi + 1;
    }

    return 0;
}


/* the SignedHeaders list of an Authorization value, not NUL-terminated */

static const char *
signed_headers_of(const char *auth, size_t auth_len, size_t *len)
{
    const char  *p, *end, *comma;

    end = auth + auth_len;

    for (p = auth; p + 14 <= end; p++) {
        if (memcmp(p, "SignedHeaders=", 14) == 0) {
            p += 14;
            comma = memchr(p, ',', (size_t) (end - p));
            *len = (size_t) ((comma ? comma : end) - p);
            return p;
        }
    }

    return NULL;
}


static void
iso_to_amz_date(const char *iso, char out[17])
{
    int        n;
    struct tm  tm;

    memset(&tm, 0, sizeof(struct tm));

    n = sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon,
               &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec);
    assert_int_equal(n, 6);

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;

    ac_sigv4_amz_date(timegm(&tm), out);
}


static const char *
jstr(json_t *obj, const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}


/* the official suite ---------------------------------------------------- */


static int
name_cmp(const void *one, const void *two)
{
    return strcmp(*(char * const *) one, *(char * const *) two);
}


static void
list_official_cases(void)
{
    DIR            *dir;
    char            path[1024];
    struct stat     st;
    struct dirent  *de;

    dir = opendir(OFFICIAL_DIR);
    if (dir == NULL) {
        return;
    }

    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }

        snprintf(path, sizeof(path), "%s%s", OFFICIAL_DIR, de->d_name);

        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            continue;
        }

        if (official_ncases < MAX_CASES) {
            official_cases[official_ncases] = strdup(de->d_name);
        }

        official_ncases++;
    }

    closedir(dir);

    if (official_ncases <= MAX_CASES) {
        qsort(official_cases, official_ncases, sizeof(char *), name_cmp);
    }
}


static void
test_official_count(void **state)
{
    size_t  i, n;
    char   *p;

    assert_int_equal(official_ncases, OFFICIAL_CASES);

    /* each case has its inputs and all four header-form outputs */

    for (i = 0; i < official_ncases; i++) {
        static const char  *files[] = {
            "request.txt", "context.json", "header-canonical-request.txt",
            "header-string-to-sign.txt", "header-signature.txt",
            "header-signed-request.txt"
        };

        for (n = 0; n < sizeof(files) / sizeof(files[0]); n++) {
            p = read_case_file(official_cases[i], files[n], NULL);
            if (p == NULL) {
                print_error("%s: no %s\n", official_cases[i], files[n]);
            }

            assert_non_null(p);
            free(p);
        }
    }
}


static void
test_official_case(void **state)
{
    int                  normalize, sign_body, omit_token;
    char                 amz_date[17], body_hash[65];
    char                *req_txt, *ctx_txt, *signed_txt;
    char                *exp_creq, *exp_sts, *exp_sig;
    size_t               i, req_len, signed_len, sh_len, nextra, ntoken;
    json_t              *ctx, *creds;
    const char          *name, *akid, *secret, *token, *sh, *auth;
    http_req_t           req, sreq;
    json_error_t         jerr;
    ac_sigv4_header_t    sign[MAX_HEADERS];
    const ac_sigv4_header_t  *h;
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    name = *state;

    req_txt = read_case_file(name, "request.txt", &req_len);
    ctx_txt = read_case_file(name, "context.json", NULL);
    signed_txt = read_case_file(name, "header-signed-request.txt",
                                &signed_len);
    exp_creq = read_case_file(name, "header-canonical-request.txt", NULL);
    exp_sts = read_case_file(name, "header-string-to-sign.txt", NULL);
    exp_sig = read_case_file(name, "header-signature.txt", NULL);

    assert_non_null(req_txt);
    assert_non_null(ctx_txt);
    assert_non_null(signed_txt);
    assert_non_null(exp_creq);
    assert_non_null(exp_sts);
    assert_non_null(exp_sig);

    ctx = json_loads(ctx_txt, 0, &jerr);
    assert_non_null(ctx);

    creds = json_object_get(ctx, "credentials");
    akid = jstr(creds, "access_key_id");
    secret = jstr(creds, "secret_access_key");
    token = jstr(creds, "token");
    assert_non_null(akid);
    assert_non_null(secret);
    assert_non_null(jstr(ctx, "region"));
    assert_non_null(jstr(ctx, "service"));
    assert_non_null(jstr(ctx, "timestamp"));

    normalize = json_is_true(json_object_get(ctx, "normalize"));
    sign_body = json_is_true(json_object_get(ctx, "sign_body"));
    omit_token = json_is_true(json_object_get(ctx, "omit_session_token"));

    iso_to_amz_date(jstr(ctx, "timestamp"), amz_date);
    assert_int_equal(strlen(amz_date), 16);

    assert_int_equal(parse_request(req_txt, req_len, &req), 0);
    assert_int_equal(parse_request(signed_txt, signed_len, &sreq), 0);

    ac_sha256_hex(req.body, req.body_len, body_hash);

    /*
     * The suite's signed request is the request plus the headers the
     * signer added, then Authorization.  Its SignedHeaders says which
     * of them are signed.  Check that the additions are exactly what
     * the context implies, then sign just the listed headers.
     */

    assert_true(sreq.nheaders > req.nheaders);

    h = &sreq.headers[sreq.nheaders - 1];
    assert_true(header_is(h, "authorization"));
    auth = h->value;

    sh = signed_headers_of(h->value, h->value_len, &sh_len);
    assert_non_null(sh);

    for (i = 0; i < req.nheaders; i++) {
        assert_int_equal(sreq.headers[i].name_len, req.headers[i].name_len);
        assert_memory_equal(sreq.headers[i].name, req.headers[i].name,
                            req.headers[i].name_len);
        assert_int_equal(sreq.headers[i].value_len,
                         req.headers[i].value_len);
        assert_memory_equal(sreq.headers[i].value, req.headers[i].value,
                            req.headers[i].value_len);

        /* every header of the request is signed */
        assert_true(in_list(sh, sh_len, req.headers[i].name,
                            req.headers[i].name_len));
    }

    nextra = 0;
    ntoken = 0;

    for (i = req.nheaders; i < sreq.nheaders - 1; i++) {
        h = &sreq.headers[i];

        if (header_is(h, "x-amz-date")) {
            assert_true(value_is(h, amz_date));
            assert_true(in_list(sh, sh_len, h->name, h->name_len));

        } else if (header_is(h, "x-amz-security-token")) {
            assert_non_null(token);
            assert_true(value_is(h, token));
            assert_int_equal(in_list(sh, sh_len, h->name, h->name_len),
                             !omit_token);
            ntoken++;

        } else if (header_is(h, "x-amz-content-sha256")) {
            assert_true(sign_body);
            assert_true(value_is(h, body_hash));
            assert_true(in_list(sh, sh_len, h->name, h->name_len));

        } else {
            fail_msg("%s: unexpected added header %.*s", name,
                     (int) h->name_len, h->name);
        }

        nextra++;
    }

    assert_int_equal(nextra, 1 + (token != NULL) + sign_body);
    assert_int_equal(ntoken, token != NULL);

    /* the headers to sign: those the signed request lists, in its order */

    memset(&sr, 0, sizeof(ac_sigv4_request_t));
    sr.nheaders = 0;

    for (i = 0; i < sreq.nheaders - 1; i++) {
        h = &sreq.headers[i];

        if (in_list(sh, sh_len, h->name, h->name_len)) {
            sign[sr.nheaders++] = *h;
        }
    }

    sr.method = strndup(req.method, req.method_len);
    assert_non_null(sr.method);
    sr.path = req.path;
    sr.path_len = req.path_len;
    sr.query = req.query;
    sr.query_len = req.query_len;
    sr.headers = sign;
    sr.body = (const unsigned char *) req.body;
    sr.body_len = req.body_len;
    sr.payload_hash = NULL;
    sr.access_key_id = akid;
    sr.secret_access_key = secret;
    sr.region = jstr(ctx, "region");
    sr.service = jstr(ctx, "service");
    sr.amz_date = amz_date;
    sr.normalize = normalize ? 1 : 0;

    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);

    assert_string_equal(res.canonical_request, exp_creq);
    assert_string_equal(res.string_to_sign, exp_sts);
    assert_string_equal(res.signature, exp_sig);

    assert_int_equal(strlen(res.signed_headers), sh_len);
    assert_memory_equal(res.signed_headers, sh, sh_len);

    assert_int_equal(strlen(res.authorization),
                     sreq.headers[sreq.nheaders - 1].value_len);
    assert_memory_equal(res.authorization, auth, strlen(res.authorization));

    official_passed++;

    ac_sigv4_result_free(&res);
    free((char *) sr.method);
    json_decref(ctx);
    free(req_txt);
    free(ctx_txt);
    free(signed_txt);
    free(exp_creq);
    free(exp_sts);
    free(exp_sig);
}


static void
test_official_all_passed(void **state)
{
    print_message("official cases passed: %zu of %zu\n", official_passed,
                  official_ncases);

    assert_int_equal(official_passed, OFFICIAL_CASES);
}


/* Bedrock ---------------------------------------------------------------- */


/* [SV4] ALWAYS_UNSIGNABLE_HEADERS, bedrock-wire.md section 3 */

static int
unsignable(const char *name)
{
    size_t              i;
    static const char  *never[] = {
        "authorization", "cache-control", "connection", "expect", "from",
        "keep-alive", "max-forwards", "pragma", "referer", "te", "trailer",
        "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"
    };

    for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        if (strcasecmp(name, never[i]) == 0) {
            return 1;
        }
    }

    return strncasecmp(name, "proxy-", 6) == 0
           || strncasecmp(name, "sec-", 4) == 0;
}


static void
add_header(ac_sigv4_header_t *h, size_t *n, const char *name,
    const char *value)
{
    assert_true(*n < MAX_HEADERS);

    h[*n].name = name;
    h[*n].name_len = strlen(name);
    h[*n].value = value;
    h[*n].value_len = strlen(value);
    (*n)++;
}


static void
test_bedrock_cases(void **state)
{
    int                  add_sha;
    char                 amz_date[17], body_hash[65];
    size_t               i, n;
    json_t              *root, *cases, *c, *in, *exp, *hdrs, *send, *v;
    const char          *key, *body, *token, *cname;
    json_error_t         jerr;
    ac_sigv4_header_t    h[MAX_HEADERS];
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    root = json_load_file(AC_VECTORS "/sigv4_bedrock.json", 0, &jerr);
    assert_non_null(root);

    cases = json_object_get(root, "cases");
    assert_true(json_is_array(cases));
    assert_int_equal(json_array_size(cases), BEDROCK_CASES);

    json_array_foreach(cases, i, c) {
        cname = jstr(c, "name");
        in = json_object_get(c, "inputs");
        exp = json_object_get(c, "expected");
        assert_non_null(cname);
        assert_non_null(in);
        assert_non_null(exp);

        print_message("bedrock case %s\n", cname);

        body = jstr(in, "body");
        token = jstr(in, "session_token");
        add_sha = json_is_true(json_object_get(in,
                                   "add_x_amz_content_sha256_header"));
        assert_non_null(body);

        ac_sha256_hex(body, strlen(body), body_hash);
        assert_string_equal(body_hash, jstr(in, "body_sha256"));

        iso_to_amz_date(jstr(in, "date"), amz_date);

        n = 0;
        hdrs = json_object_get(in, "headers_before_signing");
        assert_true(json_is_object(hdrs));

        json_object_foreach(hdrs, key, v) {
            if (!unsignable(key)) {
                add_header(h, &n, key, json_string_value(v));
            }
        }

        add_header(h, &n, "x-amz-date", amz_date);

        if (token) {
            add_header(h, &n, "x-amz-security-token", token);
        }

        if (add_sha) {
            add_header(h, &n, "x-amz-content-sha256", body_hash);
        }

        memset(&sr, 0, sizeof(ac_sigv4_request_t));
        sr.method = jstr(in, "method");
        sr.path = jstr(in, "path_on_wire");
        assert_non_null(sr.path);
        sr.path_len = strlen(sr.path);
        sr.headers = h;
        sr.nheaders = n;
        sr.body = (const unsigned char *) body;
        sr.body_len = strlen(body);

        /* a precomputed hash is taken as given; else the body is hashed */
        sr.payload_hash = add_sha ? jstr(in, "body_sha256") : NULL;

        sr.access_key_id = jstr(in, "access_key_id");
        sr.secret_access_key = jstr(in, "secret_access_key");
        sr.region = jstr(in, "region");
        sr.service = jstr(in, "service");
        sr.amz_date = amz_date;
        sr.normalize = 1;

        assert_int_equal(ac_sigv4_sign(&sr, &res), 0);

        assert_string_equal(res.canonical_request,
                            jstr(exp, "canonical_request"));
        assert_string_equal(res.string_to_sign,
                            jstr(exp, "string_to_sign"));
        assert_string_equal(res.signature, jstr(exp, "signature"));
        assert_string_equal(res.authorization, jstr(exp, "authorization"));

        /* what the SDK sent besides the inputs: exactly what we added */

        send = json_object_get(exp, "headers_to_send");
        assert_string_equal(jstr(send, "x-amz-date"), amz_date);
        assert_string_equal(jstr(send, "authorization"), res.authorization);
        assert_int_equal(jstr(send, "x-amz-security-token") != NULL,
                         token != NULL);
        assert_int_equal(jstr(send, "x-amz-content-sha256") != NULL,
                         add_sha);
        assert_int_equal(json_object_size(send),
                         json_object_size(hdrs) + 2 + (token != NULL)
                         + add_sha);

        ac_sigv4_result_free(&res);
    }

    json_decref(root);
}


/* requests captured from @aws-sdk/client-bedrock-runtime */

static void
test_sdk_captured(void **state)
{
    char                 date8[9], region[64], akid[64], hash[65];
    char                 list[1024];
    size_t               n, nsigv4, sh_len;
    json_t              *root, *c, *r, *hdrs, *v;
    const char          *key, *auth, *sh, *body, *p, *name, *end, *semi;
    json_error_t         jerr;
    ac_sigv4_header_t    h[MAX_HEADERS];
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    root = json_load_file(AC_VECTORS "/sdk_captured_requests.json", 0,
                          &jerr);
    assert_non_null(root);

    nsigv4 = 0;

    json_object_foreach(root, name, c) {
        r = json_object_get(c, "request");
        hdrs = json_object_get(r, "headers");
        auth = jstr(hdrs, "authorization");

        if (auth == NULL
            || strncmp(auth, "AWS4-HMAC-SHA256 ", 17) != 0)
        {
            continue;
        }

        print_message("sdk request %s\n", name);
        nsigv4++;

        assert_int_equal(sscanf(auth, "AWS4-HMAC-SHA256 Credential="
                                "%63[^/]/%8[0-9]/%63[^/]/bedrock/"
                                "aws4_request,", akid, date8, region), 3);

        sh = signed_headers_of(auth, strlen(auth), &sh_len);
        assert_non_null(sh);
        assert_true(sh_len < sizeof(list));
        memcpy(list, sh, sh_len);
        list[sh_len] = '\0';

        /* the headers named in SignedHeaders, in that order */

        n = 0;
        p = list;
        end = list + sh_len;

        while (p < end) {
            semi = strchr(p, ';');
            if (semi == NULL) {
                semi = end;
            }

            list[semi - list] = '\0';

            v = NULL;

            json_object_foreach(hdrs, key, v) {
                if (strcasecmp(key, p) == 0) {
                    break;
                }
            }

            /* key is NULL when the loop ran out */
            assert_non_null(key);
            add_header(h, &n, p, json_string_value(v));

            p = semi + 1;
        }

        assert_true(n >= 3);

        body = jstr(r, "body");
        assert_non_null(body);
        assert_int_equal(json_object_size(json_object_get(r, "query")), 0);

        ac_sha256_hex(body, strlen(body), hash);
        assert_string_equal(jstr(hdrs, "x-amz-content-sha256"), hash);
        assert_memory_equal(jstr(hdrs, "x-amz-date"), date8, 8);

        memset(&sr, 0, sizeof(ac_sigv4_request_t));
        sr.method = jstr(r, "method");
        sr.path = jstr(r, "path");
        assert_non_null(sr.path);
        sr.path_len = strlen(sr.path);
        sr.headers = h;
        sr.nheaders = n;
        sr.body = (const unsigned char *) body;
        sr.body_len = strlen(body);
        sr.access_key_id = akid;
        sr.secret_access_key = example_secret;
        sr.region = region;
        sr.service = "bedrock";
        sr.amz_date = jstr(hdrs, "x-amz-date");
        sr.normalize = 1;

        assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
        assert_string_equal(res.authorization, auth);

        ac_sigv4_result_free(&res);
    }

    assert_int_equal(nsigv4, SDK_SIGV4_CASES);

    json_decref(root);
}


/* smaller cases ---------------------------------------------------------- */


static void
test_amz_date_and_sha256(void **state)
{
    char  out[65];

    ac_sigv4_amz_date(0, out);
    assert_string_equal(out, "19700101T000000Z");

    ac_sigv4_amz_date(1736944496, out);
    assert_string_equal(out, "20250115T123456Z");

    ac_sigv4_amz_date(951825600, out);       /* a leap day */
    assert_string_equal(out, "20000229T120000Z");

    if (sizeof(time_t) > 4) {
        ac_sigv4_amz_date((time_t) 253402300800LL, out);  /* year 10000 */
        assert_string_equal(out, "");
    }

    ac_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");

    ac_sha256_hex(NULL, 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");

    ac_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
}


static void
simple_request(ac_sigv4_request_t *sr, const char *path, const char *query,
    unsigned normalize)
{
    static ac_sigv4_header_t  vanilla[] = {
        { "Host", 4, "example.amazonaws.com", 21 },
        { "X-Amz-Date", 10, "20150830T123600Z", 16 }
    };

    memset(sr, 0, sizeof(ac_sigv4_request_t));
    sr->method = "GET";
    sr->path = path;
    sr->path_len = path ? strlen(path) : 0;
    sr->query = query;
    sr->query_len = query ? strlen(query) : 0;
    sr->headers = vanilla;
    sr->nheaders = 2;
    sr->access_key_id = "AKIDEXAMPLE";
    sr->secret_access_key = example_secret;
    sr->region = "us-east-1";
    sr->service = "service";
    sr->amz_date = "20150830T123600Z";
    sr->normalize = normalize;
}


/* line (0-based) of the canonical request, copied into out */

static void
canonical_line(const char *path, const char *query, unsigned normalize,
    int line, char *out, size_t size)
{
    int                  i;
    size_t               n;
    const char          *p, *nl;
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    simple_request(&sr, path, query, normalize);

    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);

    p = res.canonical_request;

    for (i = 0; i < line; i++) {
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }

    nl = strchr(p, '\n');
    n = nl ? (size_t) (nl - p) : strlen(p);
    assert_true(n < size);

    memcpy(out, p, n);
    out[n] = '\0';

    ac_sigv4_result_free(&res);
}


static void
test_canonical_uri(void **state)
{
    size_t       i;
    char         out[512];
    static const struct {
        const char  *path;
        unsigned     normalize;
        const char  *expect;
    } cases[] = {
        { "/a/b/../c/./d/", 1, "/a/c/d/" },
        { "/a/b/../c/./d/", 0, "/a/b/../c/./d/" },
        { "/..", 1, "/" },
        { "/../../a/", 1, "/a/" },
        { "/a/..", 1, "/" },
        { "/a/b/..", 1, "/a" },
        { "/a/b/../", 1, "/a/" },
        { "/...", 1, "/..." },
        { "/.a/a./", 1, "/.a/a./" },
        { "", 1, "/" },
        { "", 0, "/" },
        { NULL, 1, "/" },
        { "/", 0, "/" },
        { "/model/x%3A0/converse-stream", 1,
          "/model/x%253A0/converse-stream" },
        { "/a b/\xc3\xbc+", 0, "/a%20b/%C3%BC%2B" },
        { "/~!*'()", 1, "/~%21%2A%27%28%29" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        canonical_line(cases[i].path, NULL, cases[i].normalize, 1, out,
                       sizeof(out));

        if (strcmp(out, cases[i].expect) != 0) {
            fail_msg("path \"%s\" normalize %u: got \"%s\", want \"%s\"",
                     cases[i].path ? cases[i].path : "(null)",
                     cases[i].normalize, out, cases[i].expect);
        }
    }
}


static void
test_canonical_query(void **state)
{
    size_t       i;
    char         out[512];
    static const struct {
        const char  *query;
        const char  *expect;
    } cases[] = {
        { NULL, "" },
        { "", "" },
        { "b=2&a=1&a=0", "a=0&a=1&b=2" },
        { "a=%2b&b=+&c&&d=%zz&e=%4", "a=%2B&b=%2B&c=&d=%25zz&e=%254" },
        { "x=a%2Fb/c", "x=a%2Fb%2Fc" },
        { "%41=%7e&%7E=%41", "A=~&~=A" },
        { "k=v=w", "k=v%3Dw" },
        { "=v", "=v" },
        { "a=%20&a= &a=%2520", "a=%20&a=%20&a=%2520" },
        { "B=1&a=1&A=2", "A=2&B=1&a=1" },
        { "&&&", "" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        canonical_line("/", cases[i].query, 1, 2, out, sizeof(out));

        if (strcmp(out, cases[i].expect) != 0) {
            fail_msg("query \"%s\": got \"%s\", want \"%s\"",
                     cases[i].query ? cases[i].query : "(null)", out,
                     cases[i].expect);
        }
    }
}


static void
test_canonical_headers(void **state)
{
    ac_sigv4_header_t    h[5];
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    simple_request(&sr, "/", NULL, 1);

    h[0] = (ac_sigv4_header_t) { "X-B", 3, "  one \t\r\n two  ", 15 };
    h[1] = (ac_sigv4_header_t) { "x-a", 3, "", 0 };
    h[2] = (ac_sigv4_header_t) { "X-b", 3, "three", 5 };
    h[3] = (ac_sigv4_header_t) { "HOST", 4, "h", 1 };
    h[4] = (ac_sigv4_header_t) { "x-c", 3, NULL, 0 };

    sr.headers = h;
    sr.nheaders = 5;
    sr.payload_hash = "UNSIGNED-PAYLOAD";

    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_equal(res.canonical_request,
                        "GET\n/\n\nhost:h\nx-a:\nx-b:one two,three\nx-c:\n"
                        "\nhost;x-a;x-b;x-c\nUNSIGNED-PAYLOAD");
    assert_string_equal(res.signed_headers, "host;x-a;x-b;x-c");
    assert_int_equal(strlen(res.signature), 64);

    ac_sigv4_result_free(&res);
    ac_sigv4_result_free(&res);
    assert_null(res.canonical_request);
    assert_null(res.authorization);
}


static void
expect_refused(const ac_sigv4_request_t *sr)
{
    ac_sigv4_result_t  res;

    memset(&res, 0x5a, sizeof(ac_sigv4_result_t));

    assert_int_equal(ac_sigv4_sign(sr, &res), -1);
    assert_null(res.canonical_request);
    assert_null(res.string_to_sign);
    assert_null(res.authorization);
    assert_string_equal(res.signature, "");
    assert_string_equal(res.signed_headers, "");
}


static void
test_bad_input(void **state)
{
    size_t               i;
    char                 names[200][32];
    ac_sigv4_header_t    h[200];
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;
    static const char   *dates[] = {
        "2015", "20150830T123600", "20150830T123600Z0", "20150830 123600Z",
        "2015083OT123600Z", "20150830T123600z", ""
    };

    expect_refused(NULL);
    assert_int_equal(ac_sigv4_sign(NULL, NULL), -1);

    simple_request(&sr, "/", NULL, 1);
    sr.method = NULL;
    expect_refused(&sr);

    simple_request(&sr, "/", NULL, 1);
    sr.method = "";
    expect_refused(&sr);

    simple_request(&sr, "/", NULL, 1);
    sr.secret_access_key = NULL;
    expect_refused(&sr);

    simple_request(&sr, "/", NULL, 1);
    sr.region = NULL;
    expect_refused(&sr);

    simple_request(&sr, "/", NULL, 1);
    sr.body_len = 3;
    expect_refused(&sr);

    for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        simple_request(&sr, "/", NULL, 1);
        sr.amz_date = dates[i];
        expect_refused(&sr);
    }

    /* header names must be tokens */

    simple_request(&sr, "/", NULL, 1);
    h[0] = (ac_sigv4_header_t) { "bad name", 8, "v", 1 };
    sr.headers = h;
    sr.nheaders = 1;
    expect_refused(&sr);

    h[0] = (ac_sigv4_header_t) { "", 0, "v", 1 };
    expect_refused(&sr);

    h[0] = (ac_sigv4_header_t) { "a:b", 3, "v", 1 };
    expect_refused(&sr);

    h[0] = (ac_sigv4_header_t) { "x", 1, NULL, 1 };
    expect_refused(&sr);

    /* SignedHeaders that do not fit the result's 1024 bytes */

    for (i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "x-header-number-%03zu", i);
        h[i].name = names[i];
        h[i].name_len = strlen(names[i]);
        h[i].value = "v";
        h[i].value_len = 1;
    }

    sr.nheaders = 200;
    expect_refused(&sr);

    /* 51 names of 19 bytes + 50 ';' = 1019 bytes: fits */

    sr.nheaders = 51;
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_int_equal(strlen(res.signed_headers), 1019);
    ac_sigv4_result_free(&res);

    sr.nheaders = 52;
    expect_refused(&sr);
}


/* the signature depends on every input that should reach it */

static void
test_sensitivity(void **state)
{
    char                 base[65], *vanilla;
    ac_sigv4_request_t   sr;
    ac_sigv4_result_t    res;

    /* the simple request is get-vanilla */

    vanilla = read_case_file("get-vanilla", "header-signature.txt", NULL);
    assert_non_null(vanilla);

    simple_request(&sr, "/", NULL, 1);
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_equal(res.signature, vanilla);
    memcpy(base, res.signature, 65);
    ac_sigv4_result_free(&res);
    free(vanilla);

    simple_request(&sr, "/", NULL, 1);
    sr.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_not_equal(res.signature, base);
    ac_sigv4_result_free(&res);

    simple_request(&sr, "/", NULL, 1);
    sr.region = "us-east-2";
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_not_equal(res.signature, base);
    ac_sigv4_result_free(&res);

    simple_request(&sr, "/", NULL, 1);
    sr.service = "bedrock";
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_not_equal(res.signature, base);
    ac_sigv4_result_free(&res);

    simple_request(&sr, "/", NULL, 1);
    sr.amz_date = "20150830T123601Z";
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_not_equal(res.signature, base);
    ac_sigv4_result_free(&res);

    simple_request(&sr, "/", NULL, 1);
    sr.body = (const unsigned char *) "x";
    sr.body_len = 1;
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_not_equal(res.signature, base);
    ac_sigv4_result_free(&res);

    /* the access key id is only in the credential scope */

    simple_request(&sr, "/", NULL, 1);
    sr.access_key_id = "AKIDOTHER";
    assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
    assert_string_equal(res.signature, base);
    assert_non_null(strstr(res.authorization, "Credential=AKIDOTHER/"));
    ac_sigv4_result_free(&res);
}


/* the signature as the spec derives it, on OpenSSL's own HMAC() */

static void
reference_signature(const ac_sigv4_request_t *sr, const char *sts,
    char out[65])
{
    size_t          i;
    unsigned int    n;
    unsigned char   k[32], k2[32], sig[32];
    char            secret[512];

    snprintf(secret, sizeof(secret), "AWS4%s", sr->secret_access_key);

    assert_non_null(HMAC(EVP_sha256(), secret, (int) strlen(secret),
                         (const unsigned char *) sr->amz_date, 8, k, &n));
    assert_non_null(HMAC(EVP_sha256(), k, 32,
                         (const unsigned char *) sr->region,
                         strlen(sr->region), k2, &n));
    assert_non_null(HMAC(EVP_sha256(), k2, 32,
                         (const unsigned char *) sr->service,
                         strlen(sr->service), k, &n));
    assert_non_null(HMAC(EVP_sha256(), k, 32,
                         (const unsigned char *) "aws4_request", 12, k2, &n));
    assert_non_null(HMAC(EVP_sha256(), k2, 32, (const unsigned char *) sts,
                         strlen(sts), sig, &n));

    for (i = 0; i < 32; i++) {
        sprintf(out + 2 * i, "%02x", sig[i]);
    }
}


/* sign with and without the cache, check both against the reference */

static void
sign_both(ac_sigv4_request_t *sr, ac_sigv4_key_cache_t *kc, int expect_hit,
    char out[65])
{
    char                 ref[65];
    ac_sigv4_result_t    plain, cached;
    ac_sigv4_key_cache_t before;

    sr->key_cache = NULL;
    assert_int_equal(ac_sigv4_sign(sr, &plain), 0);

    reference_signature(sr, plain.string_to_sign, ref);
    assert_string_equal(plain.signature, ref);

    before = *kc;

    sr->key_cache = kc;
    assert_int_equal(ac_sigv4_sign(sr, &cached), 0);
    sr->key_cache = NULL;

    assert_string_equal(cached.signature, plain.signature);
    assert_string_equal(cached.authorization, plain.authorization);
    assert_true(kc->valid);

    /* a hit leaves the cache as it was; a miss fills it anew */
    if (expect_hit) {
        assert_memory_equal(&before, kc, sizeof(ac_sigv4_key_cache_t));

    } else {
        assert_true(!before.valid
                    || memcmp(before.key, kc->key, sizeof(kc->key)) != 0);
    }

    memcpy(out, plain.signature, 65);

    ac_sigv4_result_free(&plain);
    ac_sigv4_result_free(&cached);
}


static void
test_key_cache(void **state)
{
    char                  sig[65], first[65];
    char                  long_secret[100];
    ac_sigv4_request_t    sr;
    ac_sigv4_key_cache_t  kc;

    memset(&kc, 0, sizeof(kc));

    simple_request(&sr, "/", NULL, 1);
    sign_both(&sr, &kc, 0, first);
    sign_both(&sr, &kc, 1, sig);
    assert_string_equal(sig, first);

    /* a new day, region, service or secret is a miss */

    simple_request(&sr, "/", NULL, 1);
    sr.amz_date = "20150831T000000Z";
    sign_both(&sr, &kc, 0, sig);
    assert_string_not_equal(sig, first);

    simple_request(&sr, "/", NULL, 1);
    sign_both(&sr, &kc, 0, sig);
    assert_string_equal(sig, first);

    simple_request(&sr, "/", NULL, 1);
    sr.region = "us-east-2";
    sign_both(&sr, &kc, 0, sig);

    simple_request(&sr, "/", NULL, 1);
    sr.service = "servicf";
    sign_both(&sr, &kc, 0, sig);

    simple_request(&sr, "/", NULL, 1);
    sr.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    sign_both(&sr, &kc, 0, sig);
    sign_both(&sr, &kc, 1, sig);

    /* the same signing time, another second of the day: still a hit */

    simple_request(&sr, "/", NULL, 1);
    sr.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    sr.amz_date = "20150830T235959Z";
    sign_both(&sr, &kc, 1, sig);

    /* "AWS4" + a secret longer than a SHA-256 block: the key is hashed */

    memset(long_secret, 'k', 80);
    long_secret[80] = '\0';

    simple_request(&sr, "/", NULL, 1);
    sr.secret_access_key = long_secret;
    sign_both(&sr, &kc, 0, sig);
    sign_both(&sr, &kc, 1, sig);

    /* a region too long for the cache signs without it */

    simple_request(&sr, "/", NULL, 1);
    sr.region = "a-region-name-longer-than-the-cache-holds-1";
    ac_sigv4_key_cache_free(&kc);
    assert_null(kc.md);
    assert_false(kc.valid);
    sr.key_cache = &kc;
    {
        ac_sigv4_result_t  res;

        assert_int_equal(ac_sigv4_sign(&sr, &res), 0);
        assert_false(kc.valid);
        ac_sigv4_result_free(&res);
    }

    /* the digest fetched for the cache is the cache's to free */
    assert_non_null(kc.md);
    ac_sigv4_key_cache_free(&kc);
    ac_sigv4_key_cache_free(NULL);
}


int
main(void)
{
    int                failed;
    size_t             i, n;
    struct CMUnitTest  *official;

    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_amz_date_and_sha256),
        cmocka_unit_test(test_canonical_uri),
        cmocka_unit_test(test_canonical_query),
        cmocka_unit_test(test_canonical_headers),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_sensitivity),
        cmocka_unit_test(test_bedrock_cases),
        cmocka_unit_test(test_sdk_captured),
        cmocka_unit_test(test_key_cache),
    };

    list_official_cases();

    n = official_ncases <= MAX_CASES ? official_ncases : 0;

    official = calloc(n + 2, sizeof(struct CMUnitTest));
    if (official == NULL) {
        return 1;
    }

    /* the count first, one test per case directory, then the tally */

    official[0].name = "official_case_count";
    official[0].test_func = test_official_count;

    for (i = 0; i < n; i++) {
        official[i + 1].name = official_cases[i];
        official[i + 1].test_func = test_official_case;
        official[i + 1].initial_state = official_cases[i];
    }

    official[n + 1].name = "official_all_passed";
    official[n + 1].test_func = test_official_all_passed;

    failed = _cmocka_run_group_tests("sigv4_official", official, n + 2,
                                     NULL, NULL);

    failed += cmocka_run_group_tests_name("sigv4", tests, NULL, NULL);

    for (i = 0; i < n; i++) {
        free(official_cases[i]);
    }

    free(official);

    return failed;
}
