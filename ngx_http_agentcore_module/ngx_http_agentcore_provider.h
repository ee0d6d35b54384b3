
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The model-call interface, plain C (jansson, no nginx types): what the
 * state machine asks of a model API.  The history is kept in Bedrock
 * Converse's message shape, and the configuration's part of a request
 * (system prompt, inferenceConfig, toolConfig) as the Converse request
 * after "messages" (ac_converse_request_suffix()); a provider builds
 * its own request body from both, and decodes its response stream into
 * the events of an ac_turn_t (Converse's again: contentBlockStart,
 * contentBlockDelta, contentBlockStop, messageStop, metadata, and
 * exceptions), so that text deltas, tool uses, the stop reason, usage
 * and errors reach the loop the same way whatever the model.
 */


#ifndef _NGX_HTTP_AGENTCORE_PROVIDER_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_PROVIDER_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "ngx_http_agentcore_converse.h"


#define AC_PROVIDER_BEDROCK     0
#define AC_PROVIDER_OPENAI      1
#define AC_PROVIDER_ANTHROPIC   2

/* ac_model_stream_feed() results besides 0 */
#define AC_STREAM_CORRUPT      -1      /* not the provider's format:
                                          ac_model_stream_error() */
#define AC_STREAM_TURN_ERROR    2      /* an error event: ac_turn_error() */
/* any other nonzero: the turn's on_text stopped it */


typedef struct ac_model_stream_s  ac_model_stream_t;


typedef struct {
    const char              *name;

    /*
     * The request body (malloc'd, caller frees): the history, the
     * Converse request's end "suffix" (as ac_converse_request_join()
     * takes it) and the model's name (not in Bedrock's body)
     */
    char                  *(*request)(json_t *messages, const char *suffix,
                                      size_t suffix_len, const char *model,
                                      size_t *len);

    /* a decoder of the response stream feeding turn; NULL: no memory */
    ac_model_stream_t     *(*stream_create)(ac_turn_t *turn,
                                            size_t max_message);
    int                    (*stream_feed)(ac_model_stream_t *s,
                                          const unsigned char *p, size_t n);
    /* a partial message (or event) is buffered */
    int                    (*stream_pending)(const ac_model_stream_t *s);
    const char            *(*stream_error)(const ac_model_stream_t *s);
    void                   (*stream_destroy)(ac_model_stream_t *s);

    /*
     * The stream_error text of a non-2xx response: errortype is the
     * x-amzn-errortype header (Bedrock), body its start
     */
    size_t                 (*http_error)(int status, const char *errortype,
                                         size_t errortype_len,
                                         const unsigned char *body,
                                         size_t body_len, char *out,
                                         size_t out_len);
} ac_provider_t;


extern const ac_provider_t  ac_provider_bedrock;   /* _provider.c */

/* by AC_PROVIDER_*: NULL if not built */
const ac_provider_t *ac_provider(unsigned id);


/* a growing buffer (malloc) */
typedef struct {
    char                    *data;
    size_t                   len;
    size_t                   size;
} ac_pbuf_t;

/* appends n bytes unless len would pass max: 0, or -1 */
int ac_pbuf_append(ac_pbuf_t *b, const char *p, size_t n, size_t max);


/*
 * Server-Sent Events, split-safe: lines end in CRLF, LF or CR (a CRLF
 * split across reads too); "data:" lines (one space after the colon
 * dropped) are joined by \n, a blank line dispatches them; comments and
 * other fields are ignored.  A line or an event over max fails the
 * stream (AC_STREAM_CORRUPT, the text in error).
 */
typedef struct {
    ac_pbuf_t                line;
    ac_pbuf_t                data;
    size_t                   max;
    unsigned                 has_data:1;
    unsigned                 cr:1;
    char                     error[128];
} ac_sse_reader_t;

/* one event's data (len bytes, not NUL-terminated); nonzero stops */
typedef int (*ac_sse_handler_pt)(void *ctx, const char *data, size_t len);

int ac_sse_read(ac_sse_reader_t *r, const unsigned char *p, size_t n,
    ac_sse_handler_pt handler, void *ctx);
int ac_sse_pending(const ac_sse_reader_t *r);
void ac_sse_free(ac_sse_reader_t *r);

/*
 * The stream_error text of a non-2xx response of an API other than
 * Bedrock: the message of {"error": {"message"}} (OpenAI, Anthropic,
 * vLLM, llama.cpp), {"error": ".."} (Ollama) or {"message"}, typed by
 * ac_provider_status_type(), else "HTTP <status>" (Bedrock's format)
 */
size_t ac_provider_http_error(int status, const char *errortype,
    size_t errortype_len, const unsigned char *body, size_t body_len,
    char *out, size_t out_len);


/*
 * For the decoders of other APIs: one Converse event fed to the turn,
 * as Bedrock's stream would carry it (":message-type" event, the
 * ":event-type" and the JSON payload), or an exception
 * (":exception-type" and {"message": ...}).  Returns ac_turn_feed()'s.
 */
int ac_turn_feed_event(ac_turn_t *t, const char *event_type,
    const char *payload, size_t len);
int ac_turn_feed_exception(ac_turn_t *t, const char *type,
    const char *message, size_t len);

/*
 * The Bedrock exception name of an HTTP status of another API, where
 * one means the same (429: ThrottlingException, ...); NULL otherwise
 */
const char *ac_provider_status_type(int status);


#endif /* _NGX_HTTP_AGENTCORE_PROVIDER_H_INCLUDED_ */
