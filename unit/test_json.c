/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_json.c: the SSE byte table and the
 * error tables of runtime-contract.md sections 3.3 and 4, and the
 * CPython-generated vectors in unit/vectors/py_json_errors.json
 * (made by unit/vectors/gen_py_json.py).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "ngx_http_agentcore_json.h"


#define PY_VECTORS  AC_ROOT "/unit/vectors/py_json_errors.json"


static json_t  *vectors;


static int
b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}


/* malloc'd (at least 1 byte), *len set */
static unsigned char *
b64_decode(const char *s, size_t *len)
{
    size_t          n, i, o;
    unsigned        acc;
    int             bits, v;
    unsigned char  *out;

    n = strlen(s);
    out = malloc(n + 1);
    assert_non_null(out);

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '=') {
            break;
        }

        v = b64_value(s[i]);
        assert_true(v >= 0);

        acc = (acc << 6) | (unsigned) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    *len = o;
    return out;
}


static json_t *
section(const char *name)
{
    json_t  *a;

    a = json_object_get(vectors, name);
    assert_non_null(a);
    assert_true(json_is_array(a));

    return a;
}


static void
expect_error(const char *body, size_t len, const char *error,
    const char *details)
{
    json_t           *v;
    ac_json_error_t   err;

    v = ac_json_parse_payload((const unsigned char *) body, len, &err);

    if (v != NULL) {
        json_decref(v);
        fail_msg("parsed, expected \"%s\"", details);
    }

    assert_non_null(err.error);
    assert_string_equal(err.error, error);
    assert_string_equal(err.details, details);
}


#define expect_json_error(body, details)                                     \
    expect_error(body, sizeof(body) - 1, "Invalid JSON", details)


static void
expect_sse(const char *text, size_t len, const char *wire, size_t wire_len)
{
    size_t          n, m;
    unsigned char  *buf;

    n = ac_sse_text_event(NULL, (const unsigned char *) text, len);
    assert_int_equal(n, wire_len);

    buf = malloc(n + 1);
    assert_non_null(buf);

    m = ac_sse_text_event(buf, (const unsigned char *) text, len);
    assert_int_equal(m, wire_len);
    assert_memory_equal(buf, wire, wire_len);

    free(buf);
}


static void
expect_dumps(json_t *v, int spaced, const char *expect)
{
    char    *s;
    size_t   len;

    s = ac_json_dumps(v, spaced, &len);
    assert_non_null(s);
    assert_string_equal(s, expect);
    assert_int_equal(len, strlen(expect));
    free(s);
}


/* runtime-contract.md 3.3: the SSE byte table */

static void
test_sse_table(void **state)
{
    json_t  *v;

#define SSE(text, wire)                                                      \
    expect_sse(text, sizeof(text) - 1, wire, sizeof(wire) - 1)

    SSE("Hello", "data: \"Hello\"\n\n");
    SSE("", "data: \"\"\n\n");
    SSE("h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80",
        "data: \"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\"\n\n");
    SSE("a\nb\t\"q\"\\ /", "data: \"a\\nb\\t\\\"q\\\"\\\\ /\"\n\n");
    SSE("\xe2\x80\xa8", "data: \"\xe2\x80\xa8\"\n\n");
    SSE("\xe2\x80\xa9\x7f", "data: \"\xe2\x80\xa9\x7f\"\n\n");
    SSE("\r\b\f\x1f\x01", "data: \"\\r\\b\\f\\u001f\\u0001\"\n\n");

    /* conformance: the delta "é" is 12 bytes */
    SSE("\xc3\xa9", "\x64\x61\x74\x61\x3a\x20\x22\xc3\xa9\x22\x0a\x0a");

    /* an embedded NUL */
    expect_sse("a\0b", 3, "data: \"a\\u0000b\"\n\n", 18);

#undef SSE

    /* the non-string rows, as data: + spaced dumps */

    v = json_integer(42);
    expect_dumps(v, 1, "42");
    json_decref(v);

    v = json_real(3.5);
    expect_dumps(v, 1, "3.5");
    json_decref(v);

    expect_dumps(json_true(), 1, "true");
    expect_dumps(json_null(), 1, "null");

    v = json_pack("{s:s, s:s}", "error", "boom", "type", "stream_error");
    expect_dumps(v, 1, "{\"error\": \"boom\", \"type\": \"stream_error\"}");
    expect_dumps(v, 0, "{\"error\":\"boom\",\"type\":\"stream_error\"}");
    json_decref(v);

    v = json_pack("[i, s]", 1, "a");
    expect_dumps(v, 1, "[1, \"a\"]");
    json_decref(v);

    v = json_pack("{s:s, s:s, s:s}",
                  "error", "'list' object has no attribute 'get'",
                  "error_type", "AttributeError",
                  "message", "An error occurred during streaming");
    expect_dumps(v, 1, "{\"error\": \"'list' object has no attribute 'get'\","
                 " \"error_type\": \"AttributeError\", \"message\": \"An "
                 "error occurred during streaming\"}");
    json_decref(v);
}


static void
test_escape_every_byte(void **state)
{
    unsigned        c;
    size_t          n;
    unsigned char   in[1], out[8];
    char            expect[8];

    for (c = 0; c < 256; c++) {
        in[0] = (unsigned char) c;
        n = ac_json_escape(out, in, 1);
        assert_int_equal(n, ac_json_escape(NULL, in, 1));

        switch (c) {
        case '"':  strcpy(expect, "\\\""); break;
        case '\\': strcpy(expect, "\\\\"); break;
        case '\n': strcpy(expect, "\\n"); break;
        case '\r': strcpy(expect, "\\r"); break;
        case '\t': strcpy(expect, "\\t"); break;
        case '\b': strcpy(expect, "\\b"); break;
        case '\f': strcpy(expect, "\\f"); break;
        default:
            if (c < 0x20) {
                snprintf(expect, sizeof(expect), "\\u%04x", c);
            } else {
                expect[0] = (char) c;
                expect[1] = '\0';
            }
        }

        assert_int_equal(n, strlen(expect));
        assert_memory_equal(out, expect, n);
    }
}


/* runtime-contract.md 4 */

static void
test_error_tables(void **state)
{
    expect_json_error("", "Expecting value: line 1 column 1 (char 0)");
    expect_json_error("not json",
                      "Expecting value: line 1 column 1 (char 0)");
    expect_json_error("{\"prompt\": \"hi\"",
                      "Expecting ',' delimiter: line 1 column 16 (char 15)");
    expect_error("\x80" "abc", 4, "Invalid encoding",
                 "'utf-8' codec can't decode byte 0x80 in position 0: "
                 "invalid start byte");
    expect_json_error("[1,", "Expecting value: line 1 column 4 (char 3)");
    expect_json_error("{\"prompt\" \"hi\"}",
                      "Expecting ':' delimiter: line 1 column 11 (char 10)");
    expect_json_error("{'a':1}", "Expecting property name enclosed in "
                      "double quotes: line 1 column 2 (char 1)");
    expect_json_error("{\"a\":1,}", "Expecting property name enclosed in "
                      "double quotes: line 1 column 8 (char 7)");
    expect_json_error("{\"a\":\"abc",
                      "Unterminated string starting at: line 1 column 6 "
                      "(char 5)");
    expect_json_error("{\"a\":\"x\x01\"}",
                      "Invalid control character at: line 1 column 8 "
                      "(char 7)");
    expect_json_error("{\"a\":\"\\q\"}",
                      "Invalid \\escape: line 1 column 7 (char 6)");
    expect_json_error("{\"a\":\"\\u12\"}",
                      "Invalid \\uXXXX escape: line 1 column 8 (char 7)");
    expect_json_error("{\"a\":1} x", "Extra data: line 1 column 9 (char 8)");
    expect_json_error("{\"a\":1}\n{\"b\":2}",
                      "Extra data: line 2 column 1 (char 8)");
    expect_json_error("   ", "Expecting value: line 1 column 4 (char 3)");
    expect_json_error("{\"prompt\":\"h\xc3\xa9\"}x",
                      "Extra data: line 1 column 16 (char 15)");

    /* the BOM is skipped, positions count after it */
    expect_json_error("\xef\xbb\xbf  x",
                      "Expecting value: line 1 column 3 (char 2)");
    expect_error("\xef\xbb\xbf\x80", 4, "Invalid encoding",
                 "'utf-8' codec can't decode byte 0x80 in position 0: "
                 "invalid start byte");
    expect_error("\"\xe2\x82", 3, "Invalid encoding",
                 "'utf-8' codec can't decode bytes in position 1-2: "
                 "unexpected end of data");
    expect_error("\xf0\x90(", 3, "Invalid encoding",
                 "'utf-8' codec can't decode bytes in position 0-1: "
                 "invalid continuation byte");
}


static void
test_values(void **state)
{
    json_t           *v;
    ac_json_error_t   err;

#define PARSE(body)                                                          \
    ac_json_parse_payload((const unsigned char *) body, sizeof(body) - 1,   \
                          &err)

    v = PARSE("\xef\xbb\xbf {\"prompt\": \"hi\"} \n");
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(v, "prompt")),
                        "hi");
    json_decref(v);

    /* duplicate keys: the last value, the first place (as a dict) */
    v = PARSE("{\"b\":1,\"a\":2,\"b\":3}");
    assert_non_null(v);
    expect_dumps(v, 0, "{\"b\":3,\"a\":2}");
    json_decref(v);

    /* non-finite numbers are accepted and become null */
    v = PARSE("[NaN, Infinity, -Infinity, 1e400, -1e400, 1e-400]");
    assert_non_null(v);
    expect_dumps(v, 1, "[null, null, null, null, null, 0.0]");
    json_decref(v);

    /* integers beyond int64 become reals */
    v = PARSE("[9223372036854775807, -9223372036854775808, "
              "9223372036854775808, -0, -0.0]");
    assert_non_null(v);
    expect_dumps(v, 0, "[9223372036854775807,-9223372036854775808,"
                 "9.223372036854776e+18,0,-0.0]");
    json_decref(v);

    /* lone surrogates: escaped or raw, kept as 3 bytes; pairs joined */
    v = PARSE("[\"\\ud800\", \"\xed\xa0\x80\", \"\\ud83d\\ude00\", "
              "\"\\u0000\"]");
    assert_non_null(v);
    assert_int_equal(json_string_length(json_array_get(v, 0)), 3);
    assert_memory_equal(json_string_value(json_array_get(v, 0)),
                        "\xed\xa0\x80", 3);
    assert_true(json_equal(json_array_get(v, 0), json_array_get(v, 1)));
    assert_string_equal(json_string_value(json_array_get(v, 2)),
                        "\xf0\x9f\x98\x80");
    assert_int_equal(json_string_length(json_array_get(v, 3)), 1);
    json_decref(v);

    /* a key with a NUL */
    v = PARSE("{\"a\\u0000b\": 1}");
    assert_non_null(v);
    expect_dumps(v, 1, "{\"a\\u0000b\": 1}");
    json_decref(v);

    /* CPython's int-size guard */
    {
        char  *big;

        big = malloc(4302);
        assert_non_null(big);
        memset(big, '7', 4301);
        /* beyond the double range: null, as 1e400 */
        v = ac_json_parse_payload((unsigned char *) big, 4300, &err);
        assert_non_null(v);
        assert_true(json_is_null(v));
        json_decref(v);

        v = ac_json_parse_payload((unsigned char *) big, 300, &err);
        assert_non_null(v);
        assert_true(json_is_real(v));
        json_decref(v);

        v = ac_json_parse_payload((unsigned char *) big, 4301, &err);
        assert_null(v);
        assert_string_equal(err.error, "Invalid JSON");
        assert_string_equal(err.details, "Exceeds the limit (4300 digits) "
                            "for integer string conversion: value has 4301 "
                            "digits; use sys.set_int_max_str_digits() to "
                            "increase the limit");
        free(big);
    }

#undef PARSE
}


static void
test_deep_nesting(void **state)
{
    size_t            i, n;
    json_t           *v;
    unsigned char    *buf;
    ac_json_error_t   err;

    n = 100000;
    buf = malloc(n * 5);
    assert_non_null(buf);

    memset(buf, '[', n);
    v = ac_json_parse_payload(buf, n, &err);
    assert_null(v);
    assert_string_equal(err.error, "Invalid JSON");
    assert_string_equal(err.details, "maximum recursion depth exceeded "
                        "while decoding a JSON array from a unicode string");

    for (i = 0; i < n; i++) {
        memcpy(buf + i * 5, "{\"a\":", 5);
    }

    v = ac_json_parse_payload(buf, n * 5, &err);
    assert_null(v);
    assert_string_equal(err.details, "maximum recursion depth exceeded "
                        "while decoding a JSON object from a unicode string");

    /* 1000 levels parse (CPython itself stops near 994) */

    memset(buf, '[', 1000);
    memset(buf + 1000, ']', 1000);
    v = ac_json_parse_payload(buf, 2000, &err);
    assert_non_null(v);
    json_decref(v);

    memset(buf, '[', 1001);
    memset(buf + 1001, ']', 1001);
    v = ac_json_parse_payload(buf, 2002, &err);
    assert_null(v);

    free(buf);
}


static void
test_py_parse(void **state)
{
    size_t            i, n, len, olen, checked, ok, errors;
    json_t           *c, *v, *o;
    const char       *error, *details;
    unsigned char    *in, *out;
    char             *s;
    ac_json_error_t   err;

    checked = 0;
    ok = 0;
    errors = 0;

    json_array_foreach(section("parse"), i, c) {
        in = b64_decode(json_string_value(json_object_get(c, "in")), &len);
        v = ac_json_parse_payload(in, len, &err);

        error = json_string_value(json_object_get(c, "error"));

        if (error != NULL) {
            details = json_string_value(json_object_get(c, "details"));

            if (v != NULL) {
                json_decref(v);
                fail_msg("case %zu parsed, expected %s", i, details);
            }

            if (strcmp(err.error, error) != 0
                || strcmp(err.details, details) != 0)
            {
                fail_msg("case %zu: got \"%s\" \"%s\", expected \"%s\" "
                         "\"%s\"", i, err.error, err.details, error,
                         details);
            }

            errors++;

        } else {
            if (v == NULL) {
                fail_msg("case %zu: failed \"%s\"", i, err.details);
            }

            o = json_object_get(c, "ok");

            if (json_is_string(o)) {
                out = b64_decode(json_string_value(o), &olen);
                s = ac_json_dumps(v, 0, &n);
                assert_non_null(s);

                if (n != olen || memcmp(s, out, n) != 0) {
                    fail_msg("case %zu: dumps \"%s\"", i, s);
                }

                free(s);
                free(out);
                ok++;
            }

            json_decref(v);
        }

        free(in);
        checked++;
    }

    print_message("parse: %zu cases (%zu errors, %zu values compared)\n",
                  checked, errors, ok);
    assert_true(errors > 1000);
    assert_true(ok > 100);
}


static void
test_py_escape(void **state)
{
    size_t          i, len, olen, n, checked;
    json_t         *c;
    unsigned char  *in, *out, *buf;

    checked = 0;

    json_array_foreach(section("escape"), i, c) {
        in = b64_decode(json_string_value(json_object_get(c, "in")), &len);
        out = b64_decode(json_string_value(json_object_get(c, "out")),
                         &olen);

        n = ac_json_escape(NULL, in, len);
        assert_int_equal(n, olen);

        buf = malloc(n + 1);
        assert_non_null(buf);
        assert_int_equal(ac_json_escape(buf, in, len), olen);
        assert_memory_equal(buf, out, olen);

        free(buf);
        free(in);
        free(out);
        checked++;
    }

    print_message("escape: %zu cases\n", checked);
    assert_true(checked > 100);
}


static void
test_py_dumps(void **state)
{
    size_t            i, len, slen, clen, n, checked;
    json_t           *c, *v;
    char             *s;
    unsigned char    *in, *sp, *co;
    ac_json_error_t   err;

    checked = 0;

    json_array_foreach(section("dumps"), i, c) {
        in = b64_decode(json_string_value(json_object_get(c, "in")), &len);
        sp = b64_decode(json_string_value(json_object_get(c, "spaced")),
                        &slen);
        co = b64_decode(json_string_value(json_object_get(c, "compact")),
                        &clen);

        v = ac_json_parse_payload(in, len, &err);
        if (v == NULL) {
            fail_msg("dumps case %zu: %s", i, err.details);
        }

        s = ac_json_dumps(v, 1, &n);
        assert_non_null(s);
        if (n != slen || memcmp(s, sp, n) != 0) {
            fail_msg("dumps case %zu: spaced \"%s\"", i, s);
        }
        free(s);

        s = ac_json_dumps(v, 0, &n);
        assert_non_null(s);
        if (n != clen || memcmp(s, co, n) != 0) {
            fail_msg("dumps case %zu: compact \"%s\"", i, s);
        }
        free(s);

        json_decref(v);
        free(in);
        free(sp);
        free(co);
        checked++;
    }

    print_message("dumps: %zu cases\n", checked);
    assert_true(checked > 100);
}


static void
test_py_floats(void **state)
{
    size_t       i, checked;
    char        *s;
    json_t      *c, *v;
    double       d;
    uint64_t     bits;
    const char  *expect;

    checked = 0;

    json_array_foreach(section("floats"), i, c) {
        bits = strtoull(json_string_value(json_array_get(c, 0)), NULL, 16);
        expect = json_string_value(json_array_get(c, 1));
        memcpy(&d, &bits, 8);

        v = json_real(d);
        assert_non_null(v);
        s = ac_json_dumps(v, 1, NULL);
        assert_non_null(s);

        if (strcmp(s, expect) != 0) {
            fail_msg("float %016llx: got %s, expected %s",
                     (unsigned long long) bits, s, expect);
        }

        free(s);
        json_decref(v);
        checked++;
    }

    print_message("floats: %zu cases\n", checked);
    assert_true(checked > 1000);
}


/*
 * ac_json_dumps_jansson() against json_dumps(JSON_COMPACT |
 * JSON_PRESERVE_ORDER): the same bytes, or both NULL.
 */

static void
same_as_jansson(json_t *v, const char *what)
{
    char    *a, *b;
    size_t   len;

    a = ac_json_dumps_jansson(v, &len);
    b = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

    if ((a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0)
        || (a && len != strlen(a)))
    {
        fail_msg("%s: ours %s, jansson's %s", what, a ? a : "NULL",
                 b ? b : "NULL");
    }

    free(a);
    free(b);
}


static uint64_t  rnd_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;

    return (uint32_t) (rnd_state >> 16);
}


/* bytes that are mostly text: ASCII, escapes, UTF-8, now and then junk */

static size_t
rnd_text(char *buf, size_t max)
{
    size_t  n, i;

    static const char *pieces[] = {
        "a", "Hello", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t",
        "\x01", "\x1f", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf",
        "\xee\x80\x80", "\xef\xbf\xbf", "\xc2\x80", "\xe0\xa0\x80",
        "\xf0\x90\x80\x80"
    };

    static const char *junk[] = {
        "\x80", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80",
        "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5", "\xff", "\xe2\x82",
        "\xf0\x9f\x98"
    };

    n = 0;
    i = rnd() % 24;

    while (i-- > 0) {
        const char  *p;

        p = (rnd() % 50 == 0) ? junk[rnd() % (sizeof(junk) / sizeof(*junk))]
                              : pieces[rnd() % (sizeof(pieces)
                                                / sizeof(*pieces))];

        if (n + strlen(p) >= max) {
            break;
        }

        memcpy(buf + n, p, strlen(p));
        n += strlen(p);
    }

    if (rnd() % 20 == 0 && n + 1 < max) {
        buf[n++] = '\0';
    }

    return n;
}


static json_t *
rnd_value(int depth)
{
    int      k, i, n;
    char     text[256];
    size_t   len;
    json_t  *v;

    static const double  reals[] = {
        0.0, -0.0, 0.1, 1.5, -2.25, 1e16, 1e-7, 123456789.123, 1e300,
        5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.3,
        100.0, 3.14159
    };

    k = (depth > 6) ? (int) (rnd() % 6) : (int) (rnd() % 8);

    switch (k) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd() % 2);
    case 2:
        return json_integer((json_int_t) (int32_t) rnd()
                            * ((rnd() % 3 == 0) ? 4294967296LL : 1));
    case 3:
        return json_real(reals[rnd() % (sizeof(reals) / sizeof(*reals))]);
    case 4:
    case 5:
        len = rnd_text(text, sizeof(text));
        return json_stringn_nocheck(text, len);
    case 6:
        v = json_array();
        n = (int) (rnd() % 5);

        for (i = 0; i < n; i++) {
            json_array_append_new(v, rnd_value(depth + 1));
        }

        return v;
    default:
        v = json_object();
        n = (int) (rnd() % 5);

        for (i = 0; i < n; i++) {
            len = rnd_text(text, sizeof(text));
            json_object_setn_new_nocheck(v, text, len, rnd_value(depth + 1));
        }

        return v;
    }
}


static void
test_dumps_jansson(void **state)
{
    int          i;
    char         name[64], bytes[4];
    json_t      *v, *a, *b;
    json_t      *cap, *c;
    const char  *key;

    /* every byte alone, as a string and as a key */

    for (i = 0; i < 256; i++) {
        bytes[0] = (char) i;
        snprintf(name, sizeof(name), "byte 0x%02x", i);

        v = json_stringn_nocheck(bytes, 1);
        same_as_jansson(v, name);
        json_decref(v);

        v = json_object();
        json_object_setn_new_nocheck(v, bytes, 1, json_true());
        same_as_jansson(v, name);
        json_decref(v);
    }

    /* scalars and containers */

    v = json_pack("{s:[],s:{},s:[{},[]],s:I,s:I,s:b,s:n,s:f,s:f}",
                  "a", "o", "n", "max", (json_int_t) INT64_MAX, "min",
                  (json_int_t) INT64_MIN, "t", 1, "z", "r", 0.1, "e",
                  1e300);
    assert_non_null(v);
    same_as_jansson(v, "scalars");
    json_decref(v);

    /* a cycle: both fail */

    a = json_array();
    b = json_array();
    json_array_append(a, b);
    json_array_append(b, a);
    same_as_jansson(a, "cycle");
    json_array_clear(b);
    json_decref(a);
    json_decref(b);

    /* the SDK's captured requests */

    cap = json_load_file(AC_VECTORS "/sdk_captured_requests.json", 0, NULL);

    if (cap != NULL) {
        json_object_foreach(cap, key, c) {
            v = json_loads(json_string_value(json_object_get(
                               json_object_get(c, "request"), "body")),
                           0, NULL);

            if (v != NULL) {
                same_as_jansson(v, key);
                json_decref(v);
            }
        }

        json_decref(cap);
    }

    /* random trees */

    for (i = 0; i < 20000; i++) {
        v = rnd_value(0);
        snprintf(name, sizeof(name), "random tree %d", i);
        same_as_jansson(v, name);
        json_decref(v);
    }
}


static int
setup(void **state)
{
    json_error_t  e;

    vectors = json_load_file(PY_VECTORS, 0, &e);
    if (vectors == NULL) {
        fprintf(stderr, "%s: %s\n", PY_VECTORS, e.text);
        return -1;
    }

    return 0;
}


static int
teardown(void **state)
{
    json_decref(vectors);
    return 0;
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_sse_table),
        cmocka_unit_test(test_escape_every_byte),
        cmocka_unit_test(test_error_tables),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_py_parse),
        cmocka_unit_test(test_py_escape),
        cmocka_unit_test(test_py_dumps),
        cmocka_unit_test(test_py_floats),
        cmocka_unit_test(test_dumps_jansson),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
