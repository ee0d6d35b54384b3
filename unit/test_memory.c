/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Memory's data plane: CreateEvent and ListEvents bodies in
 * Strands' layout, ListEvents pages read back in timestamp order.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_memory_proto.h"


static json_t *
load(const char *s)
{
    json_error_t  e;
    json_t       *v;

    v = json_loads(s, 0, &e);
    if (v == NULL) {
        fail_msg("bad JSON in the test: %s: %s", e.text, s);
    }

    return v;
}


/* a ListEvents page of the CreateEvent bodies given */

static char *
page(json_t **bodies, size_t n, const char *next)
{
    char    *s;
    size_t   i;
    json_t  *events, *ev, *p;

    events = json_array();

    for (i = 0; i < n; i++) {
        ev = json_pack("{s:s, s:O, s:O, s:s, s:O, s:{s:s}}",
                       "memoryId", "mem-1",
                       "actorId", json_object_get(bodies[i], "actorId"),
                       "sessionId", json_object_get(bodies[i], "sessionId"),
                       "eventId", "0000001756147154000#ffa53e54",
                       "eventTimestamp",
                       json_object_get(bodies[i], "eventTimestamp"),
                       "branch", "name", "main");
        json_object_set(ev, "payload", json_object_get(bodies[i], "payload"));
        json_array_append_new(events, ev);
    }

    p = json_pack("{s:o}", "events", events);
    if (next) {
        json_object_set_new(p, "nextToken", json_string(next));
    }

    s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return s;
}


/* the CreateEvent body of a message, parsed */

static json_t *
create(const char *message, double ts, long id)
{
    char     err[256], *s;
    size_t   len;
    json_t  *m, *body;

    m = load(message);
    s = ac_memory_create_event("actor-1", "sess-1", ts, m, id, NULL, &len,
                               err, sizeof(err));
    if (s == NULL) {
        fail_msg("create_event: %s", err);
    }

    assert_int_equal(len, strlen(s));
    body = load(s);
    free(s);
    json_decref(m);
    return body;
}


static json_t *
read_back(json_t **bodies, size_t n)
{
    char                 err[256], *s, *next;
    json_t              *out;
    ac_memory_history_t  h;

    ac_memory_history_init(&h);
    s = page(bodies, n, NULL);
    assert_int_equal(ac_memory_history_add_page(&h, s, strlen(s), &next,
                                                err, sizeof(err)), 0);
    assert_null(next);
    free(s);

    out = ac_memory_history_messages(&h);
    ac_memory_history_free(&h);
    return out;
}


static void
test_role(void **state)
{
    assert_string_equal(ac_memory_role("user"), "USER");
    assert_string_equal(ac_memory_role("assistant"), "ASSISTANT");
    assert_null(ac_memory_role("system"));
    assert_null(ac_memory_role("User"));
    assert_null(ac_memory_role(NULL));
}


static void
test_create_event(void **state)
{
    char        err[256], *s;
    json_t     *m;
    const char *want;

    m = load("{\"role\":\"user\",\"content\":[{\"text\":\"Hi \\\"you\\\"\"}]}");

    s = ac_memory_create_event("actor-1", "sess-1", 1756147154, m, 3,
                               "tok-1", NULL, err, sizeof(err));
    want = "{\"actorId\":\"actor-1\",\"sessionId\":\"sess-1\","
           "\"eventTimestamp\":1756147154,\"payload\":[{\"conversational\":"
           "{\"content\":{\"text\":\"{\\\"message\\\":{\\\"role\\\":"
           "\\\"user\\\",\\\"content\\\":[{\\\"text\\\":\\\"Hi "
           "\\\\\\\"you\\\\\\\"\\\"}]},\\\"message_id\\\":3,"
           "\\\"redact_message\\\":null,"
           "\\\"created_at\\\":\\\"2025-08-25T18:39:14+00:00\\\","
           "\\\"updated_at\\\":\\\"2025-08-25T18:39:14+00:00\\\"}\"},"
           "\"role\":\"USER\"}}],\"clientToken\":\"tok-1\"}";
    assert_string_equal(s, want);
    free(s);

    /* fractions: milliseconds in the body, microseconds in created_at */
    s = ac_memory_message_text(m, 0, 1.5, NULL, err, sizeof(err));
    assert_non_null(strstr(s, "\"created_at\":"
                              "\"1970-01-01T00:00:01.500000+00:00\""));
    free(s);
    json_decref(m);

    m = create("{\"role\":\"assistant\",\"content\":[{\"text\":\"ok\"}]}",
               1756147154.25, 0);
    assert_true(json_is_real(json_object_get(m, "eventTimestamp")));
    assert_true(json_real_value(json_object_get(m, "eventTimestamp"))
                == 1756147154.25);
    assert_string_equal(json_string_value(json_object_get(json_object_get(
        json_array_get(json_object_get(m, "payload"), 0), "conversational"),
        "role")), "ASSISTANT");
    assert_null(json_object_get(m, "clientToken"));
    json_decref(m);
}


static void
test_create_refused(void **state)
{
    char         err[256], *s;
    size_t       i;
    json_t      *m;
    const char  *bad[] = {
        "[]",
        "{\"role\":\"system\",\"content\":[{\"text\":\"x\"}]}",
        "{\"content\":[{\"text\":\"x\"}]}",
        "{\"role\":\"user\",\"content\":[]}",
        "{\"role\":\"user\",\"content\":\"x\"}",
        "{\"role\":\"user\",\"content\":[\"x\"]}",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = load(bad[i]);
        err[0] = '\0';
        s = ac_memory_create_event("a", "s", 1, m, 0, NULL, NULL, err,
                                   sizeof(err));
        assert_null(s);
        assert_true(err[0] != '\0');
        json_decref(m);
    }

    m = load("{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}");
    assert_null(ac_memory_create_event("", "s", 1, m, 0, NULL, NULL, err,
                                       sizeof(err)));
    assert_null(ac_memory_create_event("a", NULL, 1, m, 0, NULL, NULL, err,
                                       sizeof(err)));
    assert_string_equal(err, "no actorId or sessionId");
    json_decref(m);
}


/* tool use, tool results, images: back exactly; blobs as Strands' */

static void
test_round_trip(void **state)
{
    size_t       i;
    json_t      *b[4], *out, *want, *text, *stored, *enc;
    const char  *msgs[] = {
        "{\"role\":\"user\",\"content\":[{\"text\":\"What is this?\"},"
        "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"iVBORw0=\"}}}"
        "]}",
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"Let me\"},"
        "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"calc\",\"input\":"
        "{\"bytes\":\"not a blob\",\"n\":[1,2.5,null,true,"
        "0.12345678901234566]}}}]}",
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":"
        "\"t1\",\"status\":\"success\",\"content\":[{\"text\":\"4\"},"
        "{\"json\":{\"a\":\"\\u00e9\\ud83d\\ude00\"}},{\"document\":"
        "{\"format\":\"txt\",\"name\":\"d\",\"source\":{\"bytes\":\"eA==\"}"
        "}}]}}]}",
        "{\"role\":\"assistant\",\"content\":[{\"reasoningContent\":"
        "{\"redactedContent\":\"cmVk\"}},{\"text\":\"It is 4.\"}]}",
    };

    want = json_array();

    for (i = 0; i < 4; i++) {
        b[i] = create(msgs[i], 1000 + i, i);
        json_array_append_new(want, load(msgs[i]));
    }

    /* what Strands reads: binary values as {"__bytes_encoded__": ...} */
    text = json_object_get(json_object_get(json_object_get(json_array_get(
        json_object_get(b[0], "payload"), 0), "conversational"), "content"),
        "text");
    stored = load(json_string_value(text));
    enc = load("{\"__bytes_encoded__\":true,\"data\":\"iVBORw0=\"}");
    assert_true(json_equal(json_object_get(json_object_get(json_object_get(
        json_array_get(json_object_get(json_object_get(stored, "message"),
        "content"), 1), "image"), "source"), "bytes"), enc));
    json_decref(enc);
    json_decref(stored);

    /* a tool's input is not Converse's blob: left alone */
    text = json_object_get(json_object_get(json_object_get(json_array_get(
        json_object_get(b[1], "payload"), 0), "conversational"), "content"),
        "text");
    assert_non_null(strstr(json_string_value(text),
                           "\"bytes\":\"not a blob\""));

    /* newest first, as the service answers: back oldest first */
    {
        json_t  *rev[4] = { b[3], b[2], b[1], b[0] };

        out = read_back(rev, 4);
    }

    assert_true(json_equal(out, want));

    json_decref(out);
    json_decref(want);

    for (i = 0; i < 4; i++) {
        json_decref(b[i]);
    }
}


/* 100,000 characters of text at most, counted as characters */

static void
test_blob(void **state)
{
    char     err[256], *s, *fill, *msg;
    size_t   n, base, i;
    json_t  *m, *b, *item, *pair, *out;

    /* the stored text's overhead around the prompt */
    m = load("{\"role\":\"user\",\"content\":[{\"text\":\"\"}]}");
    s = ac_memory_message_text(m, 0, 5, &base, err, sizeof(err));
    free(s);
    json_decref(m);

    /* "é" is two bytes, one character: exactly the limit */
    n = AC_MEMORY_MAX_TEXT - base;
    fill = malloc(2 * n + 1);
    for (i = 0; i < n; i++) {
        memcpy(fill + 2 * i, "\xc3\xa9", 2);
    }
    fill[2 * n] = '\0';

    m = json_pack("{s:s, s:[{s:s}]}", "role", "user", "content", "text", fill);
    msg = json_dumps(m, JSON_COMPACT);
    json_decref(m);

    b = create(msg, 5, 0);
    item = json_array_get(json_object_get(b, "payload"), 0);
    assert_non_null(json_object_get(item, "conversational"));
    assert_int_equal(json_string_length(json_object_get(json_object_get(
        json_object_get(item, "conversational"), "content"), "text")),
        2 * n + base);
    json_decref(b);
    free(msg);

    /* one character more: a blob, the JSON text of [text, role] */
    fill = realloc(fill, 2 * n + 2);
    strcpy(fill + 2 * n, "x");

    m = json_pack("{s:s, s:[{s:s}]}", "role", "assistant", "content", "text",
                  fill);
    msg = json_dumps(m, JSON_COMPACT);

    b = create(msg, 6, 1);
    item = json_array_get(json_object_get(b, "payload"), 0);
    assert_null(json_object_get(item, "conversational"));
    assert_true(json_is_string(json_object_get(item, "blob")));

    pair = load(json_string_value(json_object_get(item, "blob")));
    assert_int_equal(json_array_size(pair), 2);
    assert_string_equal(json_string_value(json_array_get(pair, 1)),
                        "ASSISTANT");
    json_decref(pair);

    out = read_back(&b, 1);
    assert_int_equal(json_array_size(out), 1);
    assert_true(json_equal(json_array_get(out, 0), m));

    json_decref(out);
    json_decref(b);
    json_decref(m);
    free(msg);
    free(fill);
}


static void
test_list_events(void **state)
{
    char  *s;

    s = ac_memory_list_events(100, NULL, 1, NULL);
    assert_string_equal(s, "{\"maxResults\":100,\"includePayloads\":true}");
    free(s);

    s = ac_memory_list_events(500, "tok/+=", 0, NULL);
    assert_string_equal(s, "{\"maxResults\":100,\"includePayloads\":false,"
                           "\"nextToken\":\"tok/+=\"}");
    free(s);

    s = ac_memory_list_events(0, NULL, 1, NULL);
    assert_string_equal(s, "{\"maxResults\":1,\"includePayloads\":true}");
    free(s);
}


/* pages in any order; ties of timestamps newest first; tokens */

static void
test_pages(void **state)
{
    char                 err[256], *s, *next;
    size_t               i;
    json_t              *b[5], *out, *want;
    ac_memory_history_t  h;
    double               ts[5] = { 30, 10, 20, 40, 40 };

    want = json_array();

    for (i = 0; i < 5; i++) {
        char  m[64];

        snprintf(m, sizeof(m), "{\"role\":\"%s\",\"content\":[{\"text\":"
                 "\"m%zu\"}]}", i % 2 ? "assistant" : "user", i);
        b[i] = create(m, ts[i], 0);
    }

    /* by timestamp 10, 20, 30; at 40 the later arrival (b[4]) first */
    json_decref(want);
    want = load("[{\"role\":\"assistant\",\"content\":[{\"text\":\"m1\"}]},"
                "{\"role\":\"user\",\"content\":[{\"text\":\"m2\"}]},"
                "{\"role\":\"user\",\"content\":[{\"text\":\"m0\"}]},"
                "{\"role\":\"user\",\"content\":[{\"text\":\"m4\"}]},"
                "{\"role\":\"assistant\",\"content\":[{\"text\":\"m3\"}]}]");

    ac_memory_history_init(&h);

    s = page(b, 2, "page-2");
    assert_int_equal(ac_memory_history_add_page(&h, s, strlen(s), &next,
                                                err, sizeof(err)), 0);
    assert_string_equal(next, "page-2");
    free(next);
    free(s);

    s = page(b + 2, 3, "");
    assert_int_equal(ac_memory_history_add_page(&h, s, strlen(s), &next,
                                                err, sizeof(err)), 0);
    assert_null(next);
    free(s);

    out = ac_memory_history_messages(&h);
    assert_true(json_equal(out, want));
    assert_int_equal(h.events, 5);
    assert_int_equal(h.skipped, 0);

    json_decref(out);
    json_decref(want);
    ac_memory_history_free(&h);

    for (i = 0; i < 5; i++) {
        json_decref(b[i]);
    }

    /* no pages: no messages */
    ac_memory_history_init(&h);
    out = ac_memory_history_messages(&h);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    ac_memory_history_free(&h);
}


/*
 * Events as Strands' session manager and MemoryClient write them:
 * Python's json.dumps (", ", ": ", \u escapes), a redacted message,
 * blank text left out, a blob of [text, role], plain conversational
 * text, a TOOL turn and a session blob (skipped), timestamps as reals.
 */

static void
test_strands_written(void **state)
{
    char                 err[256], *next;
    json_t              *out, *want;
    ac_memory_history_t  h;
    const char          *body =
        "{\"events\": ["
        "{\"eventTimestamp\": 1756147157.0, \"payload\": [{\"conversational\":"
        " {\"content\": {\"text\": \"{\\\"message\\\": {\\\"role\\\": "
        "\\\"assistant\\\", \\\"content\\\": [{\\\"text\\\": \\\"  \\\"}, "
        "{\\\"text\\\": \\\"caf\\\\u00e9\\\"}]}, \\\"message_id\\\": 0, "
        "\\\"redact_message\\\": null, \\\"created_at\\\": "
        "\\\"2025-08-25T18:39:17.000000+00:00\\\"}\"}, \"role\": "
        "\"ASSISTANT\"}}]},"
        "{\"eventTimestamp\": 1756147156, \"payload\": [{\"blob\": "
        "\"[\\\"{\\\\\\\"message\\\\\\\": {\\\\\\\"role\\\\\\\": "
        "\\\\\\\"user\\\\\\\", \\\\\\\"content\\\\\\\": [{\\\\\\\"image"
        "\\\\\\\": {\\\\\\\"format\\\\\\\": \\\\\\\"png\\\\\\\", "
        "\\\\\\\"source\\\\\\\": {\\\\\\\"bytes\\\\\\\": {\\\\\\\""
        "__bytes_encoded__\\\\\\\": true, \\\\\\\"data\\\\\\\": "
        "\\\\\\\"AAE=\\\\\\\"}}}}]}, \\\\\\\"message_id\\\\\\\": 0}\\\", "
        "\\\"USER\\\"]\"}]},"
        "{\"eventTimestamp\": 1756147155, \"payload\": [{\"conversational\":"
        " {\"content\": {\"text\": \"{\\\"message\\\": {\\\"role\\\": "
        "\\\"user\\\", \\\"content\\\": [{\\\"text\\\": \\\"secret\\\"}]}, "
        "\\\"redact_message\\\": {\\\"role\\\": \\\"user\\\", "
        "\\\"content\\\": [{\\\"text\\\": \\\"[redacted]\\\"}]}}\"}, "
        "\"role\": \"USER\"}}]},"
        "{\"eventTimestamp\": 1756147150, \"payload\": ["
        "{\"conversational\": {\"content\": {\"text\": \"Hello there\"}, "
        "\"role\": \"USER\"}},"
        "{\"conversational\": {\"content\": {\"text\": \"Checking\"}, "
        "\"role\": \"TOOL\"}},"
        "{\"conversational\": {\"content\": {\"text\": \"Hi!\"}, "
        "\"role\": \"ASSISTANT\"}},"
        "{\"blob\": \"{\\\"session_id\\\": \\\"s\\\"}\"},"
        "{\"conversational\": {\"content\": {\"text\": \"{\\\"message\\\": "
        "{\\\"role\\\": \\\"user\\\", \\\"content\\\": [{\\\"text\\\": "
        "\\\"\\\"}]}}\"}, \"role\": \"USER\"}}"
        "]}"
        "]}";

    want = load("["
        "{\"role\":\"user\",\"content\":[{\"text\":\"Hello there\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"Hi!\"}]},"
        "{\"role\":\"user\",\"content\":[{\"text\":\"[redacted]\"}]},"
        "{\"role\":\"user\",\"content\":[{\"image\":{\"format\":\"png\","
        "\"source\":{\"bytes\":\"AAE=\"}}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"caf\\u00e9\"}]}"
        "]");

    ac_memory_history_init(&h);
    assert_int_equal(ac_memory_history_add_page(&h, body, strlen(body),
                                                &next, err, sizeof(err)), 0);
    assert_null(next);

    out = ac_memory_history_messages(&h);
    assert_true(json_equal(out, want));
    assert_int_equal(h.skipped, 3);     /* TOOL, session blob, blank */

    json_decref(out);
    json_decref(want);
    ac_memory_history_free(&h);
}


static void
test_bad_pages(void **state)
{
    char                 err[256], *next;
    size_t               i;
    ac_memory_history_t  h;
    const char          *bad[] = {
        "",
        "not json",
        "[]",
        "{}",
        "{\"events\": {}}",
        "{\"events\": [], \"nextToken\": 7}",
        "{\"events\": [1]}",
        "{\"events\": [{\"payload\": []}]}",
        "{\"events\": [{\"eventTimestamp\": \"2025\", \"payload\": []}]}",
        "{\"events\": [{\"eventTimestamp\": 1}]}",
        "{\"events\": [{\"eventTimestamp\": 1, \"payload\": [\"x\"]}]}",
        "{\"events\": [], \"events\": []}",
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ac_memory_history_init(&h);
        err[0] = '\0';
        next = (char *) 1;

        assert_int_equal(ac_memory_history_add_page(&h, bad[i],
                                                     strlen(bad[i]), &next,
                                                     err, sizeof(err)), -1);
        assert_null(next);
        assert_true(err[0] != '\0');
        ac_memory_history_free(&h);
    }

    /* an empty page, null token: the end */
    ac_memory_history_init(&h);
    assert_int_equal(ac_memory_history_add_page(&h,
        "{\"events\": [], \"nextToken\": null}", 33, &next, err,
        sizeof(err)), 0);
    assert_null(next);
    ac_memory_history_free(&h);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role),
        cmocka_unit_test(test_create_event),
        cmocka_unit_test(test_create_refused),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_blob),
        cmocka_unit_test(test_list_events),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_strands_written),
        cmocka_unit_test(test_bad_pages),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
