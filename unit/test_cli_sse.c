
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * agentcore-invoke's SSE decoder (cli/agentcore_sse.c): the parser fed
 * whole and byte by byte, line ends, BOM, comments, multi-line data,
 * limits, and the decoding of each event shape of runtime-contract.md
 * (3.3, 4, 13).
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agentcore_sse.h"


typedef struct {
    char    out[4096];
    size_t  len;
    int     n;
} collect_t;


/* each event as "[event|data]" */

static int
collect(void *ctx, const char *event, const char *data, size_t len)
{
    collect_t  *c = ctx;

    c->len += snprintf(c->out + c->len, sizeof(c->out) - c->len, "[%s|",
                       event);
    memcpy(c->out + c->len, data, len);
    c->len += len;
    c->out[c->len++] = ']';
    c->out[c->len] = '\0';
    c->n++;

    return 0;
}


static void
parse(const char *in, size_t len, size_t step, collect_t *c, int *pending)
{
    size_t           i, n;
    ac_sse_parser_t  p;

    memset(c, 0, sizeof(collect_t));
    ac_sse_init(&p);

    for (i = 0; i < len; i += n) {
        n = (len - i < step) ? len - i : step;
        assert_int_equal(ac_sse_feed(&p, in + i, n, collect, c), 0);
    }

    *pending = ac_sse_pending(&p);
    ac_sse_free(&p);
}


/* the same events whatever the read sizes */

static void
check(const char *in, const char *want, int want_pending)
{
    size_t     step, len;
    int        pending;
    collect_t  c;

    len = strlen(in);

    for (step = 1; step <= len + 1; step++) {
        parse(in, len, step, &c, &pending);
        assert_string_equal(c.out, want);
        assert_int_equal(pending, want_pending);
    }
}


static void
test_runtime_stream(void **state)
{
    /* the reference's bytes: one "data:" line per event */
    check("data: \"Hello\"\n\ndata: \" You\"\n\n",
          "[|\"Hello\"][|\" You\"]", 0);
    check("data: \"\"\n\n", "[|\"\"]", 0);
    check("data: {\"error\": \"boom\", \"type\": \"stream_error\"}\n\n",
          "[|{\"error\": \"boom\", \"type\": \"stream_error\"}]", 0);
}


static void
test_line_ends(void **state)
{
    check("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "[|a][|b][|c]", 0);
    check("data:a\n\n", "[|a]", 0);                 /* no space */
    check("data:  a\n\n", "[| a]", 0);              /* one space goes */
    check("data\n\n", "[|]", 0);                    /* no colon */
    check("data:\n\n", "[|]", 0);
}


static void
test_fields(void **state)
{
    /* multi-line data joined with LF (the TS SDK splits strings so) */
    check("data: a\ndata: b\n\n", "[|a\nb]", 0);
    /* comments (the TS SDK's heartbeat) and other fields are skipped */
    check(": heartbeat\n\nid: 1\nretry: 5\nfoo: bar\ndata: x\n\n", "[|x]",
          0);
    /* the TS SDK's mid-stream error */
    check("event: error\ndata: {\"error\":\"boom\"}\n\n",
          "[error|{\"error\":\"boom\"}]", 0);
    /* the event name does not carry over to the next event */
    check("event: x\ndata: 1\n\ndata: 2\n\n", "[x|1][|2]", 0);
    /* no data, no event */
    check("event: x\n\n\n\ndata: 2\n\n", "[|2]", 0);
}


static void
test_bom_and_end(void **state)
{
    check("\xef\xbb\xbf" "data: a\n\n", "[|a]", 0);
    /* only at the start, and a partial one is data */
    check("\xef\xbb" "data: a\n\n", "", 0);
    check("data: a\n\n\xef\xbb\xbf" "data: b\n\n", "[|a]", 0);
    /* unfinished at the end: dropped, and said so */
    check("data: a\n\ndata: b\n", "[|a]", 1);
    check("data: a\n\ndata: b", "[|a]", 1);
    check("data: a\n\n", "[|a]", 0);
}


static void
test_utf8_and_nul(void **state)
{
    int        pending;
    collect_t  c;

    check("data: \"h\xc3\xa9llo \xf0\x9f\x98\x80\"\n\n",
          "[|\"h\xc3\xa9llo \xf0\x9f\x98\x80\"]", 0);

    parse("data: a\0b\n\n", 11, 3, &c, &pending);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.len, sizeof("[|a\0b]") - 1);
    assert_memory_equal(c.out, "[|a\0b]", c.len);
}


static void
test_limit(void **state)
{
    char             buf[300];
    collect_t        c;
    ac_sse_parser_t  p;

    memset(&c, 0, sizeof(collect_t));
    memset(buf, 'x', sizeof(buf));

    ac_sse_init(&p);
    p.max = 256;
    assert_int_equal(ac_sse_feed(&p, "data: ", 6, collect, &c), 0);
    assert_int_equal(ac_sse_feed(&p, buf, sizeof(buf), collect, &c), -1);
    ac_sse_free(&p);

    /* many lines of data add up */
    ac_sse_init(&p);
    p.max = 256;
    for (int i = 0; i < 40; i++) {
        if (ac_sse_feed(&p, "data: 0123456789\n", 17, collect, &c) != 0) {
            break;
        }
        assert_true(i < 24);          /* 11 bytes a line */
    }
    ac_sse_free(&p);
    assert_int_equal(c.n, 0);
}


static int
stop(void *ctx, const char *event, const char *data, size_t len)
{
    (*(int *) ctx)++;
    return 7;
}


static void
test_callback_stops(void **state)
{
    int              n = 0;
    ac_sse_parser_t  p;

    ac_sse_init(&p);
    assert_int_equal(ac_sse_feed(&p, "data: 1\n\ndata: 2\n\n", 18, stop, &n),
                     7);
    assert_int_equal(n, 1);
    ac_sse_free(&p);
}


static void
decode(const char *event, const char *data, ac_sse_kind_e kind,
    const char *text, const char *type)
{
    ac_sse_value_t  v;

    assert_int_equal(ac_sse_decode(event, data, strlen(data), &v), 0);
    assert_int_equal(v.kind, kind);
    assert_string_equal(v.text, text);

    if (type) {
        assert_non_null(v.type);
        assert_string_equal(v.type, type);

    } else {
        assert_null(v.type);
    }

    ac_sse_value_free(&v);
}


static void
test_decode(void **state)
{
    ac_sse_value_t  v;

    /* text deltas: JSON strings, escapes decoded (3.3) */
    decode("", "\"Hello\"", AC_SSE_TEXT, "Hello", NULL);
    decode("", "\"a\\nb\\t\\\"q\\\"\\\\ /\"", AC_SSE_TEXT, "a\nb\t\"q\"\\ /",
           NULL);
    decode("", "\"h\xc3\xa9\"", AC_SSE_TEXT, "h\xc3\xa9", NULL);
    decode("", "\"\\u00e9\\ud83d\\ude00\"", AC_SSE_TEXT,
           "\xc3\xa9\xf0\x9f\x98\x80", NULL);
    decode("", "\"\"", AC_SSE_TEXT, "", NULL);

    assert_int_equal(ac_sse_decode("", "\"a\\u0000b\"", 10, &v), 0);
    assert_int_equal(v.kind, AC_SSE_TEXT);
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.text, "a\0b", 3);
    ac_sse_value_free(&v);

    /* other JSON: shown as sent */
    decode("", "42", AC_SSE_JSON, "42", NULL);
    decode("", "null", AC_SSE_JSON, "null", NULL);
    decode("", "[1, \"a\"]", AC_SSE_JSON, "[1, \"a\"]", NULL);
    decode("", "{\"text\": \"x\"}", AC_SSE_JSON, "{\"text\": \"x\"}", NULL);
    decode("", "{\"error\": 1}", AC_SSE_JSON, "{\"error\": 1}", NULL);

    /* the tutorial's error, the SDK's, the TS SDK's (4, 13) */
    decode("", "{\"error\": \"boom\", \"type\": \"stream_error\"}",
           AC_SSE_ERROR, "boom", "stream_error");
    decode("", "{\"error\": \"'list' object has no attribute 'get'\", "
               "\"error_type\": \"AttributeError\", \"message\": "
               "\"An error occurred during streaming\"}",
           AC_SSE_ERROR, "An error occurred during streaming: 'list' "
                         "object has no attribute 'get'", "AttributeError");
    decode("error", "{\"error\":\"boom\"}", AC_SSE_ERROR, "boom", "error");
    decode("error", "boom", AC_SSE_ERROR, "boom", "error");
    decode("error", "\"boom\"", AC_SSE_ERROR, "\"boom\"", "error");
    decode("", "{\"error\": \"x\"}", AC_SSE_ERROR, "x", NULL);

    /* not JSON: the TS SDK's raw strings */
    decode("", "Hello", AC_SSE_RAW, "Hello", NULL);
    decode("", "", AC_SSE_RAW, "", NULL);
    decode("", "\"unterminated", AC_SSE_RAW, "\"unterminated", NULL);
    decode("message", "{\"text\":\"x\"}", AC_SSE_JSON, "{\"text\":\"x\"}",
           NULL);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runtime_stream),
        cmocka_unit_test(test_line_ends),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_bom_and_end),
        cmocka_unit_test(test_utf8_and_nul),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_decode),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
