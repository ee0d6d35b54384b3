/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Runtime addressing: the ARN, the host, the wire path and
 * query (as boto3 sends them), the generated session id.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_runtime_arn.h"


#define ARN  "arn:aws:bedrock-agentcore:us-west-2:123456789012:" \
             "runtime/hosted_agent-AbC123"


static int
parse(const char *arn, ac_runtime_arn_t *a, const char **err)
{
    *err = NULL;
    return ac_runtime_arn_parse(arn, strlen(arn), a, err);
}


static void
test_arn_parse(void **state)
{
    const char        *err;
    ac_runtime_arn_t   a;

    assert_int_equal(parse(ARN, &a, &err), 0);
    assert_int_equal(a.partition_len, 3);
    assert_memory_equal(a.partition, "aws", 3);
    assert_int_equal(a.region_len, 9);
    assert_memory_equal(a.region, "us-west-2", 9);
    assert_int_equal(a.account_len, 12);
    assert_memory_equal(a.account, "123456789012", 12);
    assert_int_equal(a.id_len, 19);
    assert_memory_equal(a.id, "hosted_agent-AbC123", 19);

    assert_int_equal(parse("arn:aws-cn:bedrock-agentcore:cn-north-1:"
                           "123456789012:runtime/a", &a, &err), 0);
    assert_memory_equal(a.partition, "aws-cn", 6);
}


static void
test_arn_refused(void **state)
{
    size_t             i;
    const char        *err;
    ac_runtime_arn_t   a;
    char               long_arn[400];

    static const struct {
        const char  *arn;
        const char  *error;
    } bad[] = {
        { "", "does not begin" },
        { "aws:bedrock-agentcore:us-west-2:123456789012:runtime/a",
          "does not begin" },
        { "arn::bedrock-agentcore:us-west-2:123456789012:runtime/a",
          "partition" },
        { "arn:AWS:bedrock-agentcore:us-west-2:123456789012:runtime/a",
          "partition" },
        { "arn:aws", "partition" },
        { "arn:aws:bedrock:us-west-2:123456789012:runtime/a",
          "bedrock-agentcore" },
        { "arn:aws:bedrock-agentcore", "bedrock-agentcore" },
        { "arn:aws:bedrock-agentcore::123456789012:runtime/a", "region" },
        { "arn:aws:bedrock-agentcore:US-WEST-2:123456789012:runtime/a",
          "region" },
        { "arn:aws:bedrock-agentcore:us/west:123456789012:runtime/a",
          "region" },
        { "arn:aws:bedrock-agentcore:us-west-2:12345:runtime/a",
          "account" },
        { "arn:aws:bedrock-agentcore:us-west-2:12345678901x:runtime/a",
          "account" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012", "account" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012:gateway/a",
          "runtime" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/",
          "runtime id" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/a/b",
          "runtime id" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/a b",
          "runtime id" },
        { "arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/a\r\n",
          "runtime id" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i].arn, &a, &err), -1);
        assert_non_null(err);

        if (strstr(err, bad[i].error) == NULL) {
            fail_msg("%s: \"%s\", wanted \"%s\"", bad[i].arn, err,
                     bad[i].error);
        }
    }

    /* a NUL inside is not the end */
    assert_int_equal(ac_runtime_arn_parse(ARN "\0x", sizeof(ARN) + 1, &a,
                                          &err), -1);

    memset(long_arn, 'a', sizeof(long_arn));
    memcpy(long_arn, ARN, sizeof(ARN) - 1);
    assert_int_equal(ac_runtime_arn_parse(long_arn, sizeof(long_arn), &a,
                                          &err), -1);
    assert_string_equal(err, "too long");
}


static void
test_qualifier(void **state)
{
    char  q[200];

    assert_true(ac_runtime_qualifier_valid("DEFAULT", 7));
    assert_true(ac_runtime_qualifier_valid("prod_v-2", 8));
    assert_false(ac_runtime_qualifier_valid("", 0));
    assert_false(ac_runtime_qualifier_valid("a b", 3));
    assert_false(ac_runtime_qualifier_valid("a&b=c", 5));

    memset(q, 'a', sizeof(q));
    assert_true(ac_runtime_qualifier_valid(q, AC_RUNTIME_QUALIFIER_MAX));
    assert_false(ac_runtime_qualifier_valid(q, AC_RUNTIME_QUALIFIER_MAX + 1));
}


static void
test_host(void **state)
{
    const char        *err;
    ac_runtime_arn_t   a;
    char               host[AC_RUNTIME_HOST_MAX];

    assert_int_equal(parse(ARN, &a, &err), 0);
    assert_int_equal(ac_runtime_host(&a, host),
                     strlen("bedrock-agentcore.us-west-2.amazonaws.com"));
    assert_string_equal(host, "bedrock-agentcore.us-west-2.amazonaws.com");

    assert_int_equal(parse("arn:aws-cn:bedrock-agentcore:cn-north-1:"
                           "123456789012:runtime/a", &a, &err), 0);
    assert_true(ac_runtime_host(&a, host) > 0);
    assert_string_equal(host, "bedrock-agentcore.cn-north-1.amazonaws.com.cn");

    /* the longest region still fits */
    assert_int_equal(parse("arn:aws:bedrock-agentcore:"
                           "abcdefghijabcdefghijabcdefghija:"
                           "123456789012:runtime/a", &a, &err), 0);
    assert_true(ac_runtime_host(&a, host) > 0);
}


static void
test_wire_path(void **state)
{
    size_t  n, q;
    char    out[3 * (sizeof(ARN) + 16) + 64];

    /* what boto3 sends: quote(arn, safe="") and the qualifier */

    n = ac_runtime_wire_path(ARN, sizeof(ARN) - 1, "DEFAULT", 7, out, &q);
    assert_string_equal(out,
        "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A"
        "123456789012%3Aruntime%2Fhosted_agent-AbC123/invocations"
        "?qualifier=DEFAULT");
    assert_int_equal(n, strlen(out));
    assert_string_equal(out + q, "qualifier=DEFAULT");
    assert_int_equal(out[q - 1], '?');

    n = ac_runtime_wire_path(ARN, sizeof(ARN) - 1, NULL, 0, out, &q);
    assert_int_equal(q, n);
    assert_string_equal(out + n - sizeof("/invocations") + 1,
                        "/invocations");

    /* bytes outside the unreserved set, in the qualifier too */
    n = ac_runtime_wire_path("a~b.c d/\xc3\xa9", 10, "x y", 3, out, &q);
    assert_string_equal(out, "/runtimes/a~b.c%20d%2F%C3%A9/invocations"
                             "?qualifier=x%20y");
    assert_int_equal(n, strlen(out));
}


static void
test_uuid4(void **state)
{
    int            i;
    char           out[37];
    unsigned char  r[16];

    memset(r, 0xff, sizeof(r));
    ac_runtime_uuid4(r, out);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");

    memset(r, 0, sizeof(r));
    ac_runtime_uuid4(r, out);
    assert_string_equal(out, "00000000-0000-4000-8000-000000000000");

    for (i = 0; i < 16; i++) {
        r[i] = (unsigned char) (i * 17);
    }

    ac_runtime_uuid4(r, out);
    assert_string_equal(out, "00112233-4455-4677-8899-aabbccddeeff");
    assert_int_equal(strlen(out), 36);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arn_parse),
        cmocka_unit_test(test_arn_refused),
        cmocka_unit_test(test_qualifier),
        cmocka_unit_test(test_host),
        cmocka_unit_test(test_wire_path),
        cmocka_unit_test(test_uuid4),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
