
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * agentcore-invoke: streams an answer from an AgentCore runtime, local
 * (POST /invocations of the module, or of any runtime container) or
 * deployed (InvokeAgentRuntime, SigV4 for "bedrock-agentcore" with the
 * module's own signer and credential chain), and prints its text as it
 * arrives.  Usage: agentcore-invoke --help; docs/agentcore-invoke.1.
 */


#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "ngx_http_agentcore_sigv4.h"
#include "ngx_http_agentcore_awscreds.h"
#include "agentcore_sse.h"


#define AC_VERSION         "0.1"
#define AC_DEFAULT_URL     "http://127.0.0.1:8080/invocations"
#define AC_SESSION_HEADER  "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
#define AC_BODY_MAX        (64 * 1024)    /* an error body kept */
#define AC_HEADERS_MAX     64

/* exit statuses (docs/agentcore-invoke.1, EXIT STATUS) */
#define AC_EXIT_OK           0
#define AC_EXIT_FAILURE      1
#define AC_EXIT_USAGE        2
#define AC_EXIT_HTTP         3
#define AC_EXIT_STREAM       4
#define AC_EXIT_CONNECT      5
#define AC_EXIT_CREDENTIALS  6
#define AC_EXIT_CUT          7


typedef struct {
    char        *name;
    char        *value;
    int          sign;
} ac_header_t;


typedef struct {
    /* options */
    const char  *url;
    const char  *arn;
    const char  *qualifier;
    const char  *region;
    const char  *endpoint;
    const char  *profile;
    const char  *session;
    const char  *data;
    int          new_session;
    int          json;
    int          no_newline;
    int          quiet;
    int          verbose;
    long         connect_timeout;
    long         max_time;

    ac_header_t  headers[AC_HEADERS_MAX];
    int          nheaders;

    /* the response */
    long         status;
    char         reason[128];
    char         ctype[128];
    char         errtype[256];
    int          decided;
    int          sse;
    int          passthrough;
    char        *body;
    size_t       body_len;
    ac_sse_parser_t  parser;
    int          parse_failed;
    int          printed;
    int          last_nl;
    int          stream_errors;
} ac_invoke_t;


static const char  *ac_prog = "agentcore-invoke";


static void ac_err(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;


static void
ac_err(const char *fmt, ...)
{
    va_list  args;

    fprintf(stderr, "%s: ", ac_prog);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
}


static void
ac_usage(FILE *f)
{
    fprintf(f,
"Usage: agentcore-invoke [OPTIONS] PROMPT...\n"
"       agentcore-invoke [OPTIONS] -           (the prompt from stdin)\n"
"       agentcore-invoke [OPTIONS] --data JSON\n"
"\n"
"Sends {\"prompt\": PROMPT} to an AgentCore runtime and prints the answer's\n"
"text as it streams (the SSE events decoded from JSON).\n"
"\n"
"Where to:\n"
"  -u, --url URL           a runtime's /invocations (default\n"
"                          " AC_DEFAULT_URL ")\n"
"  -a, --arn ARN           a deployed runtime: InvokeAgentRuntime on\n"
"                          bedrock-agentcore.REGION.amazonaws.com, signed\n"
"                          with SigV4 (credentials: the AWS SDKs' chain)\n"
"  -q, --qualifier NAME    the endpoint qualifier with --arn (default DEFAULT)\n"
"  -r, --region REGION     the signing region (default: the ARN's)\n"
"  -e, --endpoint-url URL  the data plane's base URL with --arn (default\n"
"                          $AWS_ENDPOINT_URL_BEDROCK_AGENTCORE,\n"
"                          $AWS_ENDPOINT_URL, else AWS's)\n"
"  -p, --profile NAME      the shared-config profile to sign with\n"
"\n"
"What to send:\n"
"  -s, --session ID        the runtime session id (header " AC_SESSION_HEADER
"):\n"
"                          continues that session's conversation\n"
"  -N, --new-session       generate a session id (a UUID) and print it on\n"
"                          stderr; --arn does so when --session is absent\n"
"  -H, --header 'N: V'     an extra request header (repeatable); 'N:' drops\n"
"                          one; with --arn, Authorization replaces SigV4\n"
"                          (a runtime with a JWT authorizer)\n"
"  -d, --data JSON         the request body as is instead of {\"prompt\"};\n"
"                          @FILE reads a file, @- stdin\n"
"\n"
"Output:\n"
"  -j, --json              every event's data as sent, one per line\n"
"  -n, --no-newline        no newline after the text\n"
"      --quiet             no session id on stderr\n"
"  -v, --verbose           the request and the response status on stderr\n"
"\n"
"Limits:\n"
"      --connect-timeout S seconds to connect (default 10)\n"
"  -m, --max-time S        seconds for the whole invocation (default: none)\n"
"\n"
"  -h, --help              this text\n"
"  -V, --version           the version\n"
"\n"
"Exit status: 0 the answer streamed to its end; 1 another failure (out of\n"
"memory, an event over 16 MiB); 2 a usage error; 3 an HTTP error status\n"
"(the runtime's error body on stderr); 4 a stream error event (an error\n"
"the agent sent mid-stream); 5 no connection (refused, DNS, TLS, timeout\n"
"before the response); 6 no usable AWS credentials (--arn); 7 the stream\n"
"was cut (the connection lost or timed out mid-answer).\n"
"See agentcore-invoke(1).\n");
}


static char *
ac_strndup(const char *s, size_t n)
{
    char  *d;

    d = malloc(n + 1);
    if (d == NULL) {
        ac_err("out of memory");
        exit(AC_EXIT_FAILURE);
    }

    memcpy(d, s, n);
    d[n] = '\0';

    return d;
}


/* reads a whole file or stdin ("-") */

static char *
ac_read_all(const char *path, size_t *len)
{
    FILE    *f;
    char    *buf, *b;
    size_t   n, cap;

    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) {
        ac_err("cannot read %s: %s", path, strerror(errno));
        exit(AC_EXIT_USAGE);
    }

    cap = 4096;
    n = 0;
    buf = malloc(cap);

    for ( ;; ) {
        if (buf == NULL) {
            ac_err("out of memory");
            exit(AC_EXIT_FAILURE);
        }

        n += fread(buf + n, 1, cap - n - 1, f);

        if (n < cap - 1) {
            break;
        }

        cap *= 2;
        b = realloc(buf, cap);
        if (b == NULL) {
            free(buf);
        }
        buf = b;
    }

    if (ferror(f)) {
        ac_err("cannot read %s: %s", strcmp(path, "-") ? path : "stdin",
               strerror(errno));
        exit(AC_EXIT_USAGE);
    }

    if (f != stdin) {
        fclose(f);
    }

    buf[n] = '\0';
    *len = n;

    return buf;
}


/* headers: a later one of the same name replaces an earlier one */

static void
ac_header_set(ac_invoke_t *iv, const char *name, size_t nlen,
    const char *value, int sign)
{
    int           i;
    ac_header_t  *h;

    for (i = 0; i < iv->nheaders; i++) {
        h = &iv->headers[i];

        if (strlen(h->name) == nlen && strncasecmp(h->name, name, nlen) == 0)
        {
            free(h->value);
            h->value = ac_strndup(value, strlen(value));
            h->sign = sign;
            return;
        }
    }

    if (iv->nheaders == AC_HEADERS_MAX) {
        ac_err("too many headers (at most %d)", AC_HEADERS_MAX);
        exit(AC_EXIT_USAGE);
    }

    h = &iv->headers[iv->nheaders++];
    h->name = ac_strndup(name, nlen);
    h->value = ac_strndup(value, strlen(value));
    h->sign = sign;
}


static ac_header_t *
ac_header_get(ac_invoke_t *iv, const char *name)
{
    int  i;

    for (i = 0; i < iv->nheaders; i++) {
        if (strcasecmp(iv->headers[i].name, name) == 0) {
            return &iv->headers[i];
        }
    }

    return NULL;
}


static void
ac_header_arg(ac_invoke_t *iv, const char *arg)
{
    const char   *colon, *v;
    size_t        nlen, i;

    colon = strchr(arg, ':');
    nlen = colon ? (size_t) (colon - arg) : 0;

    for (i = 0; i < nlen; i++) {
        if ((unsigned char) arg[i] <= 0x20 || arg[i] == 0x7f) {
            nlen = 0;
            break;
        }
    }

    if (nlen == 0) {
        ac_err("--header '%s': want 'Name: value'", arg);
        exit(AC_EXIT_USAGE);
    }

    v = colon + 1;

    while (*v == ' ' || *v == '\t') {
        v++;
    }

    if (strpbrk(v, "\r\n")) {
        ac_err("--header: a value holds a line break");
        exit(AC_EXIT_USAGE);
    }

    /* the signer skips what AWS does not sign, and empty (dropped) ones */

    ac_header_set(iv, arg, nlen, v, 1);
}


/* a UUIDv4, as botocore fills the runtimeSessionId idempotency token */

static void
ac_uuid(char out[37])
{
    unsigned char  r[16];
    int            i;
    char          *p;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        ac_err("no random bytes for a session id");
        exit(AC_EXIT_FAILURE);
    }

    r[6] = (r[6] & 0x0f) | 0x40;
    r[8] = (r[8] & 0x3f) | 0x80;

    p = out;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        p += sprintf(p, "%02x", r[i]);
    }
}


/* RFC 3986 unreserved bytes kept, the rest %XX */

static char *
ac_url_encode(const char *s)
{
    char                *out, *p;
    const unsigned char *u;
    static const char    hex[] = "0123456789ABCDEF";

    out = malloc(strlen(s) * 3 + 1);
    if (out == NULL) {
        ac_err("out of memory");
        exit(AC_EXIT_FAILURE);
    }

    p = out;

    for (u = (const unsigned char *) s; *u; u++) {
        if (isalnum(*u) || *u == '-' || *u == '.' || *u == '_' || *u == '~')
        {
            *p++ = (char) *u;

        } else {
            *p++ = '%';
            *p++ = hex[*u >> 4];
            *p++ = hex[*u & 0x0f];
        }
    }

    *p = '\0';

    return out;
}


/* ------------------------------------------------------------ response */

static void
ac_out(ac_invoke_t *iv, const char *p, size_t n)
{
    if (n == 0) {
        return;
    }

    if (fwrite(p, 1, n, stdout) != n) {
        /* stdout is gone (a closed pipe): nothing more to do */
        exit(AC_EXIT_FAILURE);
    }

    iv->printed = 1;
    iv->last_nl = (p[n - 1] == '\n');
}


static void
ac_end_line(ac_invoke_t *iv)
{
    if (iv->printed && !iv->last_nl && !iv->no_newline) {
        ac_out(iv, "\n", 1);
    }

    fflush(stdout);
}


static int
ac_event(void *ctx, const char *event, const char *data, size_t len)
{
    ac_invoke_t     *iv;
    ac_sse_value_t   v;

    iv = ctx;

    if (ac_sse_decode(event, data, len, &v) != 0) {
        return -1;
    }

    if (iv->json) {
        ac_out(iv, data, len);
        ac_out(iv, "\n", 1);

    } else if (v.kind == AC_SSE_JSON) {
        /* a value of another shape: shown as JSON, on a line of its own */
        if (iv->printed && !iv->last_nl) {
            ac_out(iv, "\n", 1);
        }

        ac_out(iv, data, len);
        ac_out(iv, "\n", 1);

    } else if (v.kind != AC_SSE_ERROR) {
        ac_out(iv, v.text, v.len);
    }

    if (v.kind == AC_SSE_ERROR) {
        iv->stream_errors++;

        if (!iv->json) {
            ac_end_line(iv);
        }

        fflush(stdout);

        if (v.type && strcmp(v.type, "stream_error") != 0
            && strcmp(v.type, "error") != 0)
        {
            ac_err("stream error: %.*s (%s)", (int) v.len, v.text, v.type);

        } else {
            ac_err("stream error: %.*s", (int) v.len, v.text);
        }
    }

    fflush(stdout);
    ac_sse_value_free(&v);

    return 0;
}


static size_t
ac_header_cb(char *buf, size_t size, size_t n, void *ctx)
{
    ac_invoke_t  *iv;
    size_t        len, l;
    char         *p, *v;

    iv = ctx;
    len = size * n;
    p = buf;

    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a status line: an interim 100 is followed by another */
        iv->ctype[0] = '\0';
        iv->errtype[0] = '\0';
        iv->reason[0] = '\0';

        v = memchr(p, ' ', len);

        if (v) {
            v = memchr(v + 1, ' ', len - (v + 1 - p));
        }

        if (v) {
            v++;
            l = len - (v - p);

            while (l && (v[l - 1] == '\r' || v[l - 1] == '\n')) {
                l--;
            }

            if (l >= sizeof(iv->reason)) {
                l = sizeof(iv->reason) - 1;
            }

            memcpy(iv->reason, v, l);
            iv->reason[l] = '\0';
        }

        return len;
    }

#define ac_hdr(name, field)                                                  \
    if (len > sizeof(name) - 1                                               \
        && strncasecmp(p, name, sizeof(name) - 1) == 0)                      \
    {                                                                        \
        v = p + sizeof(name) - 1;                                            \
        l = len - (sizeof(name) - 1);                                        \
        while (l && (*v == ' ' || *v == '\t')) { v++; l--; }                 \
        while (l && (v[l - 1] == '\r' || v[l - 1] == '\n'                    \
                     || v[l - 1] == ' ')) { l--; }                           \
        if (l >= sizeof(field)) { l = sizeof(field) - 1; }                   \
        memcpy(field, v, l);                                                 \
        field[l] = '\0';                                                     \
    }

    ac_hdr("content-type:", iv->ctype);
    ac_hdr("x-amzn-errortype:", iv->errtype);

#undef ac_hdr

    return len;
}


static size_t
ac_write_cb(char *buf, size_t size, size_t n, void *ctx)
{
    ac_invoke_t  *iv;
    size_t        len, keep;
    CURL         *curl;

    iv = ((void **) ctx)[0];
    curl = ((void **) ctx)[1];
    len = size * n;

    if (!iv->decided) {
        iv->decided = 1;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &iv->status);

        if (iv->status >= 200 && iv->status < 300) {
            if (strncasecmp(iv->ctype, "text/event-stream", 17) == 0) {
                iv->sse = 1;

            } else {
                iv->passthrough = 1;
            }
        }

        if (iv->verbose) {
            ac_err("< HTTP %ld %s (%s)", iv->status, iv->reason,
                   iv->ctype[0] ? iv->ctype : "no content type");
        }
    }

    if (iv->sse) {
        if (ac_sse_feed(&iv->parser, buf, len, ac_event, iv) != 0) {
            iv->parse_failed = 1;
            return 0;
        }

        return len;
    }

    if (iv->passthrough) {
        ac_out(iv, buf, len);
        fflush(stdout);
        return len;
    }

    /* an error body: kept for the message */

    keep = len;

    if (iv->body_len + keep > AC_BODY_MAX) {
        keep = AC_BODY_MAX - iv->body_len;
    }

    if (keep) {
        memcpy(iv->body + iv->body_len, buf, keep);
        iv->body_len += keep;
    }

    return len;
}


/* the message for an HTTP error status, from its JSON body if it has one */

static void
ac_http_error(ac_invoke_t *iv)
{
    json_t       *j, *e, *d, *m, *t;
    const char   *type, *msg;
    char          line[512];
    size_t        i, k;
    json_error_t  jerr;

    if (iv->json && iv->body_len) {
        ac_out(iv, iv->body, iv->body_len);
        ac_end_line(iv);
        if (!iv->last_nl) {
            ac_out(iv, "\n", 1);
        }
        fflush(stdout);
    }

    type = NULL;

    if (iv->errtype[0]) {
        /* "ResourceNotFoundException:http://internal.amazon.com/..." */
        iv->errtype[strcspn(iv->errtype, ":")] = '\0';
        type = iv->errtype;
    }

    j = json_loadb(iv->body, iv->body_len, 0, &jerr);

    if (json_is_object(j)) {
        e = json_object_get(j, "error");
        d = json_object_get(j, "details");
        m = json_object_get(j, "message");

        if (m == NULL) {
            m = json_object_get(j, "Message");
        }

        t = json_object_get(j, "__type");

        if (type == NULL && json_is_string(t)) {
            type = json_string_value(t);
            type = strrchr(type, '#') ? strrchr(type, '#') + 1 : type;
        }

        if (json_is_string(e)) {
            /* the runtime's {"error", "details"} */
            ac_err("HTTP %ld %s: %s%s%s", iv->status,
                   type ? type : iv->reason, json_string_value(e),
                   json_is_string(d) ? ": " : "",
                   json_is_string(d) ? json_string_value(d) : "");
            json_decref(j);
            return;
        }

        if (json_is_string(m)) {
            /* AWS's {"message"} and x-amzn-ErrorType */
            ac_err("HTTP %ld %s: %s", iv->status, type ? type : iv->reason,
                   json_string_value(m));
            json_decref(j);
            return;
        }
    }

    json_decref(j);

    /* an HTML page (nginx's own error pages): its title */

    iv->body[iv->body_len < AC_BODY_MAX ? iv->body_len : AC_BODY_MAX - 1]
        = '\0';
    msg = strstr(iv->body, "<title>");

    if (msg && strncasecmp(iv->ctype, "text/html", 9) == 0
        && strstr(msg, "</title>"))
    {
        msg += 7;
        ac_err("HTTP %ld %s: %.*s", iv->status, type ? type : iv->reason,
               (int) (strstr(msg, "</title>") - msg), msg);
        return;
    }

    /* any other body: its start, on one line */

    for (i = 0, k = 0; i < iv->body_len && k < 300; i++) {
        unsigned char c = (unsigned char) iv->body[i];

        if (c == '\r' || c == '\n' || c == '\t') {
            if (k && line[k - 1] != ' ') {
                line[k++] = ' ';
            }

            continue;
        }

        line[k++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    }

    while (k && line[k - 1] == ' ') {
        k--;
    }

    line[k] = '\0';
    msg = line;

    msg = k ? msg : "(no body)";
    ac_err("HTTP %ld %s%s%s%s", iv->status, type ? type : iv->reason,
           (type || iv->reason[0]) ? ": " : "", msg,
           i < iv->body_len ? "..." : "");
}


/* ------------------------------------------------------------- signing */

static const char *
ac_getenv(void *data, const char *name)
{
    return getenv(name);
}


static int
ac_credentials(ac_invoke_t *iv, ac_creds_t *c)
{
    int              rc;
    ac_creds_env_t   env;
    char             err[AC_CREDS_ERROR_MAX];

    ac_creds_env_load(&env, ac_getenv, NULL);

    if (iv->profile == NULL) {
        rc = ac_creds_from_env(&env, time(NULL), c, err, sizeof(err));

        if (rc == 0) {
            return 0;
        }

        if (rc < 0) {
            ac_err("credentials: %s", err);
            return -1;
        }
    }

    rc = ac_creds_fetch(iv->profile ? AC_CREDS_PROFILE : AC_CREDS_AUTO,
                        iv->profile, &env, NULL, c, err, sizeof(err));

    if (rc != 0) {
        ac_err("credentials: %s", err);
        return -1;
    }

    return 0;
}


static int
ac_sign(ac_invoke_t *iv, const char *host, const char *path,
    const char *query, const char *body, size_t body_len)
{
    int                  i, n;
    char                 date[17];
    ac_creds_t           c;
    ac_sigv4_header_t    sh[AC_HEADERS_MAX + 2];
    ac_sigv4_request_t   req;
    ac_sigv4_result_t    res;

    memset(&c, 0, sizeof(ac_creds_t));

    if (ac_credentials(iv, &c) != 0) {
        return AC_EXIT_CREDENTIALS;
    }

    if (iv->verbose) {
        ac_err("> signed for %s with credentials from %s", iv->region,
               c.source[0] ? c.source : "the environment");
    }

    ac_sigv4_amz_date(time(NULL), date);

    ac_header_set(iv, "Host", 4, host, 1);
    ac_header_set(iv, "X-Amz-Date", 10, date, 1);

    if (c.session_token) {
        ac_header_set(iv, "X-Amz-Security-Token", 20, c.session_token, 1);
    }

    n = 0;

    for (i = 0; i < iv->nheaders; i++) {
        ac_header_t *h = &iv->headers[i];

        /* what the AWS SDKs leave unsigned; an empty value is a removal */

        if (!h->sign || h->value[0] == '\0'
            || strcasecmp(h->name, "user-agent") == 0
            || strcasecmp(h->name, "expect") == 0
            || strcasecmp(h->name, "x-amzn-trace-id") == 0)
        {
            continue;
        }

        sh[n].name = h->name;
        sh[n].name_len = strlen(h->name);
        sh[n].value = h->value;
        sh[n].value_len = strlen(h->value);
        n++;
    }

    memset(&req, 0, sizeof(ac_sigv4_request_t));

    req.method = "POST";
    req.path = path;
    req.path_len = strlen(path);
    req.query = query;
    req.query_len = strlen(query);
    req.headers = sh;
    req.nheaders = n;
    req.body = (const unsigned char *) body;
    req.body_len = body_len;
    req.access_key_id = c.access_key_id;
    req.secret_access_key = c.secret_access_key;
    req.region = iv->region;
    req.service = "bedrock-agentcore";
    req.amz_date = date;
    req.normalize = 1;

    if (ac_sigv4_sign(&req, &res) != 0) {
        ac_creds_free(&c);
        ac_err("cannot sign the request");
        return AC_EXIT_FAILURE;
    }

    ac_header_set(iv, "Authorization", 13, res.authorization, 0);

    ac_sigv4_result_free(&res);
    ac_creds_free(&c);

    return AC_EXIT_OK;
}


/* "arn:PARTITION:bedrock-agentcore:REGION:ACCOUNT:runtime/ID" */

static int
ac_arn_parse(const char *arn, char *partition, size_t plen, char *region,
    size_t rlen)
{
    const char  *p[6];
    const char  *s;
    int          i;
    size_t       n;

    if (strncmp(arn, "arn:", 4) != 0) {
        return -1;
    }

    s = arn;

    for (i = 0; i < 6; i++) {
        p[i] = s;

        if (i < 5) {
            s = strchr(s, ':');
            if (s == NULL) {
                return -1;
            }

            s++;
        }
    }

    n = p[2] - p[1] - 1;
    if (n == 0 || n >= plen) {
        return -1;
    }

    memcpy(partition, p[1], n);
    partition[n] = '\0';

    n = p[4] - p[3] - 1;
    if (n >= rlen) {
        return -1;
    }

    memcpy(region, p[3], n);
    region[n] = '\0';

    return p[5][0] ? 0 : -1;
}


/* ---------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    int                 c, i, rc, opt_index;
    long                v;
    char               *end, *body, *prompt, *url, *enc, *q, *path, *host;
    char                sid[37], partition[32], region[64], *buf;
    char               *scheme, *port, *hp;
    size_t              body_len, len;
    json_t             *j;
    CURL               *curl;
    CURLU              *cu;
    CURLcode            cc;
    ac_invoke_t        *iv;
    ac_header_t        *h;
    void               *wctx[2];
    struct curl_slist  *list, *l;
    char                errbuf[CURL_ERROR_SIZE];

    static const struct option  opts[] = {
        { "url",             required_argument, NULL, 'u' },
        { "arn",             required_argument, NULL, 'a' },
        { "qualifier",       required_argument, NULL, 'q' },
        { "region",          required_argument, NULL, 'r' },
        { "endpoint-url",    required_argument, NULL, 'e' },
        { "profile",         required_argument, NULL, 'p' },
        { "session",         required_argument, NULL, 's' },
        { "new-session",     no_argument,       NULL, 'N' },
        { "header",          required_argument, NULL, 'H' },
        { "data",            required_argument, NULL, 'd' },
        { "json",            no_argument,       NULL, 'j' },
        { "no-newline",      no_argument,       NULL, 'n' },
        { "quiet",           no_argument,       NULL, 'Q' },
        { "verbose",         no_argument,       NULL, 'v' },
        { "connect-timeout", required_argument, NULL, 'C' },
        { "max-time",        required_argument, NULL, 'm' },
        { "help",            no_argument,       NULL, 'h' },
        { "version",         no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };

    iv = calloc(1, sizeof(ac_invoke_t));
    if (iv == NULL) {
        ac_err("out of memory");
        return AC_EXIT_FAILURE;
    }

    /* getopt's messages name the program, not its path */
    argv[0] = (char *) ac_prog;

    iv->connect_timeout = 10;
    iv->qualifier = "DEFAULT";

    /* ours first: a --header of the same name replaces it */
    ac_header_set(iv, "Content-Type", 12, "application/json", 1);
    ac_header_set(iv, "Accept", 6, "text/event-stream, application/json", 1);

    while ((c = getopt_long(argc, argv, "u:a:q:r:e:p:s:NH:d:jnvm:hV", opts,
                            &opt_index))
           != -1)
    {
        switch (c) {
        case 'u': iv->url = optarg; break;
        case 'a': iv->arn = optarg; break;
        case 'q': iv->qualifier = optarg; break;
        case 'r': iv->region = optarg; break;
        case 'e': iv->endpoint = optarg; break;
        case 'p': iv->profile = optarg; break;
        case 's': iv->session = optarg; break;
        case 'N': iv->new_session = 1; break;
        case 'H': ac_header_arg(iv, optarg); break;
        case 'd': iv->data = optarg; break;
        case 'j': iv->json = 1; break;
        case 'n': iv->no_newline = 1; break;
        case 'Q': iv->quiet = 1; break;
        case 'v': iv->verbose = 1; break;

        case 'C':
        case 'm':
            errno = 0;
            v = strtol(optarg, &end, 10);

            if (errno || *end || v < 0 || v > 86400 * 7) {
                ac_err("--%s %s: want a number of seconds",
                       c == 'C' ? "connect-timeout" : "max-time", optarg);
                return AC_EXIT_USAGE;
            }

            if (c == 'C') {
                iv->connect_timeout = v;
            } else {
                iv->max_time = v;
            }

            break;

        case 'h':
            ac_usage(stdout);
            return AC_EXIT_OK;

        case 'V':
            printf("agentcore-invoke %s (%s)\n", AC_VERSION,
                   curl_version());
            return AC_EXIT_OK;

        default:
            fprintf(stderr, "Try 'agentcore-invoke --help'.\n");
            return AC_EXIT_USAGE;
        }
    }

    if (iv->url && iv->arn) {
        ac_err("--url and --arn exclude each other");
        return AC_EXIT_USAGE;
    }

    if (!iv->arn && (iv->endpoint || iv->profile || iv->region)) {
        ac_err("--endpoint-url, --profile and --region go with --arn");
        return AC_EXIT_USAGE;
    }

    if (iv->session && iv->new_session) {
        ac_err("--session and --new-session exclude each other");
        return AC_EXIT_USAGE;
    }

    if (iv->arn
        && ac_arn_parse(iv->arn, partition, sizeof(partition), region,
                        sizeof(region))
           != 0)
    {
        ac_err("--arn %s: want arn:aws:bedrock-agentcore:REGION:"
               "ACCOUNT:runtime/ID", iv->arn);
        return AC_EXIT_USAGE;
    }

    /* the body */

    if (iv->data) {
        if (optind < argc) {
            ac_err("--data and a prompt exclude each other");
            return AC_EXIT_USAGE;
        }

        if (iv->data[0] == '@') {
            body = ac_read_all(iv->data + 1, &body_len);

        } else {
            body = ac_strndup(iv->data, strlen(iv->data));
            body_len = strlen(body);
        }

    } else {
        if (optind == argc) {
            ac_err("no prompt: give it as arguments, or '-' to read stdin");
            fprintf(stderr, "Try 'agentcore-invoke --help'.\n");
            return AC_EXIT_USAGE;
        }

        if (optind == argc - 1 && strcmp(argv[optind], "-") == 0) {
            prompt = ac_read_all("-", &len);

            /* the line end a shell's echo or a file adds */
            if (len && prompt[len - 1] == '\n') {
                prompt[--len] = '\0';

                if (len && prompt[len - 1] == '\r') {
                    prompt[--len] = '\0';
                }
            }

        } else {
            for (len = 0, i = optind; i < argc; i++) {
                len += strlen(argv[i]) + 1;
            }

            prompt = malloc(len);
            if (prompt == NULL) {
                ac_err("out of memory");
                return AC_EXIT_FAILURE;
            }

            prompt[0] = '\0';

            for (i = optind; i < argc; i++) {
                if (i > optind) {
                    strcat(prompt, " ");
                }

                strcat(prompt, argv[i]);
            }

            len = strlen(prompt);
        }

        j = json_pack("{s:s%}", "prompt", prompt, len);

        if (j == NULL) {
            ac_err("the prompt is not valid UTF-8");
            return AC_EXIT_USAGE;
        }

        body = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        free(prompt);

        if (body == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        body_len = strlen(body);
    }

    /* the session */

    if (iv->session) {
        if (iv->session[0] == '\0' || strpbrk(iv->session, "\r\n")) {
            ac_err("--session: an empty id or a line break");
            return AC_EXIT_USAGE;
        }

        ac_header_set(iv, AC_SESSION_HEADER, sizeof(AC_SESSION_HEADER) - 1,
                      iv->session, 1);

    } else if ((iv->new_session || iv->arn)
               && ac_header_get(iv, AC_SESSION_HEADER) == NULL)
    {
        ac_uuid(sid);
        ac_header_set(iv, AC_SESSION_HEADER, sizeof(AC_SESSION_HEADER) - 1,
                      sid, 1);

        if (!iv->quiet) {
            ac_err("session %s", sid);
        }
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ac_err("cannot initialize libcurl");
        return AC_EXIT_FAILURE;
    }

    curl = curl_easy_init();
    if (curl == NULL) {
        ac_err("cannot initialize libcurl");
        return AC_EXIT_FAILURE;
    }

    /* where to */

    if (iv->arn) {
        if (iv->region == NULL) {
            if (region[0] == '\0') {
                ac_err("--arn %s names no region: give --region", iv->arn);
                return AC_EXIT_USAGE;
            }

            iv->region = region;
        }

        if (iv->endpoint == NULL) {
            iv->endpoint = getenv("AWS_ENDPOINT_URL_BEDROCK_AGENTCORE");
        }

        if (iv->endpoint == NULL || iv->endpoint[0] == '\0') {
            iv->endpoint = getenv("AWS_ENDPOINT_URL");
        }

        len = 64 + strlen(iv->region);
        buf = malloc(len);
        if (buf == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        if (iv->endpoint == NULL || iv->endpoint[0] == '\0') {
            snprintf(buf, len, "https://bedrock-agentcore.%s.amazonaws.com%s",
                     iv->region,
                     strcmp(partition, "aws-cn") == 0 ? ".cn" : "");
            iv->endpoint = buf;
        }

        cu = curl_url();
        if (cu == NULL
            || curl_url_set(cu, CURLUPART_URL, iv->endpoint, 0) != CURLUE_OK)
        {
            ac_err("--endpoint-url %s: not a URL", iv->endpoint);
            return AC_EXIT_USAGE;
        }

        /* the wire path: the endpoint's, then the ARN %-encoded */

        if (curl_url_get(cu, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
            ac_err("--endpoint-url %s: not a URL", iv->endpoint);
            return AC_EXIT_USAGE;
        }

        len = strlen(path);
        while (len && path[len - 1] == '/') {
            path[--len] = '\0';
        }

        enc = ac_url_encode(iv->arn);
        q = ac_url_encode(iv->qualifier);

        buf = malloc(len + strlen(enc) + 64);
        if (buf == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        sprintf(buf, "%s/runtimes/%s/invocations", path, enc);
        curl_free(path);
        path = buf;

        buf = malloc(strlen(q) + 16);
        if (buf == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        sprintf(buf, "qualifier=%s", q);

        /*
         * the URL as the SDKs send it: CURLU would lower-case the %XX
         * of the path, which the signature covers
         */

        if (curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK
            || curl_url_get(cu, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        {
            ac_err("--endpoint-url %s: cannot build the URL", iv->endpoint);
            return AC_EXIT_USAGE;
        }

        if (curl_url_get(cu, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
            hp = malloc(strlen(host) + strlen(port) + 2);
            if (hp == NULL) {
                ac_err("out of memory");
                return AC_EXIT_FAILURE;
            }

            sprintf(hp, "%s:%s", host, port);
            curl_free(port);
            host = hp;
        }

        len = strlen(scheme) + strlen(host) + strlen(path) + strlen(buf) + 8;
        url = malloc(len);
        if (url == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        snprintf(url, len, "%s://%s%s?%s", scheme, host, path, buf);

        h = ac_header_get(iv, "Authorization");

        if (h == NULL || h->value[0] == '\0') {
            rc = ac_sign(iv, host, path, buf, body, body_len);
            if (rc != AC_EXIT_OK) {
                return rc;
            }
        }

        curl_url_cleanup(cu);

    } else {
        url = (char *) (iv->url ? iv->url : AC_DEFAULT_URL);
    }

    /* the request */

    list = NULL;

    for (i = 0; i < iv->nheaders; i++) {
        h = &iv->headers[i];

        len = strlen(h->name) + strlen(h->value) + 3;
        buf = malloc(len);
        if (buf == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        /* "Name:" (an empty value) drops the header, curl's own too */
        snprintf(buf, len, "%s:%s%s", h->name, h->value[0] ? " " : "",
                 h->value);

        l = curl_slist_append(list, buf);
        free(buf);

        if (l == NULL) {
            ac_err("out of memory");
            return AC_EXIT_FAILURE;
        }

        list = l;

        if (iv->verbose && strcasecmp(h->name, "authorization") != 0
            && strcasecmp(h->name, "x-amz-security-token") != 0)
        {
            ac_err("> %s: %s", h->name, h->value);
        }
    }

    /* no "Expect: 100-continue" wait before a large body */
    list = curl_slist_append(list, "Expect:");

    if (iv->verbose) {
        ac_err("> POST %s (%zu bytes)", url, body_len);
    }

    iv->body = malloc(AC_BODY_MAX);
    if (iv->body == NULL || list == NULL) {
        ac_err("out of memory");
        return AC_EXIT_FAILURE;
    }

    ac_sse_init(&iv->parser);

    wctx[0] = iv;
    wctx[1] = curl;
    errbuf[0] = '\0';

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t) body_len);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "agentcore-invoke/" AC_VERSION);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ac_header_cb);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, iv);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ac_write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, wctx);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, iv->connect_timeout);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, iv->max_time);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, NULL);

    cc = curl_easy_perform(curl);

    if (!iv->decided && cc == CURLE_OK) {
        /* a response without a body */
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &iv->status);
        iv->decided = 1;
    }

    rc = AC_EXIT_OK;

    if (iv->parse_failed) {
        ac_end_line(iv);
        ac_err("an event of the stream is larger than %d MiB, or memory ran "
               "out", AC_SSE_MAX_EVENT >> 20);
        rc = AC_EXIT_FAILURE;

    } else if (cc != CURLE_OK && !iv->decided) {
        ac_err("%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT)
             ? AC_EXIT_USAGE : AC_EXIT_CONNECT;

    } else if (iv->status < 200 || iv->status >= 300) {
        ac_http_error(iv);
        rc = AC_EXIT_HTTP;

    } else if (cc != CURLE_OK) {
        ac_end_line(iv);
        ac_err("the stream was cut: %s",
               errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = AC_EXIT_CUT;

    } else if (iv->sse && ac_sse_pending(&iv->parser)) {
        ac_end_line(iv);
        ac_err("the stream was cut: it ended inside an event");
        rc = AC_EXIT_CUT;

    } else if (iv->stream_errors) {
        rc = AC_EXIT_STREAM;
    }

    ac_end_line(iv);

    curl_slist_free_all(list);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    ac_sse_free(&iv->parser);

    if (fflush(stdout) != 0 || ferror(stdout)) {
        return rc ? rc : AC_EXIT_FAILURE;
    }

    return rc;
}
