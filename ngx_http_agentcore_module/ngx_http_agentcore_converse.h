
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Bedrock ConverseStream semantics, plain C (jansson, no nginx types):
 * the model path on the wire, the request JSON, the assistant turn
 * rebuilt from decoded event-stream messages, and error texts.
 */


#ifndef _NGX_HTTP_AGENTCORE_CONVERSE_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_CONVERSE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ngx_http_agentcore_eventstream.h"


#define AC_TURN_OK        0
#define AC_TURN_ERROR    -1     /* exception/error frame or bad event */


typedef struct {
    int64_t                  input_tokens;
    int64_t                  output_tokens;
    int64_t                  total_tokens;
    int64_t                  cache_read_input_tokens;
    int64_t                  cache_write_input_tokens;
    int64_t                  latency_ms;
} ac_usage_t;


typedef struct {
    const char              *system_prompt;   /* NULL: no "system" */
    int64_t                  max_tokens;      /* < 0: inferenceConfig {} */
    json_t                  *tools;           /* array of {"toolSpec":..}
                                                 or NULL: no toolConfig */
} ac_converse_conf_t;


/* called once per text delta with the raw UTF-8 text; nonzero stops */
typedef int (*ac_turn_text_pt)(void *data, const char *text, size_t len);

typedef struct ac_turn_s  ac_turn_t;


/*
 * "/model/" + modelId with every byte outside A-Za-z0-9-._~ as %XX
 * (upper case) + "/converse-stream".  out must hold
 * 3 * strlen(model_id) + 32 bytes; returns the length written (no NUL
 * counted, NUL written).
 */
size_t ac_model_wire_path(const char *model_id, size_t len, char *out);

/*
 * The ConverseStream JSON body (compact, malloc'd, caller frees):
 * {"messages":..,"system":[{"text":..}],"inferenceConfig":{..},
 *  "toolConfig":{"tools":..,"toolChoice":{"auto":{}}}}
 */
char *ac_converse_request(const ac_converse_conf_t *conf, json_t *messages,
    size_t *len);

/*
 * The same in two steps, for a configuration used many times: what
 * follows the messages, from ,"system" to the closing brace (malloc'd,
 * caller frees), once; then the body for given messages (NULL: []).
 */
char *ac_converse_request_suffix(const ac_converse_conf_t *conf,
    size_t *len);
char *ac_converse_request_join(json_t *messages, const char *suffix,
    size_t suffix_len, size_t *len);


ac_turn_t *ac_turn_create(ac_turn_text_pt on_text, void *data);
void ac_turn_destroy(ac_turn_t *t);

/*
 * One decoded event-stream message.  Returns AC_TURN_OK, AC_TURN_ERROR
 * (then ac_turn_error() holds the message) or on_text's nonzero.
 * Unknown event types are skipped; unknown JSON members ignored.
 */
int ac_turn_feed(ac_turn_t *t, const ac_es_message_t *msg);

/* messageStop seen */
int ac_turn_stopped(const ac_turn_t *t);
/* metadata seen */
int ac_turn_has_metadata(const ac_turn_t *t);
/* the stopReason, or NULL before messageStop */
const char *ac_turn_stop_reason(const ac_turn_t *t);
/* number of toolUse blocks in the turn */
size_t ac_turn_tool_uses(const ac_turn_t *t);
const ac_usage_t *ac_turn_usage(const ac_turn_t *t);
/* events read by the fast paths (text deltas, messageStart,
   contentBlockStop and messageStop in Bedrock's own layout: no JSON
   values built); the others went through json_loadb() */
uint64_t ac_turn_fast_events(const ac_turn_t *t);

/*
 * The assistant message rebuilt as Strands sends it back:
 * {"role":"assistant","content":[{"text":..},{"toolUse":{"toolUseId",
 * "name","input"}},{"reasoningContent":{"reasoningText":{"text",
 * "signature"}}}]}; toolUse input parsed (invalid or empty -> {}), blank
 * text -> "[blank text]".  New reference.
 */
json_t *ac_turn_message(ac_turn_t *t);

/*
 * The stream_error text for an exception or error frame, as botocore
 * words it:
 * "An error occurred (throttlingException) when calling the
 * ConverseStream operation: <message>"; NULL if none.
 */
const char *ac_turn_error(const ac_turn_t *t);
/* the exception type or error code, e.g. "throttlingException" */
const char *ac_turn_error_type(const ac_turn_t *t);

/*
 * The stream_error text for a non-2xx HTTP response before streaming:
 * type from x-amzn-errortype (text before ':'), else body "__type"
 * (after '#') or "code", else "HTTP <status>"; message from the body's
 * "message"/"Message".  Writes at most out_len - 1 bytes + NUL.
 */
size_t ac_bedrock_http_error(int status, const char *errortype,
    size_t errortype_len, const unsigned char *body, size_t body_len,
    char *out, size_t out_len);


#endif /* _NGX_HTTP_AGENTCORE_CONVERSE_H_INCLUDED_ */
