/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the SSE writer, ac_sse_text_event() (the bytes of
 * every text delta the module sends; ngx_http_agentcore_sse_text() only
 * puts them in a buffer), on arbitrary bytes.
 *  - the length it measures (dst NULL) is the length it writes, into a
 *    buffer of exactly that size (ASan checks the writes, and the reads
 *    of its word-at-a-time scan);
 *  - the output is one valid SSE event: "data: " then a value holding
 *    no CR, LF (the SSE line ends) or other byte below 0x20, then the
 *    blank line "\n\n"; an SSE parser (WHATWG rules) sees one event
 *    whose data is that value;
 *  - the value is byte for byte what the reference writes
 *    (runtime-contract.md 3.3: json.dumps(s, ensure_ascii=False): raw
 *    UTF-8, \" \\ \n \r \t \b \f, other bytes below 0x20 as \u00xx in
 *    lower case), written here one byte at a time;
 *  - decoding the value as a JSON string gives the input back exactly:
 *    by this file's strict decoder always, and by jansson (and as
 *    ac_json_dumps() writes the same string) when the input is valid
 *    UTF-8.  Invalid UTF-8: the reference cannot yield it (a Python str
 *    is text; the module's deltas come from JSON that jansson checked),
 *    and the writer passes such bytes through unchanged, so the framing
 *    holds and jansson refuses the value, as it does any invalid UTF-8.
 */


#include <sys/types.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_json.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


/* json.dumps(s, ensure_ascii=False) of the bytes, with the quotes */

static size_t
reference(unsigned char *d, const uint8_t *s, size_t n)
{
    size_t         i, k;
    unsigned char  c;

    static const char  hex[] = "0123456789abcdef";

    k = 0;
    d[k++] = '"';

    for (i = 0; i < n; i++) {
        c = s[i];

        switch (c) {
        case '"':  d[k++] = '\\'; d[k++] = '"'; break;
        case '\\': d[k++] = '\\'; d[k++] = '\\'; break;
        case '\n': d[k++] = '\\'; d[k++] = 'n'; break;
        case '\r': d[k++] = '\\'; d[k++] = 'r'; break;
        case '\t': d[k++] = '\\'; d[k++] = 't'; break;
        case '\b': d[k++] = '\\'; d[k++] = 'b'; break;
        case '\f': d[k++] = '\\'; d[k++] = 'f'; break;

        default:
            if (c < 0x20) {
                d[k++] = '\\';
                d[k++] = 'u';
                d[k++] = '0';
                d[k++] = '0';
                d[k++] = hex[c >> 4];
                d[k++] = hex[c & 0xf];

            } else {
                d[k++] = c;
            }
        }
    }

    d[k++] = '"';

    return k;
}


/* UTF-8 as Python's decoder takes it: no overlong forms, no surrogates */

static int
valid_utf8(const uint8_t *s, size_t n)
{
    size_t    i, k, len;
    uint32_t  cp, min;

    for (i = 0; i < n; /* void */) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }

        if ((s[i] & 0xe0) == 0xc0) {
            len = 2; cp = s[i] & 0x1f; min = 0x80;

        } else if ((s[i] & 0xf0) == 0xe0) {
            len = 3; cp = s[i] & 0x0f; min = 0x800;

        } else if ((s[i] & 0xf8) == 0xf0) {
            len = 4; cp = s[i] & 0x07; min = 0x10000;

        } else {
            return 0;
        }

        if (n - i < len) {
            return 0;
        }

        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return 0;
            }

            cp = (cp << 6) | (s[i + k] & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }

        i += len;
    }

    return 1;
}


static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * A JSON string's bytes back, strictly: the escapes the writer may
 * write and nothing else, every byte below 0x20 escaped; -1 if not so
 */

static ssize_t
unescape(const unsigned char *p, size_t n, unsigned char *out)
{
    int     h, l;
    size_t  i, k;

    if (n < 2 || p[0] != '"' || p[n - 1] != '"') {
        return -1;
    }

    k = 0;

    for (i = 1; i < n - 1; i++) {
        if (p[i] < 0x20 || p[i] == '"') {
            return -1;
        }

        if (p[i] != '\\') {
            out[k++] = p[i];
            continue;
        }

        if (++i == n - 1) {
            return -1;
        }

        switch (p[i]) {
        case '"':  out[k++] = '"'; break;
        case '\\': out[k++] = '\\'; break;
        case 'n':  out[k++] = '\n'; break;
        case 'r':  out[k++] = '\r'; break;
        case 't':  out[k++] = '\t'; break;
        case 'b':  out[k++] = '\b'; break;
        case 'f':  out[k++] = '\f'; break;

        case 'u':
            if (n - 1 - i < 5 || p[i + 1] != '0' || p[i + 2] != '0') {
                return -1;
            }

            h = hexval(p[i + 3]);
            l = hexval(p[i + 4]);

            if (h < 0 || l < 0 || h > 1) {
                return -1;
            }

            out[k++] = (unsigned char) (h << 4 | l);
            i += 4;
            break;

        default:
            return -1;
        }
    }

    return (ssize_t) k;
}


/*
 * The SSE parser's view (WHATWG "event stream interpretation"): lines
 * end at CRLF, LF or CR; "data" fields are joined by LF; a blank line
 * dispatches.  Returns the number of events; the last one's data in
 * *data, *dlen (pointing into a malloc'd copy the caller frees).
 */

static int
sse_events(const unsigned char *p, size_t n, unsigned char **data,
    size_t *dlen)
{
    int             events;
    size_t          i, s, e, v, len;
    unsigned char  *buf;

    buf = malloc(n + 1);
    check(buf != NULL);

    events = 0;
    len = 0;
    *data = buf;
    *dlen = 0;

    for (i = 0; i < n; /* void */) {
        s = i;

        while (i < n && p[i] != '\r' && p[i] != '\n') {
            i++;
        }

        if (i == n) {
            break;              /* no line end: not dispatched */
        }

        e = i;
        i += (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') ? 2 : 1;

        if (e == s) {
            if (len > 0) {
                events++;
                *dlen = len - 1;        /* without the last LF */
                len = 0;
            }

            continue;
        }

        if (e - s >= 5 && memcmp(p + s, "data:", 5) == 0) {
            v = s + 5;

            if (v < e && p[v] == ' ') {
                v++;
            }

            memmove(buf + len, p + v, e - v);
            len += e - v;
            buf[len++] = '\n';

        } else {
            check(0);           /* the writer writes only data lines */
        }
    }

    return events;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             utf8;
    size_t          n, m, dlen;
    ssize_t         k;
    json_t         *v, *s;
    json_error_t    jerr;
    unsigned char  *out, *ref, *back, *ev;
    char           *dump;

    n = ac_sse_text_event(NULL, data, size);
    check(n >= sizeof("data: \"\"\n\n") - 1);

    out = malloc(n);
    check(out != NULL);
    check(ac_sse_text_event(out, data, size) == n);

    /* the framing: one data line, then a blank line */

    check(memcmp(out, "data: ", 6) == 0);
    check(out[n - 2] == '\n' && out[n - 1] == '\n');

    for (m = 6; m < n - 2; m++) {
        check(out[m] >= 0x20);
    }

    check(sse_events(out, n, &ev, &dlen) == 1);
    check(dlen == n - 8 && memcmp(ev, out + 6, dlen) == 0);
    free(ev);

    /* the reference's bytes: at most 6 per input byte, and the quotes */

    ref = malloc(size * 6 + 2);
    check(ref != NULL);
    m = reference(ref, data, size);
    check(m == n - 8 && memcmp(ref, out + 6, m) == 0);
    free(ref);

    /* the value decodes to the input */

    back = malloc(size + 1);
    check(back != NULL);
    k = unescape(out + 6, n - 8, back);
    check(k >= 0 && (size_t) k == size && memcmp(back, data, size) == 0);
    free(back);

    utf8 = valid_utf8(data, size);

    v = json_loadb((const char *) out + 6, n - 8,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

    check((v != NULL) == utf8);

    if (v != NULL) {
        check(json_is_string(v));
        check(json_string_length(v) == size);
        check(memcmp(json_string_value(v), data, size) == 0);
        json_decref(v);

        /* the writer of whole values (error events) agrees */

        s = json_stringn((const char *) data, size);
        check(s != NULL);
        dump = ac_json_dumps(s, 1, &m);
        check(dump != NULL);
        check(m == n - 8 && memcmp(dump, out + 6, m) == 0);
        free(dump);
        json_decref(s);
    }

    free(out);

    return 0;
}
