/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The event-stream decoder against the official test suite, the
 * project's frames and streams (fed whole and in pieces), and crafted
 * corrupt or unusual messages.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "util_es.h"


#define MAX_RECORDS  64


typedef struct {
    char            event_type[64];
    char            message_type[64];
    char            exception_type[64];
    unsigned char  *payload;
    size_t          payload_len;
    uint32_t        message_crc;
} record_t;


typedef struct {
    record_t              rec[MAX_RECORDS];
    size_t                n;
    const unsigned char  *chunk;       /* the chunk being fed */
    size_t                chunk_len;
    size_t                in_place;    /* messages decoded inside chunk */
    size_t                stop_after;  /* nonzero: return 7 then */
} collect_t;


static void
header_str(const ac_es_message_t *msg, const char *name, char *out,
    size_t size)
{
    size_t                 n;
    const ac_es_header_t  *h;

    out[0] = '\0';

    h = ac_es_header(msg, name);
    if (h == NULL || h->type != AC_ES_STRING) {
        return;
    }

    n = h->value_len < size - 1 ? h->value_len : size - 1;
    memcpy(out, h->value, n);
    out[n] = '\0';
}


static int
collect(void *data, const ac_es_message_t *msg)
{
    record_t   *r;
    collect_t  *c;

    c = data;

    assert_true(c->n < MAX_RECORDS);
    r = &c->rec[c->n++];

    header_str(msg, ":event-type", r->event_type, sizeof(r->event_type));
    header_str(msg, ":message-type", r->message_type,
               sizeof(r->message_type));
    header_str(msg, ":exception-type", r->exception_type,
               sizeof(r->exception_type));

    r->payload = malloc(msg->payload_len + 1);
    assert_non_null(r->payload);
    memcpy(r->payload, msg->payload, msg->payload_len);
    r->payload[msg->payload_len] = '\0';
    r->payload_len = msg->payload_len;
    r->message_crc = msg->message_crc;

    if (msg->payload >= c->chunk && msg->payload < c->chunk + c->chunk_len) {
        c->in_place++;
    }

    if (c->stop_after && c->n == c->stop_after) {
        return 7;
    }

    return 0;
}


static void
collect_free(collect_t *c)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        free(c->rec[i].payload);
    }

    c->n = 0;
}


/* feeds p in chunks: step > 0 fixed size, step 0 random sizes 1..300 */

static int
feed(ac_es_decoder_t *d, const unsigned char *p, size_t n, size_t step,
    collect_t *c)
{
    int       rc;
    size_t    k;
    uint32_t  seed;

    seed = 20250115;

    while (n > 0) {
        if (step > 0) {
            k = step;

        } else {
            seed = seed * 1103515245 + 12345;
            k = 1 + (seed >> 16) % 300;
        }

        k = k < n ? k : n;

        c->chunk = p;
        c->chunk_len = k;

        rc = ac_es_decoder_feed(d, p, k, collect, c);
        if (rc != AC_ES_OK) {
            return rc;
        }

        p += k;
        n -= k;
    }

    return AC_ES_OK;
}


static void
test_crc32(void **state)
{
    const unsigned char  *s = (const unsigned char *) "123456789";

    assert_int_equal(ac_crc32(0, s, 9), 0xcbf43926);
    assert_int_equal(ac_crc32(0, s, 0), 0);
    assert_int_equal(ac_crc32(ac_crc32(0, s, 4), s + 4, 5), 0xcbf43926);
    assert_int_equal(ac_crc32(0, (const unsigned char *) "a", 1),
                     0xe8b7be43);
}


/* the definition, a bit at a time: the reference for the fast paths */

static uint32_t
crc32_bitwise(uint32_t crc, const unsigned char *p, size_t len)
{
    int  i;

    crc = ~crc;

    while (len--) {
        crc ^= *p++;

        for (i = 0; i < 8; i++) {
            crc = (crc >> 1) ^ (0xedb88320 & (0 - (crc & 1)));
        }
    }

    return ~crc;
}


/*
 * Every length to 1,100 at every alignment, from zero and from a running
 * value, and 64 KiB in one call: the folded (PCLMULQDQ) head and zlib's
 * tail meet at every split
 */

static void
test_crc32_lengths(void **state)
{
    size_t          off, len;
    uint32_t        init;
    unsigned char  *b;

    b = malloc(65536 + 16);
    assert_non_null(b);

    srand(7);

    for (len = 0; len < 65536 + 16; len++) {
        b[len] = (unsigned char) rand();
    }

    for (off = 0; off < 16; off++) {
        for (len = 0; len <= 1100; len++) {
            init = (uint32_t) rand();

            assert_int_equal(ac_crc32(0, b + off, len),
                             crc32_bitwise(0, b + off, len));
            assert_int_equal(ac_crc32(init, b + off, len),
                             crc32_bitwise(init, b + off, len));
        }
    }

    assert_int_equal(ac_crc32(0, b + 3, 65536),
                     crc32_bitwise(0, b + 3, 65536));

    free(b);
}


static void
check_official(const char *name)
{
    char             path[256], err[128];
    long             n;
    size_t           len, i;
    json_t          *j, *hs, *h, *v;
    collect_t        c;
    unsigned char   *p, buf[1024];
    ac_es_decoder_t  d;
    ac_es_message_t  msg;

    snprintf(path, sizeof(path), "eventstream_official/encoded/positive/%s",
             name);
    p = es_read(path, &len);
    assert_non_null(p);

    snprintf(path, sizeof(path), "eventstream_official/decoded/positive/%s",
             name);
    j = es_load_json(path);
    assert_non_null(j);

    assert_int_equal(ac_es_decode(p, len, AC_ES_DEFAULT_MAX_MESSAGE, &msg,
                                  err, sizeof(err)), AC_ES_OK);

    assert_int_equal(msg.total_length,
                     json_integer_value(json_object_get(j, "total_length")));
    assert_int_equal(msg.headers_length,
                     json_integer_value(json_object_get(j,
                                                        "headers_length")));
    /* the suite stores the CRCs as signed int32 */
    assert_int_equal((int32_t) msg.prelude_crc,
                     json_integer_value(json_object_get(j, "prelude_crc")));
    assert_int_equal((int32_t) msg.message_crc,
                     json_integer_value(json_object_get(j, "message_crc")));

    hs = json_object_get(j, "headers");
    assert_int_equal(msg.nheaders, json_array_size(hs));

    for (i = 0; i < msg.nheaders; i++) {
        h = json_array_get(hs, i);
        v = json_object_get(h, "value");

        assert_int_equal(msg.headers[i].name_len,
                         strlen(json_string_value(json_object_get(h,
                                                                  "name"))));
        assert_memory_equal(msg.headers[i].name,
                            json_string_value(json_object_get(h, "name")),
                            msg.headers[i].name_len);
        assert_int_equal(msg.headers[i].type,
                         json_integer_value(json_object_get(h, "type")));

        switch (msg.headers[i].type) {

        case AC_ES_BOOL_TRUE:
        case AC_ES_BOOL_FALSE:
            assert_true(json_is_boolean(v));
            assert_int_equal(msg.headers[i].ival, json_is_true(v));
            break;

        case AC_ES_BYTES:
        case AC_ES_STRING:
        case AC_ES_UUID:
            n = es_b64dec(json_string_value(v), buf);
            assert_int_equal(n, msg.headers[i].value_len);
            assert_memory_equal(buf, msg.headers[i].value, (size_t) n);
            break;

        default:
            assert_int_equal(msg.headers[i].ival, json_integer_value(v));
        }
    }

    n = es_b64dec(json_string_value(json_object_get(j, "payload")), buf);
    assert_int_equal(n, msg.payload_len);
    assert_memory_equal(buf, msg.payload, (size_t) n);

    /* the same message through the incremental decoder, byte by byte */

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, p, len, 1, &c), AC_ES_OK);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.rec[0].payload_len, msg.payload_len);
    assert_int_equal(c.rec[0].message_crc, msg.message_crc);
    assert_int_equal(ac_es_decoder_pending(&d), 0);
    assert_int_equal(d.messages, 1);
    ac_es_decoder_free(&d);
    collect_free(&c);

    json_decref(j);
    free(p);
}


static void
test_official_positive(void **state)
{
    check_official("all_headers");
    check_official("empty_message");
    check_official("int32_header");
    check_official("payload_no_headers");
    check_official("payload_one_str_header");
}


static void
check_negative(const char *name)
{
    char             path[256], err[128];
    size_t           len, elen, step;
    collect_t        c;
    unsigned char   *p, *expect;
    ac_es_decoder_t  d;
    ac_es_message_t  msg;

    snprintf(path, sizeof(path), "eventstream_official/encoded/negative/%s",
             name);
    p = es_read(path, &len);
    assert_non_null(p);

    snprintf(path, sizeof(path), "eventstream_official/decoded/negative/%s",
             name);
    expect = es_read(path, &elen);
    assert_non_null(expect);

    while (elen > 0 && (expect[elen - 1] == '\n' || expect[elen - 1] == '\r'))
    {
        expect[--elen] = '\0';
    }

    err[0] = '\0';
    assert_int_equal(ac_es_decode(p, len, AC_ES_DEFAULT_MAX_MESSAGE, &msg,
                                  err, sizeof(err)), AC_ES_ERROR);
    assert_string_equal(err, (char *) expect);

    /* the decoder reports the same, fed whole or byte by byte */

    for (step = 1; step <= len; step += len - 1) {
        memset(&c, 0, sizeof(c));
        ac_es_decoder_init(&d, 0);
        assert_int_equal(feed(&d, p, len, step, &c), AC_ES_ERROR);
        assert_string_equal(d.error, (char *) expect);
        assert_int_equal(c.n, 0);

        /* and stays unusable */
        assert_int_equal(ac_es_decoder_feed(&d, p, len, collect, &c),
                         AC_ES_ERROR);
        ac_es_decoder_free(&d);
    }

    free(expect);
    free(p);
}


static void
test_official_negative(void **state)
{
    check_negative("corrupted_header_len");
    check_negative("corrupted_headers");
    check_negative("corrupted_length");
    check_negative("corrupted_payload");
}


static void
uuid_text(const unsigned char *u, char *out)
{
    int  i;

    for (i = 0; i < 16; i++) {
        out += sprintf(out, "%02x", u[i]);

        if (i == 3 || i == 5 || i == 7 || i == 9) {
            *out++ = '-';
        }
    }

    *out = '\0';
}


static void
test_frames(void **state)
{
    char                   err[128], path[256], uuid[40];
    long                   n;
    size_t                 len, i, k, nframes;
    json_t                *m, *frames, *f, *hs, *h, *v;
    unsigned char         *p, buf[1024];
    ac_es_message_t        msg;
    const ac_es_header_t  *eh;

    m = es_load_json("eventstream/frames_manifest.json");
    assert_non_null(m);

    frames = json_object_get(m, "frames");
    nframes = json_array_size(frames);
    assert_int_equal(nframes, 18);

    for (k = 0; k < nframes; k++) {
        f = json_array_get(frames, k);

        snprintf(path, sizeof(path), "eventstream/%s",
                 json_string_value(json_object_get(f, "file")));
        p = es_read(path, &len);
        assert_non_null(p);

        assert_int_equal(ac_es_decode(p, len, AC_ES_DEFAULT_MAX_MESSAGE,
                                      &msg, err, sizeof(err)), AC_ES_OK);

        assert_int_equal(msg.total_length,
                         json_integer_value(json_object_get(f,
                                                         "total_length")));
        assert_int_equal(msg.headers_length,
                         json_integer_value(json_object_get(f,
                                                       "headers_length")));
        assert_int_equal(msg.prelude_crc,
                         strtoul(json_string_value(
                                 json_object_get(f, "prelude_crc")), NULL,
                                 16));
        assert_int_equal(msg.message_crc,
                         strtoul(json_string_value(
                                 json_object_get(f, "message_crc")), NULL,
                                 16));

        hs = json_object_get(f, "headers");
        assert_int_equal(msg.nheaders, json_array_size(hs));

        for (i = 0; i < msg.nheaders; i++) {
            h = json_array_get(hs, i);
            v = json_object_get(h, "value");
            eh = &msg.headers[i];

            assert_int_equal(eh->name_len,
                             strlen(json_string_value(
                                        json_object_get(h, "name"))));
            assert_memory_equal(eh->name,
                                json_string_value(json_object_get(h,
                                                                  "name")),
                                eh->name_len);
            assert_int_equal(eh->type,
                             json_integer_value(json_object_get(h,
                                                                "type_id")));

            /* ac_es_header() finds each by name */
            assert_ptr_equal(ac_es_header(&msg,
                                json_string_value(json_object_get(h,
                                                                  "name"))),
                             eh);

            switch (eh->type) {

            case AC_ES_BOOL_TRUE:
            case AC_ES_BOOL_FALSE:
                assert_int_equal(eh->ival, json_is_true(v));
                break;

            case AC_ES_BYTE:
            case AC_ES_SHORT:
            case AC_ES_INTEGER:
            case AC_ES_LONG:
                assert_int_equal(eh->ival, json_integer_value(v));
                break;

            case AC_ES_TIMESTAMP:
                assert_int_equal(eh->ival,
                                 json_integer_value(json_object_get(v,
                                                       "epoch_millis")));
                break;

            case AC_ES_BYTES:
                n = es_b64dec(json_string_value(json_object_get(v,
                                                               "base64")),
                              buf);
                assert_int_equal(n, eh->value_len);
                assert_memory_equal(buf, eh->value, (size_t) n);
                break;

            case AC_ES_STRING:
                assert_int_equal(eh->value_len, json_string_length(v));
                assert_memory_equal(eh->value, json_string_value(v),
                                    eh->value_len);
                assert_true(ac_es_header_is(&msg,
                                json_string_value(json_object_get(h,
                                                                  "name")),
                                json_string_value(v)));
                break;

            case AC_ES_UUID:
                assert_int_equal(eh->value_len, 16);
                uuid_text(eh->value, uuid);
                assert_string_equal(uuid, json_string_value(v));
                break;

            default:
                fail_msg("unexpected header type %u", eh->type);
            }
        }

        n = es_b64dec(json_string_value(json_object_get(f,
                                                        "payload_base64")),
                      buf);
        assert_int_equal(n, msg.payload_len);
        assert_memory_equal(buf, msg.payload, (size_t) n);

        v = json_object_get(f, "payload_utf8");
        assert_int_equal(json_string_length(v), msg.payload_len);
        assert_memory_equal(json_string_value(v), msg.payload,
                            msg.payload_len);

        /* the payload lies inside the input: no copy */
        assert_true(msg.payload >= p && msg.payload + msg.payload_len <= p
                                                                      + len);

        /* one byte short, one byte long, or one bit flipped: rejected */

        assert_int_equal(ac_es_decode(p, len - 1, AC_ES_DEFAULT_MAX_MESSAGE,
                                      &msg, err, sizeof(err)), AC_ES_ERROR);

        p[len / 2 + 6] ^= 0x10;
        assert_int_equal(ac_es_decode(p, len, AC_ES_DEFAULT_MAX_MESSAGE,
                                      &msg, err, sizeof(err)), AC_ES_ERROR);
        assert_string_equal(err, "Message checksum mismatch");

        free(p);
    }

    assert_false(ac_es_header_is(&msg, ":no-such-header", "x"));

    json_decref(m);
}


static void
check_stream(json_t *s, size_t step)
{
    char             path[256];
    size_t           len, i, nframes;
    json_t          *frames, *f, *v;
    collect_t        c;
    unsigned char   *p;
    ac_es_decoder_t  d;

    snprintf(path, sizeof(path), "eventstream/%s",
             json_string_value(json_object_get(s, "file")));
    p = es_read(path, &len);
    assert_non_null(p);
    assert_int_equal(len, json_integer_value(json_object_get(s,
                                                             "total_bytes")));

    frames = json_object_get(s, "frames");
    nframes = json_array_size(frames);

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 0);

    assert_int_equal(feed(&d, p, len, step, &c), AC_ES_OK);
    assert_int_equal(ac_es_decoder_pending(&d), 0);
    assert_int_equal(d.messages, nframes);
    assert_int_equal(c.n, nframes);

    for (i = 0; i < nframes; i++) {
        f = json_array_get(frames, i);

        v = json_object_get(f, "event_type");
        assert_string_equal(c.rec[i].event_type,
                            json_is_string(v) ? json_string_value(v) : "");

        v = json_object_get(f, "message_type");
        assert_string_equal(c.rec[i].message_type, json_string_value(v));

        v = json_object_get(f, "exception_type");
        assert_string_equal(c.rec[i].exception_type,
                            json_is_string(v) ? json_string_value(v) : "");

        v = json_object_get(f, "payload_utf8");
        assert_int_equal(c.rec[i].payload_len, json_string_length(v));
        assert_memory_equal(c.rec[i].payload, json_string_value(v),
                            c.rec[i].payload_len);
    }

    if (step >= len) {
        /* fed whole: every message decoded in place, nothing buffered */
        assert_int_equal(c.in_place, nframes);
        assert_null(d.buf);
        assert_int_equal(d.size, 0);

    } else {
        /* the remainder buffer holds at most one message */
        assert_true(d.size <= 1024);
    }

    ac_es_decoder_free(&d);
    collect_free(&c);
    free(p);
}


static void
test_streams(void **state)
{
    size_t   i;
    json_t  *m, *streams;

    m = es_load_json("eventstream/streams_manifest.json");
    assert_non_null(m);

    streams = json_object_get(m, "streams");
    assert_int_equal(json_array_size(streams), 3);

    for (i = 0; i < json_array_size(streams); i++) {
        check_stream(json_array_get(streams, i), (size_t) -1);
        check_stream(json_array_get(streams, i), 1);
        check_stream(json_array_get(streams, i), 7);
        check_stream(json_array_get(streams, i), 0);
    }

    json_decref(m);
}


/* all three streams back to back, fed at every split point */

static void
test_every_split(void **state)
{
    size_t           len[3], total, cut, i;
    collect_t        c;
    unsigned char   *p[3], *all;
    ac_es_decoder_t  d;

    p[0] = es_read("eventstream/streams/converse_stream_tool_use.bin",
                   &len[0]);
    p[1] = es_read("eventstream/streams/converse_stream_final_text.bin",
                   &len[1]);
    p[2] = es_read(
              "eventstream/streams/converse_stream_midstream_exception.bin",
              &len[2]);
    assert_non_null(p[0]);
    assert_non_null(p[1]);
    assert_non_null(p[2]);

    total = len[0] + len[1] + len[2];
    all = malloc(total);
    assert_non_null(all);

    memcpy(all, p[0], len[0]);
    memcpy(all + len[0], p[1], len[1]);
    memcpy(all + len[0] + len[1], p[2], len[2]);

    for (cut = 0; cut <= total; cut++) {
        memset(&c, 0, sizeof(c));
        ac_es_decoder_init(&d, 0);

        c.chunk = all;
        c.chunk_len = cut;
        assert_int_equal(ac_es_decoder_feed(&d, all, cut, collect, &c),
                         AC_ES_OK);

        c.chunk = all + cut;
        c.chunk_len = total - cut;
        assert_int_equal(ac_es_decoder_feed(&d, all + cut, total - cut,
                                            collect, &c), AC_ES_OK);

        /* 13 + 7 + 3 messages, at most one of them copied */
        assert_int_equal(c.n, 23);
        assert_true(c.in_place >= 22);
        assert_int_equal(ac_es_decoder_pending(&d), 0);

        ac_es_decoder_free(&d);
        collect_free(&c);
    }

    for (i = 0; i < 3; i++) {
        free(p[i]);
    }

    free(all);
}


static void
test_unknown_header_type(void **state)
{
    char             err[128];
    size_t           hlen, total;
    collect_t        c;
    unsigned char    hdrs[256], frame[512];
    ac_es_decoder_t  d;
    ac_es_message_t  msg;

    hlen = es_hdr_str(hdrs, ":message-type", "event");
    hlen += es_hdr_str(hdrs + hlen, ":event-type", "messageStart");

    /* type 42 is unknown: its value length cannot be known */
    hdrs[hlen++] = 6;
    memcpy(hdrs + hlen, "future", 6);
    hlen += 6;
    hdrs[hlen++] = 42;
    memcpy(hdrs + hlen, "\x01\x02\x03\x04\x05", 5);
    hlen += 5;

    /* a header after it is out of reach */
    hlen += es_hdr_str(hdrs + hlen, ":content-type", "application/json");

    total = es_frame(frame, hdrs, hlen, "{\"role\":\"assistant\"}", 20);

    assert_int_equal(ac_es_decode(frame, total, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_OK);
    assert_int_equal(msg.nheaders, 2);
    assert_true(ac_es_header_is(&msg, ":message-type", "event"));
    assert_true(ac_es_header_is(&msg, ":event-type", "messageStart"));
    assert_null(ac_es_header(&msg, ":content-type"));
    assert_int_equal(msg.payload_len, 20);
    assert_memory_equal(msg.payload, "{\"role\":\"assistant\"}", 20);

    /* and the stream goes on after it */

    memcpy(frame + total, frame, total);

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, frame, 2 * total, 5, &c), AC_ES_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.rec[1].event_type, "messageStart");
    ac_es_decoder_free(&d);
    collect_free(&c);
}


static void
test_header_edge_cases(void **state)
{
    int              i;
    char             err[128], name[16];
    size_t           hlen, total;
    unsigned char    hdrs[2048], frame[2048];
    ac_es_message_t  msg;

    /* a name running past headers_length */

    hlen = es_hdr_str(hdrs, ":message-type", "event");
    hdrs[hlen++] = 200;
    memcpy(hdrs + hlen, "short", 5);
    hlen += 5;

    total = es_frame(frame, hdrs, hlen, "", 0);
    assert_int_equal(ac_es_decode(frame, total, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_ERROR);
    assert_non_null(strstr(err, "overruns"));

    /* a string length running past headers_length */

    hlen = es_hdr_str(hdrs, ":message-type", "event");
    hlen -= 3;

    total = es_frame(frame, hdrs, hlen, "{}", 2);
    assert_int_equal(ac_es_decode(frame, total, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_ERROR);
    assert_non_null(strstr(err, "overruns"));

    /* fixed-size values cut short: byte, short, int, long, uuid */

    for (i = 2; i <= 9; i++) {
        if (i == AC_ES_BYTES || i == AC_ES_STRING) {
            continue;
        }

        hdrs[0] = 1;
        hdrs[1] = 'x';
        hdrs[2] = (unsigned char) i;

        total = es_frame(frame, hdrs, 3, "", 0);
        assert_int_equal(ac_es_decode(frame, total,
                                      AC_ES_DEFAULT_MAX_MESSAGE, &msg, err,
                                      sizeof(err)), AC_ES_ERROR);
    }

    /* more headers than AC_ES_MAX_HEADERS: the first ones are kept */

    hlen = 0;

    for (i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "h%d", i);
        hlen += es_hdr_str(hdrs + hlen, name, "v");
    }

    total = es_frame(frame, hdrs, hlen, "x", 1);
    assert_int_equal(ac_es_decode(frame, total, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_OK);
    assert_int_equal(msg.nheaders, AC_ES_MAX_HEADERS);
    assert_true(ac_es_header_is(&msg, "h63", "v"));
    assert_null(ac_es_header(&msg, "h64"));
    assert_int_equal(msg.payload_len, 1);
}


static void
test_length_limits(void **state)
{
    char             err[128];
    size_t           len, total;
    collect_t        c;
    unsigned char   *p, frame[64];
    ac_es_decoder_t  d;
    ac_es_message_t  msg;

    p = es_read("eventstream/frames/01_messageStart.bin", &len);
    assert_non_null(p);
    assert_int_equal(len, 128);

    /* total_length over the cap, fed whole and byte by byte */

    assert_int_equal(ac_es_decode(p, len, 127, &msg, err, sizeof(err)),
                     AC_ES_ERROR);
    assert_string_equal(err, "Message length 128 exceeds the limit 127");

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 127);
    assert_int_equal(feed(&d, p, len, 1, &c), AC_ES_ERROR);
    assert_string_equal(d.error, "Message length 128 exceeds the limit 127");
    assert_int_equal(c.n, 0);
    assert_true(d.size <= 127);
    ac_es_decoder_free(&d);

    /* exactly at the cap: fine, and the buffer never grows past it */

    ac_es_decoder_init(&d, 128);
    assert_int_equal(feed(&d, p, len, 3, &c), AC_ES_OK);
    assert_int_equal(c.n, 1);
    assert_true(d.size <= 128);
    ac_es_decoder_free(&d);
    collect_free(&c);

    /* a valid prelude CRC on an impossible total_length */

    es_put32(frame, 15);
    es_put32(frame + 4, 0);
    es_put32(frame + 8, ac_crc32(0, frame, 8));
    assert_int_equal(ac_es_decode(frame, 16, 1024, &msg, err, sizeof(err)),
                     AC_ES_ERROR);
    assert_non_null(strstr(err, "below the minimum"));

    /* headers_length larger than the message allows */

    es_put32(frame, 32);
    es_put32(frame + 4, 17);
    es_put32(frame + 8, ac_crc32(0, frame, 8));

    ac_es_decoder_init(&d, 0);
    assert_int_equal(ac_es_decoder_feed(&d, frame, 12, collect, &c),
                     AC_ES_ERROR);
    assert_non_null(strstr(d.error, "Headers length 17"));
    ac_es_decoder_free(&d);

    /* too short for ac_es_decode */

    assert_int_equal(ac_es_decode(frame, 11, 1024, &msg, err, sizeof(err)),
                     AC_ES_ERROR);

    /* the smallest message, built here */

    total = es_frame(frame, (const unsigned char *) "", 0, "", 0);
    assert_int_equal(total, 16);
    assert_int_equal(ac_es_decode(frame, total, 16, &msg, err, sizeof(err)),
                     AC_ES_OK);
    assert_int_equal(msg.nheaders, 0);
    assert_int_equal(msg.payload_len, 0);

    free(p);
}


static void
test_truncated_and_stop(void **state)
{
    size_t           len;
    collect_t        c;
    unsigned char   *p;
    ac_es_decoder_t  d;

    p = es_read("eventstream/streams/converse_stream_final_text.bin", &len);
    assert_non_null(p);

    /* EOF in the middle of a message: pending says so */

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, p, len - 5, 100, &c), AC_ES_OK);
    assert_int_equal(c.n, 6);
    assert_true(ac_es_decoder_pending(&d) > 0);

    /* the last bytes complete it */
    assert_int_equal(feed(&d, p + len - 5, 5, 1, &c), AC_ES_OK);
    assert_int_equal(c.n, 7);
    assert_int_equal(ac_es_decoder_pending(&d), 0);
    ac_es_decoder_free(&d);
    collect_free(&c);

    /* a handler's nonzero return stops decoding and is returned */

    memset(&c, 0, sizeof(c));
    c.stop_after = 3;
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, p, len, (size_t) -1, &c), 7);
    assert_int_equal(c.n, 3);
    ac_es_decoder_free(&d);
    collect_free(&c);

    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, p, len, 1, &c), 7);
    assert_int_equal(c.n, 2);
    ac_es_decoder_free(&d);
    collect_free(&c);

    /* garbage after good messages: an error, the good ones delivered */

    memset(&c, 0, sizeof(c));
    ac_es_decoder_init(&d, 0);
    assert_int_equal(feed(&d, p, len, (size_t) -1, &c), AC_ES_OK);
    assert_int_equal(ac_es_decoder_feed(&d,
                                        (const unsigned char *)
                                        "not an event stream", 19,
                                        collect, &c), AC_ES_ERROR);
    assert_string_equal(d.error, "Prelude checksum mismatch");
    assert_int_equal(c.n, 7);
    ac_es_decoder_free(&d);
    collect_free(&c);

    free(p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_crc32_lengths),
        cmocka_unit_test(test_official_positive),
        cmocka_unit_test(test_official_negative),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_streams),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_unknown_header_type),
        cmocka_unit_test(test_header_edge_cases),
        cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_truncated_and_stop),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
