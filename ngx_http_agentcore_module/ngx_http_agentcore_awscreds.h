
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS credential sources, plain C (no nginx types): the answers of the
 * container endpoint and IMDS (JSON), STS (XML), the shared ini files,
 * ISO-8601 times, and the blocking fetches over libcurl that a worker
 * runs in a thread.  Nothing here logs; error texts never hold a secret.
 */


#ifndef _NGX_HTTP_AGENTCORE_AWSCREDS_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_AWSCREDS_H_INCLUDED_


#include <stddef.h>
#include <time.h>


#define AC_CREDS_AKID_MAX      128
#define AC_CREDS_SECRET_MAX    128
#define AC_CREDS_TOKEN_MAX     8192
#define AC_CREDS_ERROR_MAX     320
#define AC_CREDS_SOURCE_MAX    64
#define AC_CREDS_TRIED_MAX     160
#define AC_CREDS_BODY_MAX      65536     /* the largest answer read */
#define AC_CREDS_FILE_MAX      1048576   /* the largest file read */


typedef enum {
    AC_CREDS_AUTO = 0,
    AC_CREDS_ENV,
    AC_CREDS_PROFILE,
    AC_CREDS_CONTAINER,
    AC_CREDS_IMDS,
    AC_CREDS_WEB_IDENTITY,
    AC_CREDS_STATIC,
    AC_CREDS_BEARER
} ac_creds_source_e;


/* the variables the sources read; NULL when unset or empty */

typedef struct {
    const char  *access_key_id;           /* AWS_ACCESS_KEY_ID */
    const char  *secret_access_key;       /* AWS_SECRET_ACCESS_KEY */
    const char  *session_token;           /* AWS_SESSION_TOKEN */
    const char  *credential_expiration;   /* AWS_CREDENTIAL_EXPIRATION */
    const char  *bearer_token;            /* AWS_BEARER_TOKEN_BEDROCK */
    const char  *profile;                 /* AWS_PROFILE */
    const char  *shared_credentials_file; /* AWS_SHARED_CREDENTIALS_FILE */
    const char  *config_file;             /* AWS_CONFIG_FILE */
    const char  *home;                    /* HOME (or the user's) */
    const char  *region;                  /* AWS_REGION, AWS_DEFAULT_REGION */
    const char  *web_identity_token_file; /* AWS_WEB_IDENTITY_TOKEN_FILE */
    const char  *role_arn;                /* AWS_ROLE_ARN */
    const char  *role_session_name;       /* AWS_ROLE_SESSION_NAME */
    const char  *sts_endpoint;            /* AWS_ENDPOINT_URL_STS,
                                             AWS_ENDPOINT_URL */
    const char  *container_full_uri;      /* AWS_CONTAINER_CREDENTIALS_... */
    const char  *container_relative_uri;
    const char  *container_token;         /* AWS_CONTAINER_AUTHORIZATION_ */
    const char  *container_token_file;
    const char  *imds_endpoint;           /* AWS_EC2_METADATA_SERVICE_... */
    const char  *imds_endpoint_mode;
    const char  *imds_disabled;           /* AWS_EC2_METADATA_DISABLED */
    const char  *imds_v1_disabled;        /* AWS_EC2_METADATA_V1_DISABLED */
} ac_creds_env_t;


/* returns the value of a variable, or NULL */
typedef const char *(*ac_creds_getenv_pt)(void *data, const char *name);

void ac_creds_env_load(ac_creds_env_t *env, ac_creds_getenv_pt get,
    void *data);

/* the i-th name ac_creds_env_load() reads, or NULL past the last */
const char *ac_creds_env_name(size_t i);


typedef struct {
    char        *access_key_id;       /* malloc'd, NUL-terminated */
    char        *secret_access_key;
    char        *session_token;       /* NULL: none */
    time_t       expiration;          /* 0: does not expire */
    char         source[AC_CREDS_SOURCE_MAX];   /* for the log */
    char         tried[AC_CREDS_TRIED_MAX];     /* ac_creds_fetch(): the
                                                   sources it asked, by
                                                   name only (no path,
                                                   URL or value) */
} ac_creds_t;


typedef struct {
    long         timeout_ms;      /* one call to a metadata endpoint */
    long         sts_timeout_ms;  /* one call to STS */
    long         budget_ms;       /* a whole fetch, retries included */
    int          attempts;        /* per call: network errors and 5xx */
} ac_creds_opts_t;


/* 1000 ms, 5000 ms, 10000 ms, 3 attempts */
void ac_creds_opts_default(ac_creds_opts_t *opts);

/* wipes the secrets, frees the strings, zeroes *c */
void ac_creds_free(ac_creds_t *c);


/*
 * The blocking fetch (call it in a thread): AUTO walks web identity,
 * the shared files, the container endpoint and IMDS (the environment
 * and the API key are the caller's: they need no I/O).  0 and *out
 * filled, or -1 and the cause in err.
 */
int ac_creds_fetch(ac_creds_source_e source, const char *profile,
    const ac_creds_env_t *env, const ac_creds_opts_t *opts, ac_creds_t *out,
    char *err, size_t errlen);

/* libcurl's global set-up: once per process, before any fetch */
int ac_creds_global_init(void);

/*
 * What can be checked without the network (for "nginx -t"): the
 * variables an explicit source needs, a profile that exists and whose
 * keys have the right shape.  0, or -1 and the cause in err.
 */
int ac_creds_check(ac_creds_source_e source, const char *profile,
    const ac_creds_env_t *env, char *err, size_t errlen);

/* AWS_ACCESS_KEY_ID...: 0, 1 (not set), or -1 (bad, expired) */
int ac_creds_from_env(const ac_creds_env_t *env, time_t now, ac_creds_t *out,
    char *err, size_t errlen);


/* shapes: 1 if good */
int ac_creds_good_key_id(const char *s, size_t len);
int ac_creds_good_secret(const char *s, size_t len);
int ac_creds_good_token(const char *s, size_t len);


/* "2025-01-15T12:34:56Z", fractions and offsets too: 0, or -1 */
int ac_creds_parse_time(const char *s, size_t len, time_t *t);

/*
 * The JSON of the container endpoint (imds = 0: Token and Expiration
 * optional) or of IMDS (imds = 1: Code "Success" if present; all four
 * strings required).  0, or -1 and the cause in err.
 */
int ac_creds_parse_json(const char *body, size_t len, int imds,
    ac_creds_t *out, char *err, size_t errlen);

/* STS AssumeRoleWithWebIdentity's XML answer, or its ErrorResponse */
int ac_creds_parse_sts(const char *body, size_t len, ac_creds_t *out,
    char *err, size_t errlen);

/* the {"Code","Message"} of an error answer, as "Code: Message" */
void ac_creds_error_json(const char *body, size_t len, char *out,
    size_t outlen);

/* IMDS's role list: the first line, trimmed; 0, or -1 if none */
int ac_creds_imds_role(const char *body, size_t len, char *role,
    size_t rolelen);

/* the container endpoint's URL from the variables: 0, 1 (not set), -1 */
int ac_creds_container_url(const ac_creds_env_t *env, char *url,
    size_t len, char *err, size_t errlen);


/* the shared ini files */

typedef struct ac_ini_s  ac_ini_t;

ac_ini_t *ac_ini_parse(const char *text, size_t len);
int ac_ini_has(const ac_ini_t *ini, const char *section);
const char *ac_ini_get(const ac_ini_t *ini, const char *section,
    const char *key);
void ac_ini_free(ac_ini_t *ini);


typedef enum {
    AC_PROFILE_KEYS = 1,
    AC_PROFILE_WEB_IDENTITY
} ac_profile_kind_e;


typedef struct {
    ac_profile_kind_e   kind;
    const char         *access_key_id;       /* point into the ini */
    const char         *secret_access_key;
    const char         *session_token;
    const char         *role_arn;
    const char         *web_identity_token_file;
    const char         *role_session_name;
    const char         *region;
} ac_creds_profile_t;


/*
 * A profile from the credentials file ("[NAME]") and the config file
 * ("[profile NAME]", "[default]"), the former's keys first: 0, 1 (no
 * such profile), or -1 (unusable, the cause in err).
 */
int ac_creds_profile(const ac_ini_t *credentials, const ac_ini_t *config,
    const char *name, ac_creds_profile_t *p, char *err, size_t errlen);


#endif /* _NGX_HTTP_AGENTCORE_AWSCREDS_H_INCLUDED_ */
