
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The client side of the runtime's Server-Sent Events, plain C: an
 * incremental event-stream parser (the WHATWG rules: LF, CRLF or CR line
 * ends, "data" lines joined with LF, comments and unknown fields
 * ignored) and the decoding of one event's data as AgentCore clients do
 * it (runtime-contract.md 3.3, 4, 13, 14): a JSON string is text, an
 * object with an "error" member is an error, other JSON is JSON, and
 * anything else is raw text (the TS SDK's unquoted strings).
 */


#ifndef _AGENTCORE_SSE_H_INCLUDED_
#define _AGENTCORE_SSE_H_INCLUDED_


#include <stddef.h>


#define AC_SSE_MAX_EVENT   (16 * 1024 * 1024)   /* AgentCore: 10 MB chunks */
#define AC_SSE_EVENT_MAX   64                   /* "event:" name kept */


/* one event: its type ("" unless an "event:" line named one) and data */
typedef int (*ac_sse_event_pt)(void *ctx, const char *event,
    const char *data, size_t len);


typedef struct {
    char        *line;
    size_t       line_len;
    size_t       line_cap;
    char        *data;
    size_t       data_len;
    size_t       data_cap;
    size_t       max;           /* the largest line or event: 0 = default */
    char         event[AC_SSE_EVENT_MAX];
    unsigned     has_data:1;    /* a "data" field was seen */
    unsigned     after_cr:1;    /* the last byte was CR */
    unsigned     started:1;     /* past a leading BOM */
    unsigned     bom:2;         /* BOM bytes matched so far */
} ac_sse_parser_t;


void ac_sse_init(ac_sse_parser_t *p);
void ac_sse_free(ac_sse_parser_t *p);

/*
 * Feeds bytes as they arrive; calls cb for each complete event.
 * Returns 0, -1 when a line or an event exceeds the limit or memory
 * runs out, or what a non-zero cb returned.
 */
int ac_sse_feed(ac_sse_parser_t *p, const char *buf, size_t n,
    ac_sse_event_pt cb, void *ctx);

/* at the end of the stream: 1 if an unfinished event was dropped */
int ac_sse_pending(const ac_sse_parser_t *p);


typedef enum {
    AC_SSE_TEXT = 0,      /* a JSON string: text holds it decoded */
    AC_SSE_ERROR,         /* text holds the message, type its type */
    AC_SSE_JSON,          /* any other JSON value: text is the data */
    AC_SSE_RAW            /* not JSON: text is the data as sent */
} ac_sse_kind_e;


typedef struct {
    ac_sse_kind_e   kind;
    char           *text;     /* malloc'd, NUL-terminated (may hold NULs) */
    size_t          len;
    char           *type;     /* AC_SSE_ERROR: "stream_error", the
                                 error_type, "error" (event: error); or
                                 NULL; malloc'd */
} ac_sse_value_t;


/*
 * Decodes one event.  An error is an object with a string "error"
 * member (the tutorial's {"error", "type": "stream_error"}, the SDK's
 * {"error", "error_type", "message"}), or any data of an "event: error"
 * (the TS SDK).  0, or -1 when out of memory.
 */
int ac_sse_decode(const char *event, const char *data, size_t len,
    ac_sse_value_t *v);
void ac_sse_value_free(ac_sse_value_t *v);


#endif /* _AGENTCORE_SSE_H_INCLUDED_ */
