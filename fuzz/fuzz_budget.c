
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the token budget's rate syntax, and the arithmetic
 * on what it parsed (no overflow, the wait agrees with the drain).
 */


#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_budget.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t          debt, burst, ms;
    ac_budget_rate_t  rate;

    if (size < 16) {
        return 0;
    }

    memcpy(&debt, data, 8);
    memcpy(&burst, data + 8, 8);

    if (ac_budget_parse_rate((const char *) data + 16, size - 16, &rate)
        != 0)
    {
        return 0;
    }

    debt %= AC_BUDGET_MAX_DEBT + 1;
    burst %= AC_BUDGET_MAX_TOKENS + 1;

    if (rate.milli == 0 || rate.milli > AC_BUDGET_MAX_TOKENS * 1000
        || rate.period == 0)
    {
        abort();
    }

    ms = ac_budget_wait(debt, burst, &rate);

    if (ms == 0) {
        if (debt > burst * 1000) {
            abort();
        }

    } else if (ac_budget_drain(debt, &rate, ms) > burst * 1000
               || ac_budget_drain(debt, &rate, ms - 1) <= burst * 1000)
    {
        abort();
    }

    if (ac_budget_charge(debt, burst) > AC_BUDGET_MAX_DEBT) {
        abort();
    }

    (void) ac_budget_seconds(ms);

    return 0;
}
