
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The model call: a background POST subrequest to the model location
 * carrying the signed ConverseStream request, and the capture filter
 * that feeds its body, as it arrives, to the provider's decoder (the
 * event-stream decoder for Bedrock, ngx_http_agentcore_provider.h) and
 * the turn assembler, whose text deltas go out as SSE.
 */


#include "ngx_http_agentcore_module.h"


static ngx_int_t ngx_http_agentcore_model_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, u_char *body, size_t len);
static ngx_int_t ngx_http_agentcore_model_key(ngx_http_agentcore_ctx_t *ctx);
static ngx_uint_t ngx_http_agentcore_bad_key(ngx_str_t *key);
static ngx_int_t ngx_http_agentcore_model_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static int ngx_http_agentcore_model_text(void *data, const char *text,
    size_t len);
static ngx_int_t ngx_http_agentcore_quiet_handler(ngx_http_request_t *r);
static void ngx_http_agentcore_model_log_resume(ngx_http_agentcore_ctx_t *ctx);
static ngx_int_t ngx_http_agentcore_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_agentcore_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_buf_t *ngx_http_agentcore_too_large(ngx_http_request_t *r);
static ngx_int_t ngx_http_agentcore_model_feed(ngx_http_agentcore_ctx_t *ctx,
    ngx_chain_t *in);
static ngx_int_t ngx_http_agentcore_model_hold(ngx_http_agentcore_ctx_t *ctx,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

/* the text handler's result, distinct from AC_STREAM_* */
#define NGX_HTTP_AGENTCORE_CLIENT_ERROR  1


static ngx_str_t  ngx_http_agentcore_post = ngx_string("POST");


ngx_int_t
ngx_http_agentcore_model_filter_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_agentcore_quiet_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_agentcore_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_agentcore_body_filter;

    return NGX_OK;
}


/* starts one model call with the history in ctx->messages */

ngx_int_t
ngx_http_agentcore_model_start(ngx_http_agentcore_ctx_t *ctx)
{
    char                              *json;
    size_t                             len;
    ngx_int_t                          rc;
    ngx_str_t                          suffix;
    ngx_buf_t                         *b;
    ngx_http_request_t                *r, *sr;
    ngx_http_post_subrequest_t        *ps;
    ngx_http_agentcore_loc_conf_t     *conf;
    ngx_http_agentcore_credentials_t  *cr;

    r = ctx->request;
    conf = ctx->conf;
    cr = NULL;

    ctx->provider = ac_provider(conf->provider);

    /* NGX_AGAIN: a fetch wakes the request; NGX_DECLINED: none */

    if (conf->provider == AC_PROVIDER_BEDROCK) {
        rc = ngx_http_agentcore_credentials(ctx, &cr);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    /* NGX_AGAIN: the tools of an MCP server are being listed */

    suffix = conf->request_suffix;

    rc = ngx_http_agentcore_mcp_prepare(ctx, &suffix);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the request body: the history, then what the configuration says */

    json = ctx->provider->request(ctx->messages, (const char *) suffix.data,
                                  suffix.len, (const char *) conf->model.data,
                                  &len);
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "agentcore: the model request cannot be built from "
                      "the history (%uz messages): a text that is not "
                      "UTF-8, nesting too deep, or no memory",
                      json_array_size(ctx->messages));
        return NGX_ERROR;
    }

    /*
     * the body grows with the history: the last call's is done with, and
     * a large one goes back to the allocator at once
     */

    if (ctx->body) {
        ngx_pfree(r->pool, ctx->body);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        free(json);
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    b->last_buf = 1;
    b->last_in_chain = 1;
    free(json);

    ctx->body = b->start;

    /* the path on the wire, byte-identical to the signed one */

    ctx->wire_path.data = ngx_pnalloc(r->pool, 3 * conf->model.len + 32);
    if (ctx->wire_path.data == NULL) {
        return NGX_ERROR;
    }

    ctx->wire_path.len = ac_model_wire_path((const char *) conf->model.data,
                                            conf->model.len,
                                            (char *) ctx->wire_path.data);
    ctx->host = conf->host;

    if (cr) {
        if (ngx_http_agentcore_model_sign(ctx, cr, b->pos, len) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (ngx_http_agentcore_model_key(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the subrequest */

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_agentcore_model_done;
    ps->data = ctx;

    sr = ngx_http_agentcore_post_subrequest(r, &conf->model_location, NULL,
                                            b, ps, ctx);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    /* fresh state for this call */

    if (ctx->stream) {
        ctx->provider->stream_destroy(ctx->stream);
        ctx->stream = NULL;
    }

    if (ctx->turn) {
        ac_turn_destroy(ctx->turn);
    }

    ctx->turn = ac_turn_create(ngx_http_agentcore_model_text, ctx);
    if (ctx->turn == NULL) {
        return NGX_ERROR;
    }

    ctx->stream = ctx->provider->stream_create(ctx->turn,
                                              NGX_HTTP_AGENTCORE_MAX_MESSAGE);
    if (ctx->stream == NULL) {
        return NGX_ERROR;
    }

    ctx->model_sr = sr;
    ctx->model_rc = NGX_OK;
    ctx->model_status = 0;
    ngx_str_null(&ctx->error_type);
    ctx->error_body = NULL;
    ctx->error_body_len = 0;
    ctx->stream_error = NULL;
    ctx->model_max_body = 0;
    ctx->model_held = NULL;
    ctx->model_done = 0;
    ctx->model_failed = 0;
    ctx->model_text = 0;
    ctx->answer_mark = ctx->answer_len;
    ctx->cycles++;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore model call #%ui to \"%V\", %uz bytes",
                   ctx->cycles, &conf->model_location, len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_model_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, u_char *body, size_t len)
{
    u_char              *p;
    ngx_uint_t           n;
    ngx_pool_t          *pool;
    ac_sigv4_header_t    headers[4];
    ac_sigv4_request_t   req;

    pool = ctx->request->pool;

    ngx_str_null(&ctx->amz_date);
    ngx_str_null(&ctx->security_token);

    if (cr->bearer_token.len) {
        ctx->authorization.len = sizeof("Bearer ") - 1 + cr->bearer_token.len;
        ctx->authorization.data = ngx_pnalloc(pool, ctx->authorization.len);
        if (ctx->authorization.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(ctx->authorization.data, "Bearer ",
                       sizeof("Bearer ") - 1);
        ngx_memcpy(p, cr->bearer_token.data, cr->bearer_token.len);

        return NGX_OK;
    }

    n = 0;

    headers[n].name = "content-type";
    headers[n].name_len = sizeof("content-type") - 1;
    headers[n].value = "application/json";
    headers[n++].value_len = sizeof("application/json") - 1;

    headers[n].name = "host";
    headers[n].name_len = sizeof("host") - 1;
    headers[n].value = (const char *) ctx->host.data;
    headers[n++].value_len = ctx->host.len;

    ngx_memzero(&req, sizeof(ac_sigv4_request_t));

    req.method = "POST";
    req.path = (const char *) ctx->wire_path.data;
    req.path_len = ctx->wire_path.len;
    req.body = body;
    req.body_len = len;
    req.region = (const char *) ctx->conf->region.data;
    req.service = "bedrock";
    req.normalize = 1;

    return ngx_http_agentcore_sign(ctx, cr, &req, headers, n);
}


/*
 * Other APIs than Bedrock: agentcore_model_api_key as the model
 * location's $agentcore_authorization ("Bearer KEY", OpenAI) or
 * $agentcore_api_key (the key itself: Anthropic's x-api-key).  A key
 * from a variable is read with debug logging paused: nginx's script
 * engine logs the values of the variables it reads.
 */

static ngx_int_t
ngx_http_agentcore_model_key(ngx_http_agentcore_ctx_t *ctx)
{
    u_char                         *p;
    ngx_int_t                       rc;
    ngx_str_t                       key;
    ngx_http_agentcore_loc_conf_t  *conf;

    conf = ctx->conf;

    ngx_str_null(&ctx->amz_date);
    ngx_str_null(&ctx->security_token);
    ngx_str_null(&ctx->authorization);
    ngx_str_null(&ctx->api_key);

    if (conf->api_key) {
        ngx_http_agentcore_log_pause(ctx);
        rc = ngx_http_complex_value(ctx->request, conf->api_key, &key);
        ngx_http_agentcore_log_resume(ctx);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        key = conf->api_key_file;
    }

    if (key.len == 0) {
        /* a local server without keys: no header */
        return NGX_OK;
    }

    if (ngx_http_agentcore_bad_key(&key)) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore: agentcore_model_api_key's value holds a "
                      "control character: not sent");
        return NGX_ERROR;
    }

    ctx->api_key = key;

    if (conf->provider == AC_PROVIDER_ANTHROPIC) {
        /* x-api-key: $agentcore_api_key (agentcore_anthropic_params) */
        return NGX_OK;
    }

    ctx->authorization.len = sizeof("Bearer ") - 1 + key.len;
    ctx->authorization.data = ngx_pnalloc(ctx->request->pool,
                                          ctx->authorization.len);
    if (ctx->authorization.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->authorization.data, "Bearer ", sizeof("Bearer ") - 1);
    ngx_memcpy(p, key.data, key.len);

    return NGX_OK;
}


/* a key goes into a header: no CR, LF or other control bytes */

static ngx_uint_t
ngx_http_agentcore_bad_key(ngx_str_t *key)
{
    size_t  i;

    for (i = 0; i < key->len; i++) {
        if (key->data[i] < 0x20 || key->data[i] == 0x7f) {
            return 1;
        }
    }

    return 0;
}


/*
 * agentcore_model_api_key VALUE | file:PATH: the key of another API
 * than Bedrock.  VALUE may hold variables; a file's key is read once,
 * at configuration, without its trailing white space, into memory that
 * core dumps leave out.
 */

char *
ngx_http_agentcore_api_key_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    u_char                            *buf;
    ssize_t                            n;
    ngx_fd_t                           fd;
    ngx_str_t                         *value, path;
    ngx_file_info_t                    fi;
    ngx_http_compile_complex_value_t   ccv;

    if (alcf->api_key != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "file:", 5) == 0) {
        path.len = value[1].len - 5;
        path.data = value[1].data + 5;

        if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
        if (fd == NGX_INVALID_FILE) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               ngx_open_file_n " \"%s\" failed", path.data);
            return NGX_CONF_ERROR;
        }

        if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
            || ngx_file_size(&fi) > 16384)
        {
            ngx_close_file(fd);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore: \"%s\" is not a key file (at "
                               "most 16384 bytes)", path.data);
            return NGX_CONF_ERROR;
        }

        /* as the credentials' secrets: out of core dumps, wiped */

        buf = ngx_http_agentcore_secret_alloc(cf->pool,
                                              (size_t) ngx_file_size(&fi) + 1);
        if (buf == NULL) {
            ngx_close_file(fd);
            return NGX_CONF_ERROR;
        }

        n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));
        ngx_close_file(fd);

        if (n < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               ngx_read_fd_n " \"%s\" failed", path.data);
            return NGX_CONF_ERROR;
        }

        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                         || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        {
            n--;
        }

        alcf->api_key = NULL;
        alcf->api_key_file.data = buf;
        alcf->api_key_file.len = n;

        if (ngx_http_agentcore_bad_key(&alcf->api_key_file)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore: the key in \"%s\" holds a "
                               "control character (one line, please)",
                               path.data);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    alcf->api_key = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (alcf->api_key == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = alcf->api_key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * What follows the messages in every model request of a location (the
 * system prompt, inferenceConfig, toolConfig), serialized once here
 */

char *
ngx_http_agentcore_model_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf)
{
    char                *s;
    size_t               len;
    ac_converse_conf_t   cc;

    if (conf->enable != 1) {
        return NGX_CONF_OK;
    }

    /* a C string for the serializer: a NUL inside would cut it short */

    if (conf->system_prompt.len
        && ngx_strlen(conf->system_prompt.data) != conf->system_prompt.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore: the system prompt holds a NUL byte");
        return NGX_CONF_ERROR;
    }

    cc.system_prompt = conf->system_prompt.len
                       ? (const char *) conf->system_prompt.data : NULL;
    cc.max_tokens = (conf->max_tokens == NGX_CONF_UNSET)
                    ? -1 : (int64_t) conf->max_tokens;
    cc.tools = (conf->tool_specs && json_array_size(conf->tool_specs))
               ? conf->tool_specs : NULL;

    s = ac_converse_request_suffix(&cc, &len);
    if (s == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore: the model request could not be "
                           "serialized (is the system prompt UTF-8?)");
        return NGX_CONF_ERROR;
    }

    conf->request_suffix.data = ngx_pnalloc(cf->pool, len);
    if (conf->request_suffix.data == NULL) {
        free(s);
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(conf->request_suffix.data, s, len);
    conf->request_suffix.len = len;

    free(s);

    return NGX_CONF_OK;
}


/*
 * A background POST subrequest carrying body (one memory buffer): the
 * model call, and location tools.  The subrequest shares ctx, which the
 * capture filter and the variables find through it.
 */

ngx_http_request_t *
ngx_http_agentcore_post_subrequest(ngx_http_request_t *r, ngx_str_t *uri,
    ngx_str_t *args, ngx_buf_t *body, ngx_http_post_subrequest_t *ps,
    ngx_http_agentcore_ctx_t *ctx)
{
    ngx_chain_t              *cl;
    ngx_http_request_t       *sr;
    ngx_http_request_body_t  *rb;

    if (ngx_http_subrequest(r, uri, args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_BACKGROUND)
        != NGX_OK)
    {
        return NULL;
    }

    ngx_http_set_ctx(sr, ctx, ngx_http_agentcore_module);

    sr->method = NGX_HTTP_POST;
    sr->method_name = ngx_http_agentcore_post;

    rb = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (rb == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = body;
    cl->next = NULL;
    rb->bufs = cl;

    sr->request_body = rb;
    sr->headers_in.content_length_n = body->last - body->pos;
    sr->headers_in.chunked = 0;

    return sr;
}


/*
 * At debug level nginx's proxy module prints the request it sends,
 * headers and variables included: the bearer token or the session
 * token would reach the log.  So debug logging of the connection pauses
 * from the model subrequest's content phase until its response header
 * (or its end); errors and info are still logged.
 */

static ngx_int_t
ngx_http_agentcore_quiet_handler(ngx_http_request_t *r)
{
#if (NGX_DEBUG)
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        return NGX_DECLINED;
    }

    if (r != ctx->model_sr) {
        /* an MCP request (ngx_http_agentcore_mcp.c), or none */
        ngx_http_agentcore_mcp_quiet(ctx, r);
        ngx_http_agentcore_memory_quiet(ctx, r);
        return NGX_DECLINED;
    }

    if (ctx->log_paused) {
        return NGX_DECLINED;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore: debug logging paused while the model "
                   "request is sent");

    ctx->log_paused = 1;
    ngx_http_agentcore_log_pause(ctx);
#endif

    return NGX_DECLINED;
}


static void
ngx_http_agentcore_model_log_resume(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->log_paused) {
        ctx->log_paused = 0;
        ngx_http_agentcore_log_resume(ctx);

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "agentcore: debug logging resumed");
    }
}


/*
 * The pauses of an invocation's connection log: the model call's and
 * those of its MCP requests, which may overlap (a list refreshed while
 * the model answers, concurrent tools/call).  The first saves and
 * lowers the level, the last restores it (a subrequest entering its
 * location leaves the connection's log alone: only the main request's
 * location sets it, ngx_http_update_location_config()).
 */

void
ngx_http_agentcore_log_pause(ngx_http_agentcore_ctx_t *ctx)
{
#if (NGX_DEBUG)
    ngx_log_t  *log;

    log = ctx->request->connection->log;

    if (ctx->log_pauses++ == 0) {
        ctx->log_level = log->log_level;

        if (log->log_level & NGX_LOG_DEBUG_ALL) {
            log->log_level = NGX_LOG_INFO;
        }
    }
#endif
}


void
ngx_http_agentcore_log_resume(ngx_http_agentcore_ctx_t *ctx)
{
#if (NGX_DEBUG)
    if (ctx->log_pauses && --ctx->log_pauses == 0) {
        ctx->request->connection->log->log_level = ctx->log_level;
    }
#endif
}


/*
 * post_subrequest: record the outcome and wake the main request, whose
 * write handler takes the next step.  Returning NGX_OK keeps a failed
 * model call from terminating the main request: the client still gets
 * a stream_error event.
 */

static ngx_int_t
ngx_http_agentcore_model_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_agentcore_ctx_t  *ctx = data;

    ngx_http_core_loc_conf_t  *clcf;

    if (rc == NGX_AGAIN) {
        return rc;
    }

    if (sr == ctx->model_sr && !ctx->model_done) {
        ngx_http_agentcore_model_log_resume(ctx);

        ctx->model_done = 1;
        ctx->model_rc = rc;

        /* an upstream that ended while reads were held: they are lost */
        ctx->model_held = NULL;

        /*
         * nginx itself refused the request for its size (the check of
         * the model location's client_max_body_size against the
         * Content-Length the module set): nothing was sent
         */

        clcf = ngx_http_get_module_loc_conf(sr, ngx_http_core_module);

        if (rc == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
            && ctx->model_status == 0
            && clcf->client_max_body_size
            && clcf->client_max_body_size < sr->headers_in.content_length_n)
        {
            ctx->model_max_body = clcf->client_max_body_size;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                       "agentcore model call done: rc:%i status:%ui",
                       rc, ctx->model_status);

        if (ngx_http_post_request(ctx->request, NULL) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (sr->connection->error) {
        return rc;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                       i;
    ngx_list_part_t                 *part;
    ngx_table_elt_t                 *h;
    ngx_http_agentcore_ctx_t        *ctx;
    ngx_http_agentcore_loc_conf_t   *lcf;
    ngx_http_agentcore_tool_call_t  *call;

    if (r == r->main) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

        if (r->err_status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
            && lcf->enable == 1)
        {
            /* nginx's 413 page in the runtime's JSON shape (body filter) */

            if (ngx_http_agentcore_too_large(r) == NULL) {
                return NGX_ERROR;
            }

            r->headers_out.content_type_len = sizeof("application/json") - 1;
            ngx_str_set(&r->headers_out.content_type, "application/json");
            r->headers_out.content_type_lowcase = NULL;
        }

        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        return ngx_http_next_header_filter(r);
    }

    if (r != ctx->model_sr) {
        call = ngx_http_agentcore_tool_call(ctx, r);

        if (call == NULL) {
            return ngx_http_next_header_filter(r);
        }

        /* an MCP request's secrets are sent: its response is logged */

        ngx_http_agentcore_mcp_loud(ctx, r);
        ngx_http_agentcore_memory_loud(ctx, r);

        /* a tool location's response becomes the tool result */

        return ngx_http_agentcore_tool_header(call, r);
    }

    /* the model's response stays here: nothing of it reaches the client */

    ngx_http_agentcore_model_log_resume(ctx);

    ctx->model_status = r->headers_out.status;

    if (ctx->model_status != NGX_HTTP_OK) {
        part = &r->headers_out.headers.part;
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

            if (h[i].hash
                && h[i].key.len == sizeof("x-amzn-errortype") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "x-amzn-errortype",
                                   h[i].key.len)
                   == 0)
            {
                ctx->error_type = h[i].value;
                break;
            }
        }
    }

    r->filter_need_in_memory = 1;
    r->header_sent = 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                        rc;
    ngx_buf_t                       *b;
    ngx_chain_t                     *cl, *held, out;
    ngx_connection_t                *c;
    ngx_http_agentcore_ctx_t        *ctx;
    ngx_http_agentcore_loc_conf_t   *lcf;
    ngx_http_agentcore_tool_call_t  *call;

    if (r == r->main) {
        if (r->err_status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
            goto too_large;
        }

        return ngx_http_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    if (r != ctx->model_sr) {
        call = ngx_http_agentcore_tool_call(ctx, r);

        if (call == NULL) {
            /*
             * a tool subrequest of an earlier turn, given up at
             * agentcore_tool_timeout and not ended (no upstream to
             * close): what it still sends is dropped
             */

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "agentcore: \"%V\" was given up: its output "
                           "is dropped", &r->uri);

            for (cl = in; cl; cl = cl->next) {
                cl->buf->pos = cl->buf->last;

                if (cl->buf->in_file) {
                    cl->buf->file_pos = cl->buf->file_last;
                }
            }

            return NGX_OK;
        }

        return ngx_http_agentcore_tool_body(call, in);
    }

    c = ctx->request->connection;

    if (ctx->model_held) {

        if (c->buffered) {
            /* still full: "in" waits behind the reads held */
            return ngx_http_agentcore_model_hold(ctx, in);
        }

        /* the reads held come first: "in" was read after them */

        held = ctx->model_held;
        ctx->model_held = NULL;

        rc = ngx_http_agentcore_model_feed(ctx, held);

        /* the links are ours (the bufs, the upstream's) */

        while (held) {
            cl = held;
            held = held->next;
            ngx_free_chain(r->pool, cl);
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        if (ctx->model_held) {
            return ngx_http_agentcore_model_hold(ctx, in);
        }
    }

    if (ngx_http_agentcore_model_feed(ctx, in) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * the events of this read leave at the end of the event loop's turn,
     * with those of the reads after it in the same turn and, when the
     * stream ends in it, with the last chunk
     */

    ngx_http_agentcore_sse_flush_later(ctx);

    return c->error ? NGX_ERROR : NGX_OK;

too_large:

    /* the JSON replaces nginx's page, whose buffers are dropped */

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

    if (lcf->enable != 1) {
        return ngx_http_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        b->pos = b->last;

        if (!b->last_buf) {
            continue;
        }

        out.buf = ngx_http_agentcore_too_large(r);
        if (out.buf == NULL) {
            return NGX_ERROR;
        }

        out.next = NULL;

        return ngx_http_next_body_filter(r, &out);
    }

    return NGX_OK;
}


/*
 * The model's response as it was read.  While the client's socket is
 * full (c->buffered: the write filter holds output the socket would not
 * take), a read is not decoded: its buffer stays unconsumed, so the
 * upstream's non-buffered loop keeps it busy, fills what is left of its
 * one buffer (proxy_buffer_size) and then reads no more, and TCP pushes
 * back on the model.  What a stalled stream holds is that buffer and the
 * events decoded from the one read during which the socket filled.  The
 * main request's write handler resumes (ngx_http_agentcore_model_resume)
 * when the socket has taken everything; send_timeout ends it otherwise.
 * The cost on the streaming path is one test of c->buffered per read.
 */

static ngx_int_t
ngx_http_agentcore_model_feed(ngx_http_agentcore_ctx_t *ctx, ngx_chain_t *in)
{
    int           rc;
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if (size && !ctx->model_failed) {

            if (ctx->model_status == NGX_HTTP_OK) {

                if (ctx->request->connection->buffered) {
                    ngx_log_debug1(NGX_LOG_DEBUG_HTTP,
                                   ctx->request->connection->log, 0,
                                   "agentcore: the client takes no more: "
                                   "%uz bytes of the model stream held",
                                   size);

                    if (ngx_http_agentcore_model_hold(ctx, cl) != NGX_OK) {
                        return NGX_ERROR;
                    }

                    return ngx_http_agentcore_sse_blocked(ctx);
                }

                rc = ctx->provider->stream_feed(ctx->stream, b->pos, size);

                if (rc == AC_STREAM_CORRUPT) {
                    ctx->stream_error = ctx->provider->stream_error(
                                                                ctx->stream);
                    ctx->model_failed = 1;

                } else if (rc != 0) {
                    /* an error event, or the client went away */
                    ctx->model_failed = 1;
                }

            } else {
                /* an error response: keep its start for the message */

                if (ctx->error_body == NULL) {
                    ctx->error_body = ngx_pnalloc(ctx->request->pool,
                                            NGX_HTTP_AGENTCORE_MAX_ERROR_BODY);
                    if (ctx->error_body == NULL) {
                        return NGX_ERROR;
                    }
                }

                size = ngx_min(size, NGX_HTTP_AGENTCORE_MAX_ERROR_BODY
                                     - ctx->error_body_len);
                ngx_memcpy(ctx->error_body + ctx->error_body_len, b->pos,
                           size);
                ctx->error_body_len += size;
            }
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}


/*
 * The bufs of "in" join the held ones, in links of our own: the links a
 * filter is given may be the copy filter's, which frees them when the
 * call returns; the bufs stay the upstream's busy ones until consumed.
 */

static ngx_int_t
ngx_http_agentcore_model_hold(ngx_http_agentcore_ctx_t *ctx, ngx_chain_t *in)
{
    ngx_chain_t  *cl, *ln, **ll;

    for (ll = &ctx->model_held; *ll; ll = &(*ll)->next) { /* void */ }

    for (cl = in; cl; cl = cl->next) {
        ln = ngx_alloc_chain_link(ctx->request->pool);
        if (ln == NULL) {
            return NGX_ERROR;
        }

        ln->buf = cl->buf;
        ln->next = NULL;

        *ll = ln;
        ll = &ln->next;
    }

    return NGX_OK;
}


/*
 * The client's socket took everything: the upstream's non-buffered loop
 * runs again, posted (the subrequest's write_event_handler is
 * ngx_http_upstream_process_non_buffered_downstream).  Its buffers are
 * still busy, so it passes an empty chain down; the body filter decodes
 * what it holds, the loop frees the buffer and reads on.
 */

void
ngx_http_agentcore_model_resume(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "agentcore: the client takes more: model stream resumed");

    if (ngx_http_post_request(ctx->model_sr, NULL) != NGX_OK) {
        ctx->request->connection->error = 1;
    }
}


/*
 * agentcore_invocation_timeout: the model call in flight ends now.  Its
 * upstream's cleanup closes the connection and finalizes the subrequest
 * as when the client goes away (NGX_DONE: no post_subrequest handler);
 * nothing more is decoded.
 */

void
ngx_http_agentcore_model_abort(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->model_sr == NULL || ctx->model_done) {
        return;
    }

    ngx_http_agentcore_model_log_resume(ctx);

    ctx->model_held = NULL;
    ctx->model_failed = 1;

    ngx_http_agentcore_subrequest_abort(ctx->model_sr);
}


/*
 * Ends a background subrequest's upstream, from an event handler (never
 * from the upstream's own stack).  A run of the subrequest still posted
 * (the backpressure resume) then finds nothing to do.  A subrequest
 * without an upstream, or one whose upstream is done, goes on to its
 * end: what it sends is dropped.
 */

void
ngx_http_agentcore_subrequest_abort(ngx_http_request_t *sr)
{
    ngx_http_upstream_t  *u;

    u = sr->upstream;

    if (u == NULL || u->cleanup == NULL) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "agentcore: subrequest \"%V\" ended", &sr->uri);

    (*u->cleanup)(sr);

    sr->write_event_handler = ngx_http_request_empty_handler;
    sr->read_event_handler = ngx_http_request_empty_handler;
}


/*
 * A body over client_max_body_size of an agentcore location: nginx
 * refuses it before the handler runs (Content-Length) or while reading
 * it (chunked, HTTP/2), with its HTML page.  The status stays; the page
 * becomes the runtime's JSON error, this buffer, whose length is set as
 * the response's.
 */

static ngx_buf_t *
ngx_http_agentcore_too_large(ngx_http_request_t *r)
{
    u_char                    *p;
    off_t                      n;
    size_t                     len;
    ngx_buf_t                 *b;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the length announced (content_length_n counts down as the body is
     * discarded) */

    n = r->headers_in.content_length
        ? ngx_atoof(r->headers_in.content_length->value.data,
                    r->headers_in.content_length->value.len)
        : NGX_ERROR;

    len = sizeof("{\"error\":\"Request body too large\",\"details\":"
                 "\"The request body ( bytes) is larger than the  bytes "
                 "this endpoint accepts (client_max_body_size)\"}") - 1
          + 2 * NGX_OFF_T_LEN;

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->pos;

    if (n > 0) {
        b->last = ngx_sprintf(p, "{\"error\":\"Request body too large\","
                              "\"details\":\"The request body (%O bytes) "
                              "is larger than the %O bytes this endpoint "
                              "accepts (client_max_body_size)\"}",
                              n, clcf->client_max_body_size);

    } else {
        /* chunked, or HTTP/2 without a length: the limit was reached */
        b->last = ngx_sprintf(p, "{\"error\":\"Request body too large\","
                              "\"details\":\"The request body is larger "
                              "than the %O bytes this endpoint accepts "
                              "(client_max_body_size)\"}",
                              clcf->client_max_body_size);
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.content_length_n = b->last - b->pos;

    return b;
}


static int
ngx_http_agentcore_model_text(void *data, const char *text, size_t len)
{
    ngx_http_agentcore_ctx_t *ctx = data;

    ctx->model_text = 1;

    if (ctx->json) {
        /* kept for the JSON answer, sent when the loop ends */

        if (ngx_http_agentcore_answer_text(ctx, (const u_char *) text, len)
            != NGX_OK)
        {
            return NGX_HTTP_AGENTCORE_CLIENT_ERROR;
        }

        return 0;
    }

    if (ngx_http_agentcore_sse_text(ctx, (const u_char *) text, len)
        != NGX_OK)
    {
        return NGX_HTTP_AGENTCORE_CLIENT_ERROR;
    }

    return 0;
}
