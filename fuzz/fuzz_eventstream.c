/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the event-stream decoder (split at a data-derived
 * point, and again in 3-byte pieces: both must agree) feeding the
 * ConverseStream turn assembler; the one-message decoder; the HTTP
 * error classifier.  A shadow turn gets the payloads of the events that
 * have fast paths with a leading space, which keeps them off those
 * paths: both turns must end the same (results, texts, message, stop
 * reason, error, usage).
 *
 * An input whose first byte is odd is "repaired" first: the rest is
 * walked as messages whose lengths are clamped and CRCs rewritten, so
 * that mutated headers and JSON payloads reach the turn assembler.
 * Raw streams start with a 0 byte (total_length < 16 MiB).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "ngx_http_agentcore_eventstream.h"
#include "ngx_http_agentcore_converse.h"


#define FUZZ_MAX_MESSAGE  4096


typedef struct fuzz_ctx_s  fuzz_ctx_t;

struct fuzz_ctx_s {
    ac_turn_t  *turn;
    size_t      messages;
    size_t      text_bytes;
    uint64_t    text_hash;
    fuzz_ctx_t *shadow;
};


static int
fuzz_text(void *data, const char *text, size_t len)
{
    fuzz_ctx_t  *ctx;

    ctx = data;

    /* touch every byte so that ASan sees a bad pointer */
    if (len > 0 && memchr(text, 0x01, len) != NULL) {
        ctx->text_bytes++;
    }

    ctx->text_bytes += len;

    /* FNV-1a over the texts and their boundaries */

    while (len--) {
        ctx->text_hash = (ctx->text_hash ^ (unsigned char) *text++)
                         * 0x100000001b3ULL;
    }

    ctx->text_hash = (ctx->text_hash ^ 0x100) * 0x100000001b3ULL;

    return 0;
}


static int fuzz_shadow(fuzz_ctx_t *shadow, const ac_es_message_t *msg);


static int
fuzz_message(void *data, const ac_es_message_t *msg)
{
    int          rc;
    size_t       i;
    fuzz_ctx_t  *ctx;

    ctx = data;
    ctx->messages++;

    if (msg->payload_len > FUZZ_MAX_MESSAGE
        || msg->nheaders > AC_ES_MAX_HEADERS)
    {
        abort();
    }

    for (i = 0; i < msg->nheaders; i++) {
        if (msg->headers[i].value_len > 0
            && msg->headers[i].value[msg->headers[i].value_len - 1] == 0x7f)
        {
            ctx->text_bytes++;
        }
    }

    rc = ac_turn_feed(ctx->turn, msg);

    if (ctx->shadow != NULL && fuzz_shadow(ctx->shadow, msg) != rc) {
        abort();
    }

    return rc;
}


/* the same message for the shadow turn, a fast-path event's payload spaced */

static int
fuzz_shadow(fuzz_ctx_t *shadow, const ac_es_message_t *msg)
{
    int               rc;
    unsigned char    *p;
    ac_es_message_t   m;

    if (!ac_es_header_is(msg, ":message-type", "event")
        || !(ac_es_header_is(msg, ":event-type", "contentBlockDelta")
             || ac_es_header_is(msg, ":event-type", "messageStart")
             || ac_es_header_is(msg, ":event-type", "contentBlockStop")
             || ac_es_header_is(msg, ":event-type", "messageStop")
             || ac_es_header_is(msg, ":event-type", "metadata")))
    {
        return ac_turn_feed(shadow->turn, msg);
    }

    p = malloc(msg->payload_len + 1);
    if (p == NULL) {
        abort();
    }

    p[0] = ' ';
    memcpy(p + 1, msg->payload, msg->payload_len);

    m = *msg;
    m.payload = p;
    m.payload_len = msg->payload_len + 1;

    rc = ac_turn_feed(shadow->turn, &m);

    free(p);

    return rc;
}


/* the fast path must not change anything */

static void
fuzz_same(fuzz_ctx_t *a, fuzz_ctx_t *b)
{
    char        *s1, *s2;
    json_t      *m1, *m2;
    const char  *e1, *e2;

    if (a->text_hash != b->text_hash) {
        abort();
    }

    e1 = ac_turn_error(a->turn);
    e2 = ac_turn_error(b->turn);

    if ((e1 == NULL) != (e2 == NULL) || (e1 && strcmp(e1, e2) != 0)) {
        abort();
    }

    e1 = ac_turn_stop_reason(a->turn);
    e2 = ac_turn_stop_reason(b->turn);

    if ((e1 == NULL) != (e2 == NULL) || (e1 && strcmp(e1, e2) != 0)
        || ac_turn_stopped(a->turn) != ac_turn_stopped(b->turn))
    {
        abort();
    }

    m1 = ac_turn_message(a->turn);
    m2 = ac_turn_message(b->turn);
    s1 = m1 ? json_dumps(m1, JSON_COMPACT) : NULL;
    s2 = m2 ? json_dumps(m2, JSON_COMPACT) : NULL;

    if ((s1 == NULL) != (s2 == NULL) || (s1 && strcmp(s1, s2) != 0)) {
        abort();
    }

    free(s1);
    free(s2);
    json_decref(m1);
    json_decref(m2);

    if (ac_turn_has_metadata(a->turn) != ac_turn_has_metadata(b->turn)
        || memcmp(ac_turn_usage(a->turn), ac_turn_usage(b->turn),
                  sizeof(ac_usage_t)) != 0)
    {
        abort();
    }

    if (ac_turn_fast_events(b->turn) != 0) {
        abort();
    }
}


static void
fuzz_finish(ac_turn_t *turn)
{
    char        *s;
    json_t      *msg;
    const char  *e;

    msg = ac_turn_message(turn);

    if (msg != NULL) {
        s = json_dumps(msg, JSON_COMPACT);
        free(s);
        json_decref(msg);
    }

    e = ac_turn_error(turn);
    if (e != NULL && strlen(e) == 0) {
        abort();
    }

    (void) ac_turn_stop_reason(turn);
    (void) ac_turn_usage(turn);
    (void) ac_turn_tool_uses(turn);
}


static uint32_t
fuzz_be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


static void
fuzz_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


static void
fuzz_repair(unsigned char *p, size_t n)
{
    size_t    pos;
    uint32_t  total, hlen;

    pos = 0;

    while (n - pos >= 16) {
        total = fuzz_be32(p + pos);

        if (total < 16 || total > n - pos) {
            total = (uint32_t) (n - pos);
        }

        hlen = fuzz_be32(p + pos + 4);

        if (hlen > total - 16) {
            hlen %= total - 16 + 1;
        }

        fuzz_put32(p + pos, total);
        fuzz_put32(p + pos + 4, hlen);
        fuzz_put32(p + pos + 8, ac_crc32(0, p + pos, 8));
        fuzz_put32(p + pos + total - 4, ac_crc32(0, p + pos, total - 4));

        pos += total;
    }
}


static void
fuzz_stream(const uint8_t *data, size_t size)
{
    int              rc1, rc2;
    size_t           cut, off, k;
    fuzz_ctx_t       c1, c2, cs;
    ac_es_decoder_t  d1, d2;

    cut = size ? ((size_t) (data[0] ^ data[size - 1]) * 131) % (size + 1)
               : 0;

    /* two pieces */

    memset(&c1, 0, sizeof(c1));
    c1.turn = ac_turn_create(fuzz_text, &c1);
    if (c1.turn == NULL) {
        abort();
    }

    memset(&cs, 0, sizeof(cs));
    cs.turn = ac_turn_create(fuzz_text, &cs);
    if (cs.turn == NULL) {
        abort();
    }

    c1.shadow = &cs;

    ac_es_decoder_init(&d1, FUZZ_MAX_MESSAGE);

    rc1 = ac_es_decoder_feed(&d1, data, cut, fuzz_message, &c1);
    if (rc1 == AC_ES_OK) {
        rc1 = ac_es_decoder_feed(&d1, data + cut, size - cut, fuzz_message,
                                 &c1);
    }

    /* 3-byte pieces */

    memset(&c2, 0, sizeof(c2));
    c2.turn = ac_turn_create(fuzz_text, &c2);
    if (c2.turn == NULL) {
        abort();
    }

    ac_es_decoder_init(&d2, FUZZ_MAX_MESSAGE);
    rc2 = AC_ES_OK;

    for (off = 0; off < size && rc2 == AC_ES_OK; off += k) {
        k = size - off < 3 ? size - off : 3;
        rc2 = ac_es_decoder_feed(&d2, data + off, k, fuzz_message, &c2);
    }

    /* the split must not matter */

    if (rc1 != rc2 || c1.messages != c2.messages
        || c1.text_bytes != c2.text_bytes
        || strcmp(d1.error, d2.error) != 0
        || (rc1 == AC_ES_OK
            && ac_es_decoder_pending(&d1) != ac_es_decoder_pending(&d2)))
    {
        abort();
    }

    if (d1.error[0] != '\0' && rc1 != AC_ES_ERROR) {
        abort();
    }

    if (d1.size > FUZZ_MAX_MESSAGE || d2.size > FUZZ_MAX_MESSAGE) {
        abort();
    }

    fuzz_finish(c1.turn);
    fuzz_same(&c1, &cs);

    ac_es_decoder_free(&d1);
    ac_es_decoder_free(&d2);
    ac_turn_destroy(c1.turn);
    ac_turn_destroy(c2.turn);
    ac_turn_destroy(cs.turn);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char             err[128], out[160];
    size_t           k;
    fuzz_ctx_t       c3;
    unsigned char   *fixed;
    ac_es_message_t  msg;

    if (size > 0 && (data[0] & 1)) {
        fixed = malloc(size);
        if (fixed == NULL) {
            return 0;
        }

        memcpy(fixed, data + 1, size - 1);
        fuzz_repair(fixed, size - 1);
        fuzz_stream(fixed, size - 1);
        free(fixed);

    } else {
        fuzz_stream(data, size);
    }

    /* the whole input as one message */

    if (ac_es_decode(data, size, FUZZ_MAX_MESSAGE, &msg, err, sizeof(err))
        == AC_ES_OK)
    {
        memset(&c3, 0, sizeof(c3));
        c3.turn = ac_turn_create(fuzz_text, &c3);

        if (c3.turn != NULL) {
            (void) fuzz_message(&c3, &msg);
            fuzz_finish(c3.turn);
            ac_turn_destroy(c3.turn);
        }
    }

    /* the same bytes as a pre-stream error response */

    k = ac_bedrock_http_error(400, (const char *) data, size < 64 ? size : 64,
                              data, size, out, sizeof(out));
    if (k >= sizeof(out) || out[k] != '\0') {
        abort();
    }

    return 0;
}
