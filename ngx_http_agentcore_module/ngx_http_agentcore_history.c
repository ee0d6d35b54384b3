
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * A conversation's history, plain C on jansson: Strands' sliding
 * window, the interrupted-tool repair, the user turn, and the binary
 * form kept in shared memory.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_history.h"
#include "ngx_http_agentcore_content.h"


#define AC_H_NULL      0x00
#define AC_H_FALSE     0x01
#define AC_H_TRUE      0x02
#define AC_H_INT       0x03    /* zigzag varint */
#define AC_H_REAL      0x04    /* 8 bytes, IEEE 754, little endian */
#define AC_H_STRING    0x05    /* varint length, bytes */
#define AC_H_ARRAY     0x06    /* varint count, values */
#define AC_H_OBJECT    0x07    /* varint count, (key, value) pairs */
#define AC_H_WORD      0x08    /* varint index into ac_history_words */
#define AC_H_BASE64    0x09    /* varint length, the decoded bytes of a
                                  string in canonical base64 */

/* shorter strings stay strings */
#define AC_H_BASE64_MIN  16

#define AC_H_MAGIC     "ACH\x01"
#define AC_H_MAGIC_LEN 4


typedef struct {
    unsigned char           *out;
    size_t                   len;      /* room in out */
    size_t                   pos;      /* bytes produced, written or not */
} ac_h_writer_t;


typedef struct {
    const unsigned char     *p;
    const unsigned char     *last;
    const char              *error;
} ac_h_reader_t;


/*
 * Keys and string values written as one-byte references: part of the
 * format, so only ever appended to (a new entry needs no new version;
 * an old reader rejects it as a bad reference).
 */
static const char  *ac_history_words[] = {
    "role", "content", "text", "user", "assistant",
    "toolUse", "toolUseId", "name", "input", "toolResult",
    "status", "success", "error", "json", "reasoningContent",
    "reasoningText", "signature", "redactedContent", "image", "document",
    "format", "source", "bytes", "expression", "timezone",
    "calculator", "weather", "get_time", "current_time", AC_REF_BLANK_TEXT,
    AC_HISTORY_INTERRUPTED, "video", "s3Location", "uri", "bucketOwner",
    "png", "jpeg", "gif", "webp", "pdf", "citations", "context"
};

#define AC_H_NWORDS  (sizeof(ac_history_words) / sizeof(ac_history_words[0]))


static int ac_history_is_role(json_t *message, const char *role);
static int ac_history_has_block(json_t *message, const char *type);
static int ac_history_encode_value(ac_h_writer_t *w, json_t *v,
    unsigned depth);
static json_t *ac_history_decode_value(ac_h_reader_t *r, unsigned depth);


/* the sliding window */

size_t
ac_history_trim(json_t *messages, size_t window)
{
    size_t   n, i, cut;
    json_t  *m, *next;

    n = json_array_size(messages);

    if (n <= window) {
        return 0;
    }

    /* a plain user message: no toolResult, a toolUse only if answered */

    for (i = n - window; i < n; i++) {
        m = json_array_get(messages, i);

        if (!ac_history_is_role(m, "user")
            || ac_history_has_block(m, "toolResult"))
        {
            continue;
        }

        if (ac_history_has_block(m, "toolUse")) {
            next = json_array_get(messages, i + 1);

            if (next == NULL || !ac_history_has_block(next, "toolResult")) {
                continue;
            }
        }

        goto found;
    }

    /* the fallback: an assistant(toolUse) + user(toolResult) boundary */

    for (i = n - window; i + 1 < n; i++) {
        m = json_array_get(messages, i);
        next = json_array_get(messages, i + 1);

        if (ac_history_is_role(m, "assistant")
            && ac_history_has_block(m, "toolUse")
            && ac_history_is_role(next, "user")
            && ac_history_has_block(next, "toolResult"))
        {
            goto found;
        }
    }

    return 0;

found:

    for (cut = 0; cut < i; cut++) {
        json_array_remove(messages, 0);
    }

    return i;
}


/* where a shortened history may start: Strands' context-overflow cut */

size_t
ac_history_cut_point(json_t *messages, size_t last)
{
    size_t   i, n;
    json_t  *m, *next;

    n = json_array_size(messages);

    for (i = 1; i <= last && i < n; i++) {
        m = json_array_get(messages, i);

        if (!ac_history_is_role(m, "user")
            || ac_history_has_block(m, "toolResult"))
        {
            continue;
        }

        if (ac_history_has_block(m, "toolUse")) {
            next = json_array_get(messages, i + 1);

            if (next == NULL || !ac_history_has_block(next, "toolResult")) {
                continue;
            }
        }

        return i;
    }

    return 0;
}


int
ac_history_repair(json_t *messages)
{
    int      added;
    size_t   n, i;
    json_t  *last, *content, *block, *use, *id, *results, *result;

    n = json_array_size(messages);

    if (n == 0) {
        return 0;
    }

    last = json_array_get(messages, n - 1);

    if (!ac_history_has_block(last, "toolUse")) {
        return 0;
    }

    results = json_array();
    if (results == NULL) {
        return -1;
    }

    added = 0;
    content = json_object_get(last, "content");

    json_array_foreach(content, i, block) {
        use = json_object_get(block, "toolUse");
        if (use == NULL) {
            continue;
        }

        id = json_object_get(use, "toolUseId");
        id = json_is_string(id) ? json_incref(id) : json_string("");

        result = json_pack("{s:{s:o, s:s, s:[{s:s}]}}", "toolResult",
                           "toolUseId", id,
                           "status", "error",
                           "content", "text", AC_HISTORY_INTERRUPTED);

        if (result == NULL || json_array_append_new(results, result) != 0) {
            json_decref(results);
            return -1;
        }

        added++;
    }

    if (json_array_append_new(messages,
                              json_pack("{s:s, s:o}", "role", "user",
                                        "content", results))
        != 0)
    {
        return -1;
    }

    return added;
}


int
ac_history_max_tokens(json_t *message)
{
    int          n;
    char        *text;
    size_t       i, len;
    json_t      *content, *block, *use, *name;
    const char  *s;

    n = 0;
    content = json_object_get(message, "content");

    json_array_foreach(content, i, block) {
        use = json_object_get(block, "toolUse");
        if (use == NULL) {
            continue;
        }

        name = json_object_get(use, "name");

        if (json_is_string(name) && json_string_length(name) > 0) {
            s = json_string_value(name);
            len = json_string_length(name);

        } else {
            s = AC_REF_MAX_TOKENS_TOOL_NONAME;
            len = sizeof(AC_REF_MAX_TOKENS_TOOL_NONAME) - 1;
        }

        text = malloc(sizeof(AC_REF_MAX_TOKENS_TOOL_PRE)
                      + sizeof(AC_REF_MAX_TOKENS_TOOL_POST) + len);
        if (text == NULL) {
            return -1;
        }

        memcpy(text, AC_REF_MAX_TOKENS_TOOL_PRE,
               sizeof(AC_REF_MAX_TOKENS_TOOL_PRE) - 1);
        memcpy(text + sizeof(AC_REF_MAX_TOKENS_TOOL_PRE) - 1, s, len);
        memcpy(text + sizeof(AC_REF_MAX_TOKENS_TOOL_PRE) - 1 + len,
               AC_REF_MAX_TOKENS_TOOL_POST,
               sizeof(AC_REF_MAX_TOKENS_TOOL_POST));

        block = json_pack("{s:s%}", "text", text,
                          sizeof(AC_REF_MAX_TOKENS_TOOL_PRE)
                          + sizeof(AC_REF_MAX_TOKENS_TOOL_POST) - 2 + len);
        free(text);

        if (block == NULL || json_array_set_new(content, i, block) != 0) {
            return -1;
        }

        n++;
    }

    return n;
}


int
ac_history_add_user_text(json_t *messages, json_t *text)
{
    size_t   n;
    json_t  *last, *content;

    if (!json_is_string(text)) {
        return -1;
    }

    n = json_array_size(messages);
    last = n ? json_array_get(messages, n - 1) : NULL;
    content = json_object_get(last, "content");

    if (ac_history_is_role(last, "user") && json_is_array(content)) {
        return json_array_append_new(content,
                                     json_pack("{s:O}", "text", text));
    }

    return json_array_append_new(messages,
                                 json_pack("{s:s, s:[{s:O}]}",
                                           "role", "user",
                                           "content", "text", text));
}


int
ac_history_add_user(json_t *messages, json_t *prompt)
{
    size_t   n, i;
    json_t  *last, *content, *block;

    if (json_is_string(prompt)) {
        return ac_history_add_user_text(messages, prompt);
    }

    if (!json_is_array(prompt)) {
        return -1;
    }

    n = json_array_size(messages);
    last = n ? json_array_get(messages, n - 1) : NULL;
    content = json_object_get(last, "content");

    if (!ac_history_is_role(last, "user") || !json_is_array(content)) {
        content = json_array();

        if (json_array_append_new(messages,
                                  json_pack("{s:s, s:o}", "role", "user",
                                            "content", content))
            != 0)
        {
            return -1;
        }
    }

    json_array_foreach(prompt, i, block) {
        if (json_array_append(content, block) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
ac_history_is_role(json_t *message, const char *role)
{
    json_t  *r;

    r = json_object_get(message, "role");

    return json_is_string(r) && strcmp(json_string_value(r), role) == 0;
}


static int
ac_history_has_block(json_t *message, const char *type)
{
    size_t   i;
    json_t  *content, *block;

    content = json_object_get(message, "content");

    json_array_foreach(content, i, block) {
        if (json_object_get(block, type) != NULL) {
            return 1;
        }
    }

    return 0;
}


/* the binary form */

static void
ac_h_put(ac_h_writer_t *w, const void *data, size_t len)
{
    if (w->out && w->pos <= w->len && len <= w->len - w->pos) {
        memcpy(w->out + w->pos, data, len);
    }

    w->pos += len;
}


static void
ac_h_put_byte(ac_h_writer_t *w, unsigned char c)
{
    ac_h_put(w, &c, 1);
}


static void
ac_h_put_varint(ac_h_writer_t *w, uint64_t v)
{
    size_t         n;
    unsigned char  buf[10];

    n = 0;

    while (v >= 0x80) {
        buf[n++] = (unsigned char) (v | 0x80);
        v >>= 7;
    }

    buf[n++] = (unsigned char) v;

    ac_h_put(w, buf, n);
}


static int
ac_h_word(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < AC_H_NWORDS; i++) {
        if (strlen(ac_history_words[i]) == len
            && memcmp(ac_history_words[i], s, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


/*
 * A string whose decoded bytes encode back to it exactly (standard
 * alphabet, padding, no whitespace, zero unused bits) goes as those
 * bytes: 3/4 of its length.  Returns -1 for any other string.
 */

static int
ac_h_base64(ac_h_writer_t *w, const char *s, size_t len)
{
    long            n;
    size_t          bad, room;
    unsigned char   last[3];
    char            check[4];
    unsigned char  *p;

    if (len % 4 != 0) {
        return -1;
    }

    n = ac_base64_decode(s, len, NULL, &bad);

    if (n < 0 || (size_t) (n + 2) / 3 * 4 != len) {
        return -1;      /* not base64, or whitespace in it */
    }

    /* the last quantum decides whether it is canonical */

    (void) ac_base64_decode(s + len - 4, 4, last, &bad);
    ac_base64_encode(last, (size_t) n - (size_t) (n - 1) / 3 * 3, check);

    if (memcmp(check, s + len - 4, 4) != 0) {
        return -1;
    }

    ac_h_put_byte(w, AC_H_BASE64);
    ac_h_put_varint(w, (uint64_t) n);

    /* decoded straight into the output when it has room */

    room = (w->out && w->pos <= w->len) ? w->len - w->pos : 0;

    if (w->out && (size_t) n <= room) {
        p = w->out + w->pos;

        if ((size_t) n % 3 == 0) {
            (void) ac_base64_decode(s, len, p, &bad);

        } else {
            /* the last quantum writes 3 bytes: keep the tail in bounds */
            (void) ac_base64_decode(s, len - 4, p, &bad);
            memcpy(p + (len - 4) / 4 * 3, last,
                   (size_t) n - (len - 4) / 4 * 3);
        }
    }

    w->pos += (size_t) n;

    return 0;
}


size_t
ac_history_encode(json_t *messages, unsigned char *out, size_t out_len)
{
    ac_h_writer_t  w;

    if (!json_is_array(messages)) {
        return 0;
    }

    w.out = out;
    w.len = out ? out_len : 0;
    w.pos = 0;

    ac_h_put(&w, AC_H_MAGIC, AC_H_MAGIC_LEN);

    if (ac_history_encode_value(&w, messages, 0) != 0) {
        return 0;
    }

    return w.pos;
}


static int
ac_history_encode_value(ac_h_writer_t *w, json_t *v, unsigned depth)
{
    int           word;
    size_t        i, len;
    double        d;
    json_t       *item;
    uint64_t      u;
    json_int_t    n;
    const char   *key, *s;
    unsigned char buf[8];

    if (depth >= AC_HISTORY_MAX_DEPTH) {
        return -1;
    }

    switch (json_typeof(v)) {

    case JSON_NULL:
        ac_h_put_byte(w, AC_H_NULL);
        return 0;

    case JSON_FALSE:
        ac_h_put_byte(w, AC_H_FALSE);
        return 0;

    case JSON_TRUE:
        ac_h_put_byte(w, AC_H_TRUE);
        return 0;

    case JSON_INTEGER:
        n = json_integer_value(v);
        u = ((uint64_t) n << 1) ^ (uint64_t) (n < 0 ? -1 : 0);
        ac_h_put_byte(w, AC_H_INT);
        ac_h_put_varint(w, u);
        return 0;

    case JSON_REAL:
        d = json_real_value(v);
        memcpy(&u, &d, sizeof(u));

        for (i = 0; i < 8; i++) {
            buf[i] = (unsigned char) (u >> (8 * i));
        }

        ac_h_put_byte(w, AC_H_REAL);
        ac_h_put(w, buf, 8);
        return 0;

    case JSON_STRING:
        s = json_string_value(v);
        len = json_string_length(v);
        word = ac_h_word(s, len);

        if (word >= 0) {
            ac_h_put_byte(w, AC_H_WORD);
            ac_h_put_varint(w, (uint64_t) word);
            return 0;
        }

        if (len >= AC_H_BASE64_MIN && ac_h_base64(w, s, len) == 0) {
            return 0;
        }

        ac_h_put_byte(w, AC_H_STRING);
        ac_h_put_varint(w, len);
        ac_h_put(w, s, len);
        return 0;

    case JSON_ARRAY:
        ac_h_put_byte(w, AC_H_ARRAY);
        ac_h_put_varint(w, json_array_size(v));

        json_array_foreach(v, i, item) {
            if (ac_history_encode_value(w, item, depth + 1) != 0) {
                return -1;
            }
        }

        return 0;

    case JSON_OBJECT:
        ac_h_put_byte(w, AC_H_OBJECT);
        ac_h_put_varint(w, json_object_size(v));

        json_object_keylen_foreach(v, key, len, item) {
            word = ac_h_word(key, len);

            /* odd: a word's index; even: the length of a literal key */

            if (word >= 0) {
                ac_h_put_varint(w, ((uint64_t) word << 1) | 1);

            } else {
                ac_h_put_varint(w, (uint64_t) len << 1);
                ac_h_put(w, key, len);
            }

            if (ac_history_encode_value(w, item, depth + 1) != 0) {
                return -1;
            }
        }

        return 0;
    }

    return -1;
}


static int
ac_h_get_varint(ac_h_reader_t *r, uint64_t *v)
{
    unsigned  shift;
    uint64_t  b;

    *v = 0;

    for (shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->last) {
            r->error = "truncated";
            return -1;
        }

        b = *r->p++;

        if (shift == 63 && b > 1) {
            r->error = "varint overflow";
            return -1;
        }

        *v |= (b & 0x7f) << shift;

        if (!(b & 0x80)) {
            return 0;
        }
    }

    r->error = "varint overflow";
    return -1;
}


/* a length or count that the remaining bytes can hold, "min" each */

static int
ac_h_get_size(ac_h_reader_t *r, size_t min, size_t *n)
{
    uint64_t  v;

    if (ac_h_get_varint(r, &v) != 0) {
        return -1;
    }

    if (v > (uint64_t) (r->last - r->p) / min) {
        r->error = "truncated";
        return -1;
    }

    *n = (size_t) v;

    return 0;
}


json_t *
ac_history_decode(const unsigned char *p, size_t len, const char **error)
{
    json_t         *v;
    const char     *none;
    ac_h_reader_t   r;

    if (error == NULL) {
        error = &none;
    }

    if (len < AC_H_MAGIC_LEN || memcmp(p, AC_H_MAGIC, AC_H_MAGIC_LEN) != 0) {
        *error = "not a history (bad magic or version)";
        return NULL;
    }

    r.p = p + AC_H_MAGIC_LEN;
    r.last = p + len;
    r.error = NULL;

    if (r.p >= r.last || *r.p != AC_H_ARRAY) {
        *error = "not an array";
        return NULL;
    }

    v = ac_history_decode_value(&r, 0);

    if (v == NULL) {
        *error = r.error ? r.error : "no memory";
        return NULL;
    }

    if (r.p != r.last) {
        json_decref(v);
        *error = "trailing bytes";
        return NULL;
    }

    return v;
}


static json_t *
ac_history_decode_value(ac_h_reader_t *r, unsigned depth)
{
    int                   tag;
    size_t                i, n, len;
    double                d;
    json_t               *v, *item;
    uint64_t              u;
    char                 *b64;
    const char           *key;
    const unsigned char  *s;

    if (depth >= AC_HISTORY_MAX_DEPTH) {
        r->error = "too deep";
        return NULL;
    }

    if (r->p >= r->last) {
        r->error = "truncated";
        return NULL;
    }

    tag = *r->p++;

    switch (tag) {

    case AC_H_NULL:
        return json_null();

    case AC_H_FALSE:
        return json_false();

    case AC_H_TRUE:
        return json_true();

    case AC_H_INT:
        if (ac_h_get_varint(r, &u) != 0) {
            return NULL;
        }

        return json_integer((json_int_t) ((u >> 1) ^ (0 - (u & 1))));

    case AC_H_REAL:
        if (r->last - r->p < 8) {
            r->error = "truncated";
            return NULL;
        }

        u = 0;

        for (i = 0; i < 8; i++) {
            u |= (uint64_t) r->p[i] << (8 * i);
        }

        r->p += 8;
        memcpy(&d, &u, sizeof(d));

        v = json_real(d);
        if (v == NULL) {
            r->error = "not a finite number";
        }

        return v;

    case AC_H_STRING:
        if (ac_h_get_size(r, 1, &len) != 0) {
            return NULL;
        }

        s = r->p;
        r->p += len;

        v = json_stringn((const char *) s, len);
        if (v == NULL) {
            r->error = "string not UTF-8";
        }

        return v;

    case AC_H_BASE64:
        if (ac_h_get_size(r, 1, &len) != 0) {
            return NULL;
        }

        if (len == 0) {
            r->error = "empty base64";
            return NULL;
        }

        b64 = malloc((len + 2) / 3 * 4);
        if (b64 == NULL) {
            return NULL;
        }

        ac_base64_encode(r->p, len, b64);
        r->p += len;

        v = json_stringn_nocheck(b64, (len + 2) / 3 * 4);
        free(b64);

        return v;

    case AC_H_WORD:
        if (ac_h_get_varint(r, &u) != 0) {
            return NULL;
        }

        if (u >= AC_H_NWORDS) {
            r->error = "unknown word";
            return NULL;
        }

        return json_string(ac_history_words[u]);

    case AC_H_ARRAY:
        if (ac_h_get_size(r, 1, &n) != 0) {
            return NULL;
        }

        v = json_array();
        if (v == NULL) {
            return NULL;
        }

        for (i = 0; i < n; i++) {
            item = ac_history_decode_value(r, depth + 1);

            if (item == NULL || json_array_append_new(v, item) != 0) {
                json_decref(v);
                return NULL;
            }
        }

        return v;

    case AC_H_OBJECT:
        if (ac_h_get_size(r, 2, &n) != 0) {
            return NULL;
        }

        v = json_object();
        if (v == NULL) {
            return NULL;
        }

        for (i = 0; i < n; i++) {
            if (ac_h_get_varint(r, &u) != 0) {
                goto failed;
            }

            if (u & 1) {
                if ((u >> 1) >= AC_H_NWORDS) {
                    r->error = "unknown word";
                    goto failed;
                }

                key = ac_history_words[u >> 1];
                len = strlen(key);

            } else {
                if ((u >> 1) > (uint64_t) (r->last - r->p)) {
                    r->error = "truncated";
                    goto failed;
                }

                key = (const char *) r->p;
                len = (size_t) (u >> 1);
                r->p += len;

                /* as jansson's parser, which gives no such keys */
                if (memchr(key, '\0', len) != NULL) {
                    r->error = "key holds a NUL byte";
                    goto failed;
                }
            }

            item = ac_history_decode_value(r, depth + 1);
            if (item == NULL) {
                goto failed;
            }

            if (json_object_getn(v, key, len) != NULL) {
                json_decref(item);
                r->error = "duplicate key";
                goto failed;
            }

            /* checks the key is UTF-8; steals item even on failure */
            if (json_object_setn_new(v, key, len, item) != 0) {
                r->error = "key not UTF-8";
                goto failed;
            }
        }

        return v;

    failed:

        json_decref(v);
        return NULL;
    }

    r->error = "bad tag";
    return NULL;
}
