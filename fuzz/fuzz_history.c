/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_history_decode() on arbitrary bytes (what a
 * shared memory zone could hold).
 *  - a failure always has an error text;
 *  - a decoded history encodes again, and that decodes to an equal
 *    value (the encoder measures exactly what it writes);
 *  - the sliding window keeps what its rule says (checked against a
 *    reference written from runtime-contract.md 8.5 with windows 1 to
 *    4): the oldest messages go, and the kept history starts with the
 *    first user message of the window that holds no toolResult and a
 *    toolUse only if a toolResult follows; with none, the first
 *    assistant(toolUse) that a user(toolResult) follows; with neither
 *    nothing goes;
 *  - the repair and the user turn (a text, then content blocks) run on
 *    it without failing, and what they leave encodes and decodes too
 *    (base64 strings as their decoded bytes).
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_history.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static void
round_trip(json_t *v)
{
    size_t          n, m;
    json_t         *w;
    const char     *err;
    unsigned char  *p;

    /* decoding refused anything deeper than the encoder takes */
    n = ac_history_encode(v, NULL, 0);
    check(n > 0);

    p = malloc(n);
    check(p != NULL);

    m = ac_history_encode(v, p, n);
    check(m == n);

    err = NULL;
    w = ac_history_decode(p, n, &err);
    check(w != NULL);
    check(json_equal(v, w));

    json_decref(w);
    free(p);
}


/* the rule's terms, written here again (not the library's helpers) */

static int
role_is(json_t *m, const char *role)
{
    json_t  *r;

    r = json_object_get(m, "role");

    return json_is_string(r) && strcmp(json_string_value(r), role) == 0;
}


static int
holds(json_t *m, const char *type)
{
    size_t   i;
    json_t  *content, *block;

    content = json_object_get(m, "content");

    if (!json_is_array(content)) {
        return 0;
    }

    for (i = 0; i < json_array_size(content); i++) {
        block = json_array_get(content, i);

        if (json_is_object(block) && json_object_get(block, type)) {
            return 1;
        }
    }

    return 0;
}


/* a user message to start at: no toolResult, its toolUse answered */

static int
plain_start(json_t *h, size_t i)
{
    json_t  *m, *next;

    m = json_array_get(h, i);

    if (!role_is(m, "user") || holds(m, "toolResult")) {
        return 0;
    }

    if (holds(m, "toolUse")) {
        next = json_array_get(h, i + 1);
        return next != NULL && holds(next, "toolResult");
    }

    return 1;
}


/* the fallback: assistant(toolUse), then user(toolResult) */

static int
tool_start(json_t *h, size_t i)
{
    json_t  *m, *next;

    m = json_array_get(h, i);
    next = json_array_get(h, i + 1);

    return next != NULL
           && role_is(m, "assistant") && holds(m, "toolUse")
           && role_is(next, "user") && holds(next, "toolResult");
}


static void
check_window(json_t *v, size_t window)
{
    size_t   n, removed, i, want;
    json_t  *h;

    h = json_deep_copy(v);
    check(h != NULL);

    n = json_array_size(h);
    removed = ac_history_trim(h, window);

    /* the reference: where the kept history must start */

    want = 0;

    if (n > window) {
        for (i = n - window; i < n; i++) {
            if (plain_start(v, i)) {
                want = i;
                goto found;
            }
        }

        for (i = n - window; i + 1 < n; i++) {
            if (tool_start(v, i)) {
                want = i;
                goto found;
            }
        }
    }

found:

    check(removed == want);
    check(json_array_size(h) == n - removed);

    /* what is kept is the tail, unchanged */

    for (i = removed; i < n; i++) {
        check(json_equal(json_array_get(h, i - removed),
                         json_array_get(v, i)));
    }

    if (removed) {
        /* more than the window went only to reach a good start */
        check(removed >= n - window);

        /* a user message without toolResult whose toolUse is answered,
         * or the fallback's assistant(toolUse) + user(toolResult) */
        check(plain_start(h, 0) || tool_start(h, 0));
    }

    json_decref(h);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t       n;
    json_t      *v, *text;
    const char  *err;

    err = NULL;
    v = ac_history_decode(data, size, &err);

    if (v == NULL) {
        check(err != NULL && err[0] != '\0');
        return 0;
    }

    check(json_is_array(v));

    round_trip(v);

    check_window(v, 1);
    check_window(v, 2);
    check_window(v, 4);

    n = json_array_size(v);
    check_window(v, 3);
    check(ac_history_trim(v, 3) <= n);
    check(json_array_size(v) <= n);

    check(ac_history_repair(v) >= 0);

    text = json_string("next");
    check(ac_history_add_user_text(v, text) == 0);
    json_decref(text);

    /* a prompt of content blocks joins or follows it */
    text = json_pack("[{s:s}, {s:{s:s, s:{s:s}}}]", "text", "see",
                     "image", "format", "png", "source", "bytes",
                     "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlE"
                     "QVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==");
    check(ac_history_add_user(v, text) == 0);
    json_decref(text);

    round_trip(v);

    json_decref(v);

    return 0;
}
