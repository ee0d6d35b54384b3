
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * $agentcore_request_id: the request id of the runtime contract
 * (runtime-contract.md 2.2): the X-Amzn-Bedrock-AgentCore-Runtime-
 * Request-Id header when it is 1 to 256 visible ASCII characters, else
 * a random UUID (version 4), made once per request.  Any request has
 * one, in any location.
 */


/* nginx's headers first: ngx_config.h defines _GNU_SOURCE (in6_pktinfo) */
#include "ngx_http_agentcore_module.h"

#include <openssl/rand.h>


#define NGX_HTTP_AGENTCORE_REQUEST_ID_MAX  256


static ngx_int_t ngx_http_agentcore_request_id(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_agentcore_request_id_name =
    ngx_string("agentcore_request_id");

static ngx_str_t  ngx_http_agentcore_request_id_header =
    ngx_string("X-Amzn-Bedrock-AgentCore-Runtime-Request-Id");


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
