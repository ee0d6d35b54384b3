/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * ConverseStream: the turn rebuilt from the project's streams and
 * frames, crafted events, the wire path, the request JSON and the
 * pre-stream HTTP error texts.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <strings.h>
#include <cmocka.h>

#include "ngx_http_agentcore_converse.h"
#include "util_es.h"


#define MAX_TEXTS  64

#define ERR_PREFIX(type)                                                     \
    "An error occurred (" type ") when calling the ConverseStream "          \
    "operation: "


typedef struct {
    char            *text[MAX_TEXTS];
    size_t           len[MAX_TEXTS];
    size_t           n;
    size_t           stop_at;      /* nonzero: return 5 at that text */
} texts_t;


static int
on_text(void *data, const char *text, size_t len)
{
    texts_t  *t;

    t = data;

    assert_true(t->n < MAX_TEXTS);
    assert_non_null(text);

    t->text[t->n] = malloc(len + 1);
    assert_non_null(t->text[t->n]);
    memcpy(t->text[t->n], text, len);
    t->text[t->n][len] = '\0';
    t->len[t->n] = len;
    t->n++;

    if (t->stop_at && t->n == t->stop_at) {
        return 5;
    }

    return 0;
}


static void
texts_free(texts_t *t)
{
    size_t  i;

    for (i = 0; i < t->n; i++) {
        free(t->text[i]);
    }

    t->n = 0;
}


static int
to_turn(void *data, const ac_es_message_t *msg)
{
    return ac_turn_feed(data, msg);
}


static void
assert_json(json_t *got, const char *expect)
{
    char          *s;
    json_t        *e;
    json_error_t   err;

    e = json_loads(expect, JSON_ALLOW_NUL, &err);
    if (e == NULL) {
        fail_msg("bad expectation: %s", err.text);
    }

    if (!json_equal(got, e)) {
        s = got ? json_dumps(got, JSON_COMPACT) : NULL;
        print_error("got:    %s\nexpect: %s\n", s ? s : "NULL", expect);
        free(s);
        json_decref(e);
        fail();
    }

    json_decref(e);
}


/* feeds a vector file through a decoder in step-sized chunks */

static int
run_file(ac_turn_t *turn, const char *rel, size_t step,
    ac_es_decoder_t *d)
{
    int             rc;
    size_t          len, off, k;
    uint32_t        seed;
    unsigned char  *p;

    p = es_read(rel, &len);
    assert_non_null(p);

    ac_es_decoder_init(d, 0);

    seed = 4242;
    rc = AC_ES_OK;

    for (off = 0; off < len; off += k) {
        if (step > 0) {
            k = step;

        } else {
            seed = seed * 1103515245 + 12345;
            k = 1 + (seed >> 16) % 200;
        }

        k = k < len - off ? k : len - off;

        rc = ac_es_decoder_feed(d, p + off, k, to_turn, turn);
        if (rc != AC_ES_OK) {
            break;
        }
    }

    free(p);

    return rc;
}


static int
feed_frame(ac_turn_t *turn, const char *rel)
{
    int              rc;
    char             err[128];
    size_t           len;
    unsigned char   *p;
    ac_es_message_t  msg;

    p = es_read(rel, &len);
    assert_non_null(p);

    assert_int_equal(ac_es_decode(p, len, AC_ES_DEFAULT_MAX_MESSAGE, &msg,
                                  err, sizeof(err)), AC_ES_OK);

    rc = ac_turn_feed(turn, &msg);

    free(p);

    return rc;
}


static int
feed_event(ac_turn_t *turn, const char *event_type, const char *json)
{
    char             err[128];
    size_t           len;
    unsigned char    frame[4096];
    ac_es_message_t  msg;

    len = es_event(frame, event_type, json);

    assert_int_equal(ac_es_decode(frame, len, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_OK);

    return ac_turn_feed(turn, &msg);
}


static json_t *
stream_entry(json_t *m, const char *file)
{
    size_t   i;
    json_t  *s;

    json_array_foreach(json_object_get(m, "streams"), i, s) {
        if (strcmp(json_string_value(json_object_get(s, "file")), file)
            == 0)
        {
            return s;
        }
    }

    fail_msg("no stream %s", file);

    return NULL;
}


static void
check_usage(ac_turn_t *turn, json_t *exp)
{
    json_t            *u;
    const ac_usage_t  *usage;

    usage = ac_turn_usage(turn);
    u = json_object_get(exp, "usage");

    assert_int_equal(usage->input_tokens,
                     json_integer_value(json_object_get(u, "inputTokens")));
    assert_int_equal(usage->output_tokens,
                     json_integer_value(json_object_get(u, "outputTokens")));
    assert_int_equal(usage->total_tokens,
                     json_integer_value(json_object_get(u, "totalTokens")));
    /* absent in the expectation means 0 */
    assert_int_equal(usage->cache_read_input_tokens,
                     json_integer_value(json_object_get(u,
                                                 "cacheReadInputTokens")));
    assert_int_equal(usage->cache_write_input_tokens,
                     json_integer_value(json_object_get(u,
                                                 "cacheWriteInputTokens")));
    assert_int_equal(usage->latency_ms,
                     json_integer_value(json_object_get(
                         json_object_get(exp, "metrics"), "latencyMs")));
}


/* the text deltas the SDK decoded, in order, against the callbacks */

static void
check_texts(json_t *s, texts_t *t)
{
    size_t   i, n;
    json_t  *ev, *text;

    n = 0;

    json_array_foreach(json_object_get(json_object_get(s, "sdk_decoded"),
                                       "events"), i, ev)
    {
        text = json_object_get(json_object_get(json_object_get(ev,
                                   "contentBlockDelta"), "delta"), "text");
        if (text == NULL) {
            continue;
        }

        assert_true(n < t->n);
        assert_int_equal(t->len[n], json_string_length(text));
        assert_memory_equal(t->text[n], json_string_value(text), t->len[n]);
        n++;
    }

    assert_int_equal(n, t->n);
    assert_true(n > 0);
}


static void
check_assembled(json_t *m, const char *file, size_t tool_uses, size_t step)
{
    char             path[256];
    json_t          *s, *exp, *msg;
    texts_t          texts;
    ac_turn_t       *turn;
    ac_es_decoder_t  d;

    s = stream_entry(m, file);
    exp = json_object_get(s, "expected_assembled");

    memset(&texts, 0, sizeof(texts));
    turn = ac_turn_create(on_text, &texts);
    assert_non_null(turn);

    snprintf(path, sizeof(path), "eventstream/%s", file);
    assert_int_equal(run_file(turn, path, step, &d), AC_ES_OK);
    assert_int_equal(ac_es_decoder_pending(&d), 0);
    ac_es_decoder_free(&d);

    assert_null(ac_turn_error(turn));
    assert_null(ac_turn_error_type(turn));
    assert_true(ac_turn_stopped(turn));
    assert_true(ac_turn_has_metadata(turn));
    assert_string_equal(ac_turn_stop_reason(turn),
                        json_string_value(json_object_get(exp,
                                                          "stopReason")));
    assert_int_equal(ac_turn_tool_uses(turn), tool_uses);

    msg = ac_turn_message(turn);
    assert_non_null(msg);

    if (!json_equal(msg, json_object_get(exp, "message"))) {
        fail_msg("%s: message differs from expected_assembled", file);
    }

    /* a second call gives an equal, independent message */
    json_decref(msg);
    msg = ac_turn_message(turn);
    assert_true(json_equal(msg, json_object_get(exp, "message")));
    json_decref(msg);

    check_usage(turn, exp);
    check_texts(s, &texts);

    texts_free(&texts);
    ac_turn_destroy(turn);
}


static void
test_streams_assembled(void **state)
{
    size_t   i;
    json_t  *m;

    static const size_t  steps[] = { (size_t) -1, 1, 7, 0 };

    m = es_load_json("eventstream/streams_manifest.json");
    assert_non_null(m);

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        check_assembled(m, "streams/converse_stream_tool_use.bin", 1,
                        steps[i]);
        check_assembled(m, "streams/converse_stream_final_text.bin", 0,
                        steps[i]);
    }

    json_decref(m);
}


static void
test_stream_exception(void **state)
{
    char             expect[512];
    size_t           i;
    json_t          *m, *s, *e, *fields;
    texts_t          texts;
    ac_turn_t       *turn;
    ac_es_decoder_t  d;

    static const size_t  steps[] = { (size_t) -1, 1, 7, 0 };

    m = es_load_json("eventstream/streams_manifest.json");
    assert_non_null(m);

    s = stream_entry(m, "streams/converse_stream_midstream_exception.bin");
    assert_true(json_is_true(json_object_get(json_object_get(s,
                                       "expected_assembled"), "error")));

    e = json_object_get(json_object_get(s, "sdk_decoded"), "error");
    fields = json_object_get(e, "fields");

    snprintf(expect, sizeof(expect),
             ERR_PREFIX("modelStreamErrorException") "%s (original status "
             "%d: %s)",
             json_string_value(json_object_get(e, "message")),
             (int) json_integer_value(json_object_get(fields,
                                                  "originalStatusCode")),
             json_string_value(json_object_get(fields, "originalMessage")));

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        memset(&texts, 0, sizeof(texts));
        turn = ac_turn_create(on_text, &texts);
        assert_non_null(turn);

        /* the handler's AC_TURN_ERROR comes back through the decoder */
        assert_int_equal(run_file(turn,
                             "eventstream/streams/"
                             "converse_stream_midstream_exception.bin",
                             steps[i], &d),
                         AC_TURN_ERROR);
        assert_string_equal(d.error, "");
        ac_es_decoder_free(&d);

        assert_string_equal(ac_turn_error(turn), expect);
        assert_string_equal(ac_turn_error_type(turn),
                            "modelStreamErrorException");
        assert_false(ac_turn_stopped(turn));

        check_texts(s, &texts);

        texts_free(&texts);
        ac_turn_destroy(turn);
    }

    json_decref(m);
}


static const char *
manifest_header(json_t *f, const char *name)
{
    size_t   i;
    json_t  *h;

    json_array_foreach(json_object_get(f, "headers"), i, h) {
        if (strcmp(json_string_value(json_object_get(h, "name")), name)
            == 0)
        {
            return json_string_value(json_object_get(h, "value"));
        }
    }

    return NULL;
}


static void
test_error_frames(void **state)
{
    char         expect[512], path[256];
    size_t       k;
    json_t      *m, *f, *e, *fields;
    ac_turn_t   *turn;
    const char  *type, *msg;

    m = es_load_json("eventstream/frames_manifest.json");
    assert_non_null(m);

    for (k = 7; k <= 12; k++) {
        f = json_array_get(json_object_get(m, "frames"), k);
        e = json_object_get(json_object_get(f, "sdk_decoded"), "error");
        fields = json_object_get(e, "fields");

        if (k == 12) {
            /* frame 13, :message-type error: the headers say it all */
            assert_string_equal(manifest_header(f, ":message-type"),
                                "error");
            type = manifest_header(f, ":error-code");
            msg = manifest_header(f, ":error-message");
            assert_string_equal(type,
                                json_string_value(json_object_get(e,
                                                                  "name")));

        } else {
            assert_string_equal(manifest_header(f, ":message-type"),
                                "exception");
            type = manifest_header(f, ":exception-type");
            msg = json_string_value(json_object_get(e, "message"));

            /* the SDK's name is the header's, capitalised */
            assert_true(strcasecmp(type,
                                   json_string_value(json_object_get(e,
                                                     "name"))) == 0);
        }

        assert_non_null(type);
        assert_non_null(msg);

        if (json_object_get(fields, "originalMessage") != NULL) {
            snprintf(expect, sizeof(expect),
                     ERR_PREFIX("%s") "%s (original status %d: %s)",
                     type, msg,
                     (int) json_integer_value(json_object_get(fields,
                                                  "originalStatusCode")),
                     json_string_value(json_object_get(fields,
                                                       "originalMessage")));

        } else {
            snprintf(expect, sizeof(expect), ERR_PREFIX("%s") "%s", type,
                     msg);
        }

        turn = ac_turn_create(NULL, NULL);
        assert_non_null(turn);

        snprintf(path, sizeof(path), "eventstream/%s",
                 json_string_value(json_object_get(f, "file")));
        assert_int_equal(feed_frame(turn, path), AC_TURN_ERROR);
        assert_string_equal(ac_turn_error(turn), expect);
        assert_string_equal(ac_turn_error_type(turn), type);

        /* nothing is accepted after the error, and it stays */
        assert_int_equal(feed_frame(turn,
                                    "eventstream/frames/06_messageStop_"
                                    "tool_use.bin"), AC_TURN_ERROR);
        assert_string_equal(ac_turn_error(turn), expect);
        assert_false(ac_turn_stopped(turn));

        ac_turn_destroy(turn);
    }

    /* the two texts spelled out once */

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "09_exception_modelStreamErrorException.bin"),
                     AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("modelStreamErrorException")
                        "Model stream error (original status 500: "
                        "upstream failure)");
    ac_turn_destroy(turn);

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(feed_frame(turn,
                                "eventstream/frames/13_error_unmodeled.bin"),
                     AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("InternalFailure")
                        "An internal error occurred.");
    assert_string_equal(ac_turn_error_type(turn), "InternalFailure");
    ac_turn_destroy(turn);

    json_decref(m);
}


static void
test_single_frames(void **state)
{
    json_t     *m, *f, *msg;
    texts_t     texts;
    ac_turn_t  *turn;

    m = es_load_json("eventstream/frames_manifest.json");
    assert_non_null(m);

    memset(&texts, 0, sizeof(texts));
    turn = ac_turn_create(on_text, &texts);
    assert_non_null(turn);

    /* 17: an unknown event type is skipped; 18: no :message-type */

    assert_int_equal(feed_frame(turn, "eventstream/frames/01_messageStart.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/17_unknown_event_type.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/18_all_header_types.bin"),
                     AC_TURN_OK);
    assert_null(ac_turn_error(turn));
    assert_false(ac_turn_stopped(turn));
    assert_false(ac_turn_has_metadata(turn));
    assert_null(ac_turn_stop_reason(turn));
    assert_int_equal(texts.n, 0);

    msg = ac_turn_message(turn);
    assert_json(msg, "{\"role\":\"assistant\",\"content\":[]}");
    json_decref(msg);

    /* 16: multi-byte UTF-8 and escapes reach the callback decoded */

    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/16_contentBlockDelta_utf8.bin"),
                     AC_TURN_OK);
    assert_int_equal(texts.n, 1);

    f = json_array_get(json_object_get(m, "frames"), 15);
    f = json_object_get(json_object_get(json_object_get(json_array_get(
            json_object_get(json_object_get(f, "sdk_decoded"), "events"), 0),
            "contentBlockDelta"), "delta"), "text");
    assert_int_equal(texts.len[0], json_string_length(f));
    assert_memory_equal(texts.text[0], json_string_value(f), texts.len[0]);
    assert_string_equal(texts.text[0],
                        "Gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\x96\xe7\x95\x8c "
                        "\xf0\x9f\x91\x8b \"quoted\"\n");

    /* 02 appends to the same block 0 */

    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/02_contentBlockDelta_text.bin"),
                     AC_TURN_OK);
    assert_int_equal(texts.n, 2);
    assert_string_equal(texts.text[1], "Hello");

    /* 04 + 05: a toolUse block 1 whose input never completes -> {} */

    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "04_contentBlockStart_toolUse.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "05_contentBlockDelta_toolUse.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/03_contentBlockStop.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn,
                         "eventstream/frames/06_messageStop_tool_use.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn, "eventstream/frames/07_metadata.bin"),
                     AC_TURN_OK);

    assert_int_equal(ac_turn_tool_uses(turn), 1);
    assert_string_equal(ac_turn_stop_reason(turn), "tool_use");
    assert_true(ac_turn_has_metadata(turn));
    assert_int_equal(ac_turn_usage(turn)->total_tokens, 499);
    assert_int_equal(ac_turn_usage(turn)->latency_ms, 1532);

    msg = ac_turn_message(turn);
    assert_json(msg,
        "{\"role\":\"assistant\",\"content\":["
        "{\"text\":\"Gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\x96\xe7\x95\x8c "
        "\xf0\x9f\x91\x8b \\\"quoted\\\"\\nHello\"},"
        "{\"toolUse\":{\"toolUseId\":\"tooluse_kZJMlvQmRJ6eAyJE5GIl7Q\","
        "\"name\":\"get_weather\",\"input\":{}}}]}");
    json_decref(msg);

    texts_free(&texts);
    ac_turn_destroy(turn);

    /* 14 + 15: reasoning text and signature */

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "14_contentBlockDelta_reasoning_text.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "15_contentBlockDelta_reasoning_signature.bin"),
                     AC_TURN_OK);
    assert_int_equal(feed_frame(turn, "eventstream/frames/"
                                "03_contentBlockStop.bin"),
                     AC_TURN_OK);

    msg = ac_turn_message(turn);
    assert_json(msg,
        "{\"role\":\"assistant\",\"content\":[{\"reasoningContent\":"
        "{\"reasoningText\":{\"text\":\"Let me think\","
        "\"signature\":\"EqoBCkgIARABGAIiQExampleSig==\"}}}]}");
    json_decref(msg);
    assert_int_equal(ac_turn_tool_uses(turn), 0);
    ac_turn_destroy(turn);

    json_decref(m);
}


static void
test_crafted_events(void **state)
{
    json_t     *msg;
    texts_t     texts;
    ac_turn_t  *turn;

    memset(&texts, 0, sizeof(texts));
    turn = ac_turn_create(on_text, &texts);
    assert_non_null(turn);

    /* blocks keyed by index, created by their first delta */

    assert_int_equal(feed_event(turn, "messageStart",
                                "{\"role\":\"assistant\",\"p\":\"abc\"}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":0,\"delta\":"
                                "{\"text\":\"\"},\"p\":\"x\"}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":1,\"delta\":"
                                "{\"toolUse\":{\"input\":\"\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":1,\"delta\":"
                                "{\"toolUse\":{\"input\":\"[1, \"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":3,\"delta\":"
                                "{\"text\":\" \\t\\n\\u00a0\\u3000\"}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":1,\"delta\":"
                                "{\"toolUse\":{\"input\":\"2]\"}}}"),
                     AC_TURN_OK);
    /* an unknown delta kind and an unknown start are ignored */
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":4,\"delta\":"
                                "{\"citation\":{\"title\":\"t\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStart",
                                "{\"contentBlockIndex\":5,\"start\":{}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStop",
                                "{\"contentBlockIndex\":1}"),
                     AC_TURN_OK);
    /* a stop for a block never seen is harmless */
    assert_int_equal(feed_event(turn, "contentBlockStop",
                                "{\"contentBlockIndex\":9}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":6,\"delta\":"
                                "{\"reasoningContent\":{\"redactedContent\":"
                                "\"AAEC\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "messageStop",
                                "{\"stopReason\":\"end_turn\","
                                "\"additionalModelResponseFields\":{}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "metadata",
                                "{\"usage\":{\"inputTokens\":1},"
                                "\"trace\":{}}"),
                     AC_TURN_OK);

    /* the empty delta is still one callback, with length 0 */
    assert_int_equal(texts.n, 2);
    assert_int_equal(texts.len[0], 0);
    assert_int_equal(texts.len[1], 8);

    assert_int_equal(ac_turn_tool_uses(turn), 1);
    assert_string_equal(ac_turn_stop_reason(turn), "end_turn");
    assert_int_equal(ac_turn_usage(turn)->input_tokens, 1);
    assert_int_equal(ac_turn_usage(turn)->output_tokens, 0);

    /* a parsed non-object input is kept; blank texts are replaced */

    msg = ac_turn_message(turn);
    assert_json(msg,
        "{\"role\":\"assistant\",\"content\":["
        "{\"text\":\"[blank text]\"},"
        "{\"toolUse\":{\"toolUseId\":\"\",\"name\":\"\",\"input\":[1,2]}},"
        "{\"text\":\"[blank text]\"},"
        "{\"reasoningContent\":{\"redactedContent\":\"AAEC\"}}]}");
    json_decref(msg);

    texts_free(&texts);
    ac_turn_destroy(turn);

    /* text after a toolUse, tool input invalid JSON -> {} */

    turn = ac_turn_create(on_text, &texts);

    assert_int_equal(feed_event(turn, "contentBlockStart",
                                "{\"contentBlockIndex\":0,\"start\":"
                                "{\"toolUse\":{\"toolUseId\":\"t1\","
                                "\"name\":\"calculator\",\"type\":\"x\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":0,\"delta\":"
                                "{\"toolUse\":{\"input\":\"{\\\"a\\\":\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStop",
                                "{\"contentBlockIndex\":0}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStart",
                                "{\"contentBlockIndex\":1,\"start\":"
                                "{\"toolUse\":{\"toolUseId\":\"t2\","
                                "\"name\":\"weather\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStop",
                                "{\"contentBlockIndex\":1}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":2,\"delta\":"
                                "{\"text\":\"Done \\u0000.\"}}"),
                     AC_TURN_OK);

    assert_int_equal(ac_turn_tool_uses(turn), 2);
    assert_int_equal(texts.len[0], 7);
    assert_memory_equal(texts.text[0], "Done \0.", 7);

    msg = ac_turn_message(turn);
    assert_json(msg,
        "{\"role\":\"assistant\",\"content\":["
        "{\"toolUse\":{\"toolUseId\":\"t1\",\"name\":\"calculator\","
        "\"input\":{}}},"
        "{\"toolUse\":{\"toolUseId\":\"t2\",\"name\":\"weather\","
        "\"input\":{}}},"
        "{\"text\":\"Done \\u0000.\"}]}");
    json_decref(msg);

    texts_free(&texts);
    ac_turn_destroy(turn);

    /* on_text's nonzero return is handed back */

    texts.stop_at = 1;
    turn = ac_turn_create(on_text, &texts);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":0,\"delta\":"
                                "{\"text\":\"a\"}}"),
                     5);
    texts_free(&texts);
    ac_turn_destroy(turn);
}


static void
check_invalid(const char *event_type, const char *json, const char *expect)
{
    ac_turn_t  *turn;

    turn = ac_turn_create(NULL, NULL);
    assert_non_null(turn);

    assert_int_equal(feed_event(turn, event_type, json), AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn), expect);
    assert_string_equal(ac_turn_error_type(turn), "InvalidEvent");

    ac_turn_destroy(turn);
}


static void
test_malformed_events(void **state)
{
    check_invalid("contentBlockDelta", "not json",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: '[' or '{' expected near 'not'");
    check_invalid("messageStart", "[1]",
                  "Invalid messageStart event in the ConverseStream "
                  "response: the payload is not a JSON object");
    check_invalid("contentBlockDelta", "{\"delta\":{\"text\":\"a\"}}",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: missing integer \"contentBlockIndex\"");
    check_invalid("contentBlockDelta", "{\"contentBlockIndex\":0}",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: missing \"delta\" object");
    check_invalid("contentBlockDelta",
                  "{\"contentBlockIndex\":0,\"delta\":{\"text\":1}}",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: \"text\" is not a string");
    check_invalid("contentBlockDelta",
                  "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":{}}}",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: toolUse needs a string \"input\"");
    check_invalid("contentBlockDelta",
                  "{\"contentBlockIndex\":-1,\"delta\":{\"text\":\"a\"}}",
                  "Invalid contentBlockDelta event in the ConverseStream "
                  "response: contentBlockIndex -1 is out of range 0..1023");
    check_invalid("contentBlockStop",
                  "{\"contentBlockIndex\":1024}",
                  "Invalid contentBlockStop event in the ConverseStream "
                  "response: contentBlockIndex 1024 is out of range "
                  "0..1023");
    check_invalid("contentBlockStart",
                  "{\"contentBlockIndex\":0,\"start\":{\"toolUse\":"
                  "{\"name\":\"x\"}}}",
                  "Invalid contentBlockStart event in the ConverseStream "
                  "response: toolUse needs string \"toolUseId\" and "
                  "\"name\"");
    check_invalid("contentBlockStart", "{\"contentBlockIndex\":0}",
                  "Invalid contentBlockStart event in the ConverseStream "
                  "response: missing \"start\" object");
    check_invalid("messageStop", "{\"p\":\"abc\"}",
                  "Invalid messageStop event in the ConverseStream "
                  "response: missing string \"stopReason\"");
    check_invalid("metadata", "",
                  "Invalid metadata event in the ConverseStream "
                  "response: '[' or '{' expected near end of file");
}


/*
 * The fast paths against json_loadb(): each payload is fed as it is (the
 * fast path takes Bedrock's layout) and with a leading space (always
 * json_loadb()), after the same prelude; the results, errors, stop
 * reasons, texts and rebuilt messages must be the same.
 */

static int
feed_payload(ac_turn_t *turn, const char *event_type, const char *p,
    size_t n, int space)
{
    char             err[128];
    size_t           len, hlen;
    unsigned char    frame[4096], hdrs[256], payload[2048];
    ac_es_message_t  msg;

    assert_true(n + 1 <= sizeof(payload));

    payload[0] = ' ';
    memcpy(payload + 1, p, n);

    hlen = es_hdr_str(hdrs, ":event-type", event_type);
    hlen += es_hdr_str(hdrs + hlen, ":content-type", "application/json");
    hlen += es_hdr_str(hdrs + hlen, ":message-type", "event");

    len = es_frame(frame, hdrs, hlen, space ? payload : payload + 1,
                   space ? n + 1 : n);

    assert_int_equal(ac_es_decode(frame, len, AC_ES_DEFAULT_MAX_MESSAGE,
                                  &msg, err, sizeof(err)), AC_ES_OK);

    return ac_turn_feed(turn, &msg);
}


typedef struct {
    int          rc;
    char        *error;
    char        *message;
    char        *stop;
    texts_t      texts;
    uint64_t     fast;
} delta_outcome_t;


static void
delta_run(const char *event, const char *p, size_t n, int prelude,
    int space, delta_outcome_t *o)
{
    json_t      *msg;
    ac_turn_t   *turn;
    const char  *e;

    memset(o, 0, sizeof(delta_outcome_t));

    o->texts.stop_at = (prelude == 2) ? 2 : 0;

    turn = ac_turn_create(on_text, &o->texts);
    assert_non_null(turn);

    if (prelude == 1) {
        /* block 0 is a toolUse: a text delta for it is an error */
        assert_int_equal(feed_event(turn, "contentBlockStart",
                                    "{\"contentBlockIndex\":0,\"start\":"
                                    "{\"toolUse\":{\"toolUseId\":\"t\","
                                    "\"name\":\"calculator\"}}}"),
                         AC_TURN_OK);

    } else if (prelude == 2) {
        /* block 0 has text; the delta is the text on_text stops at */
        assert_int_equal(feed_event(turn, "contentBlockDelta",
                                    "{\"contentBlockIndex\":0,\"delta\":"
                                    "{\"text\":\"first \"}}"),
                         AC_TURN_OK);
    }

    o->rc = feed_payload(turn, event, p, n, space);

    e = ac_turn_error(turn);
    o->error = e ? strdup(e) : NULL;

    e = ac_turn_stop_reason(turn);
    o->stop = e ? strdup(e) : NULL;

    msg = ac_turn_message(turn);
    assert_non_null(msg);
    o->message = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(msg);

    o->fast = ac_turn_fast_events(turn);

    ac_turn_destroy(turn);
}


static void
test_fast_delta(void **state)
{
    int              prelude, fast, want;
    size_t           i, k, n;
    delta_outcome_t  a, b;

#define D(s)  "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"" s "\"}}"
#define DP(s) "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"" s "\"}," \
              "\"p\":\"abcXYZ019\"}"

    /* 1: the fast path must take it */
    static const struct {
        const char  *event;
        const char  *json;
        int          fast;
    } cases[] = {
#define CD "contentBlockDelta",
        { CD DP("Hello"), 1 },
        { CD D("Hello"), 1 },
        { CD DP(""), 1 },
        { CD DP(" w\\\"q\\\\ \\/ \\b\\f\\n\\r\\t end"), 1 },
        { CD DP("\\n\\n## Title"), 1 },
        { CD DP("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf"),
          1 },
        { CD DP("del \x7f"), 1 },
        { CD "{\"contentBlockIndex\":7,\"delta\":{\"text\":\"x\"},\"p\":\"\"}",
          1 },
        { CD "{\"contentBlockIndex\":1023,\"delta\":{\"text\":\"x\"}}", 1 },
        { CD "{\"contentBlockIndex\":10,\"delta\":{\"text\":\"x\"},"
          "\"p\":\"a\\\"b\xc3\xa9\"}", 1 },

        /* json_loadb() for these */
        { CD DP("\\u0041\\u00e9"), 0 },
        { CD DP("nul \\u0000 in"), 0 },
        { CD DP("pair \\ud83d\\ude00"), 0 },
        { CD DP("lone \\ud83d"), 0 },
        { CD DP("bad \\x escape"), 0 },
        { CD DP("overlong \xc0\x80"), 0 },
        { CD DP("overlong \xe0\x80\xaf"), 0 },
        { CD DP("surrogate \xed\xa0\x80"), 0 },
        { CD DP("too big \xf4\x90\x80\x80"), 0 },
        { CD DP("f5 \xf5\x80\x80\x80"), 0 },
        { CD DP("lone cont \x80"), 0 },
        { CD DP("cut \xe2\x82"), 0 },
        { CD DP("bad cont \xe2\x82\x41"), 0 },
        { CD DP("ctl \x01"), 0 },
        { CD DP("tab \t raw"), 0 },
        { CD DP("nl \n raw"), 0 },
        { CD "{\"contentBlockIndex\":01,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":00,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":1024,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":99999,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":-1,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":1.0,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":1e2,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":,\"delta\":{\"text\":\"x\"}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\","
          "\"x\":1}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"},\"p\":\"x\","
          "\"q\":1}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"},"
          "\"p\":1}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"},"
          "\"delta\":{\"text\":\"b\"}}", 0 },
        { CD "{\"delta\":{\"text\":\"a\"},\"contentBlockIndex\":0}", 0 },
        { CD "{\"contentBlockIndex\":0,\"p\":\"x\",\"delta\":{\"text\":\"a\"}}",
          0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}} ", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}}x", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\\", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"},\"p\":\"x",
          0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"a\"},"
          "\"p\":\"\x01\"}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":1}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"text\":null}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{\"toolUse\":"
          "{\"input\":\"{\"}}}", 0 },
        { CD "{\"contentBlockIndex\":0, \"delta\":{\"text\":\"a\"}}", 0 },
        { CD "{\"contentBlockIndex\":0,\"delta\":{}}", 0 },
        { CD "{\"contentBlockIndex\":0}", 0 },
        { CD "{}", 0 },
        { CD "", 0 },

        /* the other fast events */
#define MS "messageStart",
#define BS "contentBlockStop",
#define ST "messageStop",
        { MS "{\"role\":\"assistant\",\"p\":\"abc\"}", 1 },
        { MS "{\"role\":\"assistant\"}", 1 },
        { MS "{\"role\":\"\\u0061\"}", 0 },
        { MS "{\"role\":1}", 0 },
        { MS "{\"p\":\"x\",\"role\":\"assistant\"}", 0 },
        { MS "{\"role\":\"assistant\"}x", 0 },
        { MS "{\"role\":\"assistant\",\"p\":\"x\"", 0 },
        { MS "[1]", 0 },
        { BS "{\"contentBlockIndex\":0,\"p\":\"xyz\"}", 1 },
        { BS "{\"contentBlockIndex\":0}", 1 },
        { BS "{\"contentBlockIndex\":5}", 1 },
        { BS "{\"contentBlockIndex\":1023,\"p\":\"\"}", 1 },
        { BS "{\"contentBlockIndex\":1024}", 0 },
        { BS "{\"contentBlockIndex\":01}", 0 },
        { BS "{\"contentBlockIndex\":\"0\"}", 0 },
        { BS "{\"contentBlockIndex\":0,\"p\":1}", 0 },
        { BS "{\"p\":\"x\",\"contentBlockIndex\":0}", 0 },
        { ST "{\"stopReason\":\"end_turn\",\"p\":\"x\"}", 1 },
        { ST "{\"stopReason\":\"tool_use\"}", 1 },
        { ST "{\"stopReason\":\"a\\n\\\"b\\\"\"}", 1 },
        { ST "{\"stopReason\":\"caf\xc3\xa9\"}", 1 },
        { ST "{\"stopReason\":\"\"}", 1 },
        { ST "{\"stopReason\":\"\\u0041\"}", 0 },
        { ST "{\"stopReason\":\"bad \xed\xa0\x80\"}", 0 },
        { ST "{\"stopReason\":1}", 0 },
        { ST "{\"stopReason\":null}", 0 },
        { ST "{\"p\":\"x\",\"stopReason\":\"end_turn\"}", 0 },
        { ST "{\"stopReason\":\"end_turn\","
          "\"additionalModelResponseFields\":{}}", 0 },
        { ST "{\"stopReason\":\"end_turn\"} ", 0 },
#undef CD
#undef MS
#undef BS
#undef ST
    };

#undef D
#undef DP

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = strlen(cases[i].json);

        for (prelude = 0; prelude < 3; prelude++) {
            delta_run(cases[i].event, cases[i].json, n, prelude, 0, &a);
            delta_run(cases[i].event, cases[i].json, n, prelude, 1, &b);

            /*
             * the prelude's delta is fast; after the toolUse prelude a
             * text delta for block 0 fails before it counts
             */
            fast = (int) (a.fast - (prelude == 2));
            want = cases[i].fast;

            if (prelude == 1
                && strcmp(cases[i].event, "contentBlockDelta") == 0
                && strncmp(cases[i].json, "{\"contentBlockIndex\":0,", 23)
                   == 0)
            {
                want = 0;
            }

            assert_int_equal(b.fast, prelude == 2);

            if (fast != want) {
                fail_msg("case %zu (%s %s) prelude %d: fast path %s", i,
                         cases[i].event, cases[i].json, prelude,
                         fast ? "taken" : "not taken");
            }

            if (a.rc != b.rc
                || (a.error == NULL) != (b.error == NULL)
                || (a.error && strcmp(a.error, b.error) != 0)
                || (a.stop == NULL) != (b.stop == NULL)
                || (a.stop && strcmp(a.stop, b.stop) != 0)
                || strcmp(a.message, b.message) != 0
                || a.texts.n != b.texts.n)
            {
                fail_msg("case %zu prelude %d: rc %d/%d error %s/%s "
                         "message %s/%s", i, prelude, a.rc, b.rc,
                         a.error ? a.error : "-", b.error ? b.error : "-",
                         a.message, b.message);
            }

            for (k = 0; k < a.texts.n; k++) {
                assert_int_equal(a.texts.len[k], b.texts.len[k]);
                assert_memory_equal(a.texts.text[k], b.texts.text[k],
                                    a.texts.len[k]);
            }

            if (prelude == 2 && cases[i].fast
                && strcmp(cases[i].event, "contentBlockDelta") == 0)
            {
                /* on_text's nonzero return comes back unchanged */
                assert_int_equal(a.rc, 5);
            }

            texts_free(&a.texts);
            texts_free(&b.texts);
            free(a.error);
            free(b.error);
            free(a.message);
            free(b.message);
            free(a.stop);
            free(b.stop);
        }
    }
}


static void
test_block_type_mismatch(void **state)
{
    ac_turn_t  *turn;

    turn = ac_turn_create(NULL, NULL);

    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":2,\"delta\":"
                                "{\"text\":\"a\"}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":2,\"delta\":"
                                "{\"toolUse\":{\"input\":\"{}\"}}}"),
                     AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        "Invalid contentBlockDelta event in the "
                        "ConverseStream response: toolUse content for the "
                        "text block 2");
    ac_turn_destroy(turn);

    turn = ac_turn_create(NULL, NULL);

    assert_int_equal(feed_event(turn, "contentBlockDelta",
                                "{\"contentBlockIndex\":0,\"delta\":"
                                "{\"reasoningContent\":{\"text\":\"a\"}}}"),
                     AC_TURN_OK);
    assert_int_equal(feed_event(turn, "contentBlockStart",
                                "{\"contentBlockIndex\":0,\"start\":"
                                "{\"toolUse\":{\"toolUseId\":\"t\","
                                "\"name\":\"n\"}}}"),
                     AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        "Invalid contentBlockStart event in the "
                        "ConverseStream response: toolUse content for the "
                        "reasoningContent block 0");
    ac_turn_destroy(turn);
}


static void
test_exception_payloads(void **state)
{
    char             err[128];
    size_t           hlen, len;
    ac_turn_t       *turn;
    unsigned char    hdrs[256], frame[1024];
    ac_es_message_t  msg;

    /* a payload that is not the modeled JSON: its text is the message */

    hlen = es_hdr_str(hdrs, ":message-type", "exception");
    hlen += es_hdr_str(hdrs + hlen, ":exception-type", "someNewException");
    len = es_frame(frame, hdrs, hlen, "upstream\n said\tno ", 19);

    assert_int_equal(ac_es_decode(frame, len, 4096, &msg, err, sizeof(err)),
                     AC_ES_OK);

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(ac_turn_feed(turn, &msg), AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("someNewException") "upstream said no");
    ac_turn_destroy(turn);

    /* "Message" spelling, no type header, only originalStatusCode */

    hlen = es_hdr_str(hdrs, ":message-type", "exception");
    len = es_frame(frame, hdrs, hlen,
                   "{\"Message\":\"m\",\"originalStatusCode\":503}", 40);

    assert_int_equal(ac_es_decode(frame, len, 4096, &msg, err, sizeof(err)),
                     AC_ES_OK);

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(ac_turn_feed(turn, &msg), AC_TURN_ERROR);
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("UnknownException")
                        "m (original status 503)");
    assert_string_equal(ac_turn_error_type(turn), "UnknownException");
    ac_turn_destroy(turn);

    /* an unknown :message-type is skipped */

    hlen = es_hdr_str(hdrs, ":message-type", "futureKind");
    len = es_frame(frame, hdrs, hlen, "{}", 2);

    assert_int_equal(ac_es_decode(frame, len, 4096, &msg, err, sizeof(err)),
                     AC_ES_OK);

    turn = ac_turn_create(NULL, NULL);
    assert_int_equal(ac_turn_feed(turn, &msg), AC_TURN_OK);
    assert_null(ac_turn_error(turn));
    ac_turn_destroy(turn);
}


static void
test_wire_path(void **state)
{
    char         out[3 * 2048 + 32];
    size_t       i, n, len;
    json_t      *b, *c, *in;
    const char  *id, *path;

    static const char  *doc[][2] = {
        { "anthropic.claude-3-5-sonnet-20240620-v1:0",
          "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/"
          "converse-stream" },
        { "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
          "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
          "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3A"
          "inference-profile%2Fus.anthropic.claude-3-7-sonnet-20250219-v1"
          "%3A0/converse-stream" },
        { "A-Z_a.z~09 \xc3\xa9%",
          "/model/A-Z_a.z~09%20%C3%A9%25/converse-stream" },
    };

    for (i = 0; i < sizeof(doc) / sizeof(doc[0]); i++) {
        n = ac_model_wire_path(doc[i][0], strlen(doc[i][0]), out);
        assert_string_equal(out, doc[i][1]);
        assert_int_equal(n, strlen(doc[i][1]));
    }

    b = es_load_json("sigv4_bedrock.json");
    assert_non_null(b);

    n = 0;

    json_array_foreach(json_object_get(b, "cases"), i, c) {
        in = json_object_get(c, "inputs");
        id = json_string_value(json_object_get(in, "model_id"));
        path = json_string_value(json_object_get(in, "path_on_wire"));

        len = ac_model_wire_path(id, strlen(id), out);

        if (strstr(path, "/converse-stream") == NULL) {
            /* the non-streaming case: same label, other suffix */
            len -= sizeof("-stream") - 1;
            out[len] = '\0';
        }

        assert_string_equal(out, path);
        n++;
    }

    assert_int_equal(n, 6);

    json_decref(b);
}


static void
check_request(const ac_converse_conf_t *conf, json_t *messages,
    const char *expect)
{
    char    *s;
    size_t   len;

    s = ac_converse_request(conf, messages, &len);
    assert_non_null(s);
    assert_string_equal(s, expect);
    assert_int_equal(len, strlen(expect));
    free(s);
}


static void
test_request(void **state)
{
    json_t              *messages, *tools, *empty;
    ac_converse_conf_t   conf;

    messages = json_loads("[{\"role\":\"user\",\"content\":"
                          "[{\"text\":\"How much is 2+1\"}]}]", 0, NULL);
    tools = json_loads("[{\"toolSpec\":{\"name\":\"weather\","
                       "\"description\":\"Get weather\",\"inputSchema\":"
                       "{\"json\":{\"type\":\"object\",\"properties\":{},"
                       "\"required\":[]}}}}]", 0, NULL);
    empty = json_array();
    assert_non_null(messages);
    assert_non_null(tools);

    /* Strands' shape: system, empty inferenceConfig, tools */

    conf.system_prompt = "You're a helpful assistant.\n    Tell \"me\".";
    conf.max_tokens = -1;
    conf.tools = tools;

    check_request(&conf, messages,
        "{\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"text\":\"How much is 2+1\"}]}],"
        "\"system\":[{\"text\":\"You're a helpful assistant.\\n    "
        "Tell \\\"me\\\".\"}],"
        "\"inferenceConfig\":{},"
        "\"toolConfig\":{\"tools\":[{\"toolSpec\":{\"name\":\"weather\","
        "\"description\":\"Get weather\",\"inputSchema\":{\"json\":"
        "{\"type\":\"object\",\"properties\":{},\"required\":[]}}}}],"
        "\"toolChoice\":{\"auto\":{}}}}");

    /* no system, maxTokens, no or empty tools: no toolConfig */

    conf.system_prompt = NULL;
    conf.max_tokens = 512;
    conf.tools = NULL;

    check_request(&conf, messages,
        "{\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"text\":\"How much is 2+1\"}]}],"
        "\"inferenceConfig\":{\"maxTokens\":512}}");

    conf.tools = empty;
    conf.max_tokens = 0;

    check_request(&conf, messages,
        "{\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"text\":\"How much is 2+1\"}]}],"
        "\"inferenceConfig\":{\"maxTokens\":0}}");

    /* the caller's references are untouched */
    assert_int_equal(messages->refcount, 1);
    assert_int_equal(tools->refcount, 1);
    assert_int_equal(empty->refcount, 1);

    json_decref(messages);
    json_decref(tools);
    json_decref(empty);
}


/* the SDK's captured tool_turn body, rebuilt from its parts */

static void
test_request_sdk_tool_turn(void **state)
{
    char                *s, *part;
    size_t               len, plen;
    json_t              *cap, *body, *ours;
    const char          *sdk;
    ac_converse_conf_t   conf;

    cap = es_load_json("sdk_captured_requests.json");
    assert_non_null(cap);

    sdk = json_string_value(json_object_get(json_object_get(
              json_object_get(cap, "tool_turn"), "request"), "body"));
    assert_non_null(sdk);

    body = json_loads(sdk, 0, NULL);
    assert_non_null(body);

    conf.system_prompt = json_string_value(json_object_get(
                             json_array_get(json_object_get(body, "system"),
                                            0), "text"));
    conf.max_tokens = json_integer_value(json_object_get(
                          json_object_get(body, "inferenceConfig"),
                          "maxTokens"));
    conf.tools = json_object_get(json_object_get(body, "toolConfig"),
                                 "tools");
    assert_non_null(conf.system_prompt);
    assert_int_equal(conf.max_tokens, 1024);

    s = ac_converse_request(&conf, json_object_get(body, "messages"), &len);
    assert_non_null(s);

    ours = json_loads(s, 0, NULL);
    assert_non_null(ours);

    assert_true(json_equal(json_object_get(ours, "messages"),
                           json_object_get(body, "messages")));
    assert_true(json_equal(json_object_get(ours, "system"),
                           json_object_get(body, "system")));
    assert_true(json_equal(json_object_get(ours, "toolConfig"),
                           json_object_get(body, "toolConfig")));
    assert_json(json_object_get(ours, "inferenceConfig"),
                "{\"maxTokens\":1024}");

    /* byte for byte, up to where the SDK's inferenceConfig differs */

    part = strstr(sdk, ",\"inferenceConfig\":");
    assert_non_null(part);
    plen = (size_t) (part - sdk) + sizeof(",\"inferenceConfig\":") - 1;
    assert_true(len > plen);
    assert_memory_equal(s, sdk, plen);

    /* and the toolConfig bytes too */

    part = strstr(sdk, ",\"toolConfig\":");
    assert_non_null(part);
    plen = strlen(part) - strlen(",\"additionalModelRequestFields\":"
                                 "{\"top_k\":40}}");
    assert_non_null(strstr(s, ",\"toolConfig\":"));
    assert_memory_equal(strstr(s, ",\"toolConfig\":"), part, plen);
    assert_string_equal(strstr(s, ",\"toolConfig\":") + plen, "}");

    json_decref(ours);
    free(s);
    json_decref(body);
    json_decref(cap);
}


static void
test_http_errors(void **state)
{
    char         out[1024], expect[1024], small[40];
    size_t       i, n;
    json_t      *h, *c, *hdrs;
    const char  *et, *body;

    h = es_load_json("http_errors.json");
    assert_non_null(h);

    n = 0;

    json_array_foreach(json_object_get(h, "cases"), i, c) {
        hdrs = json_object_get(c, "response_headers");
        et = json_string_value(json_object_get(hdrs, "x-amzn-errortype"));
        body = json_string_value(json_object_get(c, "response_body"));

        assert_non_null(et);
        assert_non_null(body);

        snprintf(expect, sizeof(expect), ERR_PREFIX("%s") "%s",
                 json_string_value(json_object_get(c, "sdk_error_name")),
                 json_string_value(json_object_get(json_object_get(c,
                                      "sdk_error_fields"), "message")));

        assert_int_equal(ac_bedrock_http_error(
                             (int) json_integer_value(json_object_get(c,
                                                          "http_status")),
                             et, strlen(et), (const unsigned char *) body,
                             strlen(body), out, sizeof(out)),
                         strlen(expect));
        assert_string_equal(out, expect);
        n++;
    }

    assert_int_equal(n, 11);

    /* type from the body: __type after '#', or code */

    body = "{\"__type\":\"com.amazon.coral.service#ExpiredTokenException\","
           "\"Message\":\"The security token included in the request is "
           "expired\"}";
    ac_bedrock_http_error(403, NULL, 0, (const unsigned char *) body,
                          strlen(body), out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ExpiredTokenException")
                        "The security token included in the request is "
                        "expired");

    body = "{\"code\":\"ThrottlingException\",\"message\":\"slow down\"}";
    ac_bedrock_http_error(429, "", 0, (const unsigned char *) body,
                          strlen(body), out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ThrottlingException") "slow down");

    /* nothing known: HTTP <status>; a non-JSON body gives its text */

    body = "<html>\r\n<h1>502 Bad Gateway</h1>\r\n</html>\r\n";
    ac_bedrock_http_error(502, NULL, 0, (const unsigned char *) body,
                          strlen(body), out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("HTTP 502")
                        "<html> <h1>502 Bad Gateway</h1> </html>");

    ac_bedrock_http_error(500, NULL, 0, NULL, 0, out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("HTTP 500"));

    /* truncation: NUL-terminated, never half a UTF-8 sequence */

    body = "{\"message\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}";
    n = ac_bedrock_http_error(400, "ValidationException:x", 21,
                              (const unsigned char *) body, strlen(body),
                              out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ValidationException")
                        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_int_equal(n, strlen(out));

    memset(small, 'z', sizeof(small));
    n = ac_bedrock_http_error(400, "X", 1, (const unsigned char *) body,
                              strlen(body), small, 60 - 22);
    assert_int_equal(n, strlen(small));
    assert_true(n <= 37);
    assert_memory_equal(small, ERR_PREFIX("X"), n);

    /* the prefix is 65 bytes, then four 2-byte characters */

    for (i = 66; i < 80; i++) {
        memset(out, 'z', sizeof(out));
        n = ac_bedrock_http_error(400, "X", 1, (const unsigned char *) body,
                                  strlen(body), out, i);
        assert_int_equal(n, strlen(out));
        assert_true(n < i);
        assert_int_equal(n, 65 + ((i - 66) / 2) * 2 > 73
                            ? 73 : 65 + ((i - 66) / 2) * 2);
    }

    assert_int_equal(ac_bedrock_http_error(400, "X", 1, NULL, 0, out, 0),
                     0);

    json_decref(h);
}


/*
 * The metadata fast path against the json_loadb() one: each payload fed
 * as it is and with a leading space (which no fast path takes) to two
 * turns that start from the same usage; usage, has_metadata and the
 * error must agree, and the fast path must take exactly those expected.
 */

static void
test_fast_metadata(void **state)
{
    size_t       i;
    char         spaced[512];
    ac_turn_t   *a, *b;
    int          ra, rb;
    const char  *ea, *eb;

    static const struct {
        const char  *json;
        int          fast;
    } cases[] = {
        { "{\"usage\":{\"inputTokens\":420,\"outputTokens\":20,"
          "\"totalTokens\":440},\"metrics\":{\"latencyMs\":120},"
          "\"p\":\"Mh0\"}", 1 },
        { "{\"metrics\":{\"latencyMs\":7},\"usage\":{\"inputTokens\":1,"
          "\"outputTokens\":2,\"totalTokens\":3,"
          "\"cacheReadInputTokens\":4,\"cacheWriteInputTokens\":5}}", 1 },
        { "{\"usage\":{}}", 1 },
        { "{\"p\":\"abc\",\"usage\":{\"inputTokens\":0}}", 1 },
        { "{\"usage\":{\"inputTokens\":1,\"inputTokens\":9}}", 1 },
        { "{\"usage\":{\"inputTokens\":1,\"serverToolUsage\":3}}", 1 },
        { "{\"metrics\":{\"latencyMs\":1,\"other\":2}}", 1 },
        { "{\"usage\":{\"inputTokens\":999999999999999999}}", 1 },
        { "{\"usage\":{\"inputTokens\":9999999999999999999}}", 0 },
        { "{\"usage\":{\"inputTokens\":99999999999999999999}}", 0 },
        { "{\"usage\":{\"inputTokens\":01}}", 0 },
        { "{\"usage\":{\"inputTokens\":-1}}", 0 },
        { "{\"usage\":{\"inputTokens\":1.5}}", 0 },
        { "{\"usage\":{\"inputTokens\":\"1\"}}", 0 },
        { "{\"usage\":{\"inputTokens\":1},\"usage\":{\"outputTokens\":2}}",
          0 },
        { "{\"usage\":{\"inputTokens\":1},\"trace\":{}}", 0 },
        { "{\"usage\":{\"inputTokens\":1} }", 0 },
        { "{\"usage\":{\"inputTokens\":1}", 0 },
        { "{\"usage\":{\"inputTokens\":1}}x", 0 },
        { "{\"usage\":[1]}", 0 },
        { "{\"usage\":{\"a_b\":1}}", 0 },
        { "{\"usage\":{\"inputTokens\":1,}}", 0 },
        { "{\"p\":\"\\u0041\",\"usage\":{\"inputTokens\":1}}", 0 },
        { "{}", 0 },
        { "[]", 0 },
        { "", 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        a = ac_turn_create(NULL, NULL);
        b = ac_turn_create(NULL, NULL);
        assert_non_null(a);
        assert_non_null(b);

        /* a usage from an earlier event, which unknown keys leave */
        assert_int_equal(feed_event(a, "metadata",
                                    "{\"usage\":{\"outputTokens\":5}}"),
                         AC_TURN_OK);
        assert_int_equal(feed_event(b, "metadata",
                                    " {\"usage\":{\"outputTokens\":5}}"),
                         AC_TURN_OK);

        snprintf(spaced, sizeof(spaced), " %s", cases[i].json);

        ra = feed_event(a, "metadata", cases[i].json);
        rb = feed_event(b, "metadata", spaced);

        print_message("metadata %s\n", cases[i].json);

        assert_int_equal(ra, rb);
        assert_int_equal(ac_turn_has_metadata(a), ac_turn_has_metadata(b));
        assert_memory_equal(ac_turn_usage(a), ac_turn_usage(b),
                            sizeof(ac_usage_t));

        ea = ac_turn_error(a);
        eb = ac_turn_error(b);
        assert_true((ea == NULL) == (eb == NULL));

        if (ea) {
            assert_string_equal(ea, eb);
        }

        assert_int_equal(ac_turn_fast_events(a), 1 + cases[i].fast);
        assert_int_equal(ac_turn_fast_events(b), 0);

        ac_turn_destroy(a);
        ac_turn_destroy(b);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_streams_assembled),
        cmocka_unit_test(test_stream_exception),
        cmocka_unit_test(test_error_frames),
        cmocka_unit_test(test_single_frames),
        cmocka_unit_test(test_crafted_events),
        cmocka_unit_test(test_malformed_events),
        cmocka_unit_test(test_block_type_mismatch),
        cmocka_unit_test(test_fast_delta),
        cmocka_unit_test(test_exception_payloads),
        cmocka_unit_test(test_wire_path),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_fast_metadata),
        cmocka_unit_test(test_request_sdk_tool_turn),
        cmocka_unit_test(test_http_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
