/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Bedrock ConverseStream semantics: the model path on the wire, the
 * request JSON, the assistant turn rebuilt from decoded event-stream
 * messages (one json_loadb() per event, text kept in growable buffers;
 * text deltas and the other frequent events in Bedrock's own layout take
 * a fast path that reads them without building JSON values), and the
 * error texts botocore would produce.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_converse.h"
#include "ngx_http_agentcore_json.h"
#include "ngx_http_agentcore_reference.h"


#define AC_TURN_MAX_BLOCKS      1024
#define AC_TURN_RAW_MAX         512

#define AC_BLOCK_NONE           0
#define AC_BLOCK_TEXT           1
#define AC_BLOCK_TOOL           2
#define AC_BLOCK_REASONING      3

#define AC_OPERATION            "ConverseStream"


typedef struct {
    char                    *data;
    size_t                   len;
    size_t                   size;
} ac_buf_t;


typedef struct {
    unsigned                 type;
    unsigned                 stopped;
    ac_buf_t                 text;       /* text, reasoning or tool input */
    ac_buf_t                 signature;  /* reasoning signature */
    ac_buf_t                 redacted;   /* reasoning redactedContent */
    json_t                  *tool_id;
    json_t                  *tool_name;
    json_t                  *input;      /* tool input, once parsed */
} ac_block_t;


struct ac_turn_s {
    ac_turn_text_pt          on_text;
    void                    *data;

    ac_block_t              *blocks;
    size_t                   nblocks;    /* highest index seen + 1 */
    size_t                   nalloc;
    size_t                   tool_uses;
    uint64_t                 fast_events;

    json_t                  *stop_reason;
    ac_usage_t               usage;

    unsigned                 stopped;
    unsigned                 has_metadata;
    unsigned                 failed;

    char                    *error;
    char                    *error_type;
};


static const char  ac_turn_oom[] = "Out of memory while reading the "
                                   AC_OPERATION " response";
static const char  ac_turn_oom_type[] = "OutOfMemory";
static const char  ac_turn_invalid_type[] = "InvalidEvent";

static const char *ac_block_names[] = {
    "unset", "text", "toolUse", "reasoningContent"
};


static int ac_buf_append(ac_buf_t *b, const char *p, size_t n);
static void ac_buf_free(ac_buf_t *b);
static const unsigned char *ac_turn_header(const ac_es_message_t *msg,
    const char *name, size_t *len);
static int ac_turn_event(ac_turn_t *t, const ac_es_message_t *msg,
    const unsigned char *et, size_t et_len);
static int ac_turn_exception(ac_turn_t *t, const ac_es_message_t *msg);
static int ac_turn_error_frame(ac_turn_t *t, const ac_es_message_t *msg);
static int ac_turn_block_start(ac_turn_t *t, json_t *root);
static int ac_turn_block_delta(ac_turn_t *t, json_t *root);
static int ac_turn_fast_delta(ac_turn_t *t, const unsigned char *p,
    size_t n, int *rc);
static int ac_turn_fast_event(ac_turn_t *t, const char *key,
    const unsigned char *p, size_t n, int *rc);
static const unsigned char *ac_fast_index(const unsigned char *p,
    const unsigned char *end, size_t *index);
static int ac_turn_stop_block(ac_turn_t *t, size_t index);
static const unsigned char *ac_fast_string(const unsigned char *p,
    const unsigned char *end, size_t *escapes);
static size_t ac_fast_unescape(char *dst, const unsigned char *p,
    const unsigned char *end);
static int ac_turn_block_stop(ac_turn_t *t, json_t *root);
static int ac_turn_message_stop(ac_turn_t *t, json_t *root);
static void ac_turn_metadata(ac_turn_t *t, json_t *root);
static int ac_turn_fast_metadata(ac_turn_t *t, const unsigned char *p,
    size_t n);
static const unsigned char *ac_fast_counts(const unsigned char *p,
    const unsigned char *end, ac_usage_t *usage, int usage_object);
static int ac_turn_index(ac_turn_t *t, const char *event, json_t *root,
    size_t *index);
static ac_block_t *ac_turn_block(ac_turn_t *t, size_t index);
static int ac_turn_block_type(ac_turn_t *t, const char *event,
    ac_block_t *b, size_t index, unsigned type);
static int ac_turn_invalid(ac_turn_t *t, const char *event,
    const char *fmt, ...);
static int ac_turn_fail(ac_turn_t *t, const char *type, size_t type_len,
    const char *fmt, ...);
static int ac_turn_nomem(ac_turn_t *t);
static void ac_turn_free_error(ac_turn_t *t);
static json_t *ac_block_input(ac_block_t *b);
static int ac_text_is_blank(const unsigned char *p, size_t len);
static size_t ac_raw_text(const unsigned char *p, size_t n, char *out,
    size_t out_len);
static size_t ac_error_type(const char *p, size_t len, char *out,
    size_t out_len);
static size_t ac_utf8_cut(const char *p, size_t len);


/* path */

size_t
ac_model_wire_path(const char *model_id, size_t len, char *out)
{
    char          *p;
    size_t         i;
    unsigned char  c;

    static const char  hex[] = "0123456789ABCDEF";

    p = out;

    memcpy(p, "/model/", sizeof("/model/") - 1);
    p += sizeof("/model/") - 1;

    for (i = 0; i < len; i++) {
        c = (unsigned char) model_id[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9')
            || c == '-' || c == '.' || c == '_' || c == '~')
        {
            *p++ = (char) c;
            continue;
        }

        *p++ = '%';
        *p++ = hex[c >> 4];
        *p++ = hex[c & 0x0f];
    }

    memcpy(p, "/converse-stream", sizeof("/converse-stream"));
    p += sizeof("/converse-stream") - 1;

    return (size_t) (p - out);
}


/* request */

char *
ac_converse_request(const ac_converse_conf_t *conf, json_t *messages,
    size_t *len)
{
    char    *s, *suffix;
    size_t   n;

    suffix = ac_converse_request_suffix(conf, &n);
    if (suffix == NULL) {
        return NULL;
    }

    s = ac_converse_request_join(messages, suffix, n, len);

    free(suffix);

    return s;
}


/*
 * json_dumps() of {"messages":..,"system":..,..} with the keys in this
 * order is "{\"messages\":" MESSAGES "," REST "}": the object without
 * "messages" is dumped once and its "{" becomes the ","
 */

char *
ac_converse_request_suffix(const ac_converse_conf_t *conf, size_t *len)
{
    char    *s;
    size_t   n;
    json_t  *root, *v, *tc;

    root = json_object();
    if (root == NULL) {
        return NULL;
    }

    if (conf->system_prompt != NULL) {
        v = json_pack("[{s:s}]", "text", conf->system_prompt);

        if (json_object_set_new(root, "system", v) != 0) {
            goto failed;
        }
    }

    if (conf->max_tokens < 0) {
        v = json_object();

    } else {
        v = json_pack("{s:I}", "maxTokens", (json_int_t) conf->max_tokens);
    }

    if (json_object_set_new(root, "inferenceConfig", v) != 0) {
        goto failed;
    }

    if (conf->tools != NULL && json_is_array(conf->tools)
        && json_array_size(conf->tools) > 0)
    {
        tc = json_object();

        /* json_object_set() takes its own reference: the caller keeps his */

        if (json_object_set_new(root, "toolConfig", tc) != 0
            || json_object_set(tc, "tools", conf->tools) != 0
            || json_object_set_new(tc, "toolChoice",
                                   json_pack("{s:{}}", "auto")) != 0)
        {
            goto failed;
        }
    }

    s = ac_json_dumps_jansson(root, &n);

    json_decref(root);

    if (s == NULL || n < 2) {
        free(s);
        return NULL;
    }

    if (n == 2) {
        /* "{}": nothing follows the messages */
        s[0] = '}';
        s[1] = '\0';
        n = 1;

    } else {
        s[0] = ',';
    }

    *len = n;

    return s;

failed:

    json_decref(root);

    return NULL;
}


char *
ac_converse_request_join(json_t *messages, const char *suffix,
    size_t suffix_len, size_t *len)
{
    char    *s;
    json_t  *empty;

    static const char  prefix[] = "{\"messages\":";

    if (messages != NULL) {
        return ac_json_dumps_jansson_between(prefix, sizeof(prefix) - 1,
                                             messages, suffix, suffix_len,
                                             len);
    }

    empty = json_array();
    if (empty == NULL) {
        return NULL;
    }

    s = ac_json_dumps_jansson_between(prefix, sizeof(prefix) - 1, empty,
                                      suffix, suffix_len, len);

    json_decref(empty);

    return s;
}


/* turn */

ac_turn_t *
ac_turn_create(ac_turn_text_pt on_text, void *data)
{
    ac_turn_t  *t;

    t = calloc(1, sizeof(ac_turn_t));
    if (t == NULL) {
        return NULL;
    }

    t->on_text = on_text;
    t->data = data;

    return t;
}


void
ac_turn_destroy(ac_turn_t *t)
{
    size_t       i;
    ac_block_t  *b;

    if (t == NULL) {
        return;
    }

    for (i = 0; i < t->nblocks; i++) {
        b = &t->blocks[i];

        ac_buf_free(&b->text);
        ac_buf_free(&b->signature);
        ac_buf_free(&b->redacted);

        json_decref(b->tool_id);
        json_decref(b->tool_name);
        json_decref(b->input);
    }

    free(t->blocks);
    json_decref(t->stop_reason);
    ac_turn_free_error(t);
    free(t);
}


int
ac_turn_feed(ac_turn_t *t, const ac_es_message_t *msg)
{
    size_t                len;
    const unsigned char  *mt, *et;

    if (t->failed) {
        return AC_TURN_ERROR;
    }

    /* header values of any type are accepted; only strings compare */

    mt = ac_turn_header(msg, ":message-type", &len);

    if (mt == NULL) {
        /* not a Bedrock message: the SDK skips it too */
        return AC_TURN_OK;
    }

    if (len == 5 && memcmp(mt, "event", 5) == 0) {
        et = ac_turn_header(msg, ":event-type", &len);

        if (et == NULL) {
            return AC_TURN_OK;
        }

        return ac_turn_event(t, msg, et, len);
    }

    if (len == 9 && memcmp(mt, "exception", 9) == 0) {
        return ac_turn_exception(t, msg);
    }

    if (len == 5 && memcmp(mt, "error", 5) == 0) {
        return ac_turn_error_frame(t, msg);
    }

    /* an unknown message type */

    return AC_TURN_OK;
}


static const unsigned char *
ac_turn_header(const ac_es_message_t *msg, const char *name, size_t *len)
{
    const ac_es_header_t  *h;

    h = ac_es_header(msg, name);

    if (h == NULL || (h->type != AC_ES_STRING && h->type != AC_ES_BYTES)) {
        return NULL;
    }

    *len = h->value_len;

    return h->value;
}


#define ac_turn_is(et, et_len, s)                                            \
    ((et_len) == sizeof(s) - 1 && memcmp(et, s, sizeof(s) - 1) == 0)


static int
ac_turn_event(ac_turn_t *t, const ac_es_message_t *msg,
    const unsigned char *et, size_t et_len)
{
    int           rc, kind;
    json_t       *root;
    const char   *name;
    json_error_t  jerr;

    enum {
        ac_ev_start, ac_ev_block_start, ac_ev_delta, ac_ev_block_stop,
        ac_ev_stop, ac_ev_metadata
    };

    /* the delta is the most frequent event: test it first */

    if (ac_turn_is(et, et_len, "contentBlockDelta")) {
        if (ac_turn_fast_delta(t, msg->payload, msg->payload_len, &rc)) {
            return rc;
        }

        kind = ac_ev_delta;
        name = "contentBlockDelta";

    } else if (ac_turn_is(et, et_len, "contentBlockStart")) {
        kind = ac_ev_block_start;
        name = "contentBlockStart";

    } else if (ac_turn_is(et, et_len, "contentBlockStop")) {
        kind = ac_ev_block_stop;
        name = "contentBlockStop";

    } else if (ac_turn_is(et, et_len, "messageStart")) {
        kind = ac_ev_start;
        name = "messageStart";

    } else if (ac_turn_is(et, et_len, "messageStop")) {
        kind = ac_ev_stop;
        name = "messageStop";

    } else if (ac_turn_is(et, et_len, "metadata")) {
        kind = ac_ev_metadata;
        name = "metadata";

    } else {
        /* an unknown event type is skipped, as the SDK does */
        return AC_TURN_OK;
    }

    /* the other frequent events in Bedrock's layout: no JSON values */

    if ((kind == ac_ev_start || kind == ac_ev_block_stop
         || kind == ac_ev_stop)
        && ac_turn_fast_event(t, kind == ac_ev_start ? "role"
                                 : kind == ac_ev_stop ? "stopReason"
                                 : "contentBlockIndex",
                              msg->payload, msg->payload_len, &rc))
    {
        return rc;
    }

    if (kind == ac_ev_metadata
        && ac_turn_fast_metadata(t, msg->payload, msg->payload_len))
    {
        return AC_TURN_OK;
    }

    root = json_loadb((const char *) msg->payload, msg->payload_len,
                      JSON_ALLOW_NUL, &jerr);

    if (root == NULL) {
        return ac_turn_invalid(t, name, "%s", jerr.text);
    }

    if (!json_is_object(root)) {
        json_decref(root);
        return ac_turn_invalid(t, name, "the payload is not a JSON object");
    }

    switch (kind) {

    case ac_ev_delta:
        rc = ac_turn_block_delta(t, root);
        break;

    case ac_ev_block_start:
        rc = ac_turn_block_start(t, root);
        break;

    case ac_ev_block_stop:
        rc = ac_turn_block_stop(t, root);
        break;

    case ac_ev_stop:
        rc = ac_turn_message_stop(t, root);
        break;

    case ac_ev_metadata:
        ac_turn_metadata(t, root);
        rc = AC_TURN_OK;
        break;

    default: /* ac_ev_start */
        rc = AC_TURN_OK;
        break;
    }

    json_decref(root);

    return rc;
}


static int
ac_turn_block_start(ac_turn_t *t, json_t *root)
{
    size_t       index;
    json_t      *start, *tu, *id, *name;
    ac_block_t  *b;

    if (ac_turn_index(t, "contentBlockStart", root, &index) != AC_TURN_OK) {
        return AC_TURN_ERROR;
    }

    start = json_object_get(root, "start");

    if (!json_is_object(start)) {
        return ac_turn_invalid(t, "contentBlockStart",
                               "missing \"start\" object");
    }

    tu = json_object_get(start, "toolUse");

    if (tu == NULL) {
        /* other or empty starts (toolResult, image, {}) carry nothing */
        return AC_TURN_OK;
    }

    id = json_object_get(tu, "toolUseId");
    name = json_object_get(tu, "name");

    if (!json_is_string(id) || !json_is_string(name)) {
        return ac_turn_invalid(t, "contentBlockStart",
                               "toolUse needs string \"toolUseId\" and "
                               "\"name\"");
    }

    b = ac_turn_block(t, index);
    if (b == NULL) {
        return ac_turn_nomem(t);
    }

    if (ac_turn_block_type(t, "contentBlockStart", b, index, AC_BLOCK_TOOL)
        != AC_TURN_OK)
    {
        return AC_TURN_ERROR;
    }

    json_decref(b->tool_id);
    json_decref(b->tool_name);

    b->tool_id = json_incref(id);
    b->tool_name = json_incref(name);

    return AC_TURN_OK;
}


static int
ac_turn_block_delta(ac_turn_t *t, json_t *root)
{
    size_t       index;
    json_t      *delta, *v, *input;
    ac_block_t  *b;

    if (ac_turn_index(t, "contentBlockDelta", root, &index) != AC_TURN_OK) {
        return AC_TURN_ERROR;
    }

    delta = json_object_get(root, "delta");

    if (!json_is_object(delta)) {
        return ac_turn_invalid(t, "contentBlockDelta",
                               "missing \"delta\" object");
    }

    v = json_object_get(delta, "text");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return ac_turn_invalid(t, "contentBlockDelta",
                                   "\"text\" is not a string");
        }

        b = ac_turn_block(t, index);
        if (b == NULL) {
            return ac_turn_nomem(t);
        }

        if (ac_turn_block_type(t, "contentBlockDelta", b, index, AC_BLOCK_TEXT)
            != AC_TURN_OK)
        {
            return AC_TURN_ERROR;
        }

        if (ac_buf_append(&b->text, json_string_value(v),
                          json_string_length(v))
            != 0)
        {
            return ac_turn_nomem(t);
        }

        if (t->on_text != NULL) {
            return t->on_text(t->data, json_string_value(v),
                              json_string_length(v));
        }

        return AC_TURN_OK;
    }

    v = json_object_get(delta, "toolUse");

    if (v != NULL) {
        input = json_object_get(v, "input");

        if (!json_is_string(input)) {
            return ac_turn_invalid(t, "contentBlockDelta",
                                   "toolUse needs a string \"input\"");
        }

        b = ac_turn_block(t, index);
        if (b == NULL) {
            return ac_turn_nomem(t);
        }

        if (ac_turn_block_type(t, "contentBlockDelta", b, index, AC_BLOCK_TOOL)
            != AC_TURN_OK)
        {
            return AC_TURN_ERROR;
        }

        if (ac_buf_append(&b->text, json_string_value(input),
                          json_string_length(input))
            != 0)
        {
            return ac_turn_nomem(t);
        }

        return AC_TURN_OK;
    }

    v = json_object_get(delta, "reasoningContent");

    if (v != NULL) {
        if (!json_is_object(v)) {
            return ac_turn_invalid(t, "contentBlockDelta",
                                   "\"reasoningContent\" is not an object");
        }

        b = ac_turn_block(t, index);
        if (b == NULL) {
            return ac_turn_nomem(t);
        }

        if (ac_turn_block_type(t, "contentBlockDelta", b, index,
                               AC_BLOCK_REASONING)
            != AC_TURN_OK)
        {
            return AC_TURN_ERROR;
        }

        input = json_object_get(v, "text");

        if (json_is_string(input)
            && ac_buf_append(&b->text, json_string_value(input),
                             json_string_length(input))
               != 0)
        {
            return ac_turn_nomem(t);
        }

        input = json_object_get(v, "signature");

        if (json_is_string(input)
            && ac_buf_append(&b->signature, json_string_value(input),
                             json_string_length(input))
               != 0)
        {
            return ac_turn_nomem(t);
        }

        /* base64 text; several deltas are concatenated as text */

        input = json_object_get(v, "redactedContent");

        if (json_is_string(input)
            && ac_buf_append(&b->redacted, json_string_value(input),
                             json_string_length(input))
               != 0)
        {
            return ac_turn_nomem(t);
        }

        return AC_TURN_OK;
    }

    /* citation, toolResult, image or a future delta: not part of the turn */

    return AC_TURN_OK;
}


/*
 * The fast path for a text delta laid out as Bedrock sends it:
 *
 *     {"contentBlockIndex":N,"delta":{"text":"..."}[,"p":"..."]}
 *
 * with no white space, N of 1 to 4 digits, strings of valid UTF-8 with
 * no control characters and no \u escapes: returns 1 and the result
 * in *rc.  Anything else (another layout, member or order, an escape it
 * does not know, bytes json_loadb() would reject) returns 0 and takes
 * the json_loadb() path, so the outcome, errors included, is the same
 * either way: for these payloads json_loadb() gives an object whose
 * only members the slow path reads are these.
 */

static int
ac_turn_fast_delta(ac_turn_t *t, const unsigned char *p, size_t n, int *rc)
{
    char                 *d;
    size_t                index, old, len, escapes;
    ac_block_t           *b;
    const unsigned char  *end, *text, *text_end;

    static const char  head[] = "{\"contentBlockIndex\":";
    static const char  mid[] = ",\"delta\":{\"text\":\"";
    static const char  pad[] = ",\"p\":\"";

    end = p + n;

    if (n < sizeof(head) - 1 + 1 + sizeof(mid) - 1 + 3
        || memcmp(p, head, sizeof(head) - 1) != 0)
    {
        return 0;
    }

    p = ac_fast_index(p + sizeof(head) - 1, end, &index);
    if (p == NULL) {
        return 0;
    }

    if ((size_t) (end - p) < sizeof(mid) - 1
        || memcmp(p, mid, sizeof(mid) - 1) != 0)
    {
        return 0;
    }

    text = p + sizeof(mid) - 1;

    text_end = ac_fast_string(text, end, &escapes);
    if (text_end == NULL) {
        return 0;
    }

    /* "}" closes "delta"; then the padding or the end */

    p = text_end + 1;

    if (p >= end || *p++ != '}') {
        return 0;
    }

    if ((size_t) (end - p) >= sizeof(pad) - 1
        && memcmp(p, pad, sizeof(pad) - 1) == 0)
    {
        p = ac_fast_string(p + sizeof(pad) - 1, end, &len);
        if (p == NULL) {
            return 0;
        }

        p++;
    }

    if (p + 1 != end || *p != '}') {
        return 0;
    }

    /* what ac_turn_block_delta() does with such a delta */

    b = ac_turn_block(t, index);
    if (b == NULL) {
        *rc = ac_turn_nomem(t);
        return 1;
    }

    if (ac_turn_block_type(t, "contentBlockDelta", b, index, AC_BLOCK_TEXT)
        != AC_TURN_OK)
    {
        *rc = AC_TURN_ERROR;
        return 1;
    }

    len = (size_t) (text_end - text);
    old = b->text.len;

    /* unescaping only shrinks the text: room for it as it is */

    if (ac_buf_append(&b->text, (const char *) text, len) != 0) {
        *rc = ac_turn_nomem(t);
        return 1;
    }

    if (escapes) {
        d = b->text.data + old;
        len = ac_fast_unescape(d, text, text_end);
        b->text.len = old + len;
        b->text.data[b->text.len] = '\0';
    }

    t->fast_events++;

    *rc = (t->on_text != NULL) ? t->on_text(t->data, b->text.data + old, len)
                               : AC_TURN_OK;

    return 1;
}


/*
 * The same for messageStart, contentBlockStop and messageStop laid out
 * as {"KEY":VALUE} or {"KEY":VALUE,"p":"..."}: VALUE a string for
 * "role" and "stopReason", a block index for "contentBlockIndex".  The
 * rules of ac_turn_fast_delta() apply; what the json_loadb() path does
 * with such a payload is done here.
 */

static int
ac_turn_fast_event(ac_turn_t *t, const char *key, const unsigned char *p,
    size_t n, int *rc)
{
    char                 *text;
    size_t                klen, index, escapes, len;
    json_t               *v;
    const unsigned char  *end, *value, *value_end, *q;

    static const char  pad[] = ",\"p\":\"";

    end = p + n;
    klen = strlen(key);

    if (n < klen + 6 || p[0] != '{' || p[1] != '"'
        || memcmp(p + 2, key, klen) != 0 || p[2 + klen] != '"'
        || p[3 + klen] != ':')
    {
        return 0;
    }

    value = p + 4 + klen;
    index = 0;
    escapes = 0;

    if (key[0] == 'c') {
        value_end = ac_fast_index(value, end, &index);
        q = value_end;

    } else {
        if (*value != '"') {
            return 0;
        }

        value++;
        value_end = ac_fast_string(value, end, &escapes);
        q = value_end ? value_end + 1 : NULL;
    }

    if (q == NULL) {
        return 0;
    }

    if ((size_t) (end - q) >= sizeof(pad) - 1
        && memcmp(q, pad, sizeof(pad) - 1) == 0)
    {
        q = ac_fast_string(q + sizeof(pad) - 1, end, &len);
        if (q == NULL) {
            return 0;
        }

        q++;
    }

    if (q + 1 != end || *q != '}') {
        return 0;
    }

    t->fast_events++;

    switch (key[0]) {

    case 'c':
        *rc = ac_turn_stop_block(t, index);
        return 1;

    case 's':
        /* the stop reason as jansson would hold it */

        len = (size_t) (value_end - value);
        text = malloc(len + 1);
        if (text == NULL) {
            *rc = ac_turn_nomem(t);
            return 1;
        }

        len = ac_fast_unescape(text, value, value_end);

        v = json_stringn(text, len);
        free(text);

        if (v == NULL) {
            *rc = ac_turn_nomem(t);
            return 1;
        }

        json_decref(t->stop_reason);
        t->stop_reason = v;
        t->stopped = 1;

        *rc = AC_TURN_OK;
        return 1;

    default: /* "role": messageStart carries nothing the turn keeps */
        *rc = AC_TURN_OK;
        return 1;
    }
}


/*
 * A block index: 1 to 4 digits, no leading zero, below
 * AC_TURN_MAX_BLOCKS; returns what follows, or NULL (then json_loadb()
 * decides, and words the error).
 */

static const unsigned char *
ac_fast_index(const unsigned char *p, const unsigned char *end,
    size_t *index)
{
    const unsigned char  *digits;

    digits = p;
    *index = 0;

    while (p < end && *p >= '0' && *p <= '9' && p - digits < 5) {
        *index = *index * 10 + (size_t) (*p++ - '0');
    }

    if (p == digits || p - digits > 4 || (*digits == '0' && p - digits > 1)
        || *index >= AC_TURN_MAX_BLOCKS)
    {
        return NULL;
    }

    return p;
}

#define AC_ONES   0x0101010101010101ULL
#define AC_HIGHS  0x8080808080808080ULL

/* nonzero if a byte of w is >= 0x80, < 0x20, '"' or '\\' */
#define ac_fast_special(w)                                                   \
    (((w) & AC_HIGHS)                                                        \
     | (((w) - AC_ONES * 0x20) & ~(w) & AC_HIGHS)                            \
     | ((((w) ^ (AC_ONES * 0x22)) - AC_ONES) & ~((w) ^ (AC_ONES * 0x22))     \
        & AC_HIGHS)                                                          \
     | ((((w) ^ (AC_ONES * 0x5c)) - AC_ONES) & ~((w) ^ (AC_ONES * 0x5c))     \
        & AC_HIGHS))


/*
 * The body of a JSON string up to its closing quote: returns the quote,
 * or NULL if the string has a byte < 0x20, a \u or unknown escape,
 * invalid UTF-8 (as jansson checks it: no overlong forms, surrogates or
 * code points above U+10FFFF) or no end.  *escapes counts the escapes.
 */

static const unsigned char *
ac_fast_string(const unsigned char *p, const unsigned char *end,
    size_t *escapes)
{
    size_t         need;
    uint32_t       cp, min;
    uint64_t       w;
    unsigned char  c;

    *escapes = 0;

    while (p < end) {

        /* plain ASCII, 8 bytes at a time */

        while (end - p >= 8) {
            memcpy(&w, p, 8);

            if (ac_fast_special(w)) {
                break;
            }

            p += 8;
        }

        if (p == end) {
            break;
        }

        c = *p;

        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            p++;
            continue;
        }

        if (c == '"') {
            return p;
        }

        if (c == '\\') {
            if (end - p < 2) {
                return NULL;
            }

            switch (p[1]) {
            case '"': case '\\': case '/': case 'b': case 'f': case 'n':
            case 'r': case 't':
                break;
            default:
                return NULL;
            }

            (*escapes)++;
            p += 2;
            continue;
        }

        if (c < 0x20) {
            return NULL;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;

        } else {
            return NULL;
        }

        if ((size_t) (end - p) <= need) {
            return NULL;
        }

        for (p++; need; need--, p++) {
            if ((*p & 0xc0) != 0x80) {
                return NULL;
            }

            cp = (cp << 6) | (*p & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return NULL;
        }
    }

    return NULL;
}


/* the escapes ac_fast_string() accepted, decoded; returns the length */

static size_t
ac_fast_unescape(char *dst, const unsigned char *p, const unsigned char *end)
{
    char  *d;

    d = dst;

    while (p < end) {
        if (*p != '\\') {
            *d++ = (char) *p++;
            continue;
        }

        switch (p[1]) {
        case 'b': *d++ = '\b'; break;
        case 'f': *d++ = '\f'; break;
        case 'n': *d++ = '\n'; break;
        case 'r': *d++ = '\r'; break;
        case 't': *d++ = '\t'; break;
        default:  *d++ = (char) p[1]; break;
        }

        p += 2;
    }

    return (size_t) (d - dst);
}


static int
ac_turn_block_stop(ac_turn_t *t, json_t *root)
{
    size_t  index;

    if (ac_turn_index(t, "contentBlockStop", root, &index) != AC_TURN_OK) {
        return AC_TURN_ERROR;
    }

    return ac_turn_stop_block(t, index);
}


static int
ac_turn_stop_block(ac_turn_t *t, size_t index)
{
    ac_block_t  *b;

    if (index >= t->nblocks) {
        return AC_TURN_OK;
    }

    b = &t->blocks[index];
    b->stopped = 1;

    if (b->type == AC_BLOCK_TOOL && ac_block_input(b) == NULL) {
        return ac_turn_nomem(t);
    }

    return AC_TURN_OK;
}


static int
ac_turn_message_stop(ac_turn_t *t, json_t *root)
{
    json_t  *v;

    v = json_object_get(root, "stopReason");

    if (!json_is_string(v)) {
        return ac_turn_invalid(t, "messageStop",
                               "missing string \"stopReason\"");
    }

    json_decref(t->stop_reason);
    t->stop_reason = json_incref(v);
    t->stopped = 1;

    return AC_TURN_OK;
}


/* usage is telemetry: absent members stay 0 rather than fail the turn */

static void
ac_turn_metadata(ac_turn_t *t, json_t *root)
{
    size_t   i;
    json_t  *o, *v;

    static const struct {
        const char  *name;
        size_t       offset;
    } fields[] = {
        { "inputTokens", offsetof(ac_usage_t, input_tokens) },
        { "outputTokens", offsetof(ac_usage_t, output_tokens) },
        { "totalTokens", offsetof(ac_usage_t, total_tokens) },
        { "cacheReadInputTokens",
          offsetof(ac_usage_t, cache_read_input_tokens) },
        { "cacheWriteInputTokens",
          offsetof(ac_usage_t, cache_write_input_tokens) }
    };

    o = json_object_get(root, "usage");

    if (json_is_object(o)) {
        for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
            v = json_object_get(o, fields[i].name);

            if (json_is_integer(v)) {
                *(int64_t *) ((char *) &t->usage + fields[i].offset) =
                                                    json_integer_value(v);
            }
        }
    }

    o = json_object_get(root, "metrics");
    v = json_object_get(o, "latencyMs");

    if (json_is_integer(v)) {
        t->usage.latency_ms = json_integer_value(v);
    }

    t->has_metadata = 1;
}


/*
 * The metadata event as Bedrock lays it out, without JSON values:
 * {"usage":{..},"metrics":{..},"p":".."} with the members in any order,
 * each at most once, "usage" and "metrics" objects of small integers
 * ("KEY":DIGITS, at most 18 digits, no sign), no whitespace.  Anything
 * else (another member, a float, a nested value, a duplicate) returns 0
 * and takes the json_loadb() path, whose outcome this one equals for
 * these payloads: the last of duplicate keys inside an object wins, as
 * in jansson, and unknown integer keys are ignored.
 */

static int
ac_turn_fast_metadata(ac_turn_t *t, const unsigned char *p, size_t n)
{
    size_t                escapes;
    unsigned              seen;
    ac_usage_t            usage;
    const unsigned char  *end;

    enum { seen_usage = 1, seen_metrics = 2, seen_pad = 4 };

    end = p + n;

    if (n < 2 || *p != '{') {
        return 0;
    }

    p++;
    seen = 0;
    usage = t->usage;

    for ( ;; ) {

        if (end - p >= 8 && memcmp(p, "\"usage\":", 8) == 0) {
            if (seen & seen_usage) {
                return 0;
            }

            seen |= seen_usage;
            p = ac_fast_counts(p + 8, end, &usage, 1);

        } else if (end - p >= 10 && memcmp(p, "\"metrics\":", 10) == 0) {
            if (seen & seen_metrics) {
                return 0;
            }

            seen |= seen_metrics;
            p = ac_fast_counts(p + 10, end, &usage, 0);

        } else if (end - p >= 5 && memcmp(p, "\"p\":\"", 5) == 0) {
            if (seen & seen_pad) {
                return 0;
            }

            seen |= seen_pad;
            p = ac_fast_string(p + 5, end, &escapes);
            p = p ? p + 1 : NULL;

        } else {
            return 0;
        }

        if (p == NULL || p == end) {
            return 0;
        }

        if (*p == '}' && p + 1 == end) {
            break;
        }

        if (*p != ',') {
            return 0;
        }

        p++;
    }

    t->usage = usage;
    t->has_metadata = 1;
    t->fast_events++;

    return 1;
}


/*
 * {"KEY":DIGITS,..} (or {}): the usage counts, or for "metrics" only
 * latencyMs, into *usage; returns the byte after "}", or NULL
 */

static const unsigned char *
ac_fast_counts(const unsigned char *p, const unsigned char *end,
    ac_usage_t *usage, int usage_object)
{
    size_t                i, klen, digits;
    int64_t               v, *field;
    const unsigned char  *key;

    static const struct {
        const char  *name;
        size_t       len;
        size_t       offset;
    } fields[] = {
        { "inputTokens", 11, offsetof(ac_usage_t, input_tokens) },
        { "outputTokens", 12, offsetof(ac_usage_t, output_tokens) },
        { "totalTokens", 11, offsetof(ac_usage_t, total_tokens) },
        { "cacheReadInputTokens", 20,
          offsetof(ac_usage_t, cache_read_input_tokens) },
        { "cacheWriteInputTokens", 21,
          offsetof(ac_usage_t, cache_write_input_tokens) }
    };

    if (p == end || *p++ != '{') {
        return NULL;
    }

    if (p < end && *p == '}') {
        return p + 1;
    }

    for ( ;; ) {

        /* "KEY": plain ASCII letters only */

        if (p == end || *p++ != '"') {
            return NULL;
        }

        key = p;

        while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A'
                                                          && *p <= 'Z')))
        {
            p++;
        }

        klen = (size_t) (p - key);

        if (klen == 0 || end - p < 2 || p[0] != '"' || p[1] != ':') {
            return NULL;
        }

        p += 2;

        /* 0 or [1-9][0-9]*, at most 18 digits: fits an int64_t */

        v = 0;
        digits = 0;

        while (p < end && *p >= '0' && *p <= '9') {
            if (digits == 18 || (digits == 1 && v == 0)) {
                return NULL;
            }

            v = v * 10 + (*p++ - '0');
            digits++;
        }

        if (digits == 0 || p == end) {
            return NULL;
        }

        field = NULL;

        if (usage_object) {
            for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
                if (klen == fields[i].len
                    && memcmp(key, fields[i].name, klen) == 0)
                {
                    field = (int64_t *) ((char *) usage + fields[i].offset);
                    break;
                }
            }

        } else if (klen == 9 && memcmp(key, "latencyMs", 9) == 0) {
            field = &usage->latency_ms;
        }

        if (field) {
            *field = v;
        }

        if (*p == '}') {
            return p + 1;
        }

        if (*p++ != ',') {
            return NULL;
        }
    }
}


static int
ac_turn_index(ac_turn_t *t, const char *event, json_t *root, size_t *index)
{
    json_t      *v;
    json_int_t   n;

    v = json_object_get(root, "contentBlockIndex");

    if (!json_is_integer(v)) {
        return ac_turn_invalid(t, event,
                               "missing integer \"contentBlockIndex\"");
    }

    n = json_integer_value(v);

    if (n < 0 || n >= AC_TURN_MAX_BLOCKS) {
        return ac_turn_invalid(t, event,
                               "contentBlockIndex %" JSON_INTEGER_FORMAT
                               " is out of range 0..%d",
                               n, AC_TURN_MAX_BLOCKS - 1);
    }

    *index = (size_t) n;

    return AC_TURN_OK;
}


static ac_block_t *
ac_turn_block(ac_turn_t *t, size_t index)
{
    size_t       n;
    ac_block_t  *blocks;

    if (index >= t->nalloc) {
        n = t->nalloc ? t->nalloc * 2 : 4;

        while (n <= index) {
            n *= 2;
        }

        blocks = realloc(t->blocks, n * sizeof(ac_block_t));
        if (blocks == NULL) {
            return NULL;
        }

        memset(blocks + t->nalloc, 0, (n - t->nalloc) * sizeof(ac_block_t));

        t->blocks = blocks;
        t->nalloc = n;
    }

    if (index >= t->nblocks) {
        t->nblocks = index + 1;
    }

    return &t->blocks[index];
}


static int
ac_turn_block_type(ac_turn_t *t, const char *event, ac_block_t *b,
    size_t index, unsigned type)
{
    if (b->type == type) {
        return AC_TURN_OK;
    }

    if (b->type == AC_BLOCK_NONE) {
        b->type = type;

        if (type == AC_BLOCK_TOOL) {
            t->tool_uses++;
        }

        return AC_TURN_OK;
    }

    return ac_turn_invalid(t, event, "%s content for the %s block %zu",
                           ac_block_names[type], ac_block_names[b->type],
                           index);
}


int
ac_turn_stopped(const ac_turn_t *t)
{
    return t->stopped;
}


int
ac_turn_has_metadata(const ac_turn_t *t)
{
    return t->has_metadata;
}


const char *
ac_turn_stop_reason(const ac_turn_t *t)
{
    return t->stop_reason ? json_string_value(t->stop_reason) : NULL;
}


size_t
ac_turn_tool_uses(const ac_turn_t *t)
{
    return t->tool_uses;
}


const ac_usage_t *
ac_turn_usage(const ac_turn_t *t)
{
    return &t->usage;
}


uint64_t
ac_turn_fast_events(const ac_turn_t *t)
{
    return t->fast_events;
}


const char *
ac_turn_error(const ac_turn_t *t)
{
    return t->error;
}


const char *
ac_turn_error_type(const ac_turn_t *t)
{
    return t->error_type;
}


/* the tool input, parsed once: invalid or empty JSON gives {} */

static json_t *
ac_block_input(ac_block_t *b)
{
    if (b->input != NULL) {
        return b->input;
    }

    if (b->text.len > 0) {
        b->input = json_loadb(b->text.data, b->text.len,
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    }

    if (b->input == NULL) {
        b->input = json_object();
    }

    return b->input;
}


json_t *
ac_turn_message(ac_turn_t *t)
{
    size_t       i;
    json_t      *msg, *content, *item, *v, *o;
    ac_block_t  *b;

    msg = json_object();
    content = json_array();

    if (msg == NULL || content == NULL
        || json_object_set_new(msg, "role", json_string("assistant")) != 0
        || json_object_set(msg, "content", content) != 0)
    {
        goto failed;
    }

    for (i = 0; i < t->nblocks; i++) {
        b = &t->blocks[i];

        switch (b->type) {

        case AC_BLOCK_TEXT:
            if (ac_text_is_blank((unsigned char *) b->text.data,
                                 b->text.len))
            {
                v = json_string(AC_REF_BLANK_TEXT);

            } else {
                v = json_stringn(b->text.data, b->text.len);
            }

            item = json_pack("{s:o}", "text", v);
            break;

        case AC_BLOCK_TOOL:
            if (ac_block_input(b) == NULL) {
                goto failed;
            }

            /* a toolUse made by deltas alone has no id and name */

            o = json_object();

            if (o == NULL
                || json_object_set_new(o, "toolUseId",
                                       b->tool_id ? json_incref(b->tool_id)
                                                  : json_string(""))
                   != 0
                || json_object_set_new(o, "name",
                                       b->tool_name
                                       ? json_incref(b->tool_name)
                                       : json_string(""))
                   != 0
                || json_object_set(o, "input", b->input) != 0)
            {
                json_decref(o);
                goto failed;
            }

            item = json_pack("{s:o}", "toolUse", o);
            break;

        case AC_BLOCK_REASONING:
            if (b->text.len == 0 && b->signature.len == 0
                && b->redacted.len > 0)
            {
                item = json_pack("{s:{s:s%}}", "reasoningContent",
                                 "redactedContent", b->redacted.data,
                                 b->redacted.len);
                break;
            }

            o = json_pack("{s:s%}", "text",
                          b->text.data ? b->text.data : "", b->text.len);

            if (o != NULL && b->signature.len > 0
                && json_object_set_new(o, "signature",
                                       json_stringn(b->signature.data,
                                                    b->signature.len))
                   != 0)
            {
                json_decref(o);
                goto failed;
            }

            item = json_pack("{s:{s:o}}", "reasoningContent",
                             "reasoningText", o);
            break;

        default:
            /* an index never used, or a start that carried no block */
            continue;
        }

        if (json_array_append_new(content, item) != 0) {
            goto failed;
        }
    }

    json_decref(content);

    return msg;

failed:

    json_decref(content);
    json_decref(msg);

    return NULL;
}


static int
ac_turn_exception(ac_turn_t *t, const ac_es_message_t *msg)
{
    int                   rc;
    char                  raw[AC_TURN_RAW_MAX];
    size_t                type_len, mlen, omlen;
    json_t               *root, *m, *status, *om;
    const char           *mp, *omp;
    const unsigned char  *type;

    type = ac_turn_header(msg, ":exception-type", &type_len);

    if (type == NULL) {
        type = (const unsigned char *) "UnknownException";
        type_len = sizeof("UnknownException") - 1;
    }

    root = json_loadb((const char *) msg->payload, msg->payload_len,
                      JSON_ALLOW_NUL, NULL);

    m = json_object_get(root, "message");
    if (m == NULL) {
        m = json_object_get(root, "Message");
    }

    if (json_is_string(m)) {
        mp = json_string_value(m);
        mlen = json_string_length(m);

    } else {
        /* not the modeled body: the payload itself, as the SDK does */
        mlen = ac_raw_text(msg->payload, msg->payload_len, raw, sizeof(raw));
        mp = raw;
    }

    status = json_object_get(root, "originalStatusCode");
    om = json_object_get(root, "originalMessage");

    omp = json_is_string(om) ? json_string_value(om) : NULL;
    omlen = omp ? json_string_length(om) : 0;

    if (json_is_integer(status) && omp != NULL) {
        rc = ac_turn_fail(t, (const char *) type, type_len,
                          "%.*s (original status %" JSON_INTEGER_FORMAT
                          ": %.*s)",
                          (int) mlen, mp, json_integer_value(status),
                          (int) omlen, omp);

    } else if (json_is_integer(status)) {
        rc = ac_turn_fail(t, (const char *) type, type_len,
                          "%.*s (original status %" JSON_INTEGER_FORMAT
                          ")",
                          (int) mlen, mp, json_integer_value(status));

    } else if (omp != NULL) {
        rc = ac_turn_fail(t, (const char *) type, type_len,
                          "%.*s (original message: %.*s)",
                          (int) mlen, mp, (int) omlen, omp);

    } else {
        rc = ac_turn_fail(t, (const char *) type, type_len, "%.*s",
                          (int) mlen, mp);
    }

    json_decref(root);

    return rc;
}


static int
ac_turn_error_frame(ac_turn_t *t, const ac_es_message_t *msg)
{
    size_t                code_len, mlen;
    const unsigned char  *code, *m;

    code = ac_turn_header(msg, ":error-code", &code_len);

    if (code == NULL) {
        code = (const unsigned char *) "UnknownError";
        code_len = sizeof("UnknownError") - 1;
    }

    m = ac_turn_header(msg, ":error-message", &mlen);

    if (m == NULL) {
        m = (const unsigned char *) "";
        mlen = 0;
    }

    return ac_turn_fail(t, (const char *) code, code_len, "%.*s",
                        (int) mlen, (const char *) m);
}


static int
ac_turn_invalid(ac_turn_t *t, const char *event, const char *fmt, ...)
{
    int      n;
    char     detail[256];
    va_list  args;

    va_start(args, fmt);
    vsnprintf(detail, sizeof(detail), fmt, args);
    va_end(args);

    ac_turn_free_error(t);

    t->failed = 1;
    t->error_type = (char *) ac_turn_invalid_type;

    n = snprintf(NULL, 0, "Invalid %s event in the " AC_OPERATION
                 " response: %s", event, detail);

    t->error = malloc((size_t) n + 1);
    if (t->error == NULL) {
        return ac_turn_nomem(t);
    }

    snprintf(t->error, (size_t) n + 1, "Invalid %s event in the "
             AC_OPERATION " response: %s", event, detail);

    return AC_TURN_ERROR;
}


/*
 * "An error occurred (<type>) when calling the ConverseStream
 * operation: <message>", as botocore's ClientError words it
 */

static int
ac_turn_fail(ac_turn_t *t, const char *type, size_t type_len,
    const char *fmt, ...)
{
    int      n;
    char    *p;
    size_t   len;
    va_list  args;

    ac_turn_free_error(t);

    t->failed = 1;

    t->error_type = malloc(type_len + 1);
    if (t->error_type == NULL) {
        return ac_turn_nomem(t);
    }

    memcpy(t->error_type, type, type_len);
    t->error_type[type_len] = '\0';

    /* a NUL inside the header value ends the type */
    type_len = strlen(t->error_type);

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);

    if (n < 0) {
        n = 0;
    }

    len = sizeof("An error occurred () when calling the " AC_OPERATION
                 " operation: ") - 1 + type_len + (size_t) n;

    t->error = malloc(len + 1);
    if (t->error == NULL) {
        return ac_turn_nomem(t);
    }

    p = t->error;
    p += sprintf(p, "An error occurred (%s) when calling the "
                 AC_OPERATION " operation: ", t->error_type);

    va_start(args, fmt);
    vsnprintf(p, len + 1 - (size_t) (p - t->error), fmt, args);
    va_end(args);

    return AC_TURN_ERROR;
}


static int
ac_turn_nomem(ac_turn_t *t)
{
    ac_turn_free_error(t);

    t->failed = 1;
    t->error = (char *) ac_turn_oom;
    t->error_type = (char *) ac_turn_oom_type;

    return AC_TURN_ERROR;
}


static void
ac_turn_free_error(ac_turn_t *t)
{
    if (t->error != ac_turn_oom) {
        free(t->error);
    }

    if (t->error_type != ac_turn_oom_type
        && t->error_type != ac_turn_invalid_type)
    {
        free(t->error_type);
    }

    t->error = NULL;
    t->error_type = NULL;
}


/* HTTP errors before the stream */

size_t
ac_bedrock_http_error(int status, const char *errortype,
    size_t errortype_len, const unsigned char *body, size_t body_len,
    char *out, size_t out_len)
{
    int          n;
    char         type[128], raw[AC_TURN_RAW_MAX];
    size_t       type_len, mlen, len;
    json_t      *root, *v;
    const char  *mp;

    if (out_len == 0) {
        return 0;
    }

    root = NULL;

    if (body != NULL && body_len > 0) {
        root = json_loadb((const char *) body, body_len, 0, NULL);
    }

    type_len = 0;

    if (errortype != NULL && errortype_len > 0) {
        type_len = ac_error_type(errortype, errortype_len, type,
                                 sizeof(type));
    }

    if (type_len == 0) {
        v = json_object_get(root, "__type");

        if (!json_is_string(v)) {
            v = json_object_get(root, "code");
        }

        if (!json_is_string(v)) {
            v = json_object_get(root, "Code");
        }

        if (json_is_string(v)) {
            type_len = ac_error_type(json_string_value(v),
                                     json_string_length(v), type,
                                     sizeof(type));
        }
    }

    if (type_len == 0) {
        snprintf(type, sizeof(type), "HTTP %d", status);
    }

    v = json_object_get(root, "message");

    if (!json_is_string(v)) {
        v = json_object_get(root, "Message");
    }

    if (json_is_string(v)) {
        mp = json_string_value(v);
        mlen = json_string_length(v);

    } else if (root == NULL && body != NULL) {
        /* not JSON, e.g. a proxy's page: its text, cleaned and cut */
        mlen = ac_raw_text(body, body_len, raw, sizeof(raw));
        mp = raw;

    } else {
        mp = "";
        mlen = 0;
    }

    n = snprintf(out, out_len, "An error occurred (%s) when calling the "
                 AC_OPERATION " operation: %.*s", type, (int) mlen, mp);

    json_decref(root);

    if (n < 0) {
        out[0] = '\0';
        return 0;
    }

    len = (size_t) n;

    if (len >= out_len) {
        /* truncated: do not leave half a UTF-8 sequence */
        len = ac_utf8_cut(out, out_len - 1);
        out[len] = '\0';
    }

    return len;
}


/* the text before the first ':', then after the first '#', trimmed */

static size_t
ac_error_type(const char *p, size_t len, char *out, size_t out_len)
{
    const char  *end, *hash;

    end = memchr(p, ':', len);
    if (end != NULL) {
        len = (size_t) (end - p);
    }

    hash = memchr(p, '#', len);
    if (hash != NULL) {
        len -= (size_t) (hash + 1 - p);
        p = hash + 1;
    }

    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }

    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) {
        len--;
    }

    if (memchr(p, '\0', len) != NULL) {
        len = strlen(p);
    }

    if (len >= out_len) {
        len = ac_utf8_cut(p, out_len - 1);
    }

    memcpy(out, p, len);
    out[len] = '\0';

    return len;
}


/*
 * Raw bytes as a message: printable ASCII kept, whitespace and control
 * runs collapsed to one space, other bytes as '?', cut to out_len - 1.
 */

static size_t
ac_raw_text(const unsigned char *p, size_t n, char *out, size_t out_len)
{
    size_t         i, len;
    unsigned char  c;

    len = 0;

    for (i = 0; i < n && len + 1 < out_len; i++) {
        c = p[i];

        if (c <= 0x20 || c == 0x7f) {
            if (len > 0 && out[len - 1] != ' ') {
                out[len++] = ' ';
            }

            continue;
        }

        out[len++] = (c < 0x80) ? (char) c : '?';
    }

    while (len > 0 && out[len - 1] == ' ') {
        len--;
    }

    out[len] = '\0';

    return len;
}


/* the longest prefix of p[0..len) that does not end inside a sequence */

static size_t
ac_utf8_cut(const char *p, size_t len)
{
    size_t         i, need;
    unsigned char  c;

    i = len;

    while (i > 0 && len - i < 4
           && ((unsigned char) p[i - 1] & 0xc0) == 0x80)
    {
        i--;
    }

    if (i == 0) {
        return len;
    }

    c = (unsigned char) p[i - 1];

    if (c < 0x80) {
        return len;
    }

    need = (c >= 0xf0) ? 4 : (c >= 0xe0) ? 3 : (c >= 0xc0) ? 2 : 1;

    return (len - (i - 1) < need) ? i - 1 : len;
}


/* str.strip() == "" in Python: ASCII and Unicode white space */

static int
ac_text_is_blank(const unsigned char *p, size_t len)
{
    size_t    i;
    uint32_t  cp;

    i = 0;

    while (i < len) {
        if (p[i] < 0x80) {
            if (!((p[i] >= 0x09 && p[i] <= 0x0d)
                  || (p[i] >= 0x1c && p[i] <= 0x20)))
            {
                return 0;
            }

            i++;
            continue;
        }

        if ((p[i] & 0xe0) == 0xc0 && i + 1 < len) {
            cp = ((uint32_t) (p[i] & 0x1f) << 6) | (p[i + 1] & 0x3f);
            i += 2;

        } else if ((p[i] & 0xf0) == 0xe0 && i + 2 < len) {
            cp = ((uint32_t) (p[i] & 0x0f) << 12)
                 | ((uint32_t) (p[i + 1] & 0x3f) << 6) | (p[i + 2] & 0x3f);
            i += 3;

        } else {
            return 0;
        }

        if (!(cp == 0x85 || cp == 0xa0 || cp == 0x1680
              || (cp >= 0x2000 && cp <= 0x200a)
              || cp == 0x2028 || cp == 0x2029 || cp == 0x202f
              || cp == 0x205f || cp == 0x3000))
        {
            return 0;
        }
    }

    return 1;
}


/* growable buffers */

static int
ac_buf_append(ac_buf_t *b, const char *p, size_t n)
{
    char    *data;
    size_t   size;

    if (b->len + n + 1 > b->size) {
        size = b->size ? b->size : 64;

        while (size < b->len + n + 1) {
            size *= 2;
        }

        data = realloc(b->data, size);
        if (data == NULL) {
            return -1;
        }

        b->data = data;
        b->size = size;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';

    return 0;
}


static void
ac_buf_free(ac_buf_t *b)
{
    free(b->data);

    b->data = NULL;
    b->len = 0;
    b->size = 0;
}
