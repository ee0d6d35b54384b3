/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_awscreds.c: ISO-8601 times, the
 * container and IMDS JSON, STS XML, the ini files and profiles, the
 * container URL rules, the environment, "nginx -t" checks, and the
 * fetches against a tiny HTTP server on the loopback (a thread that
 * answers canned responses and keeps the requests it got).  Error texts
 * must never hold a secret.
 */


#define _GNU_SOURCE     /* strcasestr() */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ngx_http_agentcore_awscreds.h"


#define SECRET  "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOKEN   "FwoGZXIvYXdzEXAMPLETOKEN"


static int
parse_time(const char *s, time_t *t)
{
    return ac_creds_parse_time(s, strlen(s), t);
}


static void
test_time(void **state)
{
    time_t  t;
    size_t  i;

    static const char  *bad[] = {
        "2025-01-15T12:34:56", "2025-01-15T12:34:56ZZ",
        "2025-13-15T12:34:56Z", "2025-02-29T00:00:00Z",
        "2025-01-32T00:00:00Z", "2025-01-15T24:00:00Z",
        "2025-01-15T12:60:00Z", "1969-12-31T23:59:59Z",
        "2025-01-15 12:34Z", "2025-1-15T12:34:56Z", "2025-01-15T12:34:56.Z",
        "2025-01-15T12:34:56+0", "2025-01-15T12:34:56+24:00",
        "2025-01-15T12:34:56+05:60", "", "Z", "garbage-garbage-garbage",
        "2025-01-15T12:34:56 Z", "+025-01-15T12:34:56Z"
    };

    assert_int_equal(parse_time("2025-01-15T12:34:56Z", &t), 0);
    assert_int_equal(t, 1736944496);

    assert_int_equal(parse_time("2025-01-15t12:34:56z", &t), 0);
    assert_int_equal(t, 1736944496);

    assert_int_equal(parse_time("2025-01-15T12:34:56.123456Z", &t), 0);
    assert_int_equal(t, 1736944496);

    assert_int_equal(parse_time("2025-01-15T14:34:56+02:00", &t), 0);
    assert_int_equal(t, 1736944496);

    assert_int_equal(parse_time("2025-01-15T05:34:56.5-0700", &t), 0);
    assert_int_equal(t, 1736944496);

    assert_int_equal(parse_time("2000-02-29T00:00:00Z", &t), 0);
    assert_int_equal(t, 951782400);

    assert_int_equal(parse_time("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);

    assert_int_equal(parse_time("2038-01-19T03:14:08Z", &t), 0);
    assert_int_equal(t, (time_t) 2147483648LL);

    assert_int_equal(parse_time("2099-12-31T23:59:59Z", &t), 0);
    assert_int_equal(t, (time_t) 4102444799LL);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_time(bad[i], &t) == 0) {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }
}


static void
test_shapes(void **state)
{
    assert_true(ac_creds_good_key_id("AKIDEXAMPLE", 11));
    assert_true(ac_creds_good_key_id("ASIA_12345", 10));
    assert_false(ac_creds_good_key_id("AKI", 3));
    assert_false(ac_creds_good_key_id("AKID EXAMPLE", 12));
    assert_false(ac_creds_good_key_id(SECRET, strlen(SECRET)));

    assert_true(ac_creds_good_secret(SECRET, strlen(SECRET)));
    assert_false(ac_creds_good_secret("short", 5));
    assert_false(ac_creds_good_secret("with space x", 12));
    assert_false(ac_creds_good_secret("new\nline123", 11));

    assert_true(ac_creds_good_token(TOKEN, strlen(TOKEN)));
    assert_false(ac_creds_good_token("", 0));
    assert_false(ac_creds_good_token("a\r\nX-Injected: 1", 16));
}


static void
test_json(void **state)
{
    char         err[AC_CREDS_ERROR_MAX];
    const char  *s;
    ac_creds_t   c;

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":\"" SECRET "\","
        "\"Token\":\"" TOKEN "\",\"Expiration\":\"2025-01-15T12:34:56Z\","
        "\"AccountId\":\"123456789012\"}";

    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIAEXAMPLE1");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_string_equal(c.session_token, TOKEN);
    assert_int_equal(c.expiration, 1736944496);
    ac_creds_free(&c);
    assert_null(c.access_key_id);

    /* the container endpoint: Token and Expiration optional */

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":\"" SECRET "\"}";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), 0);
    assert_null(c.session_token);
    assert_int_equal(c.expiration, 0);
    ac_creds_free(&c);

    /* ... but not for IMDS */

    assert_int_equal(ac_creds_parse_json(s, strlen(s), 1, &c, err,
                                         sizeof(err)), -1);
    assert_non_null(strstr(err, "lacks"));

    s = "{\"Code\":\"Failure\",\"AccessKeyId\":\"ASIAEXAMPLE1\","
        "\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN "\","
        "\"Expiration\":\"2025-01-15T12:34:56Z\"}";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 1, &c, err,
                                         sizeof(err)), -1);
    assert_string_equal(err, "the answer's \"Code\" is \"Failure\", "
                        "not \"Success\"");

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":\"" SECRET "\","
        "\"Expiration\":\"tomorrow\"}";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);
    assert_string_equal(err, "the answer's \"Expiration\" is not an "
                        "ISO-8601 time");

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":42}";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);

    s = "[1,2]";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);
    assert_string_equal(err, "the answer is not a JSON object");

    /* a header injection through the token is refused */

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":\"" SECRET "\","
        "\"Token\":\"abc\\r\\nX-Evil: 1\"}";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);
    assert_non_null(strstr(err, "session token is malformed"));

    /* broken JSON around a secret: the message quotes nothing */

    s = "{\"AccessKeyId\":\"ASIAEXAMPLE1\",\"SecretAccessKey\":\"" SECRET;
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);
    assert_non_null(strstr(err, "not JSON"));
    assert_null(strstr(err, "wJalr"));

    s = "<html>It works!</html>";
    assert_int_equal(ac_creds_parse_json(s, strlen(s), 0, &c, err,
                                         sizeof(err)), -1);
    assert_string_equal(err, "the answer is not JSON (error at byte 1 of "
                        "22)");
}


static void
test_error_json(void **state)
{
    char         out[200];
    const char  *s;

    s = "{\"Code\":\"AccessDeniedException\",\"Message\":\"bad\\ntoken\"}";
    ac_creds_error_json(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "AccessDeniedException: bad?token");

    s = "{\"message\":\"only a message\"}";
    ac_creds_error_json(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "only a message");

    s = "garbage";
    ac_creds_error_json(s, strlen(s), out, sizeof(out));
    assert_string_equal(out, "");
}


static void
test_sts(void **state)
{
    char         err[AC_CREDS_ERROR_MAX];
    const char  *s;
    ac_creds_t   c;

    s = "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws."
        "com/doc/2011-06-15/\">\n<AssumeRoleWithWebIdentityResult>\n"
        "<SubjectFromWebIdentityToken>x</SubjectFromWebIdentityToken>\n"
        "<Credentials>\n  <SessionToken>\n   tok&amp;en&#61;&#x3D;\n  "
        "</SessionToken>\n  <SecretAccessKey>" SECRET "</SecretAccessKey>\n"
        "  <Expiration>2025-01-15T12:34:56Z</Expiration>\n"
        "  <AccessKeyId>ASIASTS00001</AccessKeyId>\n</Credentials>\n"
        "</AssumeRoleWithWebIdentityResult>\n"
        "</AssumeRoleWithWebIdentityResponse>";

    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     0);
    assert_string_equal(c.access_key_id, "ASIASTS00001");
    assert_string_equal(c.secret_access_key, SECRET);
    assert_string_equal(c.session_token, "tok&en==");
    assert_int_equal(c.expiration, 1736944496);
    ac_creds_free(&c);

    s = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
        "<Message>Couldn't retrieve verification key</Message></Error>"
        "<RequestId>x</RequestId></ErrorResponse>";
    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "STS answered an error: InvalidIdentityToken: "
                        "Couldn't retrieve verification key");

    /* Credentials outside the result, an element missing, bad entity */

    s = "<Credentials><AccessKeyId>A</AccessKeyId></Credentials>";
    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "not an AssumeRoleWithWebIdentityResponse"));

    s = "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX1"
        "</AccessKeyId><SecretAccessKey>" SECRET "</SecretAccessKey>"
        "<Expiration>2025-01-15T12:34:56Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult>";
    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "the answer's Credentials lack SessionToken");

    s = "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAX1"
        "</AccessKeyId><SecretAccessKey>" SECRET "&bogus;</SecretAccessKey>"
        "<SessionToken>t</SessionToken>"
        "<Expiration>2025-01-15T12:34:56Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult>";
    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "wJalr"));

    s = "<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>";
    assert_int_equal(ac_creds_parse_sts(s, strlen(s), &c, err, sizeof(err)),
                     -1);
}


static void
test_imds_role(void **state)
{
    char  role[129];

    assert_int_equal(ac_creds_imds_role("my-role\n", 8, role, sizeof(role)),
                     0);
    assert_string_equal(role, "my-role");

    assert_int_equal(ac_creds_imds_role("  a+=,.@_-b \r\nother", 19, role,
                                        sizeof(role)), 0);
    assert_string_equal(role, "a+=,.@_-b");

    assert_int_equal(ac_creds_imds_role("", 0, role, sizeof(role)), -1);
    assert_int_equal(ac_creds_imds_role("../x", 4, role, sizeof(role)), -1);
    assert_int_equal(ac_creds_imds_role("a b", 3, role, sizeof(role)), -1);
}


static void
test_ini(void **state)
{
    ac_ini_t    *ini;
    const char  *s;

    s = "\xef\xbb\xbf# comment\r\n"
        "orphan = before any section\n"
        "[default]\r\n"
        "Aws_Access_Key_Id = AKIDDEFAULT\r\n"
        "aws_secret_access_key=" SECRET "==\n"
        "; another comment\n"
        "[profile    dev  ]\n"
        "region: us-west-2\n"
        "s3 =\n"
        "  max_concurrent_requests = 20\n"
        "role_arn = arn:aws:iam::1:role/x\n"
        "role_arn = arn:aws:iam::2:role/y\n"
        "[broken\n"
        "key = in dev still\n"
        "no delimiter here\n";

    ini = ac_ini_parse(s, strlen(s));
    assert_non_null(ini);

    assert_true(ac_ini_has(ini, "default"));
    assert_true(ac_ini_has(ini, "profile dev"));
    assert_false(ac_ini_has(ini, "profile"));

    assert_string_equal(ac_ini_get(ini, "default", "aws_access_key_id"),
                        "AKIDDEFAULT");
    assert_string_equal(ac_ini_get(ini, "default", "AWS_SECRET_ACCESS_KEY"),
                        SECRET "==");
    assert_string_equal(ac_ini_get(ini, "profile dev", "region"),
                        "us-west-2");
    assert_string_equal(ac_ini_get(ini, "profile dev", "s3"), "");
    assert_null(ac_ini_get(ini, "profile dev", "max_concurrent_requests"));
    assert_string_equal(ac_ini_get(ini, "profile dev", "role_arn"),
                        "arn:aws:iam::2:role/y");
    assert_string_equal(ac_ini_get(ini, "profile dev", "key"),
                        "in dev still");
    assert_null(ac_ini_get(ini, "default", "orphan"));

    ac_ini_free(ini);
}


static void
test_profiles(void **state)
{
    char                 err[AC_CREDS_ERROR_MAX];
    ac_ini_t            *cred, *conf;
    const char          *c, *f;
    ac_creds_profile_t   p;

    c = "[default]\naws_access_key_id = AKIDCREDFILE\n"
        "aws_secret_access_key = " SECRET "\n"
        "[partial]\naws_access_key_id = AKIDPARTIAL\n"
        "[both]\naws_access_key_id = AKIDFROMCRED\n"
        "aws_secret_access_key = " SECRET "\n";

    f = "[default]\naws_access_key_id = AKIDCONFIG\n"
        "[profile both]\naws_access_key_id = AKIDFROMCONF\n"
        "aws_session_token = " TOKEN "\n"
        "[profile irsa]\nrole_arn = arn:aws:iam::1:role/r\n"
        "web_identity_token_file = /var/run/token\nregion = eu-west-1\n"
        "[profile assume]\nrole_arn = arn:aws:iam::1:role/r\n"
        "source_profile = default\n"
        "[profile proc]\ncredential_process = /bin/creds\n"
        "[profile sso]\nsso_session = corp\n"
        "[profile empty]\nregion = us-east-1\n";

    cred = ac_ini_parse(c, strlen(c));
    conf = ac_ini_parse(f, strlen(f));

    assert_int_equal(ac_creds_profile(cred, conf, "default", &p, err,
                                      sizeof(err)), 0);
    assert_int_equal(p.kind, AC_PROFILE_KEYS);
    assert_string_equal(p.access_key_id, "AKIDCREDFILE");

    /* the credentials file's keys first, the config file's for the rest */

    assert_int_equal(ac_creds_profile(cred, conf, "both", &p, err,
                                      sizeof(err)), 0);
    assert_string_equal(p.access_key_id, "AKIDFROMCRED");
    assert_string_equal(p.session_token, TOKEN);

    assert_int_equal(ac_creds_profile(cred, conf, "irsa", &p, err,
                                      sizeof(err)), 0);
    assert_int_equal(p.kind, AC_PROFILE_WEB_IDENTITY);
    assert_string_equal(p.web_identity_token_file, "/var/run/token");
    assert_string_equal(p.region, "eu-west-1");

    assert_int_equal(ac_creds_profile(cred, conf, "nosuch", &p, err,
                                      sizeof(err)), 1);

    assert_int_equal(ac_creds_profile(cred, conf, "partial", &p, err,
                                      sizeof(err)), -1);
    assert_string_equal(err, "aws_access_key_id without "
                        "aws_secret_access_key");

    assert_int_equal(ac_creds_profile(cred, conf, "assume", &p, err,
                                      sizeof(err)), -1);
    assert_non_null(strstr(err, "is not supported"));

    assert_int_equal(ac_creds_profile(cred, conf, "proc", &p, err,
                                      sizeof(err)), -1);
    assert_string_equal(err, "credential_process is not supported");

    assert_int_equal(ac_creds_profile(cred, conf, "sso", &p, err,
                                      sizeof(err)), -1);
    assert_non_null(strstr(err, "sso"));

    assert_int_equal(ac_creds_profile(cred, conf, "empty", &p, err,
                                      sizeof(err)), -1);
    assert_non_null(strstr(err, "no aws_access_key_id"));

    /* no files at all */
    assert_int_equal(ac_creds_profile(NULL, NULL, "default", &p, err,
                                      sizeof(err)), 1);

    ac_ini_free(cred);
    ac_ini_free(conf);
}


static void
test_container_url(void **state)
{
    char            url[256], err[AC_CREDS_ERROR_MAX];
    size_t          i;
    ac_creds_env_t  env;

    static const char  *good[] = {
        "http://127.0.0.1:8080/creds", "http://127.1.2.3/x",
        "http://localhost/x", "http://[::1]:9/x", "http://169.254.170.2/v2",
        "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/x",
        "https://creds.example.com/x", "HTTPS://Example.com"
    };

    static const char  *bad[] = {
        "http://198.51.100.7/creds", "http://127.0.0.1.evil.com/x",
        "http://user@127.0.0.1/x", "ftp://127.0.0.1/x", "127.0.0.1/x",
        "http://127.0.0/x", "http://localhost.evil/x", "http://127..0.1/x",
        "http://127.0.0.1234/x", "http://127.0.0./x",
        "https://example.com/a b"
    };

    memset(&env, 0, sizeof(env));
    assert_int_equal(ac_creds_container_url(&env, url, sizeof(url), err,
                                            sizeof(err)), 1);

    /* the relative URI wins */

    env.container_relative_uri = "/v2/credentials/abc";
    env.container_full_uri = "http://127.0.0.1/other";
    assert_int_equal(ac_creds_container_url(&env, url, sizeof(url), err,
                                            sizeof(err)), 0);
    assert_string_equal(url, "http://169.254.170.2/v2/credentials/abc");

    env.container_relative_uri = "v2/credentials";
    assert_int_equal(ac_creds_container_url(&env, url, sizeof(url), err,
                                            sizeof(err)), -1);

    env.container_relative_uri = NULL;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        env.container_full_uri = good[i];
        if (ac_creds_container_url(&env, url, sizeof(url), err, sizeof(err))
            != 0)
        {
            fail_msg("refused \"%s\": %s", good[i], err);
        }
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        env.container_full_uri = bad[i];
        if (ac_creds_container_url(&env, url, sizeof(url), err, sizeof(err))
            != -1)
        {
            fail_msg("accepted \"%s\"", bad[i]);
        }
    }
}


static void
test_env(void **state)
{
    char            err[AC_CREDS_ERROR_MAX];
    ac_creds_t      c;
    ac_creds_env_t  env;

    memset(&env, 0, sizeof(env));
    assert_int_equal(ac_creds_from_env(&env, 1000, &c, err, sizeof(err)), 1);

    env.access_key_id = "AKIDEXAMPLE";
    assert_int_equal(ac_creds_from_env(&env, 1000, &c, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "AWS_ACCESS_KEY_ID is set without "
                        "AWS_SECRET_ACCESS_KEY");

    env.secret_access_key = SECRET;
    env.session_token = TOKEN;
    env.credential_expiration = "2025-01-15T12:34:56Z";

    assert_int_equal(ac_creds_from_env(&env, 1000, &c, err, sizeof(err)), 0);
    assert_string_equal(c.session_token, TOKEN);
    assert_int_equal(c.expiration, 1736944496);
    assert_string_equal(c.source, "environment");
    ac_creds_free(&c);

    assert_int_equal(ac_creds_from_env(&env, 1736944496, &c, err,
                                       sizeof(err)), -1);
    assert_non_null(strstr(err, "expired"));

    env.secret_access_key = "bad secret value";
    assert_int_equal(ac_creds_from_env(&env, 1000, &c, err, sizeof(err)),
                     -1);
    assert_null(strstr(err, "bad secret"));
}


static const char *
getenv_table(void *data, const char *name)
{
    const char  **t = data;

    for ( /* void */ ; *t; t += 2) {
        if (strcmp(t[0], name) == 0) {
            return t[1];
        }
    }

    return NULL;
}


static void
test_env_load(void **state)
{
    ac_creds_env_t  env;

    static const char  *table[] = {
        "AWS_ACCESS_KEY_ID", "",
        "AWS_DEFAULT_REGION", "eu-west-1",
        "AWS_ENDPOINT_URL", "http://general",
        "AWS_ENDPOINT_URL_STS", "http://sts",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1/x",
        NULL
    };

    ac_creds_env_load(&env, getenv_table, table);

    assert_null(env.access_key_id);            /* empty is unset */
    assert_string_equal(env.region, "eu-west-1");
    assert_string_equal(env.sts_endpoint, "http://sts");
    assert_string_equal(env.container_full_uri, "http://127.0.0.1/x");
    assert_null(env.imds_disabled);
}


static char  dir[] = "/tmp/test_awscreds_XXXXXX";


static void
write_file(const char *name, const char *text)
{
    char   path[256];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}


static void
test_check(void **state)
{
    char            err[AC_CREDS_ERROR_MAX], cpath[256], fpath[256],
                    tpath[256];
    ac_creds_env_t  env;

    memset(&env, 0, sizeof(env));

    assert_int_equal(ac_creds_check(AC_CREDS_AUTO, NULL, &env, err,
                                    sizeof(err)), 0);

    assert_int_equal(ac_creds_check(AC_CREDS_ENV, NULL, &env, err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "not in the workers' environment"));

    assert_int_equal(ac_creds_check(AC_CREDS_BEARER, NULL, &env, err,
                                    sizeof(err)), -1);

    env.bearer_token = "a b";
    assert_int_equal(ac_creds_check(AC_CREDS_BEARER, NULL, &env, err,
                                    sizeof(err)), -1);
    env.bearer_token = "good-token";
    assert_int_equal(ac_creds_check(AC_CREDS_BEARER, NULL, &env, err,
                                    sizeof(err)), 0);

    assert_int_equal(ac_creds_check(AC_CREDS_IMDS, NULL, &env, err,
                                    sizeof(err)), 0);
    env.imds_disabled = "TRUE";
    assert_int_equal(ac_creds_check(AC_CREDS_IMDS, NULL, &env, err,
                                    sizeof(err)), -1);

    assert_int_equal(ac_creds_check(AC_CREDS_WEB_IDENTITY, NULL, &env, err,
                                    sizeof(err)), -1);

    snprintf(cpath, sizeof(cpath), "%s/credentials", dir);
    snprintf(fpath, sizeof(fpath), "%s/config", dir);
    snprintf(tpath, sizeof(tpath), "%s/token", dir);

    write_file("credentials", "[dev]\naws_access_key_id = AKIDDEV1\n"
               "aws_secret_access_key = " SECRET "\n"
               "[badkey]\naws_access_key_id = AKID DEV\n"
               "aws_secret_access_key = " SECRET "\n");
    write_file("config", "[profile irsa]\nrole_arn = arn:aws:iam::1:role/r\n"
               "web_identity_token_file = /nonexistent/token\n");
    write_file("token", "jwt\n");

    env.shared_credentials_file = cpath;
    env.config_file = fpath;

    assert_int_equal(ac_creds_check(AC_CREDS_PROFILE, "dev", &env, err,
                                    sizeof(err)), 0);

    assert_int_equal(ac_creds_check(AC_CREDS_PROFILE, "badkey", &env, err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "access key id is malformed"));
    assert_null(strstr(err, "wJalr"));

    assert_int_equal(ac_creds_check(AC_CREDS_PROFILE, "irsa", &env, err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/token"));

    assert_int_equal(ac_creds_check(AC_CREDS_PROFILE, NULL, &env, err,
                                    sizeof(err)), -1);
    assert_non_null(strstr(err, "profile \"default\" is in neither"));

    env.profile = "dev";
    assert_int_equal(ac_creds_check(AC_CREDS_PROFILE, NULL, &env, err,
                                    sizeof(err)), 0);

    env.web_identity_token_file = tpath;
    env.role_arn = "arn:aws:iam::1:role/r";
    assert_int_equal(ac_creds_check(AC_CREDS_WEB_IDENTITY, NULL, &env, err,
                                    sizeof(err)), 0);

    unlink(cpath);
    unlink(fpath);
    unlink(tpath);
}


/* a loopback HTTP server: one canned answer per connection */

typedef struct {
    int           fd;
    int           port;
    int           n;              /* answers */
    const char  **answers;
    char          requests[8][4096];
    int           got;
} server_t;


static void *
server_run(void *data)
{
    server_t  *s = data;
    int        c, i;
    ssize_t    r;
    size_t     len;
    char      *req, *end, *cl;

    for (i = 0; i < s->n; i++) {
        c = accept(s->fd, NULL, NULL);
        if (c < 0) {
            break;
        }

        req = s->requests[i];
        len = 0;

        /* the head, and the body by Content-Length */

        for ( ;; ) {
            r = read(c, req + len, sizeof(s->requests[0]) - 1 - len);
            if (r <= 0) {
                break;
            }

            len += r;
            req[len] = '\0';

            end = strstr(req, "\r\n\r\n");
            if (end == NULL) {
                continue;
            }

            cl = strcasestr(req, "Content-Length: ");
            if (cl == NULL
                || len >= (size_t) (end + 4 - req)
                          + (size_t) atoi(cl + 16))
            {
                break;
            }
        }

        s->got = i + 1;

        if (write(c, s->answers[i], strlen(s->answers[i])) < 0) {
            /* the test sees it */
        }

        close(c);
    }

    return NULL;
}


static void
server_start(server_t *s, pthread_t *t, const char **answers, int n)
{
    socklen_t           len;
    struct sockaddr_in  sin;

    memset(s, 0, sizeof(server_t));
    s->answers = answers;
    s->n = n;

    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    assert_int_equal(bind(s->fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(s->fd, 8), 0);

    len = sizeof(sin);
    getsockname(s->fd, (struct sockaddr *) &sin, &len);
    s->port = ntohs(sin.sin_port);

    assert_int_equal(pthread_create(t, NULL, server_run, s), 0);
}


static void
server_stop(server_t *s, pthread_t t)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(t, NULL);
}


#define CREDS_JSON                                                           \
    "{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAIMDS0001\","                \
    "\"SecretAccessKey\":\"" SECRET "\",\"Token\":\"" TOKEN "\","            \
    "\"Expiration\":\"2099-12-31T23:59:59Z\"}"

static char *
answer(const char *status, const char *body)
{
    static char  buf[8][1024];
    static int   n;
    char        *p;

    p = buf[n++ % 8];
    snprintf(p, 1024, "HTTP/1.1 %s\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s", status, strlen(body), body);

    return p;
}


static void
test_fetch_imds(void **state)
{
    char             err[AC_CREDS_ERROR_MAX], url[64];
    server_t         s;
    pthread_t        t;
    ac_creds_t       c;
    const char      *answers[4];
    ac_creds_env_t   env;

    answers[0] = answer("200 OK", "IMDS-SESSION-TOKEN");
    answers[1] = answer("200 OK", "the-role\n");
    answers[2] = answer("200 OK", CREDS_JSON);

    server_start(&s, &t, answers, 3);

    memset(&env, 0, sizeof(env));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", s.port);
    env.imds_endpoint = url;

    assert_int_equal(ac_creds_fetch(AC_CREDS_IMDS, NULL, &env, NULL, &c,
                                    err, sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIAIMDS0001");
    assert_string_equal(c.session_token, TOKEN);
    assert_int_equal(c.expiration, (time_t) 4102444799LL);
    assert_string_equal(c.source, "IMDS role the-role");
    ac_creds_free(&c);

    server_stop(&s, t);

    assert_int_equal(s.got, 3);
    assert_non_null(strstr(s.requests[0], "PUT /latest/api/token HTTP/1.1"));
    assert_non_null(strstr(s.requests[0],
                           "x-aws-ec2-metadata-token-ttl-seconds: 21600"));
    assert_non_null(strstr(s.requests[1],
                           "GET /latest/meta-data/iam/security-credentials/ "));
    assert_non_null(strstr(s.requests[1],
                           "x-aws-ec2-metadata-token: IMDS-SESSION-TOKEN"));
    assert_non_null(strstr(s.requests[2], "GET /latest/meta-data/iam/"
                           "security-credentials/the-role HTTP/1.1"));
}


static void
test_fetch_container(void **state)
{
    char             err[AC_CREDS_ERROR_MAX], url[64];
    server_t         s;
    pthread_t        t;
    ac_creds_t       c;
    const char      *answers[4];
    ac_creds_env_t   env;

    /* a 500 is retried; a 403 is final, with the endpoint's words */

    answers[0] = answer("500 Internal Server Error", "");
    answers[1] = answer("200 OK", CREDS_JSON);
    answers[2] = answer("403 Forbidden",
                        "{\"Code\":\"Denied\",\"Message\":\"no\"}");

    server_start(&s, &t, answers, 3);

    memset(&env, 0, sizeof(env));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds?x=1", s.port);
    env.container_full_uri = url;
    env.container_token = "container-token";

    assert_int_equal(ac_creds_fetch(AC_CREDS_AUTO, NULL, &env, NULL, &c,
                                    err, sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIAIMDS0001");
    ac_creds_free(&c);

    assert_int_equal(ac_creds_fetch(AC_CREDS_CONTAINER, NULL, &env, NULL,
                                    &c, err, sizeof(err)), -1);
    snprintf(url, sizeof(url), "GET http://127.0.0.1:%d answered HTTP 403: "
             "Denied: no", s.port);
    assert_string_equal(err, url);

    server_stop(&s, t);

    assert_non_null(strstr(s.requests[1], "GET /creds?x=1 HTTP/1.1"));
    assert_non_null(strstr(s.requests[1], "Authorization: container-token"));

    /* nothing listens: the cause, no secret, quickly */

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/creds", s.port);
    assert_int_equal(ac_creds_fetch(AC_CREDS_CONTAINER, NULL, &env, NULL,
                                     &c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "failed"));
}


static void
test_fetch_sts(void **state)
{
    char             err[AC_CREDS_ERROR_MAX], url[64], tpath[256];
    server_t         s;
    pthread_t        t;
    ac_creds_t       c;
    const char      *answers[2];
    ac_creds_env_t   env;

    answers[0] = answer("200 OK",
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
        "<Credentials><AccessKeyId>ASIASTS00002</AccessKeyId>"
        "<SecretAccessKey>" SECRET "</SecretAccessKey>"
        "<SessionToken>" TOKEN "</SessionToken>"
        "<Expiration>2099-12-31T23:59:59Z</Expiration></Credentials>"
        "</AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>");

    server_start(&s, &t, answers, 1);

    snprintf(tpath, sizeof(tpath), "%s/web-token", dir);
    write_file("web-token", "eyJ+/=token\n");

    memset(&env, 0, sizeof(env));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", s.port);
    env.sts_endpoint = url;
    env.web_identity_token_file = tpath;
    env.role_arn = "arn:aws:iam::123456789012:role/a b";
    env.role_session_name = "sess";

    assert_int_equal(ac_creds_fetch(AC_CREDS_AUTO, NULL, &env, NULL, &c,
                                    err, sizeof(err)), 0);
    assert_string_equal(c.access_key_id, "ASIASTS00002");
    assert_string_equal(c.source, "web identity");
    ac_creds_free(&c);

    server_stop(&s, t);
    unlink(tpath);

    assert_non_null(strstr(s.requests[0], "POST / HTTP/1.1"));
    assert_non_null(strstr(s.requests[0], "Content-Type: "
                           "application/x-www-form-urlencoded"));
    assert_null(strstr(s.requests[0], "Authorization:"));
    assert_non_null(strstr(s.requests[0],
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
        "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fa%20b"
        "&RoleSessionName=sess&WebIdentityToken=eyJ%2B%2F%3Dtoken"));
}


static void
test_fetch_auto_nothing(void **state)
{
    char            err[AC_CREDS_ERROR_MAX];
    ac_creds_t      c;
    ac_creds_env_t  env;

    memset(&env, 0, sizeof(env));
    env.imds_disabled = "true";
    env.shared_credentials_file = "/nonexistent/credentials";
    env.config_file = "/nonexistent/config";

    assert_int_equal(ac_creds_fetch(AC_CREDS_AUTO, NULL, &env, NULL, &c,
                                    err, sizeof(err)), -1);
    assert_non_null(strstr(err, "none found"));

    /* what was asked, by name only */
    assert_string_equal(c.tried, "environment, shared files (profile "
                        "default); IMDS is disabled "
                        "(AWS_EC2_METADATA_DISABLED)");

    /* AWS_PROFILE names a profile: it must exist */

    env.profile = "named\x01";
    assert_int_equal(ac_creds_fetch(AC_CREDS_AUTO, NULL, &env, NULL, &c,
                                    err, sizeof(err)), -1);
    assert_string_equal(err, "profile \"named\x01\" is in neither "
                        "\"/nonexistent/credentials\" nor "
                        "\"/nonexistent/config\"");
    assert_string_equal(c.tried, "environment, shared files (profile "
                        "named?)");
}


static int
setup(void **state)
{
    return mkdtemp(dir) ? ac_creds_global_init() : -1;
}


static int
teardown(void **state)
{
    return rmdir(dir);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_error_json),
        cmocka_unit_test(test_sts),
        cmocka_unit_test(test_imds_role),
        cmocka_unit_test(test_ini),
        cmocka_unit_test(test_profiles),
        cmocka_unit_test(test_container_url),
        cmocka_unit_test(test_env),
        cmocka_unit_test(test_env_load),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_fetch_imds),
        cmocka_unit_test(test_fetch_container),
        cmocka_unit_test(test_fetch_sts),
        cmocka_unit_test(test_fetch_auto_nothing),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
