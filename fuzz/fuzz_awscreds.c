/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the parsers of ngx_http_agentcore_awscreds.c, the
 * first byte choosing which (the answers of credential sources are
 * untrusted input):
 *  - 0: ac_creds_parse_time(); a plain "YYYY-MM-DDTHH:MM:SSZ" it takes
 *    formats back to itself;
 *  - 1, 2: ac_creds_parse_json() (container, IMDS);
 *  - 3: ac_creds_parse_sts();
 *  - 4: ac_ini_parse() and ac_creds_profile() for a few names;
 *  - 5: ac_creds_imds_role(); 6: ac_creds_error_json();
 *  - 7: ac_creds_container_url() with the rest as the full URI; with
 *    the first byte's high bit, the rest is the environment instead
 *    (values split at LF, in ac_creds_env_name()'s order), read by
 *    ac_creds_env_load() and ac_creds_from_env() (expired or not as
 *    the time says), then ac_creds_container_url().
 * Whatever the input: no crash or leak (ASan), results of the right
 * shape (visible ASCII credentials within their limits), and error
 * texts that are printable and bounded.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ngx_http_agentcore_awscreds.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static void
check_text(const char *s, size_t max)
{
    size_t  i, n;

    n = strlen(s);
    check(n < max);

    for (i = 0; i < n; i++) {
        check((unsigned char) s[i] >= 0x20 && (unsigned char) s[i] < 0x7f);
    }
}


static void
check_creds(ac_creds_t *c, int rc, const char *err)
{
    if (rc != 0) {
        check(rc == -1);
        check(c->access_key_id == NULL && c->secret_access_key == NULL
              && c->session_token == NULL);
        check_text(err, AC_CREDS_ERROR_MAX);
        return;
    }

    check(ac_creds_good_key_id(c->access_key_id, strlen(c->access_key_id)));
    check(ac_creds_good_secret(c->secret_access_key,
                               strlen(c->secret_access_key)));
    check(c->session_token == NULL
          || ac_creds_good_token(c->session_token,
                                 strlen(c->session_token)));

    ac_creds_free(c);
}


static void
fuzz_time(const char *s, size_t n)
{
    char        out[32];
    time_t      t;
    struct tm   tm;

    if (ac_creds_parse_time(s, n, &t) != 0) {
        return;
    }

    check(t >= -86400);

    if (n == 20 && s[10] == 'T' && s[19] == 'Z' && memcmp(s + 17, "60", 2))
    {
        check(gmtime_r(&t, &tm) != NULL);
        strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
        check(memcmp(out, s, 20) == 0);
    }
}


static void
fuzz_ini(const char *s, size_t n)
{
    int                  rc;
    char                 err[AC_CREDS_ERROR_MAX];
    size_t               half, i;
    ac_ini_t            *a, *b;
    ac_creds_profile_t   p;

    static const char  *names[] = { "default", "dev", "irsa", "x" };

    half = n / 2;

    a = ac_ini_parse(s, half);
    b = ac_ini_parse(s + half, n - half);

    if (a == NULL || b == NULL) {
        ac_ini_free(a);
        ac_ini_free(b);
        return;
    }

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        rc = ac_creds_profile(a, b, names[i], &p, err, sizeof(err));

        if (rc < 0) {
            check_text(err, sizeof(err));

        } else if (rc == 0 && p.kind == AC_PROFILE_KEYS) {
            check(p.access_key_id && p.secret_access_key);

        } else if (rc == 0) {
            check(p.kind == AC_PROFILE_WEB_IDENTITY);
            check(p.role_arn && p.web_identity_token_file);
        }

        (void) ac_ini_get(a, names[i], "aws_access_key_id");
    }

    ac_ini_free(a);
    ac_ini_free(b);
}


/* the environment: the values of the input's lines, by variable index */

typedef struct {
    char    *vals[64];
    size_t   n;
} fuzz_env_t;


static const char *
fuzz_getenv(void *data, const char *name)
{
    size_t       i;
    fuzz_env_t  *e = data;

    for (i = 0; i < e->n; i++) {
        if (strcmp(ac_creds_env_name(i), name) == 0) {
            return e->vals[i];
        }
    }

    return NULL;
}


static void
fuzz_env(char *s, size_t n)
{
    int              rc;
    char            *p, *lf, err[AC_CREDS_ERROR_MAX], url[2048];
    ac_creds_t       c;
    fuzz_env_t       e;
    ac_creds_env_t   env;

    e.n = 0;
    p = s;

    while (e.n < 64 && ac_creds_env_name(e.n) != NULL) {
        e.vals[e.n++] = p;
        lf = memchr(p, '\n', s + n - p);

        if (lf == NULL) {
            break;
        }

        *lf = '\0';
        p = lf + 1;
    }

    ac_creds_env_load(&env, fuzz_getenv, &e);

    /* 2024-01-01, before and after most expirations the input holds */
    err[0] = '\0';
    rc = ac_creds_from_env(&env, (time_t) 1704067200, &c, err, sizeof(err));

    if (rc == 1) {
        check(env.access_key_id == NULL && env.secret_access_key == NULL);

    } else {
        check_creds(&c, rc, err);
    }

    err[0] = '\0';
    rc = ac_creds_container_url(&env, url, sizeof(url), err, sizeof(err));

    if (rc == 0) {
        check(strncasecmp(url, "http", 4) == 0);
        check_text(url, sizeof(url));

    } else if (rc < 0) {
        check_text(err, sizeof(err));
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int              rc;
    char            *s, err[AC_CREDS_ERROR_MAX], url[2048], role[129];
    size_t           n;
    ac_creds_t       c;
    ac_creds_env_t   env;

    if (size < 1) {
        return 0;
    }

    /* a NUL-terminated copy: the parsers take lengths, some callers not */

    n = size - 1;
    s = malloc(n + 1);
    check(s != NULL);
    memcpy(s, data + 1, n);
    s[n] = '\0';

    err[0] = '\0';
    memset(&c, 0, sizeof(c));

    switch (data[0] % 8) {

    case 0:
        fuzz_time(s, n);
        break;

    case 1:
    case 2:
        rc = ac_creds_parse_json(s, n, data[0] % 8 == 2, &c, err,
                                 sizeof(err));
        check_creds(&c, rc, err);
        break;

    case 3:
        rc = ac_creds_parse_sts(s, n, &c, err, sizeof(err));
        check_creds(&c, rc, err);
        break;

    case 4:
        fuzz_ini(s, n);
        break;

    case 5:
        if (ac_creds_imds_role(s, n, role, sizeof(role)) == 0) {
            check(strlen(role) > 0 && strlen(role) <= 128);
            check_text(role, sizeof(role));
            check(strchr(role, '/') == NULL);
        }
        break;

    case 6:
        ac_creds_error_json(s, n, err, sizeof(err));
        check_text(err, sizeof(err));
        break;

    default:
        if (data[0] & 0x80) {
            fuzz_env(s, n);
            break;
        }

        memset(&env, 0, sizeof(env));
        env.container_full_uri = s;
        rc = ac_creds_container_url(&env, url, sizeof(url), err,
                                    sizeof(err));
        if (rc == 0) {
            check(strncasecmp(url, "http", 4) == 0);
            check_text(url, sizeof(url));
            check(strchr(url, ' ') == NULL);

        } else if (rc < 0) {
            check_text(err, sizeof(err));

        } else {
            check(n == 0);
        }
        break;
    }

    free(s);

    return 0;
}
