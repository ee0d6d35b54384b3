
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Server-Sent Events through nginx's output filter chain, byte for
 * byte as the AgentCore runtime writes them: one event, one chunk;
 * the events of one turn of the event loop leave in one flushed write
 * (with the last chunk when the stream ends in that turn).  Also the
 * JSON error responses sent before streaming.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_json.h"


#define NGX_HTTP_AGENTCORE_SSE_BUF   256


static ngx_int_t ngx_http_agentcore_add_header(ngx_http_request_t *r,
    ngx_str_t *key, ngx_str_t *value);


static ngx_str_t  ngx_http_agentcore_sse_type =
    ngx_string("text/event-stream; charset=utf-8");
static ngx_str_t  ngx_http_agentcore_json_type =
    ngx_string("application/json");


ngx_int_t
ngx_http_agentcore_sse_start(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_int_t            rc;
    ngx_http_request_t  *r;

    static ngx_str_t  accel = ngx_string("X-Accel-Buffering");
    static ngx_str_t  no = ngx_string("no");
    static ngx_str_t  cache = ngx_string("Cache-Control");
    static ngx_str_t  no_cache = ngx_string("no-cache");

    r = ctx->request;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_agentcore_sse_type;
    r->headers_out.content_type_len = ngx_http_agentcore_sse_type.len;
    r->headers_out.content_type_lowcase = NULL;

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    if (ngx_http_agentcore_add_header(r, &accel, &no) != NGX_OK
        || ngx_http_agentcore_add_header(r, &cache, &no_cache) != NGX_OK)
    {
        return NGX_ERROR;
    }

#if (NGX_HTTP_GZIP)
    /* gzip would hold deltas back: never compress the stream */
    r->gzip_tested = 1;
    r->gzip_ok = 0;
#endif

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->conf->sse_coalesce) {
        /* the head waits in the write filter for the first events */
        return NGX_OK;
    }

    /* the head leaves now, before the first event, with no body bytes */
    return ngx_http_send_special(r, NGX_HTTP_FLUSH);
}


static ngx_buf_t *
ngx_http_agentcore_sse_buf(ngx_http_agentcore_ctx_t *ctx, size_t size,
    ngx_chain_t **out)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    /*
     * the buffers the write filter is done with, oldest first, become
     * free: the walk stops at the first one still held, so it is short
     * until a write, and each buffer is walked over once
     */

    while (ctx->free == NULL && ctx->busy
           && ngx_buf_size(ctx->busy->buf) == 0)
    {
        cl = ctx->busy;
        ctx->busy = cl->next;
        cl->next = ctx->free;
        ctx->free = cl;
    }

    if (ctx->busy == NULL) {
        ctx->busy_last = &ctx->busy;
    }

    cl = ngx_chain_get_free_buf(ctx->request->pool, &ctx->free);
    if (cl == NULL) {
        return NULL;
    }

    b = cl->buf;

    if (b->start == NULL || (size_t) (b->end - b->start) < size) {

        if (b->start) {
            /* frees it if it was a large allocation */
            ngx_pfree(ctx->request->pool, b->start);
        }

        size = ngx_max(size, NGX_HTTP_AGENTCORE_SSE_BUF);

        b->start = ngx_palloc(ctx->request->pool, size);
        if (b->start == NULL) {
            return NULL;
        }

        b->end = b->start + size;
    }

    b->pos = b->start;
    b->last = b->start;
    b->memory = 1;
    b->temporary = 1;
    b->flush = 0;
    b->tag = (ngx_buf_tag_t) &ngx_http_agentcore_module;

    *out = cl;

    return b;
}


static ngx_int_t
ngx_http_agentcore_sse_send(ngx_http_agentcore_ctx_t *ctx, ngx_chain_t *out)
{
    ngx_int_t     rc;
    ngx_chain_t  *next;

    rc = ngx_http_output_filter(ctx->request, out);

    /* agentcore_heartbeat counts from here */
    ctx->last_output = ngx_current_msec;

    /*
     * our links join the busy list at its tail, one by one (unlike
     * ngx_chain_update_chains(), which walks the whole list to append,
     * for every event while a long read's events wait for the flush);
     * the filters keep none of them: the copy filter takes its own links
     * for a chain of several buffers
     */

    for ( /* void */ ; out; out = next) {
        next = out->next;
        out->next = NULL;

        *ctx->busy_last = out;
        ctx->busy_last = &out->next;
    }

    return (rc == NGX_ERROR) ? NGX_ERROR : NGX_OK;
}


/*
 * One text delta: data: "<json string>"\n\n as its own chunk.  It is
 * passed down at once; the write filter holds it until the flush that
 * ends the upstream read it came from.
 */

ngx_int_t
ngx_http_agentcore_sse_text(ngx_http_agentcore_ctx_t *ctx, const u_char *text,
    size_t len)
{
    size_t                     size;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_core_loc_conf_t  *clcf;

    size = ac_sse_text_event(NULL, text, len);

    b = ngx_http_agentcore_sse_buf(ctx, size, &cl);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last += ac_sse_text_event(b->pos, text, len);

    ctx->unflushed = 1;

    if (ctx->conf->sse_coalesce) {
        /*
         * passed down together, as one chunk, when the turn is flushed,
         * or at once past postpone_output bytes: the write filter then
         * sends them anyway, and a burst of a long answer keeps reusing
         * a few buffers instead of holding all of them
         */

        *ctx->pending_last = cl;
        ctx->pending_last = &cl->next;
        ctx->npending++;
        ctx->pending_size += b->last - b->pos;

        clcf = ngx_http_get_module_loc_conf(ctx->request,
                                            ngx_http_core_module);

        if (ctx->pending_size >= clcf->postpone_output) {
            return ngx_http_agentcore_sse_pending(ctx);
        }

        return NGX_OK;
    }

    return ngx_http_agentcore_sse_send(ctx, cl);
}


ngx_int_t
ngx_http_agentcore_sse_error(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *message)
{
    size_t        size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    static u_char  head[] = "data: {\"error\": \"";
    static u_char  tail[] = "\", \"type\": \"stream_error\"}\n\n";

    size = sizeof(head) - 1
           + ac_json_escape(NULL, message->data, message->len)
           + sizeof(tail) - 1;

    b = ngx_http_agentcore_sse_buf(ctx, size, &cl);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, head, sizeof(head) - 1);
    b->last += ac_json_escape(b->last, message->data, message->len);
    b->last = ngx_cpymem(b->last, tail, sizeof(tail) - 1);
    b->flush = 1;

    ctx->unflushed = 0;

    if (ngx_http_agentcore_sse_pending(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_agentcore_sse_send(ctx, cl);
}


/*
 * agentcore_heartbeat: an SSE comment line and the blank line after it,
 * which EventSource, the runtime's clients and proxies take as data
 * without an event; flushed at once, after anything held
 */

ngx_int_t
ngx_http_agentcore_sse_heartbeat(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    static u_char  comment[] = ": keep-alive\n\n";

    b = ngx_http_agentcore_sse_buf(ctx, sizeof(comment) - 1, &cl);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_cpymem(b->last, comment, sizeof(comment) - 1);
    b->flush = 1;

    if (ngx_http_agentcore_sse_pending(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_agentcore_sse_send(ctx, cl);
}


ngx_int_t
ngx_http_agentcore_sse_flush(ngx_http_agentcore_ctx_t *ctx)
{
    if (!ctx->unflushed) {
        return NGX_OK;
    }

    ctx->unflushed = 0;

    if (ngx_http_agentcore_sse_pending(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    return (ngx_http_send_special(ctx->request, NGX_HTTP_FLUSH) == NGX_ERROR)
           ? NGX_ERROR : NGX_OK;
}


/*
 * agentcore_sse_coalesce: the events held for this turn, in one call of
 * the output filters, so in one chunk
 */

ngx_int_t
ngx_http_agentcore_sse_pending(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_chain_t  *cl;

    if (ctx->pending == NULL) {
        return NGX_OK;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "agentcore sse: %ui events in one chunk", ctx->npending);

    cl = ctx->pending;

    ctx->pending = NULL;
    ctx->pending_last = &ctx->pending;
    ctx->npending = 0;
    ctx->pending_size = 0;

    return ngx_http_agentcore_sse_send(ctx, cl);
}


/*
 * The flush of what this turn of the event loop produced, posted: it
 * runs after the events of the turn (all the reads of an upstream
 * handler, a stream's end, a tool's result) have added theirs, so they
 * share one write.  The request's cleanup unposts it.
 */

void
ngx_http_agentcore_sse_flush_later(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->unflushed && !ctx->flush_event.posted) {
        ngx_post_event(&ctx->flush_event, &ngx_posted_events);
    }
}


void
ngx_http_agentcore_sse_flush_handler(ngx_event_t *ev)
{
    ngx_connection_t          *c;
    ngx_http_request_t        *r;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    if (ctx->finished || c->error) {
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "agentcore flush");

    if (ngx_http_agentcore_sse_flush(ctx) != NGX_OK) {
        /* the model call in flight stops at its next read */
        c->error = 1;

    } else if (c->buffered) {
        /* the socket is full: the write handler sends the rest */

        if (ngx_http_agentcore_sse_blocked(ctx) != NGX_OK) {
            c->error = 1;
        }

    } else if (ctx->model_held) {
        ngx_http_agentcore_model_resume(ctx);
    }

    ngx_http_run_posted_requests(c);
}


/*
 * Output the client's socket would not take: its write event brings the
 * main request's write handler back when it can take more, and
 * send_timeout ends the invocation if it takes nothing for that long.
 */

ngx_int_t
ngx_http_agentcore_sse_blocked(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_event_t               *wev;
    ngx_http_request_t        *r;
    ngx_http_core_loc_conf_t  *clcf;

    r = ctx->request;
    wev = r->connection->write;
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (!wev->delayed && !wev->timer_set) {
        ngx_add_timer(wev, clcf->send_timeout);
    }

    return ngx_handle_write_event(wev, clcf->send_lowat);
}


/*
 * An error before streaming, shaped as Starlette's JSONResponse:
 * compact {"error":"...","details":"..."}.
 */

ngx_int_t
ngx_http_agentcore_send_json(ngx_http_request_t *r, ngx_uint_t status,
    const char *error, const char *details)
{
    char       *json;
    size_t      len;
    json_t     *obj;
    ngx_buf_t  *b;

    obj = json_object();
    if (obj == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (json_object_set_new(obj, "error", json_string(error)) != 0
        || (details
            && json_object_set_new(obj, "details", json_string(details))
               != 0))
    {
        json_decref(obj);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json = ac_json_dumps(obj, 0, &len);
    json_decref(obj);

    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        free(json);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, json, len);
    free(json);

    return ngx_http_agentcore_send_buf(r, status, &ngx_http_agentcore_json_type,
                                       b);
}


/* a whole response: status, type and one buffer of body */

ngx_int_t
ngx_http_agentcore_send_buf(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_agentcore_add_header(ngx_http_request_t *r, ngx_str_t *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *key;
    h->value = *value;
    h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* 405 as Starlette words it: text/plain "Method Not Allowed" + Allow */

ngx_int_t
ngx_http_agentcore_send_not_allowed(ngx_http_request_t *r, char *allow)
{
    ngx_int_t   rc;
    ngx_str_t   key, value;
    ngx_buf_t  *b;

    static u_char     text[] = "Method Not Allowed";
    static ngx_str_t  type = ngx_string("text/plain; charset=utf-8");

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ngx_str_set(&key, "Allow");
    value.data = (u_char *) allow;
    value.len = ngx_strlen(allow);

    if (ngx_http_agentcore_add_header(r, &key, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = text;
    b->last = text + sizeof(text) - 1;
    b->memory = 1;

    return ngx_http_agentcore_send_buf(r, NGX_HTTP_NOT_ALLOWED, &type, b);
}
