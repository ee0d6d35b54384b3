
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Conversations: session histories in shared memory, one invocation
 * at a time per session, and the invocation count /ping reports.
 */


#ifndef _NGX_HTTP_AGENTCORE_SESSION_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_SESSION_H_INCLUDED_


#include "ngx_http_agentcore_module.h"


/* 33 to 256 characters, as InvokeAgentRuntime's runtimeSessionId */
#define NGX_HTTP_AGENTCORE_SESSION_ID_MIN  33
#define NGX_HTTP_AGENTCORE_SESSION_ID_MAX  256


/* agentcore_session_zone NAME:SIZE [ttl=TIME] [max_messages=N] */
char *ngx_http_agentcore_session_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
/* agentcore_session NAME | off */
char *ngx_http_agentcore_session_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_http_agentcore_merge_session(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf);

/* postconfiguration: the zone that counts invocations for /ping */
ngx_int_t ngx_http_agentcore_state_init(ngx_conf_t *cf);
ngx_int_t ngx_http_agentcore_session_init_process(ngx_cycle_t *cycle);
void ngx_http_agentcore_session_exit_process(ngx_cycle_t *cycle);

/*
 * The invocation starts: it is counted for /ping, its session (if
 * any) is taken and its history loaded into ctx->messages, repaired,
 * with the prompt appended.  Returns NGX_OK; NGX_HTTP_BAD_REQUEST with
 * *error (NUL-terminated) for an invalid session id; NGX_BUSY or
 * NGX_DECLINED with *error, the stream_error to send; NGX_ERROR.
 */
ngx_int_t ngx_http_agentcore_session_start(ngx_http_agentcore_ctx_t *ctx,
    json_t *prompt, ngx_str_t *error);

/*
 * The invocation ends: its history, trimmed to the window, is stored
 * and the session released.  NGX_ERROR with *error if the history
 * could not be stored (it keeps its previous state then).
 */
ngx_int_t ngx_http_agentcore_session_end(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error);

/* the sliding window (max_messages=) of the invocation's session zone */
ngx_uint_t ngx_http_agentcore_session_window(ngx_http_agentcore_ctx_t *ctx);

/* invocations in flight in every worker */
ngx_uint_t ngx_http_agentcore_invocations(void);

/* the sessions a zone holds; NGX_ERROR if it is not a session zone */
ngx_int_t ngx_http_agentcore_session_count(ngx_shm_zone_t *shm_zone);

/* the /ping stamp for this status, renewed when the status changes */
time_t ngx_http_agentcore_ping_stamp(ngx_uint_t busy);


#endif /* _NGX_HTTP_AGENTCORE_SESSION_H_INCLUDED_ */
