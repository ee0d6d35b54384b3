
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_calculator() on an expression made of arbitrary
 * bytes.  The first byte picks the precision (sometimes out of range),
 * the second the flags: scientific, a mode (one of eight, with the first
 * byte's high bit; the symbolic modes get an order, a point and
 * sometimes wrt), and whether the text after the first LF is the string
 * value of the variable "x" (else x is a number).
 *  - the result is AC_CALC_SUCCESS with "Result: ..." or AC_CALC_ERROR
 *    with "Error: ...", never NULL;
 *  - the text is bounded (a 4300-digit integer at most) and NUL-free;
 *  - evaluating the same input again gives the same text.
 * Run with -timeout=1 (make fuzz and make fuzz-quick pass it): every
 * input is meant to finish in milliseconds; the work is bounded by the
 * input (steps, bits, nodes, degrees: ngx_http_agentcore_calculator.h,
 * ngx_http_agentcore_cas.h), not by a clock.
 *
 * Memory: the RSS that grew to 823 MB is ASan's, not a leak: freed
 * chunks wait in a 256 MB quarantine and the allocator keeps them, and
 * the stack depot keeps every allocation stack (Giac allocates from very
 * many).  With quarantine_size_mb=0 the numeric-only fuzzer stayed near
 * 60 MB after 800,000 runs, and this fuzzer built without ASan stays
 * near 60 MB; LeakSanitizer finds nothing beyond Giac's process-lifetime
 * tables (unit/lsan.supp).  make fuzz runs with quarantine_size_mb=32
 * and malloc_context_size=2 (rerun an artifact without them for full
 * allocation stacks).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_calculator.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static json_t *
make_input(const uint8_t *data, size_t size)
{
    int            precision, flags, mode;
    json_t        *in, *vars;
    const uint8_t *lf;
    static const char  *modes[] = {
        "evaluate", "solve", "other", "matrix",
        "derive", "integrate", "limit", "series"
    };

    precision = data[0] % 104 - 1;      /* -1 .. 102 */
    flags = data[1];
    data += 2;
    size -= 2;

    in = json_object();
    check(in != NULL);

    if (flags & 0x03) {
        json_object_set_new(in, "precision", json_integer(precision));
    }

    if (flags & 0x04) {
        json_object_set_new(in, "scientific", json_true());
    }

    if (flags & 0x08) {
        mode = ((flags >> 4) & 0x03) | ((data[-2] & 0x80) >> 5);
        json_object_set_new(in, "mode", json_string(modes[mode]));

        /* the symbolic modes' parameters */
        if (mode >= 4) {
            json_object_set_new(in, "order", json_integer(precision % 9));
            json_object_set_new(in, "point",
                                json_string((flags & 0x04) ? "oo" : "1"));

            if (flags & 0x80) {
                json_object_set_new(in, "wrt", json_string("y"));
            }
        }
    }

    vars = json_object();

    lf = (flags & 0x40) ? memchr(data, '\n', size) : NULL;

    if (lf) {
        json_object_set_new(vars, "x",
                            json_stringn((const char *) lf + 1,
                                         size - (size_t) (lf + 1 - data)));
        size = (size_t) (lf - data);

    } else if (flags & 0x80) {
        json_object_set_new(vars, "x", json_real(0.1 * precision));

    } else {
        json_object_set_new(vars, "x", json_integer(precision));
    }

    json_object_set_new(vars, "y", json_string("2*pi"));
    json_object_set_new(in, "variables", vars);

    /* raw bytes: UTF-8 or not, NUL bytes included */
    json_object_set_new(in, "expression",
                        json_stringn_nocheck((const char *) data, size));

    return in;
}


static void
check_text(int rc, const char *text)
{
    size_t  n;

    check(text != NULL);
    check(rc == AC_CALC_SUCCESS || rc == AC_CALC_ERROR);

    n = strlen(text);
    check(n < 4400);

    if (rc == AC_CALC_SUCCESS) {
        check(strncmp(text, "Result: ", 8) == 0 && n > 8);

    } else {
        check(strncmp(text, "Error: ", 7) == 0 && n > 7);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int      rc, rc2;
    char    *text, *text2;
    json_t  *in;

    if (size < 2 || size > 5000) {
        return 0;
    }

    in = make_input(data, size);

    text = NULL;
    rc = ac_calculator(in, &text);
    check_text(rc, text);

    text2 = NULL;
    rc2 = ac_calculator(in, &text2);
    check_text(rc2, text2);
    check(rc == rc2 && strcmp(text, text2) == 0);

    free(text);
    free(text2);
    json_decref(in);

    return 0;
}
