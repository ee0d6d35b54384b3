
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The module: directives, configuration, variables.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_session.h"


typedef ngx_int_t (*ngx_http_agentcore_usage_pt)(ac_usage_t *u);


static ngx_int_t ngx_http_agentcore_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_agentcore_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_agentcore_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_agentcore_init_process(ngx_cycle_t *cycle);
static void ngx_http_agentcore_exit_process(ngx_cycle_t *cycle);
static void *ngx_http_agentcore_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_agentcore_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_agentcore_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_agentcore_merge_region(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);
static const char *ngx_http_agentcore_region_env(ngx_conf_t *cf,
    const char *name);
static ngx_uint_t ngx_http_agentcore_good_region(ngx_str_t *region);
static char *ngx_http_agentcore_check_region(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_agentcore(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_agentcore_ping(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_agentcore_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_cycles_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_conf_num_bounds_t  ngx_http_agentcore_max_tokens_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000000
};

static ngx_conf_num_bounds_t  ngx_http_agentcore_max_cycles_bounds = {
    ngx_conf_check_num_bounds, 1, 1000
};

static ngx_conf_post_t  ngx_http_agentcore_region_post = {
    ngx_http_agentcore_check_region
};

static ngx_conf_enum_t  ngx_http_agentcore_response[] = {
    { ngx_string("auto"), NGX_HTTP_AGENTCORE_RESPONSE_AUTO },
    { ngx_string("sse"), NGX_HTTP_AGENTCORE_RESPONSE_SSE },
    { ngx_string("json"), NGX_HTTP_AGENTCORE_RESPONSE_JSON },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_agentcore_providers[] = {
    { ngx_string("bedrock"), AC_PROVIDER_BEDROCK },
    { ngx_string("openai"), AC_PROVIDER_OPENAI },
    { ngx_string("anthropic"), AC_PROVIDER_ANTHROPIC },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_agentcore_commands[] = {

    { ngx_string("agentcore"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_agentcore,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_ping"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_agentcore_ping,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_model"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, model),
      NULL },

    { ngx_string("agentcore_region"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, region),
      &ngx_http_agentcore_region_post },

    { ngx_string("agentcore_host"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, host),
      NULL },

    { ngx_string("agentcore_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_agentcore_credentials_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_system_prompt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, system_prompt),
      NULL },

    { ngx_string("agentcore_max_tokens"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, max_tokens),
      &ngx_http_agentcore_max_tokens_bounds },

    { ngx_string("agentcore_model_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, model_location),
      NULL },

    { ngx_string("agentcore_provider"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, provider),
      &ngx_http_agentcore_providers },

    { ngx_string("agentcore_model_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_agentcore_api_key_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_max_cycles"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, max_cycles),
      &ngx_http_agentcore_max_cycles_bounds },

    { ngx_string("agentcore_tools"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_agentcore_tools_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_tool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_agentcore_tool_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_mcp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_agentcore_mcp_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_memory"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_agentcore_memory_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_tool_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, tool_max_size),
      NULL },

    { ngx_string("agentcore_session_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_agentcore_session_zone_directive,
      0,
      0,
      NULL },

    { ngx_string("agentcore_session"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_agentcore_session_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_session_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, session_key),
      NULL },

    { ngx_string("agentcore_ping_busy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, ping_busy),
      NULL },

    { ngx_string("agentcore_sse_coalesce"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, sse_coalesce),
      NULL },

    { ngx_string("agentcore_response"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, response),
      &ngx_http_agentcore_response },

    { ngx_string("agentcore_response_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, response_max_size),
      NULL },

    { ngx_string("agentcore_retries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_agentcore_retries_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_invocation_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_agentcore_msec_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, invocation_timeout),
      NULL },

    { ngx_string("agentcore_tool_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_agentcore_msec_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, tool_timeout),
      NULL },

    { ngx_string("agentcore_heartbeat"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_agentcore_msec_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, heartbeat),
      NULL },

    { ngx_string("agentcore_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_agentcore_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_runtime_pass"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_agentcore_runtime_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_runtime_location"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, runtime_location),
      NULL },

    { ngx_string("agentcore_token_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE23,
      ngx_http_agentcore_token_limit_zone,
      0,
      0,
      NULL },

    { ngx_string("agentcore_token_limit"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_agentcore_token_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("agentcore_token_limit_status"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, token_limit_status),
      &ngx_http_agentcore_token_limit_status_bounds },

    { ngx_string("agentcore_token_limit_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, token_limit_log_level),
      &ngx_http_agentcore_token_limit_log_levels },

    { ngx_string("agentcore_weather"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_agentcore_loc_conf_t, weather),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_agentcore_module_ctx = {
    ngx_http_agentcore_preconfiguration,   /* preconfiguration */
    ngx_http_agentcore_init,               /* postconfiguration */

    ngx_http_agentcore_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_agentcore_create_loc_conf,    /* create location configuration */
    ngx_http_agentcore_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_agentcore_module = {
    NGX_MODULE_V1,
    &ngx_http_agentcore_module_ctx,        /* module context */
    ngx_http_agentcore_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_agentcore_init_module,        /* init module */
    ngx_http_agentcore_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_agentcore_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define ngx_http_agentcore_ctx_str(field)                                    \
    offsetof(ngx_http_agentcore_ctx_t, field)

#define ngx_http_agentcore_usage(field)                                      \
    offsetof(ac_usage_t, field)


static ngx_http_variable_t  ngx_http_agentcore_vars[] = {

    /* read by the model location while it proxies the signed request */

    { ngx_string("agentcore_bedrock_path"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(wire_path),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_bedrock_host"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(host),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_amz_date"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(amz_date),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_authorization"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(authorization),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_security_token"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(security_token),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_api_key"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(api_key),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    /* for the access log */

    { ngx_string("agentcore_stop_reason"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(stop_reason),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_error"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(error),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_cycles"), NULL,
      ngx_http_agentcore_cycles_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_input_tokens"), NULL,
      ngx_http_agentcore_usage_variable,
      ngx_http_agentcore_usage(input_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_output_tokens"), NULL,
      ngx_http_agentcore_usage_variable,
      ngx_http_agentcore_usage(output_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_total_tokens"), NULL,
      ngx_http_agentcore_usage_variable,
      ngx_http_agentcore_usage(total_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_latency_ms"), NULL,
      ngx_http_agentcore_usage_variable,
      ngx_http_agentcore_usage(latency_ms),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_session_id"), NULL,
      ngx_http_agentcore_str_variable,
      ngx_http_agentcore_ctx_str(session_id),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_agentcore_preconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_agentcore_add_variables(cf, ngx_http_agentcore_vars)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_runtime_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_token_limit_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_mcp_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_memory_add_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* other modules add theirs from their preconfiguration too */
    return ngx_http_agentcore_add_builtin_tools(cf);
}


/*
 * adds a table of variables ending with an empty name: ours, the
 * relay's, the metrics'
 */

ngx_int_t
ngx_http_agentcore_add_variables(ngx_conf_t *cf, ngx_http_variable_t *vars)
{
    ngx_http_variable_t  *var, *v;

    for (v = vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_str_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                 *s;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((char *) ctx + data);

    if (s->len == 0) {
        /* "-" in the access log; no header from proxy_set_header */
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


static ngx_int_t
ngx_http_agentcore_usage_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    int64_t                    n;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || !ctx->usage_seen) {
        v->not_found = 1;
        return NGX_OK;
    }

    n = *(int64_t *) ((char *) &ctx->usage + data);

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%L", n) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_cycles_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%ui", ctx->cycles) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_init(ngx_conf_t *cf)
{
    if (ngx_http_agentcore_state_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_credentials_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_builtins_postconfiguration(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_agentcore_runtime_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_agentcore_model_filter_init(cf);
}


static ngx_int_t
ngx_http_agentcore_init_module(ngx_cycle_t *cycle)
{
    return ngx_http_agentcore_credentials_init_module(cycle);
}


static ngx_int_t
ngx_http_agentcore_init_process(ngx_cycle_t *cycle)
{
    if (ngx_http_agentcore_session_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_agentcore_credentials_init(cycle);
}


static void
ngx_http_agentcore_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_agentcore_session_exit_process(cycle);
}


static void *
ngx_http_agentcore_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_agentcore_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->tools, cf->pool, 8,
                       sizeof(ngx_http_agentcore_tool_entry_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_http_agentcore_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_agentcore_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->model = { 0, NULL };
     *     conf->region = { 0, NULL };
     *     conf->host = { 0, NULL };
 *     conf->host_derived = 0;
     *     conf->system_prompt = { 0, NULL };
     *     conf->model_location = { 0, NULL };
     *     conf->weather = { 0, NULL };
     *     conf->tool_names = NULL;
     *     conf->location_tools = NULL;
     *     conf->tools = NULL;
     *     conf->tool_specs = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->max_tokens = NGX_CONF_UNSET;
    conf->max_cycles = NGX_CONF_UNSET_UINT;
    conf->tool_max_size = NGX_CONF_UNSET_SIZE;
    conf->session_zone = NGX_CONF_UNSET_PTR;
    conf->memory = NGX_CONF_UNSET_PTR;
    conf->ping_busy = NGX_CONF_UNSET;
    conf->sse_coalesce = NGX_CONF_UNSET;
    conf->token_limit_status = NGX_CONF_UNSET_UINT;
    conf->token_limit_log_level = NGX_CONF_UNSET_UINT;
    conf->response = NGX_CONF_UNSET_UINT;
    conf->response_max_size = NGX_CONF_UNSET_SIZE;
    conf->invocation_timeout = NGX_CONF_UNSET_MSEC;
    conf->tool_timeout = NGX_CONF_UNSET_MSEC;
    conf->heartbeat = NGX_CONF_UNSET_MSEC;
    conf->provider = NGX_CONF_UNSET_UINT;
    conf->api_key = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_http_agentcore_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_agentcore_loc_conf_t *prev = parent;
    ngx_http_agentcore_loc_conf_t *conf = child;

    ngx_conf_merge_str_value(conf->model, prev->model,
                             "us.anthropic.claude-3-7-sonnet-20250219-v1:0");

    if (ngx_http_agentcore_merge_region(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->system_prompt.data == NULL) {
        conf->system_prompt = prev->system_prompt;
    }

    ngx_conf_merge_value(conf->max_tokens, prev->max_tokens, NGX_CONF_UNSET);
    ngx_conf_merge_str_value(conf->model_location, prev->model_location, "");
    ngx_conf_merge_uint_value(conf->provider, prev->provider,
                              AC_PROVIDER_BEDROCK);

    if (conf->api_key == NGX_CONF_UNSET_PTR) {
        conf->api_key = prev->api_key;
        conf->api_key_file = prev->api_key_file;
    }

    if (conf->api_key == NGX_CONF_UNSET_PTR) {
        conf->api_key = NULL;
    }

    ngx_conf_merge_uint_value(conf->max_cycles, prev->max_cycles, 20);
    ngx_conf_merge_str_value(conf->weather, prev->weather, "sunny");
    ngx_conf_merge_size_value(conf->tool_max_size, prev->tool_max_size,
                              64 * 1024);
    ngx_conf_merge_value(conf->sse_coalesce, prev->sse_coalesce, 0);
    ngx_conf_merge_uint_value(conf->response, prev->response,
                              NGX_HTTP_AGENTCORE_RESPONSE_AUTO);
    ngx_conf_merge_size_value(conf->response_max_size,
                              prev->response_max_size, 8 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->invocation_timeout,
                              prev->invocation_timeout, 0);
    ngx_conf_merge_msec_value(conf->tool_timeout, prev->tool_timeout, 0);
    ngx_conf_merge_msec_value(conf->heartbeat, prev->heartbeat, 0);
    ngx_http_agentcore_retries_merge(prev, conf);
    ngx_http_agentcore_token_limit_merge(prev, conf);

    if (ngx_http_agentcore_merge_session(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_agentcore_runtime_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_agentcore_merge_credentials(cf, prev, conf) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_agentcore_merge_tools(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_agentcore_mcp_merge(prev, conf);

    if (ngx_http_agentcore_memory_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_agentcore_metrics_merge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->enable == 1 && conf->model_location.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"agentcore\" requires "
                           "\"agentcore_model_location\"");
        return NGX_CONF_ERROR;
    }

    return ngx_http_agentcore_model_merge(cf, conf);
}


/*
 * The region and the signed host.  Both are C strings as well (the
 * signer reads the region as one): every value ends with a NUL that
 * the length does not count.  The default region is the workers'
 * AWS_REGION, else AWS_DEFAULT_REGION, else us-west-2.
 */

static char *
ngx_http_agentcore_merge_region(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    u_char      *p;
    const char  *region, *from;

    if (conf->region.data == NULL) {
        if (prev->region.data) {
            conf->region = prev->region;

        } else {
            from = "AWS_REGION";
            region = ngx_http_agentcore_region_env(cf, from);

            if (region == NULL || *region == '\0') {
                from = "AWS_DEFAULT_REGION";
                region = ngx_http_agentcore_region_env(cf, from);
            }

            if (region == NULL || *region == '\0') {
                from = "the default";
                region = "us-west-2";
            }

            conf->region.len = ngx_strlen(region);
            conf->region.data = ngx_pnalloc(cf->pool, conf->region.len + 1);
            if (conf->region.data == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_cpystrn(conf->region.data, (u_char *) region,
                        conf->region.len + 1);

            if (!ngx_http_agentcore_good_region(&conf->region)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "agentcore: %s \"%V\" is not a region "
                                   "name (lower-case letters, digits and "
                                   "\"-\")", from, &conf->region);
                return NGX_CONF_ERROR;
            }
        }
    }

    /*
     * An agentcore_host set here or above is kept; otherwise the host is
     * this level's region's, so a location's own region gets its host
     */

    if (conf->host.data == NULL) {
        if (prev->host.data
            && (!prev->host_derived
                || (prev->region.len == conf->region.len
                    && ngx_strncmp(prev->region.data, conf->region.data,
                                   conf->region.len)
                       == 0)))
        {
            conf->host = prev->host;
            conf->host_derived = prev->host_derived;

        } else {
            conf->host_derived = 1;

            conf->host.len = sizeof("bedrock-runtime..amazonaws.com") - 1
                             + conf->region.len;
            conf->host.data = ngx_pnalloc(cf->pool, conf->host.len + 1);
            if (conf->host.data == NULL) {
                return NGX_CONF_ERROR;
            }

            p = ngx_sprintf(conf->host.data,
                            "bedrock-runtime.%V.amazonaws.com",
                            &conf->region);
            *p = '\0';
        }
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_agentcore_good_region(ngx_str_t *region)
{
    u_char  *p;

    if (region->len == 0 || region->len > 31) {
        return 0;
    }

    for (p = region->data; p < region->data + region->len; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')
              || *p == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static char *
ngx_http_agentcore_check_region(ngx_conf_t *cf, void *post, void *data)
{
    ngx_str_t  *region = data;

    if (!ngx_http_agentcore_good_region(region)) {
        return "is not a region name (lower-case letters, digits and \"-\")";
    }

    return NGX_CONF_OK;
}


/*
 * A variable as the workers will see it: "env NAME=VALUE" (before
 * "http") sets it, else the master's environment
 */

static const char *
ngx_http_agentcore_region_env(ngx_conf_t *cf, const char *name)
{
    size_t            n;
    ngx_str_t        *var;
    ngx_uint_t        i;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    n = ngx_strlen(name);
    var = ccf->env.elts;

    for (i = 0; i < ccf->env.nelts; i++) {
        if (var[i].len == n && ngx_strncmp(var[i].data, name, n) == 0
            && var[i].data[n] == '=')
        {
            return (const char *) var[i].data + n + 1;
        }
    }

    return getenv(name);
}


static char *
ngx_http_agentcore(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_agentcore_handler;
    alcf->enable = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_agentcore_ping(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_agentcore_ping_handler;

    return NGX_CONF_OK;
}

