
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The body of a provider's stream decoder target (fuzz_openai.c,
 * fuzz_anthropic.c): each defines FUZZ_PROVIDER, its ac_provider_t,
 * includes its header, then this file.  The properties: the targets'
 * header comments.
 */


#ifndef _FUZZ_PROVIDER_H_INCLUDED_
#define _FUZZ_PROVIDER_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>


#define FUZZ_MAX_MESSAGE  4096


typedef struct {
    size_t      text_bytes;
    uint64_t    text_hash;     /* of the bytes only: splits may cut a
                                  text event nowhere, so boundaries
                                  agree too, but are not hashed */
} fuzz_texts_t;


typedef struct {
    int         rc;
    int         pending;
    char       *message;
    char       *stop;
    char       *error;
    char       *error_type;
    char       *stream_error;
    ac_usage_t  usage;
    size_t      tools;
    fuzz_texts_t  texts;
} fuzz_result_t;


static int
fuzz_text(void *data, const char *text, size_t len)
{
    fuzz_texts_t  *t = data;

    t->text_bytes += len;

    while (len--) {
        t->text_hash = (t->text_hash ^ (unsigned char) *text++)
                       * 0x100000001b3ULL;
    }

    return 0;
}


static char *
fuzz_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}


static void
fuzz_run(const uint8_t *p, size_t n, size_t step, size_t cut,
    fuzz_result_t *r)
{
    int                 rc;
    size_t              off, k;
    json_t             *m;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    memset(r, 0, sizeof(fuzz_result_t));
    r->texts.text_hash = 0xcbf29ce484222325ULL;

    turn = ac_turn_create(fuzz_text, &r->texts);
    s = FUZZ_PROVIDER.stream_create(turn, FUZZ_MAX_MESSAGE);

    if (turn == NULL || s == NULL) {
        abort();
    }

    rc = 0;

    for (off = 0; off < n; off += k) {
        if (step) {
            k = step;

        } else if (off == 0 && cut < n) {
            k = cut;

        } else {
            k = n - off;
        }

        if (k == 0) {
            k = n - off;
        }

        k = (k < n - off) ? k : n - off;

        rc = FUZZ_PROVIDER.stream_feed(s, p + off, k);
        if (rc != 0) {
            break;
        }
    }

    r->rc = rc;
    r->pending = (rc == 0) ? FUZZ_PROVIDER.stream_pending(s) : 0;

    if (rc == AC_STREAM_CORRUPT) {
        r->stream_error = fuzz_dup(FUZZ_PROVIDER.stream_error(s));
    }

    r->stop = fuzz_dup(ac_turn_stop_reason(turn));
    r->error = fuzz_dup(ac_turn_error(turn));
    r->error_type = fuzz_dup(ac_turn_error_type(turn));
    r->usage = *ac_turn_usage(turn);
    r->tools = ac_turn_tool_uses(turn);

    if (rc == 0 && ac_turn_stopped(turn)) {
        m = ac_turn_message(turn);
        if (m == NULL) {
            abort();
        }

        r->message = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(m);
    }

    FUZZ_PROVIDER.stream_destroy(s);
    ac_turn_destroy(turn);
}


static int
fuzz_streq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}


static void
fuzz_same(fuzz_result_t *a, fuzz_result_t *b)
{
    if (a->rc != b->rc
        || a->pending != b->pending
        || !fuzz_streq(a->message, b->message)
        || !fuzz_streq(a->stop, b->stop)
        || !fuzz_streq(a->error, b->error)
        || !fuzz_streq(a->error_type, b->error_type)
        || !fuzz_streq(a->stream_error, b->stream_error)
        || memcmp(&a->usage, &b->usage, sizeof(ac_usage_t)) != 0
        || a->tools != b->tools
        || a->texts.text_bytes != b->texts.text_bytes
        || a->texts.text_hash != b->texts.text_hash)
    {
        fprintf(stderr, "split outcome differs: rc %d/%d stop %s/%s "
                "error %s/%s message %s/%s\n", a->rc, b->rc,
                a->stop ? a->stop : "-", b->stop ? b->stop : "-",
                a->error ? a->error : "-", b->error ? b->error : "-",
                a->message ? a->message : "-",
                b->message ? b->message : "-");
        abort();
    }
}


static void
fuzz_free(fuzz_result_t *r)
{
    free(r->message);
    free(r->stop);
    free(r->error);
    free(r->error_type);
    free(r->stream_error);
}


static void
fuzz_request(const uint8_t *p, size_t n)
{
    char                *body, *suffix;
    size_t               len, slen;
    json_t              *messages, *got;
    ac_converse_conf_t   cc;

    messages = json_loadb((const char *) p, n, 0, NULL);
    if (messages == NULL) {
        return;
    }

    cc.system_prompt = "system";
    cc.max_tokens = 100;
    cc.tools = NULL;

    suffix = ac_converse_request_suffix(&cc, &slen);
    if (suffix == NULL) {
        abort();
    }

    body = FUZZ_PROVIDER.request(messages, suffix, slen, "m", &len);

    if (body != NULL) {
        got = json_loadb(body, len, 0, NULL);
        if (!json_is_object(got)) {
            abort();
        }

        json_decref(got);
        free(body);
    }

    free(suffix);
    json_decref(messages);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char           out[256];
    size_t         n;
    fuzz_result_t  whole, split, bytes;

    if (size < 1) {
        return 0;
    }

    fuzz_run(data + 1, size - 1, 0, size, &whole);
    fuzz_run(data + 1, size - 1, 0, (size_t) data[0] * 7 % size, &split);
    fuzz_same(&whole, &split);

    if (size < 4096) {
        fuzz_run(data + 1, size - 1, 1, 0, &bytes);
        fuzz_same(&whole, &bytes);
        fuzz_free(&bytes);
    }

    fuzz_free(&whole);
    fuzz_free(&split);

    if (data[0] & 1) {
        fuzz_request(data + 1, size - 1);
    }

    n = FUZZ_PROVIDER.http_error(400 + data[0] % 200, NULL, 0,
                                      data + 1, size - 1, out, sizeof(out));

    if (n >= sizeof(out) || strlen(out) != n) {
        abort();
    }

    return 0;
}


#endif /* _FUZZ_PROVIDER_H_INCLUDED_ */
