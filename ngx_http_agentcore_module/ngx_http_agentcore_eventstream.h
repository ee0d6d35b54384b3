
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS event-stream (application/vnd.amazon.eventstream) incremental
 * decoder.  Plain C, no nginx types: unit tests and fuzzers drive it
 * without a server.
 */


#ifndef _NGX_HTTP_AGENTCORE_EVENTSTREAM_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_EVENTSTREAM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define AC_ES_OK                 0
#define AC_ES_ERROR             -1      /* corrupt input, see d->error */

/* the callback may return nonzero to stop decoding; feed returns it */

#define AC_ES_MAX_HEADERS        64
#define AC_ES_DEFAULT_MAX_MESSAGE  (24 * 1024 * 1024)

/* header value types, as on the wire */
#define AC_ES_BOOL_TRUE          0
#define AC_ES_BOOL_FALSE         1
#define AC_ES_BYTE               2
#define AC_ES_SHORT              3
#define AC_ES_INTEGER            4
#define AC_ES_LONG               5
#define AC_ES_BYTES              6
#define AC_ES_STRING             7
#define AC_ES_TIMESTAMP          8
#define AC_ES_UUID               9


typedef struct {
    const unsigned char     *name;
    size_t                   name_len;
    unsigned                 type;
    int64_t                  ival;     /* bool (1/0), byte .. long,
                                          timestamp ms */
    const unsigned char     *value;    /* bytes, string, uuid (16 bytes) */
    size_t                   value_len;
} ac_es_header_t;


typedef struct {
    uint32_t                 total_length;
    uint32_t                 headers_length;
    uint32_t                 prelude_crc;
    uint32_t                 message_crc;

    ac_es_header_t           headers[AC_ES_MAX_HEADERS];
    size_t                   nheaders;

    const unsigned char     *payload;
    size_t                   payload_len;
} ac_es_message_t;


typedef int (*ac_es_handler_pt)(void *data, const ac_es_message_t *msg);


typedef struct {
    unsigned char           *buf;       /* partial message (malloc) */
    size_t                   len;
    size_t                   size;
    size_t                   max_message;
    uint64_t                 messages;  /* decoded so far */
    char                     error[128];
} ac_es_decoder_t;


uint32_t ac_crc32(uint32_t crc, const unsigned char *p, size_t len);

/*
 * Decodes exactly one whole message of n bytes.  Returns AC_ES_OK or
 * AC_ES_ERROR with a message in err ("Prelude checksum mismatch",
 * "Message checksum mismatch", ...).  msg points into p.
 */
int ac_es_decode(const unsigned char *p, size_t n, size_t max_message,
    ac_es_message_t *msg, char *err, size_t err_len);

void ac_es_decoder_init(ac_es_decoder_t *d, size_t max_message);

/*
 * Feeds n bytes; calls handler once per complete message, in order.
 * Frames may be split at any byte and a chunk may hold several.
 * Returns AC_ES_OK, AC_ES_ERROR (d->error set; the decoder is then
 * unusable) or the handler's nonzero return.  Whole messages inside p
 * are decoded in place without copying.
 */
int ac_es_decoder_feed(ac_es_decoder_t *d, const unsigned char *p, size_t n,
    ac_es_handler_pt handler, void *data);

/* bytes of an incomplete message held: nonzero at EOF means truncated */
#define ac_es_decoder_pending(d)  ((d)->len)

void ac_es_decoder_free(ac_es_decoder_t *d);

/* first header with this name, or NULL */
const ac_es_header_t *ac_es_header(const ac_es_message_t *msg,
    const char *name);

/* string value of a header (type 7 or 6) compared to s */
int ac_es_header_is(const ac_es_message_t *msg, const char *name,
    const char *s);


#endif /* _NGX_HTTP_AGENTCORE_EVENTSTREAM_H_INCLUDED_ */
