
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The model-call interface (ngx_http_agentcore_provider.h): the list of
 * providers, Bedrock's implementation (ConverseStream: the event-stream
 * decoder feeding the turn), and what the decoders of other APIs share.
 */


#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_provider.h"
#include "ngx_http_agentcore_eventstream.h"
#include "ngx_http_agentcore_openai.h"


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
