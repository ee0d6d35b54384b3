
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Token budgets, the arithmetic (ngx_http_agentcore_budget.h).  Every
 * product is taken in 128 bits: a day's period in ms times a debt of
 * 10^14 does not fit in 64.
 */


#include "ngx_http_agentcore_budget.h"


typedef unsigned __int128  ac_u128_t;


int
ac_budget_parse_rate(const char *s, size_t len, ac_budget_rate_t *rate)
{
    size_t    i;
    uint64_t  n;

    n = 0;

    for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        n = n * 10 + (uint64_t) (s[i] - '0');

        if (n > AC_BUDGET_MAX_TOKENS) {
            return -1;
        }
    }

    if (i == 0 || n == 0 || len - i != 2 || s[i] != '/') {
        return -1;
    }

    switch (s[i + 1]) {
    case 's':
        rate->period = 1000;
        break;
    case 'm':
        rate->period = 60 * 1000;
        break;
    case 'h':
        rate->period = 3600 * 1000;
        break;
    case 'd':
        rate->period = 86400 * 1000;
        break;
    default:
        return -1;
    }

    rate->milli = n * 1000;

    return 0;
}


uint64_t
ac_budget_drain(uint64_t debt, const ac_budget_rate_t *rate, uint64_t elapsed)
{
    ac_u128_t  leaked;

    leaked = (ac_u128_t) rate->milli * elapsed / rate->period;

    return (leaked >= debt) ? 0 : debt - (uint64_t) leaked;
}


uint64_t
ac_budget_charge(uint64_t debt, uint64_t tokens)
{
    if (debt > AC_BUDGET_MAX_DEBT
        || tokens > (AC_BUDGET_MAX_DEBT - debt) / 1000)
    {
        return AC_BUDGET_MAX_DEBT;
    }

    return debt + tokens * 1000;
}


uint64_t
ac_budget_wait(uint64_t debt, uint64_t burst, const ac_budget_rate_t *rate)
{
    uint64_t   excess;
    ac_u128_t  ms;

    if (burst > AC_BUDGET_MAX_TOKENS || debt <= burst * 1000) {
        return 0;
    }

    excess = debt - burst * 1000;

    /* the first ms after which drain() leaves at most the burst */
    ms = ((ac_u128_t) excess * rate->period + rate->milli - 1) / rate->milli;

    return (uint64_t) ms;
}


uint64_t
ac_budget_seconds(uint64_t ms)
{
    return ms / 1000 + (ms % 1000 != 0);
}
