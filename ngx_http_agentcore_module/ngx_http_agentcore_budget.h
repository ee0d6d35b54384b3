
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Token budgets (agentcore_token_limit), the arithmetic: plain C, no
 * nginx types.  A key's bucket holds the tokens its model calls used
 * and that have not leaked out yet (its "debt", in thousandths of a
 * token); it leaks at the zone's rate.  A model call is allowed while
 * the debt is at most the burst; the usage the model reports after the
 * call is added to the debt, which may then exceed the burst (the
 * usage of a call is not known before it): the next call waits until
 * the excess has leaked out.
 */


#ifndef _NGX_HTTP_AGENTCORE_BUDGET_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_BUDGET_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* the largest rate and burst, in tokens */
#define AC_BUDGET_MAX_TOKENS  1000000000ULL

/* the largest debt kept, in thousandths of a token (10^11 tokens) */
#define AC_BUDGET_MAX_DEBT    100000000000000ULL


/* "N/s", "N/m", "N/h" or "N/d": N tokens a second, minute, hour, day */
typedef struct {
    uint64_t                 milli;     /* N * 1000 */
    uint64_t                 period;    /* ms: 1000, 60000 ... */
} ac_budget_rate_t;


/*
 * parses "N/s" (and /m, /h, /d), 1 <= N <= AC_BUDGET_MAX_TOKENS, no
 * sign, spaces or leading "+"; 0 on success, -1 if it is not one
 */
int ac_budget_parse_rate(const char *s, size_t len, ac_budget_rate_t *rate);

/* the debt after elapsed ms of leaking */
uint64_t ac_budget_drain(uint64_t debt, const ac_budget_rate_t *rate,
    uint64_t elapsed);

/* the debt with tokens added (whole tokens), at most AC_BUDGET_MAX_DEBT */
uint64_t ac_budget_charge(uint64_t debt, uint64_t tokens);

/*
 * ms until the debt has leaked down to the burst (whole tokens): 0 when
 * a model call is allowed now (debt <= burst * 1000)
 */
uint64_t ac_budget_wait(uint64_t debt, uint64_t burst,
    const ac_budget_rate_t *rate);

/* whole seconds, rounded up: Retry-After of a wait in ms (0 for 0) */
uint64_t ac_budget_seconds(uint64_t ms);


#endif /* _NGX_HTTP_AGENTCORE_BUDGET_H_INCLUDED_ */
