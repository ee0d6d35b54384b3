
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The tool registry and tool calls: tools registered by modules
 * (ngx_http_agentcore.h) or declared with "agentcore_tool" as nginx
 * locations; the tool specs sent to the model; running the toolUse
 * blocks of one assistant turn concurrently and building the user
 * message of their results, in the order the model asked.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_reference.h"


/* an "agentcore_tool": the tool's data */

typedef struct {
    ngx_str_t                         uri;
    ngx_str_t                         args;      /* after "?" in the URI */
    ngx_uint_t                        method;    /* NGX_HTTP_POST, _GET */
    unsigned                          pass_credentials:1;
} ngx_http_agentcore_location_tool_t;


/* a location tool call's own state, its call->data */

typedef struct {
    ngx_event_t                       abort;     /* posted: past the limit,
                                                    end the upstream */
    unsigned                          finished:1;    /* the subrequest */
} ngx_http_agentcore_location_call_t;


static ngx_int_t ngx_http_agentcore_valid_name(ngx_str_t *name);
static ngx_http_agentcore_tool_entry_t *ngx_http_agentcore_tool_entry(
    ngx_conf_t *cf, ngx_http_agentcore_tool_t *tool);
static char *ngx_http_agentcore_resolve_tools(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf);
static void ngx_http_agentcore_json_cleanup(void *data);
static ngx_int_t ngx_http_agentcore_location_tool(
    ngx_http_agentcore_tool_call_t *call);
static ngx_int_t ngx_http_agentcore_location_tool_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static ngx_int_t ngx_http_agentcore_tool_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_agentcore_location_tool_t *lt);
static ngx_int_t ngx_http_agentcore_tool_variables(ngx_http_request_t *r,
    ngx_http_request_t *sr);
static ngx_int_t ngx_http_agentcore_tool_args(
    ngx_http_agentcore_tool_call_t *call, ngx_str_t *args);
static size_t ngx_http_agentcore_escape_arg(u_char *dst, u_char *src,
    size_t size);
static void ngx_http_agentcore_location_tool_too_big(
    ngx_http_agentcore_tool_call_t *call);
static void ngx_http_agentcore_location_tool_abort(ngx_event_t *ev);
static void ngx_http_agentcore_location_call_cleanup(void *data);


static ngx_str_t  ngx_http_agentcore_any_object =
    ngx_string("{\"type\":\"object\",\"properties\":{}}");

static ngx_str_t  ngx_http_agentcore_get = ngx_string("GET");


/*
 * Client request headers a tool subrequest does not get: the body's
 * (the module sends its own), the conditional and range ones (they are
 * about the client's response, and would get a 304 or a 206 from a
 * proxied API), Accept-Encoding (the result must be text, not gzip),
 * and, unless the tool has "pass_credentials", the client's credentials.
 */

typedef struct {
    ngx_str_t                         name;
    ngx_uint_t                        credential;
} ngx_http_agentcore_tool_header_t;


static ngx_http_agentcore_tool_header_t  ngx_http_agentcore_tool_drop[] = {
    { ngx_string("Content-Type"), 0 },
    { ngx_string("Content-Length"), 0 },
    { ngx_string("Transfer-Encoding"), 0 },
    { ngx_string("Expect"), 0 },
    { ngx_string("Accept-Encoding"), 0 },
    { ngx_string("Range"), 0 },
    { ngx_string("If-Range"), 0 },
    { ngx_string("If-Match"), 0 },
    { ngx_string("If-None-Match"), 0 },
    { ngx_string("If-Modified-Since"), 0 },
    { ngx_string("If-Unmodified-Since"), 0 },
    { ngx_string("Authorization"), 1 },
    { ngx_string("Cookie"), 1 },
    { ngx_string("Proxy-Authorization"), 1 },
    { ngx_null_string, 0 }
};



ngx_int_t
ngx_http_agentcore_add_tool(ngx_conf_t *cf, ngx_http_agentcore_tool_t *tool)
{
    ngx_uint_t                        i;
    ngx_http_agentcore_tool_entry_t  *entry, **e;
    ngx_http_agentcore_main_conf_t   *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_agentcore_module);

    if (amcf == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tools can only be added in http{}");
        return NGX_ERROR;
    }

    e = amcf->tools.elts;

    for (i = 0; i < amcf->tools.nelts; i++) {
        if (e[i]->tool->name.len == tool->name.len
            && ngx_strncmp(e[i]->tool->name.data, tool->name.data,
                           tool->name.len)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore tool \"%V\" is already registered",
                               &tool->name);
            return NGX_ERROR;
        }
    }

    entry = ngx_http_agentcore_tool_entry(cf, tool);
    if (entry == NULL) {
        return NGX_ERROR;
    }

    e = ngx_array_push(&amcf->tools);
    if (e == NULL) {
        return NGX_ERROR;
    }

    *e = entry;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_valid_name(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > 64) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* checks a tool and builds its {"toolSpec": ...} once, at configuration */

static ngx_http_agentcore_tool_entry_t *
ngx_http_agentcore_tool_entry(ngx_conf_t *cf, ngx_http_agentcore_tool_t *tool)
{
    json_t                           *schema;
    json_error_t                      err;
    ngx_str_t                        *text;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_tool_entry_t  *entry;

    if (ngx_http_agentcore_valid_name(&tool->name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid agentcore tool name \"%V\": use 1 to 64 "
                           "of a-z, A-Z, 0-9, \"_\" and \"-\"", &tool->name);
        return NULL;
    }

    if (tool->handler == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tool \"%V\" has no handler",
                           &tool->name);
        return NULL;
    }

    text = tool->input_schema.len ? &tool->input_schema
                                  : &ngx_http_agentcore_any_object;

    schema = json_loadb((const char *) text->data, text->len, 0, &err);

    if (!json_is_object(schema)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tool \"%V\": the input schema must be "
                           "a JSON object: %s", &tool->name,
                           schema ? "not an object" : err.text);
        json_decref(schema);
        return NULL;
    }

    entry = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_tool_entry_t));
    if (entry == NULL) {
        json_decref(schema);
        return NULL;
    }

    entry->tool = tool;
    entry->spec = json_pack("{s:{s:s%, s:s%, s:{s:o}}}", "toolSpec",
                            "name", tool->name.data, tool->name.len,
                            "description", tool->description.data,
                            tool->description.len,
                            "inputSchema", "json", schema);

    if (entry->spec == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tool \"%V\": the description must be "
                           "UTF-8", &tool->name);
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        json_decref(entry->spec);
        return NULL;
    }

    cln->handler = ngx_http_agentcore_json_cleanup;
    cln->data = entry->spec;

    return entry;
}


static void
ngx_http_agentcore_json_cleanup(void *data)
{
    json_decref(data);
}


/* agentcore_tools NAME ...; */

char *
ngx_http_agentcore_tools_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    ngx_str_t   *value, *name;
    ngx_uint_t   i;

    if (alcf->tool_names == NULL) {
        alcf->tool_names = ngx_array_create(cf->pool, cf->args->nelts,
                                            sizeof(ngx_str_t));
        if (alcf->tool_names == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "off", 3) == 0)
        {
            /* "agentcore_tools off;" clears what would be inherited */
            continue;
        }

        name = ngx_array_push(alcf->tool_names);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        *name = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * agentcore_tool NAME URI "DESCRIPTION" [SCHEMA] [method=GET|POST]
 *                [pass_credentials];
 */

char *
ngx_http_agentcore_tool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    u_char                              *q;
    ngx_str_t                           *value;
    ngx_uint_t                           i, j;
    ngx_http_agentcore_tool_t           *tool;
    ngx_http_agentcore_location_tool_t  *lt;
    ngx_http_agentcore_tool_entry_t     *entry, **e;

    value = cf->args->elts;

    if (cf->args->nelts < 4) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"%V\" "
                           "directive", &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0 || value[2].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tool \"%V\": \"%V\" is not a URI",
                           &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    tool = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_tool_t));
    if (tool == NULL) {
        return NGX_CONF_ERROR;
    }

    lt = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_location_tool_t));
    if (lt == NULL) {
        return NGX_CONF_ERROR;
    }

    tool->name = value[1];
    tool->description = value[3];
    tool->handler = ngx_http_agentcore_location_tool;
    tool->data = lt;

    lt->uri = value[2];
    lt->method = NGX_HTTP_POST;

    q = ngx_strlchr(lt->uri.data, lt->uri.data + lt->uri.len, '?');
    if (q) {
        lt->args.data = q + 1;
        lt->args.len = lt->uri.data + lt->uri.len - lt->args.data;
        lt->uri.len = q - lt->uri.data;
    }

    /*
     * then the schema (a JSON object, so never a word) and options;
     * a word that is no option is an error, wherever it stands
     */

    for (i = 4; i < cf->args->nelts; i++) {

        if (value[i].len == sizeof("pass_credentials") - 1
            && ngx_strncmp(value[i].data, "pass_credentials",
                           value[i].len) == 0)
        {
            lt->pass_credentials = 1;
            continue;
        }

        if (value[i].len > sizeof("method=") - 1
            && ngx_strncmp(value[i].data, "method=", sizeof("method=") - 1)
               == 0)
        {
            if (value[i].len == sizeof("method=GET") - 1
                && ngx_strncmp(value[i].data, "method=GET", value[i].len)
                   == 0)
            {
                lt->method = NGX_HTTP_GET;
                continue;
            }

            if (value[i].len == sizeof("method=POST") - 1
                && ngx_strncmp(value[i].data, "method=POST", value[i].len)
                   == 0)
            {
                lt->method = NGX_HTTP_POST;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore tool \"%V\": method must be GET "
                               "or POST, not \"%s\"", &value[1],
                               value[i].data + sizeof("method=") - 1);
            return NGX_CONF_ERROR;
        }

        for (j = 0; j < value[i].len; j++) {
            if (!((value[i].data[j] >= 'a' && value[i].data[j] <= 'z')
                  || value[i].data[j] == '_'))
            {
                break;
            }
        }

        if (i == 4 && tool->input_schema.len == 0
            && (j == 0 || (j < value[i].len && value[i].data[j] != '=')))
        {
            tool->input_schema = value[i];
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore tool \"%V\": unknown option \"%V\"",
                           &value[1], &value[i]);
        return NGX_CONF_ERROR;
    }

    entry = ngx_http_agentcore_tool_entry(cf, tool);
    if (entry == NULL) {
        return NGX_CONF_ERROR;
    }

    if (alcf->location_tools == NULL) {
        alcf->location_tools = ngx_array_create(cf->pool, 2,
                                   sizeof(ngx_http_agentcore_tool_entry_t *));
        if (alcf->location_tools == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    e = ngx_array_push(alcf->location_tools);
    if (e == NULL) {
        return NGX_CONF_ERROR;
    }

    *e = entry;

    return NGX_CONF_OK;
}


/*
 * The tools of a level: its own ("agentcore_tools", "agentcore_tool"),
 * else its parent's.  Unknown names fail the configuration.
 */

char *
ngx_http_agentcore_merge_tools(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    if (prev->tool_specs == NULL
        && (prev->tool_names || prev->location_tools))
    {
        if (ngx_http_agentcore_resolve_tools(cf, prev) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    if (conf->tool_names == NULL && conf->location_tools == NULL) {
        conf->tools = prev->tools;
        conf->tool_specs = prev->tool_specs;
        return NGX_CONF_OK;
    }

    if (conf->tool_specs) {
        return NGX_CONF_OK;
    }

    return ngx_http_agentcore_resolve_tools(cf, conf);
}


static char *
ngx_http_agentcore_resolve_tools(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_str_t                        *name;
    ngx_uint_t                        i, j, n;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_tool_entry_t  **reg, **loc, **e;
    ngx_http_agentcore_main_conf_t   *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_agentcore_module);

    n = (conf->tool_names ? conf->tool_names->nelts : 0)
        + (conf->location_tools ? conf->location_tools->nelts : 0);

    conf->tools = ngx_array_create(cf->pool, n ? n : 1,
                                   sizeof(ngx_http_agentcore_tool_entry_t *));
    if (conf->tools == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->tool_specs = json_array();
    if (conf->tool_specs == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        json_decref(conf->tool_specs);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_agentcore_json_cleanup;
    cln->data = conf->tool_specs;

    reg = amcf->tools.elts;
    name = conf->tool_names ? conf->tool_names->elts : NULL;

    for (i = 0; conf->tool_names && i < conf->tool_names->nelts; i++) {

        for (j = 0; j < amcf->tools.nelts; j++) {
            if (reg[j]->tool->name.len == name[i].len
                && ngx_strncmp(reg[j]->tool->name.data, name[i].data,
                               name[i].len)
                   == 0)
            {
                break;
            }
        }

        if (j == amcf->tools.nelts) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown agentcore tool \"%V\" in "
                               "\"agentcore_tools\"", &name[i]);
            return NGX_CONF_ERROR;
        }

        e = ngx_array_push(conf->tools);
        if (e == NULL) {
            return NGX_CONF_ERROR;
        }

        *e = reg[j];
        reg[j]->used = 1;
    }

    loc = conf->location_tools ? conf->location_tools->elts : NULL;

    for (i = 0; conf->location_tools && i < conf->location_tools->nelts; i++) {
        e = ngx_array_push(conf->tools);
        if (e == NULL) {
            return NGX_CONF_ERROR;
        }

        *e = loc[i];
    }

    /* tool names are unique within a level */

    e = conf->tools->elts;

    for (i = 0; i < conf->tools->nelts; i++) {
        for (j = 0; j < i; j++) {
            if (e[i]->tool->name.len == e[j]->tool->name.len
                && ngx_strncmp(e[i]->tool->name.data, e[j]->tool->name.data,
                               e[i]->tool->name.len)
                   == 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "duplicate agentcore tool \"%V\"",
                                   &e[i]->tool->name);
                return NGX_CONF_ERROR;
            }
        }

        if (json_array_append(conf->tool_specs, e[i]->spec) != 0) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Runs every toolUse block of the assistant message concurrently.
 * NGX_OK: all finished already; NGX_AGAIN: the last one to finish wakes
 * the invocation; NGX_ERROR: out of memory.
 */

ngx_int_t
ngx_http_agentcore_tools_run(ngx_http_agentcore_ctx_t *ctx, json_t *message)
{
    size_t                            i, n;
    json_t                           *content, *block, *use, *name, *id;
    ngx_int_t                         rc;
    ngx_str_t                         s;
    ngx_uint_t                        j;
    ngx_http_request_t               *r;
    ngx_http_agentcore_tool_call_t   *call;
    ngx_http_agentcore_tool_entry_t **e;

    r = ctx->request;
    content = json_object_get(message, "content");

    n = 0;

    for (i = 0; i < json_array_size(content); i++) {
        if (json_object_get(json_array_get(content, i), "toolUse")) {
            n++;
        }
    }

    ctx->calls = ngx_pcalloc(r->pool,
                             n * sizeof(ngx_http_agentcore_tool_call_t));
    if (ctx->calls == NULL) {
        return NGX_ERROR;
    }

    ctx->ncalls = n;
    ctx->tools_pending = n;
    ctx->tools_starting = 1;

    e = ctx->conf->tools ? ctx->conf->tools->elts : NULL;

    n = 0;

    json_array_foreach(content, i, block) {

        use = json_object_get(block, "toolUse");
        if (use == NULL) {
            continue;
        }

        call = &ctx->calls[n];
        call->index = n++;
        call->invocation = ctx;
        call->request = r;
        call->pool = r->pool;

        name = json_object_get(use, "name");
        id = json_object_get(use, "toolUseId");

        call->input = json_object_get(use, "input");
        call->tool_use_id.data = (u_char *) json_string_value(id);
        call->tool_use_id.len = json_string_length(id);

        s.data = (u_char *) json_string_value(name);
        s.len = json_string_length(name);

        for (j = 0; e && j < ctx->conf->tools->nelts; j++) {
            if (e[j]->tool->name.len == s.len
                && ngx_strncmp(e[j]->tool->name.data, s.data, s.len) == 0)
            {
                call->tool = e[j]->tool;
                break;
            }
        }

        if (call->tool == NULL) {
            call->tool = ngx_http_agentcore_mcp_tool(ctx, &s);
        }

        if (call->tool == NULL) {
            ngx_http_agentcore_tool_result(call, NGX_ERROR, AC_REF_UNKNOWN_TOOL,
                                           &s);
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "agentcore tool call start \"%V\" %V",
                       &call->tool->name, &call->tool_use_id);

        rc = call->tool->handler(call);

        if (rc == NGX_AGAIN && !call->done) {
            continue;
        }

        if (!call->done) {
            ngx_str_set(&s, "the tool failed");

            if (rc == NGX_OK) {
                ngx_str_set(&s, "the tool returned no result");
            }

            ngx_http_agentcore_tool_result(call, NGX_ERROR, "Error: ", &s);
        }
    }

    ctx->tools_starting = 0;

    return ctx->tools_pending ? NGX_AGAIN : NGX_OK;
}


void
ngx_http_agentcore_tool_done(ngx_http_agentcore_tool_call_t *call,
    ngx_int_t status, ngx_str_t *text)
{
    ngx_http_agentcore_tool_result(call, status, NULL, text);
}


/* records a result: prefix + text, copied */

void
ngx_http_agentcore_tool_result(ngx_http_agentcore_tool_call_t *call,
    ngx_int_t status, const char *prefix, ngx_str_t *text)
{
    u_char                    *p;
    size_t                     len;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = call->invocation;

    if (call->abandoned) {
        /* given up at agentcore_tool_timeout: its result came too late */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                       "agentcore tool call %V: a result after the "
                       "timeout, dropped", &call->tool_use_id);
        return;
    }

    if (call->done) {
        ngx_log_error(NGX_LOG_ALERT, call->request->connection->log, 0,
                      "agentcore tool \"%V\" completed twice",
                      call->tool ? &call->tool->name : &call->tool_use_id);
        return;
    }

    len = (prefix ? ngx_strlen(prefix) : 0) + (text ? text->len : 0);

    p = ngx_pnalloc(call->pool, len);

    if (p == NULL) {
        call->error = 1;
        ngx_str_null(&call->result);

    } else {
        call->result.data = p;

        if (prefix) {
            p = ngx_cpymem(p, prefix, ngx_strlen(prefix));
        }

        if (text) {
            p = ngx_cpymem(p, text->data, text->len);
        }

        call->result.len = p - call->result.data;
        call->error = (status != NGX_OK);
    }

    call->done = 1;

    ngx_http_agentcore_metrics_tool(call);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                   "agentcore tool call done %V %s, %uz bytes",
                   &call->tool_use_id, call->error ? "error" : "success",
                   call->result.len);

    if (--ctx->tools_pending == 0 && !ctx->tools_starting) {
        /* the last one wakes the invocation */
        (void) ngx_http_post_request(ctx->request, NULL);
    }
}


/* {"role":"user","content":[{"toolResult":{...}}, ...]} in asked order */

json_t *
ngx_http_agentcore_tools_message(ngx_http_agentcore_ctx_t *ctx)
{
    json_t                          *content, *result;
    ngx_uint_t                       i;
    ngx_http_agentcore_tool_call_t  *call;

    content = json_array();
    if (content == NULL) {
        return NULL;
    }

    for (i = 0; i < ctx->ncalls; i++) {
        call = &ctx->calls[i];

        /* an MCP tool's structured content, images: blocks of their own */
        result = ngx_http_agentcore_mcp_result(call);

        if (result == NULL) {
            result = json_pack("{s:{s:s%, s:[{s:s%}], s:s}}", "toolResult",
                               "toolUseId", call->tool_use_id.data,
                               call->tool_use_id.len,
                               "content", "text",
                               call->result.data ? (char *) call->result.data
                                                 : "",
                               call->result.len,
                               "status", call->error ? "error" : "success");
        }

        if (result == NULL) {
            /* not UTF-8: say so rather than fail the invocation */
            result = json_pack("{s:{s:s%, s:[{s:s}], s:s}}", "toolResult",
                               "toolUseId", call->tool_use_id.data,
                               call->tool_use_id.len,
                               "content", "text",
                               "Error: the tool result is not valid UTF-8",
                               "status", "error");
        }

        if (result == NULL || json_array_append_new(content, result) != 0) {
            json_decref(content);
            return NULL;
        }
    }

    return json_pack("{s:s, s:o}", "role", "user", "content", content);
}


/*
 * A location as a tool: POST the input as JSON to the URI by
 * subrequest; the response body (bounded) is the result, a status of
 * 400 or more an error.
 */

static ngx_int_t
ngx_http_agentcore_location_tool(ngx_http_agentcore_tool_call_t *call)
{
    char                                *json;
    size_t                               len;
    ngx_str_t                            args;
    ngx_buf_t                           *b;
    ngx_pool_cleanup_t                  *cln;
    ngx_http_request_t                  *r, *sr;
    ngx_http_post_subrequest_t          *ps;
    ngx_http_agentcore_location_tool_t  *lt;
    ngx_http_agentcore_location_call_t  *lc;

    r = call->request;
    lt = call->tool->data;
    args = lt->args;

    lc = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_location_call_t));
    if (lc == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_agentcore_location_call_cleanup;
    cln->data = lc;

    lc->abort.handler = ngx_http_agentcore_location_tool_abort;
    lc->abort.data = call;
    lc->abort.log = r->connection->log;

    call->data = lc;

    if (lt->method == NGX_HTTP_GET) {

        /* the input as query arguments, no body */

        if (ngx_http_agentcore_tool_args(call, &args) != NGX_OK) {
            return NGX_ERROR;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last_buf = 1;
        b->last_in_chain = 1;

    } else {
        json = call->input ? json_dumps(call->input, JSON_COMPACT
                                                     |JSON_PRESERVE_ORDER
                                                     |JSON_ENCODE_ANY)
                           : strdup("{}");
        if (json == NULL) {
            return NGX_ERROR;
        }

        len = ngx_strlen(json);

        b = ngx_create_temp_buf(r->pool, len ? len : 1);
        if (b == NULL) {
            free(json);
            return NGX_ERROR;
        }

        b->last = ngx_cpymem(b->last, json, len);
        b->last_buf = 1;
        b->last_in_chain = 1;
        free(json);
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_agentcore_location_tool_done;
    ps->data = call;

    sr = ngx_http_agentcore_post_subrequest(r, &lt->uri,
                                            args.len ? &args : NULL,
                                            b, ps, call->invocation);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    call->sr = sr;

    if (lt->method == NGX_HTTP_GET) {
        sr->method = NGX_HTTP_GET;
        sr->method_name = ngx_http_agentcore_get;
        sr->request_body->bufs = NULL;
        sr->headers_in.content_length_n = -1;
    }

    if (ngx_http_agentcore_tool_headers(r, sr, lt) != NGX_OK
        || ngx_http_agentcore_tool_variables(r, sr) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * The query arguments of a GET tool: those of its URI, then one
 * key=value per member of the input object, in the input's order.  A
 * string is its text; null is left out; a number, true, false, an array
 * or an object is its compact JSON text.  Keys and values are
 * percent-encoded: all but A-Z a-z 0-9 "-" "." "_" "~" (UTF-8 bytes
 * included) as %XX.
 */

static ngx_int_t
ngx_http_agentcore_tool_args(ngx_http_agentcore_tool_call_t *call,
    ngx_str_t *args)
{
    char                                *text;
    u_char                              *p;
    size_t                               len, size;
    json_t                              *value;
    ngx_uint_t                           pass;
    const char                          *key;
    ngx_http_agentcore_location_tool_t  *lt;

    lt = call->tool->data;

    if (!json_is_object(call->input) || json_object_size(call->input) == 0) {
        return NGX_OK;
    }

    len = 0;
    p = NULL;

    /* the first pass counts, the second writes */

    for (pass = 0; pass < 2; pass++) {

        if (pass == 1) {
            args->data = ngx_pnalloc(call->pool, len);
            if (args->data == NULL) {
                return NGX_ERROR;
            }

            /* the configured arguments, if any (else data is NULL) */
            p = args->data;

            if (lt->args.len) {
                p = ngx_cpymem(p, lt->args.data, lt->args.len);
            }
        }

        len = lt->args.len;

        json_object_foreach(call->input, key, value) {

            if (json_is_null(value)) {
                continue;
            }

            if (json_is_string(value)) {
                text = NULL;
                size = json_string_length(value);

            } else {
                text = json_dumps(value, JSON_COMPACT|JSON_PRESERVE_ORDER
                                         |JSON_ENCODE_ANY);
                if (text == NULL) {
                    return NGX_ERROR;
                }

                size = ngx_strlen(text);
            }

            if (len) {
                if (p) {
                    *p++ = '&';
                }

                len++;
            }

            len += ngx_http_agentcore_escape_arg(p, (u_char *) key,
                                                 ngx_strlen(key)) + 1;
            if (p) {
                p += ngx_http_agentcore_escape_arg(NULL, (u_char *) key,
                                                   ngx_strlen(key));
                *p++ = '=';
            }

            len += ngx_http_agentcore_escape_arg(p,
                       text ? (u_char *) text
                            : (u_char *) json_string_value(value),
                       size);
            if (p) {
                p += ngx_http_agentcore_escape_arg(NULL,
                         text ? (u_char *) text
                              : (u_char *) json_string_value(value),
                         size);
            }

            free(text);
        }
    }

    args->len = p - args->data;

    return NGX_OK;
}


/* writes src percent-encoded to dst (unless NULL); returns the length */

static size_t
ngx_http_agentcore_escape_arg(u_char *dst, u_char *src, size_t size)
{
    u_char         c;
    size_t         n;
    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    while (size--) {
        c = *src++;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            if (dst) {
                *dst++ = c;
            }

            n++;
            continue;
        }

        if (dst) {
            *dst++ = '%';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
        }

        n += 3;
    }

    return n;
}


/*
 * A subrequest shares its parent's cache of variable values, so a
 * $http_authorization or $cookie_sid the invocation (or another tool
 * call) has evaluated would reach the tool location whatever its
 * headers are.  The tool subrequest gets its own copy of the cache
 * instead, without the values that come from the request headers:
 * those are evaluated again, from the subrequest's headers.
 */

static ngx_int_t
ngx_http_agentcore_tool_variables(ngx_http_request_t *r,
    ngx_http_request_t *sr)
{
    ngx_str_t                  *name;
    ngx_uint_t                  i;
    ngx_http_variable_t        *v;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pnalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(sr->variables, r->variables,
               cmcf->variables.nelts * sizeof(ngx_http_variable_value_t));

    v = cmcf->variables.elts;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        name = &v[i].name;

        if ((name->len > sizeof("http_") - 1
             && ngx_strncmp(name->data, "http_", sizeof("http_") - 1) == 0)
            || (name->len > sizeof("cookie_") - 1
                && ngx_strncmp(name->data, "cookie_", sizeof("cookie_") - 1)
                   == 0)
            || (name->len == sizeof("remote_user") - 1
                && ngx_strncmp(name->data, "remote_user", name->len) == 0)
            || (name->len == sizeof("content_type") - 1
                && ngx_strncmp(name->data, "content_type", name->len) == 0)
            || (name->len == sizeof("content_length") - 1
                && ngx_strncmp(name->data, "content_length", name->len) == 0))
        {
            sr->variables[i].valid = 0;
            sr->variables[i].not_found = 0;
        }
    }

    return NGX_OK;
}


/*
 * The subrequest's own headers_in: the client's headers but those of
 * ngx_http_agentcore_tool_drop[], the invocation's request id and
 * session id (ngx_http_agentcore_request_id.c) instead of the client's,
 * and our body's type (for POST).
 * ngx_http_subrequest() copied the parent's headers_in, whose list and
 * header pointers are the client's: the list is rebuilt, the pointers
 * to headers left out are cleared.
 */

static ngx_int_t
ngx_http_agentcore_tool_headers(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_agentcore_location_tool_t *lt)
{
    ngx_uint_t                         i;
    ngx_list_part_t                   *part;
    ngx_table_elt_t                   *h, *nh;
    ngx_http_agentcore_ctx_t          *ctx;
    ngx_http_agentcore_tool_header_t  *d;

    ctx = ngx_http_get_module_ctx(sr, ngx_http_agentcore_module);

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 8,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

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

        for (d = ngx_http_agentcore_tool_drop; d->name.len; d++) {
            if (h[i].key.len == d->name.len
                && ngx_strncasecmp(h[i].key.data, d->name.data, d->name.len)
                   == 0
                && !(d->credential && lt->pass_credentials))
            {
                break;
            }
        }

        if (d->name.len || ngx_http_agentcore_request_id_replaced(ctx, &h[i]))
        {
            continue;
        }

        nh = ngx_list_push(&sr->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    /* the invocation's request id, and its session id if it has one */

    if (ngx_http_agentcore_request_id_tool_headers(ctx, sr) != NGX_OK) {
        return NGX_ERROR;
    }

    sr->headers_in.content_type = NULL;

    if (lt->method == NGX_HTTP_POST) {
        nh = ngx_list_push(&sr->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        nh->hash = 1;
        ngx_str_set(&nh->key, "Content-Type");
        ngx_str_set(&nh->value, "application/json");
        nh->lowcase_key = (u_char *) "content-type";
#if (nginx_version >= 1023000)
        nh->next = NULL;
#endif

        sr->headers_in.content_type = nh;
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
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif

    if (!lt->pass_credentials) {
        sr->headers_in.authorization = NULL;
        ngx_str_null(&sr->headers_in.user);
        ngx_str_null(&sr->headers_in.passwd);

#ifdef ngx_http_proxy_auth
        /* nginx 1.31 keeps Proxy-Authorization too, for CONNECT */
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
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_location_tool_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_agentcore_tool_call_t *call = data;

    u_char                               buf[NGX_INT_T_LEN + 64];
    ngx_str_t                            text;
    ngx_uint_t                           status;
    ngx_http_agentcore_location_call_t  *lc;

    if (rc == NGX_AGAIN) {
        return rc;
    }

    lc = call->data;
    lc->finished = 1;

    if (!call->done) {
        status = call->status ? call->status : (ngx_uint_t) rc;

        if (call->too_big) {
            ngx_str_set(&text, "the tool's response is larger than "
                               "agentcore_tool_max_size");
            ngx_http_agentcore_tool_result(call, NGX_ERROR, "Error: ", &text);

        } else if (call->status == 0 || status >= NGX_HTTP_BAD_REQUEST
                   || rc == NGX_ERROR)
        {
            text.data = buf;
            text.len = ngx_sprintf(buf, "HTTP %ui from the tool location",
                                   status >= 100 ? status : 500)
                       - buf;

            if (call->body && call->body->last > call->body->pos) {
                text.data = call->body->pos;
                text.len = call->body->last - call->body->pos;
            }

            ngx_http_agentcore_tool_result(call, NGX_ERROR, "Error: ", &text);

        } else {
            text.data = call->body ? call->body->pos : (u_char *) "";
            text.len = call->body ? (size_t) (call->body->last
                                              - call->body->pos) : 0;

            ngx_http_agentcore_tool_result(call, NGX_OK, NULL, &text);
        }
    }

    if (sr->connection->error) {
        return rc;
    }

    return NGX_OK;
}


/* the capture filter hands a tool subrequest's response here */

ngx_http_agentcore_tool_call_t *
ngx_http_agentcore_tool_call(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_uint_t                       i;
    ngx_http_agentcore_tool_call_t  *call;

    for (i = 0; i < ctx->ncalls; i++) {
        if (ctx->calls[i].sr == sr) {
            return &ctx->calls[i];
        }
    }

    /* the requests of the MCP client (ngx_http_agentcore_mcp.c) */

    call = ngx_http_agentcore_mcp_capture(ctx, sr);

    if (call) {
        return call;
    }

    /* AgentCore Memory's (ngx_http_agentcore_memory.c) */

    return ngx_http_agentcore_memory_capture(ctx, sr);
}


/*
 * The header of a tool subrequest's response, from the capture filter.
 *
 * A response whose Content-Length is past agentcore_tool_max_size is
 * refused here: NGX_ERROR makes its content handler stop before the
 * body (the static module does not read the file, the upstream module
 * closes the connection), and the post_subrequest handler turns the
 * error into the "larger than" result.  (Only ngx_http_output_filter()
 * marks the client connection on NGX_ERROR, ngx_http_send_header()
 * does not.)
 *
 * Otherwise a proxied response is read unbuffered, as if the upstream
 * had sent "X-Accel-Buffering: no": a buffered background subrequest is
 * never the one writing to the client, so nginx would spool all of a
 * response larger than its proxy_buffers to a temporary file before
 * passing it on.  (Not when the response goes to a cache or a store:
 * they need it whole.)
 */

ngx_int_t
ngx_http_agentcore_tool_header(ngx_http_agentcore_tool_call_t *call,
    ngx_http_request_t *r)
{
    ngx_http_upstream_t       *u;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = call->invocation;

    call->status = r->headers_out.status;
    r->filter_need_in_memory = 1;
    r->header_sent = 1;

    if (r->headers_out.content_length_n > 0
        && (size_t) r->headers_out.content_length_n
           > ctx->conf->tool_max_size)
    {
        call->too_big = 1;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "agentcore tool \"%V\": the response (%O bytes) is "
                      "larger than agentcore_tool_max_size (%uz), "
                      "not read", &call->tool->name,
                      r->headers_out.content_length_n,
                      ctx->conf->tool_max_size);

        return NGX_ERROR;
    }

    u = r->upstream;

    if (u && !u->cacheable && !u->store) {
        u->buffering = 0;
    }

    return NGX_OK;
}


/*
 * The body, up to agentcore_tool_max_size.  Past it an unbuffered
 * upstream's buffers are left unconsumed, so that it reads no more,
 * and a posted event closes its connection (not from here: the
 * upstream module is on the stack).  What other content handlers send
 * past the limit is dropped.
 */

ngx_int_t
ngx_http_agentcore_tool_body(ngx_http_agentcore_tool_call_t *call,
    ngx_chain_t *in)
{
    size_t                               size, have, want;
    ngx_buf_t                           *b, *nb;
    ngx_chain_t                         *cl;
    ngx_http_agentcore_ctx_t            *ctx;
    ngx_http_agentcore_location_call_t  *lc;

    ctx = call->invocation;
    lc = call->data;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

        if (size && !call->too_big) {
            have = call->body ? (size_t) (call->body->last - call->body->pos)
                              : 0;

            if (have + size > ctx->conf->tool_max_size) {
                call->too_big = 1;
                ngx_http_agentcore_location_tool_too_big(call);

            } else {
                if (call->body == NULL
                    || size > (size_t) (call->body->end - call->body->last))
                {
                    /* grow by doubling, up to agentcore_tool_max_size */

                    want = ngx_max(2 * (have + size), 1024);
                    want = ngx_min(want, ctx->conf->tool_max_size);

                    nb = ngx_create_temp_buf(call->pool, want);
                    if (nb == NULL) {
                        return NGX_ERROR;
                    }

                    if (have) {
                        nb->last = ngx_cpymem(nb->last, call->body->pos,
                                              have);
                    }

                    call->body = nb;
                }

                call->body->last = ngx_cpymem(call->body->last, b->pos, size);
            }
        }

        if (call->too_big && lc && lc->abort.posted) {
            /* held: the upstream stops reading */
            continue;
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }
    }

    return NGX_OK;
}


static void
ngx_http_agentcore_location_tool_too_big(ngx_http_agentcore_tool_call_t *call)
{
    ngx_http_request_t                  *sr;
    ngx_http_upstream_t                 *u;
    ngx_http_agentcore_ctx_t            *ctx;
    ngx_http_agentcore_location_call_t  *lc;

    ctx = call->invocation;
    lc = call->data;
    sr = call->sr;
    u = sr->upstream;

    if (lc && u && !u->buffering && u->cleanup && !lc->finished) {
        ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                      "agentcore tool \"%V\": the response is larger than "
                      "agentcore_tool_max_size (%uz), its upstream "
                      "connection is closed",
                      &call->tool->name, ctx->conf->tool_max_size);

        ngx_post_event(&lc->abort, &ngx_posted_events);
        return;
    }

    ngx_log_error(NGX_LOG_WARN, sr->connection->log, 0,
                  "agentcore tool \"%V\": the response is larger than "
                  "agentcore_tool_max_size (%uz)",
                  &call->tool->name, ctx->conf->tool_max_size);
}


/*
 * Ends an unbuffered upstream past the limit: its cleanup closes the
 * connection and finalizes the subrequest as when the client goes away
 * (NGX_DONE, no post_subrequest handler), so the result is set here.
 */

static void
ngx_http_agentcore_location_tool_abort(ngx_event_t *ev)
{
    ngx_http_agentcore_tool_call_t *call = ev->data;

    ngx_str_t                            text;
    ngx_connection_t                    *c;
    ngx_http_request_t                  *sr;
    ngx_http_upstream_t                 *u;
    ngx_http_agentcore_location_call_t  *lc;

    lc = call->data;
    sr = call->sr;
    c = sr->connection;
    u = sr->upstream;

    /*
     * finished: its post_subrequest handler has run; no cleanup: the
     * upstream was ended otherwise, by the invocation's end
     */

    if (lc->finished || u == NULL || u->cleanup == NULL) {
        return;
    }

    lc->finished = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "agentcore tool \"%V\": upstream ended at the limit",
                   &call->tool->name);

    (*u->cleanup)(sr);

    if (!call->done) {
        ngx_str_set(&text, "the tool's response is larger than "
                           "agentcore_tool_max_size");
        ngx_http_agentcore_tool_result(call, NGX_ERROR, "Error: ", &text);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * The calls of the turn still running are given up: agentcore_tool_timeout
 * (text: each gets it as an error result, the last one wakes the
 * invocation), or the end of the invocation (text NULL: no result).  A
 * location's upstream is closed, as at agentcore_tool_max_size; what
 * another tool reports later is dropped (ngx_http_agentcore_tool_result).
 * A thread's work is not interrupted: the calculator's completion finds
 * the call abandoned.
 */

void
ngx_http_agentcore_tools_abandon(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *text)
{
    ngx_uint_t                           i;
    ngx_http_agentcore_tool_call_t      *call;
    ngx_http_agentcore_location_call_t  *lc;

    for (i = 0; i < ctx->ncalls; i++) {
        call = &ctx->calls[i];

        if (call->done || call->abandoned) {
            continue;
        }

        if (call->tool->handler == ngx_http_agentcore_location_tool
            && call->sr && call->data)
        {
            lc = call->data;

            if (lc->abort.posted) {
                ngx_delete_posted_event(&lc->abort);
            }

            if (!lc->finished && call->sr->upstream
                && call->sr->upstream->cleanup)
            {
                lc->finished = 1;
                ngx_http_agentcore_subrequest_abort(call->sr);
            }
        }

        if (text) {
            ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                          "agentcore tool \"%V\" (%V): %V",
                          &call->tool->name, &call->tool_use_id, text);

            ngx_http_agentcore_tool_result(call, NGX_ERROR, "Error: ", text);
        }

        call->abandoned = 1;
    }
}


static void
ngx_http_agentcore_location_call_cleanup(void *data)
{
    ngx_http_agentcore_location_call_t *lc = data;

    if (lc->abort.posted) {
        ngx_delete_posted_event(&lc->abort);
    }
}
