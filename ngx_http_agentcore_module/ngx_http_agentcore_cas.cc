
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The calculator's symbolic modes on Giac (libgiac): a small C++ shim
 * behind ngx_http_agentcore_cas.h.
 *
 *   1. the expression (Python syntax, as strands_tools takes it) is
 *      parsed here into a tree; names are either a whitelisted function
 *      or constant, or a symbol (renamed "ac_<name>" for Giac), so Giac
 *      never sees a name of its own language from the client;
 *   2. the tree is checked against the work bounds (cas.h): nodes,
 *      depth, literal digits, exponents, estimated degree, orders,
 *      matrix size; then written in Giac syntax and evaluated;
 *   3. the result is converted into a small SymPy-like tree and printed
 *      with SymPy's str() rules (term order, a/b, sqrt, **, Matrix).
 */


#include <giac/config.h>
#include <giac/giac.h>

#include <gmp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ngx_http_agentcore_calculator.h"
#include "ngx_http_agentcore_cas.h"


namespace {


struct cas_error {
    std::string  msg;
    explicit cas_error(const std::string &m) : msg(m) {}
};


/* ---------------------------------------------------------------- */
/* 1. the parser                                                     */

enum {
    P_INT, P_FLT, P_NAME, P_CALL, P_BIN, P_NEG, P_LIST, P_TUPLE
};

struct pnode {
    int                  k;
    std::string          s;         /* number text, name, operator */
    std::vector<pnode>   a;
};


struct parser {
    const char  *p, *end;
    int          depth;

    void ws() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'
                           || *p == '\r'))
        {
            p++;
        }
    }

    [[noreturn]] void syntax() {
        throw cas_error("Invalid mathematical expression: invalid syntax");
    }

    bool eat(const char *t) {
        size_t n = strlen(t);
        ws();
        if ((size_t) (end - p) >= n && memcmp(p, t, n) == 0) {
            /* "*" must not eat the first star of "**", "/" of "//" */
            if (n == 1 && (t[0] == '*' || t[0] == '/') && p + 1 < end
                && p[1] == t[0])
            {
                return false;
            }
            p += n;
            return true;
        }
        return false;
    }

    void enter() {
        if (++depth > AC_CAS_MAX_DEPTH) {
            throw cas_error("Evaluation error: expression nested too deeply");
        }
    }

    pnode top() {
        pnode n = expr();
        if (eat(",")) {
            pnode t;
            t.k = P_TUPLE;
            t.a.push_back(n);
            do {
                ws();
                if (p == end) {
                    break;
                }
                t.a.push_back(expr());
            } while (eat(","));
            n = t;
        }
        ws();
        if (p != end) {
            syntax();
        }
        return n;
    }

    pnode bin(const char *op, pnode l, pnode r) {
        pnode n;
        n.k = P_BIN;
        n.s = op;
        n.a.push_back(l);
        n.a.push_back(r);
        return n;
    }

    pnode expr() {
        enter();
        pnode n = term();
        for ( ;; ) {
            if (eat("+")) {
                n = bin("+", n, term());
            } else if (eat("-")) {
                n = bin("-", n, term());
            } else {
                break;
            }
        }
        depth--;
        return n;
    }

    pnode term() {
        pnode n = unary();
        for ( ;; ) {
            if (eat("*")) {
                n = bin("*", n, unary());
            } else if (eat("//")) {
                n = bin("//", n, unary());
            } else if (eat("/")) {
                n = bin("/", n, unary());
            } else if (eat("%")) {
                n = bin("%", n, unary());
            } else {
                break;
            }
        }
        return n;
    }

    pnode unary() {
        enter();
        pnode n;
        if (eat("-")) {
            n.k = P_NEG;
            n.a.push_back(unary());
        } else if (eat("+")) {
            n = unary();
        } else {
            n = power();
        }
        depth--;
        return n;
    }

    pnode power() {
        pnode n = atom();
        if (eat("**") || eat("^")) {
            n = bin("**", n, unary());
        }
        return n;
    }

    pnode atom() {
        pnode n;
        ws();
        if (p == end) {
            syntax();
        }
        if ((*p >= '0' && *p <= '9') || (*p == '.' && p + 1 < end
                                         && p[1] >= '0' && p[1] <= '9'))
        {
            const char *s = p;
            bool flt = false;
            while (p < end && ((*p >= '0' && *p <= '9') || *p == '_')) p++;
            if (p < end && *p == '.') {
                flt = true;
                p++;
                while (p < end && *p >= '0' && *p <= '9') p++;
            }
            if (p < end && (*p == 'e' || *p == 'E')) {
                const char *q = p + 1;
                if (q < end && (*q == '+' || *q == '-')) q++;
                if (q < end && *q >= '0' && *q <= '9') {
                    flt = true;
                    p = q;
                    while (p < end && *p >= '0' && *p <= '9') p++;
                }
            }
            bool imag = false;
            if (p < end && (*p == 'j' || *p == 'J')) {
                imag = true;
                p++;
            }
            if (p < end && (isalnum((unsigned char) *p) || *p == '_')) {
                syntax();
            }
            n.k = flt ? P_FLT : P_INT;
            for ( ; s < p; s++) {
                if (*s != '_' && *s != 'j' && *s != 'J') n.s += *s;
            }
            if (imag) {
                /* Python's 1.5j */
                pnode i;
                i.k = P_NAME;
                i.s = "I";
                n = bin("*", n, i);
            }
            return n;
        }
        if (isalpha((unsigned char) *p) || *p == '_') {
            const char *s = p;
            while (p < end && (isalnum((unsigned char) *p) || *p == '_')) p++;
            n.k = P_NAME;
            n.s.assign(s, p - s);
            if (eat("(")) {
                n.k = P_CALL;
                if (!eat(")")) {
                    do {
                        ws();
                        if (p < end && *p == ')') break;
                        n.a.push_back(expr());
                    } while (eat(","));
                    if (!eat(")")) syntax();
                }
            }
            return n;
        }
        if (eat("(")) {
            n = expr();
            if (eat(",")) {
                pnode t;
                t.k = P_TUPLE;
                t.a.push_back(n);
                do {
                    ws();
                    if (p < end && *p == ')') break;
                    t.a.push_back(expr());
                } while (eat(","));
                n = t;
            }
            if (!eat(")")) syntax();
            return n;
        }
        if (eat("[")) {
            n.k = P_LIST;
            if (!eat("]")) {
                do {
                    ws();
                    if (p < end && *p == ']') break;
                    n.a.push_back(expr());
                } while (eat(","));
                if (!eat("]")) syntax();
            }
            return n;
        }
        syntax();
    }
};


/* ---------------------------------------------------------------- */
/* 2. bounds and the translation into Giac's syntax                  */

struct fmap { const char *py; const char *giac; int nargs; };

static const fmap  functions[] = {
    { "sin", "sin", 1 }, { "cos", "cos", 1 }, { "tan", "tan", 1 },
    { "cot", "cot", 1 }, { "sec", "sec", 1 }, { "csc", "csc", 1 },
    { "asin", "asin", 1 }, { "acos", "acos", 1 }, { "atan", "atan", 1 },
    { "sinh", "sinh", 1 }, { "cosh", "cosh", 1 }, { "tanh", "tanh", 1 },
    { "asinh", "asinh", 1 }, { "acosh", "acosh", 1 },
    { "atanh", "atanh", 1 },
    { "exp", "exp", 1 }, { "log", "ln", 1 }, { "ln", "ln", 1 },
    { "sqrt", "sqrt", 1 }, { "Abs", "abs", 1 }, { "abs", "abs", 1 },
    { "sign", "sign", 1 }, { "factorial", "factorial", 1 },
    { "binomial", "comb", 2 }, { "floor", "floor", 1 },
    { "ceiling", "ceil", 1 }, { "gamma", "Gamma", 1 }, { "erf", "erf", 1 },
    { "Max", "max", -1 }, { "Min", "min", -1 }, { "max", "max", -1 },
    { "min", "min", -1 }, { "det", "det", 1 }, { "transpose", "tran", 1 },
    { "trace", "trace", 1 }, { "expand", "expand", 1 },
    { "factor", "factor", 1 }, { "simplify", "simplify", 1 },
    { "Integer", "", 1 },
    { NULL, NULL, 0 }
};


static bool
is_symbol_name(const std::string &s)
{
    for (const fmap *f = functions; f->py; f++) {
        if (s == f->py) return false;
    }
    static const char *other[] = {
        "pi", "e", "E", "I", "oo", "inf", "nan", "zoo", "true", "false",
        "True", "False", "cbrt", "Eq", "Matrix", "Rational", "Float",
        "Symbol", "symbols", "N", "solve", "collect", "cancel", "apart",
        "together", "limit", "diff", "integrate", "series", "Sum",
        "Product", "atan2", "zeta", NULL
    };
    for (const char **o = other; *o; o++) {
        if (s == *o) return false;
    }
    return true;
}


struct checker {
    size_t  nodes = 0;
    bool    symbolic_matrix = false;

    /* an upper bound of |value| of a numeric subtree, -1: symbolic */
    double magnitude(const pnode &n) {
        switch (n.k) {
        case P_INT:
        case P_FLT:
            return fabs(strtod(n.s.c_str(), NULL));
        case P_NAME:
            if (n.s == "pi" || n.s == "e" || n.s == "E") return 4;
            if (n.s == "I") return 1;
            return -1;
        case P_NEG:
            return magnitude(n.a[0]);
        case P_BIN: {
            double l = magnitude(n.a[0]), r = magnitude(n.a[1]);
            if (l < 0 || r < 0) return -1;
            if (n.s == "+" || n.s == "-") return l + r;
            if (n.s == "*") return l * r;
            if (n.s == "**") {
                if (r > 4096) return HUGE_VAL;
                return pow(l < 2 ? 2 : l, r);
            }
            return l;       /* "/" "//" "%": no larger than |l| / 1 */
        }
        default:
            return -1;
        }
    }

    /* estimated polynomial degree */
    double degree(const pnode &n) {
        switch (n.k) {
        case P_NAME:
            return is_symbol_name(n.s) ? 1 : 0;
        case P_NEG:
            return degree(n.a[0]);
        case P_BIN: {
            double l = degree(n.a[0]), r = degree(n.a[1]);
            if (n.s == "+" || n.s == "-") return std::max(l, r);
            if (n.s == "**") {
                double m = magnitude(n.a[1]);
                return (m < 0) ? l + r : l * m + r;
            }
            return l + r;
        }
        default: {
            double d = 0;
            for (const pnode &c : n.a) d = std::max(d, degree(c));
            return d;
        }
        }
    }

    /* nesting of exponentials: exp(u), or a**u with a symbolic u */
    size_t  exps = 0;
    size_t  sym_pows = 0;

    size_t exp_depth(const pnode &n) {
        size_t d = 0;
        for (const pnode &c : n.a) d = std::max(d, exp_depth(c));
        if ((n.k == P_BIN && n.s == "**" && magnitude(n.a[1]) < 0)
            || (n.k == P_CALL && n.s == "exp"))
        {
            if (n.k == P_BIN) sym_pows++;
            exps++;
            d++;
        }
        return d;
    }

    void walk(const pnode &n) {
        if (++nodes > AC_CAS_MAX_NODES) {
            throw cas_error("Evaluation error: expression too large");
        }
        if (n.k == P_BIN && n.s == "**" && symbolic_matrix
            && magnitude(n.a[1]) > AC_CAS_MAX_SYM_MATRIX_POW)
        {
            throw cas_error("Evaluation error: exponent too large for a "
                            "Matrix with symbols");
        }
        if (n.k == P_INT && n.s.size() > AC_CAS_MAX_DIGITS) {
            throw cas_error("Evaluation error: number too large");
        }
        if (n.k == P_BIN && n.s == "**") {
            double m = magnitude(n.a[1]);
            if (m > AC_CAS_MAX_EXPONENT) {
                throw cas_error("Evaluation error: exponent too large");
            }
        }
        if (n.k == P_CALL && n.s == "factorial") {
            double m = n.a.empty() ? 0 : magnitude(n.a[0]);
            if (m > AC_CAS_MAX_FACT) {
                throw cas_error("Evaluation error: factorial argument too "
                                "large");
            }
        }
        if (n.k == P_CALL && n.s == "Matrix" && degree(n) > 0) {
            /* a symbolic determinant of n rows has n! terms */
            symbolic_matrix = true;
            if (n.a.size() != 1 || n.a[0].k != P_LIST
                || n.a[0].a.size() > AC_CAS_MAX_SYM_MATRIX)
            {
                throw cas_error("Evaluation error: a Matrix with symbols "
                                "takes at most "
                                + std::to_string(AC_CAS_MAX_SYM_MATRIX)
                                + " rows");
            }
            for (const pnode &r : n.a[0].a) {
                if (r.k == P_LIST && r.a.size() > AC_CAS_MAX_SYM_MATRIX) {
                    throw cas_error("Evaluation error: a Matrix with "
                                    "symbols takes at most "
                                    + std::to_string(AC_CAS_MAX_SYM_MATRIX)
                                    + " columns");
                }
            }
        }
        if (n.k == P_CALL && n.s == "Matrix") {
            if (n.a.size() != 1 || n.a[0].k != P_LIST
                || n.a[0].a.size() > AC_CAS_MAX_MATRIX)
            {
                throw cas_error("Evaluation error: a Matrix takes one list of "
                                "at most 8 rows");
            }
            for (const pnode &r : n.a[0].a) {
                if (r.k == P_LIST && r.a.size() > AC_CAS_MAX_MATRIX) {
                    throw cas_error("Evaluation error: a Matrix takes at most "
                                    "8 columns");
                }
            }
        }
        for (const pnode &c : n.a) walk(c);
    }
};


/*
 * Giac keeps every identifier it has seen for the life of the process:
 * the client's names are numbered per call (ac_0, ac_1, ...), so that
 * the table holds at most AC_CAS_MAX_NODES of ours, whatever the names
 */
static std::vector<std::string>  *ac_names;     /* of the current call */


static bool
has_symbolic_matrix(checker &ck, const pnode &n)
{
    if (n.k == P_CALL && n.s == "Matrix" && ck.degree(n) > 0) return true;
    for (const pnode &c : n.a) {
        if (has_symbolic_matrix(ck, c)) return true;
    }
    return false;
}


struct translator {
    std::vector<std::string>  symbols;     /* sorted, unique */
    std::vector<std::string>  ids;         /* in order of appearance */

    std::string symbol(const std::string &s) {
        if (std::find(symbols.begin(), symbols.end(), s) == symbols.end()) {
            symbols.push_back(s);
            std::sort(symbols.begin(), symbols.end());
        }
        size_t i = std::find(ids.begin(), ids.end(), s) - ids.begin();
        if (i == ids.size()) {
            ids.push_back(s);
        }
        return "ac_" + std::to_string(i);
    }

    [[noreturn]] void unsupported(const std::string &name) {
        throw cas_error("Evaluation error: '" + name + "' is not supported "
                        "by this calculator");
    }

    std::string go(const pnode &n) {
        switch (n.k) {
        case P_INT:
            return n.s;
        case P_FLT:
            return n.s;
        case P_NAME:
            if (n.s == "pi") return "pi";
            if (n.s == "e" || n.s == "E") return "exp(1)";
            if (n.s == "I") return "i";
            if (n.s == "oo" || n.s == "inf") return "(+infinity)";
            if (n.s == "zoo") return "infinity";
            if (n.s == "nan") return "undef";
            if (n.s == "True" || n.s == "true") return "1";
            if (n.s == "False" || n.s == "false") return "0";
            if (!is_symbol_name(n.s)) unsupported(n.s);
            return symbol(n.s);
        case P_NEG:
            return "(-(" + go(n.a[0]) + "))";
        case P_BIN: {
            std::string l = go(n.a[0]), r = go(n.a[1]);
            if (n.s == "**") return "((" + l + ")^(" + r + "))";
            if (n.s == "//") return "floor((" + l + ")/(" + r + "))";
            if (n.s == "%") unsupported("%");
            return "((" + l + ")" + n.s + "(" + r + "))";
        }
        case P_LIST:
        case P_TUPLE: {
            std::string s = "[";
            for (size_t i = 0; i < n.a.size(); i++) {
                if (i) s += ",";
                s += go(n.a[i]);
            }
            return s + "]";
        }
        case P_CALL:
            break;
        }

        /* calls */
        if (n.s == "Matrix") {
            const pnode &rows = n.a[0];
            bool column = true;
            for (const pnode &r : rows.a) {
                if (r.k == P_LIST) column = false;
            }
            std::string s = "matrix(" + std::to_string(column ? rows.a.size()
                                                       : rows.a.size())
                            + ",";
            size_t cols = column ? 1 : (rows.a.empty() ? 0
                                        : rows.a[0].a.size());
            s += std::to_string(cols) + ",[";
            for (size_t i = 0; i < rows.a.size(); i++) {
                if (i) s += ",";
                if (column) {
                    s += "[" + go(rows.a[i]) + "]";
                } else {
                    if (rows.a[i].k != P_LIST || rows.a[i].a.size() != cols) {
                        throw cas_error("Evaluation error: Matrix rows must "
                                        "have the same length");
                    }
                    s += go(rows.a[i]);
                }
            }
            return s + "])";
        }
        if (n.s == "cbrt" && n.a.size() == 1) {
            return "((" + go(n.a[0]) + ")^(1/3))";
        }
        if (n.s == "Rational" && n.a.size() == 2) {
            return "((" + go(n.a[0]) + ")/(" + go(n.a[1]) + "))";
        }
        if (n.s == "Eq" && n.a.size() == 2) {
            return "((" + go(n.a[0]) + ")-(" + go(n.a[1]) + "))";
        }
        if (n.s == "diff" && n.a.size() == 2 && n.a[1].k == P_NAME) {
            return "diff(" + go(n.a[0]) + "," + go(n.a[1]) + ")";
        }
        for (const fmap *f = functions; f->py; f++) {
            if (n.s != f->py) continue;
            if (f->nargs >= 0 && (int) n.a.size() != f->nargs) {
                throw cas_error("Evaluation error: " + n.s + " takes "
                                + std::to_string(f->nargs) + " argument"
                                + (f->nargs == 1 ? "" : "s"));
            }
            if (f->nargs < 0 && n.a.empty()) {
                throw cas_error("Evaluation error: " + n.s + " needs "
                                "arguments");
            }
            std::string s = std::string(f->giac) + "(";
            for (size_t i = 0; i < n.a.size(); i++) {
                if (i) s += ",";
                s += go(n.a[i]);
            }
            return s + ")";
        }
        unsupported(n.s);
    }
};


/* ---------------------------------------------------------------- */
/* 3. SymPy's printing                                               */

enum {
    O_NUM,          /* rational q */
    O_FLT,          /* double f */
    O_SYM,          /* s */
    O_CONST,        /* s: E pi I oo -oo zoo nan */
    O_ADD,
    O_MUL,
    O_POW,          /* a[0] ** a[1] */
    O_FN,           /* s(a...) */
    O_MATRIX,       /* rows of O_LIST */
    O_LIST,
    O_ORDER         /* O(a[0]) */
};


struct onode {
    int                  k;
    std::string          s;
    giac::gen            q;         /* O_NUM: an integer or a fraction */
    double               f = 0;
    std::vector<onode>   a;
};


}   /* namespace */


namespace {


static giac::context  *ac_ctx;

static bool
onum_is(const onode &n, long v)
{
    return n.k == O_NUM && n.q == giac::gen(v);
}


static bool
onum_neg(const onode &n)
{
    return n.k == O_NUM && giac::is_strictly_positive(-n.q, ac_ctx);
}


static onode
mk_num(const giac::gen &q)
{
    onode n;
    n.k = O_NUM;
    n.q = q;
    return n;
}


static onode
mk(int k, const std::string &s = "")
{
    onode n;
    n.k = k;
    n.s = s;
    return n;
}


struct converter {
    size_t  count = 0;
    bool    log_abs = false;    /* log(Abs(u)) -> log(u), as SymPy's
                                   integrate writes it */

    [[noreturn]] void cannot() {
        throw cas_error("Evaluation error: the result cannot be printed");
    }

    onode go(const giac::gen &g) {
        if (++count > AC_CAS_MAX_RESULT) {
            throw cas_error("Evaluation error: result too large");
        }

        switch (g.type) {
        case giac::_INT_:
        case giac::_ZINT:
        case giac::_FRAC:
            return mk_num(g);
        case giac::_DOUBLE_: {
            onode n = mk(O_FLT);
            n.f = g._DOUBLE_val;
            return n;
        }
        case giac::_CPLX: {
            onode n = mk(O_ADD);
            onode im = mk(O_MUL);
            im.a.push_back(go(g._CPLXptr[1]));
            im.a.push_back(mk(O_CONST, "I"));
            n.a.push_back(go(g._CPLXptr[0]));
            n.a.push_back(im);
            return n;
        }
        case giac::_IDNT: {
            std::string s = g._IDNTptr->id_name;
            if (s.compare(0, 3, "ac_") == 0) {
                size_t i = strtoul(s.c_str() + 3, NULL, 10);
                if (ac_names == NULL || i >= ac_names->size()) cannot();
                return mk(O_SYM, (*ac_names)[i]);
            }
            if (s == "pi") return mk(O_CONST, "pi");
            if (s == "infinity") return mk(O_CONST, "zoo");
            if (s == "undef") return mk(O_CONST, "nan");
            cannot();
        }
        case giac::_VECT: {
            onode n = mk(g.subtype == giac::_MATRIX__VECT ? O_MATRIX
                                                          : O_LIST);
            for (const giac::gen &x : *g._VECTptr) n.a.push_back(go(x));
            return n;
        }
        case giac::_SYMB:
            break;
        default:
            cannot();
        }

        std::string op = g._SYMBptr->sommet.ptr()->s;
        const giac::gen &f = g._SYMBptr->feuille;
        std::vector<onode> args;

        if (f.type == giac::_VECT
            && (f.subtype == giac::_SEQ__VECT || op == "+" || op == "*"))
        {
            for (const giac::gen &x : *f._VECTptr) args.push_back(go(x));
        } else {
            args.push_back(go(f));
        }

        if (op == "+") {
            if (args.size() == 1 && args[0].k == O_CONST
                && args[0].s == "zoo")
            {
                return mk(O_CONST, "oo");
            }
            onode n = mk(O_ADD);
            n.a = args;
            return n;
        }
        if (op == "*") {
            onode n = mk(O_MUL);
            n.a = args;
            return n;
        }
        if (op == "-" && args.size() == 1) {
            if (args[0].k == O_CONST && args[0].s == "zoo") {
                return mk(O_CONST, "-oo");
            }
            onode n = mk(O_MUL);
            n.a.push_back(mk_num(giac::gen(-1)));
            n.a.push_back(args[0]);
            return n;
        }
        if (op == "inv" && args.size() == 1) {
            onode n = mk(O_POW);
            n.a.push_back(args[0]);
            n.a.push_back(mk_num(giac::gen(-1)));
            return n;
        }
        if (op == "^" && args.size() == 2) {
            onode n = mk(O_POW);
            n.a = args;
            return n;
        }
        if (op == "sqrt" && args.size() == 1) {
            onode n = mk(O_POW);
            n.a.push_back(args[0]);
            n.a.push_back(mk_num(giac::fraction(1, 2)));
            return n;
        }
        if (op == "exp" && args.size() == 1 && onum_is(args[0], 1)) {
            return mk(O_CONST, "E");
        }
        if (op == "order_size") {
            onode n = mk(O_ORDER);
            n.a = args;
            return n;
        }

        static const char *names[][2] = {
            { "ln", "log" }, { "abs", "Abs" }, { "Gamma", "gamma" },
            { "ceil", "ceiling" }, { "comb", "binomial" },
            { "max", "Max" }, { "min", "Min" },
            { NULL, NULL }
        };
        static const char *same[] = {
            "sin", "cos", "tan", "cot", "sec", "csc", "asin", "acos",
            "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
            "exp", "sign", "floor", "factorial", "erf", NULL
        };

        if (op == "Psi" && (args.size() == 1 || args.size() == 2)) {
            /* digamma and its derivatives: SymPy's polygamma(n, x) */
            onode n = mk(O_FN, "polygamma");
            n.a.push_back(args.size() == 2 ? args[1]
                                           : mk_num(giac::gen(0)));
            n.a.push_back(args[0]);
            return n;
        }

        if (log_abs && op == "ln" && args.size() == 1
            && args[0].k == O_FN && args[0].s == "Abs")
        {
            onode n = mk(O_FN, "log");
            n.a = args[0].a;
            return n;
        }

        for (size_t i = 0; names[i][0]; i++) {
            if (op == names[i][0]) {
                onode n = mk(O_FN, names[i][1]);
                n.a = args;
                return n;
            }
        }
        for (size_t i = 0; same[i]; i++) {
            if (op == same[i]) {
                onode n = mk(O_FN, op);
                n.a = args;
                return n;
            }
        }
        throw cas_error("Evaluation error: the result uses '" + op
                        + "', which this calculator cannot print");
    }
};


/* ------------------------------------------------ normal form ---- */

static onode norm(const onode &n);
static int ocmp(const onode &a, const onode &b);
static std::string pr(const onode &n, int level);

static onode
mul_of(const giac::gen &c, std::vector<onode> f)
{
    if (c == giac::gen(0)) return mk_num(c);
    if (f.empty()) return mk_num(c);
    if (c == giac::gen(1) && f.size() == 1) return f[0];
    onode n = mk(O_MUL);
    if (c != giac::gen(1)) n.a.push_back(mk_num(c));
    for (onode &x : f) n.a.push_back(x);
    return n;
}


/* splits a term into its rational coefficient and the other factors */
static void
split_coeff(const onode &t, giac::gen &c, std::vector<onode> &f)
{
    c = giac::gen(1);
    f.clear();
    if (t.k == O_NUM) {
        c = t.q;
        return;
    }
    if (t.k == O_FLT) {
        c = giac::gen(t.f);
        return;
    }
    if (t.k == O_MUL) {
        for (const onode &x : t.a) {
            if (x.k == O_NUM) {
                c = c * x.q;
            } else if (x.k == O_FLT) {
                c = c * giac::gen(x.f);
            } else {
                f.push_back(x);
            }
        }
        return;
    }
    f.push_back(t);
}


/* base and exponent of a factor: x**e, or (x, 1) */
static void
base_exp(const onode &t, onode &b, onode &e)
{
    if (t.k == O_POW) {
        b = t.a[0];
        e = t.a[1];
        return;
    }
    b = t;
    e = mk_num(giac::gen(1));
}


static onode
norm(const onode &n)
{
    onode r = n;
    for (onode &x : r.a) x = norm(x);

    if (r.k == O_MUL) {
        giac::gen c(1);
        std::vector<onode> f;
        for (const onode &x : r.a) {
            if (x.k == O_NUM) {
                c = c * x.q;
            } else if (x.k == O_MUL) {
                for (const onode &y : x.a) {
                    if (y.k == O_NUM) c = c * y.q; else f.push_back(y);
                }
            } else {
                f.push_back(x);
            }
        }
        /* a number over a sum in the denominator: 1/(2*x) → (2*x)**-1 */
        std::vector<onode> g;
        for (onode &x : f) {
            if (x.k == O_POW && x.a[0].k == O_MUL && x.a[1].k == O_NUM
                && x.a[1].q.type == giac::_INT_)
            {
                /* (c*y)**n → c**n * y**n */
                giac::gen cc;
                std::vector<onode> ff;
                split_coeff(x.a[0], cc, ff);
                c = c * giac::pow(cc, x.a[1].q, ac_ctx);
                for (onode &y : ff) {
                    onode p = mk(O_POW);
                    p.a.push_back(y);
                    p.a.push_back(x.a[1]);
                    g.push_back(norm(p));
                }
            } else {
                g.push_back(x);
            }
        }
        /* x * x**2 -> x**3, y**a * y**a -> y**(2*a) (as SymPy) */
        std::vector<onode> h;
        for (const onode &x : g) {
            onode b, e;
            base_exp(x, b, e);
            bool merged = false;
            for (onode &y : h) {
                onode yb, ye;
                base_exp(y, yb, ye);
                if ((ye.k == O_NUM) != (e.k == O_NUM) || yb.k == O_NUM
                    || ocmp(yb, b) != 0 || pr(yb, 0) != pr(b, 0))
                {
                    continue;
                }
                onode p = mk(O_POW);
                p.a.push_back(yb);
                if (e.k == O_NUM) {
                    p.a.push_back(mk_num(ye.q + e.q));
                } else {
                    onode sum = mk(O_ADD);
                    sum.a.push_back(ye);
                    sum.a.push_back(e);
                    p.a.push_back(norm(sum));
                }
                y = p;
                merged = true;
                break;
            }
            if (!merged) h.push_back(x);
        }
        g.clear();
        for (onode &x : h) {
            if (x.k == O_POW && onum_is(x.a[1], 0)) continue;
            x = (x.k == O_POW && onum_is(x.a[1], 1)) ? x.a[0] : x;
            g.push_back(x);
        }
        std::sort(g.begin(), g.end(),
                  [](const onode &a, const onode &b) {
                      return ocmp(a, b) < 0;
                  });
        /* 2*(x + 1) -> 2*x + 2 (a number times a sum distributes) */
        if (g.size() == 1 && g[0].k == O_ADD && c.type != giac::_DOUBLE_
            && c != giac::gen(1))
        {
            onode sum = mk(O_ADD);
            for (const onode &t : g[0].a) {
                onode m = mk(O_MUL);
                m.a.push_back(mk_num(c));
                m.a.push_back(t);
                sum.a.push_back(norm(m));
            }
            return norm(sum);
        }
        return mul_of(c, g);
    }

    if (r.k == O_ADD) {
        onode s = mk(O_ADD);
        giac::gen c(0);
        for (const onode &x : r.a) {
            if (x.k == O_NUM) {
                c = c + x.q;
            } else if (x.k == O_ADD) {
                for (const onode &y : x.a) {
                    if (y.k == O_NUM) c = c + y.q; else s.a.push_back(y);
                }
            } else {
                s.a.push_back(x);
            }
        }
        /* like terms: cos(x) + cos(x) -> 2*cos(x) */
        std::vector<std::string> keys;
        std::vector<giac::gen> coeffs;
        std::vector<std::vector<onode>> rests;
        for (const onode &t : s.a) {
            giac::gen tc;
            std::vector<onode> f;
            split_coeff(t, tc, f);
            std::string k = (t.k == O_ORDER) ? t.s
                            : pr(mul_of(giac::gen(1), f), 0);
            size_t i = std::find(keys.begin(), keys.end(), k) - keys.begin();
            if (i == keys.size() || t.k == O_ORDER || tc.type == giac::_DOUBLE_
                || coeffs[i].type == giac::_DOUBLE_)
            {
                keys.push_back(t.k == O_ORDER ? "\x01" + k : k);
                coeffs.push_back(tc);
                rests.push_back(t.k == O_ORDER ? std::vector<onode>{ t } : f);
            } else {
                coeffs[i] = coeffs[i] + tc;
            }
        }
        onode m = mk(O_ADD);
        for (size_t i = 0; i < keys.size(); i++) {
            if (rests[i].size() == 1 && rests[i][0].k == O_ORDER) {
                m.a.push_back(rests[i][0]);
            } else if (coeffs[i] != giac::gen(0)) {
                m.a.push_back(norm(mul_of(coeffs[i], rests[i])));
            }
        }
        if (c != giac::gen(0)) m.a.push_back(mk_num(c));
        if (m.a.empty()) return mk_num(giac::gen(0));
        if (m.a.size() == 1) return m.a[0];
        return m;
    }

    if (r.k == O_POW) {
        if (onum_is(r.a[1], 1)) return r.a[0];
        if (r.a[0].k == O_NUM && r.a[1].k == O_NUM
            && r.a[1].q.type == giac::_INT_)
        {
            return mk_num(giac::pow(r.a[0].q, r.a[1].q, ac_ctx));
        }
        if (r.a[0].k == O_CONST && r.a[0].s == "E") {
            onode e = mk(O_FN, "exp");
            e.a.push_back(r.a[1]);
            return e;
        }
        if (r.a[0].k == O_POW && r.a[1].k == O_NUM
            && r.a[0].a[1].k == O_NUM
            && r.a[1].q.type == giac::_INT_)
        {
            onode p = mk(O_POW);
            p.a.push_back(r.a[0].a[0]);
            p.a.push_back(mk_num(r.a[0].a[1].q * r.a[1].q));
            return norm(p);
        }
    }

    return r;
}


/* ------------------------------------------------ sort keys ---- */

static const char *
class_name(const onode &n, int &c1, int &c2)
{
    static const struct { const char *n; int i; } funcs[] = {
        { "exp", 10 }, { "log", 11 }, { "sin", 20 }, { "cos", 21 },
        { "tan", 22 }, { "cot", 23 }, { "sinh", 30 }, { "cosh", 31 },
        { "tanh", 32 }, { "coth", 33 }, { NULL, 0 }
    };
    switch (n.k) {
    case O_NUM:
    case O_FLT:
        c1 = 1; c2 = 0; return "Number";
    case O_SYM:
        c1 = 2; c2 = 0; return "Symbol";
    case O_CONST:
        c1 = 2; c2 = 0; return n.s.c_str();
    case O_MUL:
        c1 = 3; c2 = 0; return "Mul";
    case O_ADD:
        c1 = 3; c2 = 1; return "Add";
    case O_POW:
        c1 = 3; c2 = 2; return "Pow";
    case O_FN:
        c1 = 4; c2 = 0;
        for (size_t i = 0; funcs[i].n; i++) {
            if (n.s == funcs[i].n) c2 = funcs[i].i;
        }
        return n.s.c_str();
    default:
        c1 = 5; c2 = 0; return "Other";
    }
}


static double
num_value(const onode &n)
{
    if (n.k == O_FLT) return n.f;
    if (n.k == O_NUM) {
        giac::gen d = giac::evalf_double(n.q, 1, ac_ctx);
        if (d.type == giac::_DOUBLE_) return d._DOUBLE_val;
    }
    return 0;
}


/* SymPy's Expr.sort_key, as a comparison */
static int
ocmp(const onode &a0, const onode &b0)
{
    const onode *a = &a0, *b = &b0;
    onode ae, be;
    onode one = mk_num(giac::gen(1));
    const onode *ea = &one, *eb = &one;

    /* coefficient of a Mul is compared last */
    giac::gen ca(1), cb(1);
    std::vector<onode> fa, fb;
    onode ra, rb;
    if (a->k == O_MUL) {
        split_coeff(*a, ca, fa);
        ra = mul_of(giac::gen(1), fa);
        a = &ra;
    }
    if (b->k == O_MUL) {
        split_coeff(*b, cb, fb);
        rb = mul_of(giac::gen(1), fb);
        b = &rb;
    }
    if (a->k == O_POW) { ea = &a->a[1]; a = &a->a[0]; }
    if (b->k == O_POW) { eb = &b->a[1]; b = &b->a[0]; }

    int a1, a2, b1, b2;
    const char *an = class_name(*a, a1, a2);
    const char *bn = class_name(*b, b1, b2);
    if (a1 != b1) return a1 < b1 ? -1 : 1;
    if (a2 != b2) return a2 < b2 ? -1 : 1;
    int c = strcmp(an, bn);
    if (c) return c < 0 ? -1 : 1;

    /* args */
    if (a->k == O_NUM || a->k == O_FLT) {
        double x = num_value(*a), y = num_value(*b);
        if (x != y) return x < y ? -1 : 1;
    } else if (a->k == O_SYM || a->k == O_CONST) {
        if (a->s != b->s) return a->s < b->s ? -1 : 1;
    } else {
        if (a->a.size() != b->a.size()) {
            return a->a.size() < b->a.size() ? -1 : 1;
        }
        for (size_t i = 0; i < a->a.size(); i++) {
            c = ocmp(a->a[i], b->a[i]);
            if (c) return c;
        }
    }

    if (ea != eb) {
        c = ocmp(*ea, *eb);
        if (c) return c;
    }
    double x = num_value(mk_num(ca)), y = num_value(mk_num(cb));
    if (x != y) return x < y ? -1 : 1;
    return 0;
}


/* ------------------------------------------------ printing ---- */

enum { PR_ADD = 40, PR_MUL = 50, PR_POW = 60, PR_FUNC = 70,
       PR_ATOM = 1000 };

static std::string pr(const onode &n, int level);

static int
prec(const onode &n)
{
    switch (n.k) {
    case O_NUM:
        if (giac::is_strictly_positive(-n.q, ac_ctx)) return PR_ADD;
        if (n.q.type == giac::_FRAC) return PR_MUL;
        return PR_ATOM;
    case O_FLT:
        return n.f < 0 ? PR_ADD : PR_ATOM;
    case O_CONST:
        return n.s == "-oo" ? PR_ADD : PR_ATOM;
    case O_ADD:
        return PR_ADD;
    case O_MUL:
        return onum_neg(n.a[0]) ? PR_ADD : PR_MUL;
    case O_POW:
        return PR_POW;
    case O_FN:
    case O_ORDER:
        return PR_FUNC;
    default:
        return PR_ATOM;
    }
}


static std::string
paren(const onode &n, int level, bool strict)
{
    int p = prec(n);
    if (p < level || (!strict && p <= level)) return "(" + pr(n, 0) + ")";
    return pr(n, 0);
}


static std::string
pr_float(double f, int level)
{
    /* SymPy Float of 15 digits; nested ones strip the zeros */
    char buf[64];
    if (f == 0) return level ? "0.0" : "0.0";
    /* %e has no exponent for these: SymPy's Float('inf') is oo */
    if (f != f) return "nan";
    if (f > DBL_MAX) return "oo";
    if (f < -DBL_MAX) return "-oo";
    snprintf(buf, sizeof(buf), "%.14e", f);
    std::string s = buf;
    size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    int ex = atoi(s.c_str() + e + 1);
    std::string sign;
    if (mant[0] == '-') { sign = "-"; mant = mant.substr(1); }
    std::string digits = mant.substr(0, 1) + mant.substr(2);
    if (level) {
        while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    }
    if (ex >= -5 && ex < 15) {
        std::string out;
        if (ex >= 0) {
            while ((int) digits.size() <= ex) digits += '0';
            out = digits.substr(0, ex + 1) + "." + digits.substr(ex + 1);
            if (out.back() == '.') out += "0";
        } else {
            out = "0." + std::string(-ex - 1, '0') + digits;
        }
        return sign + out;
    }
    std::string out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    return sign + out + "e" + (ex > 0 ? "+" : "") + std::to_string(ex);
}


static std::string
pr_num(const giac::gen &q)
{
    if (q.type == giac::_FRAC) {
        return q._FRACptr->num.print(ac_ctx) + "/"
               + q._FRACptr->den.print(ac_ctx);
    }
    return q.print(ac_ctx);
}


/* decompose_power: (base, integer exponent) of a factor */
static onode
gen_of(const onode &t, long &e)
{
    e = 1;
    if (t.k == O_POW && t.a[1].k == O_NUM) {
        const giac::gen &q = t.a[1].q;
        if (q.type == giac::_INT_) {
            e = q.val;
            return t.a[0];
        }
        if (q.type == giac::_FRAC && q._FRACptr->num.type == giac::_INT_) {
            e = q._FRACptr->num.val;
            onode b = mk(O_POW);
            b.a.push_back(t.a[0]);
            b.a.push_back(mk_num(giac::fraction(1, q._FRACptr->den)));
            return b;
        }
    }
    if (t.k == O_FN && t.s == "exp" && t.a[0].k == O_MUL
        && t.a[0].a[0].k == O_NUM && t.a[0].a[0].q.type == giac::_INT_)
    {
        giac::gen c;
        std::vector<onode> f;
        split_coeff(t.a[0], c, f);
        e = c.val;
        onode b = mk(O_FN, "exp");
        b.a.push_back(mul_of(giac::gen(1), f));
        return b;
    }
    return t;
}


struct term_key {
    const onode          *t;
    std::vector<long>     monom;
    double                coeff;
    bool                  order;
};


static std::vector<const onode *>
ordered_terms(const onode &n)
{
    std::vector<const onode *> out;

    /* Add(positive number, negative number * expr) */
    if (n.a.size() == 2) {
        const onode *num = nullptr, *mul = nullptr;
        for (const onode &x : n.a) {
            if (x.k == O_NUM || x.k == O_CONST) num = &x; else mul = &x;
        }
        if (num && mul && num->k == O_NUM
            && giac::is_strictly_positive(num->q, ac_ctx)
            && mul->k == O_MUL && mul->a.size() == 2
            && onum_neg(mul->a[0]))
        {
            out.push_back(num);
            out.push_back(mul);
            return out;
        }
    }

    std::vector<onode> gens;
    std::vector<std::vector<std::pair<onode, long>>> parts;
    std::vector<term_key> keys;

    for (const onode &t : n.a) {
        giac::gen c;
        std::vector<onode> f;
        split_coeff(t, c, f);
        std::vector<std::pair<onode, long>> p;
        for (const onode &x : f) {
            long e;
            onode g = gen_of(x, e);
            p.push_back(std::make_pair(g, e));
            bool seen = false;
            for (const onode &y : gens) {
                if (ocmp(y, g) == 0) seen = true;
            }
            if (!seen) gens.push_back(g);
        }
        parts.push_back(p);
        term_key k;
        k.t = &t;
        k.coeff = (t.k == O_FLT) ? t.f : num_value(mk_num(c));
        k.order = (t.k == O_ORDER);
        keys.push_back(k);
    }

    std::sort(gens.begin(), gens.end(),
              [](const onode &a, const onode &b) { return ocmp(a, b) < 0; });

    for (size_t i = 0; i < keys.size(); i++) {
        keys[i].monom.assign(gens.size(), 0);
        for (auto &pe : parts[i]) {
            for (size_t j = 0; j < gens.size(); j++) {
                if (ocmp(gens[j], pe.first) == 0) keys[i].monom[j] = pe.second;
            }
        }
    }

    bool has_order = false;
    for (const term_key &k : keys) has_order |= k.order;

    auto less = [](const term_key &a, const term_key &b) {
        /* key = (-monom, coeff), ascending */
        if (a.monom != b.monom) return a.monom > b.monom;
        return a.coeff < b.coeff;
    };

    std::vector<term_key> plain, order;
    for (const term_key &k : keys) (k.order ? order : plain).push_back(k);

    if (has_order) {
        std::sort(plain.begin(), plain.end(),
                  [&](const term_key &a, const term_key &b) {
                      return less(b, a);
                  });
    } else {
        std::sort(plain.begin(), plain.end(), less);
    }

    for (const term_key &k : plain) out.push_back(k.t);
    for (const term_key &k : order) out.push_back(k.t);
    return out;
}


static std::string
pr_mul(const onode &n)
{
    giac::gen c;
    std::vector<onode> f;
    split_coeff(n, c, f);

    std::string sign;
    if (giac::is_strictly_positive(-c, ac_ctx)) {
        sign = "-";
        c = -c;
    }

    std::vector<onode> a, b;
    if (c.type == giac::_FRAC) {
        if (c._FRACptr->num != giac::gen(1)) a.push_back(mk_num(c._FRACptr->num));
        b.push_back(mk_num(c._FRACptr->den));
    } else if (c != giac::gen(1)) {
        a.push_back(mk_num(c));
    }

    for (const onode &x : f) {
        if (x.k == O_POW && x.a[1].k == O_NUM && onum_neg(x.a[1])) {
            if (onum_is(x.a[1], -1)) {
                b.push_back(x.a[0]);
            } else {
                onode p = mk(O_POW);
                p.a.push_back(x.a[0]);
                p.a.push_back(mk_num(-x.a[1].q));
                b.push_back(p);
            }
        } else {
            a.push_back(x);
        }
    }

    std::string as, bs;
    for (size_t i = 0; i < a.size(); i++) {
        if (i) as += "*";
        as += paren(a[i], PR_MUL, false);
    }
    if (a.empty()) as = "1";
    if (b.empty()) return sign + as;
    if (b.size() == 1) return sign + as + "/" + paren(b[0], PR_MUL, false);
    for (size_t i = 0; i < b.size(); i++) {
        if (i) bs += "*";
        bs += paren(b[i], PR_MUL, false);
    }
    return sign + as + "/(" + bs + ")";
}


static std::string
pr(const onode &n, int level)
{
    std::string s;

    switch (n.k) {
    case O_NUM:
        return pr_num(n.q);
    case O_FLT:
        return pr_float(n.f, level);
    case O_SYM:
    case O_CONST:
        return n.s;
    case O_ADD: {
        std::vector<const onode *> t = ordered_terms(n);
        for (size_t i = 0; i < t.size(); i++) {
            std::string x = pr(*t[i], 1);
            if (i == 0) {
                s = x;
            } else if (x[0] == '-') {
                s += " - " + x.substr(1);
            } else {
                s += " + " + x;
            }
        }
        return s;
    }
    case O_MUL:
        return pr_mul(n);
    case O_POW: {
        const onode &b = n.a[0], &e = n.a[1];
        if (e.k == O_NUM && e.q == giac::fraction(1, 2)) {
            return "sqrt(" + pr(b, 1) + ")";
        }
        if (e.k == O_NUM && e.q == giac::fraction(-1, 2)) {
            return "1/sqrt(" + pr(b, 1) + ")";
        }
        if (onum_is(e, -1)) {
            return "1/" + paren(b, PR_POW, false);
        }
        return paren(b, PR_POW, false) + "**" + paren(e, PR_POW, false);
    }
    case O_FN:
        s = n.s + "(";
        for (size_t i = 0; i < n.a.size(); i++) {
            if (i) s += ", ";
            s += pr(n.a[i], 1);
        }
        return s + ")";
    case O_ORDER:
        return n.s;
    case O_MATRIX:
        s = "Matrix([";
        for (size_t i = 0; i < n.a.size(); i++) {
            if (i) s += ", ";
            s += pr(n.a[i], 1);
        }
        return s + "])";
    case O_LIST:
        s = "[";
        for (size_t i = 0; i < n.a.size(); i++) {
            if (i) s += ", ";
            s += pr(n.a[i], 1);
        }
        return s + "]";
    }
    return "?";
}


}   /* namespace */
namespace {


/* ------------------------------------------------ numbers ---- */

/* Python's repr(float) without the ".0" (as complex.__repr__ does) */
static std::string
py_repr(double x, bool add_dot)
{
    char buf[64];
    int  i;

    if (std::isnan(x)) return "nan";
    if (std::isinf(x)) return x > 0 ? "inf" : "-inf";

    for (i = 1; i <= 17; i++) {
        snprintf(buf, sizeof(buf), "%.*e", i - 1, x);
        if (strtod(buf, NULL) == x) break;
    }

    std::string s = buf, sign;
    if (s[0] == '-') { sign = "-"; s = s.substr(1); }
    size_t e = s.find('e');
    int ex = atoi(s.c_str() + e + 1);
    std::string d = s.substr(0, 1) + (e > 1 ? s.substr(2, e - 2) : "");
    while (d.size() > 1 && d.back() == '0') d.pop_back();
    int decpt = ex + 1;

    if (decpt <= -4 || decpt > 16) {
        std::string m = d.substr(0, 1);
        if (d.size() > 1) m += "." + d.substr(1);
        snprintf(buf, sizeof(buf), "e%c%02d", ex < 0 ? '-' : '+', abs(ex));
        return sign + m + buf;
    }
    std::string out;
    if (decpt <= 0) {
        out = "0." + std::string(-decpt, '0') + d;
    } else if ((int) d.size() <= decpt) {
        out = d + std::string(decpt - d.size(), '0');
        if (add_dot) out += ".0";
    } else {
        out = d.substr(0, decpt) + "." + d.substr(decpt);
    }
    return sign + out;
}


static std::string
py_complex_repr(double re, double im)
{
    if (re == 0 && !std::signbit(re)) return py_repr(im, false) + "j";
    std::string i = py_repr(im, false);
    if (i[0] != '-' && i[0] != '+') i = "+" + i;
    return "(" + py_repr(re, false) + i + "j)";
}


/* SymPy's evalf(n) rounds to dps_to_prec(n) bits */
static double
round_bits(double x, int precision)
{
    int   bits, e;
    double m;

    bits = (int) lround((precision + 1) * 3.3219280948873626);
    if (bits < 1) bits = 1;
    if (bits >= 53 || x == 0 || !std::isfinite(x)) return x;
    m = frexp(x, &e);
    m = nearbyint(ldexp(m, bits));
    return ldexp(m, e - bits);
}


/* strands_tools.calculator.format_number, for floats and complex */
static int
precision_level(double x)
{
    double a = fabs(x);
    return a >= 1e20 ? 5 : a >= 1e10 ? 8 : 10;
}


static std::string
fmt_fixed(double x, int precision)
{
    char buf[512];
    snprintf(buf, sizeof(buf), "%.*f", precision, x);
    std::string s = buf;
    if (s.find('.') != std::string::npos) {
        while (s.back() == '0') s.pop_back();
        if (s.back() == '.') s.pop_back();
    }
    return s;
}


static std::string
fmt_sci(double x)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%.*e", precision_level(x), x);
    return buf;
}


static std::string
format_float(double x, int precision, bool scientific)
{
    double a = fabs(x);
    if (scientific || a >= 1e21 || (a > 0 && a < 1e-6)) return fmt_sci(x);
    if (a >= 1e6) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%.2f", x);
        std::string s = buf, sign, ip, fp;
        if (s[0] == '-') { sign = "-"; s = s.substr(1); }
        size_t dot = s.find('.');
        ip = s.substr(0, dot);
        fp = s.substr(dot);
        std::string g;
        for (size_t i = 0; i < ip.size(); i++) {
            if (i && (ip.size() - i) % 3 == 0) g += ",";
            g += ip[i];
        }
        return sign + g + fp;
    }
    return fmt_fixed(x, precision);
}


static std::string
format_complex(double re, double im, int precision, bool scientific)
{
    std::string r, i;
    if (re == 0) {
        r = "0";
    } else if (fabs(re) >= 1e6 || fabs(re) < 1e-6 || scientific) {
        r = fmt_sci(re);
    } else {
        r = fmt_fixed(re, precision);
    }
    if (im == 0) return r;
    if (fabs(im) >= 1e6 || fabs(im) < 1e-6 || scientific) {
        i = fmt_sci(fabs(im));
    } else {
        i = fmt_fixed(fabs(im), precision);
    }
    if (r == "0") return (im > 0 ? "" : "-") + i + "j";
    return r + (im > 0 ? "+" : "-") + i + "j";
}


/* ------------------------------------------------ the modes ---- */

struct run {
    const ac_cas_args_t  *args;
    ac_cas_stats_t        st;
    translator            tr;
    std::string           prefix;     /* "Differentiation error: " ... */

    giac::gen eval(const std::string &s) {
        giac::gen g(s, ac_ctx);
        giac::gen r = giac::eval(g, 1, ac_ctx);
        /* Giac's taille() stops counting past the bound */
        size_t n = std::min((size_t) giac::taille(r, AC_CAS_MAX_RESULT + 1),
                            (size_t) AC_CAS_MAX_RESULT + 1);
        if (n > st.result_nodes) st.result_nodes = n;
        if (n > AC_CAS_MAX_RESULT) {
            throw cas_error(prefix + "result too large");
        }
        if (r.type == giac::_STRNG) {
            /* Giac reports some errors as a string result */
            throw cas_error(prefix + std::string(*r._STRNGptr));
        }
        return r;
    }

    std::string print(const giac::gen &g) {
        converter cv;
        onode n = norm(cv.go(g));
        return pr(n, 0);
    }

    pnode parse(const char *s, size_t len) {
        parser p;
        p.p = s;
        p.end = s + len;
        p.depth = 0;
        return p.top();
    }

    void subst(pnode &n, const std::vector<std::pair<std::string, pnode>> &v)
    {
        if (n.k == P_NAME) {
            for (auto &x : v) {
                if (x.first == n.s) {
                    n = x.second;
                    return;
                }
            }
        }
        for (pnode &c : n.a) subst(c, v);
    }

    std::string var_name(const char *s) {
        std::string v(s);
        if (v.empty() || !is_symbol_name(v)) {
            throw cas_error(prefix + "'" + v + "' is not a variable name");
        }
        for (char c : v) {
            if (!(isalnum((unsigned char) c) || c == '_')) {
                throw cas_error(prefix + "'" + v + "' is not a variable "
                                "name");
            }
        }
        if (isdigit((unsigned char) v[0])) {
            throw cas_error(prefix + "'" + v + "' is not a variable name");
        }
        tr.symbol(v);
        return v;
    }

    bool undefined(const giac::gen &g, std::string &what) {
        giac::gen t = giac::evalf_double(g, 1, ac_ctx);
        if (giac::is_undef(t)) { what = "nan"; return true; }
        if (giac::is_inf(t)) {
            std::string p = t.print(ac_ctx);
            what = (p == "+infinity") ? "oo"
                   : (p == "-infinity") ? "-oo" : "zoo";
            return true;
        }
        return false;
    }

    /* the double nearest to each part: 30 digits, then strtod */
    void to_complex(const giac::gen &z, double &re, double &im) {
        std::string zs = z.print(ac_ctx);
        giac::gen a = eval("evalf(re(" + zs + "),30)");
        giac::gen b = eval("evalf(im(" + zs + "),30)");
        if (!giac::is_zero(giac::im(a, ac_ctx), ac_ctx)
            || !(a.type == giac::_REAL || a.type == giac::_DOUBLE_
                 || a.type == giac::_INT_ || a.type == giac::_ZINT
                 || a.type == giac::_FRAC)
            || !(b.type == giac::_REAL || b.type == giac::_DOUBLE_
                 || b.type == giac::_INT_ || b.type == giac::_ZINT
                 || b.type == giac::_FRAC))
        {
            throw cas_error(prefix + "Cannot convert expression to float");
        }
        re = strtod(giac::evalf_double(a, 1, ac_ctx).type == giac::_DOUBLE_
                    && a.type != giac::_REAL
                    ? giac::print_DOUBLE_(
                          giac::evalf_double(a, 1, ac_ctx)._DOUBLE_val, 17)
                      .c_str()
                    : a.print(ac_ctx).c_str(), NULL);
        im = strtod(giac::evalf_double(b, 1, ac_ctx).type == giac::_DOUBLE_
                    && b.type != giac::_REAL
                    ? giac::print_DOUBLE_(
                          giac::evalf_double(b, 1, ac_ctx)._DOUBLE_val, 17)
                      .c_str()
                    : b.print(ac_ctx).c_str(), NULL);
    }

    std::string go();
    std::string evaluate(const pnode &e);
    std::string solve(const pnode &e);
};


/*
 * Trigonometric and hyperbolic functions in g (counting stops soon
 * after it passes max): Giac's simplify() of an expression with several
 * takes time that grows exponentially with their number
 * (sec(1)+csc(w)+cot(1)+tan(2): 1.9 s under ASan, six of them: over
 * 9 s; found by the fuzzer)
 */

static size_t
trig_count(const giac::gen &g, size_t max)
{
    static const char  *trig[] = {
        "sin", "cos", "tan", "cot", "sec", "csc",
        "sinh", "cosh", "tanh", "coth", "sech", "csch"
    };

    size_t  n = 0;

    if (g.type == giac::_VECT) {
        for (const giac::gen &x : *g._VECTptr) {
            n += trig_count(x, max);
            if (n > max) break;
        }
        return n;
    }

    if (g.type != giac::_SYMB) {
        return 0;
    }

    const char *op = g._SYMBptr->sommet.ptr()->s;

    for (const char *t : trig) {
        if (strcmp(op, t) == 0) {
            n = 1;
            break;
        }
    }

    return n + trig_count(g._SYMBptr->feuille, max);
}


std::string
run::evaluate(const pnode &e)
{
    prefix = "Evaluation error: ";
    giac::gen g = eval(tr.go(e));

    bool symbolic = false;
    for (const giac::gen &x : giac::lidnt(g)) {
        if (x.type == giac::_IDNT
            && strncmp(x._IDNTptr->id_name, "ac_", 3) == 0)
        {
            symbolic = true;
        }
    }

    if (!symbolic)
    {
        std::string what;
        if (undefined(g, what)) {
            return what == "nan" ? "nan" : what == "zoo" ? "nan+nanj"
                                                         : what;
        }
        if (g.type == giac::_INT_ || g.type == giac::_ZINT) {
            return g.print(ac_ctx);
        }
        giac::gen c = giac::evalf_double(g, 1, ac_ctx);
        giac::gen re = giac::evalf_double(giac::re(c, ac_ctx), 1, ac_ctx);
        giac::gen im = giac::evalf_double(giac::im(c, ac_ctx), 1, ac_ctx);
        if (re.type != giac::_DOUBLE_ || im.type != giac::_DOUBLE_) {
            throw cas_error(prefix + "could not evaluate numerically");
        }
        if (im._DOUBLE_val == 0) {
            double x = re._DOUBLE_val;
            if (x == floor(x) && fabs(x) < 1e15 && giac::is_integer(
                    giac::exact(g, ac_ctx)))
            {
                char buf[64];
                snprintf(buf, sizeof(buf), "%.0f", x);
                return buf;
            }
            return format_float(x, args->precision, false);
        }
        return format_complex(re._DOUBLE_val, im._DOUBLE_val,
                              args->precision, false);
    }

    if (args->force_numeric) {
        g = giac::evalf(g, 1, ac_ctx);
    } else if (giac::taille(g, AC_CAS_MAX_SIMPLIFY + 1)
               <= AC_CAS_MAX_SIMPLIFY
               && (st.trig = trig_count(g, AC_CAS_MAX_SIMPLIFY_TRIG))
                  <= AC_CAS_MAX_SIMPLIFY_TRIG
               && (st.trig == 0 || st.exps == 0))
    {
        /*
         * SymPy's simplify() picks the shortest of several rewritings;
         * Giac's simplify() is tried on small results only, with at
         * most AC_CAS_MAX_SIMPLIFY_TRIG trigonometric functions (its
         * rewritings of a large one, or of several of those, are long
         * and slow: trig_count()), and not those with an exponential
         * too: 9**sin(p/cos(pi/8)/8) - t took 90 to 180 ms, against
         * 1 ms unsimplified (-O2; the fuzzer's timeout under ASan)
         */
        st.simplified = 1;
        giac::gen s = eval("simplify(" + g.print(ac_ctx) + ")");
        if (giac::taille(s, AC_CAS_MAX_RESULT) < giac::taille(g,
                                                        AC_CAS_MAX_RESULT))
        {
            g = s;
        }
    }
    return print(g);
}


static bool
root_less(const std::pair<double, double> &a,
    const std::pair<double, double> &b)
{
    bool ra = (a.second == 0), rb = (b.second == 0);
    if (ra != rb) return ra;
    if (a.first != b.first) return a.first < b.first;
    return a.second < b.second;
}


std::string
run::solve(const pnode &e)
{
    prefix = "Solving error: ";

    if (e.k == P_TUPLE || e.k == P_LIST) {
        throw cas_error(prefix + "systems of equations are not supported "
                        "by this calculator");
    }

    std::string x = tr.go(e);
    if (tr.symbols.empty()) return "None";

    /* Giac's numeric solvers on transcendental equations are costly */
    if (st.exps > AC_CAS_MAX_SOLVE_EXPS || st.nodes > AC_CAS_MAX_SOLVE_NODES
        || tr.symbols.size() > AC_CAS_MAX_SOLVE_SYMBOLS)
    {
        throw cas_error(prefix + "the equation is too large to solve (at "
                        "most " + std::to_string(AC_CAS_MAX_SOLVE_NODES)
                        + " nodes, "
                        + std::to_string(AC_CAS_MAX_SOLVE_SYMBOLS)
                        + " symbols, "
                        + std::to_string(AC_CAS_MAX_SOLVE_EXPS)
                        + " exponentials)");
    }

    std::string v = tr.symbol(tr.symbols[0]);
    checker ck;
    if (ck.degree(e) > AC_CAS_MAX_SOLVE_DEG) {
        throw cas_error(prefix + "the equation's degree is above "
                        + std::to_string(AC_CAS_MAX_SOLVE_DEG));
    }

    giac::gen r = eval("cZeros(" + x + "," + v + ")");
    if (r.type != giac::_VECT) {
        throw cas_error(prefix + "no solution found");
    }

    std::vector<std::pair<double, double>> roots;
    for (const giac::gen &z : *r._VECTptr) {
        double re, im;
        to_complex(z, re, im);
        roots.push_back(std::make_pair(
            round_bits(re, args->precision) + 0.0,
            round_bits(im, args->precision) + 0.0));
    }
    std::stable_sort(roots.begin(), roots.end(), root_less);

    std::string s = "[";
    for (size_t i = 0; i < roots.size(); i++) {
        if (i) s += ", ";
        s += py_complex_repr(roots[i].first, roots[i].second);
    }
    return s + "]";
}


std::string
run::go()
{
    std::string mode = args->mode ? args->mode : "evaluate";
    pnode e = parse(args->expr, args->len);

    /* variables (evaluate only, as the reference) */
    if (mode != "solve" && mode != "derive" && mode != "integrate"
        && mode != "limit" && mode != "series" && mode != "matrix"
        && args->variables)
    {
        std::vector<std::pair<std::string, pnode>> vars;
        const char *k;
        json_t *jv;
        json_object_foreach(args->variables, k, jv) {
            std::string t;
            char buf[64];
            if (json_is_string(jv)) {
                t = json_string_value(jv);
            } else if (json_is_integer(jv)) {
                snprintf(buf, sizeof(buf), "%lld",
                         (long long) json_integer_value(jv));
                t = buf;
            } else if (json_is_real(jv)) {
                t = py_repr(json_real_value(jv), true);
            } else if (json_is_true(jv)) {
                t = "True";
            } else if (json_is_false(jv)) {
                t = "False";
            } else {
                throw cas_error("Evaluation error: the value of '"
                                + std::string(k) + "' is not a number or "
                                "an expression");
            }
            pnode pv = parse(t.c_str(), t.size());
            vars.push_back(std::make_pair(std::string(k), pv));
        }
        subst(e, vars);
    }

    checker ck;
    ck.symbolic_matrix = has_symbolic_matrix(ck, e);
    ck.walk(e);
    st.nodes = ck.nodes;
    st.exp_depth = ck.exp_depth(e);
    st.exps = ck.exps;
    st.sym_pows = ck.sym_pows;
    if (st.exp_depth > AC_CAS_MAX_EXP_DEPTH || st.exps > AC_CAS_MAX_EXPS) {
        throw cas_error("Evaluation error: too many nested exponentials "
                        "(at most " + std::to_string(AC_CAS_MAX_EXPS)
                        + ", nested " + std::to_string(AC_CAS_MAX_EXP_DEPTH)
                        + " deep)");
    }
    double deg = ck.degree(e);
    st.degree = (size_t) std::min(deg, 1e9);
    if (deg > AC_CAS_MAX_DEGREE) {
        throw cas_error("Evaluation error: the expression's degree is above "
                        + std::to_string(AC_CAS_MAX_DEGREE));
    }

    if (mode == "solve") {
        return solve(e);
    }

    if (mode == "matrix") {
        prefix = "Evaluation error: ";
        return print(eval(tr.go(e)));
    }

    if (mode != "derive" && mode != "integrate" && mode != "limit"
        && mode != "series")
    {
        return evaluate(e);
    }

    static const char *prefixes[][2] = {
        { "derive", "Differentiation error: " },
        { "integrate", "Integration error: " },
        { "limit", "Limit calculation error: " },
        { "series", "Series expansion error: " },
    };
    static const char *undef[][2] = {
        { "derive", "Cannot differentiate an undefined expression: " },
        { "integrate", "Cannot integrate an undefined expression: " },
        { "limit", "Cannot calculate limit of an undefined expression: " },
        { "series", "Cannot expand series of an undefined expression: " },
    };
    const char *und = "";
    for (size_t i = 0; i < 4; i++) {
        if (mode == prefixes[i][0]) {
            prefix = prefixes[i][1];
            und = undef[i][1];
        }
    }

    std::string x = tr.go(e);
    std::string v;

    if (args->wrt) {
        v = var_name(args->wrt);
    } else if (tr.symbols.empty()) {
        throw cas_error("list index out of range");
    } else {
        v = tr.symbols[0];
    }

    giac::gen g = eval(x);
    std::string what;
    if (undefined(g, what)) {
        throw cas_error(prefix + und + what);
    }

    std::string gv = tr.symbol(v);
    long order = args->order;

    if (mode == "derive") {
        if (order <= 0) order = 1;
        if (order > AC_CAS_MAX_ORDER) {
            throw cas_error(prefix + "order above "
                            + std::to_string(AC_CAS_MAX_ORDER));
        }
        /*
         * each derivative of x**x (a symbolic exponent) doubles its
         * terms: the 5th took 4 s (found by the fuzzer)
         */
        if (st.sym_pows > 0 && order > AC_CAS_MAX_POW_ORDER) {
            throw cas_error(prefix + "order above "
                            + std::to_string(AC_CAS_MAX_POW_ORDER)
                            + " for a power with a symbolic exponent");
        }
        for (long i = 0; i < order; i++) {
            g = eval("diff(" + g.print(ac_ctx) + "," + gv + ")");
        }
        return print(g);
    }

    if (mode == "integrate") {
        giac::gen r = eval("integrate(" + g.print(ac_ctx) + "," + gv + ")");
        converter cv;
        cv.log_abs = true;
        return pr(norm(cv.go(r)), 0);
    }

    std::string pt = args->point ? args->point : "0";
    pnode pp = parse(pt.c_str(), pt.size());
    checker pc;
    pc.walk(pp);
    std::string p = tr.go(pp);
    giac::gen pg = eval(p);

    if (mode == "limit") {
        bool inf = giac::is_inf(pg);
        giac::gen r = eval("limit(" + g.print(ac_ctx) + "," + gv + ","
                           + pg.print(ac_ctx) + (inf ? ")" : ",1)"));
        return print(r);
    }

    /* series */
    if (order <= 0) order = 5;
    if (order > AC_CAS_MAX_ORDER) {
        throw cas_error(prefix + "order above "
                        + std::to_string(AC_CAS_MAX_ORDER));
    }
    /*
     * Giac's series of an exponential nested 3 deep grows like its
     * derivatives: order 32 of exp(exp(exp(x))) at 1 took 1.4 s,
     * order 8 of yb**apy**i**a 24 ms, order 5 6 ms (-O2; 40 times
     * that under ASan; found by the fuzzer: fuzz/findings/
     * calculator-timeout-pow-chain); 2 deep, order 32 took 37 ms
     */
    if (st.exp_depth >= AC_CAS_MAX_EXP_DEPTH
        && order > AC_CAS_MAX_DEEP_SERIES_ORDER)
    {
        throw cas_error(prefix + "order above "
                        + std::to_string(AC_CAS_MAX_DEEP_SERIES_ORDER)
                        + " for exponentials nested "
                        + std::to_string(AC_CAS_MAX_EXP_DEPTH) + " deep");
    }
    /*
     * and with the number of exponentials: order 32 of a product of six
     * (y*r*apy*s**aapy*s**a**_00*y**y*y**_00*y**y) took 328 ms, of
     * eight 12 ms at order 3 (-O2): their order times their number
     * stays under AC_CAS_SERIES_EXP_WORK (a few ms at the bound)
     */
    if (st.exps >= 2) {
        long most = std::max(2L, (long) (AC_CAS_SERIES_EXP_WORK / st.exps));
        if (order > most) {
            throw cas_error(prefix + "order above " + std::to_string(most)
                            + " for " + std::to_string(st.exps)
                            + " exponentials");
        }
    }
    giac::gen r = eval("series(" + g.print(ac_ctx) + "," + gv + "="
                       + pg.print(ac_ctx) + "," + std::to_string(order - 1)
                       + ")");
    converter cv;
    onode n = cv.go(r);
    bool has_o = false;
    onode rest = mk(O_ADD);
    std::vector<onode> terms;
    if (n.k == O_ADD) terms = n.a; else terms.push_back(n);
    for (const onode &t : terms) {
        bool o = (t.k == O_ORDER);
        if (t.k == O_MUL) {
            for (const onode &f : t.a) o |= (f.k == O_ORDER);
        }
        if (o) has_o = true; else rest.a.push_back(t);
    }
    std::string s;
    if (!has_o) {
        if (rest.a.empty()) return "0";
        return pr(norm(rest.a.size() == 1 ? rest.a[0] : rest), 0);
    }
    {
        std::string o;
        if (pg == giac::gen(0)) {
            o = "O(" + v + "**" + std::to_string(order) + ")";
        } else {
            onode d = mk(O_ADD);
            d.a.push_back(mk(O_SYM, v));
            d.a.push_back(mk_num(-pg));
            o = "O((" + pr(norm(d), 0) + ")**" + std::to_string(order)
                + ", (" + v + ", " + print(pg) + "))";
        }
        onode on = mk(O_ORDER, o);
        onode sum = norm(rest.a.size() == 1 ? rest.a[0] : rest);
        if (rest.a.empty()) return o;
        if (sum.k != O_ADD) {
            onode t = mk(O_ADD);
            t.a.push_back(sum);
            sum = t;
        }
        sum.a.push_back(on);
        s = pr(sum, 0);
    }
    return s;
}


static char *
dup_text(const char *a, const std::string &b)
{
    size_t n = strlen(a);
    char *s = (char *) malloc(n + b.size() + 1);
    if (s == NULL) return NULL;
    memcpy(s, a, n);
    memcpy(s + n, b.data(), b.size());
    s[n + b.size()] = '\0';
    return s;
}


}   /* namespace */


extern "C" int
ac_cas_run(const ac_cas_args_t *args, char **text, ac_cas_stats_t *stats)
{
    int  rc;
    run  r;

    *text = NULL;
    r.args = args;
    r.st = ac_cas_stats_t();

    try {
        if (ac_ctx == NULL) {
            ac_ctx = new giac::context();
            static std::ostream nul(nullptr);
            giac::logptr(&nul, ac_ctx);
        }

        /*
         * Giac's numeric solvers start from random points: the same seed
         * for every call gives the same answer to the same input
         */
        giac::eval(giac::gen(std::string("srand(1)"), ac_ctx), 1, ac_ctx);

        ac_names = &r.tr.ids;
        std::string s = r.go();
        ac_names = NULL;
        if (s.size() > AC_CAS_MAX_TEXT) {
            throw cas_error("Evaluation error: result too long (more than "
                            + std::to_string(AC_CAS_MAX_TEXT)
                            + " characters)");
        }
        *text = dup_text("Result: ", s);
        rc = AC_CALC_SUCCESS;

    } catch (const cas_error &e) {
        ac_names = NULL;
        *text = dup_text("Error: ", e.msg);
        rc = AC_CALC_ERROR;

    } catch (const std::bad_alloc &) {
        ac_names = NULL;
        *text = NULL;
        rc = AC_CALC_ERROR;

    } catch (const std::exception &e) {
        ac_names = NULL;
        *text = dup_text("Error: ", (r.prefix.empty() ? "Evaluation error: "
                                                      : r.prefix)
                                    + std::string(e.what()));
        rc = AC_CALC_ERROR;
    }

    if (stats) {
        *stats = r.st;
    }

    return rc;
}
