
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Memory's data plane (ngx_http_agentcore_memory_proto.h).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <math.h>

#include "ngx_http_agentcore_memory_proto.h"


/* a message's text: reals as jansson writes them (17 digits, exact) */
#define AC_MEMORY_TEXT  (JSON_COMPACT | JSON_PRESERVE_ORDER)

/* a request body: eventTimestamp with milliseconds, no more digits */
#define AC_MEMORY_DUMP  (AC_MEMORY_TEXT | JSON_REAL_PRECISION(13))


static void ac_memory_err(char *err, size_t errlen, const char *msg);
static json_t *ac_memory_check(json_t *message, char *err, size_t errlen);
static int ac_memory_encode_block(json_t *block);
static int ac_memory_encode_member(json_t *obj, const char *key);
static json_t *ac_memory_decode(json_t *v);
static size_t ac_memory_chars(const char *s, size_t len);
static void ac_memory_iso(double t, char *buf, size_t size);
static json_t *ac_memory_timestamp(double t);
static json_t *ac_memory_item_message(json_t *item);
static json_t *ac_memory_text_message(const char *text, const char *role);
static json_t *ac_memory_stored_message(json_t *stored);
static json_t *ac_memory_usable(json_t *message);
static int ac_memory_blank(const char *s);
static int ac_memory_cmp(const void *a, const void *b);


const char *
ac_memory_role(const char *role)
{
    if (role == NULL) {
        return NULL;
    }

    if (strcmp(role, "user") == 0) {
        return "USER";
    }

    if (strcmp(role, "assistant") == 0) {
        return "ASSISTANT";
    }

    return NULL;
}


static void
ac_memory_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) {
        snprintf(err, errlen, "%s", msg);
    }
}


/* a copy of a Converse message with its binary values as Strands' */

static json_t *
ac_memory_check(json_t *message, char *err, size_t errlen)
{
    size_t   i;
    json_t  *content, *block, *copy;

    if (!json_is_object(message)) {
        ac_memory_err(err, errlen, "the message is not an object");
        return NULL;
    }

    if (ac_memory_role(json_string_value(json_object_get(message, "role")))
        == NULL)
    {
        ac_memory_err(err, errlen,
                      "the message's role is not \"user\" or \"assistant\"");
        return NULL;
    }

    content = json_object_get(message, "content");

    if (!json_is_array(content) || json_array_size(content) == 0) {
        ac_memory_err(err, errlen,
                      "the message's content is not a non-empty array");
        return NULL;
    }

    json_array_foreach(content, i, block) {
        if (!json_is_object(block)) {
            ac_memory_err(err, errlen,
                          "a content block of the message is not an object");
            return NULL;
        }
    }

    copy = json_pack("{s:O, s:O}", "role", json_object_get(message, "role"),
                     "content", content);
    if (copy == NULL) {
        goto nomem;
    }

    /* a deep copy of the content: its blocks are changed */

    content = json_deep_copy(content);
    if (content == NULL || json_object_set_new(copy, "content", content)) {
        json_decref(copy);
        goto nomem;
    }

    json_array_foreach(content, i, block) {
        if (ac_memory_encode_block(block) != 0) {
            json_decref(copy);
            goto nomem;
        }
    }

    return copy;

nomem:

    ac_memory_err(err, errlen, "no memory");
    return NULL;
}


/*
 * The places of Converse's blobs (base64 strings in its JSON): the
 * sources of images, documents and videos, also in tool results, and
 * redacted reasoning.  Nothing else: a tool's input stays as it is.
 */

static int
ac_memory_encode_block(json_t *block)
{
    size_t       i;
    json_t      *v, *result;
    const char  *media[] = { "image", "document", "video" };

    for (i = 0; i < sizeof(media) / sizeof(media[0]); i++) {
        v = json_object_get(json_object_get(block, media[i]), "source");

        if (json_is_object(v) && ac_memory_encode_member(v, "bytes") != 0) {
            return -1;
        }
    }

    v = json_object_get(block, "reasoningContent");

    if (json_is_object(v)
        && ac_memory_encode_member(v, "redactedContent") != 0)
    {
        return -1;
    }

    result = json_object_get(json_object_get(block, "toolResult"),
                             "content");

    if (json_is_array(result)) {
        json_array_foreach(result, i, v) {
            if (json_is_object(v) && ac_memory_encode_block(v) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
ac_memory_encode_member(json_t *obj, const char *key)
{
    json_t  *v, *enc;

    v = json_object_get(obj, key);

    if (!json_is_string(v)) {
        return 0;
    }

    enc = json_pack("{s:b, s:O}", "__bytes_encoded__", 1, "data", v);
    if (enc == NULL) {
        return -1;
    }

    return json_object_set_new(obj, key, enc);
}


/*
 * Strands' decode_bytes_values: base64 strings again; v is changed in
 * place, the result is a new reference (v's, or an encoded value's data)
 */

static json_t *
ac_memory_decode(json_t *v)
{
    size_t       i;
    json_t      *x, *d;
    const char  *key;
    void        *tmp;

    if (json_is_object(v)) {
        d = json_object_get(v, "data");

        if (json_is_true(json_object_get(v, "__bytes_encoded__"))
            && json_is_string(d))
        {
            return json_incref(d);
        }

        json_object_foreach_safe(v, tmp, key, x) {
            d = ac_memory_decode(x);
            if (d == NULL || json_object_set_new(v, key, d) != 0) {
                return NULL;
            }
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            d = ac_memory_decode(x);
            if (d == NULL || json_array_set_new(v, i, d) != 0) {
                return NULL;
            }
        }
    }

    return json_incref(v);
}


/* characters (code points) of UTF-8 text, as the service counts them */

static size_t
ac_memory_chars(const char *s, size_t len)
{
    size_t  i, n;

    for (i = 0, n = 0; i < len; i++) {
        if (((unsigned char) s[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/* Python's datetime.isoformat() of an aware UTC time */

static void
ac_memory_iso(double t, char *buf, size_t size)
{
    long       us;
    time_t     sec;
    struct tm  tm;

    if (!(t >= 0 && t < 253402300800.0)) {     /* NaN, before 1970, 9999 */
        t = 0;
    }

    sec = (time_t) floor(t);
    us = (long) llround((t - (double) sec) * 1e6);

    if (us >= 1000000) {
        sec++;
        us -= 1000000;
    }

    gmtime_r(&sec, &tm);

    if (us) {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, us);
    } else {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d+00:00",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    }
}


/* epoch seconds: an integer when whole, else milliseconds' precision */

static json_t *
ac_memory_timestamp(double t)
{
    if (t == floor(t) && fabs(t) < 9007199254740992.0) {
        return json_integer((json_int_t) t);
    }

    return json_real(round(t * 1000) / 1000);
}


char *
ac_memory_message_text(json_t *message, long message_id, double timestamp,
    size_t *len, char *err, size_t errlen)
{
    char     at[64], *s;
    json_t  *copy, *stored;

    copy = ac_memory_check(message, err, errlen);
    if (copy == NULL) {
        return NULL;
    }

    ac_memory_iso(timestamp, at, sizeof(at));

    stored = json_pack("{s:o, s:I, s:n, s:s, s:s}", "message", copy,
                       "message_id", (json_int_t) message_id,
                       "redact_message", "created_at", at, "updated_at", at);
    if (stored == NULL) {
        ac_memory_err(err, errlen, "no memory");
        return NULL;
    }

    s = json_dumps(stored, AC_MEMORY_TEXT);
    json_decref(stored);

    if (s == NULL) {
        ac_memory_err(err, errlen, "no memory");
        return NULL;
    }

    if (len) {
        *len = strlen(s);
    }

    return s;
}


char *
ac_memory_create_event(const char *actor_id, const char *session_id,
    double timestamp, json_t *message, long message_id,
    const char *client_token, size_t *len, char *err, size_t errlen)
{
    char        *text, *s;
    size_t       n;
    json_t      *body, *item, *pair;
    const char  *role;

    if (actor_id == NULL || *actor_id == '\0'
        || session_id == NULL || *session_id == '\0')
    {
        ac_memory_err(err, errlen, "no actorId or sessionId");
        return NULL;
    }

    text = ac_memory_message_text(message, message_id, timestamp, &n, err,
                                  errlen);
    if (text == NULL) {
        return NULL;
    }

    role = ac_memory_role(json_string_value(json_object_get(message,
                                                            "role")));

    if (ac_memory_chars(text, n) <= AC_MEMORY_MAX_TEXT) {
        item = json_pack("{s:{s:{s:s%}, s:s}}", "conversational", "content",
                         "text", text, n, "role", role);

    } else {
        /* Strands' blob: the JSON text of [text, role] */

        pair = json_pack("[s%, s]", text, n, role);
        s = pair ? json_dumps(pair, AC_MEMORY_TEXT) : NULL;
        json_decref(pair);

        item = s ? json_pack("{s:s}", "blob", s) : NULL;
        free(s);
    }

    free(text);

    body = item ? json_pack("{s:s, s:s, s:o, s:[o]}", "actorId", actor_id,
                            "sessionId", session_id, "eventTimestamp",
                            ac_memory_timestamp(timestamp), "payload", item)
                : NULL;

    if (body && client_token
        && json_object_set_new(body, "clientToken",
                               json_string(client_token)) != 0)
    {
        json_decref(body);
        body = NULL;
    }

    s = body ? json_dumps(body, AC_MEMORY_DUMP) : NULL;
    json_decref(body);

    if (s == NULL) {
        ac_memory_err(err, errlen, "no memory, or an id that is not UTF-8");
        return NULL;
    }

    if (len) {
        *len = strlen(s);
    }

    return s;
}


char *
ac_memory_list_events(int max_results, const char *next_token,
    int include_payloads, size_t *len)
{
    char    *s;
    json_t  *body;

    if (max_results < 1) {
        max_results = 1;

    } else if (max_results > AC_MEMORY_MAX_RESULTS) {
        max_results = AC_MEMORY_MAX_RESULTS;
    }

    body = json_pack("{s:i, s:b}", "maxResults", max_results,
                     "includePayloads", include_payloads ? 1 : 0);
    if (body == NULL) {
        return NULL;
    }

    if (next_token
        && json_object_set_new(body, "nextToken", json_string(next_token))
           != 0)
    {
        json_decref(body);
        return NULL;
    }

    s = json_dumps(body, AC_MEMORY_DUMP);
    json_decref(body);

    if (s && len) {
        *len = strlen(s);
    }

    return s;
}


/* reading */

void
ac_memory_history_init(ac_memory_history_t *h)
{
    h->items = NULL;
    h->events = 0;
    h->skipped = 0;
}


void
ac_memory_history_free(ac_memory_history_t *h)
{
    json_decref(h->items);
    h->items = NULL;
}


int
ac_memory_history_add_page(ac_memory_history_t *h, const char *body,
    size_t len, char **next_token, char *err, size_t errlen)
{
    char          msg[128];
    size_t        i, j;
    json_t       *root, *events, *ev, *ts, *payload, *item, *m, *entry;
    json_t       *token;
    json_error_t  e;

    *next_token = NULL;

    if (h->items == NULL) {
        h->items = json_array();
        if (h->items == NULL) {
            ac_memory_err(err, errlen, "no memory");
            return -1;
        }
    }

    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);

    if (!json_is_object(root)) {
        ac_memory_err(err, errlen, "the ListEvents response is not a JSON "
                                   "object");
        json_decref(root);
        return -1;
    }

    events = json_object_get(root, "events");

    if (!json_is_array(events)) {
        ac_memory_err(err, errlen, "the ListEvents response has no "
                                   "\"events\" array");
        goto bad;
    }

    token = json_object_get(root, "nextToken");

    if (token != NULL && !json_is_null(token) && !json_is_string(token)) {
        ac_memory_err(err, errlen, "the ListEvents response's \"nextToken\" "
                                   "is not a string");
        goto bad;
    }

    json_array_foreach(events, i, ev) {
        ts = json_object_get(ev, "eventTimestamp");
        payload = json_object_get(ev, "payload");

        if (!json_is_object(ev) || !json_is_number(ts)
            || !json_is_array(payload))
        {
            snprintf(msg, sizeof(msg), "event %zu of the page has no "
                     "\"eventTimestamp\" number or no \"payload\" array", i);
            ac_memory_err(err, errlen, msg);
            goto bad;
        }

        json_array_foreach(payload, j, item) {
            if (!json_is_object(item)) {
                snprintf(msg, sizeof(msg), "event %zu of the page has a "
                         "payload item that is not an object", i);
                ac_memory_err(err, errlen, msg);
                goto bad;
            }

            m = ac_memory_item_message(item);

            if (m == NULL) {
                h->skipped++;
                continue;
            }

            entry = json_pack("[f, I, I, o]", json_number_value(ts),
                              (json_int_t) h->events, (json_int_t) j, m);

            if (entry == NULL || json_array_append_new(h->items, entry)) {
                ac_memory_err(err, errlen, "no memory");
                goto bad;
            }
        }

        h->events++;
    }

    if (json_is_string(token) && json_string_length(token) > 0) {
        *next_token = strdup(json_string_value(token));

        if (*next_token == NULL) {
            ac_memory_err(err, errlen, "no memory");
            goto bad;
        }
    }

    json_decref(root);
    return 0;

bad:

    json_decref(root);
    return -1;
}


/* a payload item as a Converse message, or NULL (skipped) */

static json_t *
ac_memory_item_message(json_t *item)
{
    json_t       *conv, *blob, *text, *m, *pair;
    const char   *role;
    json_error_t  e;

    conv = json_object_get(item, "conversational");

    if (conv != NULL) {
        text = json_object_get(json_object_get(conv, "content"), "text");
        role = json_string_value(json_object_get(conv, "role"));

        if (!json_is_string(text) || role == NULL) {
            return NULL;
        }

        m = json_loadb(json_string_value(text), json_string_length(text),
                       0, &e);

        if (!json_is_object(m)) {
            /* conversational text of other writers: a text message */
            json_decref(m);
            return ac_memory_text_message(json_string_value(text), role);
        }

        return ac_memory_stored_message(m);
    }

    blob = json_object_get(item, "blob");

    if (json_is_string(blob)) {
        pair = json_loadb(json_string_value(blob), json_string_length(blob),
                          0, &e);
    } else {
        pair = json_incref(blob);
    }

    if (!json_is_array(pair) || json_array_size(pair) != 2
        || !json_is_string(json_array_get(pair, 0)))
    {
        json_decref(pair);
        return NULL;
    }

    text = json_array_get(pair, 0);
    m = json_loadb(json_string_value(text), json_string_length(text), 0, &e);
    json_decref(pair);

    if (!json_is_object(m)) {
        json_decref(m);
        return NULL;
    }

    return ac_memory_stored_message(m);
}


static json_t *
ac_memory_text_message(const char *text, const char *role)
{
    json_t  *m;

    if (strcmp(role, "USER") == 0) {
        role = "user";

    } else if (strcmp(role, "ASSISTANT") == 0) {
        role = "assistant";

    } else {
        return NULL;
    }

    m = json_pack("{s:s, s:[{s:s}]}", "role", role, "content", "text", text);

    return ac_memory_usable(m);
}


/*
 * A SessionMessage (its redact_message if set, as Strands' to_message()
 * does), or a bare Converse message; stored is taken
 */

static json_t *
ac_memory_stored_message(json_t *stored)
{
    json_t  *m;

    m = json_object_get(stored, "redact_message");

    if (!json_is_object(m)) {
        m = json_object_get(stored, "message");
    }

    if (!json_is_object(m)) {
        m = json_object_get(stored, "role") ? stored : NULL;
    }

    m = json_incref(m);
    json_decref(stored);

    return ac_memory_usable(m);
}


/*
 * {role, content} only, binary values decoded, blank text blocks left
 * out (Strands' _filter_empty_text: Bedrock refuses them); NULL if
 * nothing is left, or it is not a message.  m is taken.
 */

static json_t *
ac_memory_usable(json_t *m)
{
    size_t   i;
    json_t  *content, *block, *out, *kept, *d, *copy;

    if (m == NULL) {
        return NULL;
    }

    content = json_object_get(m, "content");

    if (ac_memory_role(json_string_value(json_object_get(m, "role")))
        == NULL || !json_is_array(content))
    {
        json_decref(m);
        return NULL;
    }

    kept = json_array();

    json_array_foreach(content, i, block) {
        if (!json_is_object(block)) {
            json_decref(kept);
            json_decref(m);
            return NULL;
        }

        if (json_is_string(json_object_get(block, "text"))
            && ac_memory_blank(json_string_value(json_object_get(block,
                                                                 "text"))))
        {
            continue;
        }

        copy = json_deep_copy(block);
        d = copy ? ac_memory_decode(copy) : NULL;
        json_decref(copy);

        if (d == NULL || json_array_append_new(kept, d) != 0) {
            json_decref(kept);
            json_decref(m);
            return NULL;
        }
    }

    if (kept == NULL || json_array_size(kept) == 0) {
        json_decref(kept);
        json_decref(m);
        return NULL;
    }

    out = json_pack("{s:O, s:o}", "role", json_object_get(m, "role"),
                    "content", kept);
    json_decref(m);

    return out;
}


static int
ac_memory_blank(const char *s)
{
    for ( /* void */ ; *s; s++) {
        if (strchr(" \t\n\r\f\v", *s) == NULL) {
            return 0;
        }
    }

    return 1;
}


static int
ac_memory_cmp(const void *a, const void *b)
{
    double      ta, tb;
    json_int_t  ea, eb, ia, ib;
    json_t     *x = *(json_t **) a, *y = *(json_t **) b;

    ta = json_real_value(json_array_get(x, 0));
    tb = json_real_value(json_array_get(y, 0));

    if (ta != tb) {
        return ta < tb ? -1 : 1;
    }

    /* one timestamp: the later arrival first (newest first) */

    ea = json_integer_value(json_array_get(x, 1));
    eb = json_integer_value(json_array_get(y, 1));

    if (ea != eb) {
        return ea > eb ? -1 : 1;
    }

    ia = json_integer_value(json_array_get(x, 2));
    ib = json_integer_value(json_array_get(y, 2));

    return ia < ib ? -1 : ia > ib;
}


json_t *
ac_memory_history_messages(ac_memory_history_t *h)
{
    size_t    i, n;
    json_t   *out, **v;

    out = json_array();
    n = h->items ? json_array_size(h->items) : 0;

    if (out == NULL || n == 0) {
        return out;
    }

    v = malloc(n * sizeof(json_t *));
    if (v == NULL) {
        json_decref(out);
        return NULL;
    }

    for (i = 0; i < n; i++) {
        v[i] = json_array_get(h->items, i);
    }

    qsort(v, n, sizeof(json_t *), ac_memory_cmp);

    for (i = 0; i < n; i++) {
        if (json_array_append(out, json_array_get(v[i], 3)) != 0) {
            free(v);
            json_decref(out);
            return NULL;
        }
    }

    free(v);

    return out;
}
