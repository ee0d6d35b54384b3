/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_history_decode() on arbitrary bytes (what a
 * shared memory zone could hold).
 *  - a failure always has an error text;
 *  - a decoded history encodes again, and that decodes to an equal
 *    value (the encoder measures exactly what it writes);
 *  - the window, the repair and the user turn (a text, then content
 *    blocks) run on it without failing, and what they leave encodes
 *    and decodes too (base64 strings as their decoded bytes).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_history.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static void
round_trip(json_t *v)
{
    size_t          n, m;
    json_t         *w;
    const char     *err;
    unsigned char  *p;

    /* decoding refused anything deeper than the encoder takes */
    n = ac_history_encode(v, NULL, 0);
    check(n > 0);

    p = malloc(n);
    check(p != NULL);

    m = ac_history_encode(v, p, n);
    check(m == n);

    err = NULL;
    w = ac_history_decode(p, n, &err);
    check(w != NULL);
    check(json_equal(v, w));

    json_decref(w);
    free(p);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       n;
    json_t      *v, *text;
    const char  *err;

    err = NULL;
    v = ac_history_decode(data, size, &err);

    if (v == NULL) {
        check(err != NULL && err[0] != '\0');
        return 0;
    }

    check(json_is_array(v));

    round_trip(v);

    n = json_array_size(v);
    check(ac_history_trim(v, 3) <= n);
    check(json_array_size(v) <= n);

    check(ac_history_repair(v) >= 0);

    text = json_string("next");
    check(ac_history_add_user_text(v, text) == 0);
    json_decref(text);

    /* a prompt of content blocks joins or follows it */
    text = json_pack("[{s:s}, {s:{s:s, s:{s:s}}}]", "text", "see",
                     "image", "format", "png", "source", "bytes",
                     "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlE"
                     "QVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
    check(ac_history_add_user(v, text) == 0);
    json_decref(text);

    round_trip(v);

    json_decref(v);

    return 0;
}
