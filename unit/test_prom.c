
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_prom.c: Prometheus' text format
 * (HELP/TYPE lines, label values escaped, cumulative histograms with
 * le in seconds), a buffer that grows, and the bounded vocabulary of
 * stream_error types.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_prom.h"


static void
assert_text(ac_prom_t *p, const char *expected)
{
    assert_false(p->failed);

    if (p->len != strlen(expected)
        || memcmp(p->data, expected, p->len) != 0)
    {
        fail_msg("got:\n%.*s\nexpected:\n%s", (int) p->len, p->data,
                 expected);
    }
}


static void
test_family_and_samples(void **state)
{
    ac_prom_t        p;
    ac_prom_label_t  l[2];

    ac_prom_init(&p);

    ac_prom_family(&p, "agentcore_invocations_total", "counter",
                   "Invocations by outcome");

    l[0].name = "outcome";
    l[0].value = "ok";
    l[0].len = 2;
    ac_prom_sample(&p, "agentcore_invocations_total", l, 1, 3);

    ac_prom_sample(&p, "agentcore_up", NULL, 0, 18446744073709551615ULL);

    l[1].name = "tool";
    l[1].value = "calc";
    l[1].len = 4;
    ac_prom_sample(&p, "x_total", l, 2, 0);

    assert_text(&p,
        "# HELP agentcore_invocations_total Invocations by outcome\n"
        "# TYPE agentcore_invocations_total counter\n"
        "agentcore_invocations_total{outcome=\"ok\"} 3\n"
        "agentcore_up 18446744073709551615\n"
        "x_total{outcome=\"ok\",tool=\"calc\"} 0\n");

    ac_prom_free(&p);
    assert_null(p.data);
}


/* the text format's escapes: \\ \" \n in label values, \\ \n in HELP */

static void
test_escaping(void **state)
{
    ac_prom_t        p;
    ac_prom_label_t  l;

    static const char  value[] = "a\\b\"c\nd\0e";

    ac_prom_init(&p);

    ac_prom_family(&p, "m", "gauge", "back\\slash \"quoted\"\nnext");

    l.name = "model";
    l.value = value;
    l.len = sizeof(value) - 1;
    ac_prom_sample(&p, "m", &l, 1, 1);

    l.value = "\"";
    l.len = 1;
    ac_prom_sample(&p, "m", &l, 1, 2);

    l.value = "";
    l.len = 0;
    ac_prom_sample(&p, "m", &l, 1, 3);

    assert_int_equal(p.len, strlen("# HELP m back\\\\slash \"quoted\"\\nnext\n"
                                   "# TYPE m gauge\n"
                                   "m{model=\"a\\\\b\\\"c\\nd")
                            + 1 + strlen("e\"} 1\n"
                                         "m{model=\"\\\"\"} 2\n"
                                         "m{model=\"\"} 3\n"));

    /* up to the NUL, then after it: a NUL is any other byte */
    assert_memory_equal(p.data, "# HELP m back\\\\slash \"quoted\"\\nnext\n"
                                "# TYPE m gauge\n"
                                "m{model=\"a\\\\b\\\"c\\nd\0e\"} 1\n"
                                "m{model=\"\\\"\"} 2\n"
                                "m{model=\"\"} 3\n", p.len);

    ac_prom_free(&p);
}


static void
test_seconds(void **state)
{
    char  buf[32];

    static const struct {
        uint64_t     ms;
        const char  *text;
    } cases[] = {
        { 0, "0" }, { 1, "0.001" }, { 50, "0.05" }, { 100, "0.1" },
        { 250, "0.25" }, { 1000, "1" }, { 2500, "2.5" }, { 10010, "10.01" },
        { 123456, "123.456" }, { 600000, "600" },
    };

    size_t  i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ac_prom_seconds(cases[i].ms, buf),
                         strlen(cases[i].text));
        assert_string_equal(buf, cases[i].text);
    }
}


static void
test_histogram(void **state)
{
    ac_prom_t        p;
    ac_prom_label_t  l;

    static const uint64_t  bounds[] = { 50, 250, 1000 };
    static const uint64_t  counts[] = { 1, 0, 2, 4 };
    static const uint64_t  none[] = { 0, 0, 0, 0 };

    ac_prom_init(&p);

    ac_prom_histogram_ms(&p, "agentcore_ttfb_seconds", NULL, 0, bounds,
                         counts, 3, 12345);

    assert_text(&p,
        "agentcore_ttfb_seconds_bucket{le=\"0.05\"} 1\n"
        "agentcore_ttfb_seconds_bucket{le=\"0.25\"} 1\n"
        "agentcore_ttfb_seconds_bucket{le=\"1\"} 3\n"
        "agentcore_ttfb_seconds_bucket{le=\"+Inf\"} 7\n"
        "agentcore_ttfb_seconds_sum 12.345\n"
        "agentcore_ttfb_seconds_count 7\n");

    p.len = 0;

    l.name = "model";
    l.value = "m";
    l.len = 1;

    ac_prom_histogram_ms(&p, "h", &l, 1, bounds, none, 3, 0);

    assert_text(&p,
        "h_bucket{model=\"m\",le=\"0.05\"} 0\n"
        "h_bucket{model=\"m\",le=\"0.25\"} 0\n"
        "h_bucket{model=\"m\",le=\"1\"} 0\n"
        "h_bucket{model=\"m\",le=\"+Inf\"} 0\n"
        "h_sum{model=\"m\"} 0\n"
        "h_count{model=\"m\"} 0\n");

    ac_prom_free(&p);
}


/* past the first 4 KB the buffer grows; nothing is lost */

static void
test_growth(void **state)
{
    char             expected[64];
    size_t           i, len;
    ac_prom_t        p;
    ac_prom_label_t  l;
    char             name[16];

    ac_prom_init(&p);

    l.name = "tool";
    l.value = name;

    for (i = 0; i < 2000; i++) {
        l.len = (size_t) snprintf(name, sizeof(name), "t%zu", i);
        ac_prom_sample(&p, "agentcore_tool_calls_total", &l, 1, i);
    }

    assert_false(p.failed);
    assert_true(p.size >= p.len);
    assert_true(p.len > 4096 * 8);

    len = (size_t) snprintf(expected, sizeof(expected),
                            "agentcore_tool_calls_total{tool=\"t1999\"} "
                            "1999\n");
    assert_memory_equal(p.data + p.len - len, expected, len);
    assert_memory_equal(p.data, "agentcore_tool_calls_total{tool=\"t0\"} 0\n",
                        strlen("agentcore_tool_calls_total{tool=\"t0\"} 0\n"));

    ac_prom_free(&p);
}


static void
test_error_types(void **state)
{
    size_t  i, other;

    other = ac_prom_nerror_types - 1;
    assert_string_equal(ac_prom_error_types[other], "other");

    /* every name maps to itself */
    for (i = 0; i < ac_prom_nerror_types; i++) {
        assert_int_equal(ac_prom_error_type(ac_prom_error_types[i],
                                            strlen(ac_prom_error_types[i])),
                         i);
    }

    /* the exception's camelCase name is the HTTP shape's */
    i = ac_prom_error_type("throttlingException", 19);
    assert_string_equal(ac_prom_error_types[i], "ThrottlingException");

    i = ac_prom_error_type("modelStreamErrorException", 25);
    assert_string_equal(ac_prom_error_types[i], "ModelStreamErrorException");

    /* the module's own are exact */
    assert_int_equal(ac_prom_error_type("Max_tokens", 10), other);
    assert_int_equal(ac_prom_error_type("max_tokens", 10),
                     ac_prom_error_type("max_tokens", 10));
    assert_string_equal(
        ac_prom_error_types[ac_prom_error_type("max_tokens", 10)],
        "max_tokens");

    /* anything else, whatever the model sent */
    assert_int_equal(ac_prom_error_type("", 0), other);
    assert_int_equal(ac_prom_error_type("Throttling", 10), other);
    assert_int_equal(ac_prom_error_type("ThrottlingExceptionX", 20), other);
    assert_int_equal(ac_prom_error_type("THROTTLINGEXCEPTION", 19), other);
    assert_int_equal(ac_prom_error_type("HTTP 502", 8), other);
    assert_int_equal(ac_prom_error_type("other", 5), other);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_family_and_samples),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_seconds),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_error_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
