
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Server-Sent Events for agentcore-invoke: the parser and the decoding
 * of one event (agentcore_sse.h).
 */


#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "agentcore_sse.h"


static int ac_sse_line(ac_sse_parser_t *p, ac_sse_event_pt cb, void *ctx);
static int ac_sse_dispatch(ac_sse_parser_t *p, ac_sse_event_pt cb,
    void *ctx);
static int ac_sse_grow(char **buf, size_t *cap, size_t need, size_t max);
static char *ac_sse_strndup(const char *s, size_t n);


void
ac_sse_init(ac_sse_parser_t *p)
{
    memset(p, 0, sizeof(ac_sse_parser_t));
}


void
ac_sse_free(ac_sse_parser_t *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof(ac_sse_parser_t));
}


int
ac_sse_pending(const ac_sse_parser_t *p)
{
    return p->line_len != 0 || p->has_data;
}


static int
ac_sse_grow(char **buf, size_t *cap, size_t need, size_t max)
{
    char    *b;
    size_t   n;

    if (need <= *cap) {
        return 0;
    }

    if (need > max) {
        return -1;
    }

    n = *cap ? *cap : 256;

    while (n < need) {
        n = (n > max / 2) ? max : n * 2;
    }

    b = realloc(*buf, n);
    if (b == NULL) {
        return -1;
    }

    *buf = b;
    *cap = n;

    return 0;
}


int
ac_sse_feed(ac_sse_parser_t *p, const char *buf, size_t n,
    ac_sse_event_pt cb, void *ctx)
{
    int                   rc;
    size_t                i, start, max;
    unsigned char         c;
    static const char     bom[] = "\xef\xbb\xbf";

    max = p->max ? p->max : AC_SSE_MAX_EVENT;
    i = 0;

    /* a UTF-8 BOM at the very start is skipped, even split over reads */

    while (!p->started && i < n) {
        if ((unsigned char) buf[i] == (unsigned char) bom[p->bom]) {
            p->bom++;
            i++;

            if (p->bom == 3) {
                p->started = 1;
            }

            continue;
        }

        p->started = 1;

        if (p->bom) {
            /* a partial BOM: its bytes were data after all */
            if (ac_sse_grow(&p->line, &p->line_cap, p->bom, max) != 0) {
                return -1;
            }

            memcpy(p->line, bom, p->bom);
            p->line_len = p->bom;
        }
    }

    start = i;

    for ( /* void */ ; i < n; i++) {
        c = (unsigned char) buf[i];

        if (c != '\n' && c != '\r') {
            p->after_cr = 0;
            continue;
        }

        if (c == '\n' && p->after_cr) {
            /* the LF of a CRLF */
            p->after_cr = 0;
            start = i + 1;
            continue;
        }

        p->after_cr = (c == '\r');

        if (ac_sse_grow(&p->line, &p->line_cap, p->line_len + (i - start),
                        max)
            != 0)
        {
            return -1;
        }

        if (i > start) {
            memcpy(p->line + p->line_len, buf + start, i - start);
        }

        p->line_len += i - start;
        start = i + 1;

        rc = ac_sse_line(p, cb, ctx);
        p->line_len = 0;

        if (rc != 0) {
            return rc;
        }
    }

    if (n > start) {
        if (ac_sse_grow(&p->line, &p->line_cap, p->line_len + (n - start),
                        max)
            != 0)
        {
            return -1;
        }

        memcpy(p->line + p->line_len, buf + start, n - start);
        p->line_len += n - start;
    }

    return 0;
}


/* one complete line, without its end */

static int
ac_sse_line(ac_sse_parser_t *p, ac_sse_event_pt cb, void *ctx)
{
    size_t       nlen, vlen, max;
    const char  *line, *colon, *value;

    line = p->line;

    if (p->line_len == 0) {
        return ac_sse_dispatch(p, cb, ctx);
    }

    if (line[0] == ':') {
        return 0;                                     /* a comment */
    }

    colon = memchr(line, ':', p->line_len);

    if (colon) {
        nlen = colon - line;
        value = colon + 1;
        vlen = p->line_len - nlen - 1;

        if (vlen && value[0] == ' ') {
            value++;
            vlen--;
        }

    } else {
        nlen = p->line_len;
        value = "";
        vlen = 0;
    }

    if (nlen == 4 && memcmp(line, "data", 4) == 0) {
        max = p->max ? p->max : AC_SSE_MAX_EVENT;

        if (ac_sse_grow(&p->data, &p->data_cap, p->data_len + vlen + 2, max)
            != 0)
        {
            return -1;
        }

        memcpy(p->data + p->data_len, value, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
        p->has_data = 1;

        return 0;
    }

    if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen >= AC_SSE_EVENT_MAX) {
            vlen = AC_SSE_EVENT_MAX - 1;
        }

        memcpy(p->event, value, vlen);
        p->event[vlen] = '\0';

        return 0;
    }

    /* "id", "retry" and unknown fields: nothing a client here needs */

    return 0;
}


static int
ac_sse_dispatch(ac_sse_parser_t *p, ac_sse_event_pt cb, void *ctx)
{
    int  rc;

    if (!p->has_data) {
        p->event[0] = '\0';
        return 0;
    }

    /* the last LF goes; the buffer has room for the NUL */

    p->data_len--;
    p->data[p->data_len] = '\0';

    rc = cb(ctx, p->event, p->data, p->data_len);

    p->data_len = 0;
    p->has_data = 0;
    p->event[0] = '\0';

    return rc;
}


static char *
ac_sse_strndup(const char *s, size_t n)
{
    char  *d;

    d = malloc(n + 1);
    if (d == NULL) {
        return NULL;
    }

    if (n) {
        memcpy(d, s, n);
    }

    d[n] = '\0';

    return d;
}


int
ac_sse_decode(const char *event, const char *data, size_t len,
    ac_sse_value_t *v)
{
    int           is_error;
    json_t       *j, *err, *type, *msg;
    const char   *t, *m, *e;
    size_t        tlen, mlen, elen;
    json_error_t  jerr;

    memset(v, 0, sizeof(ac_sse_value_t));

    is_error = (event && strcmp(event, "error") == 0);

    j = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

    if (j == NULL) {
        v->kind = is_error ? AC_SSE_ERROR : AC_SSE_RAW;
        v->text = ac_sse_strndup(data, len);
        v->len = len;

        if (is_error) {
            v->type = ac_sse_strndup("error", 5);
        }

        return (v->text && (!is_error || v->type)) ? 0 : -1;
    }

    if (json_is_string(j) && !is_error) {
        v->kind = AC_SSE_TEXT;
        v->len = json_string_length(j);
        v->text = ac_sse_strndup(json_string_value(j), v->len);
        json_decref(j);

        return v->text ? 0 : -1;
    }

    err = json_is_object(j) ? json_object_get(j, "error") : NULL;

    if (!json_is_string(err) && !is_error) {
        v->kind = AC_SSE_JSON;
        v->text = ac_sse_strndup(data, len);
        v->len = len;
        json_decref(j);

        return v->text ? 0 : -1;
    }

    v->kind = AC_SSE_ERROR;

    if (!json_is_string(err)) {
        /* "event: error" with a value of another shape */
        v->text = ac_sse_strndup(data, len);
        v->len = len;
        v->type = ac_sse_strndup("error", 5);
        json_decref(j);

        return (v->text && v->type) ? 0 : -1;
    }

    e = json_string_value(err);
    elen = json_string_length(err);

    /* {"error", "type": "stream_error"}; the SDK's {"error", "error_type",
     * "message": "An error occurred during streaming"} */

    type = json_object_get(j, "type");

    if (!json_is_string(type)) {
        type = json_object_get(j, "error_type");
    }

    msg = json_object_get(j, "message");

    if (json_is_string(msg) && json_string_length(msg)) {
        m = json_string_value(msg);
        mlen = json_string_length(msg);

        v->len = mlen + 2 + elen;
        v->text = malloc(v->len + 1);

        if (v->text) {
            memcpy(v->text, m, mlen);
            memcpy(v->text + mlen, ": ", 2);
            memcpy(v->text + mlen + 2, e, elen);
            v->text[v->len] = '\0';
        }

    } else {
        v->len = elen;
        v->text = ac_sse_strndup(e, elen);
    }

    if (json_is_string(type)) {
        t = json_string_value(type);
        tlen = json_string_length(type);

    } else {
        t = is_error ? "error" : "";
        tlen = strlen(t);
    }

    v->type = tlen ? ac_sse_strndup(t, tlen) : NULL;

    json_decref(j);

    return (v->text && (tlen == 0 || v->type)) ? 0 : -1;
}


void
ac_sse_value_free(ac_sse_value_t *v)
{
    free(v->text);
    free(v->type);
    memset(v, 0, sizeof(ac_sse_value_t));
}
