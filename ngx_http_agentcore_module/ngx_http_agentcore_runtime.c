
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * agentcore_runtime_pass: nginx in front of a deployed AgentCore
 * Runtime.  A POST to the location is relayed to InvokeAgentRuntime:
 * the module reads the body, picks the headers the data plane accepts
 * (the session id, generated as the SDKs do when the client sends none;
 * the user id, MCP and trace headers; X-Amzn-Bedrock-AgentCore-Runtime-
 * Custom-*), signs them with SigV4 for "bedrock-agentcore" (or passes
 * the client's bearer token on, auth=bearer), and redirects the request
 * to the internal location of agentcore_runtime_location, whose
 * proxy_pass (conf/agentcore_runtime_params) carries it: the answer,
 * SSE or JSON, an error or not, streams back through nginx's proxy
 * module as it arrives.
 *
 * The internal redirect clears the module's context: the variables the
 * proxy location reads find it through the request pool's cleanup, as
 * the realip module finds its own.
 */


/* nginx's headers first: ngx_config.h defines _GNU_SOURCE (in6_pktinfo) */
#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_runtime_arn.h"

#include <openssl/evp.h>
#include <openssl/rand.h>


#define NGX_HTTP_AGENTCORE_RUNTIME_SIGNED  32   /* headers signed, most */


struct ngx_http_agentcore_runtime_conf_s {
    ngx_str_t                   arn;
    ngx_str_t                   region;      /* C strings too */
    ngx_str_t                   host;
    ngx_str_t                   path;        /* path and query, on the wire */
    ngx_str_t                   query;       /* inside path, or empty */
    size_t                      path_len;    /* without the query */
    ngx_flag_t                  bearer;      /* auth=bearer */
};


/* what a request header becomes on the way to the data plane */

typedef enum {
    NGX_HTTP_AGENTCORE_RT_DROP = 0,
    NGX_HTTP_AGENTCORE_RT_PASS,                /* sent, not signed */
    NGX_HTTP_AGENTCORE_RT_SIGN,                /* sent and signed */
    NGX_HTTP_AGENTCORE_RT_SESSION,
    NGX_HTTP_AGENTCORE_RT_TYPE
} ngx_http_agentcore_rt_header_e;


typedef struct {
    ngx_str_t                        name;    /* lower case */
    ngx_http_agentcore_rt_header_e   kind;
} ngx_http_agentcore_rt_header_t;


static void ngx_http_agentcore_runtime_body(ngx_http_request_t *r);
static ngx_int_t ngx_http_agentcore_runtime_no_credentials(
    ngx_http_agentcore_ctx_t *ctx);
static ngx_int_t ngx_http_agentcore_runtime_headers(
    ngx_http_agentcore_ctx_t *ctx, ac_sigv4_header_t *signed_headers,
    ngx_uint_t *nsigned);
static ngx_table_elt_t *ngx_http_agentcore_runtime_push(ngx_list_t *list,
    char *key, ngx_str_t *value);
static ngx_int_t ngx_http_agentcore_runtime_payload_hash(
    ngx_http_request_t *r, char hash[65]);
static ngx_int_t ngx_http_agentcore_runtime_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, ac_sigv4_header_t *headers,
    ngx_uint_t n);
static ngx_http_agentcore_ctx_t *ngx_http_agentcore_runtime_ctx(
    ngx_http_request_t *r);
static void ngx_http_agentcore_runtime_cleanup(void *data);
static ngx_int_t ngx_http_agentcore_runtime_quiet(ngx_http_request_t *r);
static ngx_int_t ngx_http_agentcore_runtime_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_agentcore_rt_header_t  ngx_http_agentcore_rt_headers[] = {
    { ngx_string("content-type"), NGX_HTTP_AGENTCORE_RT_TYPE },
    { ngx_string("accept"), NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("x-amzn-bedrock-agentcore-runtime-session-id"),
      NGX_HTTP_AGENTCORE_RT_SESSION },
    { ngx_string("x-amzn-bedrock-agentcore-runtime-user-id"),
      NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("mcp-session-id"), NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("mcp-protocol-version"), NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("traceparent"), NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("tracestate"), NGX_HTTP_AGENTCORE_RT_SIGN },
    { ngx_string("baggage"), NGX_HTTP_AGENTCORE_RT_SIGN },

    /* what the AWS SDKs leave unsigned */
    { ngx_string("x-amzn-trace-id"), NGX_HTTP_AGENTCORE_RT_PASS },
    { ngx_string("user-agent"), NGX_HTTP_AGENTCORE_RT_PASS },

    { ngx_null_string, NGX_HTTP_AGENTCORE_RT_DROP }
};

static ngx_str_t  ngx_http_agentcore_rt_custom =
    ngx_string("x-amzn-bedrock-agentcore-runtime-custom-");

static ngx_str_t  ngx_http_agentcore_rt_json = ngx_string("application/json");


#define ngx_http_agentcore_rt_field(field)                                   \
    offsetof(ngx_http_agentcore_ctx_t, field)


static ngx_http_variable_t  ngx_http_agentcore_runtime_vars[] = {

    { ngx_string("agentcore_runtime_path"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(wire_path),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_runtime_host"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(host),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_runtime_date"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(amz_date),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_runtime_authorization"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(authorization),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_runtime_security_token"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(security_token),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    /* for the access log too */

    { ngx_string("agentcore_runtime_session_id"), NULL,
      ngx_http_agentcore_runtime_variable,
      ngx_http_agentcore_rt_field(session_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* agentcore_runtime_pass ARN [qualifier=Q] [auth=sigv4|bearer] [host=H] */

char *
ngx_http_agentcore_runtime_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    u_char                              *p;
    size_t                               n, query_at;
    ngx_str_t                           *value, qualifier;
    ngx_uint_t                           i;
    const char                          *error;
    ac_runtime_arn_t                     arn;
    ngx_http_core_loc_conf_t            *clcf;
    ngx_http_agentcore_runtime_conf_t   *rt;
    char                                 host[AC_RUNTIME_HOST_MAX];

    if (alcf->runtime) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler";
    }

    value = cf->args->elts;

    if (ac_runtime_arn_parse((char *) value[1].data, value[1].len, &arn,
                             &error)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_runtime_pass: \"%V\" %s: want "
                           "arn:aws:bedrock-agentcore:REGION:ACCOUNT:"
                           "runtime/ID", &value[1], error);
        return NGX_CONF_ERROR;
    }

    rt = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_runtime_conf_t));
    if (rt == NULL) {
        return NGX_CONF_ERROR;
    }

    rt->arn = value[1];
    ngx_str_set(&qualifier, "DEFAULT");

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "qualifier=", 10) == 0) {
            qualifier.data = value[i].data + 10;
            qualifier.len = value[i].len - 10;

            if (!ac_runtime_qualifier_valid((char *) qualifier.data,
                                            qualifier.len))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "agentcore_runtime_pass: \"%V\": a "
                                   "qualifier is 1 to %d letters, digits, "
                                   "\"_\" or \"-\"", &value[i],
                                   AC_RUNTIME_QUALIFIER_MAX);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "auth=sigv4") == 0) {
            rt->bearer = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "auth=bearer") == 0) {
            rt->bearer = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "host=", 5) == 0
            && value[i].len > 5)
        {
            rt->host.data = value[i].data + 5;
            rt->host.len = value[i].len - 5;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_runtime_pass: unknown option \"%V\" "
                           "(qualifier=, auth=sigv4, auth=bearer, host=)",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    /* the region, as a C string for the signer */

    rt->region.len = arn.region_len;
    rt->region.data = ngx_pnalloc(cf->pool, arn.region_len + 1);
    if (rt->region.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(rt->region.data, arn.region, arn.region_len);
    rt->region.data[arn.region_len] = '\0';

    if (rt->host.data == NULL) {
        n = ac_runtime_host(&arn, host);
        if (n == 0) {
            return "cannot make the endpoint's host from the ARN";
        }

        rt->host.len = n;
        rt->host.data = ngx_pnalloc(cf->pool, n);
        if (rt->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rt->host.data, host, n);
    }

    /* the path and the query on the wire, once */

    p = ngx_pnalloc(cf->pool, 3 * (rt->arn.len + qualifier.len) + 64);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    rt->path.data = p;
    rt->path.len = ac_runtime_wire_path((char *) rt->arn.data, rt->arn.len,
                                        (char *) qualifier.data,
                                        qualifier.len, (char *) p,
                                        &query_at);

    rt->query.data = p + query_at;
    rt->query.len = rt->path.len - query_at;
    rt->path_len = rt->query.len ? query_at - 1 : query_at;

    alcf->runtime = rt;
    clcf->handler = ngx_http_agentcore_runtime_handler;

    return NGX_CONF_OK;
}


char *
ngx_http_agentcore_runtime_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_conf_merge_str_value(conf->runtime_location, prev->runtime_location,
                             "");

    if (conf->runtime && conf->runtime_location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"agentcore_runtime_pass\" requires "
                           "\"agentcore_runtime_location\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* whether the location signs, and so needs credentials */

ngx_uint_t
ngx_http_agentcore_runtime_signs(ngx_http_agentcore_loc_conf_t *conf)
{
    return conf->runtime != NULL && !conf->runtime->bearer;
}


ngx_int_t
ngx_http_agentcore_runtime_add_variables(ngx_conf_t *cf)
{
    return ngx_http_agentcore_add_variables(cf,
                                            ngx_http_agentcore_runtime_vars);
}


ngx_int_t
ngx_http_agentcore_runtime_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_agentcore_runtime_quiet;

    return NGX_OK;
}


ngx_int_t
ngx_http_agentcore_runtime_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_pool_cleanup_t        *cln;
    ngx_http_agentcore_ctx_t  *ctx;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    if (!(r->method & NGX_HTTP_POST)) {
        return ngx_http_agentcore_send_not_allowed(r, "POST");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

    /* found again after the internal redirect */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_agentcore_runtime_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_agentcore_module);

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_agentcore_runtime_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* the body is read: headers, signature, redirect; again after a wait */

static void
ngx_http_agentcore_runtime_body(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_uint_t                          n;
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_runtime_conf_t  *rt;
    ngx_http_agentcore_credentials_t   *cr;
    ac_sigv4_header_t                   headers[NGX_HTTP_AGENTCORE_RUNTIME_SIGNED];

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);
    rt = ctx->conf->runtime;
    cr = NULL;

    if (!rt->bearer) {
        rc = ngx_http_agentcore_credentials(ctx, &cr);

        if (rc == NGX_AGAIN) {
            /* none yet: this handler runs again when the fetch ends */
            r->write_event_handler = ngx_http_agentcore_runtime_body;
            r->read_event_handler = ngx_http_test_reading;
            return;
        }

        if (rc != NGX_OK) {
            ngx_http_finalize_request(r,
                ngx_http_agentcore_runtime_no_credentials(ctx));
            return;
        }
    }

    if (ngx_http_agentcore_runtime_headers(ctx, headers, &n) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->wire_path = rt->path;
    ctx->host = rt->host;

    if (rt->bearer) {
        if (r->headers_in.authorization) {
            ctx->authorization = r->headers_in.authorization->value;
        }

    } else if (ngx_http_agentcore_runtime_sign(ctx, cr, headers, n)
               != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a session id is a bearer id: its hash only, as everywhere */

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore runtime: \"%V\", session %08xD",
                   &rt->arn,
                   ngx_crc32_short(ctx->session_id.data,
                                   ctx->session_id.len));

    /*
     * At debug level the proxy module prints the request it builds, the
     * session token and the client's bearer token included: debug
     * logging pauses from the internal location's precontent phase
     * (ngx_http_agentcore_runtime_quiet(), after the location's
     * error_log level is set) until ngx_http_internal_redirect()
     * returns, the request built
     */

    (void) ngx_http_internal_redirect(r, &ctx->conf->runtime_location, NULL);

    if (ctx->log_paused) {
        ctx->log_paused = 0;
        r->connection->log->log_level = ctx->log_level;

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "agentcore runtime: debug logging resumed");
    }

    /* the request is still ours (the redirect counted it): for the log */
    ngx_http_set_ctx(r, ctx, ngx_http_agentcore_module);

    ngx_http_finalize_request(r, NGX_DONE);
}


static ngx_int_t
ngx_http_agentcore_runtime_no_credentials(ngx_http_agentcore_ctx_t *ctx)
{
    u_char  *details, *p;

    static u_char  intro[] = "the server has no credentials to call the "
                             "agent runtime; tried: ";
    static u_char  outro[] = " (the causes are in the error log)";

    details = ngx_pnalloc(ctx->request->pool,
                          sizeof(intro) + 200 + sizeof(outro));
    if (details == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(details, intro, sizeof(intro) - 1);

    ngx_http_agentcore_credentials_tried(ctx, p, 200);

    p += ngx_strlen(p);
    ngx_memcpy(p, outro, sizeof(outro));

    return ngx_http_agentcore_send_json(ctx->request,
                                        NGX_HTTP_INTERNAL_SERVER_ERROR,
                                        "No AWS credentials",
                                        (char *) details);
}


/*
 * The request's headers become those the data plane accepts, and
 * nothing else (no cookie, no client Authorization, no Accept-Encoding):
 * the proxy location passes the request's headers on.  The session id
 * is generated when the client sent none.  The headers to sign go into
 * signed_headers (the host, the date and the token are added by the
 * signer's caller).
 */

static ngx_int_t
ngx_http_agentcore_runtime_headers(ngx_http_agentcore_ctx_t *ctx,
    ac_sigv4_header_t *signed_headers, ngx_uint_t *nsigned)
{
    ngx_uint_t                       i, n, kind, has_type;
    ngx_str_t                        value;
    ngx_list_t                      *headers;
    ngx_list_part_t                 *part, first;
    ngx_table_elt_t                 *h, *nh;
    ngx_http_request_t              *r;
    ngx_http_agentcore_rt_header_t  *rh;
    unsigned char                    random[16];

    r = ctx->request;
    n = 0;
    has_type = 0;

    /* the list is rebuilt in place from its old parts */

    headers = &r->headers_in.headers;
    first = headers->part;

    if (ngx_list_init(headers, r->pool, 16, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &first;
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

        if (h[i].key.len == 0 || h[i].value.len == 0) {
            continue;
        }

        kind = NGX_HTTP_AGENTCORE_RT_DROP;

        for (rh = ngx_http_agentcore_rt_headers; rh->name.len; rh++) {
            if (h[i].key.len == rh->name.len
                && ngx_strncmp(h[i].lowcase_key, rh->name.data,
                               rh->name.len)
                   == 0)
            {
                kind = rh->kind;
                break;
            }
        }

        if (kind == NGX_HTTP_AGENTCORE_RT_DROP
            && h[i].key.len > ngx_http_agentcore_rt_custom.len
            && ngx_strncmp(h[i].lowcase_key, ngx_http_agentcore_rt_custom.data,
                           ngx_http_agentcore_rt_custom.len)
               == 0)
        {
            kind = NGX_HTTP_AGENTCORE_RT_SIGN;
        }

        if (kind == NGX_HTTP_AGENTCORE_RT_DROP) {
            continue;
        }

        if (kind == NGX_HTTP_AGENTCORE_RT_SESSION) {
            if (ctx->session_id.len) {
                /* one session: the first */
                continue;
            }

            ctx->session_id = h[i].value;

        } else if (kind == NGX_HTTP_AGENTCORE_RT_TYPE) {
            if (has_type) {
                continue;
            }

            has_type = 1;
        }

        nh = ngx_list_push(headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif

        if (kind == NGX_HTTP_AGENTCORE_RT_PASS) {
            continue;
        }

        if (n == NGX_HTTP_AGENTCORE_RUNTIME_SIGNED - 5) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "agentcore runtime: more than %d headers to "
                          "sign, \"%V\" dropped",
                          NGX_HTTP_AGENTCORE_RUNTIME_SIGNED - 5, &h[i].key);
            headers->last->nelts--;
            continue;
        }

        signed_headers[n].name = (char *) nh->key.data;
        signed_headers[n].name_len = nh->key.len;
        signed_headers[n].value = (char *) nh->value.data;
        signed_headers[n++].value_len = nh->value.len;
    }

    if (ctx->session_id.len == 0) {
        /* as botocore fills the runtimeSessionId idempotency token */

        if (RAND_bytes(random, sizeof(random)) != 1) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "agentcore runtime: RAND_bytes() failed");
            return NGX_ERROR;
        }

        ctx->session_id.data = ngx_pnalloc(r->pool, 37);
        if (ctx->session_id.data == NULL) {
            return NGX_ERROR;
        }

        ac_runtime_uuid4(random, (char *) ctx->session_id.data);
        ctx->session_id.len = 36;

        nh = ngx_http_agentcore_runtime_push(headers,
                           "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
                           &ctx->session_id);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        signed_headers[n].name = (char *) nh->key.data;
        signed_headers[n].name_len = nh->key.len;
        signed_headers[n].value = (char *) nh->value.data;
        signed_headers[n++].value_len = nh->value.len;
    }

    if (!has_type) {
        value = ngx_http_agentcore_rt_json;

        nh = ngx_http_agentcore_runtime_push(headers, "Content-Type", &value);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        signed_headers[n].name = (char *) nh->key.data;
        signed_headers[n].name_len = nh->key.len;
        signed_headers[n].value = (char *) nh->value.data;
        signed_headers[n++].value_len = nh->value.len;
    }

    *nsigned = n;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_agentcore_runtime_push(ngx_list_t *list, char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(list);
    if (h == NULL) {
        return NULL;
    }

    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    h->lowcase_key = ngx_pnalloc(list->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NULL;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return h;
}


/* SHA-256 of the request body, in memory or in its temporary file */

static ngx_int_t
ngx_http_agentcore_runtime_payload_hash(ngx_http_request_t *r,
    char hash[65])
{
    off_t          offset;
    ssize_t        n;
    ngx_int_t      rc;
    ngx_uint_t     i;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    EVP_MD_CTX    *md;
    unsigned int   len;
    u_char         buf[16384], digest[32];

    static u_char  hex[] = "0123456789abcdef";

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;

    if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        goto done;
    }

    for (cl = r->request_body ? r->request_body->bufs : NULL;
         cl;
         cl = cl->next)
    {
        b = cl->buf;

        if (!b->in_file) {
            if (b->last > b->pos
                && EVP_DigestUpdate(md, b->pos, b->last - b->pos) != 1)
            {
                goto done;
            }

            continue;
        }

        for (offset = b->file_pos; offset < b->file_last; offset += n) {
            n = ngx_read_file(b->file, buf,
                              ngx_min((off_t) sizeof(buf),
                                      b->file_last - offset),
                              offset);
            if (n <= 0) {
                goto done;
            }

            if (EVP_DigestUpdate(md, buf, n) != 1) {
                goto done;
            }
        }
    }

    if (EVP_DigestFinal_ex(md, digest, &len) != 1) {
        goto done;
    }

    for (i = 0; i < 32; i++) {
        hash[2 * i] = hex[digest[i] >> 4];
        hash[2 * i + 1] = hex[digest[i] & 0x0f];
    }

    hash[64] = '\0';
    rc = NGX_OK;

done:

    EVP_MD_CTX_free(md);

    return rc;
}


static ngx_int_t
ngx_http_agentcore_runtime_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, ac_sigv4_header_t *headers,
    ngx_uint_t n)
{
    ac_sigv4_request_t                  req;
    ngx_http_agentcore_runtime_conf_t  *rt;
    char                                hash[65];

    rt = ctx->conf->runtime;

    if (cr->bearer_token.len) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore runtime: a Bedrock API key "
                      "(AWS_BEARER_TOKEN_BEDROCK) cannot sign for "
                      "bedrock-agentcore");
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_runtime_payload_hash(ctx->request, hash)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore runtime: the body could not be hashed");
        return NGX_ERROR;
    }

    headers[n].name = "host";
    headers[n].name_len = sizeof("host") - 1;
    headers[n].value = (char *) rt->host.data;
    headers[n++].value_len = rt->host.len;

    ngx_memzero(&req, sizeof(ac_sigv4_request_t));

    req.method = "POST";
    req.path = (char *) rt->path.data;
    req.path_len = rt->path_len;
    req.query = rt->query.len ? (char *) rt->query.data : NULL;
    req.query_len = rt->query.len;
    req.payload_hash = hash;
    req.region = (char *) rt->region.data;
    req.service = "bedrock-agentcore";
    req.normalize = 1;

    return ngx_http_agentcore_sign(ctx, cr, &req, headers, n);
}


static ngx_http_agentcore_ctx_t *
ngx_http_agentcore_runtime_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL && r->internal) {
        for (cln = r->pool->cleanup; cln; cln = cln->next) {
            if (cln->handler == ngx_http_agentcore_runtime_cleanup) {
                return cln->data;
            }
        }
    }

    return ctx;
}


static void
ngx_http_agentcore_runtime_cleanup(void *data)
{
    /* a marker: the context lives as long as the pool */
}


static ngx_int_t
ngx_http_agentcore_runtime_quiet(ngx_http_request_t *r)
{
#if (NGX_DEBUG)
    ngx_log_t                 *log;
    ngx_http_agentcore_ctx_t  *ctx;

    if (r != r->main || !r->internal
        || ngx_http_get_module_ctx(r, ngx_http_agentcore_module))
    {
        return NGX_DECLINED;
    }

    ctx = ngx_http_agentcore_runtime_ctx(r);

    if (ctx == NULL || ctx->conf->runtime == NULL || ctx->log_paused) {
        return NGX_DECLINED;
    }

    log = r->connection->log;

    if (log->log_level & NGX_LOG_DEBUG_ALL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, log, 0,
                       "agentcore runtime: debug logging paused while the "
                       "request is built");

        ctx->log_level = log->log_level;
        ctx->log_paused = 1;
        log->log_level = NGX_LOG_INFO;
    }
#endif

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_agentcore_runtime_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_agentcore_runtime_ctx(r);

    if (ctx == NULL || ctx->conf->runtime == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->len == 0) {
        /* no header from proxy_set_header */
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
