/*
 * Secrets are wiped before their memory is released (issue 17 item 1).
 *
 * Linked with -Wl,--wrap=free: every free() in the protocol code goes
 * through __wrap_free() below, which looks for the secrets in the block
 * about to be released (its whole usable size) before handing it on.
 * A hit is a credential left in freed memory.
 */

#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <malloc.h>
#include <cmocka.h>
#include <openssl/crypto.h>

#include "ngx_http_agentcore_awscreds.h"
#include "ngx_http_agentcore_sigv4.h"


#define AKID     "AKIDWIPETEST0000SEEN"
#define SECRET   "wipeSecretKey/K7MDENG+bPxRfiCYWIPEWIPE00"
#define TOKEN    "IQoJb3JpZ2luX2VjEWIPETOKENWIPETOKENWIPETOKEN"


void __real_free(void *p);
void __wrap_free(void *p);

static const char  *watch[3];
static int          watching;
static int          hits;
static int          scanned;


void
__wrap_free(void *p)
{
    int          i;
    size_t       n;
    const char  *s;

    if (p != NULL && watching) {
        n = malloc_usable_size(p);
        scanned++;

        for (i = 0; i < 3; i++) {
            s = watch[i];

            /* a prefix of 12 bytes is enough to tell a copy */

            if (s && memmem(p, n, s, 12) != NULL) {
                fprintf(stderr, "freed block %p (%zu bytes) holds \"%.12s\"\n",
                        p, n, s);
                hits++;
            }
        }
    }

    __real_free(p);
}


static void
watch_start(void)
{
    watch[0] = AKID;
    watch[1] = SECRET;
    watch[2] = TOKEN;
    hits = 0;
    scanned = 0;
    watching = 1;
}


static void
watch_stop(void)
{
    watching = 0;
}


/* the detector itself: a copy freed as it is, and one wiped */

static void
test_detector(void **state)
{
    char  *p;

    watch_start();

    p = strdup(SECRET);
    assert_non_null(p);
    free(p);

    assert_int_equal(hits, 1);

    p = strdup(SECRET);
    assert_non_null(p);
    OPENSSL_cleanse(p, strlen(p));
    free(p);

    watch_stop();

    assert_int_equal(hits, 1);
    assert_int_equal(scanned, 2);
}


static const char *
env_get(void *data, const char *name)
{
    if (strcmp(name, "AWS_ACCESS_KEY_ID") == 0) {
        return AKID;
    }

    if (strcmp(name, "AWS_SECRET_ACCESS_KEY") == 0) {
        return SECRET;
    }

    if (strcmp(name, "AWS_SESSION_TOKEN") == 0) {
        return TOKEN;
    }

    if (strcmp(name, "AWS_SHARED_CREDENTIALS_FILE") == 0) {
        return data;
    }

    if (strcmp(name, "AWS_CONFIG_FILE") == 0) {
        return "/nonexistent/agentcore-wipe-config";
    }

    return NULL;
}


/* ac_creds_free(): the strings of ac_fill() */

static void
test_creds_free(void **state)
{
    char            err[AC_CREDS_ERROR_MAX];
    ac_creds_t      c;
    ac_creds_env_t  env;

    ac_creds_env_load(&env, env_get, NULL);

    watch_start();

    assert_int_equal(ac_creds_from_env(&env, 0, &c, err, sizeof(err)), 0);
    assert_string_equal(c.secret_access_key, SECRET);

    ac_creds_free(&c);

    watch_stop();

    assert_true(scanned >= 3);
    assert_int_equal(hits, 0);
}


/* the container's JSON answer */

static void
test_creds_json(void **state)
{
    char        err[AC_CREDS_ERROR_MAX];
    ac_creds_t  c;

    static const char  body[] =
        "{\"AccessKeyId\":\"" AKID "\",\"SecretAccessKey\":\"" SECRET
        "\",\"Token\":\"" TOKEN "\",\"Expiration\":\"2099-01-01T00:00:00Z\"}";

    watch_start();

    assert_int_equal(ac_creds_parse_json(body, sizeof(body) - 1, 0, &c, err,
                                         sizeof(err)), 0);
    assert_string_equal(c.session_token, TOKEN);

    ac_creds_free(&c);

    watch_stop();

    assert_true(scanned >= 3);
    assert_int_equal(hits, 0);
}


/* STS's XML answer: the decoded fields, then the credentials */

static void
test_creds_sts(void **state)
{
    char        err[AC_CREDS_ERROR_MAX];
    ac_creds_t  c;

    static const char  body[] =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
        "<Credentials><AccessKeyId>" AKID "</AccessKeyId>"
        "<SecretAccessKey>" SECRET "</SecretAccessKey>"
        "<SessionToken>" TOKEN "</SessionToken>"
        "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>";

    watch_start();

    assert_int_equal(ac_creds_parse_sts(body, sizeof(body) - 1, &c, err,
                                        sizeof(err)), 0);
    assert_string_equal(c.secret_access_key, SECRET);

    ac_creds_free(&c);

    watch_stop();

    assert_true(scanned >= 7);
    assert_int_equal(hits, 0);
}


/* the shared credentials file: read, parsed, its copies released */

static void
test_creds_profile_file(void **state)
{
    int              fd, rc;
    char             path[] = "/tmp/agentcore-wipe-XXXXXX";
    char             err[AC_CREDS_ERROR_MAX];
    ac_creds_t       c;
    ac_creds_env_t   env;
    ac_creds_opts_t  opts;

    static const char  text[] =
        "[default]\n"
        "aws_access_key_id = " AKID "\n"
        "aws_secret_access_key = " SECRET "\n"
        "aws_session_token = " TOKEN "\n";

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, sizeof(text) - 1), sizeof(text) - 1);
    close(fd);

    ac_creds_env_load(&env, env_get, path);
    env.access_key_id = NULL;
    env.secret_access_key = NULL;
    env.session_token = NULL;
    ac_creds_opts_default(&opts);

    watch_start();

    rc = ac_creds_fetch(AC_CREDS_PROFILE, NULL, &env, &opts, &c, err,
                        sizeof(err));
    if (rc != 0) {
        watch_stop();
        fail_msg("fetch: %s", err);
    }

    assert_string_equal(c.secret_access_key, SECRET);

    ac_creds_free(&c);

    watch_stop();

    unlink(path);

    assert_true(scanned >= 3);
    assert_int_equal(hits, 0);
}


/* a signature with a session token: the canonical request holds it */

static void
test_sigv4_result(void **state)
{
    ac_sigv4_header_t   h[3];
    ac_sigv4_request_t  req;
    ac_sigv4_result_t   res;

    static const char  body[] = "{}";

    memset(h, 0, sizeof(h));
    h[0].name = "host";
    h[0].name_len = 4;
    h[0].value = "bedrock-runtime.us-east-1.amazonaws.com";
    h[0].value_len = strlen(h[0].value);
    h[1].name = "x-amz-date";
    h[1].name_len = 10;
    h[1].value = "20260101T000000Z";
    h[1].value_len = 16;
    h[2].name = "x-amz-security-token";
    h[2].name_len = 20;
    h[2].value = TOKEN;
    h[2].value_len = strlen(TOKEN);

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = "/model/m/converse-stream";
    req.path_len = strlen(req.path);
    req.headers = h;
    req.nheaders = 3;
    req.body = (const unsigned char *) body;
    req.body_len = 2;
    req.access_key_id = AKID;
    req.secret_access_key = SECRET;
    req.region = "us-east-1";
    req.service = "bedrock";
    req.amz_date = "20260101T000000Z";

    watch_start();

    assert_int_equal(ac_sigv4_sign(&req, &res), 0);
    assert_non_null(strstr(res.canonical_request, TOKEN));

    ac_sigv4_result_free(&res);

    watch_stop();

    assert_true(scanned >= 3);
    assert_int_equal(hits, 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector),
        cmocka_unit_test(test_creds_free),
        cmocka_unit_test(test_creds_json),
        cmocka_unit_test(test_creds_sts),
        cmocka_unit_test(test_creds_profile_file),
        cmocka_unit_test(test_sigv4_result),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
