
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * agentcore_memory: a session's conversation in AgentCore Memory
 * (issue 18).  Before the first model call of an invocation with a
 * session id, ListEvents (every page) gives the history; when the turn
 * has completed, one CreateEvent per new message, in order, awaited
 * before the stream ends.  Both go as subrequests to an internal
 * location, SigV4-signed (service bedrock-agentcore) with the module's
 * credential chain.  Nothing is cached: each invocation reads the store,
 * so another node's turns are always seen.  The bodies are
 * ngx_http_agentcore_memory_proto.c's (Strands' layout).
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_session.h"
#include "ngx_http_agentcore_history.h"
#include "ngx_http_agentcore_memory_proto.h"


#define NGX_HTTP_AGENTCORE_MEMORY_LIST    0
#define NGX_HTTP_AGENTCORE_MEMORY_CREATE  1


typedef struct {
    ngx_str_t                         id;         /* memoryId */
    ngx_str_t                         uri;        /* the internal location */
    ngx_http_complex_value_t         *actor;      /* NULL: "default" */
    ngx_str_t                         region;     /* "": agentcore_region */
    ngx_str_t                         host;       /* "": derived */
    ngx_uint_t                        page_size;
    ngx_uint_t                        max_pages;
} ngx_http_agentcore_memory_conf_t;


typedef struct {
    ngx_http_agentcore_tool_call_t    capture;    /* first */
    ngx_http_agentcore_ctx_t         *ctx;
    ngx_http_agentcore_memory_conf_t *mc;

    ngx_str_t                         actor;
    ngx_uint_t                        kind;
    ngx_str_t                         path;       /* signed, in flight */
    u_char                           *body;
    size_t                            body_len;

    /* what the location's $agentcore_memory_* variables return */
    ngx_str_t                         host;
    ngx_str_t                         amz_date;
    ngx_str_t                         authorization;
    ngx_str_t                         security_token;

    ac_memory_history_t               history;
    char                             *next_token;
    ngx_uint_t                        pages;

    ngx_uint_t                        next;       /* CreateEvent: index */
    ngx_uint_t                        end;
    ngx_uint_t                        base;       /* message ids */
    double                            timestamp;
    double                            newest;     /* of the events read */
    ngx_uint_t                        written;

    ngx_uint_t                        attempts;   /* of this request */
    ngx_int_t                         rc;
    ngx_str_t                        *error;      /* finish()'s */
    ngx_str_t                         error_copy;
    ngx_event_t                       wake;

    unsigned                          in_flight:1;
    unsigned                          quiet:1;
    unsigned                          loaded:1;
    unsigned                          saving:1;
    unsigned                          saved:1;
} ngx_http_agentcore_memory_t;


static ngx_int_t ngx_http_agentcore_memory_send(ngx_http_agentcore_memory_t *m);
static ngx_int_t ngx_http_agentcore_memory_sign(ngx_http_agentcore_memory_t *m);
static ngx_int_t ngx_http_agentcore_memory_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_agentcore_memory_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_agentcore_memory_wake(ngx_event_t *ev);
static void ngx_http_agentcore_memory_listed(ngx_http_agentcore_memory_t *m);
static void ngx_http_agentcore_memory_created(ngx_http_agentcore_memory_t *m);
static ngx_int_t ngx_http_agentcore_memory_create_next(
    ngx_http_agentcore_memory_t *m);
static void ngx_http_agentcore_memory_load_failed(
    ngx_http_agentcore_memory_t *m, const char *why);
static ngx_int_t ngx_http_agentcore_memory_retry(
    ngx_http_agentcore_memory_t *m);
static void ngx_http_agentcore_memory_cleanup(void *data);
static void ngx_http_agentcore_memory_req_loud(ngx_http_agentcore_memory_t *m);
static ngx_uint_t ngx_http_agentcore_memory_safe(ngx_str_t *s);
static ngx_int_t ngx_http_agentcore_memory_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_agentcore_tool_t  ngx_http_agentcore_memory_pseudo = {
    ngx_string("agentcore_memory"), ngx_null_string, ngx_null_string,
    NULL, NULL
};


#define ngx_http_agentcore_memory_field(field)                                \
    offsetof(ngx_http_agentcore_memory_t, field)


static ngx_http_variable_t  ngx_http_agentcore_memory_vars[] = {

    { ngx_string("agentcore_memory_host"), NULL,
      ngx_http_agentcore_memory_variable,
      ngx_http_agentcore_memory_field(host),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_memory_date"), NULL,
      ngx_http_agentcore_memory_variable,
      ngx_http_agentcore_memory_field(amz_date),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_memory_authorization"), NULL,
      ngx_http_agentcore_memory_variable,
      ngx_http_agentcore_memory_field(authorization),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_memory_security_token"), NULL,
      ngx_http_agentcore_memory_variable,
      ngx_http_agentcore_memory_field(security_token),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


/*
 * agentcore_memory ID uri=/LOCATION [actor=STRING|$VAR] [region=R]
 *     [host=H] [page_size=N] [max_pages=N];
 * agentcore_memory off;
 */

char *
ngx_http_agentcore_memory_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *lcf = conf;

    ngx_int_t                          n;
    ngx_str_t                         *value, v;
    ngx_uint_t                         i;
    ngx_http_agentcore_memory_conf_t  *mc;
    ngx_http_compile_complex_value_t   ccv;

    if (lcf->memory != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters with \"off\"";
        }

        lcf->memory = NULL;
        return NGX_CONF_OK;
    }

    mc = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_memory_conf_t));
    if (mc == NULL) {
        return NGX_CONF_ERROR;
    }

    mc->id = value[1];
    mc->page_size = 100;
    mc->max_pages = 100;

    if (!ngx_http_agentcore_memory_safe(&mc->id)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid memory id \"%V\"",
                           &mc->id);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "uri=", 4) == 0) {
            mc->uri.data = value[i].data + 4;
            mc->uri.len = value[i].len - 4;

            if (mc->uri.len < 2 || mc->uri.data[0] != '/'
                || mc->uri.data[mc->uri.len - 1] == '/')
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"uri=\" wants a location path that "
                                   "does not end with \"/\"");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "actor=", 6) == 0) {
            v.data = value[i].data + 6;
            v.len = value[i].len - 6;

            if (v.len == 0) {
                return "has an empty \"actor=\"";
            }

            mc->actor = ngx_palloc(cf->pool,
                                   sizeof(ngx_http_complex_value_t));
            if (mc->actor == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
            ccv.cf = cf;
            ccv.value = &v;
            ccv.complex_value = mc->actor;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "region=", 7) == 0) {
            mc->region.data = value[i].data + 7;
            mc->region.len = value[i].len - 7;
            continue;
        }

        if (ngx_strncmp(value[i].data, "host=", 5) == 0) {
            mc->host.data = value[i].data + 5;
            mc->host.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "page_size=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n < 1 || n > AC_MEMORY_MAX_RESULTS) {
                return "wants \"page_size=\" from 1 to 100";
            }
            mc->page_size = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_pages=", 10) == 0) {
            n = ngx_atoi(value[i].data + 10, value[i].len - 10);
            if (n < 1) {
                return "wants a positive \"max_pages=\"";
            }
            mc->max_pages = n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                           &value[i]);
        return NGX_CONF_ERROR;
    }

    if (mc->uri.len == 0) {
        return "requires \"uri=\"";
    }

    lcf->memory = mc;

    return NGX_CONF_OK;
}


char *
ngx_http_agentcore_memory_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->memory, prev->memory, NULL);

    if (conf->memory && conf->enable == 1 && conf->session_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"agentcore_memory\" requires "
                           "\"agentcore_session\" (the session id and one "
                           "invocation at a time)");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_agentcore_memory_add_variables(ngx_conf_t *cf)
{
    return ngx_http_agentcore_add_variables(cf,
                                            ngx_http_agentcore_memory_vars);
}


/* the characters that need no escaping in a path segment */

static ngx_uint_t
ngx_http_agentcore_memory_safe(ngx_str_t *s)
{
    size_t  i;
    u_char  c;

    if (s->len == 0) {
        return 0;
    }

    for (i = 0; i < s->len; i++) {
        c = s->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'
              || c == '.' || c == ':'))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * Before the first model call: NGX_DECLINED, no memory here (or no
 * session); NGX_AGAIN, ListEvents sent (the invocation goes on with
 * ngx_http_agentcore_turn_start(), or ends with a stream_error);
 * NGX_ERROR.
 */

ngx_int_t
ngx_http_agentcore_memory_load(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_http_request_t                *r;
    ngx_pool_cleanup_t                *cln;
    ngx_http_agentcore_memory_t       *m;
    ngx_http_agentcore_memory_conf_t  *mc;

    mc = ctx->conf->memory;

    if (mc == NULL || ctx->session_id.len == 0) {
        return NGX_DECLINED;
    }

    r = ctx->request;

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_memory_t));
    if (m == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    m->ctx = ctx;
    m->mc = mc;
    ac_memory_history_init(&m->history);
    cln->handler = ngx_http_agentcore_memory_cleanup;
    cln->data = m;
    ctx->memory = m;

    m->capture.tool = &ngx_http_agentcore_memory_pseudo;
    m->capture.request = r;
    m->capture.pool = r->pool;
    m->capture.invocation = ctx;

    m->wake.handler = ngx_http_agentcore_memory_wake;
    m->wake.data = m;
    m->wake.log = r->connection->log;

    if (mc->actor) {
        if (ngx_http_complex_value(r, mc->actor, &m->actor) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_set(&m->actor, "default");
    }

    if (!ngx_http_agentcore_memory_safe(&m->actor)) {
        ngx_http_agentcore_memory_load_failed(m, "the actor id is empty or "
                                              "holds characters other than "
                                              "letters, digits and -_.:");
        return NGX_AGAIN;
    }

    if (!ngx_http_agentcore_memory_safe(&ctx->session_id)) {
        ngx_http_agentcore_memory_load_failed(m, "the session id holds "
                                              "characters other than "
                                              "letters, digits and -_.:");
        return NGX_AGAIN;
    }

    m->kind = NGX_HTTP_AGENTCORE_MEMORY_LIST;

    if (ngx_http_agentcore_memory_send(m) != NGX_OK) {
        ngx_http_agentcore_memory_load_failed(m, "the request cannot be "
                                              "sent (see the error log)");
    }

    return NGX_AGAIN;
}


static void
ngx_http_agentcore_memory_cleanup(void *data)
{
    ngx_http_agentcore_memory_t *m = data;

    if (m->wake.timer_set) {
        ngx_del_timer(&m->wake);
    }

    if (m->wake.posted) {
        ngx_delete_posted_event(&m->wake);
    }

    ac_memory_history_free(&m->history);

    if (m->next_token) {
        free(m->next_token);
        m->next_token = NULL;
    }
}


/* one request: its body and path from m->kind and the state */

static ngx_int_t
ngx_http_agentcore_memory_send(ngx_http_agentcore_memory_t *m)
{
    char                        *json, err[256];
    size_t                       len;
    json_t                      *msg;
    ngx_buf_t                   *b;
    ngx_str_t                    uri;
    ngx_http_request_t          *r, *sr;
    ngx_http_agentcore_ctx_t    *ctx;
    ngx_http_post_subrequest_t  *ps;
    char                        *actor, *sid;
    u_char                       token[80];

    ctx = m->ctx;
    r = ctx->request;

    if (m->body == NULL) {

        if (m->kind == NGX_HTTP_AGENTCORE_MEMORY_LIST) {
            json = ac_memory_list_events((int) m->mc->page_size,
                                         m->next_token, 1, &len);

            m->path.len = sizeof("/memories//actor//sessions/") - 1
                          + m->mc->id.len + m->actor.len
                          + ctx->session_id.len;
            m->path.data = ngx_pnalloc(r->pool, m->path.len);
            if (m->path.data == NULL) {
                free(json);
                return NGX_ERROR;
            }

            ngx_sprintf(m->path.data, "/memories/%V/actor/%V/sessions/%V",
                        &m->mc->id, &m->actor, &ctx->session_id);

        } else {
            msg = json_array_get(ctx->messages, m->next);

            /* the same token makes a retried call create the event once */
            ngx_snprintf(token, sizeof(token), "%xiT%xiP%xiN%ui%Z",
                         (ngx_int_t) ngx_time(), (ngx_int_t) ngx_pid,
                         (ngx_int_t) r->connection->number, m->next);

            actor = ngx_pnalloc(r->pool, m->actor.len + 1);
            sid = ngx_pnalloc(r->pool, ctx->session_id.len + 1);
            if (actor == NULL || sid == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(actor, m->actor.data, m->actor.len);
            actor[m->actor.len] = '\0';
            ngx_memcpy(sid, ctx->session_id.data, ctx->session_id.len);
            sid[ctx->session_id.len] = '\0';

            /* a millisecond apart: the store orders them as written */
            json = ac_memory_create_event(actor, sid,
                                          m->timestamp + 0.001 * m->written,
                                          msg, (long) (m->base + m->written),
                                          (char *) token, &len, err,
                                          sizeof(err));

            if (json == NULL) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "agentcore memory: message %ui cannot be "
                              "stored: %s", m->next, err);
                return NGX_ERROR;
            }

            m->path.len = sizeof("/memories//events") - 1 + m->mc->id.len;
            m->path.data = ngx_pnalloc(r->pool, m->path.len);
            if (m->path.data == NULL) {
                free(json);
                return NGX_ERROR;
            }

            ngx_sprintf(m->path.data, "/memories/%V/events", &m->mc->id);
        }

        if (json == NULL) {
            return NGX_ERROR;
        }

        m->body = ngx_pnalloc(r->pool, len);
        if (m->body == NULL) {
            free(json);
            return NGX_ERROR;
        }

        ngx_memcpy(m->body, json, len);
        m->body_len = len;
        free(json);
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = m->body;
    b->last = m->body + m->body_len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    if (ngx_http_agentcore_memory_sign(m) != NGX_OK) {
        return NGX_ERROR;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_agentcore_memory_done;
    ps->data = m;

    uri.len = m->mc->uri.len + m->path.len;
    uri.data = ngx_pnalloc(r->pool, uri.len);
    if (uri.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ngx_cpymem(uri.data, m->mc->uri.data, m->mc->uri.len),
               m->path.data, m->path.len);

    m->capture.status = 0;
    m->capture.body = NULL;
    m->capture.too_big = 0;
    m->rc = 0;

    sr = ngx_http_agentcore_post_subrequest(r, &uri, NULL, b, ps, ctx);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    m->capture.sr = sr;
    m->in_flight = 1;
    m->attempts++;

    if (ngx_http_agentcore_memory_headers(r, sr) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore memory: %s, attempt %ui, %uz bytes",
                   m->kind == NGX_HTTP_AGENTCORE_MEMORY_LIST ? "ListEvents"
                                                             : "CreateEvent",
                   m->attempts, m->body_len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_memory_sign(ngx_http_agentcore_memory_t *m)
{
    ngx_int_t                          rc;
    ngx_str_t                          date, auth, token, *region;
    ac_sigv4_header_t                  headers[4];
    ac_sigv4_request_t                 sreq;
    ngx_http_agentcore_ctx_t          *ctx;
    ngx_http_agentcore_credentials_t  *cr;

    ctx = m->ctx;

    region = m->mc->region.len ? &m->mc->region : &ctx->conf->region;

    rc = ngx_http_agentcore_credentials(ctx, &cr);

    if (rc != NGX_OK || cr->access_key_id.len == 0 || region->len == 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore memory: the request cannot be signed: %s",
                      (rc != NGX_OK) ? "no AWS credentials at hand"
                      : region->len ? "the credentials have no access key"
                      : "no region (region= or agentcore_region)");
        return NGX_ERROR;
    }

    if (m->host.len == 0) {
        if (m->mc->host.len) {
            m->host = m->mc->host;

        } else {
            m->host.len = sizeof("bedrock-agentcore..amazonaws.com") - 1
                          + region->len;
            m->host.data = ngx_pnalloc(ctx->request->pool, m->host.len);
            if (m->host.data == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(m->host.data, "bedrock-agentcore.%V.amazonaws.com",
                        region);
        }
    }

    headers[0].name = "content-type";
    headers[0].name_len = sizeof("content-type") - 1;
    headers[0].value = "application/json";
    headers[0].value_len = sizeof("application/json") - 1;

    headers[1].name = "host";
    headers[1].name_len = sizeof("host") - 1;
    headers[1].value = (const char *) m->host.data;
    headers[1].value_len = m->host.len;

    ngx_memzero(&sreq, sizeof(ac_sigv4_request_t));

    sreq.method = "POST";
    sreq.path = (const char *) m->path.data;
    sreq.path_len = m->path.len;
    sreq.body = m->body;
    sreq.body_len = m->body_len;
    sreq.region = (const char *) region->data;
    sreq.service = "bedrock-agentcore";
    sreq.normalize = 1;

    /* the signer keeps its results in the ctx: the model call's there */

    date = ctx->amz_date;
    auth = ctx->authorization;
    token = ctx->security_token;

    rc = ngx_http_agentcore_sign(ctx, cr, &sreq, headers, 2);

    m->amz_date = ctx->amz_date;
    m->authorization = ctx->authorization;
    m->security_token = ctx->security_token;

    ctx->amz_date = date;
    ctx->authorization = auth;
    ctx->security_token = token;

    return rc;
}


/*
 * The subrequest's headers: none of the client's, Content-Type, and a
 * fresh variable cache (as for an MCP request)
 */

static ngx_int_t
ngx_http_agentcore_memory_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr)
{
    ngx_table_elt_t            *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 2,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.expect = NULL;
    sr->headers_in.range = NULL;
    sr->headers_in.if_range = NULL;
    sr->headers_in.if_match = NULL;
    sr->headers_in.if_none_match = NULL;
    sr->headers_in.if_modified_since = NULL;
    sr->headers_in.if_unmodified_since = NULL;
    sr->headers_in.user_agent = NULL;
    sr->headers_in.referer = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif
#if (NGX_HTTP_HEADERS)
    sr->headers_in.accept = NULL;
#endif
    sr->headers_in.authorization = NULL;
    ngx_str_null(&sr->headers_in.user);
    ngx_str_null(&sr->headers_in.passwd);
#ifdef ngx_http_proxy_auth
    sr->headers_in.proxy_authorization = NULL;
#endif
#if (nginx_version >= 1023000)
    sr->headers_in.cookie = NULL;
#else
    if (ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Content-Type");
    h->lowcase_key = (u_char *) "content-type";
    ngx_str_set(&h->value, "application/json");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    sr->headers_in.content_type = h;

    return NGX_OK;
}


/* post_subrequest: the rest runs from a posted event, off its stack */

static ngx_int_t
ngx_http_agentcore_memory_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_agentcore_memory_t *m = data;

    if (rc == NGX_AGAIN || !m->in_flight || sr != m->capture.sr) {
        return rc;
    }

    m->in_flight = 0;
    m->rc = rc;
    ngx_http_agentcore_memory_req_loud(m);

    ngx_post_event(&m->wake, &ngx_posted_events);

    if (sr->connection->error) {
        return rc;
    }

    return NGX_OK;
}


static void
ngx_http_agentcore_memory_wake(ngx_event_t *ev)
{
    ngx_connection_t             *c;
    ngx_http_agentcore_memory_t  *m;

    m = ev->data;
    c = m->ctx->request->connection;

    if (ev->timedout) {
        /* the wait before a retry is over */
        ev->timedout = 0;

        if (ngx_http_agentcore_memory_send(m) != NGX_OK) {
            m->capture.status = 0;
            m->rc = NGX_ERROR;
            m->attempts = (ngx_uint_t) -1;
            goto outcome;
        }

        ngx_http_run_posted_requests(c);
        return;
    }

outcome:

    if (m->kind == NGX_HTTP_AGENTCORE_MEMORY_LIST) {
        ngx_http_agentcore_memory_listed(m);

    } else {
        ngx_http_agentcore_memory_created(m);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * A 429 or 5xx (or no response) is tried again as a model call is
 * (agentcore_retries): NGX_OK, a retry waits; NGX_DECLINED, no more.
 */

static ngx_int_t
ngx_http_agentcore_memory_retry(ngx_http_agentcore_memory_t *m)
{
    ngx_uint_t                     status, limit;
    ngx_msec_t                     delay;
    ngx_http_agentcore_retries_t  *rt;

    status = m->capture.status;
    rt = &m->ctx->conf->retries;

    if (m->attempts == (ngx_uint_t) -1 || m->ctx->request->connection->error)
    {
        return NGX_DECLINED;
    }

    if (status == NGX_HTTP_TOO_MANY_REQUESTS) {
        limit = rt->throttle;
        delay = ngx_http_agentcore_retry_delay(rt->delay, rt->max_delay,
                                               m->attempts - 1, 0);

    } else if (status == 0 || status >= 500) {
        limit = rt->errors;
        delay = ngx_http_agentcore_retry_delay(rt->error_delay,
                                               rt->error_max_delay,
                                               m->attempts - 1, 1);

    } else {
        return NGX_DECLINED;
    }

    if (m->attempts >= limit) {
        return NGX_DECLINED;
    }

    ngx_log_error(NGX_LOG_WARN, m->ctx->request->connection->log, 0,
                  "agentcore memory: %s answered HTTP %ui, retried in %M ms",
                  m->kind == NGX_HTTP_AGENTCORE_MEMORY_LIST ? "ListEvents"
                                                            : "CreateEvent",
                  status, delay);

    ngx_add_timer(&m->wake, delay);

    return NGX_OK;
}


/* a ListEvents page came back */

static void
ngx_http_agentcore_memory_listed(ngx_http_agentcore_memory_t *m)
{
    char                      err[256];
    char                     *next;
    u_char                    why[320];
    json_t                   *history, *last, *prompt, *content;
    size_t                    i;
    double                    ts;
    ngx_uint_t                status;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = m->ctx;
    status = m->capture.status;

    if (m->capture.too_big) {
        ngx_http_agentcore_memory_load_failed(m, "a ListEvents page is "
                                              "larger than "
                                              "agentcore_tool_max_size");
        return;
    }

    if (status < 200 || status >= 300 || m->rc == NGX_ERROR) {
        if (ngx_http_agentcore_memory_retry(m) == NGX_OK) {
            return;
        }

        ngx_snprintf(why, sizeof(why), "ListEvents answered HTTP %ui%Z",
                     status >= 100 ? status : 502);
        ngx_http_agentcore_memory_load_failed(m, (char *) why);
        return;
    }

    next = NULL;

    if (m->capture.body == NULL
        || ac_memory_history_add_page(&m->history,
                                      (char *) m->capture.body->pos,
                                      m->capture.body->last
                                      - m->capture.body->pos,
                                      &next, err, sizeof(err))
           != 0)
    {
        ngx_snprintf(why, sizeof(why), "a ListEvents page is not "
                     "readable: %s%Z",
                     m->capture.body ? err : "empty response");
        ngx_http_agentcore_memory_load_failed(m, (char *) why);
        return;
    }

    m->pages++;
    ngx_http_agentcore_metrics_memory(0, 1);

    if (m->next_token) {
        free(m->next_token);
    }

    m->next_token = next;

    if (next) {
        if (m->pages >= m->mc->max_pages) {
            ngx_snprintf(why, sizeof(why), "the session has more than "
                         "%ui pages of events (max_pages=)%Z", m->pages);
            ngx_http_agentcore_memory_load_failed(m, (char *) why);
            return;
        }

        m->body = NULL;
        m->attempts = 0;

        if (ngx_http_agentcore_memory_send(m) != NGX_OK) {
            ngx_http_agentcore_memory_load_failed(m, "the request cannot "
                                                  "be sent (see the error "
                                                  "log)");
        }

        return;
    }

    /* the history, trimmed to the window, then the prompt */

    history = ac_memory_history_messages(&m->history);
    if (history == NULL) {
        ngx_http_agentcore_memory_load_failed(m, "no memory");
        return;
    }

    m->base = json_array_size(history);

    /* the newest event read: this turn's events come after it */

    for (i = 0; i < json_array_size(m->history.items); i++) {
        ts = json_number_value(json_array_get(
                 json_array_get(m->history.items, i), 0));

        if (ts > m->newest) {
            m->newest = ts;
        }
    }

    (void) ac_history_trim(history,
                           ngx_http_agentcore_session_window(ctx));

    if (ac_history_repair(history) < 0) {
        json_decref(history);
        ngx_http_agentcore_memory_load_failed(m, "no memory");
        return;
    }

    /* ctx->messages holds the user message of the prompt alone */

    prompt = json_array_get(ctx->messages, json_array_size(ctx->messages)
                                           - 1);
    last = json_array_get(history, json_array_size(history) - 1);

    if (last && prompt
        && ngx_strcmp(json_string_value(json_object_get(last, "role")),
                      "user") == 0)
    {
        content = json_object_get(last, "content");

        for (i = 0; i < json_array_size(json_object_get(prompt, "content"));
             i++)
        {
            json_array_append(content,
                json_array_get(json_object_get(prompt, "content"), i));
        }

    } else if (prompt) {
        json_array_append(history, prompt);
    }

    json_decref(ctx->messages);
    ctx->messages = history;

    ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                  "agentcore memory: %ui messages read in %ui pages "
                  "(%uz events, %uz items skipped)",
                  m->base, m->pages, m->history.events, m->history.skipped);

    ac_memory_history_free(&m->history);
    ac_memory_history_init(&m->history);

    m->loaded = 1;

    ngx_http_agentcore_turn_start(ctx);
}


static void
ngx_http_agentcore_memory_load_failed(ngx_http_agentcore_memory_t *m,
    const char *why)
{
    ngx_str_t                  error;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = m->ctx;

    ngx_http_agentcore_metrics_memory(0, 0);

    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                  "agentcore memory: the session history cannot be read: %s",
                  why);

    /* the session keeps what the store has: nothing is written */
    ctx->keep_history = 1;

    error.data = ngx_pnalloc(ctx->request->pool, 400);
    if (error.data == NULL) {
        ngx_str_set(&error, "The session history cannot be read from "
                    "AgentCore Memory");

    } else {
        error.len = ngx_snprintf(error.data, 400,
                                 "The session history cannot be read from "
                                 "AgentCore Memory: %s", why)
                    - error.data;
    }

    ngx_http_agentcore_finish(ctx, &error);
}


/*
 * From ngx_http_agentcore_finish(): a completed turn (no error, the
 * last message the assistant's) is written, one CreateEvent per message
 * from the turn's prompt on, in order, before the stream ends.
 * NGX_AGAIN: writing, finish() is called again when done; NGX_OK.
 */

ngx_int_t
ngx_http_agentcore_memory_save(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error)
{
    json_t                       *last;
    ngx_time_t                   *tp;
    ngx_http_agentcore_memory_t  *m;

    m = ctx->memory;

    if (m == NULL || !m->loaded || m->saved) {
        return NGX_OK;
    }

    if (m->saving) {
        /* finish() again while writing (a timeout): the writes end it */
        return NGX_AGAIN;
    }

    m->saved = 1;

    if (error || ctx->keep_history || ctx->messages == NULL) {
        if (error) {
            ngx_log_error(NGX_LOG_INFO, ctx->request->connection->log, 0,
                          "agentcore memory: the turn did not complete: "
                          "nothing is written");
        }

        return NGX_OK;
    }

    last = json_array_get(ctx->messages, json_array_size(ctx->messages) - 1);

    if (last == NULL
        || ngx_strcmp(json_string_value(json_object_get(last, "role")),
                      "assistant") != 0)
    {
        return NGX_OK;
    }

    if (ctx->request->connection->error) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "agentcore memory: the client went away: the turn "
                      "is not written");
        return NGX_OK;
    }

    m->next = ctx->turn_start;
    m->end = json_array_size(ctx->messages);
    m->written = 0;
    m->kind = NGX_HTTP_AGENTCORE_MEMORY_CREATE;

    /*
     * a millisecond apart, and after every event read (a clock behind
     * another node's, or a turn within the same milliseconds): the
     * store's order by timestamp is the order of the conversation
     */

    tp = ngx_timeofday();
    m->timestamp = (double) tp->sec + (double) tp->msec / 1000;

    if (m->timestamp < m->newest + 0.001) {
        m->timestamp = m->newest + 0.001;
    }

    ngx_http_agentcore_timers_stop(ctx);

    m->saving = 1;
    m->error = NULL;

    if (ngx_http_agentcore_memory_create_next(m) != NGX_OK) {
        m->saving = 0;
        return NGX_OK;
    }

    return NGX_AGAIN;
}


/* NGX_OK: a CreateEvent in flight; else nothing more to write */

static ngx_int_t
ngx_http_agentcore_memory_create_next(ngx_http_agentcore_memory_t *m)
{
    if (m->next >= m->end) {
        return NGX_DONE;
    }

    m->body = NULL;
    m->attempts = 0;

    if (ngx_http_agentcore_memory_send(m) != NGX_OK) {
        ngx_http_agentcore_metrics_memory(1, 0);

        ngx_log_error(NGX_LOG_ERR, m->ctx->request->connection->log, 0,
                      "agentcore memory: CreateEvent for message %ui of "
                      "the session cannot be sent: %ui of %ui written",
                      m->next, m->written, m->end - m->ctx->turn_start);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_agentcore_memory_created(ngx_http_agentcore_memory_t *m)
{
    ngx_uint_t                 status;
    ngx_str_t                  error;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = m->ctx;
    status = m->capture.status;

    if (status < 200 || status >= 300 || m->rc == NGX_ERROR) {
        if (ngx_http_agentcore_memory_retry(m) == NGX_OK) {
            return;
        }

        ngx_http_agentcore_metrics_memory(1, 0);

        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore memory: CreateEvent answered HTTP %ui: "
                      "%ui of %ui messages of the turn written",
                      status >= 100 ? status : 502, m->written,
                      m->end - ctx->turn_start);

        m->saving = 0;

        ngx_str_set(&error, "The turn could not be written to AgentCore "
                    "Memory: the next turn will not see it");
        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    ngx_http_agentcore_metrics_memory(1, 1);

    m->written++;
    m->next++;

    if (ngx_http_agentcore_memory_create_next(m) == NGX_OK) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "agentcore memory: %ui events written", m->written);

    m->saving = 0;

    if (m->next < m->end) {
        ngx_str_set(&error, "The turn could not be written to AgentCore "
                    "Memory: the next turn will not see it");
        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    ngx_http_agentcore_finish(ctx, NULL);
}


/* the capture filter: is sr ours? */

ngx_http_agentcore_tool_call_t *
ngx_http_agentcore_memory_capture(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_http_agentcore_memory_t  *m;

    m = ctx->memory;

    if (m == NULL || m->capture.sr != sr || !m->in_flight) {
        return NULL;
    }

    return &m->capture;
}


static ngx_int_t
ngx_http_agentcore_memory_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s;
    ngx_http_agentcore_ctx_t        *ctx;
    ngx_http_agentcore_tool_call_t  *capture;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    capture = (ctx && r != r->main) ? ngx_http_agentcore_memory_capture(ctx, r)
                                    : NULL;

    if (capture == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) capture + data);

    if (s->len == 0) {
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


/*
 * Debug logging of the connection pauses from the subrequest's content
 * phase until its response header (or its end): nginx's proxy module
 * would print the signed headers (ngx_http_agentcore_log_pause()).
 */

void
ngx_http_agentcore_memory_quiet(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_http_agentcore_memory_t  *m;

    m = (ngx_http_agentcore_memory_t *)
            ngx_http_agentcore_memory_capture(ctx, sr);

    if (m == NULL || m->quiet) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "agentcore memory: debug logging paused while the "
                   "request is sent");

    m->quiet = 1;
    ngx_http_agentcore_log_pause(ctx);
}


void
ngx_http_agentcore_memory_loud(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_http_agentcore_memory_t  *m;

    m = (ngx_http_agentcore_memory_t *)
            ngx_http_agentcore_memory_capture(ctx, sr);

    if (m) {
        ngx_http_agentcore_memory_req_loud(m);
    }
}


static void
ngx_http_agentcore_memory_req_loud(ngx_http_agentcore_memory_t *m)
{
    if (!m->quiet) {
        return;
    }

    m->quiet = 0;
    ngx_http_agentcore_log_resume(m->ctx);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, m->ctx->request->connection->log, 0,
                   "agentcore memory: debug logging resumed");
}
