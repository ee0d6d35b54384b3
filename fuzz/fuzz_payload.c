/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_json_parse_payload() on arbitrary bytes.
 *  - a parsed value dumps (compact and spaced) to text that parses back
 *    to an equal value;
 *  - a failure always has an error and details;
 *  - whatever jansson parses, this parser parses to an equal value
 *    (jansson is stricter: no NaN, no big integers, no lone surrogates;
 *    but it ends the text at a raw NUL byte, such inputs are skipped);
 *  - ac_json_escape() of the input is JSON string content: quoted, it
 *    parses back to the input bytes unless they are not UTF-8;
 *  - ac_json_dumps_jansson() of a parsed value (lone surrogates make
 *    invalid UTF-8 in strings and keys) is json_dumps(JSON_COMPACT |
 *    JSON_PRESERVE_ORDER) byte for byte, or both fail.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_json.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


/*
 * json_equal() looks object keys up as C strings, so keys holding NUL
 * (valid JSON, "\u0000") compare unequal to themselves: compare with
 * their lengths instead.
 */

static int
equal(json_t *a, json_t *b)
{
    size_t       i, klen;
    json_t      *v;
    const char  *key;

    if (json_typeof(a) != json_typeof(b)) {
        return 0;
    }

    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) {
            return 0;
        }

        for (i = 0; i < json_array_size(a); i++) {
            if (!equal(json_array_get(a, i), json_array_get(b, i))) {
                return 0;
            }
        }

        return 1;
    }

    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) {
            return 0;
        }

        json_object_keylen_foreach(a, key, klen, v) {
            if (!equal(v, json_object_getn(b, key, klen))) {
                return 0;
            }
        }

        return 1;
    }

    return json_equal(a, b);
}


static void
round_trip(json_t *v, int spaced)
{
    char             *s;
    size_t            len;
    json_t           *w;
    ac_json_error_t   err;

    s = ac_json_dumps(v, spaced, &len);
    check(s != NULL);
    check(strlen(s) <= len);

    w = ac_json_parse_payload((const unsigned char *) s, len, &err);
    check(w != NULL);
    check(equal(v, w));

    json_decref(w);
    free(s);
}


static void
escape(const uint8_t *data, size_t size)
{
    size_t            n, m, i;
    json_t           *v;
    unsigned char    *buf;
    ac_json_error_t   err;

    n = ac_json_escape(NULL, data, size);
    buf = malloc(n + 2);
    check(buf != NULL);

    buf[0] = '"';
    m = ac_json_escape(buf + 1, data, size);
    check(m == n);
    buf[n + 1] = '"';

    for (i = 1; i <= n; i++) {
        check(buf[i] >= 0x20);
        check(buf[i] != '"' || buf[i - 1] == '\\');
    }

    v = ac_json_parse_payload(buf, n + 2, &err);

    if (v == NULL) {
        check(strcmp(err.error, "Invalid encoding") == 0);

    } else {
        check(json_is_string(v));
        check(json_string_length(v) == size);
        check(memcmp(json_string_value(v), data, size) == 0);
        json_decref(v);
    }

    free(buf);

    n = ac_sse_text_event(NULL, data, size);
    buf = malloc(n);
    check(buf != NULL);
    check(ac_sse_text_event(buf, data, size) == n);
    check(memcmp(buf, "data: \"", 7) == 0);
    check(memcmp(buf + n - 3, "\"\n\n", 3) == 0);
    free(buf);
}


static void
same_as_jansson(json_t *v)
{
    char    *a, *b;
    size_t   len;

    a = ac_json_dumps_jansson(v, &len);
    b = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    check((a == NULL) == (b == NULL));
    check(a == NULL || (strcmp(a, b) == 0 && strlen(a) == len));

    free(a);
    free(b);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t           *v, *j;
    json_error_t      jerr;
    ac_json_error_t   err;

    v = ac_json_parse_payload(data, size, &err);

    if (v != NULL) {
        round_trip(v, 0);
        round_trip(v, 1);
        same_as_jansson(v);

    } else {
        check(err.error != NULL);
        check(strcmp(err.error, "Invalid JSON") == 0
              || strcmp(err.error, "Invalid encoding") == 0);
        check(err.details[0] != '\0');
    }

    /* jansson stops at a raw NUL byte: no comparison then */

    j = NULL;

    if (memchr(data, '\0', size) == NULL) {
        j = json_loadb((const char *) data, size,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    }

    if (j != NULL) {
        if (v == NULL) {
            /* only the nesting bound is tighter than jansson's */
            check(strstr(err.details, "maximum recursion depth") != NULL);

        } else {
            check(equal(v, j));
        }

        json_decref(j);
    }

    json_decref(v);

    escape(data, size);

    return 0;
}
