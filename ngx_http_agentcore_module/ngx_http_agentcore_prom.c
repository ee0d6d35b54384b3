
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Prometheus' text exposition format, plain C: see the header.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_prom.h"


const char *const  ac_prom_error_types[] = {

    /* the module's own */
    "upstream_timeout",         /* the model location timed out */
    "upstream_error",           /* the model location failed otherwise */
    "stream_corrupt",           /* a frame failed its checks */
    "stream_truncated",         /* the stream ended before messageStop */
    "max_tokens",               /* stopReason max_tokens */
    "max_cycles",               /* agentcore_max_cycles reached */
    "invocation_timeout",       /* agentcore_invocation_timeout */
    "session",                  /* busy, no room, or not stored */
    "credentials",              /* none for a later model call */
    "request_too_large",        /* past the model location's
                                   client_max_body_size, history cut */
    "token_limit",              /* agentcore_token_limit between calls */
    "response_too_large",       /* a JSON answer past
                                   agentcore_response_max_size */
    "internal",

    /* Bedrock's (bedrock-wire.md 6 and 8.3) */
    "ThrottlingException",
    "ValidationException",
    "AccessDeniedException",
    "ResourceNotFoundException",
    "ModelTimeoutException",
    "ModelErrorException",
    "ModelNotReadyException",
    "ModelStreamErrorException",
    "InternalServerException",
    "ServiceUnavailableException",
    "ServiceQuotaExceededException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "MissingAuthenticationTokenException",
    "UnknownOperationException",
    "InternalFailure",          /* the usual unmodeled error code */

    "other"
};

const size_t  ac_prom_nerror_types =
    sizeof(ac_prom_error_types) / sizeof(ac_prom_error_types[0]);


static void ac_prom_add(ac_prom_t *p, const char *s, size_t len);
static void ac_prom_str(ac_prom_t *p, const char *s);
static void ac_prom_escaped(ac_prom_t *p, const char *s, size_t len,
    int quotes);
static void ac_prom_uint(ac_prom_t *p, uint64_t n);
static void ac_prom_labels(ac_prom_t *p, const ac_prom_label_t *labels,
    size_t nlabels, const char *le);


void
ac_prom_init(ac_prom_t *p)
{
    p->data = NULL;
    p->len = 0;
    p->size = 0;
    p->failed = 0;
}


void
ac_prom_free(ac_prom_t *p)
{
    free(p->data);
    ac_prom_init(p);
}


static void
ac_prom_add(ac_prom_t *p, const char *s, size_t len)
{
    char    *d;
    size_t   size;

    if (p->failed) {
        return;
    }

    if (p->size - p->len < len) {
        size = p->size ? p->size : 4096;

        while (size - p->len < len) {
            if (size > (size_t) -1 / 2) {
                p->failed = 1;
                return;
            }

            size *= 2;
        }

        d = realloc(p->data, size);
        if (d == NULL) {
            p->failed = 1;
            return;
        }

        p->data = d;
        p->size = size;
    }

    memcpy(p->data + p->len, s, len);
    p->len += len;
}


static void
ac_prom_str(ac_prom_t *p, const char *s)
{
    ac_prom_add(p, s, strlen(s));
}


/* HELP text: \ and newline; a label value: ", too */

static void
ac_prom_escaped(ac_prom_t *p, const char *s, size_t len, int quotes)
{
    size_t  i, start;

    start = 0;

    for (i = 0; i < len; i++) {

        if (s[i] != '\\' && s[i] != '\n' && !(quotes && s[i] == '"')) {
            continue;
        }

        ac_prom_add(p, s + start, i - start);
        ac_prom_add(p, s[i] == '\\' ? "\\\\" : s[i] == '"' ? "\\\"" : "\\n",
                    2);
        start = i + 1;
    }

    ac_prom_add(p, s + start, len - start);
}


static void
ac_prom_uint(ac_prom_t *p, uint64_t n)
{
    char  buf[24];
    int   len;

    len = snprintf(buf, sizeof(buf), "%llu", (unsigned long long) n);
    ac_prom_add(p, buf, (size_t) len);
}


size_t
ac_prom_seconds(uint64_t ms, char *out)
{
    int       len;
    unsigned  frac;

    frac = (unsigned) (ms % 1000);

    if (frac == 0) {
        len = snprintf(out, 32, "%llu", (unsigned long long) (ms / 1000));

    } else {
        len = snprintf(out, 32, "%llu.%03u", (unsigned long long) (ms / 1000),
                       frac);

        while (out[len - 1] == '0') {
            out[--len] = '\0';
        }
    }

    return (size_t) len;
}


void
ac_prom_family(ac_prom_t *p, const char *name, const char *type,
    const char *help)
{
    ac_prom_str(p, "# HELP ");
    ac_prom_str(p, name);
    ac_prom_str(p, " ");
    ac_prom_escaped(p, help, strlen(help), 0);
    ac_prom_str(p, "\n# TYPE ");
    ac_prom_str(p, name);
    ac_prom_str(p, " ");
    ac_prom_str(p, type);
    ac_prom_str(p, "\n");
}


static void
ac_prom_labels(ac_prom_t *p, const ac_prom_label_t *labels, size_t nlabels,
    const char *le)
{
    size_t  i;

    if (nlabels == 0 && le == NULL) {
        return;
    }

    ac_prom_str(p, "{");

    for (i = 0; i < nlabels; i++) {
        if (i) {
            ac_prom_str(p, ",");
        }

        ac_prom_str(p, labels[i].name);
        ac_prom_str(p, "=\"");
        ac_prom_escaped(p, labels[i].value, labels[i].len, 1);
        ac_prom_str(p, "\"");
    }

    if (le) {
        ac_prom_str(p, nlabels ? ",le=\"" : "le=\"");
        ac_prom_str(p, le);
        ac_prom_str(p, "\"");
    }

    ac_prom_str(p, "}");
}


void
ac_prom_sample(ac_prom_t *p, const char *name, const ac_prom_label_t *labels,
    size_t nlabels, uint64_t value)
{
    ac_prom_str(p, name);
    ac_prom_labels(p, labels, nlabels, NULL);
    ac_prom_str(p, " ");
    ac_prom_uint(p, value);
    ac_prom_str(p, "\n");
}


void
ac_prom_histogram_ms(ac_prom_t *p, const char *name,
    const ac_prom_label_t *labels, size_t nlabels, const uint64_t *bounds_ms,
    const uint64_t *counts, size_t nbounds, uint64_t sum_ms)
{
    char      le[32];
    size_t    i;
    uint64_t  total;

    total = 0;

    for (i = 0; i <= nbounds; i++) {
        total += counts[i];

        if (i < nbounds) {
            ac_prom_seconds(bounds_ms[i], le);

        } else {
            strcpy(le, "+Inf");
        }

        ac_prom_str(p, name);
        ac_prom_str(p, "_bucket");
        ac_prom_labels(p, labels, nlabels, le);
        ac_prom_str(p, " ");
        ac_prom_uint(p, total);
        ac_prom_str(p, "\n");
    }

    ac_prom_str(p, name);
    ac_prom_str(p, "_sum");
    ac_prom_labels(p, labels, nlabels, NULL);
    ac_prom_str(p, " ");
    ac_prom_add(p, le, ac_prom_seconds(sum_ms, le));
    ac_prom_str(p, "\n");

    ac_prom_str(p, name);
    ac_prom_str(p, "_count");
    ac_prom_labels(p, labels, nlabels, NULL);
    ac_prom_str(p, " ");
    ac_prom_uint(p, total);
    ac_prom_str(p, "\n");
}


size_t
ac_prom_error_type(const char *type, size_t len)
{
    char         c;
    size_t       i;
    const char  *t;

    for (i = 0; i + 1 < ac_prom_nerror_types; i++) {
        t = ac_prom_error_types[i];

        if (len == 0 || strlen(t) != len) {
            continue;
        }

        /* Bedrock's: "throttlingException" in the stream */
        c = type[0];

        if (t[0] >= 'A' && t[0] <= 'Z' && c >= 'a' && c <= 'z') {
            c = (char) (c - 'a' + 'A');
        }

        if (c == t[0] && memcmp(type + 1, t + 1, len - 1) == 0) {
            return i;
        }
    }

    return ac_prom_nerror_types - 1;
}
