
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: agentcore-invoke's SSE decoder on arbitrary bytes.
 *  - fed whole, byte by byte and in the input's own split (its first
 *    byte), the parser gives the same events and the same pending state;
 *  - every event's data is what the "data" lines held, so it never
 *    holds CR, and an event name never holds CR or LF;
 *  - ac_sse_decode() of each event gives a kind, and text of the length
 *    it says (ASan checks the reads).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentcore_sse.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


typedef struct {
    char    *out;
    size_t   len;
    size_t   cap;
} acc_t;


static void
acc_add(acc_t *a, const void *p, size_t n)
{
    if (a->len + n > a->cap) {
        a->cap = (a->len + n) * 2 + 64;
        a->out = realloc(a->out, a->cap);
        check(a->out != NULL);
    }

    memcpy(a->out + a->len, p, n);
    a->len += n;
}


static int
on_event(void *ctx, const char *event, const char *data, size_t len)
{
    acc_t           *a = ctx;
    size_t           elen;
    ac_sse_value_t   v;

    elen = strlen(event);
    check(elen < AC_SSE_EVENT_MAX);
    check(strpbrk(event, "\r\n") == NULL);
    check(memchr(data, '\r', len) == NULL);
    check(data[len] == '\0');

    acc_add(a, &elen, sizeof(elen));
    acc_add(a, event, elen);
    acc_add(a, &len, sizeof(len));
    acc_add(a, data, len);

    check(ac_sse_decode(event, data, len, &v) == 0);
    check(v.kind <= AC_SSE_RAW);
    check(v.text != NULL && v.text[v.len] == '\0');

    if (v.kind == AC_SSE_JSON || v.kind == AC_SSE_RAW) {
        check(v.len == len && memcmp(v.text, data, len) == 0);
    }

    ac_sse_value_free(&v);

    return 0;
}


static void
run(const uint8_t *data, size_t size, size_t step, acc_t *a, int *pending)
{
    size_t           i, n;
    ac_sse_parser_t  p;

    ac_sse_init(&p);
    p.max = 4096;

    for (i = 0; i < size; i += n) {
        n = (size - i < step) ? size - i : step;

        if (ac_sse_feed(&p, (const char *) data + i, n, on_event, a) != 0) {
            *pending = -1;
            ac_sse_free(&p);
            return;
        }
    }

    *pending = ac_sse_pending(&p);
    ac_sse_free(&p);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int     p1, p2, p3;
    size_t  split;
    acc_t   a1, a2, a3;

    if (size == 0) {
        return 0;
    }

    split = 1 + data[0] % 17;
    data++;
    size--;

    memset(&a1, 0, sizeof(acc_t));
    memset(&a2, 0, sizeof(acc_t));
    memset(&a3, 0, sizeof(acc_t));

    run(data, size, size ? size : 1, &a1, &p1);
    run(data, size, 1, &a2, &p2);
    run(data, size, split, &a3, &p3);

    /* a limit error may come at a different event; otherwise the same */
    if (p1 != -1 && p2 != -1 && p3 != -1) {
        check(p1 == p2 && p1 == p3);
        check(a1.len == a2.len && a1.len == a3.len);
        check(a1.len == 0 || (memcmp(a1.out, a2.out, a1.len) == 0
                              && memcmp(a1.out, a3.out, a1.len) == 0));
    }

    free(a1.out);
    free(a2.out);
    free(a3.out);

    return 0;
}
