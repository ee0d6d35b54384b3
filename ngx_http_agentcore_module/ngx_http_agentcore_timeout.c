
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Limits in time, none of them in the reference (all off by default):
 *
 *   - agentcore_invocation_timeout: the whole invocation, from its body
 *     read to the end of the loop.  On expiry what runs is stopped (the
 *     model call's upstream closed, the tools given up, a retry's wait
 *     cancelled) and the stream ends with a stream_error naming the
 *     limit; before the SSE head (a wait for credentials), a 504 in the
 *     runtime's JSON shape.
 *   - agentcore_tool_timeout: the tool calls of one turn, which run
 *     together.  On expiry each call still running is given up (a
 *     location's upstream is closed, a handler's late result dropped)
 *     and gets an error result naming the limit: the model sees the
 *     failure, as Strands shows it a tool that raised, and the loop
 *     goes on.
 *   - agentcore_heartbeat: an SSE comment, ": keep-alive\n\n", once
 *     nothing was sent for that long, for proxies and browsers that drop
 *     an idle stream.  EventSource and the runtime's clients ignore it.
 *
 * Each is an event of the ctx; ngx_http_agentcore_timers_stop() removes
 * them when the stream ends and from the request's pool cleanup.
 */


#include "ngx_http_agentcore_module.h"


static void ngx_http_agentcore_deadline_handler(ngx_event_t *ev);
static void ngx_http_agentcore_tool_timeout_handler(ngx_event_t *ev);
static void ngx_http_agentcore_heartbeat_handler(ngx_event_t *ev);
static u_char *ngx_http_agentcore_msec_text(u_char *p, u_char *last,
    ngx_msec_t ms);


/* agentcore_..._timeout off | TIME;  agentcore_heartbeat off | TIME; */

char *
ngx_http_agentcore_msec_off_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    char  *p = conf;

    ngx_str_t   *value;
    ngx_msec_t  *mp, ms;

    mp = (ngx_msec_t *) (p + cmd->offset);

    if (*mp != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        *mp = 0;
        return NGX_CONF_OK;
    }

    ms = ngx_parse_time(&value[1], 0);

    /* 0 is "off" spelled otherwise; a timer takes up to 24 days */

    if (ms == (ngx_msec_t) NGX_ERROR || ms > 0x7fffffff) {
        return "invalid value";
    }

    *mp = ms;

    return NGX_CONF_OK;
}


void
ngx_http_agentcore_timeout_init(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_log_t  *log;

    log = ctx->request->connection->log;

    ctx->deadline_event.handler = ngx_http_agentcore_deadline_handler;
    ctx->deadline_event.data = ctx;
    ctx->deadline_event.log = log;

    ctx->tool_event.handler = ngx_http_agentcore_tool_timeout_handler;
    ctx->tool_event.data = ctx;
    ctx->tool_event.log = log;

    ctx->heartbeat_event.handler = ngx_http_agentcore_heartbeat_handler;
    ctx->heartbeat_event.data = ctx;
    ctx->heartbeat_event.log = log;
}


/* the body is read: the invocation's time starts (once) */

void
ngx_http_agentcore_deadline_start(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_event_t  *ev;

    ev = &ctx->deadline_event;

    if (ctx->conf->invocation_timeout && !ev->timer_set && !ev->timedout) {
        ngx_add_timer(ev, ctx->conf->invocation_timeout);
    }
}


/* the tool calls of a turn were started, some are still running */

void
ngx_http_agentcore_tool_timer_start(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->conf->tool_timeout) {
        ngx_add_timer(&ctx->tool_event, ctx->conf->tool_timeout);
    }
}


/* the SSE head is out (or waits for the first bytes, coalesced) */

void
ngx_http_agentcore_heartbeat_start(ngx_http_agentcore_ctx_t *ctx)
{
    ctx->last_output = ngx_current_msec;

    if (ctx->conf->heartbeat) {
        ngx_add_timer(&ctx->heartbeat_event, ctx->conf->heartbeat);
    }
}


void
ngx_http_agentcore_timers_stop(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->deadline_event.timer_set) {
        ngx_del_timer(&ctx->deadline_event);
    }

    if (ctx->tool_event.timer_set) {
        ngx_del_timer(&ctx->tool_event);
    }

    if (ctx->heartbeat_event.timer_set) {
        ngx_del_timer(&ctx->heartbeat_event);
    }
}


static void
ngx_http_agentcore_deadline_handler(ngx_event_t *ev)
{
    u_char                    *p, *last;
    ngx_str_t                  error;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (ctx->finished || c->error
        || (!ctx->streaming && r->header_sent))
    {
        /* the request is ending otherwise (a JSON error is on its way) */
        return;
    }

    ngx_http_set_log_request(c->log, r);

    error.data = ngx_pnalloc(r->pool, 129);
    if (error.data == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    last = error.data + 128;

    p = ngx_slprintf(error.data, last, "The invocation timed out after ");
    p = ngx_http_agentcore_msec_text(p, last, ctx->conf->invocation_timeout);
    p = ngx_slprintf(p, last, " (agentcore_invocation_timeout)");

    error.len = p - error.data;

    ngx_str_set(&ctx->stats.error_type, "invocation_timeout");

    if (!ctx->streaming) {
        /* before the SSE head: only a wait for credentials gets here */

        ctx->finished = 1;
        ctx->error = error;

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "agentcore: %V, before the stream started (waiting "
                      "for AWS credentials)", &error);

        *p = '\0';

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_GATEWAY_TIME_OUT,
                                         "Invocation timed out",
                                         (char *) error.data));
        ngx_http_run_posted_requests(c);
        return;
    }

    /* what runs stops: the model call, the tools, a retry's wait */

    if (ctx->retry_event.timer_set) {
        ngx_del_timer(&ctx->retry_event);
    }

    ngx_http_agentcore_model_abort(ctx);

    if (ctx->tools_running && ctx->tools_pending) {
        ngx_http_agentcore_tools_abandon(ctx, NULL);
    }

    ngx_http_agentcore_finish(ctx, &error);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_agentcore_tool_timeout_handler(ngx_event_t *ev)
{
    u_char                    *p, *last;
    ngx_str_t                  text;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (ctx->finished || c->error || !ctx->tools_running
        || ctx->tools_pending == 0)
    {
        return;
    }

    ngx_http_set_log_request(c->log, r);

    text.data = ngx_pnalloc(r->pool, 128);
    if (text.data == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    last = text.data + 128;

    p = ngx_slprintf(text.data, last, "the tool call timed out after ");
    p = ngx_http_agentcore_msec_text(p, last, ctx->conf->tool_timeout);
    p = ngx_slprintf(p, last, " (agentcore_tool_timeout)");

    text.len = p - text.data;

    /* the last result recorded posts the invocation, which goes on */

    ngx_http_agentcore_tools_abandon(ctx, &text);

    ngx_http_run_posted_requests(c);
}


/*
 * Fires every "agentcore_heartbeat" while the stream is on; a comment
 * leaves only if nothing did for that long (ctx->last_output, set by
 * every event passed down), else the timer is set for what is left.
 * Not while the socket holds output back: the client is not reading.
 */

static void
ngx_http_agentcore_heartbeat_handler(ngx_event_t *ev)
{
    ngx_msec_t                 idle, every;
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;
    every = ctx->conf->heartbeat;

    if (ctx->finished || c->error) {
        return;
    }

    idle = ngx_current_msec - ctx->last_output;

    if (idle < every) {
        ngx_add_timer(ev, every - idle);
        return;
    }

    if (c->buffered) {
        ngx_add_timer(ev, every);
        return;
    }

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "agentcore heartbeat");

    if (ngx_http_agentcore_sse_heartbeat(ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    if (c->buffered && ngx_http_agentcore_sse_blocked(ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        ngx_http_run_posted_requests(c);
        return;
    }

    ngx_add_timer(ev, every);

    ngx_http_run_posted_requests(c);
}


/* a configured time as written back: "30s", "1500ms" */

static u_char *
ngx_http_agentcore_msec_text(u_char *p, u_char *last, ngx_msec_t ms)
{
    if (ms && ms % 1000 == 0) {
        return ngx_slprintf(p, last, "%Ms", ms / 1000);
    }

    return ngx_slprintf(p, last, "%Mms", ms);
}
