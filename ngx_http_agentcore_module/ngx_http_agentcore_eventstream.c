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


/* CRC-32, reflected polynomial 0xedb88320 */

static const uint32_t  ac_crc32_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba,
    0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
    0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
    0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
    0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de,
    0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec,
    0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
    0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
    0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
    0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940,
    0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116,
    0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
    0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
    0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
    0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a,
    0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818,
    0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
    0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
    0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
    0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c,
    0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2,
    0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
    0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
    0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
    0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086,
    0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4,
    0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
    0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
    0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
    0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8,
    0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe,
    0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
    0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
    0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
    0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252,
    0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60,
    0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
    0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
    0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
    0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04,
    0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a,
    0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
    0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
    0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
    0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e,
    0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c,
    0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
    0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
    0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
    0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0,
    0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6,
    0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
    0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
    0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d
};


#define ac_es_be16(p)                                                        \
    (uint16_t) (((uint16_t) (p)[0] << 8) | (uint16_t) (p)[1])

#define ac_es_be32(p)                                                        \
    (((uint32_t) (p)[0] << 24) | ((uint32_t) (p)[1] << 16)                   \
     | ((uint32_t) (p)[2] << 8) | (uint32_t) (p)[3])


uint32_t
ac_crc32(uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;

    while (len >= 4) {
        crc = ac_crc32_table[(crc ^ p[0]) & 0xff] ^ (crc >> 8);
        crc = ac_crc32_table[(crc ^ p[1]) & 0xff] ^ (crc >> 8);
        crc = ac_crc32_table[(crc ^ p[2]) & 0xff] ^ (crc >> 8);
        crc = ac_crc32_table[(crc ^ p[3]) & 0xff] ^ (crc >> 8);
        p += 4;
        len -= 4;
    }

    while (len--) {
        crc = ac_crc32_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }

    return ~crc;
}


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
