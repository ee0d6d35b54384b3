
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS Signature Version 4 (header form), plain C on OpenSSL.
 */


#ifndef _NGX_HTTP_AGENTCORE_SIGV4_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_SIGV4_H_INCLUDED_


#include <stddef.h>
#include <time.h>


typedef struct {
    const char              *name;       /* any case; lower-cased */
    size_t                   name_len;
    const char              *value;      /* trimmed, runs of spaces folded */
    size_t                   value_len;
} ac_sigv4_header_t;


/*
 * The signing key of the last signature, kept by the caller (one per
 * thread): kSigning depends only on the day, the region, the service
 * and the secret.  It also keeps the fetched SHA-256.  Zero it before
 * first use; ac_sigv4_key_cache_free() when done.
 */
typedef struct {
    const void              *md;         /* EVP_MD, or NULL */
    unsigned char            key[32];
    unsigned char            id[32];     /* SHA-256 of "AWS4" secret */
    char                     date[8];
    char                     region[32];
    size_t                   region_len;
    char                     service[32];
    size_t                   service_len;
    int                      valid;
} ac_sigv4_key_cache_t;


typedef struct {
    const char              *method;
    const char              *path;       /* as sent: Bedrock's is already
                                            %-encoded, the official
                                            suite's is raw */
    size_t                   path_len;
    const char              *query;      /* without '?', or NULL */
    size_t                   query_len;
    const ac_sigv4_header_t *headers;    /* exactly the headers to sign */
    size_t                   nheaders;
    const unsigned char     *body;
    size_t                   body_len;
    const char              *payload_hash;   /* hex, or NULL: computed */
    const char              *access_key_id;
    const char              *secret_access_key;
    const char              *region;
    const char              *service;
    const char              *amz_date;   /* YYYYMMDDTHHMMSSZ */
    ac_sigv4_key_cache_t    *key_cache;  /* or NULL */
    unsigned                 normalize:1;    /* remove dot segments */
} ac_sigv4_request_t;


typedef struct {
    char                    *canonical_request;   /* malloc'd */
    char                    *string_to_sign;      /* malloc'd */
    char                    *authorization;       /* malloc'd */
    char                     signed_headers[1024];
    char                     signature[65];
} ac_sigv4_result_t;


/*
 * The canonical URI is the path, normalized if asked, URI-encoded once
 * with '/' kept: Bedrock's wire path thus gets its double encoding.
 * Returns 0, or -1 on allocation failure or bad input.
 */
int ac_sigv4_sign(const ac_sigv4_request_t *req, ac_sigv4_result_t *res);
void ac_sigv4_result_free(ac_sigv4_result_t *res);

/* frees what the cache holds and wipes it (NULL: nothing) */
void ac_sigv4_key_cache_free(ac_sigv4_key_cache_t *kc);

/* "YYYYMMDDTHHMMSSZ" + NUL for a UTC time */
void ac_sigv4_amz_date(time_t t, char out[17]);

/* lower-case hex SHA-256 + NUL */
void ac_sha256_hex(const void *p, size_t n, char out[65]);


#endif /* _NGX_HTTP_AGENTCORE_SIGV4_H_INCLUDED_ */
