/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the session zone's binary history form from the
 * encoder's side (fuzz_history starts from the bytes).  The input is
 * JSON text; jansson's value (in an array if it is not one: the
 * encoder takes arrays) goes through ac_history_encode():
 *  - it fails exactly when a value nests AC_HISTORY_MAX_DEPTH deep;
 *  - else the length it measures is the length it writes, and with a
 *    buffer too small (half) it writes no byte past it (what it writes
 *    there is not specified: a piece that does not fit is left out) and
 *    still says the full length (ASan: buffers of exactly those sizes);
 *  - decode(encode(v)) equals v (strings, keys, numbers, base64 strings
 *    stored as their bytes), and encoding that again gives the same
 *    bytes;
 *  - the decoder refuses every cut of the encoding it is tried on (the
 *    last byte off, half, a third) and the encoding with a byte more,
 *    reading nothing past the copy it is given.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_history.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


/* the deepest value's depth, the top value's being 0 */

static size_t
depth(json_t *v)
{
    size_t       i, d, m;
    json_t      *item;
    const char  *key;

    m = 0;

    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            d = depth(item) + 1;
            m = d > m ? d : m;
        }

    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item) {
            d = depth(item) + 1;
            m = d > m ? d : m;
        }
    }

    return m;
}


static void
refused(const unsigned char *p, size_t len)
{
    json_t         *w;
    const char     *err;
    unsigned char  *q;

    q = malloc(len ? len : 1);
    check(q != NULL);
    memcpy(q, p, len);

    err = NULL;
    w = ac_history_decode(q, len, &err);
    check(w == NULL);
    check(err != NULL && err[0] != '\0');

    free(q);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t          n, m;
    json_t         *v, *a, *w;
    const char     *err;
    json_error_t    jerr;
    unsigned char  *p, *q;

    v = json_loadb((const char *) data, size,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (v == NULL) {
        return 0;
    }

    if (json_is_array(v)) {
        a = v;

    } else {
        a = json_array();
        check(a != NULL && json_array_append_new(a, v) == 0);
    }

    n = ac_history_encode(a, NULL, 0);

    if (depth(a) >= AC_HISTORY_MAX_DEPTH) {
        check(n == 0);
        json_decref(a);
        return 0;
    }

    check(n > 0);

    p = malloc(n + 1);
    check(p != NULL);
    m = ac_history_encode(a, p, n);
    check(m == n);

    /* a buffer too small: written up to its end, the length still n */

    q = malloc(n / 2 ? n / 2 : 1);
    check(q != NULL);
    check(ac_history_encode(a, q, n / 2) == n);
    free(q);

    /* back, equal, and encoded again to the same bytes */

    err = NULL;
    w = ac_history_decode(p, n, &err);
    check(w != NULL);
    check(json_equal(a, w));

    q = malloc(n);
    check(q != NULL);
    check(ac_history_encode(w, q, n) == n);
    check(memcmp(p, q, n) == 0);
    free(q);
    json_decref(w);

    /* cut or extended, refused */

    refused(p, n - 1);
    refused(p, n / 2);
    refused(p, n / 3);
    p[n] = size ? data[0] : 0;
    refused(p, n + 1);

    free(p);
    json_decref(a);

    return 0;
}
