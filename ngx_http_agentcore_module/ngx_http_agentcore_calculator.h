
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The calculator tool: "evaluate" in plain C on GMP/MPFR, the symbolic
 * modes on Giac (ngx_http_agentcore_cas.h): the results and number
 * formatting of strands_tools.calculator.
 */


#ifndef _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_


#include <jansson.h>

#include "ngx_http_agentcore_cas.h"


#define AC_CALC_SUCCESS   0
#define AC_CALC_ERROR     1

/* the numeric path's work bounds */
#define AC_CALC_MAX_BITS       16384    /* an exact rational's parts */
#define AC_CALC_MAX_STEPS      65536    /* operations and function calls */


/*
 * input is the tool input object: expression (required), precision,
 * scientific, force_numeric, variables, mode, ...  *text is set to a
 * malloc'd "Result: ..." (AC_CALC_SUCCESS) or "Error: ..."
 * (AC_CALC_ERROR); NULL only when out of memory.  Bounded in time and
 * memory for any input.
 */
int ac_calculator(json_t *input, char **text);


/* the work the last ac_calculator() call did (for tests and fuzzers) */
typedef struct {
    unsigned long    steps;         /* operations of the numeric path */
    unsigned long    max_bits;      /* largest exact value kept, bits */
    ac_cas_stats_t   cas;           /* the symbolic path */
} ac_calc_stats_t;

void ac_calculator_stats(ac_calc_stats_t *st);


#endif /* _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_ */
