
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * JSON as the reference runtime (CPython's json module) reads and
 * writes it, plain C on jansson: the invocation payload with CPython's
 * error texts, and the SSE / error-body encoders.
 */


#ifndef _NGX_HTTP_AGENTCORE_JSON_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_JSON_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


#define AC_JSON_OK                 0
#define AC_JSON_INVALID_JSON       1    /* error "Invalid JSON" */
#define AC_JSON_INVALID_ENCODING   2    /* error "Invalid encoding" */


typedef struct {
    const char              *error;        /* "Invalid JSON", ... */
    char                     details[256]; /* CPython's message */
} ac_json_error_t;


/*
 * Parses a request body as json.loads(bytes) does: a UTF-8 BOM is
 * skipped, invalid UTF-8 gives CPython's UnicodeDecodeError text
 * ("'utf-8' codec can't decode byte 0x80 in position 0: invalid start
 * byte"), bad JSON its JSONDecodeError text ("Expecting value: line 1
 * column 1 (char 0)", columns and chars counted in code points).
 * Returns a new reference, or NULL with err filled.
 */
json_t *ac_json_parse_payload(const unsigned char *p, size_t n,
    ac_json_error_t *err);

/*
 * The body of a JSON string as json.dumps(s, ensure_ascii=False)
 * writes it, without the quotes: raw UTF-8, \" \\ \n \r \t \b \f,
 * other bytes < 0x20 as \u00xx (lower case).  dst NULL: only the
 * length is returned.
 */
size_t ac_json_escape(unsigned char *dst, const unsigned char *s,
    size_t len);

/* data: "<escaped text>"\n\n ; dst NULL: only the length */
size_t ac_sse_text_event(unsigned char *dst, const unsigned char *s,
    size_t len);

/*
 * json.dumps(v, ensure_ascii=False): spaced separators (", " and ": ")
 * as in SSE events, or compact ("," ":") as Starlette's JSONResponse.
 * Keys in insertion order.  malloc'd, NUL-terminated; *len set if not
 * NULL.
 */
char *ac_json_dumps(json_t *v, int spaced, size_t *len);

/*
 * json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) byte for byte:
 * jansson's escapes (\uXXXX in upper case, raw UTF-8), reals as jansson
 * prints them, NULL where json_dumps() fails (a string or key that is
 * not valid UTF-8, a cycle).  Several times faster: one growing buffer,
 * no callback per token, no loop-check table (nesting deeper than 4096,
 * which jansson's parser never builds, fails instead).  malloc'd,
 * NUL-terminated; *len set if not NULL.
 */
char *ac_json_dumps_jansson(json_t *v, size_t *len);

/* the same between two strings written as they are: prefix, v, suffix */
char *ac_json_dumps_jansson_between(const char *prefix, size_t prefix_len,
    json_t *v, const char *suffix, size_t suffix_len, size_t *len);


#endif /* _NGX_HTTP_AGENTCORE_JSON_H_INCLUDED_ */
