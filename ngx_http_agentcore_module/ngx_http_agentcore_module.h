
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Declarations shared by the nginx glue files.  The protocol layer
 * (eventstream, sigv4, json, converse, calculator) does not include
 * this header: it knows nothing of nginx.
 */


#ifndef _NGX_HTTP_AGENTCORE_MODULE_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_agentcore.h"
#include "ngx_http_agentcore_eventstream.h"
#include "ngx_http_agentcore_converse.h"
#include "ngx_http_agentcore_sigv4.h"
#include "ngx_http_agentcore_provider.h"


/* the largest event-stream message accepted from the model */
#define NGX_HTTP_AGENTCORE_MAX_MESSAGE   (4 * 1024 * 1024)

/* the most of a model error response body kept for its message */
#define NGX_HTTP_AGENTCORE_MAX_ERROR_BODY  8192

/* agentcore_response */
#define NGX_HTTP_AGENTCORE_RESPONSE_AUTO   0
#define NGX_HTTP_AGENTCORE_RESPONSE_SSE    1
#define NGX_HTTP_AGENTCORE_RESPONSE_JSON   2


typedef struct ngx_http_agentcore_session_s  ngx_http_agentcore_session_t;


typedef struct ngx_http_agentcore_creds_s  ngx_http_agentcore_creds_t;
typedef struct ngx_http_agentcore_creds_conf_s
    ngx_http_agentcore_creds_conf_t;
typedef struct ngx_http_agentcore_creds_wait_s
    ngx_http_agentcore_creds_wait_t;
typedef struct ngx_http_agentcore_runtime_conf_s
    ngx_http_agentcore_runtime_conf_t;
typedef struct ngx_http_agentcore_token_limit_s
    ngx_http_agentcore_token_limit_t;


typedef struct {
    ngx_http_agentcore_tool_t  *tool;
    json_t                     *spec;          /* {"toolSpec": ...} */
    unsigned                    used:1;        /* named by agentcore_tools */
} ngx_http_agentcore_tool_entry_t;


typedef struct {
    ngx_array_t                 tools;         /* registered tools,
                                                  of tool_entry_t * */
    ngx_http_agentcore_creds_conf_t  *creds;   /* credential sources */
    ngx_thread_pool_t          *calc_pool;     /* the calculator's */
} ngx_http_agentcore_main_conf_t;


/* agentcore_retries: attempts per model call, and the waits between */

typedef struct {
    ngx_uint_t                  throttle;      /* attempts, throttled */
    ngx_msec_t                  delay;         /* the first wait, doubled */
    ngx_msec_t                  max_delay;     /* the longest wait */
    ngx_uint_t                  errors;        /* attempts, 5xx and
                                                  connection errors */
    ngx_msec_t                  error_delay;   /* jitter up to it, doubled */
    ngx_msec_t                  error_max_delay;
    ngx_flag_t                  set;           /* 0: inherited */
} ngx_http_agentcore_retries_t;


typedef struct {
    ngx_flag_t                  enable;        /* "agentcore" here */
    ngx_str_t                   model;
    ngx_str_t                   region;
    ngx_str_t                   host;          /* signed Host */
    ngx_flag_t                  host_derived;  /* from region, not set */
    ngx_str_t                   system_prompt;
    ngx_int_t                   max_tokens;    /* NGX_CONF_UNSET: none */
    ngx_str_t                   model_location;
    ngx_uint_t                  provider;      /* agentcore_provider:
                                                  AC_PROVIDER_* */
    ngx_http_complex_value_t   *api_key;       /* agentcore_model_api_key,
                                                  a value, or NULL */
    ngx_str_t                   api_key_file;  /* ... its "file:" key */
    ngx_uint_t                  max_cycles;
    ngx_str_t                   weather;
    size_t                      tool_max_size;

    ngx_array_t                *tool_names;    /* agentcore_tools */
    ngx_array_t                *location_tools;    /* agentcore_tool */
    ngx_array_t                *mcp_servers;   /* agentcore_mcp */
    void                       *memory;        /* agentcore_memory */
    ngx_array_t                *tools;         /* enabled, resolved */
    json_t                     *tool_specs;    /* toolConfig.tools */
    ngx_str_t                   request_suffix;    /* the model request
                                                      after "messages" */
    ngx_http_agentcore_creds_t *creds;         /* agentcore_credentials */

    ngx_shm_zone_t             *session_zone;  /* agentcore_session */
    ngx_http_complex_value_t   *session_key;   /* agentcore_session_key */
    ngx_flag_t                  ping_busy;     /* agentcore_ping_busy */
    ngx_flag_t                  sse_coalesce;  /* agentcore_sse_coalesce */
    ngx_uint_t                  response;      /* agentcore_response */
    size_t                      response_max_size;

    ngx_http_agentcore_runtime_conf_t  *runtime;   /* agentcore_runtime_pass */
    ngx_str_t                   runtime_location;

    ngx_http_agentcore_retries_t  retries;     /* agentcore_retries */

    ngx_array_t                *token_limits;  /* agentcore_token_limit */
    ngx_uint_t                  token_limit_status;
    ngx_uint_t                  token_limit_log_level;
    ngx_msec_t                  invocation_timeout;  /* 0: none */
    ngx_msec_t                  tool_timeout;        /* 0: none */
    ngx_msec_t                  heartbeat;           /* 0: off */
} ngx_http_agentcore_loc_conf_t;


typedef struct {
    ngx_str_t                   access_key_id;
    ngx_str_t                   secret_access_key;
    ngx_str_t                   session_token;
    ngx_str_t                   bearer_token;
} ngx_http_agentcore_credentials_t;


/*
 * what the access log and the metrics read of an invocation, besides
 * the rest of the ctx (ngx_http_agentcore_metrics.c)
 */

typedef struct {
    ngx_msec_t                  ttfb;           /* ms from the request's
                                                   start to the first
                                                   event sent */
    ngx_uint_t                  retries;        /* model calls retried */
    ngx_str_t                   tools;          /* the tools called,
                                                   comma-separated */
    size_t                      tools_size;
    ngx_str_t                   error_type;     /* a stream_error's type,
                                                   if its cause sets it;
                                                   else inferred */
    unsigned                    ttfb_set:1;
} ngx_http_agentcore_stats_t;


/* one invocation: the state machine's single context */

typedef struct {
    ngx_http_request_t         *request;        /* the main request */
    ngx_http_agentcore_loc_conf_t  *conf;

    json_t                     *payload;        /* the parsed request */
    json_t                     *messages;       /* history sent to the
                                                   model */
    ngx_str_t                   session_id;     /* "" when stateless */
    ngx_str_t                   request_id;     /* $agentcore_request_id */
    ngx_http_agentcore_session_t  *session;     /* _session.c's part */
    ngx_uint_t                  cycles;         /* model calls made */
    ngx_uint_t                  turn_start;     /* the first message of
                                                   this invocation's turn */

    /* the model call in flight */
    ngx_http_request_t         *model_sr;
    u_char                     *body;           /* its request body */
    const ac_provider_t        *provider;       /* agentcore_provider */
    ac_model_stream_t          *stream;         /* its response decoder */
    ac_turn_t                  *turn;
    ngx_int_t                   model_rc;       /* post_subrequest rc */
    ngx_uint_t                  model_status;   /* upstream status */
    ngx_str_t                   error_type;     /* x-amzn-errortype */
    u_char                     *error_body;     /* non-2xx body */
    size_t                      error_body_len;
    const char                 *stream_error;   /* decoder failure */
    ngx_chain_t                *model_held;     /* reads not decoded yet:
                                                   the client's socket is
                                                   full (backpressure) */
    off_t                       model_max_body; /* the model location's
                                                   client_max_body_size,
                                                   when it refused the
                                                   request */

    /* what the model location's variables return */
    ngx_str_t                   wire_path;
    ngx_str_t                   host;
    ngx_str_t                   amz_date;
    ngx_str_t                   authorization;
    ngx_str_t                   security_token;
    ngx_str_t                   api_key;        /* agentcore_model_api_key
                                                   ($agentcore_api_key) */
    ngx_http_agentcore_creds_wait_t  *creds_wait;   /* no credentials yet */

    /* the tool calls of the last turn */
    ngx_http_agentcore_tool_call_t  *calls;
    ngx_uint_t                  ncalls;
    ngx_uint_t                  tools_pending;
    void                       *mcp;            /* _mcp.c's part */
    void                       *memory;         /* _memory.c's part */

    /* SSE output: buffers passed down, oldest first, and reusable ones */
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    ngx_chain_t               **busy_last;
    ngx_chain_t                *pending;        /* agentcore_sse_coalesce:
                                                   the turn's events */
    ngx_chain_t               **pending_last;
    ngx_uint_t                  npending;
    size_t                      pending_size;
    ngx_event_t                 flush_event;    /* posted: the events of
                                                   this loop turn leave
                                                   in one write */

    ngx_uint_t                  log_level;      /* paused debug level */
    ngx_uint_t                  log_pauses;     /* the model call's and
                                                   the MCP requests' */

    ngx_event_t                 retry_event;    /* the wait before a
                                                   model call is retried */
    ngx_uint_t                  throttle_retries;  /* of this model call */
    ngx_uint_t                  error_retries;

    /* ngx_http_agentcore_timeout.c */
    ngx_event_t                 deadline_event; /* agentcore_invocation_
                                                   timeout */
    ngx_event_t                 tool_event;     /* agentcore_tool_timeout,
                                                   for the turn's calls */
    ngx_event_t                 heartbeat_event;    /* agentcore_heartbeat */
    ngx_msec_t                  last_output;    /* when an event was last
                                                   passed down */

    ac_usage_t                  usage;          /* summed over cycles */
    ngx_http_agentcore_token_limit_t  *token_limit;  /* its keys */
    ngx_http_agentcore_stats_t  stats;
    ngx_str_t                   stop_reason;
    ngx_str_t                   error;          /* the stream_error sent */

    /* agentcore_response json: the answer text, sent when the loop ends */
    u_char                     *answer;
    size_t                      answer_len;
    size_t                      answer_size;
    size_t                      answer_mark;    /* where the model call
                                                   in flight began */

    unsigned                    streaming:1;    /* SSE header sent, or the
                                                   loop runs for a JSON
                                                   answer */
    unsigned                    unflushed:1;    /* events held back */
    unsigned                    log_paused:1;
    unsigned                    usage_seen:1;   /* a metadata event */
    unsigned                    model_done:1;
    unsigned                    tools_running:1;
    unsigned                    tools_starting:1;
    unsigned                    model_failed:1; /* stop decoding */
    unsigned                    finished:1;
    unsigned                    creds_waiting:1;  /* a model call waits */
    unsigned                    keep_history:1; /* the session keeps the
                                                   history it had */
    unsigned                    model_text:1;   /* this model call's text
                                                   went to the client */
    unsigned                    json:1;         /* a JSON answer, not SSE */
    unsigned                    answer_too_large:1;
} ngx_http_agentcore_ctx_t;


extern ngx_module_t  ngx_http_agentcore_module;


/* ngx_http_agentcore_handler.c: the invocation */
ngx_int_t ngx_http_agentcore_handler(ngx_http_request_t *r);

void ngx_http_agentcore_finish(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error);

/* ngx_http_agentcore_model.c: model subrequests and the capture filter */
ngx_int_t ngx_http_agentcore_model_start(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_model_abort(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_subrequest_abort(ngx_http_request_t *sr);
ngx_http_request_t *ngx_http_agentcore_post_subrequest(ngx_http_request_t *r,
    ngx_str_t *uri, ngx_str_t *args, ngx_buf_t *body,
    ngx_http_post_subrequest_t *ps, ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_model_filter_init(ngx_conf_t *cf);
void ngx_http_agentcore_model_resume(ngx_http_agentcore_ctx_t *ctx);
char *ngx_http_agentcore_model_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf);
char *ngx_http_agentcore_api_key_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* ngx_http_agentcore_sse.c: SSE through the output filter chain */
ngx_int_t ngx_http_agentcore_sse_start(ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_sse_text(ngx_http_agentcore_ctx_t *ctx,
    const u_char *text, size_t len);
ngx_int_t ngx_http_agentcore_sse_error(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *message);
ngx_int_t ngx_http_agentcore_sse_flush(ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_sse_pending(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_sse_flush_later(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_sse_flush_handler(ngx_event_t *ev);
ngx_int_t ngx_http_agentcore_sse_blocked(ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_sse_heartbeat(ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_send_json(ngx_http_request_t *r,
    ngx_uint_t status, const char *error, const char *details);
ngx_int_t ngx_http_agentcore_send_not_allowed(ngx_http_request_t *r,
    char *allow);
ngx_int_t ngx_http_agentcore_send_buf(ngx_http_request_t *r,
    ngx_uint_t status, ngx_str_t *type, ngx_buf_t *b);

/* ngx_http_agentcore_answer.c: agentcore_response json */
ngx_uint_t ngx_http_agentcore_answer_wanted(ngx_http_request_t *r,
    ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_answer_text(ngx_http_agentcore_ctx_t *ctx,
    const u_char *text, size_t len);
ngx_int_t ngx_http_agentcore_answer_send(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error);

/* ngx_http_agentcore_tools.c: the registry and tool calls */
char *ngx_http_agentcore_tools_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_agentcore_tool_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_agentcore_merge_tools(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_tools_run(ngx_http_agentcore_ctx_t *ctx,
    json_t *message);
json_t *ngx_http_agentcore_tools_message(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_tool_result(ngx_http_agentcore_tool_call_t *call,
    ngx_int_t status, const char *prefix, ngx_str_t *text);
ngx_http_agentcore_tool_call_t *ngx_http_agentcore_tool_call(
    ngx_http_agentcore_ctx_t *ctx, ngx_http_request_t *sr);
ngx_int_t ngx_http_agentcore_tool_header(ngx_http_agentcore_tool_call_t *call,
    ngx_http_request_t *r);
ngx_int_t ngx_http_agentcore_tool_body(ngx_http_agentcore_tool_call_t *call,
    ngx_chain_t *in);
void ngx_http_agentcore_tools_abandon(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *text);

/* ngx_http_agentcore_mcp.c: tools of MCP servers (agentcore_mcp) */
char *ngx_http_agentcore_mcp_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_agentcore_mcp_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_mcp_prepare(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *suffix);
ngx_http_agentcore_tool_t *ngx_http_agentcore_mcp_tool(
    ngx_http_agentcore_ctx_t *ctx, ngx_str_t *name);
ngx_http_agentcore_tool_call_t *ngx_http_agentcore_mcp_capture(
    ngx_http_agentcore_ctx_t *ctx, ngx_http_request_t *sr);
ngx_int_t ngx_http_agentcore_mcp_add_variables(ngx_conf_t *cf);
json_t *ngx_http_agentcore_mcp_result(ngx_http_agentcore_tool_call_t *call);
void ngx_http_agentcore_mcp_quiet(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr);
void ngx_http_agentcore_mcp_loud(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr);
void ngx_http_agentcore_log_pause(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_log_resume(ngx_http_agentcore_ctx_t *ctx);

/* ngx_http_agentcore_memory.c: agentcore_memory */
char *ngx_http_agentcore_memory_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_agentcore_memory_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_memory_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_memory_load(ngx_http_agentcore_ctx_t *ctx);
ngx_int_t ngx_http_agentcore_memory_save(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error);
ngx_http_agentcore_tool_call_t *ngx_http_agentcore_memory_capture(
    ngx_http_agentcore_ctx_t *ctx, ngx_http_request_t *sr);
void ngx_http_agentcore_memory_quiet(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr);
void ngx_http_agentcore_memory_loud(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr);
void ngx_http_agentcore_turn_start(ngx_http_agentcore_ctx_t *ctx);

/* ngx_http_agentcore_builtins.c */
ngx_int_t ngx_http_agentcore_add_builtin_tools(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_builtins_postconfiguration(ngx_conf_t *cf);

/* ngx_http_agentcore_ping.c */
ngx_int_t ngx_http_agentcore_ping_handler(ngx_http_request_t *r);

/* ngx_http_agentcore_runtime.c: agentcore_runtime_pass */
char *ngx_http_agentcore_runtime_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_agentcore_runtime_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);
ngx_uint_t ngx_http_agentcore_runtime_signs(
    ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_add_variables(ngx_conf_t *cf,
    ngx_http_variable_t *vars);
ngx_int_t ngx_http_agentcore_runtime_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_runtime_init(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_runtime_handler(ngx_http_request_t *r);

/* ngx_http_agentcore_credentials.c */
char *ngx_http_agentcore_credentials_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_agentcore_merge_credentials(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_credentials_postconfiguration(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_credentials_init_module(ngx_cycle_t *cycle);
void ngx_http_agentcore_credentials_tried(ngx_http_agentcore_ctx_t *ctx,
    u_char *buf, size_t len);
ngx_int_t ngx_http_agentcore_credentials_init(ngx_cycle_t *cycle);
ngx_int_t ngx_http_agentcore_credentials(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t **cr);
void *ngx_http_agentcore_secret_alloc(ngx_pool_t *pool, size_t size);

/* ngx_http_agentcore_sign.c: SigV4 for the model call and the relay */
ngx_int_t ngx_http_agentcore_sign(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t *cr, ac_sigv4_request_t *req,
    ac_sigv4_header_t *headers, ngx_uint_t n);

/* ngx_http_agentcore_metrics.c: the metrics zone and the log variables */
char *ngx_http_agentcore_metrics_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_agentcore_metrics_init(ngx_conf_t *cf);
char *ngx_http_agentcore_metrics_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf);
void ngx_http_agentcore_metrics_tool(ngx_http_agentcore_tool_call_t *call);
void ngx_http_agentcore_metrics_evicted(ngx_str_t *zone, ngx_uint_t n);
void ngx_http_agentcore_metrics_credentials(ngx_uint_t ok);
void ngx_http_agentcore_metrics_memory(ngx_uint_t op, ngx_uint_t ok);
void ngx_http_agentcore_error_type(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *type);

/* ngx_http_agentcore_retry.c: agentcore_retries */
char *ngx_http_agentcore_retries_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_agentcore_retries_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf);
ngx_msec_t ngx_http_agentcore_retry_delay(ngx_msec_t base, ngx_msec_t max,
    ngx_uint_t retry, ngx_uint_t jitter);
ngx_int_t ngx_http_agentcore_retry(ngx_http_agentcore_ctx_t *ctx);

/* ngx_http_agentcore_token_limit.c: agentcore_token_limit */
extern ngx_conf_enum_t  ngx_http_agentcore_token_limit_log_levels[];
extern ngx_conf_num_bounds_t  ngx_http_agentcore_token_limit_status_bounds;
char *ngx_http_agentcore_token_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_agentcore_token_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_agentcore_token_limit_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf);
ngx_int_t ngx_http_agentcore_token_limit_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_token_limit_check(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error, time_t *retry_after);
void ngx_http_agentcore_token_limit_charge(ngx_http_agentcore_ctx_t *ctx,
    const ac_usage_t *u);
ngx_int_t ngx_http_agentcore_token_limit_refuse(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error, time_t retry_after);
/* ngx_http_agentcore_timeout.c: the invocation's and tools' caps, the
 * heartbeat */
char *ngx_http_agentcore_msec_off_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_agentcore_timeout_init(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_deadline_start(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_tool_timer_start(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_heartbeat_start(ngx_http_agentcore_ctx_t *ctx);
void ngx_http_agentcore_timers_stop(ngx_http_agentcore_ctx_t *ctx);

/* ngx_http_agentcore_request_id.c: $agentcore_request_id */
ngx_int_t ngx_http_agentcore_request_id_variable(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_request_id_start(ngx_http_agentcore_ctx_t *ctx);
ngx_uint_t ngx_http_agentcore_request_id_replaced(
    ngx_http_agentcore_ctx_t *ctx, ngx_table_elt_t *h);
ngx_int_t ngx_http_agentcore_request_id_tool_headers(
    ngx_http_agentcore_ctx_t *ctx, ngx_http_request_t *sr);


#endif /* _NGX_HTTP_AGENTCORE_MODULE_H_INCLUDED_ */
