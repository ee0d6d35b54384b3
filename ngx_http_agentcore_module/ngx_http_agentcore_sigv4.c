/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS Signature Version 4 (header form), plain C on OpenSSL.
 */


#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ngx_http_agentcore_sigv4.h"


#define AC_SIGV4_ALGORITHM   "AWS4-HMAC-SHA256"
#define AC_SIGV4_TERMINATOR  "aws4_request"
#define AC_SHA256_LEN        32
#define AC_SHA256_BLOCK      64


typedef struct {
    char                    *data;
    size_t                   len;
    size_t                   cap;
    int                      failed;
} ac_sigv4_buf_t;


typedef struct {
    EVP_MD_CTX              *ctx;
    const EVP_MD            *md;
} ac_sigv4_hash_t;


typedef struct {
    char                    *name;       /* encoded, NUL-terminated */
    char                    *value;      /* encoded, NUL-terminated */
} ac_sigv4_param_t;


typedef struct {
    char                    *name;       /* lower-cased copy */
    size_t                   name_len;
    const char              *value;
    size_t                   value_len;
    size_t                   index;      /* order in the request */
} ac_sigv4_hdr_t;


static void ac_sigv4_buf_add(ac_sigv4_buf_t *b, const void *p, size_t n);
static void ac_sigv4_buf_str(ac_sigv4_buf_t *b, const char *s);
static void ac_sigv4_buf_free(ac_sigv4_buf_t *b);
static void ac_sigv4_wipe_free(char *s);
static void ac_sigv4_scope(ac_sigv4_buf_t *b, const ac_sigv4_request_t *req);
static int ac_sigv4_unreserved(unsigned char c);
static int ac_sigv4_hexval(unsigned char c);
static void ac_sigv4_uri_encode(ac_sigv4_buf_t *b, const unsigned char *p,
    size_t n, int keep_slash);
static void ac_sigv4_canonical_uri(ac_sigv4_buf_t *b, const char *path,
    size_t len, unsigned normalize);
static char *ac_sigv4_query_part(const char *p, size_t n);
static int ac_sigv4_param_cmp(const void *one, const void *two);
static void ac_sigv4_canonical_query(ac_sigv4_buf_t *b, const char *q,
    size_t len);
static int ac_sigv4_hdr_cmp(const void *one, const void *two);
static int ac_sigv4_space(unsigned char c);
static void ac_sigv4_header_value(ac_sigv4_buf_t *b, const char *p,
    size_t n);
static int ac_sigv4_canonical_headers(ac_sigv4_buf_t *b,
    const ac_sigv4_request_t *req, char *signed_headers, size_t size);
static const EVP_MD *ac_sigv4_md_fetch(void);
static void ac_sigv4_md_free(const EVP_MD *md);
static int ac_sigv4_digest(ac_sigv4_hash_t *c, const void *p, size_t n,
    const void *p2, size_t n2, unsigned char out[AC_SHA256_LEN]);
static int ac_sigv4_sha256(ac_sigv4_hash_t *c, const void *p, size_t n,
    char out[65]);
static int ac_sigv4_hmac(ac_sigv4_hash_t *c, const void *key, size_t key_len,
    const void *data, size_t len, unsigned char out[AC_SHA256_LEN]);
static int ac_sigv4_signing_key(ac_sigv4_hash_t *c,
    const ac_sigv4_request_t *req, unsigned char key[AC_SHA256_LEN]);
static int ac_sigv4_signature(ac_sigv4_hash_t *c,
    const ac_sigv4_request_t *req,
    const char *string_to_sign, size_t len, char out[65]);
static int ac_sigv4_check(const ac_sigv4_request_t *req);


static const char  ac_sigv4_hex[] = "0123456789abcdef";
static const char  ac_sigv4_HEX[] = "0123456789ABCDEF";


static void
ac_sigv4_buf_add(ac_sigv4_buf_t *b, const void *p, size_t n)
{
    char    *data;
    size_t   cap, need;

    if (b->failed) {
        return;
    }

    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }

    need = b->len + n + 1;

    if (need > b->cap) {
        cap = b->cap ? b->cap : 256;

        while (cap < need) {
            cap *= 2;
        }

        /* not realloc(): the old copy, which may hold the session
         * token (the canonical request), is wiped before it is freed */

        data = malloc(cap);
        if (data == NULL) {
            b->failed = 1;
            return;
        }

        if (b->data) {
            memcpy(data, b->data, b->len + 1);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }

        b->data = data;
        b->cap = cap;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
    }

    b->len += n;
    b->data[b->len] = '\0';
}


static void
ac_sigv4_buf_str(ac_sigv4_buf_t *b, const char *s)
{
    ac_sigv4_buf_add(b, s, strlen(s));
}


/* the credential scope: DATE/REGION/SERVICE/aws4_request */

static void
ac_sigv4_scope(ac_sigv4_buf_t *b, const ac_sigv4_request_t *req)
{
    ac_sigv4_buf_add(b, req->amz_date, 8);
    ac_sigv4_buf_add(b, "/", 1);
    ac_sigv4_buf_str(b, req->region);
    ac_sigv4_buf_add(b, "/", 1);
    ac_sigv4_buf_str(b, req->service);
    ac_sigv4_buf_str(b, "/" AC_SIGV4_TERMINATOR);
}


static void
ac_sigv4_buf_free(ac_sigv4_buf_t *b)
{
    if (b->data) {
        OPENSSL_cleanse(b->data, b->cap);
    }

    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


static void
ac_sigv4_wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}


static int
ac_sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}


static int
ac_sigv4_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/* every byte outside A-Za-z0-9-._~ (and '/' if kept) becomes %XX */

static void
ac_sigv4_uri_encode(ac_sigv4_buf_t *b, const unsigned char *p, size_t n,
    int keep_slash)
{
    char     esc[3];
    size_t   i, run;

    run = 0;

    for (i = 0; i < n; i++) {
        if (ac_sigv4_unreserved(p[i]) || (keep_slash && p[i] == '/')) {
            run++;
            continue;
        }

        ac_sigv4_buf_add(b, p + i - run, run);
        run = 0;

        esc[0] = '%';
        esc[1] = ac_sigv4_HEX[p[i] >> 4];
        esc[2] = ac_sigv4_HEX[p[i] & 0x0f];
        ac_sigv4_buf_add(b, esc, 3);
    }

    ac_sigv4_buf_add(b, p + n - run, run);
}


/*
 * With normalize: empty and "." segments are dropped, ".." pops one,
 * a leading and a trailing '/' are kept.  Then the path is URI-encoded
 * once with '/' kept.
 */

static void
ac_sigv4_canonical_uri(ac_sigv4_buf_t *b, const char *path, size_t len,
    unsigned normalize)
{
    size_t   i, start, seg, nseg, max, *segs;
    size_t   before;

    before = b->len;

    if (!normalize) {
        ac_sigv4_uri_encode(b, (const unsigned char *) path, len, 1);
        goto done;
    }

    /* at most len / 2 + 1 non-empty segments: (start, length) pairs */

    max = len / 2 + 1;

    segs = malloc(2 * max * sizeof(size_t));
    if (segs == NULL) {
        b->failed = 1;
        return;
    }

    nseg = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && path[i] != '/') {
            continue;
        }

        seg = i - start;

        if (seg == 0 || (seg == 1 && path[start] == '.')) {
            /* an empty or "." segment */

        } else if (seg == 2 && path[start] == '.' && path[start + 1] == '.') {
            if (nseg) {
                nseg--;
            }

        } else {
            segs[2 * nseg] = start;
            segs[2 * nseg + 1] = seg;
            nseg++;
        }

        start = i + 1;
    }

    if (len && path[0] == '/') {
        ac_sigv4_buf_add(b, "/", 1);
    }

    for (i = 0; i < nseg; i++) {
        if (i) {
            ac_sigv4_buf_add(b, "/", 1);
        }

        ac_sigv4_uri_encode(b, (const unsigned char *) path + segs[2 * i],
                            segs[2 * i + 1], 0);
    }

    if (nseg && path[len - 1] == '/') {
        ac_sigv4_buf_add(b, "/", 1);
    }

    free(segs);

done:

    if (!b->failed && b->len == before) {
        ac_sigv4_buf_add(b, "/", 1);
    }
}


/* decodes valid %XX escapes, then encodes canonically; malloc'd */

static char *
ac_sigv4_query_part(const char *p, size_t n)
{
    int              hi, lo;
    size_t           i, k;
    unsigned char   *raw;
    ac_sigv4_buf_t   b;

    raw = malloc(n + 1);
    if (raw == NULL) {
        return NULL;
    }

    k = 0;

    for (i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n) {
            hi = ac_sigv4_hexval((unsigned char) p[i + 1]);
            lo = ac_sigv4_hexval((unsigned char) p[i + 2]);

            if (hi >= 0 && lo >= 0) {
                raw[k++] = (unsigned char) (hi << 4 | lo);
                i += 2;
                continue;
            }
        }

        raw[k++] = (unsigned char) p[i];
    }

    memset(&b, 0, sizeof(ac_sigv4_buf_t));

    ac_sigv4_uri_encode(&b, raw, k, 0);
    ac_sigv4_buf_add(&b, "", 0);

    free(raw);

    if (b.failed) {
        ac_sigv4_buf_free(&b);
        return NULL;
    }

    return b.data;
}


static int
ac_sigv4_param_cmp(const void *one, const void *two)
{
    int                      rc;
    const ac_sigv4_param_t  *a, *b;

    a = one;
    b = two;

    rc = strcmp(a->name, b->name);
    if (rc) {
        return rc;
    }

    return strcmp(a->value, b->value);
}


/*
 * Parameters split on '&' (empty ones dropped), name and value split on
 * the first '=', both re-encoded, sorted by name, then by value.
 */

static void
ac_sigv4_canonical_query(ac_sigv4_buf_t *b, const char *q, size_t len)
{
    size_t             i, n, max, start, end, eq;
    ac_sigv4_param_t  *params;

    if (q == NULL || len == 0) {
        return;
    }

    max = 1;

    for (i = 0; i < len; i++) {
        if (q[i] == '&') {
            max++;
        }
    }

    params = calloc(max, sizeof(ac_sigv4_param_t));
    if (params == NULL) {
        b->failed = 1;
        return;
    }

    n = 0;
    start = 0;

    while (start <= len) {
        end = start;

        while (end < len && q[end] != '&') {
            end++;
        }

        if (end > start) {
            eq = start;

            while (eq < end && q[eq] != '=') {
                eq++;
            }

            params[n].name = ac_sigv4_query_part(q + start, eq - start);
            params[n].value = (eq < end)
                              ? ac_sigv4_query_part(q + eq + 1, end - eq - 1)
                              : ac_sigv4_query_part("", 0);
            n++;

            if (params[n - 1].name == NULL || params[n - 1].value == NULL) {
                b->failed = 1;
                goto failed;
            }
        }

        start = end + 1;
    }

    qsort(params, n, sizeof(ac_sigv4_param_t), ac_sigv4_param_cmp);

    for (i = 0; i < n; i++) {
        if (i) {
            ac_sigv4_buf_add(b, "&", 1);
        }

        ac_sigv4_buf_str(b, params[i].name);
        ac_sigv4_buf_add(b, "=", 1);
        ac_sigv4_buf_str(b, params[i].value);
    }

failed:

    for (i = 0; i < n; i++) {
        free(params[i].name);
        free(params[i].value);
    }

    free(params);
}


static int
ac_sigv4_hdr_cmp(const void *one, const void *two)
{
    int                    rc;
    size_t                 n;
    const ac_sigv4_hdr_t  *a, *b;

    a = one;
    b = two;

    n = a->name_len < b->name_len ? a->name_len : b->name_len;

    rc = memcmp(a->name, b->name, n);
    if (rc) {
        return rc;
    }

    if (a->name_len != b->name_len) {
        return a->name_len < b->name_len ? -1 : 1;
    }

    return a->index < b->index ? -1 : (a->index > b->index);
}


static int
ac_sigv4_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v'
           || c == '\f';
}


/* the value trimmed, each inner run of white space folded to one space */

static void
ac_sigv4_header_value(ac_sigv4_buf_t *b, const char *p, size_t n)
{
    int     first;
    size_t  i, start;

    first = 1;
    i = 0;

    for ( ;; ) {
        while (i < n && ac_sigv4_space((unsigned char) p[i])) {
            i++;
        }

        if (i == n) {
            return;
        }

        if (!first) {
            ac_sigv4_buf_add(b, " ", 1);
        }

        first = 0;
        start = i;

        while (i < n && !ac_sigv4_space((unsigned char) p[i])) {
            i++;
        }

        ac_sigv4_buf_add(b, p + start, i - start);
    }
}


/*
 * "name:value\n" per distinct lower-cased name, sorted by name; the
 * values of a repeated name joined by ',' in request order.  The names,
 * joined by ';', go to signed_headers.
 */

static int
ac_sigv4_canonical_headers(ac_sigv4_buf_t *b, const ac_sigv4_request_t *req,
    char *signed_headers, size_t size)
{
    int                       rc;
    size_t                    i, j, k, n, used;
    unsigned char             c;
    ac_sigv4_hdr_t           *h;
    const ac_sigv4_header_t  *in;

    signed_headers[0] = '\0';

    n = req->nheaders;

    if (n == 0) {
        return 0;
    }

    h = calloc(n, sizeof(ac_sigv4_hdr_t));
    if (h == NULL) {
        return -1;
    }

    rc = -1;

    for (i = 0; i < n; i++) {
        in = &req->headers[i];

        if (in->name == NULL || in->name_len == 0
            || (in->value == NULL && in->value_len))
        {
            goto failed;
        }

        h[i].name = malloc(in->name_len);
        if (h[i].name == NULL) {
            goto failed;
        }

        for (k = 0; k < in->name_len; k++) {
            c = (unsigned char) in->name[k];

            /* a token: no controls, spaces, separators ':' or ';' */

            if (c <= 0x20 || c >= 0x7f || c == ':' || c == ';') {
                goto failed;
            }

            h[i].name[k] = (c >= 'A' && c <= 'Z') ? (char) (c | 0x20)
                                                  : (char) c;
        }

        h[i].name_len = in->name_len;
        h[i].value = in->value;
        h[i].value_len = in->value_len;
        h[i].index = i;
    }

    qsort(h, n, sizeof(ac_sigv4_hdr_t), ac_sigv4_hdr_cmp);

    used = 0;

    for (i = 0; i < n; i = j) {
        ac_sigv4_buf_add(b, h[i].name, h[i].name_len);
        ac_sigv4_buf_add(b, ":", 1);
        ac_sigv4_header_value(b, h[i].value, h[i].value_len);

        for (j = i + 1; j < n; j++) {
            if (h[j].name_len != h[i].name_len
                || memcmp(h[j].name, h[i].name, h[i].name_len) != 0)
            {
                break;
            }

            ac_sigv4_buf_add(b, ",", 1);
            ac_sigv4_header_value(b, h[j].value, h[j].value_len);
        }

        ac_sigv4_buf_add(b, "\n", 1);

        if (used + (used ? 1 : 0) + h[i].name_len >= size) {
            goto failed;
        }

        if (used) {
            signed_headers[used++] = ';';
        }

        memcpy(signed_headers + used, h[i].name, h[i].name_len);
        used += h[i].name_len;
        signed_headers[used] = '\0';
    }

    rc = b->failed ? -1 : 0;

failed:

    for (i = 0; i < n; i++) {
        free(h[i].name);
    }

    free(h);

    if (rc != 0) {
        signed_headers[0] = '\0';
    }

    return rc;
}


/*
 * SHA-256 is fetched from the provider once per signature, or once for
 * all while a caller's key cache holds it: with EVP_sha256() every
 * digest init looked the implementation up again, which was most of
 * what a signature cost (OpenSSL 3)
 */

static const EVP_MD *
ac_sigv4_md_fetch(void)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    return EVP_MD_fetch(NULL, "SHA256", NULL);
#else
    return EVP_sha256();
#endif
}


static void
ac_sigv4_md_free(const EVP_MD *md)
{
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
    EVP_MD_free((EVP_MD *) md);
#else
    (void) md;
#endif
}


/* SHA-256 of p then p2 (p2 may be NULL) */

static int
ac_sigv4_digest(ac_sigv4_hash_t *c, const void *p, size_t n, const void *p2,
    size_t n2, unsigned char out[AC_SHA256_LEN])
{
    unsigned int  len;

    len = 0;

    if (EVP_DigestInit_ex(c->ctx, c->md, NULL) != 1
        || EVP_DigestUpdate(c->ctx, p, n) != 1
        || (p2 && EVP_DigestUpdate(c->ctx, p2, n2) != 1)
        || EVP_DigestFinal_ex(c->ctx, out, &len) != 1
        || len != AC_SHA256_LEN)
    {
        return -1;
    }

    return 0;
}


static int
ac_sigv4_sha256(ac_sigv4_hash_t *c, const void *p, size_t n, char out[65])
{
    size_t         i;
    unsigned char  md[AC_SHA256_LEN];

    if (ac_sigv4_digest(c, p ? p : "", n, NULL, 0, md) != 0) {
        out[0] = '\0';
        return -1;
    }

    for (i = 0; i < AC_SHA256_LEN; i++) {
        out[2 * i] = ac_sigv4_hex[md[i] >> 4];
        out[2 * i + 1] = ac_sigv4_hex[md[i] & 0x0f];
    }

    out[64] = '\0';

    return 0;
}


/* HMAC-SHA256 (RFC 2104) on the fetched digest */

static int
ac_sigv4_hmac(ac_sigv4_hash_t *c, const void *key, size_t key_len,
    const void *data, size_t len, unsigned char out[AC_SHA256_LEN])
{
    int            rc;
    size_t         i;
    unsigned char  k[AC_SHA256_BLOCK], inner[AC_SHA256_LEN];

    memset(k, 0, sizeof(k));

    if (key_len > AC_SHA256_BLOCK) {
        rc = ac_sigv4_digest(c, key, key_len, NULL, 0, k);

    } else {
        memcpy(k, key, key_len);
        rc = 0;
    }

    if (rc == 0) {
        for (i = 0; i < AC_SHA256_BLOCK; i++) {
            k[i] ^= 0x36;
        }

        rc = ac_sigv4_digest(c, k, AC_SHA256_BLOCK, data, len, inner);
    }

    if (rc == 0) {
        for (i = 0; i < AC_SHA256_BLOCK; i++) {
            k[i] ^= 0x36 ^ 0x5c;
        }

        rc = ac_sigv4_digest(c, k, AC_SHA256_BLOCK, inner, AC_SHA256_LEN,
                             out);
    }

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(inner, sizeof(inner));

    return rc;
}


/*
 * kDate = HMAC("AWS4" secret, date8), kRegion = HMAC(kDate, region),
 * kService = HMAC(kRegion, service), kSigning = HMAC(kService,
 * "aws4_request").  kSigning only changes with the day, the region, the
 * service and the secret, so a caller's cache keeps it, as the SDKs do,
 * found again by those and a digest of the secret (never the secret
 * itself).  Every other copy of key material is wiped.
 */

static int
ac_sigv4_signing_key(ac_sigv4_hash_t *c, const ac_sigv4_request_t *req,
    unsigned char key[AC_SHA256_LEN])
{
    int                    rc;
    size_t                 slen, rlen, svlen;
    unsigned char         *secret, id[AC_SHA256_LEN], k[AC_SHA256_LEN];
    ac_sigv4_key_cache_t  *kc;

    slen = strlen(req->secret_access_key);
    rlen = strlen(req->region);
    svlen = strlen(req->service);

    if (slen > INT_MAX - 4) {
        return -1;
    }

    kc = req->key_cache;

    if (kc && (rlen > sizeof(kc->region) || svlen > sizeof(kc->service))) {
        kc = NULL;
    }

    /* a hit costs one digest of the secret, and no copy of it */

    if (kc) {
        if (ac_sigv4_digest(c, "AWS4", 4, req->secret_access_key, slen, id)
            != 0)
        {
            return -1;
        }

        if (kc->valid
            && memcmp(kc->date, req->amz_date, 8) == 0
            && kc->region_len == rlen
            && memcmp(kc->region, req->region, rlen) == 0
            && kc->service_len == svlen
            && memcmp(kc->service, req->service, svlen) == 0
            && CRYPTO_memcmp(kc->id, id, AC_SHA256_LEN) == 0)
        {
            memcpy(key, kc->key, AC_SHA256_LEN);
            OPENSSL_cleanse(id, sizeof(id));
            return 0;
        }
    }

    secret = malloc(slen + 4);
    if (secret == NULL) {
        OPENSSL_cleanse(id, sizeof(id));
        return -1;
    }

    memcpy(secret, "AWS4", 4);
    memcpy(secret + 4, req->secret_access_key, slen);

    rc = ac_sigv4_hmac(c, secret, slen + 4, req->amz_date, 8, key);

    OPENSSL_cleanse(secret, slen + 4);
    free(secret);

    if (rc == 0) {
        rc = ac_sigv4_hmac(c, key, AC_SHA256_LEN, req->region, rlen, k);
    }

    if (rc == 0) {
        rc = ac_sigv4_hmac(c, k, AC_SHA256_LEN, req->service, svlen, key);
    }

    if (rc == 0) {
        rc = ac_sigv4_hmac(c, key, AC_SHA256_LEN, AC_SIGV4_TERMINATOR,
                           sizeof(AC_SIGV4_TERMINATOR) - 1, k);
    }

    if (rc == 0) {
        memcpy(key, k, AC_SHA256_LEN);

        if (kc) {
            memcpy(kc->date, req->amz_date, 8);
            memcpy(kc->region, req->region, rlen);
            kc->region_len = rlen;
            memcpy(kc->service, req->service, svlen);
            kc->service_len = svlen;
            memcpy(kc->id, id, AC_SHA256_LEN);
            memcpy(kc->key, k, AC_SHA256_LEN);
            kc->valid = 1;
        }
    }

    OPENSSL_cleanse(id, sizeof(id));
    OPENSSL_cleanse(k, sizeof(k));

    return rc;
}


/* the signature: hex(HMAC(kSigning, string_to_sign)) */

static int
ac_sigv4_signature(ac_sigv4_hash_t *c, const ac_sigv4_request_t *req,
    const char *string_to_sign, size_t len, char out[65])
{
    int            rc;
    size_t         i;
    unsigned char  key[AC_SHA256_LEN], sig[AC_SHA256_LEN];

    out[0] = '\0';

    rc = ac_sigv4_signing_key(c, req, key);

    if (rc == 0) {
        rc = ac_sigv4_hmac(c, key, AC_SHA256_LEN, string_to_sign, len, sig);
    }

    if (rc == 0) {
        for (i = 0; i < AC_SHA256_LEN; i++) {
            out[2 * i] = ac_sigv4_hex[sig[i] >> 4];
            out[2 * i + 1] = ac_sigv4_hex[sig[i] & 0x0f];
        }

        out[64] = '\0';
    }

    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(sig, sizeof(sig));

    return rc;
}


static int
ac_sigv4_check(const ac_sigv4_request_t *req)
{
    size_t       i;
    const char  *d;

    if (req->method == NULL || req->method[0] == '\0'
        || (req->path == NULL && req->path_len)
        || (req->query == NULL && req->query_len)
        || (req->headers == NULL && req->nheaders)
        || (req->body == NULL && req->body_len && req->payload_hash == NULL)
        || req->access_key_id == NULL
        || req->secret_access_key == NULL
        || req->region == NULL
        || req->service == NULL
        || req->amz_date == NULL)
    {
        return -1;
    }

    /* YYYYMMDDTHHMMSSZ */

    d = req->amz_date;

    for (i = 0; i < 16; i++) {
        if (i == 8) {
            if (d[i] != 'T') {
                return -1;
            }

        } else if (i == 15) {
            if (d[i] != 'Z') {
                return -1;
            }

        } else if (d[i] < '0' || d[i] > '9') {
            return -1;
        }
    }

    if (d[16] != '\0') {
        return -1;
    }

    return 0;
}


int
ac_sigv4_sign(const ac_sigv4_request_t *req, ac_sigv4_result_t *res)
{
    char             hash[65];
    ac_sigv4_buf_t   cr, sts, auth;
    ac_sigv4_hash_t  h, *c;

    if (res == NULL) {
        return -1;
    }

    memset(res, 0, sizeof(ac_sigv4_result_t));

    if (req == NULL || ac_sigv4_check(req) != 0) {
        return -1;
    }

    memset(&cr, 0, sizeof(ac_sigv4_buf_t));
    memset(&sts, 0, sizeof(ac_sigv4_buf_t));
    memset(&auth, 0, sizeof(ac_sigv4_buf_t));

    c = &h;
    c->md = req->key_cache ? req->key_cache->md : NULL;

    if (c->md == NULL) {
        c->md = ac_sigv4_md_fetch();
        if (c->md == NULL) {
            return -1;
        }

        if (req->key_cache) {
            req->key_cache->md = c->md;
        }
    }

    c->ctx = EVP_MD_CTX_new();
    if (c->ctx == NULL) {
        goto nomem;
    }

    /* the canonical request */

    ac_sigv4_buf_str(&cr, req->method);
    ac_sigv4_buf_add(&cr, "\n", 1);
    ac_sigv4_canonical_uri(&cr, req->path ? req->path : "", req->path_len,
                           req->normalize);
    ac_sigv4_buf_add(&cr, "\n", 1);
    ac_sigv4_canonical_query(&cr, req->query, req->query_len);
    ac_sigv4_buf_add(&cr, "\n", 1);

    if (ac_sigv4_canonical_headers(&cr, req, res->signed_headers,
                                   sizeof(res->signed_headers))
        != 0)
    {
        goto failed;
    }

    ac_sigv4_buf_add(&cr, "\n", 1);
    ac_sigv4_buf_str(&cr, res->signed_headers);
    ac_sigv4_buf_add(&cr, "\n", 1);

    if (req->payload_hash) {
        ac_sigv4_buf_str(&cr, req->payload_hash);

    } else {
        if (ac_sigv4_sha256(c, req->body, req->body_len, hash) != 0) {
            goto failed;
        }

        ac_sigv4_buf_add(&cr, hash, 64);
    }

    if (cr.failed || ac_sigv4_sha256(c, cr.data, cr.len, hash) != 0) {
        goto failed;
    }

    /* the string to sign */

    ac_sigv4_buf_str(&sts, AC_SIGV4_ALGORITHM "\n");
    ac_sigv4_buf_add(&sts, req->amz_date, 16);
    ac_sigv4_buf_add(&sts, "\n", 1);
    ac_sigv4_scope(&sts, req);
    ac_sigv4_buf_add(&sts, "\n", 1);
    ac_sigv4_buf_add(&sts, hash, 64);

    if (sts.failed
        || ac_sigv4_signature(c, req, sts.data, sts.len, res->signature)
           != 0)
    {
        goto failed;
    }

    /* the Authorization header value */

    ac_sigv4_buf_str(&auth, AC_SIGV4_ALGORITHM " Credential=");
    ac_sigv4_buf_str(&auth, req->access_key_id);
    ac_sigv4_buf_add(&auth, "/", 1);
    ac_sigv4_scope(&auth, req);
    ac_sigv4_buf_str(&auth, ", SignedHeaders=");
    ac_sigv4_buf_str(&auth, res->signed_headers);
    ac_sigv4_buf_str(&auth, ", Signature=");
    ac_sigv4_buf_str(&auth, res->signature);

    if (auth.failed) {
        goto failed;
    }

    res->canonical_request = cr.data;
    res->string_to_sign = sts.data;
    res->authorization = auth.data;

    EVP_MD_CTX_free(c->ctx);

    if (req->key_cache == NULL) {
        ac_sigv4_md_free(c->md);
    }

    return 0;

failed:

    EVP_MD_CTX_free(c->ctx);

nomem:

    if (req->key_cache == NULL) {
        ac_sigv4_md_free(c->md);
    }

    ac_sigv4_buf_free(&cr);
    ac_sigv4_buf_free(&sts);
    ac_sigv4_buf_free(&auth);

    memset(res, 0, sizeof(ac_sigv4_result_t));

    return -1;
}


void
ac_sigv4_result_free(ac_sigv4_result_t *res)
{
    if (res == NULL) {
        return;
    }

    /* the canonical request holds the session token, the authorization
     * the access key id: wiped */

    ac_sigv4_wipe_free(res->canonical_request);
    ac_sigv4_wipe_free(res->string_to_sign);
    ac_sigv4_wipe_free(res->authorization);

    res->canonical_request = NULL;
    res->string_to_sign = NULL;
    res->authorization = NULL;
}


void
ac_sigv4_amz_date(time_t t, char out[17])
{
    struct tm  tm;

    if (gmtime_r(&t, &tm) == NULL
        || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900
        || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
    {
        out[0] = '\0';
    }
}


void
ac_sha256_hex(const void *p, size_t n, char out[65])
{
    ac_sigv4_hash_t  h;

    out[0] = '\0';

    h.md = ac_sigv4_md_fetch();
    h.ctx = EVP_MD_CTX_new();

    if (h.md && h.ctx) {
        (void) ac_sigv4_sha256(&h, p, n, out);
    }

    EVP_MD_CTX_free(h.ctx);

    if (h.md) {
        ac_sigv4_md_free(h.md);
    }
}


void
ac_sigv4_key_cache_free(ac_sigv4_key_cache_t *kc)
{
    if (kc == NULL) {
        return;
    }

    if (kc->md) {
        ac_sigv4_md_free(kc->md);
    }

    OPENSSL_cleanse(kc, sizeof(ac_sigv4_key_cache_t));
}
