/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: AgentCore Memory's codec (memory_proto).  The first
 * byte picks what the rest is:
 *
 *  - 0 modulo 4: a ListEvents response body, read as a page.  It is accepted
 *    or refused with a message (and no nextToken); an accepted page
 *    gives messages of Converse's shape (role user or assistant, a
 *    non-empty content array of objects, no blank text block, no
 *    Strands bytes marker left), and those messages written again
 *    (CreateEvent, one event each, the text within 100,000 characters
 *    or a blob) and read back, newest first, are the same messages;
 *  - 2 modulo 4: a stored text (Strands' SessionMessage, or anything),
 *    which the target puts in a page as conversational text and as a
 *    blob: read as the even case;
 *  - odd: a Converse message for CreateEvent.  Refused with a message,
 *    or written and read back as the same {role, content}, when it has
 *    no blank text block and no Strands bytes marker of its own.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_memory_proto.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static int
has_marker(json_t *v)
{
    size_t       i;
    json_t      *x;
    const char  *k;

    if (json_is_object(v)) {
        if (json_is_true(json_object_get(v, "__bytes_encoded__"))
            && json_is_string(json_object_get(v, "data")))
        {
            return 1;
        }

        json_object_foreach(v, k, x) {
            if (has_marker(x)) {
                return 1;
            }
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x) {
            if (has_marker(x)) {
                return 1;
            }
        }
    }

    return 0;
}


static int
blank(json_t *text)
{
    const char  *s;

    if (!json_is_string(text)) {
        return 0;
    }

    for (s = json_string_value(text); *s; s++) {
        if (strchr(" \t\n\r\f\v", *s) == NULL) {
            return 0;
        }
    }

    return 1;
}


/* the message as it must come back, or NULL if it need not */

static json_t *
expected(json_t *m)
{
    size_t   i;
    json_t  *b;

    if (has_marker(m)) {
        return NULL;
    }

    json_array_foreach(json_object_get(m, "content"), i, b) {
        if (blank(json_object_get(b, "text"))) {
            return NULL;
        }
    }

    return json_pack("{s:O, s:O}", "role", json_object_get(m, "role"),
                     "content", json_object_get(m, "content"));
}


static void
check_message(json_t *m)
{
    size_t   i;
    json_t  *content, *b;

    check(json_is_object(m) && json_object_size(m) == 2);
    check(ac_memory_role(json_string_value(json_object_get(m, "role"))));

    content = json_object_get(m, "content");
    check(json_is_array(content) && json_array_size(content) > 0);

    json_array_foreach(content, i, b) {
        check(json_is_object(b));
        check(!blank(json_object_get(b, "text")));
    }

    check(!has_marker(m));
}


/* messages written as events, read back from one page, newest first */

static json_t *
round_trip(json_t *messages)
{
    char                 err[256], *s, *next, *text;
    size_t               i, n, len;
    json_t              *events, *body, *item, *out;
    json_error_t         e;
    ac_memory_history_t  h;

    events = json_array();
    n = json_array_size(messages);

    for (i = n; i-- > 0; ) {
        s = ac_memory_create_event("actor", "session", 1000 + (double) i,
                                   json_array_get(messages, i), (long) i,
                                   "token", &len, err, sizeof(err));
        check(s != NULL && strlen(s) == len);

        body = json_loads(s, 0, &e);
        check(body != NULL);
        free(s);

        item = json_array_get(json_object_get(body, "payload"), 0);

        if (json_object_get(item, "conversational")) {
            text = (char *) json_string_value(json_object_get(json_object_get(
                       json_object_get(item, "conversational"), "content"),
                       "text"));
            check(text != NULL);
            for (len = 0; *text; text++) {
                len += ((unsigned char) *text & 0xc0) != 0x80;
            }
            check(len >= 1 && len <= AC_MEMORY_MAX_TEXT);

        } else {
            check(json_is_string(json_object_get(item, "blob")));
        }

        json_array_append_new(events, body);
    }

    body = json_pack("{s:o}", "events", events);
    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    check(s != NULL);

    ac_memory_history_init(&h);
    check(ac_memory_history_add_page(&h, s, strlen(s), &next, err,
                                     sizeof(err)) == 0);
    check(next == NULL && h.skipped == 0);
    free(s);

    out = ac_memory_history_messages(&h);
    ac_memory_history_free(&h);

    return out;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc;
    char                 err[256], *next, *s;
    size_t               i;
    json_t              *messages, *m, *back, *want, *page;
    const char          *role;
    json_error_t         e;
    ac_memory_history_t  h;

    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        m = json_loadb((const char *) data + 1, size - 1, 0, &e);
        if (m == NULL) {
            return 0;
        }

        err[0] = '\0';
        s = ac_memory_message_text(m, 0, 0, NULL, err, sizeof(err));

        if (s == NULL) {
            check(err[0] != '\0');
            json_decref(m);
            return 0;
        }

        free(s);

        want = expected(m);

        if (want) {
            messages = json_pack("[O]", m);
            back = round_trip(messages);
            check(json_array_size(back) == 1
                  && json_equal(json_array_get(back, 0), want));
            json_decref(back);
            json_decref(messages);
            json_decref(want);
        }

        json_decref(m);
        return 0;
    }

    ac_memory_history_init(&h);
    err[0] = '\0';
    next = (char *) 1;

    if (data[0] & 2) {
        /* the text as Strands' two payload items, USER or ASSISTANT */
        m = json_stringn((const char *) data + 1, size - 1);
        if (m == NULL) {
            return 0;               /* not UTF-8 */
        }

        role = data[0] & 4 ? "ASSISTANT" : "USER";
        back = json_pack("[O, s]", m, role);
        s = json_dumps(back, JSON_COMPACT);
        json_decref(back);

        page = json_pack("{s:[{s:f, s:[{s:{s:{s:o}, s:s}}, {s:s}]}]}",
                         "events", "eventTimestamp", 1.5, "payload",
                         "conversational", "content", "text", m, "role",
                         role, "blob", s);
        free(s);
        s = json_dumps(page, JSON_COMPACT);
        json_decref(page);
        check(s != NULL);

        rc = ac_memory_history_add_page(&h, s, strlen(s), &next, err,
                                        sizeof(err));
        free(s);

    } else {
        rc = ac_memory_history_add_page(&h, (const char *) data + 1,
                                        size - 1, &next, err, sizeof(err));
    }

    check(rc == 0 || rc == -1);

    if (rc == -1) {
        check(next == NULL && err[0] != '\0');
        ac_memory_history_free(&h);
        return 0;
    }

    check(next == NULL || next[0] != '\0');
    free(next);

    messages = ac_memory_history_messages(&h);
    ac_memory_history_free(&h);
    check(messages != NULL);

    json_array_foreach(messages, i, m) {
        check_message(m);
    }

    back = round_trip(messages);
    check(json_equal(back, messages));

    json_decref(back);
    json_decref(messages);

    return 0;
}
