
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The JSON answer (agentcore_response): instead of SSE, one
 * application/json body with the whole answer text, sent when the agent
 * loop ends, as the reference runtime answers an entrypoint that returns
 * the agent's text: json.dumps(text, ensure_ascii=False), with a
 * Content-Length.  An error that would end the stream with a
 * stream_error becomes the runtime's error response: a status and a
 * compact {"error":"..."}, with the text so far as "partial".
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_json.h"
#include "ngx_http_agentcore_reference.h"


/* how specific the media range that gave a type its q was */
#define NGX_HTTP_AGENTCORE_ACCEPT_NONE      0
#define NGX_HTTP_AGENTCORE_ACCEPT_ANY       1      /* * / *  */
#define NGX_HTTP_AGENTCORE_ACCEPT_SUBTYPE   2      /* type / *  */
#define NGX_HTTP_AGENTCORE_ACCEPT_EXACT     3


typedef struct {
    ngx_uint_t   q;             /* in thousandths */
    ngx_uint_t   level;         /* NGX_HTTP_AGENTCORE_ACCEPT_* */
} ngx_http_agentcore_accept_t;


static void ngx_http_agentcore_accept_parse(u_char *p, u_char *end,
    ngx_http_agentcore_accept_t *json, ngx_http_agentcore_accept_t *sse);
static void ngx_http_agentcore_accept_match(u_char *type, size_t len,
    ngx_uint_t q, const char *want, size_t want_len,
    ngx_http_agentcore_accept_t *a);
static ngx_int_t ngx_http_agentcore_accept_q(u_char *p, u_char *end,
    ngx_uint_t *q);
static ngx_uint_t ngx_http_agentcore_answer_status(
    ngx_http_agentcore_ctx_t *ctx, ngx_str_t *error);


static ngx_str_t  ngx_http_agentcore_answer_type =
    ngx_string("application/json");


/*
 * JSON or SSE: the location's agentcore_response, and with "auto" the
 * request's Accept.  application/json wins when its q is higher than
 * text/event-stream's, or equal and named more specifically
 * ("application/json, * / *"); no Accept, "* / *", equal preferences
 * and neither acceptable keep SSE, the reference's answer.
 */

ngx_uint_t
ngx_http_agentcore_answer_wanted(ngx_http_request_t *r,
    ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_uint_t                    i;
    ngx_list_part_t              *part;
    ngx_table_elt_t              *h;
    ngx_http_agentcore_accept_t   json, sse;

    if (conf->response != NGX_HTTP_AGENTCORE_RESPONSE_AUTO) {
        return conf->response == NGX_HTTP_AGENTCORE_RESPONSE_JSON;
    }

    ngx_memzero(&json, sizeof(ngx_http_agentcore_accept_t));
    ngx_memzero(&sse, sizeof(ngx_http_agentcore_accept_t));

    /* every Accept line: several are one list (RFC 9110, 5.3) */

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Accept") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept",
                               sizeof("Accept") - 1) == 0)
        {
            ngx_http_agentcore_accept_parse(h[i].value.data,
                                            h[i].value.data + h[i].value.len,
                                            &json, &sse);
        }
    }

    if (json.q > sse.q) {
        return 1;
    }

    return json.q == sse.q && json.q > 0 && json.level > sse.level;
}


static void
ngx_http_agentcore_accept_parse(u_char *p, u_char *end,
    ngx_http_agentcore_accept_t *json, ngx_http_agentcore_accept_t *sse)
{
    u_char      *type, *type_end, *param;
    ngx_uint_t   q;

    while (p < end) {

        /* one element: OWS media-range *( OWS ";" OWS parameter ) */

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        type = p;

        while (p < end && *p != ',' && *p != ';' && *p != ' '
               && *p != '\t')
        {
            p++;
        }

        type_end = p;
        q = 1000;

        while (p < end && *p != ',') {

            if (*p != ';') {
                p++;
                continue;
            }

            p++;

            while (p < end && (*p == ' ' || *p == '\t')) {
                p++;
            }

            param = p;

            while (p < end && *p != ',' && *p != ';') {
                p++;
            }

            if (p - param >= 2 && (param[0] == 'q' || param[0] == 'Q')
                && param[1] == '=')
            {
                if (ngx_http_agentcore_accept_q(param + 2, p, &q) != NGX_OK)
                {
                    /* not a qvalue: the element is left out */
                    type_end = type;
                }
            }
        }

        if (type_end == type) {
            continue;
        }

        ngx_http_agentcore_accept_match(type, type_end - type, q,
                                        "application/json",
                                        sizeof("application/json") - 1,
                                        json);
        ngx_http_agentcore_accept_match(type, type_end - type, q,
                                        "text/event-stream",
                                        sizeof("text/event-stream") - 1,
                                        sse);
    }
}


/* the most specific range that matches a type sets its q */

static void
ngx_http_agentcore_accept_match(u_char *type, size_t len, ngx_uint_t q,
    const char *want, size_t want_len, ngx_http_agentcore_accept_t *a)
{
    size_t      slash;
    ngx_uint_t  level;

    slash = (u_char *) ngx_strchr(want, '/') - (u_char *) want;

    if (len == want_len
        && ngx_strncasecmp(type, (u_char *) want, len) == 0)
    {
        level = NGX_HTTP_AGENTCORE_ACCEPT_EXACT;

    } else if (len == slash + 2
               && ngx_strncasecmp(type, (u_char *) want, slash + 1) == 0
               && type[slash + 1] == '*')
    {
        level = NGX_HTTP_AGENTCORE_ACCEPT_SUBTYPE;

    } else if (len == 3 && ngx_strncmp(type, "*/*", 3) == 0) {
        level = NGX_HTTP_AGENTCORE_ACCEPT_ANY;

    } else {
        return;
    }

    if (level > a->level || (level == a->level && q > a->q)) {
        a->level = level;
        a->q = q;
    }
}


/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), OWS after */

static ngx_int_t
ngx_http_agentcore_accept_q(u_char *p, u_char *end, ngx_uint_t *q)
{
    ngx_uint_t  n, digits;

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (p == end || (*p != '0' && *p != '1')) {
        return NGX_ERROR;
    }

    n = (*p++ - '0') * 1000;

    if (p < end) {
        if (*p++ != '.') {
            return NGX_ERROR;
        }

        for (digits = 100; p < end; p++, digits /= 10) {
            if (*p < '0' || *p > '9' || digits == 0) {
                return NGX_ERROR;
            }

            n += (*p - '0') * digits;
        }
    }

    if (n > 1000) {
        return NGX_ERROR;
    }

    *q = n;

    return NGX_OK;
}


/*
 * A text delta, kept until the loop ends: past agentcore_response_max_size
 * the model call stops (the caller stops decoding) and the invocation
 * ends with an error
 */

ngx_int_t
ngx_http_agentcore_answer_text(ngx_http_agentcore_ctx_t *ctx,
    const u_char *text, size_t len)
{
    u_char  *p;
    size_t   size;

    if (ctx->answer_len + len > ctx->conf->response_max_size) {
        ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log, 0,
                      "agentcore: the answer is larger than "
                      "agentcore_response_max_size (%uz bytes)",
                      ctx->conf->response_max_size);

        ctx->answer_too_large = 1;
        return NGX_ERROR;
    }

    if (ctx->answer_len + len > ctx->answer_size) {
        size = ngx_max(2 * ctx->answer_size, 1024);
        size = ngx_max(size, ctx->answer_len + len);
        size = ngx_min(size, ctx->conf->response_max_size);

        p = ngx_palloc(ctx->request->pool, size);
        if (p == NULL) {
            return NGX_ERROR;
        }

        if (ctx->answer) {
            ngx_memcpy(p, ctx->answer, ctx->answer_len);

            /* a large allocation: back to the allocator */
            ngx_pfree(ctx->request->pool, ctx->answer);
        }

        ctx->answer = p;
        ctx->answer_size = size;
    }

    ngx_memcpy(ctx->answer + ctx->answer_len, text, len);
    ctx->answer_len += len;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                   "agentcore json: %uz bytes of answer, %uz in all",
                   len, ctx->answer_len);

    return NGX_OK;
}


/*
 * The loop ended: the answer as a JSON string, 200; or the error as the
 * reference runtime answers an entrypoint that raised (Starlette's
 * compact JSONResponse), with the text so far
 */

ngx_int_t
ngx_http_agentcore_answer_send(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error)
{
    u_char              *p;
    size_t               size, text;
    ngx_buf_t           *b;
    ngx_uint_t           status;
    ngx_http_request_t  *r;

    static u_char  head[] = "{\"error\":\"";
    static u_char  partial[] = "\",\"partial\":\"";
    static u_char  tail[] = "\"}";

    r = ctx->request;

    text = ac_json_escape(NULL, ctx->answer, ctx->answer_len);

    if (error == NULL) {
        status = NGX_HTTP_OK;
        size = text + 2;

    } else {
        status = ngx_http_agentcore_answer_status(ctx, error);
        size = sizeof(head) - 1 + ac_json_escape(NULL, error->data,
                                                 error->len)
               + sizeof(tail) - 1;

        if (ctx->answer_len) {
            size += sizeof(partial) - 1 + text;
        }
    }

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_ERROR;
    }

    p = b->last;

    if (error == NULL) {
        *p++ = '"';
        p += ac_json_escape(p, ctx->answer, ctx->answer_len);
        *p++ = '"';

    } else {
        p = ngx_cpymem(p, head, sizeof(head) - 1);
        p += ac_json_escape(p, error->data, error->len);

        if (ctx->answer_len) {
            p = ngx_cpymem(p, partial, sizeof(partial) - 1);
            p += ac_json_escape(p, ctx->answer, ctx->answer_len);
        }

        p = ngx_cpymem(p, tail, sizeof(tail) - 1);
    }

    b->last = p;

    /* the text is in the body now */

    if (ctx->answer) {
        ngx_pfree(r->pool, ctx->answer);
        ctx->answer = NULL;
        ctx->answer_size = 0;
    }

    return ngx_http_agentcore_send_buf(r, status,
                                       &ngx_http_agentcore_answer_type, b);
}


/*
 * The status of an error answer, by the type $agentcore_error_type
 * reports (docs/directives.md, agentcore_response)
 */

static ngx_uint_t
ngx_http_agentcore_answer_status(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error)
{
    ngx_str_t   type;
    ngx_uint_t  i;

    static struct {
        const char  *type;
        ngx_uint_t   status;
    }  map[] = {
        { "ThrottlingException", NGX_HTTP_TOO_MANY_REQUESTS },
        { "ServiceQuotaExceededException", NGX_HTTP_TOO_MANY_REQUESTS },
        { "ServiceUnavailableException", NGX_HTTP_SERVICE_UNAVAILABLE },
        { "ModelNotReadyException", NGX_HTTP_SERVICE_UNAVAILABLE },
        { "upstream_timeout", NGX_HTTP_GATEWAY_TIME_OUT },
        { "invocation_timeout", NGX_HTTP_GATEWAY_TIME_OUT },
        { "ModelTimeoutException", NGX_HTTP_GATEWAY_TIME_OUT },

        /* the module's own ends: 500, as the reference's exceptions */
        { "max_tokens", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { "max_cycles", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { "credentials", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { "request_too_large", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { "response_too_large", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { "internal", NGX_HTTP_INTERNAL_SERVER_ERROR },
        { NULL, 0 }
    };

    if (error->len == sizeof(AC_REF_CONCURRENT) - 1
        && ngx_strncmp(error->data, AC_REF_CONCURRENT, error->len) == 0)
    {
        return NGX_HTTP_CONFLICT;
    }

    ngx_http_agentcore_error_type(ctx, &type);

    if (type.len == sizeof("session") - 1
        && ngx_strncmp(type.data, "session", type.len) == 0)
    {
        /* no room in the zone, or the history could not be stored */
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    if (type.len == sizeof("token_limit") - 1
        && ngx_strncmp(type.data, "token_limit", type.len) == 0)
    {
        /* agentcore_token_limit between model calls: its status */
        return ctx->conf->token_limit_status;
    }

    for (i = 0; map[i].type; i++) {
        if (type.len == ngx_strlen(map[i].type)
            && ngx_strncasecmp(type.data, (u_char *) map[i].type, type.len)
               == 0)
        {
            return map[i].status;
        }
    }

    /* the model failed: Bedrock's other errors, a broken stream */
    return NGX_HTTP_BAD_GATEWAY;
}
