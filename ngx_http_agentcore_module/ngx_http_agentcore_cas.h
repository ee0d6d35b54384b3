
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The calculator's symbolic modes (solve, derive, integrate, limit,
 * series, matrix, symbolic and complex "evaluate") on the Giac computer
 * algebra library, behind a plain C interface; the results are printed
 * as SymPy prints them (strands_tools.calculator).
 */


#ifndef _NGX_HTTP_AGENTCORE_CAS_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_CAS_H_INCLUDED_


#include <stddef.h>

#include <jansson.h>


#ifdef __cplusplus
extern "C" {
#endif


/* the work bounds, checked on the parsed input before Giac runs */
#define AC_CAS_MAX_NODES      512      /* nodes of the expression tree */
#define AC_CAS_MAX_DEPTH      64
#define AC_CAS_MAX_DIGITS     100      /* digits of an integer literal */
#define AC_CAS_MAX_EXPONENT   256      /* |numeric exponent| */
#define AC_CAS_MAX_DEGREE     256      /* estimated polynomial degree */
#define AC_CAS_MAX_SOLVE_DEG  16       /* degree of an equation to solve */
#define AC_CAS_MAX_SOLVE_NODES 128     /* ... its nodes */
#define AC_CAS_MAX_SOLVE_SYMBOLS 3     /* ... its symbols */
#define AC_CAS_MAX_SOLVE_EXPS 2        /* ... its exponentials */
#define AC_CAS_MAX_ORDER      32       /* derivative and series order */
#define AC_CAS_MAX_POW_ORDER  3        /* ... of a**u, u symbolic */
#define AC_CAS_MAX_DEEP_SERIES_ORDER 5 /* series order of exponentials
                                           nested AC_CAS_MAX_EXP_DEPTH deep */
#define AC_CAS_SERIES_EXP_WORK 24     /* series order times the number of
                                           exponentials, when 2 or more */
#define AC_CAS_MAX_MATRIX     8        /* rows and columns */
#define AC_CAS_MAX_SYM_MATRIX 4        /* ... of a Matrix with symbols */
#define AC_CAS_MAX_SYM_MATRIX_POW 8    /* its powers */
#define AC_CAS_MAX_FACT       1500     /* factorial argument */
#define AC_CAS_MAX_RESULT     4000     /* nodes of any (intermediate)
                                           result: 4300 characters hold
                                           fewer */
#define AC_CAS_MAX_TEXT       4300     /* characters of the result */
#define AC_CAS_MAX_SIMPLIFY   32       /* nodes evaluate simplifies */
#define AC_CAS_MAX_SIMPLIFY_TRIG 2     /* ... its trigonometric functions */
#define AC_CAS_MAX_EXPS       8        /* exp(u), a**u with a symbolic u */
#define AC_CAS_MAX_EXP_DEPTH  3        /* exponentials in exponentials */


typedef struct {
    const char   *mode;             /* "evaluate", "solve", ... */
    const char   *expr;
    size_t        len;
    const char   *wrt;              /* NULL: the first free symbol */
    const char   *point;            /* NULL: "0" */
    long          order;            /* 0: the mode's default */
    int           precision;
    int           force_numeric;
    json_t       *variables;        /* object or NULL */
} ac_cas_args_t;


typedef struct {
    size_t        nodes;            /* of the input after substitution */
    size_t        degree;           /* estimated */
    size_t        exps;             /* exponentials */
    size_t        sym_pows;         /* a**u with a symbolic u */
    size_t        exp_depth;        /* their nesting */
    size_t        result_nodes;     /* largest intermediate result */
    size_t        trig;             /* trigonometric functions in the
                                       result evaluate may simplify */
    int           simplified;       /* Giac's simplify() ran */
} ac_cas_stats_t;


/*
 * *text: a malloc'd "Result: ..." (AC_CALC_SUCCESS) or "Error: ..."
 * (AC_CALC_ERROR); NULL only when out of memory.  stats may be NULL.
 */
int ac_cas_run(const ac_cas_args_t *args, char **text,
    ac_cas_stats_t *stats);


#ifdef __cplusplus
}
#endif


#endif /* _NGX_HTTP_AGENTCORE_CAS_H_INCLUDED_ */
