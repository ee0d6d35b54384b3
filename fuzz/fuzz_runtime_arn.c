
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_runtime_arn_parse() on arbitrary bytes; for an
 * accepted ARN, the host and the wire path.  The bytes after the first
 * LF are the qualifier.
 *  - an accepted ARN's parts lie inside it and are non-empty;
 *  - the host fits AC_RUNTIME_HOST_MAX, the wire path the size the
 *    header promises, and it holds no byte outside the unreserved set,
 *    '%', '/', '?', '=' (so it cannot break a request line);
 *  - a rejection always says why.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_runtime_arn.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char               *out, host[AC_RUNTIME_HOST_MAX];
    size_t              len, qlen, n, q, i;
    const char         *arn, *qual, *error, *lf;
    ac_runtime_arn_t    a;

    arn = (const char *) data;
    lf = memchr(data, '\n', size);
    len = lf ? (size_t) (lf - arn) : size;
    qual = lf ? lf + 1 : "";
    qlen = lf ? size - len - 1 : 0;

    error = NULL;

    if (ac_runtime_arn_parse(arn, len, &a, &error) != 0) {
        check(error != NULL && error[0] != '\0');
        return 0;
    }

    check(a.partition > arn && a.partition_len > 0);
    check(a.region >= arn && a.region + a.region_len <= arn + len);
    check(a.region_len > 0 && a.account_len == 12 && a.id_len > 0);
    check(a.id + a.id_len == arn + len);

    n = ac_runtime_host(&a, host);
    check(n > 0 && n < AC_RUNTIME_HOST_MAX && strlen(host) == n);

    if (!ac_runtime_qualifier_valid(qual, qlen)) {
        qlen = 0;
    }

    out = malloc(3 * (len + qlen) + 64);
    check(out != NULL);

    n = ac_runtime_wire_path(arn, len, qual, qlen, out, &q);
    check(n == strlen(out) && q <= n);

    for (i = 0; i < n; i++) {
        check((out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= 'a'
               && out[i] <= 'z') || (out[i] >= '0' && out[i] <= '9')
              || strchr("-._~%/?=", out[i]) != NULL);
    }

    free(out);

    return 0;
}
