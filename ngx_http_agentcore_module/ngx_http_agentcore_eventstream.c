/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AWS event-stream decoder: CRC-32 (IEEE 802.3, as zlib), one-message
 * decoding and an incremental decoder that decodes whole messages in
 * place and keeps only a partial tail.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#if (defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)))
#include <immintrin.h>
#include <pthread.h>
#define AC_CRC32_CLMUL  1
#endif

#include "ngx_http_agentcore_eventstream.h"


#define AC_ES_PRELUDE_LEN        12
#define AC_ES_OVERHEAD           16
#define AC_ES_MIN_BUFFER         1024


static int ac_es_prelude(const unsigned char *p, size_t max_message,
    uint32_t *total, char *err, size_t err_len);
static int ac_es_parse(const unsigned char *p, uint32_t total,
    ac_es_message_t *msg, char *err, size_t err_len);
static int ac_es_parse_headers(const unsigned char *p, size_t len,
    ac_es_message_t *msg, char *err, size_t err_len);
static int ac_es_reserve(ac_es_decoder_t *d, size_t need);
static int ac_es_fail(ac_es_decoder_t *d);
#if (AC_CRC32_CLMUL)
static uint32_t ac_crc32_clmul(uint32_t crc, const unsigned char *p,
    size_t len);
#endif


#define ac_es_be16(p)                                                        \
    (uint16_t) (((uint16_t) (p)[0] << 8) | (uint16_t) (p)[1])

#define ac_es_be32(p)                                                        \
    (((uint32_t) (p)[0] << 24) | ((uint32_t) (p)[1] << 16)                   \
     | ((uint32_t) (p)[2] << 8) | (uint32_t) (p)[3])


/*
 * CRC-32 as zlib computes it.  zlib 1.2's crc32() does about 0.8 GB/s
 * here, which made it the decoder's largest cost per event; on x86-64
 * with PCLMULQDQ the multiple-of-16 head of a buffer is folded with
 * carry-less multiplies instead, and the short rest (a prelude is 8
 * bytes, a tail less than 16) goes a byte at a time through a table:
 * for so few bytes that is cheaper than a call into zlib.
 */

#if (AC_CRC32_CLMUL)

static int             ac_crc32_clmul_ok;
static uint32_t        ac_crc32_table[256];
static pthread_once_t  ac_crc32_once = PTHREAD_ONCE_INIT;


static void
ac_crc32_init(void)
{
    int       k;
    uint32_t  i, c;

    for (i = 0; i < 256; i++) {
        c = i;

        for (k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320 & (0 - (c & 1)));
        }

        ac_crc32_table[i] = c;
    }

    __builtin_cpu_init();

    ac_crc32_clmul_ok = __builtin_cpu_supports("pclmul")
                        && __builtin_cpu_supports("sse4.1");
}

#endif


uint32_t
ac_crc32(uint32_t crc, const unsigned char *p, size_t len)
{
    size_t  n;

#if (AC_CRC32_CLMUL)

    (void) pthread_once(&ac_crc32_once, ac_crc32_init);

    if (ac_crc32_clmul_ok) {
        crc = ~crc;

        if (len >= 16) {
            n = len & ~(size_t) 15;
            crc = ac_crc32_clmul(crc, p, n);
            p += n;
            len -= n;
        }

        while (len--) {
            crc = (crc >> 8) ^ ac_crc32_table[(crc ^ *p++) & 0xff];
        }

        return ~crc;
    }

#endif

    while (len) {
        n = (len > 0x40000000) ? 0x40000000 : len;
        crc = (uint32_t) crc32(crc, p, (uInt) n);
        p += n;
        len -= n;
    }

    return crc;
}


#if (AC_CRC32_CLMUL)

/*
 * Folding with carry-less multiplication, after Gopal et al., "Fast CRC
 * Computation for Generic Polynomials Using PCLMULQDQ Instruction"
 * (Intel, 2009), in the bit-reflected domain of the 0xedb88320 CRC.
 * The 128-bit remainder r is carried over 16 bytes as
 * r.lo * (x^(128+64) mod P) + r.hi * (x^128 mod P) (reflected, shifted),
 * then reduced to 64 bits, to 32, and by Barrett reduction to the CRC.
 * crc and the result are the inverted running state; len is a multiple
 * of 16 and at least 16.
 */

__attribute__((target("pclmul,sse4.1")))
static uint32_t
ac_crc32_clmul(uint32_t crc, const unsigned char *p, size_t len)
{
    __m128i  r, k, t, mask;

    /* {x^(128+32) mod P, x^(128-32) mod P}, reflected and shifted */
    k = _mm_set_epi64x(0x00ccaa009eULL, 0x01751997d0ULL);

    r = _mm_xor_si128(_mm_loadu_si128((const __m128i *) p),
                      _mm_cvtsi32_si128((int) crc));
    p += 16;
    len -= 16;

    while (len) {
        t = _mm_clmulepi64_si128(r, k, 0x00);
        r = _mm_clmulepi64_si128(r, k, 0x11);
        r = _mm_xor_si128(r, t);
        r = _mm_xor_si128(r, _mm_loadu_si128((const __m128i *) p));
        p += 16;
        len -= 16;
    }

    /* 128 bits to 64: the low half times x^(128-32) mod P */

    mask = _mm_setr_epi32(-1, 0, -1, 0);

    t = _mm_clmulepi64_si128(r, k, 0x10);
    r = _mm_xor_si128(_mm_srli_si128(r, 8), t);

    /* 64 to 32 bits and a carry: times x^64 mod P */

    k = _mm_set_epi64x(0, 0x0163cd6124ULL);

    t = _mm_srli_si128(r, 4);
    r = _mm_clmulepi64_si128(_mm_and_si128(r, mask), k, 0x00);
    r = _mm_xor_si128(r, t);

    /* Barrett: {P', mu = x^64 / P}, reflected */

    k = _mm_set_epi64x(0x01f7011641ULL, 0x01db710641ULL);

    t = _mm_clmulepi64_si128(_mm_and_si128(r, mask), k, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, mask), k, 0x00);
    r = _mm_xor_si128(r, t);

    return (uint32_t) _mm_extract_epi32(r, 1);
}

#endif


static uint64_t
ac_es_be64(const unsigned char *p)
{
    return ((uint64_t) ac_es_be32(p) << 32) | ac_es_be32(p + 4);
}


/*
 * Checks the 12-byte prelude: its CRC first, and only then the lengths
 * it claims.
 */

static int
ac_es_prelude(const unsigned char *p, size_t max_message, uint32_t *total,
    char *err, size_t err_len)
{
    uint32_t  tlen, hlen;

    if (ac_crc32(0, p, 8) != ac_es_be32(p + 8)) {
        snprintf(err, err_len, "Prelude checksum mismatch");
        return AC_ES_ERROR;
    }

    tlen = ac_es_be32(p);
    hlen = ac_es_be32(p + 4);

    if (tlen < AC_ES_OVERHEAD) {
        snprintf(err, err_len, "Message length %u is below the minimum 16",
                 (unsigned) tlen);
        return AC_ES_ERROR;
    }

    if (tlen > max_message) {
        snprintf(err, err_len, "Message length %u exceeds the limit %zu",
                 (unsigned) tlen, max_message);
        return AC_ES_ERROR;
    }

    if (hlen > tlen - AC_ES_OVERHEAD) {
        snprintf(err, err_len,
                 "Headers length %u does not fit message length %u",
                 (unsigned) hlen, (unsigned) tlen);
        return AC_ES_ERROR;
    }

    *total = tlen;

    return AC_ES_OK;
}


/* a whole message of total bytes whose prelude has been checked */

static int
ac_es_parse(const unsigned char *p, uint32_t total, ac_es_message_t *msg,
    char *err, size_t err_len)
{
    uint32_t  crc, hlen;

    msg->total_length = total;
    msg->headers_length = hlen = ac_es_be32(p + 4);
    msg->prelude_crc = ac_es_be32(p + 8);
    msg->message_crc = ac_es_be32(p + total - 4);

    /* the prelude CRC is the running CRC of the first 8 bytes */

    crc = ac_crc32(msg->prelude_crc, p + 8, total - 12);

    if (crc != msg->message_crc) {
        snprintf(err, err_len, "Message checksum mismatch");
        return AC_ES_ERROR;
    }

    msg->payload = p + AC_ES_PRELUDE_LEN + hlen;
    msg->payload_len = total - hlen - AC_ES_OVERHEAD;

    return ac_es_parse_headers(p + AC_ES_PRELUDE_LEN, hlen, msg, err,
                               err_len);
}


/*
 * Headers: name_len(1) name type(1) value, repeated.  An unknown value
 * type ends header parsing without failing the message (the headers
 * before it are kept): its length is unknown, so nothing after it can
 * be read.  Headers beyond AC_ES_MAX_HEADERS are checked but not kept.
 */

static int
ac_es_parse_headers(const unsigned char *p, size_t len, ac_es_message_t *msg,
    char *err, size_t err_len)
{
    size_t               pos, nlen, vlen;
    unsigned             type;
    ac_es_header_t       h;
    const unsigned char *name;

    msg->nheaders = 0;
    pos = 0;

    while (pos < len) {

        nlen = p[pos++];

        if (nlen + 1 > len - pos) {
            goto overrun;
        }

        name = p + pos;
        pos += nlen;
        type = p[pos++];

        h.name = name;
        h.name_len = nlen;
        h.type = type;
        h.ival = 0;
        h.value = NULL;
        h.value_len = 0;

        switch (type) {

        case AC_ES_BOOL_TRUE:
            h.ival = 1;
            break;

        case AC_ES_BOOL_FALSE:
            break;

        case AC_ES_BYTE:
            if (len - pos < 1) {
                goto overrun;
            }

            h.ival = (int8_t) p[pos];
            pos += 1;
            break;

        case AC_ES_SHORT:
            if (len - pos < 2) {
                goto overrun;
            }

            h.ival = (int16_t) ac_es_be16(p + pos);
            pos += 2;
            break;

        case AC_ES_INTEGER:
            if (len - pos < 4) {
                goto overrun;
            }

            h.ival = (int32_t) ac_es_be32(p + pos);
            pos += 4;
            break;

        case AC_ES_LONG:
        case AC_ES_TIMESTAMP:
            if (len - pos < 8) {
                goto overrun;
            }

            h.ival = (int64_t) ac_es_be64(p + pos);
            pos += 8;
            break;

        case AC_ES_BYTES:
        case AC_ES_STRING:
            if (len - pos < 2) {
                goto overrun;
            }

            vlen = ac_es_be16(p + pos);
            pos += 2;

            if (vlen > len - pos) {
                goto overrun;
            }

            h.value = p + pos;
            h.value_len = vlen;
            pos += vlen;
            break;

        case AC_ES_UUID:
            if (len - pos < 16) {
                goto overrun;
            }

            h.value = p + pos;
            h.value_len = 16;
            pos += 16;
            break;

        default:
            /* unknown value type: keep what was parsed, skip the rest */
            return AC_ES_OK;
        }

        if (msg->nheaders < AC_ES_MAX_HEADERS) {
            msg->headers[msg->nheaders++] = h;
        }
    }

    return AC_ES_OK;

overrun:

    snprintf(err, err_len, "Header %zu overruns the headers length %zu",
             msg->nheaders + 1, len);

    return AC_ES_ERROR;
}


int
ac_es_decode(const unsigned char *p, size_t n, size_t max_message,
    ac_es_message_t *msg, char *err, size_t err_len)
{
    uint32_t  total;

    if (n < AC_ES_PRELUDE_LEN) {
        snprintf(err, err_len, "Message of %zu bytes is truncated", n);
        return AC_ES_ERROR;
    }

    if (ac_es_prelude(p, max_message, &total, err, err_len) != AC_ES_OK) {
        return AC_ES_ERROR;
    }

    if (total != n) {
        snprintf(err, err_len, "Message length %u does not match %zu bytes",
                 (unsigned) total, n);
        return AC_ES_ERROR;
    }

    return ac_es_parse(p, total, msg, err, err_len);
}


void
ac_es_decoder_init(ac_es_decoder_t *d, size_t max_message)
{
    if (max_message == 0) {
        max_message = AC_ES_DEFAULT_MAX_MESSAGE;

    } else if (max_message < AC_ES_OVERHEAD) {
        max_message = AC_ES_OVERHEAD;
    }

    if (max_message > UINT32_MAX) {
        max_message = UINT32_MAX;
    }

    d->buf = NULL;
    d->len = 0;
    d->size = 0;
    d->max_message = max_message;
    d->messages = 0;
    d->error[0] = '\0';
}


/* geometric growth, never beyond max_message */

static int
ac_es_reserve(ac_es_decoder_t *d, size_t need)
{
    size_t          size;
    unsigned char  *buf;

    if (need <= d->size) {
        return AC_ES_OK;
    }

    size = d->size ? d->size : AC_ES_MIN_BUFFER;

    while (size < need) {
        size = (size > d->max_message / 2) ? d->max_message : size * 2;
    }

    if (size > d->max_message) {
        size = d->max_message;
    }

    if (size < need) {
        size = need;
    }

    buf = realloc(d->buf, size);
    if (buf == NULL) {
        snprintf(d->error, sizeof(d->error),
                 "Cannot allocate %zu bytes for a message", size);
        return AC_ES_ERROR;
    }

    d->buf = buf;
    d->size = size;

    return AC_ES_OK;
}


static int
ac_es_fail(ac_es_decoder_t *d)
{
    if (d->error[0] == '\0') {
        snprintf(d->error, sizeof(d->error), "Event stream decoder failed");
    }

    d->len = 0;

    return AC_ES_ERROR;
}


/*
 * A handler's nonzero return ends the call at once: the bytes after
 * that message in this chunk are not kept, so the stream cannot be
 * resumed afterwards.
 */

int
ac_es_decoder_feed(ac_es_decoder_t *d, const unsigned char *p, size_t n,
    ac_es_handler_pt handler, void *data)
{
    int              rc;
    size_t           take;
    uint32_t         total;
    ac_es_message_t  msg;

    if (d->error[0] != '\0') {
        return AC_ES_ERROR;
    }

    /* first complete the message held from earlier chunks */

    while (d->len > 0 && n > 0) {

        if (d->len < AC_ES_PRELUDE_LEN) {
            take = AC_ES_PRELUDE_LEN - d->len;
            take = (take < n) ? take : n;

            memcpy(d->buf + d->len, p, take);
            d->len += take;
            p += take;
            n -= take;

            if (d->len < AC_ES_PRELUDE_LEN) {
                return AC_ES_OK;
            }

            if (ac_es_prelude(d->buf, d->max_message, &total, d->error,
                              sizeof(d->error))
                != AC_ES_OK)
            {
                return ac_es_fail(d);
            }

            if (ac_es_reserve(d, total) != AC_ES_OK) {
                return ac_es_fail(d);
            }

        } else {
            total = ac_es_be32(d->buf);
        }

        take = total - d->len;
        take = (take < n) ? take : n;

        memcpy(d->buf + d->len, p, take);
        d->len += take;
        p += take;
        n -= take;

        if (d->len < total) {
            return AC_ES_OK;
        }

        if (ac_es_parse(d->buf, total, &msg, d->error, sizeof(d->error))
            != AC_ES_OK)
        {
            return ac_es_fail(d);
        }

        d->messages++;

        rc = handler(data, &msg);

        d->len = 0;

        if (rc != 0) {
            return rc;
        }
    }

    /* whole messages inside the chunk: decoded in place */

    while (n >= AC_ES_PRELUDE_LEN) {

        if (ac_es_prelude(p, d->max_message, &total, d->error,
                          sizeof(d->error))
            != AC_ES_OK)
        {
            return ac_es_fail(d);
        }

        if (n < total) {
            if (ac_es_reserve(d, total) != AC_ES_OK) {
                return ac_es_fail(d);
            }

            break;
        }

        if (ac_es_parse(p, total, &msg, d->error, sizeof(d->error))
            != AC_ES_OK)
        {
            return ac_es_fail(d);
        }

        d->messages++;

        rc = handler(data, &msg);

        if (rc != 0) {
            return rc;
        }

        p += total;
        n -= total;
    }

    /* a partial tail */

    if (n > 0) {
        if (ac_es_reserve(d, AC_ES_OVERHEAD) != AC_ES_OK) {
            return ac_es_fail(d);
        }

        memcpy(d->buf, p, n);
        d->len = n;
    }

    return AC_ES_OK;
}


void
ac_es_decoder_free(ac_es_decoder_t *d)
{
    free(d->buf);

    d->buf = NULL;
    d->len = 0;
    d->size = 0;
}


const ac_es_header_t *
ac_es_header(const ac_es_message_t *msg, const char *name)
{
    size_t  i, len;

    len = strlen(name);

    for (i = 0; i < msg->nheaders; i++) {
        if (msg->headers[i].name_len == len
            && memcmp(msg->headers[i].name, name, len) == 0)
        {
            return &msg->headers[i];
        }
    }

    return NULL;
}


int
ac_es_header_is(const ac_es_message_t *msg, const char *name, const char *s)
{
    size_t                 len;
    const ac_es_header_t  *h;

    h = ac_es_header(msg, name);

    if (h == NULL
        || (h->type != AC_ES_STRING && h->type != AC_ES_BYTES))
    {
        return 0;
    }

    len = strlen(s);

    return h->value_len == len && memcmp(h->value, s, len) == 0;
}
