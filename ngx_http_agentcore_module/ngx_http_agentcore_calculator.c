
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The calculator tool's "evaluate" mode (runtime-contract.md 11):
 * numeric expressions with the results and number formatting of
 * strands_tools.calculator, on GMP (exact rationals) and MPFR (floats).
 *
 * Values follow SymPy's numeric model closely enough to print the same
 * text:
 *
 *   RAT   an exact rational (an integer when the denominator is 1);
 *   MONO  c * pi^a * e^b with c, b rational and a small integer: keeps
 *         sin(pi/2), log(e**3), e**2/e ... exact;
 *   FLT   an MPFR float.  A literal like 0.1 gets SymPy's Float
 *         precision (15 digits or its digit count); floats computed
 *         from exact values only ("exact-ish", e.g. sqrt(2)) use 256
 *         bits and are treated as exact where SymPy would simplify:
 *         a sum that cancels below 2^-200 of its operands is 0, and a
 *         value that close to an integer is that integer;
 *   ZOO   complex infinity (1/0), NAN: both print "nan-nanj".
 *
 * Symbolic and complex values are not this file's: an expression that
 * names an unknown symbol ("x + 1") or has a complex result
 * ("sqrt(-1)") is evaluated again by the computer algebra path
 * (ngx_http_agentcore_cas.cc, Giac), as are the modes solve, derive,
 * integrate, limit, series and matrix; any other mode string evaluates
 * (as the reference).
 *
 * Deviations from the reference, by design:
 *   - multi-letter names are never split into products of letters;
 *   - implicit multiplication ("2pi", "2(3+4)", "(1)(2)") is accepted
 *     only between numbers, known names and parentheses, so that
 *     "15% of 80" is the reference's syntax error;
 *   - log10, ceil are accepted as extra names;
 *   - bounds: expression <= 4096 bytes, nesting <= 64, exact values
 *     <= 16384 bits, printed integers <= 4300 digits (the reference's
 *     str(int) limit), factorial argument <= 1500, trigonometric
 *     arguments below 2^4096, precision 0..100, and at most 65536
 *     operations (AC_CALC_MAX_STEPS): the work is bounded by the input.
 */


#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmp.h>
#include <mpfr.h>

#include "ngx_http_agentcore_calculator.h"
#include "ngx_http_agentcore_cas.h"


#define AC_CALC_MAX_LEN        4096
#define AC_CALC_MAX_DEPTH      64
#define AC_CALC_MAX_DIGITS     4300
#define AC_CALC_MAX_FACT       1500
#define AC_CALC_MAX_PI_POW     64
#define AC_CALC_TRIG_EXP       4096
#define AC_CALC_PREC_EXACT     256
#define AC_CALC_PREC_MAX       2048
#define AC_CALC_CANCEL_BITS    200
#define AC_CALC_DEF_PRECISION  10
#define AC_CALC_MAX_PRECISION  100
#define AC_CALC_SCI_THRESHOLD  1e21


enum {
    AC_V_RAT = 0,
    AC_V_MONO,
    AC_V_FLT,
    AC_V_ZOO,
    AC_V_NAN
};


typedef struct {
    int                  kind;
    int                  exact;     /* AC_V_FLT: from exact values only */
    long                 pi;        /* AC_V_MONO: power of pi */
    mpq_t                q;         /* AC_V_RAT: value; MONO: coefficient */
    mpq_t                e;         /* AC_V_MONO: power of e */
    mpfr_t               f;         /* AC_V_FLT */
} ac_val_t;


enum {
    AC_T_END = 0,
    AC_T_NUM,
    AC_T_NAME,
    AC_T_PLUS,
    AC_T_MINUS,
    AC_T_STAR,
    AC_T_SLASH,
    AC_T_DSLASH,
    AC_T_PERCENT,
    AC_T_POW,
    AC_T_LPAREN,
    AC_T_RPAREN,
    AC_T_COMMA,
    AC_T_BANG,
    AC_T_BAD
};


enum {
    AC_N_INT = 0,
    AC_N_FLT,
    AC_N_IMAG
};


enum {
    AC_K_UNKNOWN = 0,
    AC_K_CONST,
    AC_K_FUNC,
    AC_K_VAR
};


enum {
    AC_C_PI = 0,
    AC_C_E,
    AC_C_I,
    AC_C_OO,
    AC_C_NAN,
    AC_C_ZOO,
    AC_C_TRUE,
    AC_C_FALSE
};


enum {
    AC_F_SQRT = 0,
    AC_F_CBRT,
    AC_F_SIN,
    AC_F_COS,
    AC_F_TAN,
    AC_F_COT,
    AC_F_SEC,
    AC_F_CSC,
    AC_F_ASIN,
    AC_F_ACOS,
    AC_F_ATAN,
    AC_F_ATAN2,
    AC_F_SINH,
    AC_F_COSH,
    AC_F_TANH,
    AC_F_ASINH,
    AC_F_ACOSH,
    AC_F_ATANH,
    AC_F_EXP,
    AC_F_LOG,
    AC_F_LOG10,
    AC_F_ABS,
    AC_F_SIGN,
    AC_F_FLOOR,
    AC_F_CEIL,
    AC_F_FACT,
    AC_F_GAMMA,
    AC_F_ERF,
    AC_F_BINOM,
    AC_F_MAX,
    AC_F_MIN
};


typedef struct {
    const char          *name;
    int                  kind;
    int                  id;
    int                  min;       /* AC_K_FUNC: arity */
    int                  max;       /* -1: any */
} ac_name_t;


static const ac_name_t  ac_names[] = {
    { "pi",        AC_K_CONST, AC_C_PI,    0, 0 },
    { "e",         AC_K_CONST, AC_C_E,     0, 0 },
    { "E",         AC_K_CONST, AC_C_E,     0, 0 },
    { "I",         AC_K_CONST, AC_C_I,     0, 0 },
    { "oo",        AC_K_CONST, AC_C_OO,    0, 0 },
    { "inf",       AC_K_CONST, AC_C_OO,    0, 0 },
    { "nan",       AC_K_CONST, AC_C_NAN,   0, 0 },
    { "zoo",       AC_K_CONST, AC_C_ZOO,   0, 0 },
    { "True",      AC_K_CONST, AC_C_TRUE,  0, 0 },
    { "true",      AC_K_CONST, AC_C_TRUE,  0, 0 },
    { "False",     AC_K_CONST, AC_C_FALSE, 0, 0 },
    { "false",     AC_K_CONST, AC_C_FALSE, 0, 0 },
    { "sqrt",      AC_K_FUNC,  AC_F_SQRT,  1, 1 },
    { "cbrt",      AC_K_FUNC,  AC_F_CBRT,  1, 1 },
    { "sin",       AC_K_FUNC,  AC_F_SIN,   1, 1 },
    { "cos",       AC_K_FUNC,  AC_F_COS,   1, 1 },
    { "tan",       AC_K_FUNC,  AC_F_TAN,   1, 1 },
    { "cot",       AC_K_FUNC,  AC_F_COT,   1, 1 },
    { "sec",       AC_K_FUNC,  AC_F_SEC,   1, 1 },
    { "csc",       AC_K_FUNC,  AC_F_CSC,   1, 1 },
    { "asin",      AC_K_FUNC,  AC_F_ASIN,  1, 1 },
    { "acos",      AC_K_FUNC,  AC_F_ACOS,  1, 1 },
    { "atan",      AC_K_FUNC,  AC_F_ATAN,  1, 1 },
    { "atan2",     AC_K_FUNC,  AC_F_ATAN2, 2, 2 },
    { "sinh",      AC_K_FUNC,  AC_F_SINH,  1, 1 },
    { "cosh",      AC_K_FUNC,  AC_F_COSH,  1, 1 },
    { "tanh",      AC_K_FUNC,  AC_F_TANH,  1, 1 },
    { "asinh",     AC_K_FUNC,  AC_F_ASINH, 1, 1 },
    { "acosh",     AC_K_FUNC,  AC_F_ACOSH, 1, 1 },
    { "atanh",     AC_K_FUNC,  AC_F_ATANH, 1, 1 },
    { "exp",       AC_K_FUNC,  AC_F_EXP,   1, 1 },
    { "log",       AC_K_FUNC,  AC_F_LOG,   1, 2 },
    { "ln",        AC_K_FUNC,  AC_F_LOG,   1, 2 },
    { "log10",     AC_K_FUNC,  AC_F_LOG10, 1, 1 },
    { "abs",       AC_K_FUNC,  AC_F_ABS,   1, 1 },
    { "Abs",       AC_K_FUNC,  AC_F_ABS,   1, 1 },
    { "sign",      AC_K_FUNC,  AC_F_SIGN,  1, 1 },
    { "floor",     AC_K_FUNC,  AC_F_FLOOR, 1, 1 },
    { "ceiling",   AC_K_FUNC,  AC_F_CEIL,  1, 1 },
    { "ceil",      AC_K_FUNC,  AC_F_CEIL,  1, 1 },
    { "factorial", AC_K_FUNC,  AC_F_FACT,  1, 1 },
    { "gamma",     AC_K_FUNC,  AC_F_GAMMA, 1, 1 },
    { "erf",       AC_K_FUNC,  AC_F_ERF,   1, 1 },
    { "binomial",  AC_K_FUNC,  AC_F_BINOM, 2, 2 },
    { "max",       AC_K_FUNC,  AC_F_MAX,   1, -1 },
    { "Max",       AC_K_FUNC,  AC_F_MAX,   1, -1 },
    { "min",       AC_K_FUNC,  AC_F_MIN,   1, -1 },
    { "Min",       AC_K_FUNC,  AC_F_MIN,   1, -1 },
    { NULL, 0, 0, 0, 0 }
};


typedef struct {
    const char          *name;      /* a key of the variables object */
    ac_val_t             v;
} ac_var_t;


typedef struct {
    json_t              *vars;
    ac_var_t            *cache;
    size_t               ncache;
    int                  failed;
    char                 err[384];
    char                 name[AC_CALC_MAX_LEN + 1];
    unsigned long        steps;
    unsigned long        max_bits;
} ac_calc_t;


/* the work of the last ac_calculator() call, for tests */
static ac_calc_stats_t   ac_stats;


typedef struct {
    int                  type;
    int                  num;       /* AC_T_NUM: AC_N_* */
    int                  base;      /* AC_T_NUM, AC_N_INT */
    const char          *s;
    size_t               len;
} ac_tok_t;


typedef struct {
    ac_calc_t           *calc;
    const char          *p;
    const char          *end;
    ac_tok_t             tok;       /* the lookahead */
    int                  eval;      /* pass 2: compute values */
    int                  depth;
    int                  juxt;      /* the last factor may be followed
                                       by an implicit "*" */
    int                  use_vars;
    const char          *unknown;   /* pass 1: first unknown name */
    size_t               unknown_len;
} ac_parser_t;


static int ac_fail(ac_calc_t *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int ac_syntax(ac_parser_t *p);
static int ac_too_large(ac_calc_t *c);
static int ac_step(ac_calc_t *c);
static int ac_complex(ac_calc_t *c);

static void ac_val_init(ac_val_t *v);
static void ac_val_clear(ac_val_t *v);
static void ac_val_copy(ac_val_t *d, ac_val_t *s);
static void ac_val_swap(ac_val_t *a, ac_val_t *b);
static void ac_set_si(ac_val_t *v, long n);
static void ac_set_nan(ac_val_t *v);
static void ac_set_zoo(ac_val_t *v);
static void ac_set_mono(ac_val_t *v, long num, long den, long pi,
    long e);
static void ac_set_flt_prec(ac_val_t *v, mpfr_prec_t prec, int exact);
static int ac_is_zero(ac_val_t *v);
static int ac_is_int(ac_val_t *v);
static int ac_sign(ac_val_t *v);
static int ac_is_special(ac_val_t *v);
static void ac_mono_norm(ac_val_t *v);
static int ac_rat_check(ac_calc_t *c, mpq_srcptr q);
static mpfr_prec_t ac_prec(ac_val_t *v);
static int ac_exact(ac_val_t *v);
static void ac_to_mpfr(ac_val_t *v, mpfr_t out);
static void ac_flt_fix(ac_val_t *v);
static int ac_snap(mpfr_t x, mpz_t z);

static int ac_neg(ac_calc_t *c, ac_val_t *r, ac_val_t *a);
static int ac_add(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b,
    int sub);
static int ac_mul(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b);
static int ac_div(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b);
static int ac_floordiv(ac_calc_t *c, ac_val_t *r, ac_val_t *a,
    ac_val_t *b);
static int ac_mod(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b);
static int ac_pow(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b);
static int ac_func(ac_calc_t *c, int id, ac_val_t *r, ac_val_t *args,
    int n);

static int ac_eval_string(ac_calc_t *c, const char *s, size_t len,
    int use_vars, ac_val_t *out);
static char *ac_format(ac_calc_t *c, ac_val_t *v, int precision,
    int scientific);


/* errors: the first one wins */

static int
ac_fail(ac_calc_t *c, const char *fmt, ...)
{
    va_list  ap;

    if (!c->failed) {
        c->failed = 1;
        va_start(ap, fmt);
        vsnprintf(c->err, sizeof(c->err), fmt, ap);
        va_end(ap);
    }

    return -1;
}


static int
ac_syntax(ac_parser_t *p)
{
    return ac_fail(p->calc, "Invalid mathematical expression: "
                   "invalid syntax");
}


static int
ac_too_large(ac_calc_t *c)
{
    return ac_fail(c, "result too large (exact values are limited to "
                   "%d bits)", AC_CALC_MAX_BITS);
}


/*
 * every arithmetic operation and function call is a step; with values
 * bounded in bits and precision, the steps bound the work
 */

static int
ac_step(ac_calc_t *c)
{
    if (++c->steps > AC_CALC_MAX_STEPS) {
        return ac_fail(c, "expression too complex (more than %d "
                       "operations)", AC_CALC_MAX_STEPS);
    }

    return 0;
}


static int
ac_complex(ac_calc_t *c)
{
    return ac_fail(c, "complex results are not supported");
}


/* values */

static void
ac_val_init(ac_val_t *v)
{
    v->kind = AC_V_RAT;
    v->exact = 1;
    v->pi = 0;
    mpq_init(v->q);
    mpq_init(v->e);
    mpfr_init2(v->f, 53);
}


static void
ac_val_clear(ac_val_t *v)
{
    mpq_clear(v->q);
    mpq_clear(v->e);
    mpfr_clear(v->f);
}


static void
ac_val_copy(ac_val_t *d, ac_val_t *s)
{
    if (d == s) {
        return;
    }

    d->kind = s->kind;
    d->exact = s->exact;
    d->pi = s->pi;
    mpq_set(d->q, s->q);
    mpq_set(d->e, s->e);
    mpfr_set_prec(d->f, mpfr_get_prec(s->f));
    mpfr_set(d->f, s->f, MPFR_RNDN);
}


static void
ac_val_swap(ac_val_t *a, ac_val_t *b)
{
    int   k;
    long  l;

    k = a->kind; a->kind = b->kind; b->kind = k;
    k = a->exact; a->exact = b->exact; b->exact = k;
    l = a->pi; a->pi = b->pi; b->pi = l;
    mpq_swap(a->q, b->q);
    mpq_swap(a->e, b->e);
    mpfr_swap(a->f, b->f);
}


static void
ac_set_si(ac_val_t *v, long n)
{
    v->kind = AC_V_RAT;
    v->exact = 1;
    mpq_set_si(v->q, n, 1);
}


static void
ac_set_nan(ac_val_t *v)
{
    v->kind = AC_V_NAN;
    v->exact = 1;
}


static void
ac_set_zoo(ac_val_t *v)
{
    v->kind = AC_V_ZOO;
    v->exact = 1;
}


/* num/den * pi^pi * e^e */

static void
ac_set_mono(ac_val_t *v, long num, long den, long pi, long e)
{
    v->kind = AC_V_MONO;
    v->exact = 1;
    v->pi = pi;
    mpq_set_si(v->q, num, (unsigned long) den);
    mpq_canonicalize(v->q);
    mpq_set_si(v->e, e, 1);
    ac_mono_norm(v);
}


static void
ac_set_flt_prec(ac_val_t *v, mpfr_prec_t prec, int exact)
{
    v->kind = AC_V_FLT;
    v->exact = exact;
    mpfr_set_prec(v->f, prec);
}


static void
ac_mono_norm(ac_val_t *v)
{
    if (v->kind != AC_V_MONO) {
        return;
    }

    if (mpq_sgn(v->q) == 0 || (v->pi == 0 && mpq_sgn(v->e) == 0)) {
        v->kind = AC_V_RAT;
        v->pi = 0;
        mpq_set_ui(v->e, 0, 1);
    }
}


static int
ac_is_zero(ac_val_t *v)
{
    return (v->kind == AC_V_RAT && mpq_sgn(v->q) == 0)
           || (v->kind == AC_V_FLT && mpfr_zero_p(v->f));
}


static int
ac_is_int(ac_val_t *v)
{
    return v->kind == AC_V_RAT && mpz_cmp_ui(mpq_denref(v->q), 1) == 0;
}


/* sign of a RAT, MONO or FLT (0 for NaN) */

static int
ac_sign(ac_val_t *v)
{
    switch (v->kind) {

    case AC_V_RAT:
    case AC_V_MONO:
        return mpq_sgn(v->q);

    case AC_V_FLT:
        return mpfr_nan_p(v->f) ? 0 : mpfr_sgn(v->f);

    default:
        return 0;
    }
}


static int
ac_is_special(ac_val_t *v)
{
    return v->kind == AC_V_ZOO || v->kind == AC_V_NAN;
}


static int
ac_is_inf(ac_val_t *v)
{
    return v->kind == AC_V_FLT && mpfr_inf_p(v->f);
}


static int
ac_rat_check(ac_calc_t *c, mpq_srcptr q)
{
    size_t  bits;

    bits = mpz_sizeinbase(mpq_numref(q), 2);

    if (mpz_sizeinbase(mpq_denref(q), 2) > bits) {
        bits = mpz_sizeinbase(mpq_denref(q), 2);
    }

    if (bits <= AC_CALC_MAX_BITS && bits > c->max_bits) {
        c->max_bits = bits;
    }

    if (mpz_sizeinbase(mpq_numref(q), 2) > AC_CALC_MAX_BITS
        || mpz_sizeinbase(mpq_denref(q), 2) > AC_CALC_MAX_BITS)
    {
        return ac_too_large(c);
    }

    return 0;
}


/* the precision a value takes part in float arithmetic with */

static mpfr_prec_t
ac_prec(ac_val_t *v)
{
    switch (v->kind) {

    case AC_V_FLT:
        return mpfr_get_prec(v->f);

    case AC_V_MONO:
        return AC_CALC_PREC_EXACT;

    default:
        return 0;
    }
}


static int
ac_exact(ac_val_t *v)
{
    return v->kind != AC_V_FLT || v->exact;
}


static void
ac_to_mpfr(ac_val_t *v, mpfr_t out)
{
    mpfr_t       t, u;
    mpfr_prec_t  prec;

    switch (v->kind) {

    case AC_V_RAT:
        mpfr_set_q(out, v->q, MPFR_RNDN);
        return;

    case AC_V_FLT:
        mpfr_set(out, v->f, MPFR_RNDN);
        return;

    case AC_V_MONO:
        prec = mpfr_get_prec(out) + 64;
        mpfr_init2(t, prec);
        mpfr_init2(u, prec);
        mpfr_const_pi(t, MPFR_RNDN);
        mpfr_pow_si(t, t, v->pi, MPFR_RNDN);
        mpfr_set_q(u, v->e, MPFR_RNDN);
        mpfr_exp(u, u, MPFR_RNDN);
        mpfr_mul(t, t, u, MPFR_RNDN);
        mpfr_mul_q(out, t, v->q, MPFR_RNDN);
        mpfr_clear(t);
        mpfr_clear(u);
        return;

    default:
        mpfr_set_nan(out);
        return;
    }
}


/* a NaN float is SymPy's nan */

static void
ac_flt_fix(ac_val_t *v)
{
    if (v->kind == AC_V_FLT && mpfr_nan_p(v->f)) {
        ac_set_nan(v);
    }
}


/*
 * An exact-ish float within 2^-200 (relative) of an integer is that
 * integer, as SymPy's exact arithmetic would have found; z is set.
 */

static int
ac_snap(mpfr_t x, mpz_t z)
{
    mpfr_t  n, d;
    int     rc;

    if (!mpfr_number_p(x) || mpfr_zero_p(x)
        || mpfr_get_exp(x) > (mpfr_exp_t) mpfr_get_prec(x)
                             - AC_CALC_CANCEL_BITS)
    {
        return 0;
    }

    mpfr_init2(n, mpfr_get_prec(x));
    mpfr_init2(d, mpfr_get_prec(x));
    mpfr_rint(n, x, MPFR_RNDN);
    mpfr_sub(d, x, n, MPFR_RNDN);

    rc = 0;

    if (!mpfr_zero_p(n)
        && (mpfr_zero_p(d)
            || mpfr_get_exp(d) < mpfr_get_exp(x) - AC_CALC_CANCEL_BITS))
    {
        mpfr_get_z(z, n, MPFR_RNDN);
        rc = 1;
    }

    mpfr_clear(n);
    mpfr_clear(d);

    return rc;
}


/* arithmetic */

static int
ac_neg(ac_calc_t *c, ac_val_t *r, ac_val_t *a)
{
    if (ac_step(c) != 0) {
        return -1;
    }

    ac_val_copy(r, a);

    switch (r->kind) {

    case AC_V_RAT:
    case AC_V_MONO:
        mpq_neg(r->q, r->q);
        break;

    case AC_V_FLT:
        mpfr_neg(r->f, r->f, MPFR_RNDN);
        break;

    default:
        break;
    }

    return 0;
}


/*
 * Float arithmetic as SymPy's Float does it: the result has the larger
 * precision of the float operands, an exact operand is rounded to it
 * first.
 */

enum {
    AC_OP_ADD = 0,
    AC_OP_SUB,
    AC_OP_MUL,
    AC_OP_DIV,
    AC_OP_POW,
    AC_OP_MOD
};


static int
ac_float_op(ac_calc_t *c, int op, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    int          exact, rc;
    mpfr_t       x, y;
    ac_val_t     t;
    mpfr_exp_t   ex, ey;
    mpfr_prec_t  prec;

    prec = ac_prec(a) > ac_prec(b) ? ac_prec(a) : ac_prec(b);
    if (prec == 0) {
        prec = AC_CALC_PREC_EXACT;
    }

    exact = ac_exact(a) && ac_exact(b);

    mpfr_init2(x, prec);
    mpfr_init2(y, prec);
    ac_to_mpfr(a, x);
    ac_to_mpfr(b, y);

    ac_val_init(&t);
    ac_set_flt_prec(&t, prec, exact);

    rc = 0;

    switch (op) {

    case AC_OP_ADD:
    case AC_OP_SUB:
        if (op == AC_OP_ADD) {
            mpfr_add(t.f, x, y, MPFR_RNDN);
        } else {
            mpfr_sub(t.f, x, y, MPFR_RNDN);
        }

        if (exact && mpfr_regular_p(t.f) && mpfr_regular_p(x)
            && mpfr_regular_p(y))
        {
            ex = mpfr_get_exp(x);
            ey = mpfr_get_exp(y);

            if (mpfr_get_exp(t.f)
                < (ex > ey ? ex : ey) - AC_CALC_CANCEL_BITS)
            {
                ac_set_si(&t, 0);
            }
        }

        break;

    case AC_OP_MUL:
        mpfr_mul(t.f, x, y, MPFR_RNDN);
        break;

    case AC_OP_DIV:
        mpfr_div(t.f, x, y, MPFR_RNDN);
        break;

    case AC_OP_POW:
        mpfr_pow(t.f, x, y, MPFR_RNDN);
        break;

    default: /* AC_OP_MOD, y finite and nonzero, x finite */
        if (!mpfr_zero_p(x)
            && mpfr_get_exp(x) - mpfr_get_exp(y) > AC_CALC_MAX_BITS)
        {
            rc = ac_fail(c, "argument too large for %%");
            break;
        }

        mpfr_fmod(t.f, x, y, MPFR_RNDN);

        if (!mpfr_zero_p(t.f) && mpfr_sgn(t.f) != mpfr_sgn(y)) {
            mpfr_add(t.f, t.f, y, MPFR_RNDN);
        }

        break;
    }

    ac_flt_fix(&t);

    if (rc == 0) {
        ac_val_swap(r, &t);
    }

    ac_val_clear(&t);
    mpfr_clear(x);
    mpfr_clear(y);

    return rc;
}


static int
ac_mono_same(ac_val_t *a, ac_val_t *b)
{
    return a->kind == AC_V_MONO && b->kind == AC_V_MONO
           && a->pi == b->pi && mpq_equal(a->e, b->e);
}


static int
ac_add(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b, int sub)
{
    ac_val_t  t;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (a->kind == AC_V_NAN || b->kind == AC_V_NAN) {
        ac_set_nan(r);
        return 0;
    }

    if (a->kind == AC_V_ZOO || b->kind == AC_V_ZOO) {
        if ((a->kind == AC_V_ZOO && b->kind == AC_V_ZOO)
            || ac_is_inf(a) || ac_is_inf(b))
        {
            ac_set_nan(r);

        } else {
            ac_set_zoo(r);
        }

        return 0;
    }

    if ((a->kind == AC_V_RAT && b->kind == AC_V_RAT) || ac_mono_same(a, b))
    {
        ac_val_init(&t);
        ac_val_copy(&t, a);

        if (sub) {
            mpq_sub(t.q, a->q, b->q);
        } else {
            mpq_add(t.q, a->q, b->q);
        }

        ac_mono_norm(&t);

        if (ac_rat_check(c, t.q) != 0) {
            ac_val_clear(&t);
            return -1;
        }

        ac_val_swap(r, &t);
        ac_val_clear(&t);
        return 0;
    }

    return ac_float_op(c, sub ? AC_OP_SUB : AC_OP_ADD, r, a, b);
}


static int
ac_mul(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    ac_val_t  t;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (a->kind == AC_V_NAN || b->kind == AC_V_NAN) {
        ac_set_nan(r);
        return 0;
    }

    if (a->kind == AC_V_ZOO || b->kind == AC_V_ZOO) {
        if (ac_is_zero(a) || ac_is_zero(b)) {
            ac_set_nan(r);

        } else {
            ac_set_zoo(r);
        }

        return 0;
    }

    if (a->kind == AC_V_FLT || b->kind == AC_V_FLT) {
        return ac_float_op(c, AC_OP_MUL, r, a, b);
    }

    /* RAT or MONO */

    ac_val_init(&t);
    t.kind = AC_V_MONO;
    mpq_mul(t.q, a->q, b->q);
    mpq_add(t.e, a->kind == AC_V_MONO ? a->e : t.e,
            b->kind == AC_V_MONO ? b->e : t.e);
    t.pi = (a->kind == AC_V_MONO ? a->pi : 0)
           + (b->kind == AC_V_MONO ? b->pi : 0);

    if (t.pi > AC_CALC_MAX_PI_POW || t.pi < -AC_CALC_MAX_PI_POW) {
        ac_val_clear(&t);
        return ac_float_op(c, AC_OP_MUL, r, a, b);
    }

    ac_mono_norm(&t);

    if (ac_rat_check(c, t.q) != 0 || ac_rat_check(c, t.e) != 0) {
        ac_val_clear(&t);
        return -1;
    }

    ac_val_swap(r, &t);
    ac_val_clear(&t);

    return 0;
}


static int
ac_div(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    int       rc;
    ac_val_t  inv;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (a->kind == AC_V_NAN || b->kind == AC_V_NAN) {
        ac_set_nan(r);
        return 0;
    }

    if (ac_is_zero(b)) {
        if (ac_is_zero(a)) {
            ac_set_nan(r);

        } else {
            ac_set_zoo(r);
        }

        return 0;
    }

    if (b->kind == AC_V_ZOO) {
        if (a->kind == AC_V_ZOO || ac_is_inf(a)) {
            ac_set_nan(r);

        } else {
            ac_set_si(r, 0);
        }

        return 0;
    }

    if (a->kind == AC_V_ZOO) {
        ac_set_zoo(r);
        return 0;
    }

    if (a->kind == AC_V_FLT || b->kind == AC_V_FLT) {
        return ac_float_op(c, AC_OP_DIV, r, a, b);
    }

    /* a * b^-1, exactly */

    ac_val_init(&inv);
    ac_val_copy(&inv, b);
    mpq_inv(inv.q, inv.q);
    mpq_neg(inv.e, inv.e);
    inv.pi = -inv.pi;

    rc = ac_mul(c, r, a, &inv);

    ac_val_clear(&inv);

    return rc;
}


static void
ac_floor_q(mpq_t r, mpq_t a, int ceil)
{
    if (ceil) {
        mpz_cdiv_q(mpq_numref(r), mpq_numref(a), mpq_denref(a));

    } else {
        mpz_fdiv_q(mpq_numref(r), mpq_numref(a), mpq_denref(a));
    }

    mpz_set_ui(mpq_denref(r), 1);
}


/* floor or ceiling of any value */

static int
ac_floor(ac_calc_t *c, ac_val_t *r, ac_val_t *a, int ceil)
{
    int     rc;
    mpz_t   z;
    mpfr_t  x;

    if (ac_is_special(a)) {
        ac_set_nan(r);
        return 0;
    }

    if (a->kind == AC_V_RAT) {
        ac_val_copy(r, a);
        ac_floor_q(r->q, r->q, ceil);
        return 0;
    }

    if (ac_is_inf(a)) {
        ac_val_copy(r, a);
        return 0;
    }

    mpfr_init2(x, ac_prec(a));
    ac_to_mpfr(a, x);
    mpz_init(z);

    rc = 0;

    if (mpfr_nan_p(x)) {
        ac_set_nan(r);

    } else if (mpfr_inf_p(x)) {
        ac_set_flt_prec(r, AC_CALC_PREC_EXACT, 1);
        mpfr_set(r->f, x, MPFR_RNDN);

    } else if (!mpfr_zero_p(x) && mpfr_get_exp(x) > AC_CALC_MAX_BITS) {
        rc = ac_too_large(c);

    } else {
        if (!(ac_exact(a) && ac_snap(x, z))) {
            mpfr_get_z(z, x, ceil ? MPFR_RNDU : MPFR_RNDD);
        }

        r->kind = AC_V_RAT;
        r->exact = 1;
        mpq_set_z(r->q, z);
    }

    mpz_clear(z);
    mpfr_clear(x);

    return rc;
}


static int
ac_floordiv(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    int       rc;
    ac_val_t  t;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (ac_is_int(a) && ac_is_int(b) && mpq_sgn(b->q) == 0) {
        return ac_fail(c, "Invalid mathematical expression: integer "
                       "division or modulo by zero");
    }

    ac_val_init(&t);

    if (ac_is_int(a) && b->kind == AC_V_FLT && mpfr_regular_p(b->f)
        && mpfr_get_exp(b->f) < AC_CALC_MAX_BITS
        && mpfr_get_exp(b->f) > -AC_CALC_MAX_BITS)
    {
        /* SymPy: Integer // Float divides by the float's exact value */

        mpfr_get_q(t.q, b->f);
        mpq_div(t.q, a->q, t.q);
        ac_floor_q(t.q, t.q, 0);
        rc = ac_rat_check(c, t.q);

        if (rc == 0) {
            ac_val_swap(r, &t);
        }

        ac_val_clear(&t);
        return rc;
    }

    rc = ac_div(c, &t, a, b);

    if (rc == 0) {
        rc = ac_floor(c, r, &t, 0);
    }

    ac_val_clear(&t);

    return rc;
}


static int
ac_mod(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    mpq_t     t;
    ac_val_t  v;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (ac_is_zero(b)) {
        return ac_fail(c, "Invalid mathematical expression: integer "
                       "modulo by zero");
    }

    if (ac_is_special(a) || ac_is_special(b) || ac_is_inf(a)
        || ac_is_inf(b))
    {
        ac_set_nan(r);
        return 0;
    }

    if ((a->kind == AC_V_RAT && b->kind == AC_V_RAT) || ac_mono_same(a, b))
    {
        /* a - b * floor(a / b) on the coefficients */

        ac_val_init(&v);
        ac_val_copy(&v, a);
        mpq_init(t);
        mpq_div(t, a->q, b->q);
        ac_floor_q(t, t, 0);
        mpq_mul(t, t, b->q);
        mpq_sub(v.q, a->q, t);
        mpq_clear(t);
        ac_mono_norm(&v);
        ac_val_swap(r, &v);
        ac_val_clear(&v);

        return ac_rat_check(c, r->q);
    }

    return ac_float_op(c, AC_OP_MOD, r, a, b);
}


/* q = a^n exactly, n an integer, a nonzero */

static int
ac_pow_q(ac_calc_t *c, mpq_t q, mpq_t a, mpz_t n)
{
    long           k;
    size_t         bn, bd;
    unsigned long  u;

    if (mpz_cmpabs_ui(mpq_numref(a), 1) == 0
        && mpz_cmp_ui(mpq_denref(a), 1) == 0)
    {
        mpq_set_si(q, (mpq_sgn(a) < 0 && mpz_odd_p(n)) ? -1 : 1, 1);
        return 0;
    }

    if (!mpz_fits_slong_p(n)) {
        return ac_too_large(c);
    }

    k = mpz_get_si(n);
    u = k < 0 ? (unsigned long) -(k + 1) + 1 : (unsigned long) k;

    /* the result has at least (bits - 1) * |k| + 1 bits */

    bn = mpz_sizeinbase(mpq_numref(a), 2) - 1;
    bd = mpz_sizeinbase(mpq_denref(a), 2) - 1;

    if ((bn && u > AC_CALC_MAX_BITS / bn)
        || (bd && u > AC_CALC_MAX_BITS / bd))
    {
        return ac_too_large(c);
    }

    mpz_pow_ui(mpq_numref(q), mpq_numref(a), u);
    mpz_pow_ui(mpq_denref(q), mpq_denref(a), u);

    if (k < 0) {
        mpq_inv(q, q);
    }

    return ac_rat_check(c, q);
}


/* r = a^(1/k) if it is rational; a > 0 */

static int
ac_root_q(mpq_t r, mpq_t a, mpz_t k)
{
    int            ok;
    size_t         bits;
    unsigned long  n;

    if (!mpz_fits_ulong_p(k)) {
        return 0;
    }

    n = mpz_get_ui(k);
    bits = mpz_sizeinbase(mpq_numref(a), 2);

    if (mpz_sizeinbase(mpq_denref(a), 2) > bits) {
        bits = mpz_sizeinbase(mpq_denref(a), 2);
    }

    if (n > bits) {
        return 0;
    }

    ok = mpz_root(mpq_numref(r), mpq_numref(a), n);
    ok = mpz_root(mpq_denref(r), mpq_denref(a), n) && ok;

    return ok;
}


static int
ac_pow(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    int       rc, sb, integral;
    mpz_t     n;
    mpq_t     root;
    mpfr_t    x;
    ac_val_t  t;

    if (ac_step(c) != 0) {
        return -1;
    }

    if (b->kind == AC_V_RAT && mpq_sgn(b->q) == 0) {
        ac_set_si(r, 1);
        return 0;
    }

    if (a->kind == AC_V_NAN || ac_is_special(b)) {
        ac_set_nan(r);
        return 0;
    }

    sb = ac_sign(b);

    if (a->kind == AC_V_ZOO) {
        if (sb < 0) {
            ac_set_si(r, 0);

        } else if (sb > 0) {
            ac_set_zoo(r);

        } else {
            ac_set_si(r, 1);
        }

        return 0;
    }

    if (b->kind == AC_V_FLT && mpfr_zero_p(b->f)) {
        ac_set_flt_prec(r, mpfr_get_prec(b->f), ac_exact(a) && b->exact);
        mpfr_set_ui(r->f, 1, MPFR_RNDN);
        return 0;
    }

    if (ac_is_zero(a)) {
        if (sb < 0) {
            ac_set_zoo(r);
            return 0;
        }

        if (a->kind == AC_V_RAT && b->kind != AC_V_FLT) {
            ac_set_si(r, 0);
            return 0;
        }

        return ac_float_op(c, AC_OP_POW, r, a, b);
    }

    /* a is a nonzero RAT, MONO or FLT; b a nonzero RAT, MONO or FLT */

    if (b->kind == AC_V_RAT && a->kind != AC_V_FLT) {
        ac_val_init(&t);
        ac_val_copy(&t, a);
        mpz_init(n);
        mpq_init(root);
        rc = 1;

        if (ac_is_int(b)) {
            mpz_mul(n, mpq_numref(b->q), mpq_denref(b->q));

            if (ac_pow_q(c, t.q, a->q, n) != 0) {
                rc = -1;

            } else if (a->kind == AC_V_MONO) {
                mpq_set_z(root, n);
                mpq_mul(t.e, a->e, root);

                if (mpz_cmpabs_ui(n, AC_CALC_MAX_PI_POW) <= 0
                    && labs(a->pi * mpz_get_si(n)) <= AC_CALC_MAX_PI_POW
                    && ac_rat_check(c, t.e) == 0)
                {
                    t.pi = a->pi * mpz_get_si(n);
                    rc = 0;

                } else if (a->pi == 0 && ac_rat_check(c, t.e) == 0) {
                    rc = 0;
                }

            } else {
                rc = 0;
            }

        } else if (mpq_sgn(a->q) > 0) {

            /* a^(p/q): exact when the q-th root is */

            if (ac_root_q(root, a->q, mpq_denref(b->q))
                && (a->kind == AC_V_RAT
                    || a->pi % (long) mpz_get_ui(mpq_denref(b->q)) == 0))
            {
                mpz_set(n, mpq_numref(b->q));

                if (ac_pow_q(c, t.q, root, n) != 0) {
                    rc = -1;

                } else if (a->kind == AC_V_MONO) {
                    mpq_mul(t.e, a->e, b->q);
                    t.pi = a->pi / (long) mpz_get_ui(mpq_denref(b->q));

                    if (mpz_cmpabs_ui(n, AC_CALC_MAX_PI_POW) <= 0
                        && labs(t.pi * mpz_get_si(n))
                           <= AC_CALC_MAX_PI_POW
                        && ac_rat_check(c, t.e) == 0)
                    {
                        t.pi *= mpz_get_si(n);
                        rc = 0;
                    }

                } else {
                    rc = 0;
                }
            }

        } else {
            rc = ac_complex(c);
        }

        mpq_clear(root);
        mpz_clear(n);

        if (rc == 0) {
            ac_mono_norm(&t);
            ac_val_swap(r, &t);
        }

        ac_val_clear(&t);

        if (rc <= 0) {
            return rc;
        }

        if (c->failed) {
            return -1;
        }

        /* not exact: a float */
    }

    if (ac_sign(a) < 0) {
        integral = ac_is_int(b);

        if (b->kind == AC_V_FLT) {
            integral = mpfr_integer_p(b->f);
        }

        if (!integral) {
            return ac_complex(c);
        }
    }

    if (a->kind == AC_V_FLT && b->kind == AC_V_RAT && ac_is_int(b)) {
        /* Float ** Integer */

        ac_val_init(&t);
        ac_set_flt_prec(&t, mpfr_get_prec(a->f), a->exact);

        if (mpz_fits_slong_p(mpq_numref(b->q))) {
            mpfr_pow_si(t.f, a->f, mpz_get_si(mpq_numref(b->q)),
                        MPFR_RNDN);

        } else {
            mpfr_init2(x, AC_CALC_PREC_EXACT);
            mpfr_set_z(x, mpq_numref(b->q), MPFR_RNDN);
            mpfr_pow(t.f, a->f, x, MPFR_RNDN);
            mpfr_clear(x);
        }

        ac_flt_fix(&t);
        ac_val_swap(r, &t);
        ac_val_clear(&t);

        return 0;
    }

    return ac_float_op(c, AC_OP_POW, r, a, b);
}


/* functions */

/* sin(t * pi) * 2 for t = k/6, k = 0..11; 9: not rational */

static const int  ac_sin6[12] = { 0, 1, 9, 2, 9, 1, 0, -1, 9, -2, 9, -1 };

/* tan(t * pi) and cot(t * pi) for t = k/4, k = 0..3; 9: zoo */

static const int  ac_tan4[4] = { 0, 1, 9, -1 };
static const int  ac_cot4[4] = { 9, 1, 0, -1 };


/* exact sin / cos / tan / cot / sec / csc of r * pi, or 0 */

static int
ac_trig_exact(ac_calc_t *c, int id, ac_val_t *r, mpq_t m)
{
    int       k, rc, v;
    mpq_t     t, u;
    ac_val_t  one, val;

    mpq_init(t);
    mpq_init(u);

    /* t = m mod 2 */

    mpq_set_ui(u, 2, 1);
    mpq_div(t, m, u);
    ac_floor_q(t, t, 0);
    mpq_mul(t, t, u);
    mpq_sub(t, m, t);

    rc = 0;
    v = 9;

    if (id == AC_F_COS || id == AC_F_SEC) {
        mpq_set_ui(u, 1, 2);
        mpq_add(t, t, u);
    }

    if (id == AC_F_TAN || id == AC_F_COT) {
        ac_floor_q(u, t, 0);
        mpq_sub(t, t, u);
        mpq_set_ui(u, 4, 1);
        mpq_mul(t, t, u);

        if (mpz_cmp_ui(mpq_denref(t), 1) == 0) {
            k = (int) mpz_get_si(mpq_numref(t)) % 4;
            v = (id == AC_F_COT) ? ac_cot4[k] : ac_tan4[k];

            if (v == 9) {
                ac_set_zoo(r);

            } else {
                ac_set_si(r, v);
            }

            rc = 1;
        }

        goto done;
    }

    mpq_set_ui(u, 6, 1);
    mpq_mul(t, t, u);

    if (mpz_cmp_ui(mpq_denref(t), 1) == 0) {
        k = (int) mpz_get_si(mpq_numref(t)) % 12;
        v = ac_sin6[k];
    }

    if (v == 9) {
        goto done;
    }

    ac_val_init(&val);
    val.kind = AC_V_RAT;
    mpq_set_si(val.q, v, 2);
    mpq_canonicalize(val.q);

    if (id == AC_F_SEC || id == AC_F_CSC) {
        ac_val_init(&one);
        ac_set_si(&one, 1);
        ac_div(c, r, &one, &val);
        ac_val_clear(&one);

    } else {
        ac_val_swap(r, &val);
    }

    ac_val_clear(&val);
    rc = 1;

done:

    mpq_clear(t);
    mpq_clear(u);

    return rc;
}


/* exact asin / acos / atan of 0, +-1/2, +-1 as multiples of pi */

static int
ac_atrig_exact(int id, ac_val_t *r, mpq_t a)
{
    int   k;
    long  num, den;

    if (mpz_cmp_ui(mpq_denref(a), 2) > 0
        || mpz_cmpabs_ui(mpq_numref(a), 1) > 0)
    {
        return 0;
    }

    /* k: the argument times 2, -2..2 */

    k = (int) mpz_get_si(mpq_numref(a))
        * (mpz_cmp_ui(mpq_denref(a), 1) == 0 ? 2 : 1);

    switch (id) {

    case AC_F_ASIN:
        num = (k == 2) ? 1 : (k == 1) ? 1 : (k == -1) ? -1
              : (k == -2) ? -1 : 0;
        den = (k == 2 || k == -2) ? 2 : 6;
        break;

    case AC_F_ACOS:
        num = (k == 2) ? 0 : (k == 1) ? 1 : (k == 0) ? 1
              : (k == -1) ? 2 : 1;
        den = (k == 1 || k == -1) ? 3 : (k == 0) ? 2 : 1;
        break;

    default: /* AC_F_ATAN */
        if (k == 1 || k == -1) {
            return 0;
        }

        num = k / 2;
        den = 4;
        break;
    }

    if (num == 0) {
        ac_set_si(r, 0);

    } else {
        ac_set_mono(r, num, den, 1, 0);
    }

    return 1;
}


/* log(a, b): an exact integer when a == b^k */

static int
ac_log_exact(ac_calc_t *c, ac_val_t *r, ac_val_t *a, ac_val_t *b)
{
    long    k;
    mpz_t   n;
    mpq_t   p;
    mpfr_t  x, y;
    int     rc;

    if (a->kind != AC_V_RAT || b->kind != AC_V_RAT || mpq_sgn(a->q) <= 0
        || mpq_sgn(b->q) <= 0 || mpq_cmp_ui(b->q, 1, 1) == 0)
    {
        return 0;
    }

    mpfr_init2(x, 64);
    mpfr_init2(y, 64);
    mpfr_set_q(x, a->q, MPFR_RNDN);
    mpfr_set_q(y, b->q, MPFR_RNDN);
    mpfr_log(x, x, MPFR_RNDN);
    mpfr_log(y, y, MPFR_RNDN);
    mpfr_div(x, x, y, MPFR_RNDN);
    mpfr_round(x, x);

    rc = 0;

    if (mpfr_number_p(x) && mpfr_cmpabs_ui(x, AC_CALC_MAX_BITS) <= 0) {
        k = mpfr_get_si(x, MPFR_RNDN);
        mpz_init_set_si(n, k);
        mpq_init(p);

        if (ac_pow_q(c, p, b->q, n) == 0 && mpq_equal(p, a->q)) {
            ac_set_si(r, k);
            rc = 1;
        }

        /* a failed attempt is no error */
        c->failed = 0;
        c->err[0] = '\0';

        mpq_clear(p);
        mpz_clear(n);
    }

    mpfr_clear(x);
    mpfr_clear(y);

    return rc;
}


static int
ac_log(ac_calc_t *c, ac_val_t *r, ac_val_t *a)
{
    int       s;
    ac_val_t  t;

    if (ac_is_special(a)) {
        ac_set_nan(r);
        return 0;
    }

    if (ac_is_zero(a)) {
        ac_set_zoo(r);
        return 0;
    }

    s = ac_sign(a);

    if (s < 0) {
        return ac_complex(c);
    }

    if (a->kind == AC_V_RAT && mpq_cmp_ui(a->q, 1, 1) == 0) {
        ac_set_si(r, 0);
        return 0;
    }

    if (a->kind == AC_V_MONO && a->pi == 0
        && mpq_cmp_ui(a->q, 1, 1) == 0)
    {
        ac_val_init(&t);
        mpq_set(t.q, a->e);
        ac_val_swap(r, &t);
        ac_val_clear(&t);
        return 0;
    }

    ac_val_init(&t);
    ac_set_flt_prec(&t, a->kind == AC_V_FLT ? ac_prec(a)
                                            : AC_CALC_PREC_EXACT,
                    ac_exact(a));
    ac_to_mpfr(a, t.f);
    mpfr_log(t.f, t.f, MPFR_RNDN);
    ac_flt_fix(&t);
    ac_val_swap(r, &t);
    ac_val_clear(&t);

    return 0;
}


static int
ac_cmp(ac_val_t *a, ac_val_t *b)
{
    int          rc;
    mpfr_t       x, y;
    mpfr_prec_t  prec;

    if (a->kind == AC_V_RAT && b->kind == AC_V_RAT) {
        return mpq_cmp(a->q, b->q);
    }

    prec = AC_CALC_PREC_EXACT;
    prec = ac_prec(a) > prec ? ac_prec(a) : prec;
    prec = ac_prec(b) > prec ? ac_prec(b) : prec;

    mpfr_init2(x, prec);
    mpfr_init2(y, prec);
    ac_to_mpfr(a, x);
    ac_to_mpfr(b, y);
    rc = mpfr_cmp(x, y);
    mpfr_clear(x);
    mpfr_clear(y);

    return rc;
}


static int
ac_factorial(ac_calc_t *c, ac_val_t *r, ac_val_t *a, int gamma)
{
    long      n;
    ac_val_t  t;

    if (ac_is_special(a)) {
        ac_set_nan(r);
        return 0;
    }

    if (ac_is_int(a)) {
        if (gamma) {
            if (mpq_sgn(a->q) <= 0) {
                ac_set_zoo(r);
                return 0;
            }

        } else if (mpq_sgn(a->q) < 0) {
            ac_set_zoo(r);
            return 0;
        }

        if (mpz_cmp_ui(mpq_numref(a->q), AC_CALC_MAX_FACT + gamma) > 0) {
            return ac_fail(c, "result too large (factorial is limited "
                           "to arguments up to %d)", AC_CALC_MAX_FACT);
        }

        n = mpz_get_si(mpq_numref(a->q)) - gamma;

        ac_val_init(&t);
        mpz_fac_ui(mpq_numref(t.q), (unsigned long) n);
        ac_val_swap(r, &t);
        ac_val_clear(&t);

        return 0;
    }

    if (a->kind == AC_V_FLT && mpfr_integer_p(a->f)
        && (gamma ? mpfr_sgn(a->f) <= 0 : mpfr_sgn(a->f) < 0))
    {
        if (!gamma) {
            return ac_fail(c, "Invalid mathematical expression: gamma "
                           "function pole");
        }

        ac_set_zoo(r);
        return 0;
    }

    ac_val_init(&t);
    ac_set_flt_prec(&t, a->kind == AC_V_FLT ? ac_prec(a)
                                            : AC_CALC_PREC_EXACT,
                    ac_exact(a));
    ac_to_mpfr(a, t.f);

    if (!gamma) {
        mpfr_add_ui(t.f, t.f, 1, MPFR_RNDN);
    }

    if (mpfr_inf_p(t.f) && mpfr_sgn(t.f) < 0) {
        mpfr_set_nan(t.f);

    } else {
        mpfr_gamma(t.f, t.f, MPFR_RNDN);
    }

    ac_flt_fix(&t);
    ac_val_swap(r, &t);
    ac_val_clear(&t);

    return 0;
}


static int
ac_binomial(ac_calc_t *c, ac_val_t *r, ac_val_t *n, ac_val_t *k)
{
    int           rc;
    mpz_t         m;
    mpfr_t        x, y, z;
    ac_val_t      t;
    mpfr_prec_t   prec;
    unsigned long kk;

    if (ac_is_special(n) || ac_is_special(k)) {
        ac_set_nan(r);
        return 0;
    }

    if (ac_is_int(n) && ac_is_int(k)) {
        if (mpq_sgn(k->q) < 0
            || (mpq_sgn(n->q) >= 0 && mpq_cmp(k->q, n->q) > 0))
        {
            ac_set_si(r, 0);
            return 0;
        }

        /* k' = min(k, n - k) for n >= 0; the result < (|n| + k)^k' */

        mpz_init(m);

        if (mpq_sgn(n->q) >= 0) {
            mpz_sub(m, mpq_numref(n->q), mpq_numref(k->q));

            if (mpz_cmp(m, mpq_numref(k->q)) > 0) {
                mpz_set(m, mpq_numref(k->q));
            }

        } else {
            mpz_set(m, mpq_numref(k->q));
        }

        rc = -1;

        if (mpz_fits_ulong_p(m)) {
            kk = mpz_get_ui(m);
            mpz_abs(m, mpq_numref(n->q));
            mpz_add_ui(m, m, kk);

            if (kk == 0 || kk <= AC_CALC_MAX_BITS / mpz_sizeinbase(m, 2))
            {
                ac_val_init(&t);
                mpz_bin_ui(mpq_numref(t.q), mpq_numref(n->q), kk);
                ac_val_swap(r, &t);
                ac_val_clear(&t);
                rc = ac_rat_check(c, r->q);
            }
        }

        mpz_clear(m);

        return rc == 0 ? 0 : ac_too_large(c);
    }

    /* gamma(n + 1) / (gamma(k + 1) * gamma(n - k + 1)) */

    prec = AC_CALC_PREC_EXACT;
    prec = ac_prec(n) > prec ? ac_prec(n) : prec;
    prec = ac_prec(k) > prec ? ac_prec(k) : prec;

    mpfr_init2(x, prec);
    mpfr_init2(y, prec);
    mpfr_init2(z, prec);
    ac_to_mpfr(n, x);
    ac_to_mpfr(k, y);
    mpfr_sub(z, x, y, MPFR_RNDN);
    mpfr_add_ui(x, x, 1, MPFR_RNDN);
    mpfr_add_ui(y, y, 1, MPFR_RNDN);
    mpfr_add_ui(z, z, 1, MPFR_RNDN);
    mpfr_gamma(x, x, MPFR_RNDN);
    mpfr_gamma(y, y, MPFR_RNDN);
    mpfr_gamma(z, z, MPFR_RNDN);
    mpfr_mul(y, y, z, MPFR_RNDN);

    ac_val_init(&t);
    ac_set_flt_prec(&t, prec, ac_exact(n) && ac_exact(k));
    mpfr_div(t.f, x, y, MPFR_RNDN);
    ac_flt_fix(&t);
    ac_val_swap(r, &t);
    ac_val_clear(&t);

    mpfr_clear(x);
    mpfr_clear(y);
    mpfr_clear(z);

    return 0;
}


static int
ac_func(ac_calc_t *c, int id, ac_val_t *r, ac_val_t *args, int n)
{
    int          rc;
    ac_val_t     t, u, *a;
    mpfr_t       x, y;
    mpfr_prec_t  prec;

    if (ac_step(c) != 0) {
        return -1;
    }

    a = &args[0];

    switch (id) {

    case AC_F_SQRT:
    case AC_F_CBRT:
        ac_val_init(&t);
        ac_set_si(&t, 1);
        mpz_set_ui(mpq_denref(t.q), id == AC_F_SQRT ? 2 : 3);
        rc = ac_pow(c, r, a, &t);
        ac_val_clear(&t);
        return rc;

    case AC_F_EXP:
        if (ac_is_special(a)) {
            ac_set_nan(r);
            return 0;
        }

        if (a->kind == AC_V_RAT) {
            ac_val_init(&t);
            t.kind = AC_V_MONO;
            mpq_set_ui(t.q, 1, 1);
            mpq_set(t.e, a->q);
            ac_mono_norm(&t);
            ac_val_swap(r, &t);
            ac_val_clear(&t);
            return 0;
        }

        break;

    case AC_F_LOG:
        if (n == 1) {
            return ac_log(c, r, a);
        }

        /* fall through */

    case AC_F_LOG10:
        ac_val_init(&t);
        ac_val_init(&u);

        if (id == AC_F_LOG10) {
            ac_set_si(&u, 10);
            a = &args[0];

        } else {
            ac_val_copy(&u, &args[1]);
        }

        rc = 0;

        if (!ac_log_exact(c, r, a, &u)) {
            rc = ac_log(c, &t, a);

            if (rc == 0) {
                rc = ac_log(c, &u, &u);
            }

            if (rc == 0) {
                rc = ac_div(c, r, &t, &u);
            }
        }

        ac_val_clear(&t);
        ac_val_clear(&u);
        return rc;

    case AC_F_ABS:
        if (a->kind == AC_V_ZOO) {
            ac_set_flt_prec(r, AC_CALC_PREC_EXACT, 1);
            mpfr_set_inf(r->f, 1);
            return 0;
        }

        ac_val_copy(r, a);

        if (r->kind == AC_V_RAT || r->kind == AC_V_MONO) {
            mpq_abs(r->q, r->q);

        } else if (r->kind == AC_V_FLT) {
            mpfr_abs(r->f, r->f, MPFR_RNDN);
        }

        return 0;

    case AC_F_SIGN:
        if (ac_is_special(a)) {
            ac_set_nan(r);

        } else {
            ac_set_si(r, ac_sign(a));
        }

        return 0;

    case AC_F_FLOOR:
    case AC_F_CEIL:
        return ac_floor(c, r, a, id == AC_F_CEIL);

    case AC_F_FACT:
    case AC_F_GAMMA:
        return ac_factorial(c, r, a, id == AC_F_GAMMA);

    case AC_F_BINOM:
        return ac_binomial(c, r, &args[0], &args[1]);

    case AC_F_MAX:
    case AC_F_MIN:
        /* folded by the caller: args[0] is the answer */
        ac_val_copy(r, a);
        return 0;

    case AC_F_ATAN2:
        if (ac_is_special(&args[0]) || ac_is_special(&args[1])
            || (ac_is_zero(&args[0]) && ac_is_zero(&args[1])))
        {
            ac_set_nan(r);
            return 0;
        }

        prec = AC_CALC_PREC_EXACT;
        prec = ac_prec(&args[0]) > prec ? ac_prec(&args[0]) : prec;
        prec = ac_prec(&args[1]) > prec ? ac_prec(&args[1]) : prec;

        mpfr_init2(x, prec);
        mpfr_init2(y, prec);
        ac_to_mpfr(&args[0], y);
        ac_to_mpfr(&args[1], x);

        ac_val_init(&t);
        ac_set_flt_prec(&t, prec, ac_exact(&args[0])
                                  && ac_exact(&args[1]));
        mpfr_atan2(t.f, y, x, MPFR_RNDN);
        ac_flt_fix(&t);
        ac_val_swap(r, &t);
        ac_val_clear(&t);
        mpfr_clear(x);
        mpfr_clear(y);
        return 0;

    case AC_F_SIN:
    case AC_F_COS:
    case AC_F_TAN:
    case AC_F_COT:
    case AC_F_SEC:
    case AC_F_CSC:
        if (a->kind == AC_V_RAT && mpq_sgn(a->q) == 0) {
            if (ac_trig_exact(c, id, r, a->q)) {
                return c->failed ? -1 : 0;
            }
        }

        if (a->kind == AC_V_MONO && a->pi == 1 && mpq_sgn(a->e) == 0) {
            if (ac_trig_exact(c, id, r, a->q)) {
                return c->failed ? -1 : 0;
            }
        }

        break;

    case AC_F_ASIN:
    case AC_F_ACOS:
    case AC_F_ATAN:
        if (a->kind == AC_V_RAT && ac_atrig_exact(id, r, a->q)) {
            return 0;
        }

        break;

    case AC_F_SINH:
    case AC_F_TANH:
    case AC_F_ASINH:
    case AC_F_ATANH:
    case AC_F_ERF:
        if (a->kind == AC_V_RAT && mpq_sgn(a->q) == 0) {
            ac_set_si(r, 0);
            return 0;
        }

        break;

    case AC_F_COSH:
        if (a->kind == AC_V_RAT && mpq_sgn(a->q) == 0) {
            ac_set_si(r, 1);
            return 0;
        }

        break;

    case AC_F_ACOSH:
        if (a->kind == AC_V_RAT && mpq_cmp_ui(a->q, 1, 1) == 0) {
            ac_set_si(r, 0);
            return 0;
        }

        break;
    }

    /* a float function of one argument */

    if (ac_is_special(a)) {
        ac_set_nan(r);
        return 0;
    }

    prec = a->kind == AC_V_FLT ? ac_prec(a) : AC_CALC_PREC_EXACT;

    ac_val_init(&t);
    ac_set_flt_prec(&t, prec, ac_exact(a));
    mpfr_init2(x, prec);
    ac_to_mpfr(a, x);

    rc = 0;

    switch (id) {

    case AC_F_SIN:
    case AC_F_COS:
    case AC_F_TAN:
    case AC_F_COT:
    case AC_F_SEC:
    case AC_F_CSC:
        if (mpfr_inf_p(x)) {
            mpfr_set_nan(t.f);
            break;
        }

        if (!mpfr_zero_p(x) && mpfr_get_exp(x) > AC_CALC_TRIG_EXP) {
            rc = ac_fail(c, "argument too large for a trigonometric "
                         "function (limit 2^%d)", AC_CALC_TRIG_EXP);
            break;
        }

        if (mpfr_zero_p(x) && (id == AC_F_COT || id == AC_F_CSC)) {
            ac_set_zoo(&t);
            break;
        }

        switch (id) {
        case AC_F_SIN: mpfr_sin(t.f, x, MPFR_RNDN); break;
        case AC_F_COS: mpfr_cos(t.f, x, MPFR_RNDN); break;
        case AC_F_TAN: mpfr_tan(t.f, x, MPFR_RNDN); break;
        case AC_F_COT: mpfr_cot(t.f, x, MPFR_RNDN); break;
        case AC_F_SEC: mpfr_sec(t.f, x, MPFR_RNDN); break;
        default:       mpfr_csc(t.f, x, MPFR_RNDN); break;
        }

        break;

    case AC_F_ASIN:
    case AC_F_ACOS:
        if (mpfr_cmpabs_ui(x, 1) > 0) {
            rc = ac_complex(c);

        } else if (id == AC_F_ASIN) {
            mpfr_asin(t.f, x, MPFR_RNDN);

        } else {
            mpfr_acos(t.f, x, MPFR_RNDN);
        }

        break;

    case AC_F_ATAN:
        mpfr_atan(t.f, x, MPFR_RNDN);
        break;

    case AC_F_SINH:
        mpfr_sinh(t.f, x, MPFR_RNDN);
        break;

    case AC_F_COSH:
        mpfr_cosh(t.f, x, MPFR_RNDN);
        break;

    case AC_F_TANH:
        mpfr_tanh(t.f, x, MPFR_RNDN);
        break;

    case AC_F_ASINH:
        mpfr_asinh(t.f, x, MPFR_RNDN);
        break;

    case AC_F_ACOSH:
        if (mpfr_cmp_ui(x, 1) < 0) {
            rc = ac_complex(c);

        } else {
            mpfr_acosh(t.f, x, MPFR_RNDN);
        }

        break;

    case AC_F_ATANH:
        if (mpfr_cmpabs_ui(x, 1) > 0) {
            rc = ac_complex(c);

        } else {
            mpfr_atanh(t.f, x, MPFR_RNDN);
        }

        break;

    case AC_F_EXP:
        mpfr_exp(t.f, x, MPFR_RNDN);
        break;

    default: /* AC_F_ERF */
        mpfr_erf(t.f, x, MPFR_RNDN);
        break;
    }

    if (rc == 0) {
        ac_flt_fix(&t);
        ac_val_swap(r, &t);
    }

    ac_val_clear(&t);
    mpfr_clear(x);

    return rc;
}


/* the lexer: Python's tokens, as far as expressions need them */

static int
ac_is_digit(int ch, int base)
{
    switch (base) {

    case 2:
        return ch == '0' || ch == '1';

    case 8:
        return ch >= '0' && ch <= '7';

    case 16:
        return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')
               || (ch >= 'A' && ch <= 'F');

    default:
        return ch >= '0' && ch <= '9';
    }
}


static int
ac_is_alpha(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || ch == '_';
}


/* digits with single '_' between them; returns the end */

static const char *
ac_lex_digits(const char *s, const char *end, int base)
{
    if (s >= end || !ac_is_digit(*s, base)) {
        return s;
    }

    s++;

    for ( ;; ) {
        if (s < end && ac_is_digit(*s, base)) {
            s++;
            continue;
        }

        if (s + 1 < end && *s == '_' && ac_is_digit(s[1], base)) {
            s += 2;
            continue;
        }

        return s;
    }
}


static void
ac_next(ac_parser_t *p)
{
    int          ch, base;
    const char  *s, *q, *x, *end;
    ac_tok_t    *t;

    t = &p->tok;
    s = p->p;
    end = p->end;

    while (s < end && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'
                       || *s == '\f' || *s == '\v'))
    {
        s++;
    }

    t->s = s;
    t->num = AC_N_INT;
    t->base = 10;

    if (s == end) {
        t->type = AC_T_END;
        t->len = 0;
        p->p = s;
        return;
    }

    ch = (unsigned char) *s;

    if ((ch >= '0' && ch <= '9')
        || (ch == '.' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
    {
        t->type = AC_T_NUM;

        if (ch == '0' && s + 2 < end) {
            base = (s[1] == 'x' || s[1] == 'X') ? 16
                   : (s[1] == 'o' || s[1] == 'O') ? 8
                   : (s[1] == 'b' || s[1] == 'B') ? 2 : 0;

            if (base) {
                q = s + 2;

                if (q < end && *q == '_') {
                    q++;
                }

                q = ac_lex_digits(q, end, base);

                if (q > s + 2 && q[-1] != '_') {
                    t->base = base;
                    t->len = (size_t) (q - s);
                    p->p = q;
                    return;
                }
            }
        }

        q = ac_lex_digits(s, end, 10);

        if (q < end && *q == '.') {
            t->num = AC_N_FLT;
            q = ac_lex_digits(q + 1, end, 10);
        }

        if (q < end && (*q == 'e' || *q == 'E')) {
            x = q + 1;

            if (x < end && (*x == '+' || *x == '-')) {
                x++;
            }

            if (x < end && *x >= '0' && *x <= '9') {
                t->num = AC_N_FLT;
                q = ac_lex_digits(x, end, 10);
            }
        }

        if (q < end && (*q == 'j' || *q == 'J')) {
            t->num = AC_N_IMAG;
            q++;
        }

        t->len = (size_t) (q - s);
        p->p = q;
        return;
    }

    if (ac_is_alpha(ch)) {
        q = s + 1;

        while (q < end && (ac_is_alpha(*q) || (*q >= '0' && *q <= '9'))) {
            q++;
        }

        t->type = AC_T_NAME;
        t->len = (size_t) (q - s);
        p->p = q;
        return;
    }

    t->len = 1;

    switch (ch) {

    case '+':
        t->type = AC_T_PLUS;
        break;

    case '-':
        t->type = AC_T_MINUS;
        break;

    case '*':
        t->type = AC_T_STAR;

        if (s + 1 < end && s[1] == '*') {
            t->type = AC_T_POW;
            t->len = 2;
        }

        break;

    case '^':
        t->type = AC_T_POW;
        break;

    case '/':
        t->type = AC_T_SLASH;

        if (s + 1 < end && s[1] == '/') {
            t->type = AC_T_DSLASH;
            t->len = 2;
        }

        break;

    case '%':
        t->type = AC_T_PERCENT;
        break;

    case '(':
        t->type = AC_T_LPAREN;
        break;

    case ')':
        t->type = AC_T_RPAREN;
        break;

    case ',':
        t->type = AC_T_COMMA;
        break;

    case '!':
        t->type = AC_T_BANG;

        if (s + 1 < end && s[1] == '=') {
            t->type = AC_T_BAD;
        }

        break;

    default:
        t->type = AC_T_BAD;
        break;
    }

    p->p = s + t->len;
}


/* names */

static const ac_name_t *
ac_lookup(const char *s, size_t len)
{
    const ac_name_t  *n;

    for (n = ac_names; n->name; n++) {
        if (strlen(n->name) == len && memcmp(n->name, s, len) == 0) {
            return n;
        }
    }

    return NULL;
}


static int
ac_name_kind(ac_parser_t *p, const char *s, size_t len)
{
    const ac_name_t  *n;

    n = ac_lookup(s, len);

    if (n) {
        return n->kind;
    }

    if (p->use_vars && p->calc->vars && len <= AC_CALC_MAX_LEN) {
        memcpy(p->calc->name, s, len);
        p->calc->name[len] = '\0';

        if (json_object_get(p->calc->vars, p->calc->name)) {
            return AC_K_VAR;
        }
    }

    return AC_K_UNKNOWN;
}


/* a value of the variables object, as SymPy would parse str(value) */

static int
ac_var_value(ac_parser_t *p, const char *s, size_t len, ac_val_t *out)
{
    int          rc, digits, prec;
    char         buf[40];
    size_t       i;
    double       d;
    void        *it;
    json_t      *j;
    ac_var_t    *v;
    ac_calc_t   *c;
    const char  *key, *q;

    c = p->calc;

    memcpy(c->name, s, len);
    c->name[len] = '\0';

    for (i = 0; i < c->ncache; i++) {
        if (strcmp(c->cache[i].name, c->name) == 0) {
            ac_val_copy(out, &c->cache[i].v);
            return 0;
        }
    }

    j = NULL;
    key = NULL;
    it = json_object_iter_at(c->vars, c->name);

    if (it) {
        j = json_object_iter_value(it);
        key = json_object_iter_key(it);
    }

    if (j == NULL || key == NULL) {
        return ac_fail(c, "unknown name '%.64s'", c->name);
    }

    if (json_is_integer(j)) {
        mpq_set_si(out->q, (long) json_integer_value(j), 1);
        out->kind = AC_V_RAT;
        out->exact = 1;
        rc = 0;

    } else if (json_is_real(j)) {
        /* Python's str(float): the shortest repr */

        d = json_real_value(j);

        for (digits = 1; digits <= 17; digits++) {
            snprintf(buf, sizeof(buf), "%.*e", digits - 1, d);

            if (strtod(buf, NULL) == d) {
                break;
            }
        }

        prec = (int) floor(((digits > 15 ? digits : 15) + 1)
                           * 3.3219280948873626 + 0.5);
        ac_set_flt_prec(out, prec, 0);
        mpfr_set_str(out->f, buf, 10, MPFR_RNDN);
        rc = 0;

    } else if (json_is_string(j)) {
        q = json_string_value(j);

        if (json_string_length(j) > AC_CALC_MAX_LEN) {
            rc = ac_fail(c, "variable '%.64s': value too long (max %d "
                         "bytes)", key, AC_CALC_MAX_LEN);

        } else {
            rc = ac_eval_string(c, q, json_string_length(j), 0, out);

            if (rc != 0) {
                char  tmp[sizeof(c->err)];

                snprintf(tmp, sizeof(tmp), "variable '%.64s': %.300s", key,
                         c->err);
                memcpy(c->err, tmp, sizeof(c->err));
            }
        }

    } else {
        rc = ac_fail(c, "variable '%.64s' must be a number or a numeric "
                     "string", key);
    }

    if (rc != 0) {
        return rc;
    }

    v = realloc(c->cache, (c->ncache + 1) * sizeof(ac_var_t));
    if (v == NULL) {
        return ac_fail(c, "out of memory");
    }

    c->cache = v;
    v = &c->cache[c->ncache++];
    v->name = key;
    ac_val_init(&v->v);
    ac_val_copy(&v->v, out);

    return 0;
}


static int
ac_number(ac_parser_t *p, ac_tok_t *t, ac_val_t *out)
{
    int     digits, started, dot, dps, prec;
    char   *buf;
    long    exp;
    size_t  i, n;

    if (t->num == AC_N_IMAG) {
        return ac_complex(p->calc);
    }

    buf = malloc(t->len + 1);
    if (buf == NULL) {
        return ac_fail(p->calc, "out of memory");
    }

    n = 0;
    digits = 0;
    started = 0;
    dot = 0;
    exp = 0;

    for (i = (t->base == 10) ? 0 : 2; i < t->len; i++) {
        if (t->s[i] == '_') {
            continue;
        }

        buf[n++] = t->s[i];

        if (t->s[i] == '.') {
            dot = 1;

        } else if (t->s[i] == 'e' || t->s[i] == 'E') {
            started = -1;
            exp = strtol(&t->s[i + 1], NULL, 10);

        } else if (started >= 0 && t->s[i] >= '0' && t->s[i] <= '9') {
            if (t->s[i] != '0') {
                started = 1;
            }

            if (started) {
                digits++;
            }
        }
    }

    buf[n] = '\0';

    if (t->num == AC_N_INT) {
        out->kind = AC_V_RAT;
        out->exact = 1;
        mpz_set_str(mpq_numref(out->q), buf, t->base);
        mpz_set_ui(mpq_denref(out->q), 1);
        free(buf);
        return ac_rat_check(p->calc, out->q);
    }

    /*
     * SymPy's Float(str): max(15, significant digits) decimal digits;
     * without a '.', an integral value keeps all its digits ("1e30")
     */

    digits = digits ? digits : 1;

    if (!dot && exp > 0) {
        digits = (exp > AC_CALC_MAX_LEN) ? AC_CALC_MAX_LEN
                                         : digits + (int) exp;
    }

    dps = digits > 15 ? digits : 15;
    prec = (int) floor((dps + 1) * 3.3219280948873626 + 0.5);
    prec = prec > AC_CALC_PREC_MAX ? AC_CALC_PREC_MAX : prec;

    ac_set_flt_prec(out, prec, 0);
    mpfr_set_str(out->f, buf, 10, MPFR_RNDN);
    free(buf);

    return 0;
}


/* the parser: pass 1 checks syntax and names, pass 2 evaluates */

static int ac_expr(ac_parser_t *p, ac_val_t *out);


static int
ac_enter(ac_parser_t *p)
{
    if (++p->depth > AC_CALC_MAX_DEPTH) {
        return ac_fail(p->calc, "expression nested too deeply (max %d "
                       "levels)", AC_CALC_MAX_DEPTH);
    }

    return 0;
}


static int
ac_call(ac_parser_t *p, const ac_name_t *fn, const char *name,
    size_t len, ac_val_t *out)
{
    int          n, rc, fold, cmp;
    ac_val_t     args[2], tmp;
    const char  *many;

    /* the lookahead is "(" */

    ac_next(p);

    if (ac_enter(p) != 0) {
        return -1;
    }

    ac_val_init(&args[0]);
    ac_val_init(&args[1]);
    ac_val_init(&tmp);

    fold = (fn->id == AC_F_MAX || fn->id == AC_F_MIN);
    n = 0;
    rc = 0;

    while (p->tok.type != AC_T_RPAREN) {
        if (ac_expr(p, &tmp) != 0) {
            rc = -1;
            goto done;
        }

        if (!p->eval) {
            /* pass 1: syntax only */

        } else if (n == 0 || (n == 1 && !fold)) {
            ac_val_swap(&args[n], &tmp);

        } else if (fold) {
            /* Max / Min: args[0] keeps the answer so far */

            if (ac_is_special(&args[0]) || ac_is_special(&tmp)) {
                ac_set_nan(&args[0]);

            } else {
                cmp = ac_cmp(&tmp, &args[0]);

                if ((fn->id == AC_F_MAX && cmp > 0)
                    || (fn->id == AC_F_MIN && cmp < 0))
                {
                    ac_val_swap(&args[0], &tmp);
                }
            }
        }

        n++;

        if (p->tok.type == AC_T_COMMA) {
            ac_next(p);
            continue;
        }

        if (p->tok.type != AC_T_RPAREN) {
            rc = ac_syntax(p);
            goto done;
        }
    }

    ac_next(p);
    p->depth--;
    p->juxt = 1;

    if (n < fn->min || (fn->max >= 0 && n > fn->max)) {
        if (fn->min != fn->max && fn->max >= 0) {
            rc = ac_fail(p->calc, "Invalid mathematical expression: "
                         "%.*s takes from %d to %d arguments (%d given)",
                         (int) len, name, fn->min, fn->max, n);
            goto done;
        }

        many = (fn->min == fn->max) ? "exactly" : "at least";

        rc = ac_fail(p->calc, "Invalid mathematical expression: "
                     "%.*s takes %s %d argument%s (%d given)",
                     (int) len, name, many, fn->min,
                     fn->min == 1 ? "" : "s", n);
        goto done;
    }

    if (p->eval) {
        rc = ac_func(p->calc, fn->id, out, args, n);
    }

done:

    ac_val_clear(&args[0]);
    ac_val_clear(&args[1]);
    ac_val_clear(&tmp);

    return rc;
}


static int
ac_const(ac_parser_t *p, int id, ac_val_t *out)
{
    switch (id) {

    case AC_C_PI:
        ac_set_mono(out, 1, 1, 1, 0);
        return 0;

    case AC_C_E:
        ac_set_mono(out, 1, 1, 0, 1);
        return 0;

    case AC_C_I:
        return ac_complex(p->calc);

    case AC_C_OO:
        ac_set_flt_prec(out, AC_CALC_PREC_EXACT, 1);
        mpfr_set_inf(out->f, 1);
        return 0;

    case AC_C_NAN:
        ac_set_nan(out);
        return 0;

    case AC_C_ZOO:
        ac_set_zoo(out);
        return 0;

    case AC_C_TRUE:
        ac_set_si(out, 1);
        return 0;

    default:
        ac_set_si(out, 0);
        return 0;
    }
}


/* primary ['!'] */

static int
ac_primary(ac_parser_t *p, ac_val_t *out)
{
    int               kind, rc;
    size_t            len;
    ac_tok_t          t;
    const char       *s;
    const ac_name_t  *n;

    t = p->tok;
    rc = 0;

    switch (t.type) {

    case AC_T_NUM:
        ac_next(p);
        p->juxt = 1;

        if (p->eval) {
            rc = ac_number(p, &t, out);
        }

        break;

    case AC_T_NAME:
        s = t.s;
        len = t.len;
        ac_next(p);
        kind = ac_name_kind(p, s, len);
        p->juxt = 1;

        if (kind == AC_K_FUNC) {
            if (p->tok.type != AC_T_LPAREN) {
                return ac_fail(p->calc, "Invalid mathematical expression: "
                               "%.*s needs its arguments in parentheses",
                               (int) len, s);
            }

            n = ac_lookup(s, len);
            rc = ac_call(p, n, s, len, out);
            break;
        }

        if (kind == AC_K_UNKNOWN) {
            if (p->tok.type == AC_T_LPAREN) {
                return ac_fail(p->calc, "unknown function '%.*s'",
                               (int) (len > 64 ? 64 : len), s);
            }

            p->juxt = 0;

            if (p->unknown == NULL) {
                p->unknown = s;
                p->unknown_len = len;
            }

            break;
        }

        if (!p->eval) {
            break;
        }

        if (kind == AC_K_CONST) {
            rc = ac_const(p, ac_lookup(s, len)->id, out);

        } else {
            rc = ac_var_value(p, s, len, out);
        }

        break;

    case AC_T_LPAREN:
        ac_next(p);

        if (ac_enter(p) != 0) {
            return -1;
        }

        if (ac_expr(p, out) != 0) {
            return -1;
        }

        if (p->tok.type != AC_T_RPAREN) {
            return ac_syntax(p);
        }

        ac_next(p);
        p->depth--;
        p->juxt = 1;
        break;

    default:
        return ac_syntax(p);
    }

    if (rc != 0) {
        return rc;
    }

    if (p->tok.type == AC_T_BANG) {
        ac_next(p);

        if (p->tok.type == AC_T_BANG) {
            return ac_syntax(p);
        }

        p->juxt = 1;

        if (p->eval) {
            rc = ac_factorial(p->calc, out, out, 0);
        }
    }

    return rc;
}


static int ac_factor(ac_parser_t *p, ac_val_t *out);


/* primary ['**' factor] */

static int
ac_power(ac_parser_t *p, ac_val_t *out)
{
    int       rc;
    ac_val_t  e;

    if (ac_primary(p, out) != 0) {
        return -1;
    }

    if (p->tok.type != AC_T_POW) {
        return 0;
    }

    ac_next(p);

    if (ac_enter(p) != 0) {
        return -1;
    }

    ac_val_init(&e);

    rc = ac_factor(p, &e);

    if (rc == 0 && p->eval) {
        rc = ac_pow(p->calc, out, out, &e);
    }

    ac_val_clear(&e);
    p->depth--;

    return rc;
}


/* ('+' | '-') factor | power */

static int
ac_factor(ac_parser_t *p, ac_val_t *out)
{
    int  neg, rc;

    if (p->tok.type != AC_T_PLUS && p->tok.type != AC_T_MINUS) {
        return ac_power(p, out);
    }

    neg = (p->tok.type == AC_T_MINUS);
    ac_next(p);

    if (ac_enter(p) != 0) {
        return -1;
    }

    rc = ac_factor(p, out);
    p->depth--;

    if (rc == 0 && neg && p->eval) {
        rc = ac_neg(p->calc, out, out);
    }

    return rc;
}


/* may the lookahead start an implicitly multiplied factor? */

static int
ac_juxtaposed(ac_parser_t *p)
{
    if (!p->juxt) {
        return 0;
    }

    switch (p->tok.type) {

    case AC_T_NUM:
    case AC_T_LPAREN:
        return 1;

    case AC_T_NAME:
        return ac_name_kind(p, p->tok.s, p->tok.len) != AC_K_UNKNOWN;

    default:
        return 0;
    }
}


static int
ac_term(ac_parser_t *p, ac_val_t *out)
{
    int       op, rc;
    ac_val_t  b;

    if (ac_factor(p, out) != 0) {
        return -1;
    }

    ac_val_init(&b);
    rc = 0;

    for ( ;; ) {
        op = p->tok.type;

        if (op == AC_T_STAR || op == AC_T_SLASH || op == AC_T_DSLASH
            || op == AC_T_PERCENT)
        {
            ac_next(p);

        } else if (ac_juxtaposed(p)) {
            op = AC_T_STAR;

        } else {
            break;
        }

        rc = ac_factor(p, &b);

        if (rc != 0) {
            break;
        }

        if (!p->eval) {
            continue;
        }

        switch (op) {

        case AC_T_STAR:
            rc = ac_mul(p->calc, out, out, &b);
            break;

        case AC_T_SLASH:
            rc = ac_div(p->calc, out, out, &b);
            break;

        case AC_T_DSLASH:
            rc = ac_floordiv(p->calc, out, out, &b);
            break;

        default:
            rc = ac_mod(p->calc, out, out, &b);
            break;
        }

        if (rc != 0) {
            break;
        }
    }

    ac_val_clear(&b);

    return rc;
}


static int
ac_expr(ac_parser_t *p, ac_val_t *out)
{
    int       op, rc;
    ac_val_t  b;

    if (ac_term(p, out) != 0) {
        return -1;
    }

    ac_val_init(&b);
    rc = 0;

    while (p->tok.type == AC_T_PLUS || p->tok.type == AC_T_MINUS) {
        op = p->tok.type;
        ac_next(p);

        rc = ac_term(p, &b);

        if (rc != 0) {
            break;
        }

        if (p->eval) {
            rc = ac_add(p->calc, out, out, &b, op == AC_T_MINUS);

            if (rc != 0) {
                break;
            }
        }
    }

    ac_val_clear(&b);

    return rc;
}


static int
ac_run(ac_parser_t *p, ac_val_t *out)
{
    ac_next(p);

    if (ac_expr(p, out) != 0) {
        return -1;
    }

    if (p->tok.type != AC_T_END) {
        return ac_syntax(p);
    }

    return 0;
}


static int
ac_eval_string(ac_calc_t *c, const char *s, size_t len, int use_vars,
    ac_val_t *out)
{
    ac_parser_t  p;

    memset(&p, 0, sizeof(ac_parser_t));
    p.calc = c;
    p.p = s;
    p.end = s + len;
    p.use_vars = use_vars;

    if (ac_run(&p, out) != 0) {
        return -1;
    }

    if (p.unknown) {
        return ac_fail(c, "unknown name '%.*s'",
                       (int) (p.unknown_len > 64 ? 64 : p.unknown_len),
                       p.unknown);
    }

    memset(&p, 0, sizeof(ac_parser_t));
    p.calc = c;
    p.p = s;
    p.end = s + len;
    p.use_vars = use_vars;
    p.eval = 1;

    return ac_run(&p, out);
}


/* output, as format_number() prints a Python float */

static int
ac_sci_digits(double d)
{
    d = fabs(d);

    return d >= 1e20 ? 5 : d >= 1e10 ? 8 : 10;
}


static void
ac_format_double(char *buf, size_t size, double d, int precision,
    int scientific)
{
    char    tmp[64];
    char   *p, *dot;
    size_t  i, n, lead;
    double  a;

    a = fabs(d);

    if (scientific || a >= AC_CALC_SCI_THRESHOLD || (a > 0 && a < 1e-6)) {
        snprintf(buf, size, "%.*e", ac_sci_digits(d), d);
        return;
    }

    if (a >= 1e6) {
        /* "{:,.2f}" */

        n = (size_t) snprintf(tmp, sizeof(tmp), "%.2f", a);
        lead = n - 3;
        p = buf;

        if (d < 0) {
            *p++ = '-';
        }

        for (i = 0; i < lead; i++) {
            if (i > 0 && (lead - i) % 3 == 0) {
                *p++ = ',';
            }

            *p++ = tmp[i];
        }

        memcpy(p, tmp + lead, 4);
        return;
    }

    snprintf(buf, size, "%.*f", precision, d);

    dot = strchr(buf, '.');

    if (dot) {
        n = strlen(buf);

        while (n > 0 && buf[n - 1] == '0') {
            buf[--n] = '\0';
        }

        if (n > 0 && buf[n - 1] == '.') {
            buf[--n] = '\0';
        }
    }
}


static char *
ac_format(ac_calc_t *c, ac_val_t *v, int precision, int scientific)
{
    char    *s, *out;
    size_t   n;
    double   d;
    mpz_t    z;
    mpfr_t   x;
    char     buf[256];

    static const char  pfx[] = "Result: ";

    s = NULL;
    mpz_init(z);

    switch (v->kind) {

    case AC_V_ZOO:
    case AC_V_NAN:
        snprintf(buf, sizeof(buf), "nan-nanj");
        break;

    case AC_V_RAT:
        if (ac_is_int(v)) {
            mpz_set(z, mpq_numref(v->q));
            goto integer;
        }

        mpfr_init2(x, 53);
        mpfr_set_q(x, v->q, MPFR_RNDN);
        d = mpfr_get_d(x, MPFR_RNDN);
        mpfr_clear(x);
        ac_format_double(buf, sizeof(buf), d, precision, scientific);
        break;

    default: /* MONO, FLT */
        mpfr_init2(x, ac_prec(v) > 53 ? ac_prec(v) : 53);
        ac_to_mpfr(v, x);

        if (mpfr_nan_p(x)) {
            mpfr_clear(x);
            snprintf(buf, sizeof(buf), "nan-nanj");
            break;
        }

        if (mpfr_zero_p(x) || (ac_exact(v) && ac_snap(x, z))) {
            /* SymPy: a zero Float is an integer */
            if (mpfr_zero_p(x)) {
                mpz_set_ui(z, 0);
            }

            mpfr_clear(x);
            goto integer;
        }

        d = mpfr_get_d(x, MPFR_RNDN);
        mpfr_clear(x);
        ac_format_double(buf, sizeof(buf), d, precision, scientific);
        break;
    }

    n = strlen(buf);
    out = malloc(sizeof(pfx) + n);

    if (out) {
        memcpy(out, pfx, sizeof(pfx) - 1);
        memcpy(out + sizeof(pfx) - 1, buf, n + 1);
    }

    mpz_clear(z);
    return out;

integer:

    if (mpz_sizeinbase(z, 10) > AC_CALC_MAX_DIGITS + 1) {
        mpz_clear(z);
        ac_fail(c, "result too large (an integer with more than %d "
                "digits)", AC_CALC_MAX_DIGITS);
        return NULL;
    }

    n = mpz_sizeinbase(z, 10) + 2;
    out = malloc(sizeof(pfx) + n);

    if (out) {
        memcpy(out, pfx, sizeof(pfx) - 1);
        s = out + sizeof(pfx) - 1;
        mpz_get_str(s, 10, z);

        if (strlen(s) - (s[0] == '-') > AC_CALC_MAX_DIGITS) {
            free(out);
            out = NULL;
            ac_fail(c, "result too large (an integer with more than %d "
                    "digits)", AC_CALC_MAX_DIGITS);
        }

    } else {
        ac_fail(c, "out of memory");
    }

    mpz_clear(z);

    return out;
}


/* the tool */

static char *
ac_text(const char *pfx, const char *msg)
{
    char    *s;
    size_t   a, b;

    a = strlen(pfx);
    b = strlen(msg);

    s = malloc(a + b + 1);
    if (s == NULL) {
        return NULL;
    }

    memcpy(s, pfx, a);
    memcpy(s + a, msg, b + 1);

    return s;
}


static int
ac_error(char **text, const char *msg)
{
    *text = ac_text("Error: ", msg);

    return AC_CALC_ERROR;
}


static int
ac_get_bool(json_t *input, const char *name, int *out, char *err,
    size_t size)
{
    json_t  *j;

    j = json_object_get(input, name);
    *out = 0;

    if (j == NULL || json_is_null(j)) {
        return 0;
    }

    if (json_is_boolean(j)) {
        *out = json_is_true(j);
        return 0;
    }

    if (json_is_integer(j)
        && (json_integer_value(j) == 0 || json_integer_value(j) == 1))
    {
        *out = (int) json_integer_value(j);
        return 0;
    }

    snprintf(err, size, "%s must be a boolean", name);

    return -1;
}


/* "unknown function 'expand'": a function of the symbolic path */

static int
ac_cas_function(const char *err)
{
    size_t       n;
    const char  *name, **f;

    static const char  *functions[] = {
        "expand", "factor", "simplify", "diff", "Eq", "Matrix", "det",
        "transpose", "trace", "Rational", "Integer", NULL
    };

    if (strncmp(err, "unknown function '", 18) != 0) {
        return 0;
    }

    name = err + 18;
    n = strlen(name);

    if (n < 2 || name[n - 1] != '\'') {
        return 0;
    }

    for (f = functions; *f; f++) {
        if (strlen(*f) == n - 1 && strncmp(name, *f, n - 1) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
ac_calculator_cas(json_t *input, const char *mode, const char *s,
    size_t len, int precision, int force_numeric, char **text)
{
    json_t         *j;
    ac_cas_args_t   a;

    memset(&a, 0, sizeof(ac_cas_args_t));

    a.mode = mode;
    a.expr = s;
    a.len = len;
    a.precision = precision;
    a.force_numeric = force_numeric;

    j = json_object_get(input, "variables");
    a.variables = json_is_object(j) ? j : NULL;

    j = json_object_get(input, "wrt");
    if (json_is_string(j) && json_string_length(j) > 0) {
        a.wrt = json_string_value(j);
    }

    j = json_object_get(input, "point");
    if (json_is_string(j) && json_string_length(j) > 0) {
        a.point = json_string_value(j);

    } else if (j && !json_is_null(j)) {
        return ac_error(text, "point must be a string");
    }

    j = json_object_get(input, "order");
    if (json_is_integer(j)) {
        a.order = (long) json_integer_value(j);

    } else if (j && !json_is_null(j)) {
        return ac_error(text, "order must be an integer");
    }

    if (a.wrt && strlen(a.wrt) > 64) {
        return ac_error(text, "wrt must be a variable name");
    }

    if (a.point && strlen(a.point) > 256) {
        return ac_error(text, "point too long (max 256 bytes)");
    }

    if (a.order < 0 || a.order > 1000) {
        return ac_error(text, "order must be an integer from 0 to 1000");
    }

    return ac_cas_run(&a, text, &ac_stats.cas);
}


int
ac_calculator(json_t *input, char **text)
{
    int           rc, precision, scientific, force_numeric;
    char          msg[128];
    size_t        i, len;
    double        d;
    json_t       *j;
    ac_val_t      v;
    ac_calc_t    *c;
    const char   *s, *mode;

    const char   *cas_mode, *e;

    static const char  *symbolic[] = {
        "solve", "derive", "integrate", "limit", "series", "matrix", NULL
    };

    *text = NULL;
    cas_mode = NULL;
    memset(&ac_stats, 0, sizeof(ac_calc_stats_t));

    if (!json_is_object(input)) {
        return ac_error(text, "the tool input must be a JSON object");
    }

    j = json_object_get(input, "expression");

    if (j == NULL || json_is_null(j)) {
        return ac_error(text, "expression is required");
    }

    if (!json_is_string(j)) {
        return ac_error(text, "expression must be a string");
    }

    s = json_string_value(j);
    len = json_string_length(j);

    j = json_object_get(input, "mode");

    if (j && !json_is_null(j)) {
        if (!json_is_string(j)) {
            return ac_error(text, "mode must be a string");
        }

        mode = json_string_value(j);

        for (i = 0; symbolic[i]; i++) {
            if (strcmp(mode, symbolic[i]) == 0) {
                cas_mode = mode;
                break;
            }
        }

        /* "evaluate" and any other mode: evaluate, as the reference */
    }

    precision = AC_CALC_DEF_PRECISION;
    j = json_object_get(input, "precision");

    if (j && !json_is_null(j)) {
        if (json_is_integer(j)) {
            if (json_integer_value(j) < 0
                || json_integer_value(j) > AC_CALC_MAX_PRECISION)
            {
                goto bad_precision;
            }

            precision = (int) json_integer_value(j);

        } else if (json_is_real(j)) {
            d = json_real_value(j);

            if (!(d >= 0 && d <= AC_CALC_MAX_PRECISION) || d != floor(d)) {
                goto bad_precision;
            }

            precision = (int) d;

        } else {
            goto bad_precision;
        }
    }

    if (ac_get_bool(input, "scientific", &scientific, msg, sizeof(msg))
        != 0
        || ac_get_bool(input, "force_numeric", &force_numeric, msg,
                       sizeof(msg))
           != 0)
    {
        return ac_error(text, msg);
    }

    /* force_numeric: every result here is numeric already */

    (void) force_numeric;

    j = json_object_get(input, "variables");

    if (j && !json_is_null(j) && !json_is_object(j)) {
        return ac_error(text, "variables must be an object");
    }

    if (len > AC_CALC_MAX_LEN) {
        snprintf(msg, sizeof(msg), "expression too long (max %d bytes)",
                 AC_CALC_MAX_LEN);
        return ac_error(text, msg);
    }

    if (cas_mode) {
        return ac_calculator_cas(input, cas_mode, s, len, precision,
                                 force_numeric, text);
    }

    c = calloc(1, sizeof(ac_calc_t));
    if (c == NULL) {
        return AC_CALC_ERROR;
    }

    c->vars = (j && json_is_object(j)) ? j : NULL;

    ac_val_init(&v);

    rc = ac_eval_string(c, s, len, 1, &v);

    if (rc == 0) {
        *text = ac_format(c, &v, precision, scientific);
    }

    if (*text == NULL) {
        if (!c->failed) {
            ac_fail(c, "out of memory");
        }

        e = c->err;

        if (strncmp(e, "variable '", 10) == 0) {
            e = strstr(e, "': ");
            e = e ? e + 3 : c->err;
        }

        if (strncmp(e, "unknown name ", 13) == 0
            || strcmp(e, "complex results are not supported") == 0
            || ac_cas_function(e))
        {
            /* symbolic or complex: the computer algebra path */
            rc = ac_calculator_cas(input, "evaluate", s, len, precision,
                                   force_numeric, text);
            goto done;
        }

        *text = ac_text("Error: ", c->err);
        rc = AC_CALC_ERROR;

    } else {
        rc = AC_CALC_SUCCESS;
    }

done:

    ac_stats.steps = c->steps;
    ac_stats.max_bits = c->max_bits;

    ac_val_clear(&v);

    for (i = 0; i < c->ncache; i++) {
        ac_val_clear(&c->cache[i].v);
    }

    free(c->cache);
    free(c);

    return rc;

bad_precision:

    snprintf(msg, sizeof(msg), "precision must be an integer from 0 to %d",
             AC_CALC_MAX_PRECISION);

    return ac_error(text, msg);
}


void
ac_calculator_stats(ac_calc_stats_t *st)
{
    *st = ac_stats;
}
