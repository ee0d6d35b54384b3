/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * JSON as CPython's json module reads and writes it, plain C on jansson.
 *
 * Reading: ac_json_parse_payload() reproduces json.loads(body_bytes) of
 * CPython 3.11 as a client observes it.  The body is first checked as
 * UTF-8 the way bytes.decode("utf-8", "surrogatepass") does (same error
 * texts and positions), then scanned by a recursive descent parser that
 * follows Modules/_json.c step by step, so that every JSONDecodeError
 * text ("Expecting ',' delimiter: line 1 column 16 (char 15)") comes out
 * identical.  Values are built directly with jansson while scanning.
 *
 * Differences from CPython, all deliberate:
 *  - json.loads(bytes) also detects UTF-16 and UTF-32 (BOM or NUL
 *    pattern in the first bytes); only UTF-8 (with or without a BOM) is
 *    supported here, such bodies are read as UTF-8 and then fail.
 *  - Strings hold UTF-8 bytes; a lone surrogate (from a \ud800 escape or
 *    from the bytes ED A0 80, which "surrogatepass" lets through) is
 *    stored as its 3-byte generalized UTF-8 form, and written back as is.
 *  - NaN, Infinity, -Infinity and floats that overflow (1e400) are
 *    accepted as Python does, but jansson has no non-finite reals: they
 *    become null.
 *  - Integers beyond int64 become reals (null when beyond the double
 *    range).  Integers of more than 4300 digits fail as CPython's
 *    int-size guard does, with its ValueError text; nesting deeper than
 *    AC_JSON_MAX_DEPTH fails with CPython's RecursionError text (CPython
 *    gives up near depth 994).  CPython raises these as other exception
 *    types, here they are reported as "Invalid JSON".
 *
 * Writing: ac_json_escape(), ac_sse_text_event() and ac_json_dumps()
 * produce json.dumps(v, ensure_ascii=False) byte for byte;
 * ac_json_dumps_jansson() what jansson's json_dumps(JSON_COMPACT) does.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <errno.h>
#include <math.h>

#include "ngx_http_agentcore_json.h"


#define AC_JSON_MAX_DEPTH       1000
#define AC_JSON_MAX_DIGITS      4300
#define AC_JSON_DUMP_MAX_DEPTH  4096


typedef struct {
    const unsigned char     *p;         /* the text after any BOM */
    size_t                   n;
    unsigned char           *scratch;   /* n bytes, for unescaping */
    ac_json_error_t         *err;
    const char              *msg;       /* positional error */
    size_t                   pos;
    int                      failed;
    int                      depth;
} ac_json_scan_t;


typedef struct {
    unsigned char           *buf;
    size_t                   len;
    size_t                   cap;
    int                      spaced;
    int                      jansson;   /* json_dumps() output */
    int                      failed;
} ac_json_out_t;


static int ac_json_utf8_check(const unsigned char *p, size_t n,
    ac_json_error_t *err);
static json_t *ac_json_value(ac_json_scan_t *s, size_t i, size_t *next);
static json_t *ac_json_object(ac_json_scan_t *s, size_t i, size_t *next);
static json_t *ac_json_array(ac_json_scan_t *s, size_t i, size_t *next);
static json_t *ac_json_number(ac_json_scan_t *s, size_t i, size_t *next);
static int ac_json_string(ac_json_scan_t *s, size_t i, size_t *next,
    const unsigned char **str, size_t *len);
static json_t *ac_json_fail(ac_json_scan_t *s, const char *msg,
    size_t pos);
static json_t *ac_json_fail_text(ac_json_scan_t *s, const char *text);
static void ac_json_format_error(ac_json_scan_t *s);
static int ac_json_dump_value(ac_json_out_t *o, json_t *v, int depth);
static unsigned char *ac_json_reserve(ac_json_out_t *o, size_t more);
static void ac_json_append(ac_json_out_t *o, const void *data,
    size_t len);
static void ac_json_append_jansson(ac_json_out_t *o, const char *s,
    size_t len, int key);
static size_t ac_json_real_repr(char *buf, double d);


#define ac_json_ws(c)                                                        \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

#define ac_json_digit(c)   ((c) >= '0' && (c) <= '9')

#define ac_json_cont(c)    (((c) & 0xc0) == 0x80)


static const char  ac_json_hex[] = "0123456789abcdef";


/*
 * ac_json_esc[c]: 0 copy the byte; else the character after the
 * backslash, 'u' meaning \u00xx
 */

static const unsigned char  ac_json_esc[256] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
    0, 0, '"', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\\', 0, 0, 0
    /* 0x60 to 0xff: 0 */
};


/* the UTF-8 check: CPython's decoder with the "surrogatepass" handler */

static int
ac_json_utf8_check(const unsigned char *p, size_t n, ac_json_error_t *err)
{
    size_t       i, start, end, k;
    uint64_t     w;
    const char  *reason;
    unsigned     c, c2;

    i = 0;

    while (i < n) {

        /* ASCII runs, 8 bytes at a time */

        while (i + 8 <= n) {
            memcpy(&w, p + i, 8);
            if (w & 0x8080808080808080ULL) {
                break;
            }
            i += 8;
        }

        if (i >= n) {
            break;
        }

        c = p[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        start = i;
        k = 0;          /* 0: truncated, else the bad byte count */

        if (c < 0xc2) {
            goto invalid_start;
        }

        if (c < 0xe0) {
            if (n - i < 2) {
                goto truncated;
            }

            if (!ac_json_cont(p[i + 1])) {
                k = 1;
                goto invalid_cont;
            }

            i += 2;
            continue;
        }

        if (c < 0xf0) {
            if (n - i < 3) {
                if (n - i < 2) {
                    goto truncated;
                }

                c2 = p[i + 1];

                if (!ac_json_cont(c2)
                    || (c2 < 0xa0 ? c == 0xe0 : c == 0xed))
                {
                    k = 1;
                    goto invalid_cont;
                }

                goto truncated;
            }

            c2 = p[i + 1];

            if (!ac_json_cont(c2)) {
                k = 1;
                goto invalid_cont;
            }

            if (c == 0xe0 && c2 < 0xa0) {
                k = 1;
                goto invalid_cont;
            }

            if (c == 0xed && c2 >= 0xa0) {

                /*
                 * a surrogate: the decoder rejects it, "surrogatepass"
                 * takes it when the third byte continues the sequence
                 */

                if (ac_json_cont(p[i + 2])) {
                    i += 3;
                    continue;
                }

                k = 1;
                goto invalid_cont;
            }

            if (!ac_json_cont(p[i + 2])) {
                k = 2;
                goto invalid_cont;
            }

            i += 3;
            continue;
        }

        if (c < 0xf5) {
            if (n - i < 4) {
                if (n - i < 2) {
                    goto truncated;
                }

                c2 = p[i + 1];

                if (!ac_json_cont(c2)
                    || (c2 < 0x90 ? c == 0xf0 : c == 0xf4))
                {
                    k = 1;
                    goto invalid_cont;
                }

                if (n - i < 3) {
                    goto truncated;
                }

                if (!ac_json_cont(p[i + 2])) {
                    k = 2;
                    goto invalid_cont;
                }

                goto truncated;
            }

            c2 = p[i + 1];

            if (!ac_json_cont(c2)
                || (c == 0xf0 && c2 < 0x90)
                || (c == 0xf4 && c2 >= 0x90))
            {
                k = 1;
                goto invalid_cont;
            }

            if (!ac_json_cont(p[i + 2])) {
                k = 2;
                goto invalid_cont;
            }

            if (!ac_json_cont(p[i + 3])) {
                k = 3;
                goto invalid_cont;
            }

            i += 4;
            continue;
        }

    invalid_start:

        reason = "invalid start byte";
        end = start + 1;
        goto failed;

    invalid_cont:

        reason = "invalid continuation byte";
        end = start + k;
        goto failed;

    truncated:

        reason = "unexpected end of data";
        end = n;

    failed:

        err->error = "Invalid encoding";

        if (end == start + 1) {
            snprintf(err->details, sizeof(err->details),
                     "'utf-8' codec can't decode byte 0x%02x in position "
                     "%zu: %s", p[start], start, reason);

        } else {
            snprintf(err->details, sizeof(err->details),
                     "'utf-8' codec can't decode bytes in position "
                     "%zu-%zu: %s", start, end - 1, reason);
        }

        return -1;
    }

    return 0;
}


json_t *
ac_json_parse_payload(const unsigned char *p, size_t n,
    ac_json_error_t *err)
{
    size_t           i, next;
    json_t          *v;
    ac_json_scan_t   s;

    err->error = NULL;
    err->details[0] = '\0';

    /* json.loads(bytes): "utf-8-sig", positions count after the BOM */

    if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
        p += 3;
        n -= 3;
    }

    if (ac_json_utf8_check(p, n, err) != 0) {
        return NULL;
    }

    memset(&s, 0, sizeof(ac_json_scan_t));
    s.p = p;
    s.n = n;
    s.err = err;

    /* JSONDecoder.decode(): whitespace, one value, whitespace, the end */

    for (i = 0; i < n && ac_json_ws(p[i]); i++) { /* void */ }

    v = ac_json_value(&s, i, &next);

    if (v != NULL) {
        for (i = next; i < n && ac_json_ws(p[i]); i++) { /* void */ }

        if (i != n) {
            json_decref(v);
            v = ac_json_fail(&s, "Extra data", i);
        }
    }

    free(s.scratch);

    if (v == NULL) {
        ac_json_format_error(&s);
    }

    return v;
}


static json_t *
ac_json_fail(ac_json_scan_t *s, const char *msg, size_t pos)
{
    s->failed = 1;
    s->msg = msg;
    s->pos = pos;

    return NULL;
}


static json_t *
ac_json_fail_text(ac_json_scan_t *s, const char *text)
{
    s->failed = 1;
    s->msg = NULL;
    snprintf(s->err->details, sizeof(s->err->details), "%s", text);

    return NULL;
}


/* JSONDecodeError: "msg: line L column C (char K)" in code points */

static void
ac_json_format_error(ac_json_scan_t *s)
{
    size_t  i, chars, line, last_lf;
    int     have_lf;

    s->err->error = "Invalid JSON";

    if (s->msg == NULL) {
        if (!s->failed) {
            snprintf(s->err->details, sizeof(s->err->details),
                     "out of memory");
        }

        return;
    }

    chars = 0;
    line = 1;
    last_lf = 0;
    have_lf = 0;

    for (i = 0; i < s->pos && i < s->n; i++) {
        if (ac_json_cont(s->p[i])) {
            continue;
        }

        if (s->p[i] == '\n') {
            line++;
            last_lf = chars;
            have_lf = 1;
        }

        chars++;
    }

    snprintf(s->err->details, sizeof(s->err->details),
             "%s: line %zu column %zu (char %zu)", s->msg, line,
             have_lf ? chars - last_lf : chars + 1, chars);
}


/* scan_once_unicode() */

static json_t *
ac_json_value(ac_json_scan_t *s, size_t i, size_t *next)
{
    size_t                len;
    json_t               *v;
    const unsigned char  *p, *str;

    p = s->p;

    if (i >= s->n) {
        return ac_json_fail(s, "Expecting value", i);
    }

    switch (p[i]) {

    case '"':
        if (ac_json_string(s, i + 1, next, &str, &len) != 0) {
            return NULL;
        }

        v = json_stringn_nocheck((const char *) str, len);
        if (v == NULL) {
            return ac_json_fail_text(s, "out of memory");
        }

        return v;

    case '{':
    case '[':
        if (s->depth >= AC_JSON_MAX_DEPTH) {
            return ac_json_fail_text(s, p[i] == '{'
                ? "maximum recursion depth exceeded while decoding a JSON"
                  " object from a unicode string"
                : "maximum recursion depth exceeded while decoding a JSON"
                  " array from a unicode string");
        }

        s->depth++;
        v = (p[i] == '{') ? ac_json_object(s, i + 1, next)
                          : ac_json_array(s, i + 1, next);
        s->depth--;

        return v;

    case 'n':
        if (i + 3 < s->n && memcmp(p + i + 1, "ull", 3) == 0) {
            *next = i + 4;
            return json_null();
        }

        break;

    case 't':
        if (i + 3 < s->n && memcmp(p + i + 1, "rue", 3) == 0) {
            *next = i + 4;
            return json_true();
        }

        break;

    case 'f':
        if (i + 4 < s->n && memcmp(p + i + 1, "alse", 4) == 0) {
            *next = i + 5;
            return json_false();
        }

        break;

    case 'N':
        /* NaN: no non-finite reals in jansson, null instead */
        if (i + 2 < s->n && p[i + 1] == 'a' && p[i + 2] == 'N') {
            *next = i + 3;
            return json_null();
        }

        break;

    case 'I':
        if (i + 7 < s->n && memcmp(p + i + 1, "nfinity", 7) == 0) {
            *next = i + 8;
            return json_null();
        }

        break;

    case '-':
        if (i + 8 < s->n && memcmp(p + i + 1, "Infinity", 8) == 0) {
            *next = i + 9;
            return json_null();
        }

        break;
    }

    return ac_json_number(s, i, next);
}


/* _parse_object_unicode(); i is after the '{' */

static json_t *
ac_json_object(ac_json_scan_t *s, size_t i, size_t *next)
{
    size_t                n, j, klen;
    json_t               *obj, *v;
    const unsigned char  *p, *key;

    p = s->p;
    n = s->n;

    obj = json_object();
    if (obj == NULL) {
        return ac_json_fail_text(s, "out of memory");
    }

    while (i < n && ac_json_ws(p[i])) { i++; }

    if (i >= n || p[i] != '}') {

        for ( ;; ) {

            if (i >= n || p[i] != '"') {
                ac_json_fail(s,
                    "Expecting property name enclosed in double quotes", i);
                goto failed;
            }

            if (ac_json_string(s, i + 1, &j, &key, &klen) != 0) {
                goto failed;
            }

            i = j;

            while (i < n && ac_json_ws(p[i])) { i++; }

            if (i >= n || p[i] != ':') {
                ac_json_fail(s, "Expecting ':' delimiter", i);
                goto failed;
            }

            i++;

            while (i < n && ac_json_ws(p[i])) { i++; }

            v = ac_json_value(s, i, &j);
            if (v == NULL) {
                goto failed;
            }

            /* a duplicate key keeps its place and takes the last value */

            if (json_object_setn_new_nocheck(obj, (const char *) key, klen,
                                             v)
                != 0)
            {
                ac_json_fail_text(s, "out of memory");
                goto failed;
            }

            i = j;

            while (i < n && ac_json_ws(p[i])) { i++; }

            if (i < n && p[i] == '}') {
                break;
            }

            if (i >= n || p[i] != ',') {
                ac_json_fail(s, "Expecting ',' delimiter", i);
                goto failed;
            }

            i++;

            while (i < n && ac_json_ws(p[i])) { i++; }
        }
    }

    *next = i + 1;

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


/* _parse_array_unicode(); i is after the '[' */

static json_t *
ac_json_array(ac_json_scan_t *s, size_t i, size_t *next)
{
    size_t                n, j;
    json_t               *arr, *v;
    const unsigned char  *p;

    p = s->p;
    n = s->n;

    arr = json_array();
    if (arr == NULL) {
        return ac_json_fail_text(s, "out of memory");
    }

    while (i < n && ac_json_ws(p[i])) { i++; }

    if (i >= n || p[i] != ']') {

        for ( ;; ) {

            v = ac_json_value(s, i, &j);
            if (v == NULL) {
                goto failed;
            }

            if (json_array_append_new(arr, v) != 0) {
                ac_json_fail_text(s, "out of memory");
                goto failed;
            }

            i = j;

            while (i < n && ac_json_ws(p[i])) { i++; }

            if (i < n && p[i] == ']') {
                break;
            }

            if (i >= n || p[i] != ',') {
                ac_json_fail(s, "Expecting ',' delimiter", i);
                goto failed;
            }

            i++;

            while (i < n && ac_json_ws(p[i])) { i++; }
        }
    }

    *next = i + 1;

    return arr;

failed:

    json_decref(arr);

    return NULL;
}


/* _match_number_unicode() */

static json_t *
ac_json_number(ac_json_scan_t *s, size_t i, size_t *next)
{
    int                   is_float;
    char                  small[64], *num, *end;
    size_t                n, start, e, len, digits;
    double                d;
    json_t               *v;
    long long             ll;
    const unsigned char  *p;

    p = s->p;
    n = s->n;
    start = i;

    if (p[i] == '-') {
        i++;

        if (i >= n) {
            return ac_json_fail(s, "Expecting value", start);
        }
    }

    if (p[i] >= '1' && p[i] <= '9') {
        i++;

        while (i < n && ac_json_digit(p[i])) { i++; }

    } else if (p[i] == '0') {
        i++;

    } else {
        return ac_json_fail(s, "Expecting value", start);
    }

    digits = i - start - (p[start] == '-');
    is_float = 0;

    if (i + 1 < n && p[i] == '.' && ac_json_digit(p[i + 1])) {
        is_float = 1;
        i += 2;

        while (i < n && ac_json_digit(p[i])) { i++; }
    }

    if (i + 1 < n && (p[i] == 'e' || p[i] == 'E')) {
        e = i;
        i++;

        if (i + 1 < n && (p[i] == '-' || p[i] == '+')) {
            i++;
        }

        while (i < n && ac_json_digit(p[i])) { i++; }

        if (ac_json_digit(p[i - 1])) {
            is_float = 1;

        } else {
            i = e;
        }
    }

    if (!is_float && digits > AC_JSON_MAX_DIGITS) {
        snprintf(s->err->details, sizeof(s->err->details),
                 "Exceeds the limit (%d digits) for integer string "
                 "conversion: value has %zu digits; use "
                 "sys.set_int_max_str_digits() to increase the limit",
                 AC_JSON_MAX_DIGITS, digits);
        s->failed = 1;
        s->msg = NULL;
        return NULL;
    }

    len = i - start;

    if (len < sizeof(small)) {
        num = small;

    } else {
        num = malloc(len + 1);
        if (num == NULL) {
            return ac_json_fail_text(s, "out of memory");
        }
    }

    memcpy(num, p + start, len);
    num[len] = '\0';

    v = NULL;

    if (!is_float) {
        errno = 0;
        ll = strtoll(num, &end, 10);

        if (errno == 0) {
            v = json_integer((json_int_t) ll);
            goto done;
        }

        /* beyond int64: a real */
    }

    d = strtod(num, &end);

    /* 1e400 is inf to Python; jansson has no inf: null */

    v = isfinite(d) ? json_real(d) : json_null();

done:

    if (num != small) {
        free(num);
    }

    if (v == NULL) {
        return ac_json_fail_text(s, "out of memory");
    }

    *next = i;

    return v;
}


/*
 * scanstring_unicode(): i is after the opening quote.  The string is
 * returned in place when it has no escapes, else unescaped into the
 * scratch buffer at the same offset (unescaping only shrinks, so strings
 * never overlap there).
 */

static int
ac_json_string(ac_json_scan_t *s, size_t i, size_t *next,
    const unsigned char **str, size_t *len)
{
    size_t                n, j, begin, end;
    unsigned              c, c2, k, h;
    unsigned char        *d, *d0;
    const unsigned char  *p;

    p = s->p;
    n = s->n;
    begin = i - 1;

    for (j = i; j < n; j++) {
        c = p[j];

        if (c == '"' || c == '\\') {
            break;
        }

        if (c < 0x20) {
            ac_json_fail(s, "Invalid control character at", j);
            return -1;
        }
    }

    if (j >= n) {
        ac_json_fail(s, "Unterminated string starting at", begin);
        return -1;
    }

    if (p[j] == '"') {
        *str = p + i;
        *len = j - i;
        *next = j + 1;
        return 0;
    }

    if (s->scratch == NULL) {
        s->scratch = malloc(n);
        if (s->scratch == NULL) {
            ac_json_fail_text(s, "out of memory");
            return -1;
        }
    }

    d0 = s->scratch + i;
    memcpy(d0, p + i, j - i);
    d = d0 + (j - i);

    for ( ;; ) {

        /* p[j] is '"' or '\\' */

        if (p[j] == '"') {
            break;
        }

        j++;

        if (j == n) {
            ac_json_fail(s, "Unterminated string starting at", begin);
            return -1;
        }

        c = p[j];

        if (c != 'u') {
            switch (c) {
            case '"':
            case '\\':
            case '/':
                break;
            case 'b':
                c = '\b';
                break;
            case 'f':
                c = '\f';
                break;
            case 'n':
                c = '\n';
                break;
            case 'r':
                c = '\r';
                break;
            case 't':
                c = '\t';
                break;
            default:
                ac_json_fail(s, "Invalid \\escape", j - 1);
                return -1;
            }

            *d++ = (unsigned char) c;
            j++;
            goto run;
        }

        j++;
        end = j + 4;

        if (end >= n) {
            ac_json_fail(s, "Invalid \\uXXXX escape", j - 1);
            return -1;
        }

        c = 0;

        for ( ; j < end; j++) {
            h = p[j];

            if (ac_json_digit(h)) {
                k = h - '0';

            } else if (h >= 'a' && h <= 'f') {
                k = h - 'a' + 10;

            } else if (h >= 'A' && h <= 'F') {
                k = h - 'A' + 10;

            } else {
                ac_json_fail(s, "Invalid \\uXXXX escape", end - 5);
                return -1;
            }

            c = (c << 4) | k;
        }

        if (c >= 0xd800 && c <= 0xdbff && end + 6 < n
            && p[end] == '\\' && p[end + 1] == 'u')
        {
            c2 = 0;

            for (j = end + 2; j < end + 6; j++) {
                h = p[j];

                if (ac_json_digit(h)) {
                    k = h - '0';

                } else if (h >= 'a' && h <= 'f') {
                    k = h - 'a' + 10;

                } else if (h >= 'A' && h <= 'F') {
                    k = h - 'A' + 10;

                } else {
                    ac_json_fail(s, "Invalid \\uXXXX escape", end + 1);
                    return -1;
                }

                c2 = (c2 << 4) | k;
            }

            if (c2 >= 0xdc00 && c2 <= 0xdfff) {
                c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
                end += 6;
            }
        }

        j = end;

        /* lone surrogates come out as 3 bytes, like surrogatepass */

        if (c < 0x80) {
            *d++ = (unsigned char) c;

        } else if (c < 0x800) {
            *d++ = (unsigned char) (0xc0 | (c >> 6));
            *d++ = (unsigned char) (0x80 | (c & 0x3f));

        } else if (c < 0x10000) {
            *d++ = (unsigned char) (0xe0 | (c >> 12));
            *d++ = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (unsigned char) (0x80 | (c & 0x3f));

        } else {
            *d++ = (unsigned char) (0xf0 | (c >> 18));
            *d++ = (unsigned char) (0x80 | ((c >> 12) & 0x3f));
            *d++ = (unsigned char) (0x80 | ((c >> 6) & 0x3f));
            *d++ = (unsigned char) (0x80 | (c & 0x3f));
        }

    run:

        i = j;

        for ( /* void */ ; j < n; j++) {
            c = p[j];

            if (c == '"' || c == '\\') {
                break;
            }

            if (c < 0x20) {
                ac_json_fail(s, "Invalid control character at", j);
                return -1;
            }
        }

        if (j >= n) {
            ac_json_fail(s, "Unterminated string starting at", begin);
            return -1;
        }

        memcpy(d, p + i, j - i);
        d += j - i;
    }

    *str = d0;
    *len = (size_t) (d - d0);
    *next = j + 1;

    return 0;
}


/* writing */

#define AC_ONES    0x0101010101010101ULL
#define AC_HIGHS   0x8080808080808080ULL

/* nonzero if some byte of w is < 0x20, '"' or '\\' */
#define ac_json_unsafe(w)                                                    \
    ((((w) - AC_ONES * 0x20) & ~(w) & AC_HIGHS)                              \
     | ((((w) ^ (AC_ONES * 0x22)) - AC_ONES) & ~((w) ^ (AC_ONES * 0x22))     \
        & AC_HIGHS)                                                          \
     | ((((w) ^ (AC_ONES * 0x5c)) - AC_ONES) & ~((w) ^ (AC_ONES * 0x5c))     \
        & AC_HIGHS))


size_t
ac_json_escape(unsigned char *dst, const unsigned char *s, size_t len)
{
    size_t                n;
    uint64_t              w;
    unsigned char        *d;
    unsigned              c, e;
    const unsigned char  *p, *end, *run;

    p = s;
    end = s + len;

    if (dst == NULL) {
        n = len;

        while (p < end) {
            if (end - p >= 8) {
                memcpy(&w, p, 8);

                if (!ac_json_unsafe(w)) {
                    p += 8;
                    continue;
                }
            }

            e = ac_json_esc[*p++];

            if (e) {
                n += (e == 'u') ? 5 : 1;
            }
        }

        return n;
    }

    d = dst;

    while (p < end) {
        run = p;

        for ( ;; ) {
            while (end - p >= 8) {
                memcpy(&w, p, 8);

                if (ac_json_unsafe(w)) {
                    break;
                }

                p += 8;
            }

            if (p == end || ac_json_esc[*p]) {
                break;
            }

            p++;
        }

        if (p != run) {
            memcpy(d, run, (size_t) (p - run));
            d += p - run;
        }

        if (p == end) {
            break;
        }

        c = *p++;
        e = ac_json_esc[c];

        *d++ = '\\';

        if (e == 'u') {
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = (unsigned char) ac_json_hex[c >> 4];
            *d++ = (unsigned char) ac_json_hex[c & 0xf];

        } else {
            *d++ = (unsigned char) e;
        }
    }

    return (size_t) (d - dst);
}


size_t
ac_sse_text_event(unsigned char *dst, const unsigned char *s, size_t len)
{
    size_t  n;

    if (dst == NULL) {
        return sizeof("data: \"") - 1 + ac_json_escape(NULL, s, len)
               + sizeof("\"\n\n") - 1;
    }

    memcpy(dst, "data: \"", sizeof("data: \"") - 1);
    n = sizeof("data: \"") - 1;
    n += ac_json_escape(dst + n, s, len);
    memcpy(dst + n, "\"\n\n", sizeof("\"\n\n") - 1);

    return n + sizeof("\"\n\n") - 1;
}


char *
ac_json_dumps_jansson(json_t *v, size_t *len)
{
    ac_json_out_t  o;

    memset(&o, 0, sizeof(ac_json_out_t));
    o.jansson = 1;

    if (ac_json_reserve(&o, 1024) == NULL
        || ac_json_dump_value(&o, v, 0) != 0
        || ac_json_reserve(&o, 1) == NULL)
    {
        free(o.buf);
        return NULL;
    }

    o.buf[o.len] = '\0';

    if (len) {
        *len = o.len;
    }

    return (char *) o.buf;
}


char *
ac_json_dumps_jansson_between(const char *prefix, size_t prefix_len,
    json_t *v, const char *suffix, size_t suffix_len, size_t *len)
{
    ac_json_out_t  o;

    memset(&o, 0, sizeof(ac_json_out_t));
    o.jansson = 1;

    if (ac_json_reserve(&o, prefix_len + 1024 + suffix_len) == NULL) {
        return NULL;
    }

    memcpy(o.buf, prefix, prefix_len);
    o.len = prefix_len;

    if (ac_json_dump_value(&o, v, 0) != 0
        || ac_json_reserve(&o, suffix_len + 1) == NULL)
    {
        free(o.buf);
        return NULL;
    }

    memcpy(o.buf + o.len, suffix, suffix_len);
    o.len += suffix_len;
    o.buf[o.len] = '\0';

    if (len) {
        *len = o.len;
    }

    return (char *) o.buf;
}


char *
ac_json_dumps(json_t *v, int spaced, size_t *len)
{
    ac_json_out_t  o;

    memset(&o, 0, sizeof(ac_json_out_t));
    o.spaced = spaced;

    if (ac_json_reserve(&o, 64) == NULL
        || ac_json_dump_value(&o, v, 0) != 0
        || ac_json_reserve(&o, 1) == NULL)
    {
        free(o.buf);
        return NULL;
    }

    o.buf[o.len] = '\0';

    if (len) {
        *len = o.len;
    }

    return (char *) o.buf;
}


static unsigned char *
ac_json_reserve(ac_json_out_t *o, size_t more)
{
    size_t          cap;
    unsigned char  *buf;

    if (o->failed) {
        return NULL;
    }

    if (o->cap - o->len >= more) {
        return o->buf + o->len;
    }

    cap = o->cap ? o->cap : 64;

    while (cap - o->len < more) {
        if (cap > SIZE_MAX / 2) {
            o->failed = 1;
            return NULL;
        }

        cap *= 2;
    }

    buf = realloc(o->buf, cap);
    if (buf == NULL) {
        o->failed = 1;
        return NULL;
    }

    o->buf = buf;
    o->cap = cap;

    return o->buf + o->len;
}


static void
ac_json_append(ac_json_out_t *o, const void *data, size_t len)
{
    unsigned char  *d;

    d = ac_json_reserve(o, len);
    if (d == NULL) {
        return;
    }

    memcpy(d, data, len);
    o->len += len;
}


/*
 * A string as jansson's dump_string() writes it without flags: valid
 * UTF-8 copied, " \\ \b \f \n \r \t escaped, other bytes < 0x20 as
 * \u00XX (upper case).  Invalid UTF-8 (as jansson's utf8_iterate() sees
 * it: no overlong forms, surrogates or code points above U+10FFFF) fails
 * the dump; in a key jansson ignores the failure and goes on, having
 * written the quote and the text up to the last escape: so does this.
 */

static void
ac_json_append_jansson(ac_json_out_t *o, const char *s, size_t len,
    int key)
{
    size_t                need, i;
    uint32_t              cp, min;
    uint64_t              w;
    unsigned char        *d, *flushed;
    const unsigned char  *p, *end;

    static const char  hex[] = "0123456789ABCDEF";

    /* at worst 6 bytes out for each byte in */

    if (len > (SIZE_MAX - 2) / 6) {
        o->failed = 1;
        return;
    }

    d = ac_json_reserve(o, len * 6 + 2);
    if (d == NULL) {
        return;
    }

    p = (const unsigned char *) s;
    end = p + len;

    *d++ = '"';
    flushed = d;

    while (p < end) {

        /* ASCII with nothing to escape, 8 bytes at a time */

        while (end - p >= 8) {
            memcpy(&w, p, 8);

            if ((w & AC_HIGHS) || ac_json_unsafe(w)) {
                break;
            }

            memcpy(d, p, 8);
            d += 8;
            p += 8;
        }

        if (p == end) {
            break;
        }

        if (*p < 0x80) {
            if (ac_json_esc[*p] == 0) {
                *d++ = *p++;
                continue;
            }

            *d++ = '\\';

            switch (*p) {
            case '"': case '\\': *d++ = *p; break;
            case '\b': *d++ = 'b'; break;
            case '\f': *d++ = 'f'; break;
            case '\n': *d++ = 'n'; break;
            case '\r': *d++ = 'r'; break;
            case '\t': *d++ = 't'; break;
            default:
                *d++ = 'u';
                *d++ = '0';
                *d++ = '0';
                *d++ = (unsigned char) hex[*p >> 4];
                *d++ = (unsigned char) hex[*p & 0xf];
                break;
            }

            p++;
            flushed = d;
            continue;
        }

        if (*p >= 0xc2 && *p <= 0xdf) {
            need = 1;
            cp = *p & 0x1f;
            min = 0x80;

        } else if (*p >= 0xe0 && *p <= 0xef) {
            need = 2;
            cp = *p & 0x0f;
            min = 0x800;

        } else if (*p >= 0xf0 && *p <= 0xf4) {
            need = 3;
            cp = *p & 0x07;
            min = 0x10000;

        } else {
            goto invalid;
        }

        if ((size_t) (end - p) <= need) {
            goto invalid;
        }

        for (i = 1; i <= need; i++) {
            if (!ac_json_cont(p[i])) {
                goto invalid;
            }

            cp = (cp << 6) | (p[i] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            goto invalid;
        }

        memcpy(d, p, need + 1);
        d += need + 1;
        p += need + 1;
    }

    *d++ = '"';

    o->len = (size_t) (d - o->buf);

    return;

invalid:

    if (key) {
        o->len = (size_t) (flushed - o->buf);
        return;
    }

    o->failed = 1;
}


static void
ac_json_append_string(ac_json_out_t *o, const char *s, size_t len)
{
    size_t          n;
    unsigned char  *d;

    if (o->jansson) {
        ac_json_append_jansson(o, s, len, 0);
        return;
    }

    n = ac_json_escape(NULL, (const unsigned char *) s, len);

    d = ac_json_reserve(o, n + 2);
    if (d == NULL) {
        return;
    }

    *d++ = '"';
    d += ac_json_escape(d, (const unsigned char *) s, len);
    *d = '"';

    o->len += n + 2;
}


static int
ac_json_dump_value(ac_json_out_t *o, json_t *v, int depth)
{
    int          first;
    char         num[64], *real;
    void        *it;
    size_t       i, n;
    const char  *key;

    if (v == NULL || depth > AC_JSON_DUMP_MAX_DEPTH) {
        return -1;
    }

    switch (json_typeof(v)) {

    case JSON_OBJECT:
        ac_json_append(o, "{", 1);
        first = 1;

        for (it = json_object_iter(v); it; it = json_object_iter_next(v, it))
        {
            if (!first) {
                ac_json_append(o, ", ", o->spaced ? 2 : 1);
            }

            first = 0;
            key = json_object_iter_key(it);

            if (o->jansson) {
                ac_json_append_jansson(o, key, json_object_iter_key_len(it),
                                       1);

            } else {
                ac_json_append_string(o, key, json_object_iter_key_len(it));
            }

            ac_json_append(o, ": ", o->spaced ? 2 : 1);

            if (ac_json_dump_value(o, json_object_iter_value(it), depth + 1)
                != 0)
            {
                return -1;
            }
        }

        ac_json_append(o, "}", 1);
        break;

    case JSON_ARRAY:
        ac_json_append(o, "[", 1);
        n = json_array_size(v);

        for (i = 0; i < n; i++) {
            if (i) {
                ac_json_append(o, ", ", o->spaced ? 2 : 1);
            }

            if (ac_json_dump_value(o, json_array_get(v, i), depth + 1) != 0)
            {
                return -1;
            }
        }

        ac_json_append(o, "]", 1);
        break;

    case JSON_STRING:
        ac_json_append_string(o, json_string_value(v), json_string_length(v));
        break;

    case JSON_INTEGER:
        n = (size_t) snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                              json_integer_value(v));
        ac_json_append(o, num, n);
        break;

    case JSON_REAL:
        if (o->jansson) {
            /* rare in a request: jansson's own formatting */
            real = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            if (real == NULL) {
                return -1;
            }

            ac_json_append(o, real, strlen(real));
            free(real);
            break;
        }

        n = ac_json_real_repr(num, json_real_value(v));
        ac_json_append(o, num, n);
        break;

    case JSON_TRUE:
        ac_json_append(o, "true", 4);
        break;

    case JSON_FALSE:
        ac_json_append(o, "false", 5);
        break;

    case JSON_NULL:
        ac_json_append(o, "null", 4);
        break;
    }

    return o->failed ? -1 : 0;
}


/*
 * A digit string and a decimal exponent for d > 0, finite: the shortest
 * that reads back as d, the closest to d among those (what repr() gets
 * from _Py_dg_dtoa mode 0).  value = 0.DIGITS * 10^decpt.  Returns the
 * digit count.
 */

static int
ac_json_shortest(double d, char *digits, int *decpt)
{
    int     prec, nd, exp10, i;
    char    buf[40], *q, *e;
    double  r;

    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
        r = strtod(buf, NULL);

        /* "d.ddde+XX" -> digits, exponent */

        nd = 0;

        for (q = buf; *q != 'e'; q++) {
            if (*q != '.') {
                digits[nd++] = *q;
            }
        }

        exp10 = (int) strtol(q + 1, &e, 10);

        if (r == d) {
            goto found;
        }

        if (prec == 17) {
            break;
        }

        /*
         * The nearest prec-digit decimal does not read back, yet its
         * neighbour on the other side of d may: the rounding interval of
         * a power of two is twice as wide above as below.
         */

        i = nd - 1;

        if (r < d) {
            while (i >= 0 && digits[i] == '9') {
                digits[i--] = '0';
            }

            if (i < 0) {
                memmove(digits + 1, digits, (size_t) nd);
                digits[0] = '1';
                exp10++;

            } else {
                digits[i]++;
            }

        } else {
            while (i >= 0 && digits[i] == '0') {
                digits[i--] = '9';
            }

            digits[i]--;

            if (digits[0] == '0') {
                memmove(digits, digits + 1, (size_t) nd - 1);
                digits[nd - 1] = '9';
                exp10--;
            }
        }

        snprintf(buf, sizeof(buf), "%c.%.*se%d", digits[0], nd - 1,
                 digits + 1, exp10);

        if (nd == 1) {
            snprintf(buf, sizeof(buf), "%ce%d", digits[0], exp10);
        }

        if (strtod(buf, NULL) == d) {
            goto found;
        }
    }

    /* 17 digits always read back */

found:

    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
    }

    digits[nd] = '\0';
    *decpt = exp10 + 1;

    return nd;
}


/* repr(float) as json.dumps writes it; buf holds at least 32 bytes */

static size_t
ac_json_real_repr(char *buf, double d)
{
    int     nd, decpt, i, x;
    char    digits[24], *q;

    if (isnan(d)) {
        memcpy(buf, "NaN", 4);
        return 3;
    }

    if (isinf(d)) {
        if (d < 0) {
            memcpy(buf, "-Infinity", 10);
            return 9;
        }

        memcpy(buf, "Infinity", 9);
        return 8;
    }

    q = buf;

    if (signbit(d)) {
        *q++ = '-';
        d = -d;
    }

    if (d == 0) {
        memcpy(q, "0.0", 4);
        return (size_t) (q - buf) + 3;
    }

    nd = ac_json_shortest(d, digits, &decpt);

    if (decpt <= -4 || decpt > 16) {
        *q++ = digits[0];

        if (nd > 1) {
            *q++ = '.';
            memcpy(q, digits + 1, (size_t) nd - 1);
            q += nd - 1;
        }

        x = decpt - 1;
        *q++ = 'e';
        *q++ = (x < 0) ? '-' : '+';

        if (x < 0) {
            x = -x;
        }

        q += sprintf(q, "%02d", x);

    } else if (decpt <= 0) {
        *q++ = '0';
        *q++ = '.';

        for (i = decpt; i < 0; i++) {
            *q++ = '0';
        }

        memcpy(q, digits, (size_t) nd);
        q += nd;

    } else if (decpt >= nd) {
        memcpy(q, digits, (size_t) nd);
        q += nd;

        for (i = nd; i < decpt; i++) {
            *q++ = '0';
        }

        *q++ = '.';
        *q++ = '0';

    } else {
        memcpy(q, digits, (size_t) decpt);
        q += decpt;
        *q++ = '.';
        memcpy(q, digits + decpt, (size_t) (nd - decpt));
        q += nd - decpt;
    }

    *q = '\0';

    return (size_t) (q - buf);
}
