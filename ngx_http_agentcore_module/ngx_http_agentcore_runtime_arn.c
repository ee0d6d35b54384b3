
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Runtime addressing, plain C (no nginx types).
 */


#include <string.h>

#include "ngx_http_agentcore_runtime_arn.h"


#define AC_LOWER(c)   ((c) >= 'a' && (c) <= 'z')
#define AC_DIGIT(c)   ((c) >= '0' && (c) <= '9')
#define AC_ALNUM(c)   (AC_LOWER(c) || AC_DIGIT(c) || ((c) >= 'A' && (c) <= 'Z'))


static const char  ac_hex[] = "0123456789ABCDEF";


static size_t
ac_runtime_field(const char *p, const char *end)
{
    const char  *s;

    for (s = p; s < end && *s != ':'; s++) {
        /* void */
    }

    return s - p;
}


int
ac_runtime_arn_parse(const char *arn, size_t len, ac_runtime_arn_t *out,
    const char **error)
{
    size_t       i, n;
    const char  *p, *end;

    memset(out, 0, sizeof(ac_runtime_arn_t));

    if (len > AC_RUNTIME_ARN_MAX) {
        *error = "too long";
        return -1;
    }

    p = arn;
    end = arn + len;

    if (len < 4 || memcmp(p, "arn:", 4) != 0) {
        *error = "does not begin with \"arn:\"";
        return -1;
    }

    p += 4;

    /* the partition */

    n = ac_runtime_field(p, end);

    for (i = 0; i < n; i++) {
        if (!AC_LOWER(p[i]) && p[i] != '-') {
            break;
        }
    }

    if (n == 0 || i < n || p + n == end) {
        *error = "has no partition (\"aws\")";
        return -1;
    }

    out->partition = p;
    out->partition_len = n;
    p += n + 1;

    /* the service */

    n = ac_runtime_field(p, end);

    if (n != sizeof("bedrock-agentcore") - 1
        || memcmp(p, "bedrock-agentcore", n) != 0 || p + n == end)
    {
        *error = "is not a \"bedrock-agentcore\" ARN";
        return -1;
    }

    p += n + 1;

    /* the region */

    n = ac_runtime_field(p, end);

    for (i = 0; i < n; i++) {
        if (!AC_LOWER(p[i]) && !AC_DIGIT(p[i]) && p[i] != '-') {
            break;
        }
    }

    if (n == 0 || n > 31 || i < n || p + n == end) {
        *error = "has no region name (lower-case letters, digits, \"-\")";
        return -1;
    }

    out->region = p;
    out->region_len = n;
    p += n + 1;

    /* the account */

    n = ac_runtime_field(p, end);

    for (i = 0; i < n; i++) {
        if (!AC_DIGIT(p[i])) {
            break;
        }
    }

    if (n != 12 || i < n || p + n == end) {
        *error = "has no account (12 digits)";
        return -1;
    }

    out->account = p;
    out->account_len = n;
    p += n + 1;

    /* the resource */

    if ((size_t) (end - p) < sizeof("runtime/") - 1
        || memcmp(p, "runtime/", sizeof("runtime/") - 1) != 0)
    {
        *error = "does not name a runtime (\"runtime/ID\")";
        return -1;
    }

    p += sizeof("runtime/") - 1;
    n = end - p;

    for (i = 0; i < n; i++) {
        if (!AC_ALNUM(p[i]) && p[i] != '_' && p[i] != '-') {
            break;
        }
    }

    if (n == 0 || n > 100 || i < n) {
        *error = "has no runtime id (letters, digits, \"_\" and \"-\")";
        return -1;
    }

    out->id = p;
    out->id_len = n;

    return 0;
}


int
ac_runtime_qualifier_valid(const char *q, size_t len)
{
    size_t  i;

    if (len == 0 || len > AC_RUNTIME_QUALIFIER_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!AC_ALNUM(q[i]) && q[i] != '_' && q[i] != '-') {
            return 0;
        }
    }

    return 1;
}


size_t
ac_runtime_host(const ac_runtime_arn_t *arn, char *out)
{
    char        *p;
    size_t       n;
    const char  *suffix;

    if (arn->partition_len == sizeof("aws-cn") - 1
        && memcmp(arn->partition, "aws-cn", arn->partition_len) == 0)
    {
        suffix = ".amazonaws.com.cn";

    } else {
        suffix = ".amazonaws.com";
    }

    n = sizeof("bedrock-agentcore.") - 1 + arn->region_len + strlen(suffix);

    if (n + 1 > AC_RUNTIME_HOST_MAX) {
        return 0;
    }

    p = out;
    memcpy(p, "bedrock-agentcore.", sizeof("bedrock-agentcore.") - 1);
    p += sizeof("bedrock-agentcore.") - 1;
    memcpy(p, arn->region, arn->region_len);
    p += arn->region_len;
    strcpy(p, suffix);

    return n;
}


static char *
ac_runtime_encode(char *p, const char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];

        if (AC_ALNUM(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *p++ = (char) c;
            continue;
        }

        *p++ = '%';
        *p++ = ac_hex[c >> 4];
        *p++ = ac_hex[c & 0x0f];
    }

    return p;
}


size_t
ac_runtime_wire_path(const char *arn, size_t len, const char *qualifier,
    size_t qualifier_len, char *out, size_t *query_at)
{
    char  *p;

    p = out;

    memcpy(p, "/runtimes/", sizeof("/runtimes/") - 1);
    p += sizeof("/runtimes/") - 1;

    p = ac_runtime_encode(p, arn, len);

    memcpy(p, "/invocations", sizeof("/invocations") - 1);
    p += sizeof("/invocations") - 1;

    *query_at = p - out;

    if (qualifier_len) {
        memcpy(p, "?qualifier=", sizeof("?qualifier=") - 1);
        p += sizeof("?qualifier=") - 1;
        *query_at += 1;

        p = ac_runtime_encode(p, qualifier, qualifier_len);
    }

    *p = '\0';

    return p - out;
}


void
ac_runtime_uuid4(const unsigned char random[16], char out[37])
{
    int            i;
    char          *p;
    unsigned char  c;

    p = out;

    for (i = 0; i < 16; i++) {
        c = random[i];

        if (i == 6) {
            c = (c & 0x0f) | 0x40;

        } else if (i == 8) {
            c = (c & 0x3f) | 0x80;
        }

        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        *p++ = "0123456789abcdef"[c >> 4];
        *p++ = "0123456789abcdef"[c & 0x0f];
    }

    *p = '\0';
}
