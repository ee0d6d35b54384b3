
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The invocation: POST /invocations reads the JSON payload, opens the
 * SSE stream and drives the agent loop, one step per wake-up of the
 * main request's write handler.  All state lives in one ctx.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_json.h"
#include "ngx_http_agentcore_reference.h"
#include "ngx_http_agentcore_history.h"
#include "ngx_http_agentcore_content.h"
#include "ngx_http_agentcore_session.h"
#include "ngx_http_agentcore_history.h"

#if (NGX_DEBUG && NGX_LINUX)
#include <malloc.h>
#endif


static void ngx_http_agentcore_body_handler(ngx_http_request_t *r);
static u_char *ngx_http_agentcore_read_body(ngx_http_request_t *r,
    size_t *len);
static ngx_int_t ngx_http_agentcore_prompt_blocks(ngx_http_request_t *r,
    json_t *payload);
static uint32_t ngx_http_agentcore_lone_surrogate(json_t *text,
    size_t *pos);
static void ngx_http_agentcore_write_handler(ngx_http_request_t *r);
static void ngx_http_agentcore_step(ngx_http_agentcore_ctx_t *ctx);
static void ngx_http_agentcore_model_next(ngx_http_agentcore_ctx_t *ctx);
static void ngx_http_agentcore_retry_handler(ngx_event_t *ev);
static void ngx_http_agentcore_model_refit(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *overflow);
static ngx_uint_t ngx_http_agentcore_overflow(ngx_str_t *error);
static ngx_int_t ngx_http_agentcore_model_outcome(
    ngx_http_agentcore_ctx_t *ctx, ngx_str_t *error);
static void ngx_http_agentcore_cleanup(void *data);
#if (NGX_DEBUG && NGX_LINUX)
static size_t ngx_http_agentcore_pool_bytes(ngx_pool_t *pool);
#endif


static ngx_str_t  ngx_http_agentcore_start_error =
    ngx_string("Could not start the model call (see the error log)");

static ngx_str_t  ngx_http_agentcore_creds_error =
    ngx_string("No AWS credentials to call the model (see the error log)");

static ngx_str_t  ngx_http_agentcore_internal_error =
    ngx_string("Internal error in the agent (see the error log)");

static ngx_str_t  ngx_http_agentcore_max_tokens_error =
    ngx_string(AC_REF_MAX_TOKENS);


ngx_int_t
ngx_http_agentcore_handler(ngx_http_request_t *r)
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

    /*
     * set by ngx_pcalloc():
     *
     *     ctx->messages = NULL;
     *     ctx->turn = NULL;
     *     ctx->stream = NULL;
     *     ctx->free = ctx->busy = NULL;
     */

    ctx->request = r;
    ctx->conf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);
    ctx->busy_last = &ctx->busy;
    ctx->pending_last = &ctx->pending;

    ctx->flush_event.handler = ngx_http_agentcore_sse_flush_handler;
    ctx->flush_event.data = ctx;
    ctx->flush_event.log = r->connection->log;

    ctx->retry_event.handler = ngx_http_agentcore_retry_handler;
    ctx->retry_event.data = ctx;
    ctx->retry_event.log = r->connection->log;

    ngx_http_agentcore_timeout_init(ctx);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_agentcore_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_agentcore_module);

    if (ngx_http_agentcore_request_id_start(ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_agentcore_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_agentcore_body_handler(ngx_http_request_t *r)
{
    u_char                    *body, *details, *p;
    size_t                     len, pos;
    json_t                    *payload, *prompt;
    uint32_t                   cp;
    u_char                     enc[160];
    time_t                     retry_after;
    ngx_int_t                  rc;
    ngx_str_t                  error;
    ac_json_error_t            err;
    ngx_http_agentcore_ctx_t  *ctx;

    ngx_http_agentcore_credentials_t  *cr;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    /* this handler runs again while credentials are fetched: parse once */

    if (ctx->payload) {
        goto parsed;
    }

    body = ngx_http_agentcore_read_body(r, &len);
    if (body == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    payload = ac_json_parse_payload(body, len, &err);

    /* a large body goes back to the allocator now */
    ngx_pfree(r->pool, body);

    if (payload == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "agentcore: %s: %s", err.error, err.details);

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                                         err.error, err.details));
        return;
    }

    prompt = json_is_object(payload) ? json_object_get(payload, "prompt")
                                     : NULL;

    if (json_is_array(prompt)) {
        /* content blocks: checked, and rewritten as Bedrock takes them */

        if (ngx_http_agentcore_prompt_blocks(r, payload) != NGX_OK) {
            json_decref(payload);
            return;
        }

        ctx->payload = payload;
        goto parsed;
    }

    if (!json_is_string(prompt)) {
        json_decref(payload);

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                "Invalid payload",
                "expected a JSON object with a \"prompt\" that is a "
                "string or a list of content blocks"));
        return;
    }

    /*
     * A lone surrogate ("\ud800", or the bytes ED A0 80) passes json.loads
     * as in the reference, but it is not Unicode text: the model takes
     * UTF-8.  Refused now, before it streams or enters a session.
     */

    cp = ngx_http_agentcore_lone_surrogate(prompt, &pos);

    if (cp) {
        json_decref(payload);

        (void) ngx_snprintf(enc, sizeof(enc),
                            "'utf-8' codec can't encode character "
                            "'\\u%04xd' in position %uz: surrogates not "
                            "allowed (a lone surrogate in \"prompt\")%Z",
                            cp, pos);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "agentcore: Invalid encoding: %s", enc);

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                                         "Invalid encoding",
                                         (char *) enc));
        return;
    }

    ctx->payload = payload;     /* freed by the request's cleanup */

parsed:

    /* agentcore_invocation_timeout counts from here (once) */
    ngx_http_agentcore_deadline_start(ctx);

    prompt = json_object_get(ctx->payload, "prompt");

    /*
     * AWS credentials sign Bedrock's requests and AgentCore Memory's
     * (agentcore_provider, agentcore_memory)
     */

    rc = (ctx->conf->provider == AC_PROVIDER_BEDROCK
          || ctx->conf->memory != NULL)
         ? ngx_http_agentcore_credentials(ctx, &cr) : NGX_OK;

    if (rc == NGX_AGAIN) {
        /* none yet: this handler runs again when the fetch ends */
        r->write_event_handler = ngx_http_agentcore_body_handler;
        r->read_event_handler = ngx_http_test_reading;
        return;
    }

    if (rc != NGX_OK) {
        /* the sources asked, by name: the causes are in the error log */

        details = ngx_pnalloc(r->pool, 384);
        if (details == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = ngx_cpymem(details, "the server has no credentials to call "
                       "the model; tried: ",
                       sizeof("the server has no credentials to call "
                              "the model; tried: ") - 1);

        ngx_http_agentcore_credentials_tried(ctx, p, 200);

        p += ngx_strlen(p);
        ngx_memcpy(p, " (the causes are in the error log)",
                   sizeof(" (the causes are in the error log)"));

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r,
                NGX_HTTP_INTERNAL_SERVER_ERROR,
                "No AWS credentials", (char *) details));
        return;
    }

    /* agentcore_token_limit: refused before the stream, a 429 */

    rc = ngx_http_agentcore_token_limit_check(ctx, &error, &retry_after);

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_http_finalize_request(r,
            ngx_http_agentcore_token_limit_refuse(ctx, &error, retry_after));
        return;
    }

    /* the session's history (or none), repaired, and the user turn */

    rc = ngx_http_agentcore_session_start(ctx, prompt, &error);

    if (rc == NGX_HTTP_BAD_REQUEST) {
        /* an ngx_str_t: the JSON writer wants a C string */

        details = ngx_pnalloc(r->pool, error.len + 1);
        if (details == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(details, error.data, error.len);
        details[error.len] = '\0';

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                                         "Invalid session id",
                                         (char *) details));
        return;
    }

    if (rc == NGX_ERROR) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * from here on every outcome is an SSE event, or with a JSON answer
     * (agentcore_response) a part of the one response sent at the end
     */

    ctx->json = ngx_http_agentcore_answer_wanted(r, ctx->conf);

    if (!ctx->json && ngx_http_agentcore_sse_start(ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    ctx->streaming = 1;

    if (!ctx->json) {
        /* a JSON answer is one body at the end: nothing to keep alive */
        ngx_http_agentcore_heartbeat_start(ctx);
    }

    r->write_event_handler = ngx_http_agentcore_write_handler;
    r->read_event_handler = ngx_http_test_reading;

    if (rc != NGX_OK) {
        /* the session is busy, or no room for it */
        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    /* agentcore_memory: the history is read first */

    rc = ngx_http_agentcore_memory_load(ctx);

    if (rc == NGX_ERROR) {
        ngx_str_set(&error, "The session history cannot be read from "
                    "AgentCore Memory (internal error)");
        ctx->keep_history = 1;
        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_http_agentcore_turn_start(ctx);
}


/* the history is ready: the first model call */

void
ngx_http_agentcore_turn_start(ngx_http_agentcore_ctx_t *ctx)
{
    /* the user message that holds the prompt */
    ctx->turn_start = json_array_size(ctx->messages) - 1;

    ngx_http_agentcore_model_next(ctx);
}


/*
 * A prompt of content blocks (ngx_http_agentcore_content.h): replaced
 * in the payload by the blocks sent to Bedrock, or a 400 naming the
 * block and the problem
 */

static ngx_int_t
ngx_http_agentcore_prompt_blocks(ngx_http_request_t *r, json_t *payload)
{
    char                       err[512];
    size_t                     i;
    json_t                    *blocks, *b;
    const char                *key;
    ngx_http_agentcore_ctx_t  *ctx;

    blocks = ac_content_prompt(json_object_get(payload, "prompt"), err,
                               sizeof(err));

    if (blocks == NULL && err[0] == '\0') {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    if (blocks == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "agentcore: Invalid prompt: %s", err);

        ngx_http_finalize_request(r,
            ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                                         "Invalid prompt", err));
        return NGX_ERROR;
    }

    /*
     * the other providers' request builders send text only: an image,
     * a document or a video would be dropped, and the model would
     * answer without it
     */

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx->conf->provider != AC_PROVIDER_BEDROCK) {

        json_array_foreach(blocks, i, b) {
            if (json_object_get(b, "text") != NULL) {
                continue;
            }

            key = json_object_iter_key(json_object_iter(b));

            ngx_snprintf((u_char *) err, sizeof(err),
                         "prompt[%uz] (%s): agentcore_provider %s sends "
                         "text blocks only%Z", i,
                         key ? key : "?",
                         ac_provider(ctx->conf->provider)->name);

            json_decref(blocks);

            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "agentcore: Invalid prompt: %s", err);

            ngx_http_finalize_request(r,
                ngx_http_agentcore_send_json(r, NGX_HTTP_BAD_REQUEST,
                                             "Invalid prompt", err));
            return NGX_ERROR;
        }
    }

    if (json_object_set_new(payload, "prompt", blocks) != 0) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The payload parser keeps a lone surrogate as CPython does, as the
 * 3 bytes ED A0..BF xx (everything else in a string is valid UTF-8).
 * Returns its code point and its position in code points, or 0.
 */

static uint32_t
ngx_http_agentcore_lone_surrogate(json_t *text, size_t *pos)
{
    u_char  *p, *end;
    size_t   n;

    p = (u_char *) json_string_value(text);
    end = p + json_string_length(text);

    for (n = 0; p < end; p++) {

        if ((*p & 0xc0) == 0x80) {
            continue;
        }

        if (*p == 0xed && end - p >= 3 && p[1] >= 0xa0) {
            *pos = n;
            return 0xd000 | ((p[1] & 0x3f) << 6) | (p[2] & 0x3f);
        }

        n++;
    }

    return 0;
}


/* the whole body in one contiguous block, from memory or the temp file */

static u_char *
ngx_http_agentcore_read_body(ngx_http_request_t *r, size_t *len)
{
    u_char       *p, *body;
    off_t         size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    size = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            size += ngx_buf_size(cl->buf);
        }
    }

    *len = (size_t) size;

    body = ngx_pnalloc(r->pool, (size_t) size + 1);
    if (body == NULL || size == 0) {
        return body;
    }

    p = body;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                              b->file_pos);

            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "agentcore: short read of the request body "
                              "from \"%V\"", &b->file->name);
                return NULL;
            }

            p += n;
            continue;
        }

        if (b->last != b->pos) {
            /* not an empty buffer (b->pos NULL, the body's last) */
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    return body;
}


static void
ngx_http_agentcore_write_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_event_t               *wev;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_agentcore_ctx_t  *ctx;

    c = r->connection;
    wev = c->write;
    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "client timed out");
        c->timedout = 1;
        ngx_http_finalize_request(r, NGX_HTTP_REQUEST_TIME_OUT);
        return;
    }

    if (r->buffered || c->buffered || r->postponed) {
        rc = ngx_http_output_filter(r, NULL);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (c->buffered) {
            if (!wev->delayed) {
                ngx_add_timer(wev, clcf->send_timeout);
            }

            if (ngx_handle_write_event(wev, clcf->send_lowat) != NGX_OK) {
                ngx_http_finalize_request(r, NGX_ERROR);
                return;
            }

        } else if (wev->timer_set) {
            ngx_del_timer(wev);
        }
    }

    /* backpressure: the socket took everything, the model stream goes on */

    if (ctx->model_held && !c->buffered) {
        ngx_http_agentcore_model_resume(ctx);
    }

    if (!ctx->finished) {
        ngx_http_agentcore_step(ctx);
    }
}


/*
 * The loop: a model call ended, or the last tool call did.  Decide what
 * comes next: tools, another model call, or the end of the stream.
 */

static void
ngx_http_agentcore_step(ngx_http_agentcore_ctx_t *ctx)
{
    json_t     *message;
    time_t      retry_after;
    ngx_int_t   rc;
    ngx_str_t   error;
    const char *reason;

    if (ctx->creds_waiting) {
        ngx_http_agentcore_model_next(ctx);
        return;
    }

    if (ctx->tools_running) {
        if (ctx->tools_pending) {
            return;
        }

        goto tools_done;
    }

    if (!ctx->model_done) {
        return;
    }

    ctx->model_done = 0;

    if (ctx->model_max_body) {
        ngx_http_agentcore_model_refit(ctx, NULL);
        return;
    }

    if (ngx_http_agentcore_retry(ctx) == NGX_AGAIN) {
        /* the wait is on: ngx_http_agentcore_retry_handler() goes on */
        return;
    }

    if (ngx_http_agentcore_model_outcome(ctx, &error) != NGX_OK) {

        if (ngx_http_agentcore_overflow(&error)) {
            ngx_http_agentcore_model_refit(ctx, &error);
            return;
        }

        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    reason = ac_turn_stop_reason(ctx->turn);

    if (ac_turn_tool_uses(ctx->turn) == 0
        || (ngx_strcmp(reason, "tool_use") != 0
            && ngx_strcmp(reason, "end_turn") != 0))
    {
        ngx_http_agentcore_finish(ctx, NULL);
        return;
    }

    /* retries are model calls, not cycles of the loop */

    if (ctx->cycles - ctx->stats.retries >= ctx->conf->max_cycles) {
        error.data = ngx_pnalloc(ctx->request->pool, 128);
        if (error.data == NULL) {
            ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_internal_error);
            return;
        }

        error.len = ngx_sprintf(error.data,
                                "The agent stopped after %ui model calls "
                                "(agentcore_max_cycles)", ctx->cycles)
                    - error.data;

        ngx_http_agentcore_finish(ctx, &error);
        return;
    }

    /*
     * agentcore_token_limit before the next model call: checked before
     * its tools run, as agentcore_max_cycles, so that the session keeps
     * the history it keeps for that stop
     */

    rc = ngx_http_agentcore_token_limit_check(ctx, &error, &retry_after);

    if (rc == NGX_DECLINED) {
        ngx_str_set(&ctx->stats.error_type, "token_limit");
    }

    if (rc != NGX_OK) {
        ngx_http_agentcore_finish(ctx, (rc == NGX_DECLINED)
                                       ? &error
                                       : &ngx_http_agentcore_internal_error);
        return;
    }

    message = json_array_get(ctx->messages,
                             json_array_size(ctx->messages) - 1);

    ctx->tools_running = 1;

    rc = ngx_http_agentcore_tools_run(ctx, message);

    if (rc == NGX_ERROR) {
        ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_internal_error);
        return;
    }

    if (rc == NGX_AGAIN) {
        ngx_http_agentcore_tool_timer_start(ctx);
        return;
    }

tools_done:

    ctx->tools_running = 0;

    if (ctx->tool_event.timer_set) {
        ngx_del_timer(&ctx->tool_event);
    }

    message = ngx_http_agentcore_tools_message(ctx);

    if (message == NULL
        || json_array_append_new(ctx->messages, message) != 0)
    {
        ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_start_error);
        return;
    }

    ngx_http_agentcore_model_next(ctx);
}


/* the next model call, now or once there are credentials */

static void
ngx_http_agentcore_model_next(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_agentcore_model_start(ctx);

    ctx->creds_waiting = (rc == NGX_AGAIN);

    if (rc == NGX_DECLINED) {
        ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_creds_error);

    } else if (rc != NGX_OK && rc != NGX_AGAIN) {
        ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_start_error);
    }
}


/* the wait before a retry is over: the same model call again */

static void
ngx_http_agentcore_retry_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "agentcore: model call retried");

    ngx_http_agentcore_model_next(ctx);

    ngx_http_run_posted_requests(c);
}


/*
 * The model location refused the request for its size (its
 * client_max_body_size): nothing reached the model.  As Strands recovers
 * from a context overflow, the oldest messages go, the cut falling on a
 * user message, until the request fits; then the call starts again.  The
 * turn in progress is never cut: if it does not fit on its own, the
 * invocation ends with a stream_error and the session keeps the history
 * it had (this turn is not stored), so that the next prompt still works.
 */

static void
ngx_http_agentcore_model_refit(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *overflow)
{
    char                *s;
    off_t                size, limit;
    size_t               len;
    ngx_str_t            error;
    ngx_uint_t           i, cut, removed;
    ngx_http_request_t  *r;

    r = ctx->request;
    size = ctx->model_sr->headers_in.content_length_n;
    removed = 0;

    /* a JSON answer drops the text of the call made again */
    ctx->answer_len = ctx->answer_mark;

    if (overflow) {
        /* Bedrock's context overflow: one cut, at least */
        limit = size - 1;

    } else {
        limit = ctx->model_max_body;
        ctx->model_max_body = 0;

        /* the refused call reached no model: it is not one of the cycles */
        ctx->cycles--;
    }

    while (size > limit) {
        cut = ac_history_cut_point(ctx->messages, ctx->turn_start);

        if (cut == 0) {
            goto too_large;
        }

        for (i = 0; i < cut; i++) {
            /* the request loses the message and the comma after it */

            s = ac_json_dumps_jansson(json_array_get(ctx->messages, 0), &len);
            if (s == NULL) {
                ngx_http_agentcore_finish(ctx,
                                          &ngx_http_agentcore_internal_error);
                return;
            }

            free(s);

            json_array_remove(ctx->messages, 0);
            size -= len + 1;
        }

        ctx->turn_start -= cut;
        removed += cut;
    }

    if (overflow) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "agentcore: the model's context overflowed (\"%V\"): "
                      "the %ui oldest messages of the history are left out",
                      overflow, removed);

    } else {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "agentcore: the model request is larger than "
                      "client_max_body_size (%O) of \"%V\": the %ui oldest "
                      "messages of the history are left out",
                      limit, &ctx->conf->model_location, removed);
    }

    ngx_http_agentcore_model_next(ctx);
    return;

too_large:

    /* the session keeps what it had: this prompt is not stored */
    ctx->keep_history = 1;
    ngx_str_set(&ctx->stats.error_type, "request_too_large");

    if (overflow) {
        ngx_http_agentcore_finish(ctx, overflow);
        return;
    }

    error.data = ngx_pnalloc(r->pool, 512);
    if (error.data == NULL) {
        ngx_http_agentcore_finish(ctx, &ngx_http_agentcore_internal_error);
        return;
    }

    error.len = ngx_snprintf(error.data, 512,
                             "The model request (%O bytes) is larger than "
                             "client_max_body_size (%O) of the model "
                             "location \"%V\", even without the older "
                             "history: this prompt is not kept in the "
                             "session", size, limit,
                             &ctx->conf->model_location)
                - error.data;

    ngx_http_agentcore_finish(ctx, &error);
}


/*
 * The messages by which Strands recognizes a context overflow
 * (ContextWindowOverflowException, runtime-contract.md 8.5; the table
 * of reference texts)
 */

static ngx_uint_t
ngx_http_agentcore_overflow(ngx_str_t *error)
{
    ngx_uint_t  i;

    static char  *messages[] = {
        AC_REF_OVERFLOW_1,
        AC_REF_OVERFLOW_2,
        AC_REF_OVERFLOW_3,
        AC_REF_OVERFLOW_4,
        AC_REF_OVERFLOW_5,
        NULL
    };

    for (i = 0; messages[i]; i++) {
        if (ngx_strnstr(error->data, messages[i], error->len)) {
            return 1;
        }
    }

    return 0;
}


/*
 * Folds the finished call into the invocation: usage, stop reason, the
 * assistant message; or the text of the stream_error that ends it.
 */

static ngx_int_t
ngx_http_agentcore_model_outcome(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error)
{
    u_char            *p;
    size_t             len;
    json_t            *message;
    const char        *reason, *text;
    ngx_pool_t        *pool;
    const ac_usage_t  *u;

    pool = ctx->request->pool;

    if (ac_turn_has_metadata(ctx->turn)) {
        ctx->usage_seen = 1;
    }

    u = ac_turn_usage(ctx->turn);
    ctx->usage.input_tokens += u->input_tokens;
    ctx->usage.output_tokens += u->output_tokens;
    ctx->usage.total_tokens += u->total_tokens;
    ctx->usage.cache_read_input_tokens += u->cache_read_input_tokens;
    ctx->usage.cache_write_input_tokens += u->cache_write_input_tokens;
    ctx->usage.latency_ms += u->latency_ms;

    /* the call that ended (a retried attempt never gets here) */
    ngx_http_agentcore_token_limit_charge(ctx, u);

    text = NULL;
    p = NULL;
    len = 0;

    if (ctx->model_status == 0) {
        p = ngx_pnalloc(pool, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_snprintf(p, 128,
                           (ctx->model_rc == NGX_HTTP_GATEWAY_TIME_OUT)
                           ? "The model endpoint timed out (HTTP %i)"
                           : "The model call failed (HTTP %i from the model "
                             "location)",
                           ctx->model_rc)
              - p;

    } else if (ctx->model_status != NGX_HTTP_OK) {
        p = ngx_pnalloc(pool, 1024);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ctx->provider->http_error((int) ctx->model_status,
                                        (const char *) ctx->error_type.data,
                                        ctx->error_type.len,
                                        ctx->error_body, ctx->error_body_len,
                                        (char *) p, 1024);

    } else if (ctx->stream_error) {
        p = ngx_pnalloc(pool, 256);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_snprintf(p, 256, "The model stream is corrupt: %s",
                           ctx->stream_error)
              - p;

    } else if (ctx->answer_too_large) {
        ngx_str_set(&ctx->stats.error_type, "response_too_large");

        p = ngx_pnalloc(pool, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        len = ngx_snprintf(p, 128, "The answer is larger than "
                           "agentcore_response_max_size (%uz bytes)",
                           ctx->conf->response_max_size)
              - p;

    } else if ((text = ac_turn_error(ctx->turn)) != NULL) {
        /* an exception or error frame */

    } else if (!ac_turn_stopped(ctx->turn)) {
        text = (ctx->stream && ctx->provider->stream_pending(ctx->stream))
               ? "The model stream ended in the middle of a message "
                 "(connection closed or timed out)"
               : "The model stream ended before the model finished "
                 "(connection closed or timed out)";

    } else {
        reason = ac_turn_stop_reason(ctx->turn);

        ctx->stop_reason.len = ngx_strlen(reason);
        ctx->stop_reason.data = ngx_pnalloc(pool, ctx->stop_reason.len);
        if (ctx->stop_reason.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->stop_reason.data, reason, ctx->stop_reason.len);

        message = ac_turn_message(ctx->turn);

        /* cut by max_tokens: its toolUse blocks kept as Strands keeps them */
        if (message && ngx_strcmp(reason, "max_tokens") == 0
            && ac_history_max_tokens(message) < 0)
        {
            json_decref(message);
            message = NULL;
        }

        if (message == NULL || json_array_append_new(ctx->messages, message)) {
            return NGX_ERROR;
        }

        if (ngx_strcmp(reason, "max_tokens") == 0) {
            *error = ngx_http_agentcore_max_tokens_error;
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

    if (text) {
        p = (u_char *) text;
        len = ngx_strlen(text);
    }

    error->data = ngx_pnalloc(pool, len);
    if (error->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(error->data, p, len);
    error->len = len;

    return NGX_DECLINED;
}


/* ends the stream: an optional stream_error, then the last chunk */

void
ngx_http_agentcore_finish(ngx_http_agentcore_ctx_t *ctx, ngx_str_t *error)
{
    ngx_int_t            rc;
    ngx_str_t            session_error;
    ngx_http_request_t  *r;

    r = ctx->request;

    if (ctx->finished) {
        return;
    }

    /* agentcore_memory: the turn is written before the stream ends */

    if (ngx_http_agentcore_memory_save(ctx, error) == NGX_AGAIN) {
        return;
    }

    ctx->finished = 1;

    ngx_http_agentcore_timers_stop(ctx);

    /* the history is stored and the session free before the stream ends */

    if (ngx_http_agentcore_session_end(ctx, &session_error) != NGX_OK
        && error == NULL)
    {
        error = &session_error;
    }

    if (error) {
        ctx->error = *error;

        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "agentcore: stream_error: \"%V\"", error);
    }

    if (ctx->json) {
        ngx_http_finalize_request(r, ngx_http_agentcore_answer_send(ctx,
                                                                    error));
        return;
    }

    if (error) {
        if (ngx_http_agentcore_sse_error(ctx, error) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
            return;
        }
    }

#if (NGX_DEBUG && NGX_LINUX)
    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore invocation done: %ui model calls, "
                   "request pool %uz bytes",
                   ctx->cycles, ngx_http_agentcore_pool_bytes(r->pool));
#endif

    /* the last chunk leaves with whatever events are still held */

    ctx->unflushed = 0;

    if (ngx_http_agentcore_sse_pending(ctx) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return;
    }

    rc = ngx_http_send_special(r, NGX_HTTP_LAST);

    ngx_http_finalize_request(r, rc);
}


#if (NGX_DEBUG && NGX_LINUX)

/* what the request pool holds: its blocks and its large allocations */

static size_t
ngx_http_agentcore_pool_bytes(ngx_pool_t *pool)
{
    size_t             size;
    ngx_pool_t        *p;
    ngx_pool_large_t  *l;

    size = 0;

    for (p = pool; p; p = p->d.next) {
        size += p->d.end - (u_char *) p;
    }

    for (l = pool->large; l; l = l->next) {
        if (l->alloc) {
            size += malloc_usable_size(l->alloc);
        }
    }

    return size;
}

#endif


static void
ngx_http_agentcore_cleanup(void *data)
{
    ngx_http_agentcore_ctx_t *ctx = data;

    if (ctx->flush_event.posted) {
        ngx_delete_posted_event(&ctx->flush_event);
    }

    ngx_http_agentcore_timers_stop(ctx);

    if (ctx->retry_event.timer_set) {
        ngx_del_timer(&ctx->retry_event);

        ngx_log_error(NGX_LOG_INFO, ctx->retry_event.log, 0,
                      "agentcore: the request ended during the wait before "
                      "a model call retry: the retry is cancelled");
    }

    if (ctx->turn) {
        ac_turn_destroy(ctx->turn);
        ctx->turn = NULL;
    }

    if (ctx->stream) {
        ctx->provider->stream_destroy(ctx->stream);
        ctx->stream = NULL;
    }

    if (ctx->messages) {
        json_decref(ctx->messages);
        ctx->messages = NULL;
    }

    if (ctx->payload) {
        json_decref(ctx->payload);
        ctx->payload = NULL;
    }
}
