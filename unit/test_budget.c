
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_budget.c: the rate syntax, leaking,
 * charging, the wait until a call is allowed and Retry-After.
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_budget.h"


static int
parse(const char *s, ac_budget_rate_t *rate)
{
    return ac_budget_parse_rate(s, strlen(s), rate);
}


static void
test_parse_rate(void **state)
{
    ac_budget_rate_t  r;

    assert_int_equal(parse("10/s", &r), 0);
    assert_int_equal(r.milli, 10000);
    assert_int_equal(r.period, 1000);

    assert_int_equal(parse("6000/m", &r), 0);
    assert_int_equal(r.milli, 6000000);
    assert_int_equal(r.period, 60000);

    assert_int_equal(parse("1/h", &r), 0);
    assert_int_equal(r.period, 3600000);

    assert_int_equal(parse("1000000000/d", &r), 0);
    assert_int_equal(r.milli, 1000000000000ULL);
    assert_int_equal(r.period, 86400000);

    assert_int_equal(parse("", &r), -1);
    assert_int_equal(parse("0/s", &r), -1);
    assert_int_equal(parse("1000000001/s", &r), -1);
    assert_int_equal(parse("99999999999999999999999/s", &r), -1);
    assert_int_equal(parse("10", &r), -1);
    assert_int_equal(parse("10/", &r), -1);
    assert_int_equal(parse("10/x", &r), -1);
    assert_int_equal(parse("10/sec", &r), -1);
    assert_int_equal(parse("/s", &r), -1);
    assert_int_equal(parse("-1/s", &r), -1);
    assert_int_equal(parse("+1/s", &r), -1);
    assert_int_equal(parse(" 1/s", &r), -1);
    assert_int_equal(parse("10r/s", &r), -1);

    /* the length counts, not a NUL */
    assert_int_equal(ac_budget_parse_rate("5/mXYZ", 3, &r), 0);
    assert_int_equal(r.milli, 5000);
}


static void
test_drain(void **state)
{
    ac_budget_rate_t  r;

    /* 60 tokens a minute: one token a second, 1 thousandth a ms */
    assert_int_equal(parse("60/m", &r), 0);

    assert_int_equal(ac_budget_drain(5000, &r, 0), 5000);
    assert_int_equal(ac_budget_drain(5000, &r, 1), 4999);
    assert_int_equal(ac_budget_drain(5000, &r, 1000), 4000);
    assert_int_equal(ac_budget_drain(5000, &r, 5000), 0);
    assert_int_equal(ac_budget_drain(5000, &r, 5001), 0);
    assert_int_equal(ac_budget_drain(0, &r, 10), 0);

    /* 1 token a minute: 16.67 thousandths a second, truncated per call */
    assert_int_equal(parse("1/m", &r), 0);
    assert_int_equal(ac_budget_drain(1000, &r, 59), 1000);
    assert_int_equal(ac_budget_drain(1000, &r, 60), 999);
    assert_int_equal(ac_budget_drain(1000, &r, 30000), 500);
    assert_int_equal(ac_budget_drain(1000, &r, 60000), 0);

    /* no overflow: the largest rate over years, the largest debt */
    assert_int_equal(parse("1000000000/s", &r), 0);
    assert_int_equal(ac_budget_drain(AC_BUDGET_MAX_DEBT, &r, UINT64_MAX), 0);
    assert_int_equal(parse("1/d", &r), 0);
    assert_int_equal(ac_budget_drain(AC_BUDGET_MAX_DEBT, &r, 86400000),
                     AC_BUDGET_MAX_DEBT - 1000);
}


static void
test_charge(void **state)
{
    assert_int_equal(ac_budget_charge(0, 0), 0);
    assert_int_equal(ac_budget_charge(0, 30), 30000);
    assert_int_equal(ac_budget_charge(500, 30), 30500);

    /* saturates */
    assert_int_equal(ac_budget_charge(0, UINT64_MAX), AC_BUDGET_MAX_DEBT);
    assert_int_equal(ac_budget_charge(AC_BUDGET_MAX_DEBT - 999, 1),
                     AC_BUDGET_MAX_DEBT);
    assert_int_equal(ac_budget_charge(AC_BUDGET_MAX_DEBT - 1000, 1),
                     AC_BUDGET_MAX_DEBT);
    assert_int_equal(ac_budget_charge(AC_BUDGET_MAX_DEBT, 0),
                     AC_BUDGET_MAX_DEBT);
    assert_int_equal(ac_budget_charge(UINT64_MAX, 5), AC_BUDGET_MAX_DEBT);
}


static void
test_wait(void **state)
{
    uint64_t          ms, debt;
    ac_budget_rate_t  r;

    assert_int_equal(parse("60/m", &r), 0);

    /* at or under the burst: allowed */
    assert_int_equal(ac_budget_wait(0, 0, &r), 0);
    assert_int_equal(ac_budget_wait(10000, 10, &r), 0);

    /* 1 thousandth over: 1 ms, Retry-After 1 */
    assert_int_equal(ac_budget_wait(10001, 10, &r), 1);
    assert_int_equal(ac_budget_seconds(1), 1);

    /* 30 tokens over at 1/s: 30 s */
    assert_int_equal(ac_budget_wait(40000, 10, &r), 30000);
    assert_int_equal(ac_budget_seconds(30000), 30);
    assert_int_equal(ac_budget_seconds(30001), 31);
    assert_int_equal(ac_budget_seconds(0), 0);

    /* the wait is exactly what drain() needs */
    assert_int_equal(parse("7/m", &r), 0);

    for (debt = 1; debt < 20000; debt += 37) {
        ms = ac_budget_wait(debt, 3, &r);

        if (debt <= 3000) {
            assert_int_equal(ms, 0);
            continue;
        }

        assert_true(ac_budget_drain(debt, &r, ms) <= 3000);
        assert_true(ac_budget_drain(debt, &r, ms - 1) > 3000);
    }

    /* the largest debt at the slowest rate: no overflow */
    assert_int_equal(parse("1/d", &r), 0);
    ms = ac_budget_wait(AC_BUDGET_MAX_DEBT, 0, &r);
    assert_int_equal(ms, 100000000000ULL * 86400000ULL);

    /* a burst above the maximum is never exceeded */
    assert_int_equal(ac_budget_wait(AC_BUDGET_MAX_DEBT, UINT64_MAX, &r), 0);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_drain),
        cmocka_unit_test(test_charge),
        cmocka_unit_test(test_wait),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
