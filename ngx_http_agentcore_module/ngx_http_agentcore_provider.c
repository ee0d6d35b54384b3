
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The model-call interface (ngx_http_agentcore_provider.h): the list of
 * providers, Bedrock's implementation (ConverseStream: the event-stream
 * decoder feeding the turn), and what the decoders of other APIs share.
 */


#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ngx_http_agentcore_provider.h"
#include "ngx_http_agentcore_eventstream.h"
#include "ngx_http_agentcore_openai.h"
#include "ngx_http_agentcore_anthropic.h"


typedef struct {
    ac_es_decoder_t          decoder;
    ac_turn_t               *turn;
} ac_bedrock_stream_t;


static char *ac_bedrock_request(json_t *messages, const char *suffix,
    size_t suffix_len, const char *model, size_t *len);
static ac_model_stream_t *ac_bedrock_create(ac_turn_t *turn,
    size_t max_message);
static int ac_bedrock_message(void *data, const ac_es_message_t *msg);
static int ac_bedrock_feed(ac_model_stream_t *s, const unsigned char *p,
    size_t n);
static int ac_bedrock_pending(const ac_model_stream_t *s);
static const char *ac_bedrock_error(const ac_model_stream_t *s);
static void ac_bedrock_destroy(ac_model_stream_t *s);


const ac_provider_t  ac_provider_bedrock = {
    "bedrock",
    ac_bedrock_request,
    ac_bedrock_create,
    ac_bedrock_feed,
    ac_bedrock_pending,
    ac_bedrock_error,
    ac_bedrock_destroy,
    ac_bedrock_http_error
};


const ac_provider_t *
ac_provider(unsigned id)
{
    switch (id) {

    case AC_PROVIDER_BEDROCK:
        return &ac_provider_bedrock;

    case AC_PROVIDER_OPENAI:
        return &ac_provider_openai;

    case AC_PROVIDER_ANTHROPIC:
        return &ac_provider_anthropic;

    default:
        return NULL;
    }
}


/* Bedrock: the body is the Converse request itself, the model in the path */

static char *
ac_bedrock_request(json_t *messages, const char *suffix, size_t suffix_len,
    const char *model, size_t *len)
{
    (void) model;

    return ac_converse_request_join(messages, suffix, suffix_len, len);
}


static ac_model_stream_t *
ac_bedrock_create(ac_turn_t *turn, size_t max_message)
{
    ac_bedrock_stream_t  *s;

    s = calloc(1, sizeof(ac_bedrock_stream_t));
    if (s == NULL) {
        return NULL;
    }

    ac_es_decoder_init(&s->decoder, max_message);
    s->turn = turn;

    return (ac_model_stream_t *) s;
}


static int
ac_bedrock_message(void *data, const ac_es_message_t *msg)
{
    int  rc;

    rc = ac_turn_feed(data, msg);

    /* an exception or error event: ac_turn_error() has the text */
    return (rc == AC_TURN_ERROR) ? AC_STREAM_TURN_ERROR : rc;
}


static int
ac_bedrock_feed(ac_model_stream_t *stream, const unsigned char *p, size_t n)
{
    int                   rc;
    ac_bedrock_stream_t  *s = (ac_bedrock_stream_t *) stream;

    rc = ac_es_decoder_feed(&s->decoder, p, n, ac_bedrock_message, s->turn);

    return (rc == AC_ES_ERROR) ? AC_STREAM_CORRUPT : rc;
}


static int
ac_bedrock_pending(const ac_model_stream_t *stream)
{
    const ac_bedrock_stream_t  *s = (const ac_bedrock_stream_t *) stream;

    return ac_es_decoder_pending(&s->decoder) != 0;
}


static const char *
ac_bedrock_error(const ac_model_stream_t *stream)
{
    const ac_bedrock_stream_t  *s = (const ac_bedrock_stream_t *) stream;

    return s->decoder.error;
}


static void
ac_bedrock_destroy(ac_model_stream_t *stream)
{
    ac_bedrock_stream_t  *s = (ac_bedrock_stream_t *) stream;

    if (s == NULL) {
        return;
    }

    ac_es_decoder_free(&s->decoder);
    free(s);
}


/* the other APIs' decoders speak to the turn in Converse's events */

static void
ac_provider_header(ac_es_header_t *h, const char *name, const char *value,
    size_t len)
{
    memset(h, 0, sizeof(ac_es_header_t));

    h->name = (const unsigned char *) name;
    h->name_len = strlen(name);
    h->type = AC_ES_STRING;
    h->value = (const unsigned char *) value;
    h->value_len = len;
}


int
ac_turn_feed_event(ac_turn_t *t, const char *event_type, const char *payload,
    size_t len)
{
    ac_es_message_t  msg;

    msg.nheaders = 2;
    ac_provider_header(&msg.headers[0], ":message-type", "event", 5);
    ac_provider_header(&msg.headers[1], ":event-type", event_type,
                       strlen(event_type));
    msg.payload = (const unsigned char *) payload;
    msg.payload_len = len;

    return ac_turn_feed(t, &msg);
}


int
ac_turn_feed_exception(ac_turn_t *t, const char *type, const char *message,
    size_t len)
{
    int              rc;
    char            *payload;
    size_t           plen;
    json_t          *root;
    ac_es_message_t  msg;

    root = json_pack("{s:s%}", "message", message ? message : "",
                     message ? len : 0);
    if (root == NULL) {
        /* not UTF-8: the payload itself becomes the text */
        payload = NULL;

    } else {
        payload = json_dumps(root, JSON_COMPACT);
        json_decref(root);
    }

    plen = payload ? strlen(payload) : 0;

    msg.nheaders = 2;
    ac_provider_header(&msg.headers[0], ":message-type", "exception", 9);
    ac_provider_header(&msg.headers[1], ":exception-type", type,
                       strlen(type));
    msg.payload = (const unsigned char *) (payload ? payload : message);
    msg.payload_len = payload ? plen : len;

    rc = ac_turn_feed(t, &msg);

    free(payload);

    return rc;
}


const char *
ac_provider_status_type(int status)
{
    switch (status) {

    case 400:
    case 422:
        return "ValidationException";

    case 401:
    case 403:
        return "AccessDeniedException";

    case 404:
        return "ResourceNotFoundException";

    case 408:
        return "ModelTimeoutException";

    case 429:
        return "ThrottlingException";

    case 500:
        return "InternalServerException";

    case 503:
    case 529:
        return "ServiceUnavailableException";

    default:
        return NULL;
    }
}


int
ac_pbuf_append(ac_pbuf_t *b, const char *p, size_t n, size_t max)
{
    char    *d;
    size_t   size;

    if (n > max || b->len > max - n) {
        return -1;
    }

    if (b->len + n > b->size) {
        size = b->size ? b->size : 256;

        while (size < b->len + n) {
            size *= 2;
        }

        d = realloc(b->data, size);
        if (d == NULL) {
            return -1;
        }

        b->data = d;
        b->size = size;
    }

    if (n) {
        memcpy(b->data + b->len, p, n);
    }

    b->len += n;

    return 0;
}


/* Server-Sent Events */

static int ac_sse_line(ac_sse_reader_t *r, ac_sse_handler_pt handler,
    void *ctx);


int
ac_sse_read(ac_sse_reader_t *r, const unsigned char *p, size_t n,
    ac_sse_handler_pt handler, void *ctx)
{
    int                   rc;
    const unsigned char  *end, *nl;

    end = p + n;

    while (p < end) {

        if (r->cr) {
            r->cr = 0;

            if (*p == '\n') {
                /* the \n of a \r\n split across reads */
                p++;
                continue;
            }
        }

        for (nl = p; nl < end && *nl != '\n' && *nl != '\r'; nl++) {
            /* void */
        }

        if (ac_pbuf_append(&r->line, (const char *) p, nl - p, r->max)) {
            snprintf(r->error, sizeof(r->error),
                     "a line longer than %zu bytes", r->max);
            return AC_STREAM_CORRUPT;
        }

        if (nl == end) {
            break;
        }

        if (*nl == '\r') {
            if (nl + 1 < end) {
                if (nl[1] == '\n') {
                    nl++;
                }

            } else {
                r->cr = 1;
            }
        }

        p = nl + 1;

        rc = ac_sse_line(r, handler, ctx);
        r->line.len = 0;

        if (rc != 0) {
            return rc;
        }
    }

    return 0;
}


static int
ac_sse_line(ac_sse_reader_t *r, ac_sse_handler_pt handler, void *ctx)
{
    int      rc;
    char    *v;
    size_t   len;

    if (r->line.len == 0) {
        if (!r->has_data) {
            return 0;
        }

        r->has_data = 0;

        rc = handler(ctx, r->data.data, r->data.len);
        r->data.len = 0;

        return rc;
    }

    /* "field: value" (one space after the colon dropped); only data */

    if (r->line.len < 5 || memcmp(r->line.data, "data:", 5) != 0) {
        return 0;
    }

    v = r->line.data + 5;
    len = r->line.len - 5;

    if (len && *v == ' ') {
        v++;
        len--;
    }

    if ((r->has_data && ac_pbuf_append(&r->data, "\n", 1, r->max))
        || ac_pbuf_append(&r->data, v, len, r->max))
    {
        snprintf(r->error, sizeof(r->error),
                 "an event larger than %zu bytes", r->max);
        return AC_STREAM_CORRUPT;
    }

    r->has_data = 1;

    return 0;
}


int
ac_sse_pending(const ac_sse_reader_t *r)
{
    return r->line.len != 0 || r->has_data;
}


void
ac_sse_free(ac_sse_reader_t *r)
{
    free(r->line.data);
    free(r->data.data);
    r->line.data = NULL;
    r->data.data = NULL;
}


/*
 * A non-2xx response of an API other than Bedrock: {"error":{"message":
 * ..}} (OpenAI, Anthropic, vLLM, llama.cpp) or {"error":".."} (Ollama);
 * the type that means the same in Bedrock's words, else "HTTP <status>"
 */

size_t
ac_provider_http_error(int status, const char *errortype,
    size_t errortype_len, const unsigned char *body, size_t body_len,
    char *out, size_t out_len)
{
    size_t       n;
    char        *b;
    json_t      *root, *e, *m;
    const char  *type;

    (void) errortype;
    (void) errortype_len;

    root = json_loadb((const char *) body, body_len, 0, NULL);
    e = json_object_get(root, "error");
    m = json_is_string(e) ? e : json_object_get(e, "message");

    if (!json_is_string(m)) {
        m = json_object_get(root, "message");
    }

    e = json_is_string(m) ? json_pack("{s:O}", "message", m) : NULL;
    b = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);

    type = ac_provider_status_type(status);

    /* no message: the body as it is (a proxy's page, its text) */

    n = ac_bedrock_http_error(status, type, type ? strlen(type) : 0,
                              b ? (const unsigned char *) b : body,
                              b ? strlen(b) : body_len, out, out_len);

    free(b);
    json_decref(root);

    return n;
}
