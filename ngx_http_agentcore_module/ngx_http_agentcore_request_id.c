
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * $agentcore_request_id: the request id of the runtime contract
 * (runtime-contract.md 2.2): the X-Amzn-Bedrock-AgentCore-Runtime-
 * Request-Id header when it is 1 to 256 visible ASCII characters, else
 * a random UUID (version 4), made once per request.  Any request has
 * one, in any location.
 *
 * For an invocation it is also (issue 12 items 4 and 5): the response
 * header of that name, the end of every error-log line about the
 * invocation (", request_id: \"...\"", and ", session: <CRC-32 of the
 * session id>" in a session, through a wrapper of the request's log
 * handler), and a request header of
 * tool subrequests, with the session id the module used.
 */


/* nginx's headers first: ngx_config.h defines _GNU_SOURCE (in6_pktinfo) */
#include "ngx_http_agentcore_module.h"

#include <openssl/rand.h>


#define NGX_HTTP_AGENTCORE_REQUEST_ID_MAX  256


static ngx_int_t ngx_http_agentcore_request_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static u_char *ngx_http_agentcore_log_error_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len);
static ngx_int_t ngx_http_agentcore_request_id_push(ngx_list_t *headers,
    ngx_str_t *key, ngx_str_t *lowcase, ngx_str_t *value);


static ngx_str_t  ngx_http_agentcore_request_id_name =
    ngx_string("agentcore_request_id");

static ngx_str_t  ngx_http_agentcore_request_id_header =
    ngx_string("X-Amzn-Bedrock-AgentCore-Runtime-Request-Id");

static ngx_str_t  ngx_http_agentcore_request_id_lowcase =
    ngx_string("x-amzn-bedrock-agentcore-runtime-request-id");

static ngx_str_t  ngx_http_agentcore_session_id_header =
    ngx_string("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id");

static ngx_str_t  ngx_http_agentcore_session_id_lowcase =
    ngx_string("x-amzn-bedrock-agentcore-runtime-session-id");

/* indexed: the invocation and the access log share one value */
static ngx_int_t  ngx_http_agentcore_request_id_index = NGX_ERROR;

/* the log handler wrapped (nginx's ngx_http_log_error_handler) */
static ngx_http_log_handler_pt  ngx_http_agentcore_next_log_handler;


ngx_int_t
ngx_http_agentcore_request_id_variable(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    /* cacheable: the value made for a request stays its value */

    var = ngx_http_add_variable(cf, &ngx_http_agentcore_request_id_name, 0);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_agentcore_request_id;

    ngx_http_agentcore_request_id_index = ngx_http_get_variable_index(cf,
                                          &ngx_http_agentcore_request_id_name);

    if (ngx_http_agentcore_request_id_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_request_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char           *p;
    ngx_uint_t        i, j;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    u_char            rnd[16];

    r = r->main;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != ngx_http_agentcore_request_id_header.len
            || ngx_strncasecmp(h[i].key.data,
                               ngx_http_agentcore_request_id_header.data,
                               h[i].key.len)
               != 0)
        {
            continue;
        }

        if (h[i].value.len == 0
            || h[i].value.len > NGX_HTTP_AGENTCORE_REQUEST_ID_MAX)
        {
            break;
        }

        for (j = 0; j < h[i].value.len; j++) {
            if (h[i].value.data[j] <= 0x20 || h[i].value.data[j] >= 0x7f) {
                break;
            }
        }

        if (j < h[i].value.len) {
            break;
        }

        v->data = h[i].value.data;
        v->len = h[i].value.len;
        v->valid = 1;
        v->no_cacheable = 0;
        v->not_found = 0;

        return NGX_OK;
    }

    /* xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx */

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        for (i = 0; i < sizeof(rnd); i++) {
            rnd[i] = (u_char) ngx_random();
        }
    }

    rnd[6] = (rnd[6] & 0x0f) | 0x40;
    rnd[8] = (rnd[8] & 0x3f) | 0x80;

    p = ngx_pnalloc(r->pool, 36);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    p = ngx_hex_dump(p, rnd, 4);
    *p++ = '-';
    p = ngx_hex_dump(p, rnd + 4, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, rnd + 6, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, rnd + 8, 2);
    *p++ = '-';
    p = ngx_hex_dump(p, rnd + 10, 6);

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * The invocation's start: the id in the ctx and in the response header
 * (on the SSE response and on the JSON errors before it), and the
 * request's log handler wrapped.
 *
 * nginx writes the end of an error-log line about a request with the
 * log handler of the connection's request, ngx_http_log_error() calling
 * ctx->request->log_handler(ctx->request, ctx->current_request, ...):
 * the main request's handler, also while a subrequest (the model call,
 * a tool location, their upstreams, whose connections log through the
 * client connection's log) is the current one.  So wrapping the main
 * request's handler reaches every such line.
 */

ngx_int_t
ngx_http_agentcore_request_id_start(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_http_request_t         *r;
    ngx_http_variable_value_t  *vv;

    r = ctx->request;

    vv = ngx_http_get_indexed_variable(r,
                                       ngx_http_agentcore_request_id_index);
    if (vv == NULL || vv->not_found) {
        return NGX_ERROR;
    }

    ctx->request_id.data = vv->data;
    ctx->request_id.len = vv->len;

    if (ngx_http_agentcore_request_id_push(&r->headers_out.headers,
                                           &ngx_http_agentcore_request_id_header,
                                           NULL, &ctx->request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (r->log_handler != ngx_http_agentcore_log_error_handler) {
        ngx_http_agentcore_next_log_handler = r->log_handler;
        r->log_handler = ngx_http_agentcore_log_error_handler;
    }

    return NGX_OK;
}


static u_char *
ngx_http_agentcore_log_error_handler(ngx_http_request_t *r,
    ngx_http_request_t *sr, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_http_agentcore_ctx_t  *ctx;

    p = ngx_http_agentcore_next_log_handler(r, sr, buf, len);

    /*
     * the ctx is an invocation's only in an "agentcore" location (after
     * an internal redirect it may be another's, or none)
     */

    if (r->content_handler != ngx_http_agentcore_handler) {
        return p;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || ctx->request_id.len == 0) {
        return p;
    }

    len -= p - buf;
    buf = p;

    p = ngx_snprintf(buf, len, ", request_id: \"%V\"", &ctx->request_id);

    /*
     * a session id is a bearer id: never written to the error log, its
     * CRC-32 is, as in the module's other lines about sessions
     */

    if (ctx->session_id.len) {
        len -= p - buf;
        p = ngx_snprintf(p, len, ", session: %08xD",
                         ngx_crc32_short(ctx->session_id.data,
                                         ctx->session_id.len));
    }

    return p;
}


/*
 * A client header a tool subrequest gets from the module instead: the
 * request id always (the client's may have been refused, replaced by
 * a UUID); the session id when the module keeps a session (its id may
 * come from agentcore_session_key, not from the client's header).
 */

ngx_uint_t
ngx_http_agentcore_request_id_replaced(ngx_http_agentcore_ctx_t *ctx,
    ngx_table_elt_t *h)
{
    if (h->key.len == ngx_http_agentcore_request_id_header.len
        && ngx_strncasecmp(h->key.data,
                           ngx_http_agentcore_request_id_header.data,
                           h->key.len)
           == 0)
    {
        return 1;
    }

    if (ctx->session_id.len
        && h->key.len == ngx_http_agentcore_session_id_header.len
        && ngx_strncasecmp(h->key.data,
                           ngx_http_agentcore_session_id_header.data,
                           h->key.len)
           == 0)
    {
        return 1;
    }

    return 0;
}


/* those headers, on a tool subrequest's own header list */

ngx_int_t
ngx_http_agentcore_request_id_tool_headers(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    if (ngx_http_agentcore_request_id_push(&sr->headers_in.headers,
                                   &ngx_http_agentcore_request_id_header,
                                   &ngx_http_agentcore_request_id_lowcase,
                                   &ctx->request_id)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ctx->session_id.len == 0) {
        return NGX_OK;
    }

    return ngx_http_agentcore_request_id_push(&sr->headers_in.headers,
                                   &ngx_http_agentcore_session_id_header,
                                   &ngx_http_agentcore_session_id_lowcase,
                                   &ctx->session_id);
}


static ngx_int_t
ngx_http_agentcore_request_id_push(ngx_list_t *headers, ngx_str_t *key,
    ngx_str_t *lowcase, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->key = *key;
    h->value = *value;

    if (lowcase) {
        h->hash = ngx_hash_key(lowcase->data, lowcase->len);
        h->lowcase_key = lowcase->data;

    } else {
        h->hash = 1;
        h->lowcase_key = NULL;
    }

#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}
