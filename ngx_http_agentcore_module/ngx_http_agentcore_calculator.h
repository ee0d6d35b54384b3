
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The calculator tool's "evaluate" mode, plain C on GMP/MPFR: the
 * results and number formatting of strands_tools.calculator.
 */


#ifndef _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_


#include <jansson.h>


#define AC_CALC_SUCCESS   0
#define AC_CALC_ERROR     1


/*
 * input is the tool input object: expression (required), precision,
 * scientific, force_numeric, variables, mode, ...  *text is set to a
 * malloc'd "Result: ..." (AC_CALC_SUCCESS) or "Error: ..."
 * (AC_CALC_ERROR); NULL only when out of memory.  Bounded in time and
 * memory for any input.
 */
int ac_calculator(json_t *input, char **text);


#endif /* _NGX_HTTP_AGENTCORE_CALCULATOR_H_INCLUDED_ */
