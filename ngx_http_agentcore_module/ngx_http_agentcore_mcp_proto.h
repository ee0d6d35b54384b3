
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The MCP client's protocol layer, plain C (jansson, no nginx types):
 * JSON-RPC requests of the Streamable HTTP transport, the response of
 * a request found in a JSON body or an SSE stream (an incremental,
 * split-safe SSE decoder), tools/list pages checked against Bedrock's
 * tool name rules, and tools/call results as tool-result text.
 */


#ifndef _NGX_HTTP_AGENTCORE_MCP_PROTO_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_MCP_PROTO_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


#define AC_MCP_PROTOCOL_VERSION  "2025-06-18"

/* the largest inputSchema (compact JSON) declared to the model */
#define AC_MCP_MAX_SCHEMA        (64 * 1024)

/* the longest tool name Bedrock accepts */
#define AC_MCP_MAX_NAME          64

/* ac_mcp_response() */
#define AC_MCP_OK                0      /* *result: the "result" member */
#define AC_MCP_RPC_ERROR         1      /* a JSON-RPC error, in err */
#define AC_MCP_BAD               -1     /* no response, err says why */


/*
 * A JSON-RPC 2.0 request (id >= 0) or notification (id < 0), compact
 * and malloc'd; params may be NULL.  NULL: no memory.
 */
char *ac_mcp_request(long id, const char *method, json_t *params,
    size_t *len);


/*
 * The SSE decoder: fed any split of a text/event-stream body, it
 * collects each event's data lines and keeps the first JSON-RPC
 * response (a "result" or an "error") whose id is the one wanted;
 * other events (notifications, requests of the server, other ids, data
 * that is not JSON) are ignored.
 */

typedef struct {
    char                    *line;        /* the line being read */
    size_t                   line_len;
    size_t                   line_cap;
    char                    *data;        /* the event's data so far */
    size_t                   data_len;
    size_t                   data_cap;
    size_t                   max;         /* the largest line or data */
    long                     id;          /* the response wanted */
    json_t                  *response;    /* the message, once found */
    unsigned                 cr:1;        /* the last byte was a CR */
    unsigned                 has_data:1;  /* the event has a data line */
    unsigned                 too_big:1;
    unsigned                 bom_done:1;
    unsigned                 list_changed:1;  /* the server said
                                     notifications/tools/list_changed */
} ac_mcp_sse_t;


void ac_mcp_sse_init(ac_mcp_sse_t *d, long id, size_t max);

/* 0, or -1: a line or an event past max, or no memory */
int ac_mcp_sse_feed(ac_mcp_sse_t *d, const char *p, size_t n);

/* the end of the stream: an event not ended by a blank line is dropped */
void ac_mcp_sse_free(ac_mcp_sse_t *d);


/*
 * The response to request id in a body: a JSON message (or a batch
 * array) when sse is 0, else an SSE stream.  AC_MCP_OK with *result
 * (a new reference), AC_MCP_RPC_ERROR with "MCP error CODE: message"
 * in err, or AC_MCP_BAD with the reason in err.  *list_changed (if not
 * NULL): whether the body also held notifications/tools/list_changed.
 */
int ac_mcp_response(const char *body, size_t len, int sse, long id,
    json_t **result, int *list_changed, char *err, size_t errlen);


/*
 * A tools/list result page: each tool that Bedrock can take is appended
 * to tools as {"name","description","inputSchema"} (the description
 * defaults to the name); *cursor gets nextCursor (malloc'd) or NULL.
 * Returns the number of tools left out; the first one's reason is in
 * warn.  -1: not a tools/list result (warn says why).
 */
int ac_mcp_tools_page(json_t *result, json_t *tools, char **cursor,
    char *warn, size_t wlen);


/* 1 if name matches ^[a-zA-Z0-9_-]{1,64}$ */
int ac_mcp_valid_name(const char *name, size_t len);


/*
 * The name declared for a server's tool: the tool's own name, or
 * prefix + name when force is set or the name is taken (taken() says,
 * as Strands and AgentCore Gateway prefix on conflict).  out holds
 * AC_MCP_MAX_NAME + 1 bytes.  0, or -1: no valid name left (too long,
 * or the prefixed name is taken too).
 */
int ac_mcp_tool_name(const char *prefix, int force, const char *name,
    int (*taken)(void *data, const char *name), void *data, char *out);


/*
 * A tools/call result as the text of a tool result (malloc'd): the
 * "text" of text blocks, other blocks (image, audio, resource,
 * resource_link) as their compact JSON, one per line; with no content,
 * structuredContent as JSON.  *is_error: the result's isError.  NULL:
 * not a tools/call result (or no memory).
 */
char *ac_mcp_call_text(json_t *result, int *is_error, size_t *len);


/*
 * A tools/call result as the content of a Bedrock toolResult: the
 * content items as Strands' MCP client maps them, and structuredContent
 * (which Strands keeps beside the content) as a json block:
 *
 *   text                      {"text"}
 *   image (png, jpeg, gif,    {"image": {"format", "source": {"bytes"}}}
 *     webp)                   if Bedrock's checks pass
 *                             (ac_content_prompt), else a text note
 *   resource, text            {"json"} for a JSON object of
 *                             mimeType application/json or *+json,
 *                             else {"text"}
 *   resource, blob            an image as above; text/..., JSON, XML,
 *                             YAML as their text (or {"json"}); else
 *                             a text note
 *   audio                     a text note (no audio in a toolResult)
 *   resource_link, others     their compact JSON as {"text"}
 *   structuredContent         {"json"} last, if an object; a text item
 *                             that says the same is dropped: its
 *                             serialization (the copy the
 *                             specification asks of servers for older
 *                             clients), or the value of its only
 *                             member (the Python SDK's {"result": V})
 *
 * 0 with *blocks a new array; 0 with *blocks NULL for a result of text
 * items only and no structuredContent object (ac_mcp_call_text() says
 * it all then, as one text); -1: not a tools/call result, no memory.
 */
int ac_mcp_call_content(json_t *result, json_t **blocks);


/*
 * application/x-www-form-urlencoded: every byte but A-Z a-z 0-9 - . _ ~
 * as %XX.  Returns the length; out (if not NULL) holds 3 * n bytes.
 */
size_t ac_mcp_form_encode(const char *s, size_t n, char *out);


/*
 * An OAuth 2.0 token response (RFC 6749 5.1) of HTTP status: 0 with
 * *token the access_token (malloc'd, NUL-terminated; printable ASCII
 * without spaces, as a header takes it) and *expires_in its lifetime in
 * seconds (-1: not given); else -1 with the reason in err ("invalid_client"
 * of an error response, ...).  The token is never written to err.
 */
int ac_mcp_token_response(unsigned status, const char *body, size_t len,
    char **token, long *expires_in, char *err, size_t errlen);


#endif /* _NGX_HTTP_AGENTCORE_MCP_PROTO_H_INCLUDED_ */
