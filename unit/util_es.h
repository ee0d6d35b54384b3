/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Test helpers for the event-stream and ConverseStream tests: vector
 * files, base64, and an event-stream message encoder.
 */


#ifndef _UTIL_ES_H_INCLUDED_
#define _UTIL_ES_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <jansson.h>

#include "ngx_http_agentcore_eventstream.h"


/*
 * AC_VECTORS "/" rel, in a static buffer; an empty AC_VECTORS falls
 * back to the shared folder next to the repository
 */

static inline const char *
es_vpath(const char *rel)
{
    static char  path[4096];

    if (AC_VECTORS[0] != '\0') {
        snprintf(path, sizeof(path), "%s/%s", AC_VECTORS, rel);

    } else {
        snprintf(path, sizeof(path), "%s/../shared/vectors/%s", AC_ROOT,
                 rel);
    }

    return path;
}


/* the whole file (malloc'd, NUL added), or NULL */

static inline unsigned char *
es_read(const char *rel, size_t *len)
{
    FILE           *f;
    long            n;
    unsigned char  *p;

    f = fopen(es_vpath(rel), "rb");
    if (f == NULL) {
        return NULL;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        fclose(f);
        return NULL;
    }

    p = malloc((size_t) n + 1);

    if (p != NULL && fread(p, 1, (size_t) n, f) != (size_t) n) {
        free(p);
        p = NULL;
    }

    fclose(f);

    if (p != NULL) {
        p[n] = '\0';
        *len = (size_t) n;
    }

    return p;
}


static inline json_t *
es_load_json(const char *rel)
{
    json_error_t  err;
    json_t       *j;

    j = json_load_file(es_vpath(rel), 0, &err);

    if (j == NULL) {
        fprintf(stderr, "%s: %s line %d\n", rel, err.text, err.line);
    }

    return j;
}


static inline int
es_b64val(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


/* standard base64 with padding; returns the length or -1 */

static inline long
es_b64dec(const char *s, unsigned char *out)
{
    int       v;
    long      n;
    uint32_t  acc;
    unsigned  bits;

    n = 0;
    acc = 0;
    bits = 0;

    for ( /* void */ ; *s != '\0' && *s != '='; s++) {
        v = es_b64val((unsigned char) *s);
        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char) (acc >> bits);
        }
    }

    return n;
}


static inline void
es_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


/* a string header (type 7) at p; returns the bytes written */

static inline size_t
es_hdr_str(unsigned char *p, const char *name, const char *value)
{
    size_t  nlen, vlen;

    nlen = strlen(name);
    vlen = strlen(value);

    p[0] = (unsigned char) nlen;
    memcpy(p + 1, name, nlen);
    p[1 + nlen] = 7;
    p[2 + nlen] = (unsigned char) (vlen >> 8);
    p[3 + nlen] = (unsigned char) vlen;
    memcpy(p + 4 + nlen, value, vlen);

    return 4 + nlen + vlen;
}


/* a whole message with correct CRCs; returns its length */

static inline size_t
es_frame(unsigned char *out, const unsigned char *hdrs, size_t hlen,
    const void *payload, size_t plen)
{
    size_t  total;

    total = 16 + hlen + plen;

    es_put32(out, (uint32_t) total);
    es_put32(out + 4, (uint32_t) hlen);
    es_put32(out + 8, ac_crc32(0, out, 8));
    memcpy(out + 12, hdrs, hlen);
    memcpy(out + 12 + hlen, payload, plen);
    es_put32(out + total - 4, ac_crc32(0, out, total - 4));

    return total;
}


/* a Bedrock event message: :event-type, :content-type, :message-type */

static inline size_t
es_event(unsigned char *out, const char *event_type, const char *json)
{
    size_t         hlen;
    unsigned char  hdrs[512];

    hlen = es_hdr_str(hdrs, ":event-type", event_type);
    hlen += es_hdr_str(hdrs + hlen, ":content-type", "application/json");
    hlen += es_hdr_str(hdrs + hlen, ":message-type", "event");

    return es_frame(out, hdrs, hlen, json, strlen(json));
}


#endif /* _UTIL_ES_H_INCLUDED_ */
