/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The provider interface with the Anthropic Messages API: the stream
 * decoder fed the fixtures of unit/vectors/anthropic/ split in two at
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

#include "ngx_http_agentcore_anthropic.h"


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

    snprintf(path, sizeof(path), "%s/unit/vectors/anthropic/%s", AC_ROOT, name);

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

    s = ac_provider_anthropic.stream_create(turn, 1 << 20);
    assert_non_null(s);

    rc = 0;
    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;

        rc = ac_provider_anthropic.stream_feed(s,
                                               (const unsigned char *) p
                                               + from, to - from);
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

        ac_provider_anthropic.stream_destroy(s);
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

    ac_provider_anthropic.stream_destroy(s);
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
    assert_false(ac_provider_anthropic.stream_pending(s));

    /* message_start's input, message_delta's cumulative output: the last */
    u = ac_turn_usage(turn);
    assert_int_equal(u->input_tokens, 25);
    assert_int_equal(u->output_tokens, 7);
    assert_int_equal(u->total_tokens, 32);
    assert_int_equal(u->cache_read_input_tokens, 10);
    assert_int_equal(u->cache_write_input_tokens, 5);

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
    json_t  *m;

    assert_int_equal(rc, 0);
    assert_string_equal(t->text, "Checking both.");
    assert_string_equal(ac_turn_stop_reason(turn), "tool_use");
    assert_int_equal(ac_turn_tool_uses(turn), 2);
    assert_int_equal(ac_turn_usage(turn)->output_tokens, 65);

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\",\"content\":["
                   "{\"text\":\"Checking both.\"},"
                   "{\"toolUse\":{\"toolUseId\":\"toolu_weatherA1\","
                   "\"name\":\"weather\",\"input\":{\"city\":\"Paris\"}}},"
                   "{\"toolUse\":{\"toolUseId\":\"toolu_calcB2\","
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
check_error(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    assert_int_equal(rc, AC_STREAM_TURN_ERROR);
    assert_string_equal(t->text, "Partial");
    assert_false(ac_turn_stopped(turn));
    assert_string_equal(ac_turn_error(turn),
                        ERR_PREFIX("serviceUnavailableException")
                        "Overloaded");
}


static void
test_error_every_split(void **state)
{
    every_split("error.sse", check_error);
}


static void
check_thinking(ac_turn_t *turn, texts_t *t, int rc, ac_model_stream_t *s)
{
    json_t  *m;

    assert_int_equal(rc, 0);
    assert_string_equal(t->text, "4");
    assert_string_equal(ac_turn_stop_reason(turn), "max_tokens");

    m = ac_turn_message(turn);
    assert_json(m, "{\"role\":\"assistant\",\"content\":["
                   "{\"reasoningContent\":{\"reasoningText\":{"
                   "\"text\":\"Two and two is four.\","
                   "\"signature\":\"c2lnbmF0dXJl\"}}},"
                   "{\"text\":\"4\"}]}");
    json_decref(m);
}


static void
test_thinking_every_split(void **state)
{
    every_split("thinking.sse", check_thinking);
}


static int
feed_str(ac_turn_t *turn, ac_model_stream_t **s, const char *p)
{
    return feed_cuts(turn, s, p, strlen(p), NULL, 0);
}


static void
test_stream_edges(void **state)
{
    texts_t             t;
    ac_turn_t          *turn;
    ac_model_stream_t  *s;

    /* no message_stop: not stopped; unknown events and types skipped */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "event: future_event\ndata: {\"type\":\"future_event\"}\n\n"
        "data: {\"no\":\"type\"}\n\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"citations_delta\"}}\n\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
        "data: {\"type\":\"message_delta\",\"delta\":"
        "{\"stop_reason\":\"end_turn\"}}\n\n"), 0);

    assert_string_equal(t.text, "Hi");
    assert_false(ac_turn_stopped(turn));
    assert_false(ac_provider_anthropic.stream_pending(s));

    ac_provider_anthropic.stream_destroy(s);
    ac_turn_destroy(turn);

    /* message_stop without a message_delta: end_turn, no usage */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s,
        "data: {\"type\":\"message_stop\"}\r\n\r\n"), 0);
    assert_string_equal(ac_turn_stop_reason(turn), "end_turn");
    assert_false(ac_turn_has_metadata(turn));

    ac_provider_anthropic.stream_destroy(s);
    ac_turn_destroy(turn);

    /* corrupt: not JSON */

    memset(&t, 0, sizeof(t));
    turn = ac_turn_create(on_text, &t);

    assert_int_equal(feed_str(turn, &s, "data: {oops\n\n"),
                     AC_STREAM_CORRUPT);
    assert_non_null(strstr(ac_provider_anthropic.stream_error(s),
                           "not a JSON object"));

    ac_provider_anthropic.stream_destroy(s);
    ac_turn_destroy(turn);
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
        const char  *type;
        const char  *name;
    } cases[] = {
        { "rate_limit_error", "throttlingException" },
        { "overloaded_error", "serviceUnavailableException" },
        { "api_error", "internalServerException" },
        { "invalid_request_error", "validationException" },
        { "timeout_error", "modelTimeoutException" },
        { "billing_error", "modelStreamErrorException" },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(in, sizeof(in), "event: error\ndata: {\"type\":\"error\","
                 "\"error\":{\"type\":\"%s\",\"message\":\"m\"}}\n\n",
                 cases[i].type);

        memset(&t, 0, sizeof(t));
        turn = ac_turn_create(on_text, &t);

        assert_int_equal(feed_str(turn, &s, in), AC_STREAM_TURN_ERROR);
        assert_string_equal(ac_turn_error_type(turn), cases[i].name);

        ac_provider_anthropic.stream_destroy(s);
        ac_turn_destroy(turn);
    }
}


static void
test_http_errors(void **state)
{
    char    out[256];

    static const char  b1[] = "{\"type\":\"error\",\"error\":{\"type\":"
                              "\"overloaded_error\",\"message\":"
                              "\"Overloaded\"}}";
    static const char  b2[] = "{\"type\":\"error\",\"error\":{\"type\":"
                              "\"authentication_error\",\"message\":"
                              "\"invalid x-api-key\"}}";

    ac_provider_anthropic.http_error(529, NULL, 0,
                                     (const unsigned char *) b1,
                                     sizeof(b1) - 1, out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("ServiceUnavailableException")
                             "Overloaded");

    ac_provider_anthropic.http_error(401, NULL, 0,
                                     (const unsigned char *) b2,
                                     sizeof(b2) - 1, out, sizeof(out));
    assert_string_equal(out, ERR_PREFIX("AccessDeniedException")
                             "invalid x-api-key");
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
                       "{\"json\":{\"type\":\"object\"}}}}]", 0, NULL);
    assert_non_null(tools);

    cc.system_prompt = "Be brief.";
    cc.max_tokens = -1;
    cc.tools = tools;

    suffix = ac_converse_request_suffix(&cc, &slen);
    assert_non_null(suffix);

    messages = json_loads(
        "[{\"role\":\"user\",\"content\":[{\"text\":\"2+2?\"},"
        "{\"image\":{\"format\":\"png\",\"source\":{\"bytes\":\"AA==\"}}}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"t\","
        "\"signature\":\"sig\"}}},"
        "{\"reasoningContent\":{\"reasoningText\":{\"text\":\"unsigned\"}}},"
        "{\"text\":\"Let me see.\"},"
        "{\"toolUse\":{\"toolUseId\":\"toolu_1\",\"name\":\"calculator\","
        "\"input\":{\"expression\":\"2+2\"}}}]},"
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":"
        "\"toolu_1\",\"content\":[{\"text\":\"4\"},{\"json\":{\"v\":4}}],"
        "\"status\":\"error\"}}]}]", 0, NULL);
    assert_non_null(messages);

    body = ac_provider_anthropic.request(messages, suffix, slen,
                                         "claude-sonnet-4-5", &len);
    assert_non_null(body);
    assert_int_equal(strlen(body), len);

    got = json_loads(body, 0, NULL);
    assert_json(got,
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":4096,"
        "\"system\":\"Be brief.\",\"messages\":["
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"2+2?\"}]},"
        "{\"role\":\"assistant\",\"content\":["
        "{\"type\":\"thinking\",\"thinking\":\"t\",\"signature\":\"sig\"},"
        "{\"type\":\"text\",\"text\":\"Let me see.\"},"
        "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"calculator\","
        "\"input\":{\"expression\":\"2+2\"}}]},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
        "\"tool_use_id\":\"toolu_1\",\"content\":["
        "{\"type\":\"text\",\"text\":\"4\"},"
        "{\"type\":\"text\",\"text\":\"{\\\"v\\\":4}\"}],"
        "\"is_error\":true}]}],"
        "\"tools\":[{\"name\":\"calculator\",\"description\":\"Evaluates\","
        "\"input_schema\":{\"type\":\"object\"}}],"
        "\"stream\":true}");

    json_decref(got);
    free(body);
    free(suffix);

    /* agentcore_max_tokens; no system prompt, no tools */

    cc.system_prompt = NULL;
    cc.max_tokens = 300;
    cc.tools = NULL;

    suffix = ac_converse_request_suffix(&cc, &slen);
    body = ac_provider_anthropic.request(NULL, suffix, slen, "m", &len);
    got = json_loads(body, 0, NULL);
    assert_json(got, "{\"model\":\"m\",\"max_tokens\":300,\"messages\":[],"
                     "\"stream\":true}");

    json_decref(got);
    free(body);
    free(suffix);
    json_decref(messages);
    json_decref(tools);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_text_every_split),
        cmocka_unit_test(test_two_tools_every_split),
        cmocka_unit_test(test_error_every_split),
        cmocka_unit_test(test_thinking_every_split),
        cmocka_unit_test(test_stream_edges),
        cmocka_unit_test(test_error_types),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_request),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
