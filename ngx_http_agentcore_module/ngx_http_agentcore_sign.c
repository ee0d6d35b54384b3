
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * SigV4 for the requests the module sends (the model call, the runtime
 * relay): the caller names the request and its own headers, this adds
 * X-Amz-Date and X-Amz-Security-Token, signs with the worker's key of
 * the day and keeps what the internal location sends in the ctx.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_sigv4.h"


static ac_sigv4_key_cache_t *ngx_http_agentcore_sign_key_cache(void);
static void ngx_http_agentcore_sign_key_cache_gone(void *data);
static void ngx_http_agentcore_amz_date(char date[17]);


/*
 * the worker's SigV4 signing key of the day, in memory core dumps
 * leave out (allocated on first use, unmapped with the cycle); it is
 * keyed by the day, region, service and secret, so every signer
 * shares it
 */
static ac_sigv4_key_cache_t  *ngx_http_agentcore_key_cache;


/*
 * req: method, path, query, body or payload hash, region and service
 * set by the caller; headers: the caller's n headers, with room for two
 * more.  Sets ctx->amz_date, ctx->security_token and ctx->authorization
 * (all from the request pool).
 */

ngx_int_t
ngx_http_agentcore_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, ac_sigv4_request_t *req,
    ac_sigv4_header_t *headers, ngx_uint_t n)
{
    ngx_pool_t         *pool;
    ac_sigv4_result_t   res;
    char                date[17];

    pool = ctx->request->pool;

    ngx_http_agentcore_amz_date(date);

    ctx->amz_date.len = 16;
    ctx->amz_date.data = ngx_pnalloc(pool, 16);
    if (ctx->amz_date.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->amz_date.data, date, 16);

    headers[n].name = "x-amz-date";
    headers[n].name_len = sizeof("x-amz-date") - 1;
    headers[n].value = date;
    headers[n++].value_len = 16;

    ngx_str_null(&ctx->security_token);

    if (cr->session_token.len) {
        /* the credentials may be refreshed before the header is sent */

        ctx->security_token.len = cr->session_token.len;
        ctx->security_token.data = ngx_pnalloc(pool, cr->session_token.len);
        if (ctx->security_token.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->security_token.data, cr->session_token.data,
                   cr->session_token.len);

        headers[n].name = "x-amz-security-token";
        headers[n].name_len = sizeof("x-amz-security-token") - 1;
        headers[n].value = (const char *) ctx->security_token.data;
        headers[n++].value_len = ctx->security_token.len;
    }

    req->headers = headers;
    req->nheaders = n;
    req->access_key_id = (const char *) cr->access_key_id.data;
    req->secret_access_key = (const char *) cr->secret_access_key.data;
    req->amz_date = date;

    /* NULL (no memory for it) only costs the four HMACs of the key */
    req->key_cache = ngx_http_agentcore_sign_key_cache();

    if (ac_sigv4_sign(req, &res) != 0) {
        return NGX_ERROR;
    }

    ctx->authorization.len = ngx_strlen(res.authorization);
    ctx->authorization.data = ngx_pnalloc(pool, ctx->authorization.len);

    if (ctx->authorization.data) {
        ngx_memcpy(ctx->authorization.data, res.authorization,
                   ctx->authorization.len);
    }

    ac_sigv4_result_free(&res);

    return ctx->authorization.data ? NGX_OK : NGX_ERROR;
}


static ac_sigv4_key_cache_t *
ngx_http_agentcore_sign_key_cache(void)
{
    void                *p;
    ngx_pool_cleanup_t  *cln;

    if (ngx_http_agentcore_key_cache) {
        return ngx_http_agentcore_key_cache;
    }

    p = ngx_http_agentcore_secret_alloc(ngx_cycle->pool,
                                        sizeof(ac_sigv4_key_cache_t));
    if (p == NULL) {
        return NULL;
    }

    /* added after the unmapping one, so it runs before it (and before
     * the module is unloaded, whose cleanup is older still) */
    cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_agentcore_sign_key_cache_gone;
    ngx_http_agentcore_key_cache = p;

    return p;
}


static void
ngx_http_agentcore_sign_key_cache_gone(void *data)
{
    ac_sigv4_key_cache_free(ngx_http_agentcore_key_cache);
    ngx_http_agentcore_key_cache = NULL;
}


/* X-Amz-Date, formatted once a second */

static void
ngx_http_agentcore_amz_date(char date[17])
{
    time_t  now;

    static time_t  cached;
    static char    text[17];

    now = ngx_time();

    if (now != cached || text[0] == '\0') {
        ac_sigv4_amz_date(now, text);
        cached = now;
    }

    ngx_memcpy(date, text, 17);
}
