/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The provider interface with OpenAI Chat Completions: the stream
 * decoder fed the fixtures of unit/vectors/openai/ split in two at
 * every byte and byte by byte, the turn it rebuilds, errors, and the
 * request built from a Converse history.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_openai.h"


#define ERR_PREFIX(type)                                                     \
    "An error occurred (" type ") when calling the ConverseStream "          \
    "operation: "


typedef struct {
    char            text[4096];
    size_t          len;
    size_t          n;
    size_t          stop_at;
} texts_t;


static int
on_text(void *data, const char *text, size_t len)
{
    texts_t  *t = data;

    assert_true(t->len + len < sizeof(t->text));
    memcpy(t->text + t->len, text, len);
    t->len += len;
    t->text[t->len] = '\0';
    t->n++;

    return (t->stop_at && t->n == t->stop_at) ? 7 : 0;
}


static char *
read_fixture(const char *name, size_t *len)
{
    char    path[1024], *p;
    long    n;
    FILE   *f;

    snprintf(path, sizeof(path), "%s/unit/vectors/openai/%s", AC_ROOT, name);

    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    p = malloc(n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, n, f), (size_t) n);
    fclose(f);
    p[n] = '\0';

    *len = n;

    return p;
}


static void
assert_json(json_t *got, const char *expect)
{
    char          *s;
    json_t        *e;
    json_error_t   err;

    e = json_loads(expect, 0, &err);
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


/* the input fed in pieces at cuts[0..ncuts): the last rc */

static int
feed_cuts(ac_turn_t *turn, ac_model_stream_t **sp, const char *p, size_t len,
    const size_t *cuts, size_t ncuts)
{
    int                 rc;
    size_t              i, from, to;
    ac_model_stream_t  *s;

    s = ac_provider_openai.stream_create(turn, 1 << 20);
    assert_non_null(s);

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        rc = ac_provider_openai.stream_feed(s, (const unsigned char *) p + from,
                                            to - from);
        if (rc != 0) {
            break;
        }

        from = to;
    }

    *sp = s;

    return rc;
}


/* the fixture in every two-piece split and byte by byte: one outcome */

typedef void (*check_pt)(ac_turn_t *turn, texts_t *t, int rc,
    ac_model_stream_t *s);

static void
every_split(const char *name, check_pt check)
{
    int                 rc;
    char               *p;
    size_t              len, cut, i, *cuts;
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    p = read_fixture(name, &len);

    for (cut = 0; cut <= len; cut++) {
        memset(&t, 0, sizeof(t));
        turn = ac_turn_create(on_text, &t);

        rc = feed_cuts(turn, &s, p, len, &cut, 1);
        check(turn, &t, rc, s);

        ac_provider_openai.stream_destroy(s);
        ac_turn_destroy(turn);
    }

    cuts = malloc(len * sizeof(size_t));
    assert_non_null(cuts);

    for (i = 0; i < len; i++) {
        cuts[i] = i + 1;
    }

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    rc = feed_cuts(turn, &s, p, len, cuts, len - 1);
    check(turn, &t, rc, s);

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
    free(cuts);
    free(p);
}


static void
check_text(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    json_t            *m;
    const ac_usage_t  *u;

    assert_int_equal(rc, 0);
    assert_string_equal(t->text, "The sky is blue.");
    assert_int_equal(t->n, 5);
    assert_true(ac_turn_stopped(turn));
    assert_string_equal(ac_turn_stop_reason(turn), "end_turn");
    assert_false(ac_provider_openai.stream_pending(s));
    assert_true(ac_turn_has_metadata(turn));

    u = ac_turn_usage(turn);
    assert_int_equal(u->input_tokens, 12);
    assert_int_equal(u->output_tokens, 5);
    assert_int_equal(u->total_tokens, 17);

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\","
                   "\"content\":[{\"text\":\"The sky is blue.\"}]}");
    json_decref(m);
}


static void
test_text_every_split(void **state)
{
    every_split("text.sse", check_text);
}


static void
check_two_tools(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    json_t            *m;
    const ac_usage_t  *u;

    assert_int_equal(rc, 0);
    assert_int_equal(t->n, 0);
    assert_string_equal(ac_turn_stop_reason(turn), "tool_use");
    assert_int_equal(ac_turn_tool_uses(turn), 2);
    assert_false(ac_provider_openai.stream_pending(s));

    u = ac_turn_usage(turn);
    assert_int_equal(u->input_tokens, 150);
    assert_int_equal(u->output_tokens, 40);
    assert_int_equal(u->cache_read_input_tokens, 64);

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\",\"content\":["
                   "{\"toolUse\":{\"toolUseId\":\"call_weatherA1\","
                   "\"name\":\"weather\",\"input\":{\"city\":\"Paris\"}}},"
                   "{\"toolUse\":{\"toolUseId\":\"call_calcB2\","
                   "\"name\":\"calculator\","
                   "\"input\":{\"expression\":\"2+2\"}}}]}");
    json_decref(m);
}


static void
test_two_tools_every_split(void **state)
{
    every_split("two-tools.sse", check_two_tools);
}


static void
check_ollama(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    json_t  *m;

    assert_int_equal(rc, 0);
    assert_string_equal(ac_turn_stop_reason(turn), "end_turn");
    assert_int_equal(ac_turn_tool_uses(turn), 2);
    assert_int_equal(ac_turn_usage(turn)->total_tokens, 110);

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\",\"content\":["
                   "{\"toolUse\":{\"toolUseId\":\"call_o1\","
                   "\"name\":\"weather\",\"input\":{\"city\":\"Oslo\"}}},"
                   "{\"toolUse\":{\"toolUseId\":\"call_o2\","
                   "\"name\":\"calculator\","
                   "\"input\":{\"expression\":\"6*7\"}}}]}");
    json_decref(m);
}


static void
test_ollama_every_split(void **state)
{
    every_split("ollama-tools.sse", check_ollama);
}


static void
check_error(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    assert_int_equal(rc, AC_STREAM_TURN_ERROR);
    assert_string_equal(t->text, "Partial");
    assert_false(ac_turn_stopped(turn));
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("throttlingException")
                        "Rate limit reached for requests");
    assert_string_equal(ac_turn_error_type(turn), "throttlingException");
}


static void
test_error_every_split(void **state)
{
    every_split("error.sse", check_error);
}


/* feeds one string whole; returns the rc */

static int
feed_str(ac_turn_t *turn, ac_model_stream_t **s, const char *p)
{
    return feed_cuts(turn, s, p, strlen(p), NULL, 0);
}


static void
test_line_endings(void **state)
{
    int                 rc;
    size_t              cut, len;
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    /* CRLF, CR alone, comments, event: and id: lines, data split over
     * two data: lines (joined by \n: JSON whitespace) */

    static const char  in[] =
        ": keep-alive\r\n\r\n"
        "event: message\r\nid: 1\r\n"
        "data: {\"choices\":[{\"index\":0,\r\n"
        "data: \"delta\":{\"content\":\"a\\u00e9\"}}]}\r\n\r\n"
        "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"},"
        "\"finish_reason\":\"length\"}]}\r\r"
        "data: [DONE]\r\n\r\n";

    len = sizeof(in) - 1;

    for (cut = 0; cut <= len; cut++) {
        memset(&t, 0, sizeof(t));
        turn = ac_turn_create(on_text, &t);

        rc = feed_cuts(turn, &s, in, len, &cut, 1);
        assert_int_equal(rc, 0);
        assert_string_equal(t.text, "a\xc3\xa9" "b");
        assert_string_equal(ac_turn_stop_reason(turn), "max_tokens");
        assert_false(ac_provider_openai.stream_pending(s));

        ac_provider_openai.stream_destroy(s);
        ac_turn_destroy(turn);
    }
}


static void
test_done_without_finish(void **state)
{
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"name\":\"weather\",\"arguments\":{\"city\":\"X\"}}}"
        "]}}]}\n\n"
        "data: [DONE]\n\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"), 0);

    /* no id: one is made; arguments as an object: dumped */
    assert_string_equal(ac_turn_stop_reason(turn), "tool_use");
    assert_int_equal(t.n, 0);

    {
        json_t *m = ac_turn_message(turn);
        assert_json(m, "{\"role\":\"assistant\",\"content\":["
                       "{\"toolUse\":{\"toolUseId\":\"call_0\","
                       "\"name\":\"weather\",\"input\":{\"city\":\"X\"}}}]}");
        json_decref(m);
    }

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
}


static void
test_repeated_arguments(void **state)
{
    json_t             *m;
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    /* vLLM: the fragments, then the whole arguments again */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"id\":\"c1\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\":\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"1}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"{\\\"a\\\":1}\"}}]},"
        "\"finish_reason\":\"tool_calls\"}]}\n\n"), 0);

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\",\"content\":["
                   "{\"toolUse\":{\"toolUseId\":\"c1\",\"name\":\"f\","
                   "\"input\":{\"a\":1}}}]}");
    json_decref(m);

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
}


static void
test_truncated(void **state)
{
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
        "data: {\"choices\":[{\"delta\""), 0);

    assert_false(ac_turn_stopped(turn));
    assert_true(ac_provider_openai.stream_pending(s));

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);

    /* whole events, no finish: stopped nowhere, nothing pending */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"), 0);
    assert_false(ac_turn_stopped(turn));
    assert_false(ac_provider_openai.stream_pending(s));

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
}


static void
test_corrupt(void **state)
{
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    static const char  *bad[] = {
        "data: {\"choices\":\n\n",
        "data: [1,2]\n\n",
        "data: nonsense\n\n",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&t, 0, sizeof(t));
        turn = ac_turn_create(on_text, &t);

        assert_int_equal(feed_str(turn, &s, bad[i]), AC_STREAM_CORRUPT);
        assert_non_null(strstr(ac_provider_openai.stream_error(s),
                               "not a JSON object"));

        ac_provider_openai.stream_destroy(s);
        ac_turn_destroy(turn);
    }

    /* a line over the limit */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);
    s = ac_provider_openai.stream_create(turn, 16);

    assert_int_equal(ac_provider_openai.stream_feed(s,
                         (const unsigned char *) "data: 0123456789abcdef", 22),
                     AC_STREAM_CORRUPT);
    assert_string_equal(ac_provider_openai.stream_error(s),
                        "a line longer than 16 bytes");

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
}


static void
test_text_handler_stops(void **state)
{
    char               *p;
    size_t              len;
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    p = read_fixture("text.sse", &len);

    memset(&t, 0, sizeof(t));
    t.stop_at = 2;
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_cuts(turn, &s, p, len, NULL, 0), 7);
    assert_string_equal(t.text, "The sky");

    ac_provider_openai.stream_destroy(s);
    ac_turn_destroy(turn);
    free(p);
}


static void
test_error_types(void **state)
{
    size_t              i;
    char                in[512];
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    static const struct {
        const char  *error;
        const char  *type;
        const char  *text;
    } cases[] = {
        { "{\"message\":\"busy\",\"type\":\"server_error\"}",
          "internalServerException", ERR_PREFIX("internalServerException")
                                     "busy" },
        { "{\"message\":\"full\",\"code\":503}",
          "serviceUnavailableException",
          ERR_PREFIX("serviceUnavailableException") "full" },
        { "{\"message\":\"no\",\"type\":\"invalid_request_error\"}",
          "validationException", ERR_PREFIX("validationException") "no" },
        { "{\"message\":\"?\",\"type\":\"weird\"}",
          "modelStreamErrorException",
          ERR_PREFIX("modelStreamErrorException") "?" },
        { "\"plain\"",
          "modelStreamErrorException",
          ERR_PREFIX("modelStreamErrorException") "\"plain\"" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(in, sizeof(in), "data: {\"error\":%s}\n\n", cases[i].error);

        memset(&t, 0, sizeof(t));
        turn = ac_turn_create(on_text, &t);

        assert_int_equal(feed_str(turn, &s, in), AC_STREAM_TURN_ERROR);
        assert_string_equal(ac_turn_error_type(turn), cases[i].type);
        assert_string_equal(ac_turn_error(turn), cases[i].text);

        ac_provider_openai.stream_destroy(s);
        ac_turn_destroy(turn);
    }
}


static void
test_http_errors(void **state)
{
    char    out[256];

    static const char  b1[] = "{\"error\":{\"message\":\"slow down\","
                              "\"type\":\"requests\",\"code\":\"rate\"}}";
    static const char  b2[] = "{\"error\":\"model \\\"x\\\" not found\"}";
    static const char  b3[] = "<html>Bad Gateway</html>";

    ac_provider_openai.http_error(429, NULL, 0, (const unsigned char *) b1,
                                  sizeof(b1) - 1, out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ThrottlingException") "slow down");

    ac_provider_openai.http_error(404, NULL, 0, (const unsigned char *) b2,
                                  sizeof(b2) - 1, out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ResourceNotFoundException")
                             "model \"x\" not found");

    ac_provider_openai.http_error(502, NULL, 0, (const unsigned char *) b3,
                                  sizeof(b3) - 1, out, sizeof(out));
    assert_non_null(strstr(out, "(HTTP 502)"));
    assert_non_null(strstr(out, "Bad Gateway"));
}


static void
test_request(void **state)
{
    char                *body, *suffix;
    size_t               len, slen;
    json_t              *messages, *tools, *got;
    ac_converse_conf_t   cc;

    tools = json_loads("[{\"toolSpec\":{\"name\":\"calculator\","
                       "\"description\":\"Evaluates\",\"inputSchema\":"
                       "{\"json\":{\"type\":\"object\",\"properties\":"
                       "{\"expression\":{\"type\":\"string\"}}}}}}]",
                       0, NULL);
    assert_non_null(tools);

    cc.system_prompt = "Be brief.";
    cc.max_tokens = 300;
    cc.tools = tools;

    suffix = ac_converse_request_suffix(&cc, &slen);
    assert_non_null(suffix);

    messages = json_loads(
        "[{\"role\":\"user\",\"content\":[{\"text\":\"2+2?\"}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"Let me see.\"},"
        "{\"toolUse\":{\"toolUseId\":\"call_1\",\"name\":\"calculator\","
        "\"input\":{\"expression\":\"2+2\"}}}]},"
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":"
        "\"call_1\",\"content\":[{\"text\":\"4\"}],\"status\":\"success\"}}]},"
        "{\"role\":\"assistant\",\"content\":[{\"text\":\"4.\"}]},"
        "{\"role\":\"user\",\"content\":[{\"text\":\"and\"},"
        "{\"text\":\"thanks\"}]}]", 0, NULL);
    assert_non_null(messages);

    body = ac_provider_openai.request(messages, suffix, slen, "llama3.2",
                                      &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);

    got = json_loads(body, 0, NULL);
    assert_json(got,
        "{\"model\":\"llama3.2\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"Be brief.\"},"
        "{\"role\":\"user\",\"content\":\"2+2?\"},"
        "{\"role\":\"assistant\",\"content\":\"Let me see.\","
        "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
        "\"function\":{\"name\":\"calculator\","
        "\"arguments\":\"{\\\"expression\\\":\\\"2+2\\\"}\"}}]},"
        "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"4\"},"
        "{\"role\":\"assistant\",\"content\":\"4.\"},"
        "{\"role\":\"user\",\"content\":\"and\\nthanks\"}],"
        "\"max_tokens\":300,"
        "\"tools\":[{\"type\":\"function\",\"function\":{"
        "\"name\":\"calculator\",\"description\":\"Evaluates\","
        "\"parameters\":{\"type\":\"object\",\"properties\":"
        "{\"expression\":{\"type\":\"string\"}}}}}],"
        "\"stream\":true,\"stream_options\":{\"include_usage\":true}}");

    json_decref(got);
    free(body);
    free(suffix);

    /* nothing configured: no system message, no max_tokens, no tools */

    cc.system_prompt = NULL;
    cc.max_tokens = -1;
    cc.tools = NULL;

    suffix = ac_converse_request_suffix(&cc, &slen);
    assert_non_null(suffix);

    body = ac_provider_openai.request(NULL, suffix, slen, "m", &len);
    assert_non_null(body);
    got = json_loads(body, 0, NULL);
    assert_json(got, "{\"model\":\"m\",\"messages\":[],\"stream\":true,"
                     "\"stream_options\":{\"include_usage\":true}}");

    json_decref(got);
    free(body);
    free(suffix);
    json_decref(messages);
    json_decref(tools);
}


static void
test_providers(void **state)
{
    assert_ptr_equal(ac_provider(AC_PROVIDER_BEDROCK), &ac_provider_bedrock);
    assert_ptr_equal(ac_provider(AC_PROVIDER_OPENAI), &ac_provider_openai);
    assert_string_equal(ac_provider(AC_PROVIDER_OPENAI)->name, "openai");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_providers),
        cmocka_unit_test(test_text_every_split),
        cmocka_unit_test(test_two_tools_every_split),
        cmocka_unit_test(test_ollama_every_split),
        cmocka_unit_test(test_error_every_split),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_done_without_finish),
        cmocka_unit_test(test_repeated_arguments),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_text_handler_stops),
        cmocka_unit_test(test_error_types),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_request),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
