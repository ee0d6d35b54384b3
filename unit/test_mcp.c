/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The MCP client's protocol layer: requests, responses as JSON or as
 * SSE fed in every split, tools/list pages, names, tools/call text.
 */


#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_mcp_proto.h"


static void
test_request(void **state)
{
    char    *s;
    size_t   len;
    json_t  *params;

    params = json_pack("{s:s}", "cursor", "c1");
    s = ac_mcp_request(7, "tools/list", params, &len);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\","
                           "\"id\":7,\"params\":{\"cursor\":\"c1\"}}");
    assert_int_equal(len, strlen(s));
    free(s);
    json_decref(params);

    s = ac_mcp_request(-1, "notifications/initialized", NULL, NULL);
    assert_string_equal(s, "{\"jsonrpc\":\"2.0\","
                           "\"method\":\"notifications/initialized\"}");
    free(s);
}


static void
test_json_response(void **state)
{
    char     err[256];
    json_t  *r;
    const char *ok = "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"a\":1}}";
    const char *e = "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":"
                    "{\"code\":-32602,\"message\":\"Unknown tool\"}}";
    const char *batch = "[{\"jsonrpc\":\"2.0\",\"method\":\"x\"},"
                        "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}]";

    assert_int_equal(ac_mcp_response(ok, strlen(ok), 0, 3, &r, NULL, err,
                                     sizeof(err)), AC_MCP_OK);
    assert_int_equal(json_integer_value(json_object_get(r, "a")), 1);
    json_decref(r);

    assert_int_equal(ac_mcp_response(e, strlen(e), 0, 3, &r, NULL, err,
                                     sizeof(err)), AC_MCP_RPC_ERROR);
    assert_null(r);
    assert_string_equal(err, "MCP error -32602: Unknown tool");

    assert_int_equal(ac_mcp_response(ok, strlen(ok), 0, 4, &r, NULL, err,
                                     sizeof(err)), AC_MCP_BAD);
    assert_int_equal(ac_mcp_response("nope", 4, 0, 4, &r, NULL, err,
                                     sizeof(err)), AC_MCP_BAD);
    assert_non_null(strstr(err, "not JSON"));

    assert_int_equal(ac_mcp_response(batch, strlen(batch), 0, 3, &r, NULL,
                                     err, sizeof(err)), AC_MCP_OK);
    json_decref(r);
}


/* the stream: a notification, another id, a comment, multi-line data */

static const char *stream =
    "\xef\xbb\xbf: hello\r\n"
    "event: message\r\n"
    "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\","
    "\"params\":{}}\r\n\r\n"
    "id: 1\n"
    "data: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"wrong\":true}}\n\n"
    "data: {\"jsonrpc\":\"2.0\",\r"
    "data:\"id\":5,\r"
    "data: \"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\r"
    "\r"
    "data: {\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{\"second\":true}}\n\n";


static void
check_found(ac_mcp_sse_t *d)
{
    json_t  *c;

    assert_non_null(d->response);
    c = json_object_get(json_object_get(d->response, "result"), "content");
    assert_string_equal(json_string_value(
        json_object_get(json_array_get(c, 0), "text")), "hi");
}


static void
test_sse_splits(void **state)
{
    size_t         len, i, j;
    ac_mcp_sse_t   d;

    len = strlen(stream);

    /* every split in two, then byte by byte */

    for (i = 0; i <= len; i++) {
        ac_mcp_sse_init(&d, 5, 4096);
        assert_int_equal(ac_mcp_sse_feed(&d, stream, i), 0);
        assert_int_equal(ac_mcp_sse_feed(&d, stream + i, len - i), 0);
        check_found(&d);
        ac_mcp_sse_free(&d);
    }

    ac_mcp_sse_init(&d, 5, 4096);

    for (j = 0; j < len; j++) {
        assert_int_equal(ac_mcp_sse_feed(&d, stream + j, 1), 0);
    }

    check_found(&d);
    ac_mcp_sse_free(&d);
}


static void
test_sse_limits(void **state)
{
    char           err[256];
    json_t        *r;
    ac_mcp_sse_t   d;
    const char    *s = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";

    /* a line past max */
    ac_mcp_sse_init(&d, 1, 16);
    assert_int_equal(ac_mcp_sse_feed(&d, s, strlen(s)), -1);
    assert_int_equal(ac_mcp_sse_feed(&d, "\n\n", 2), -1);
    assert_null(d.response);
    ac_mcp_sse_free(&d);

    /* the last event without its blank line still counts at the end */
    assert_int_equal(ac_mcp_response(s, strlen(s), 1, 1, &r, NULL, err,
                                     sizeof(err)), AC_MCP_OK);
    json_decref(r);

    assert_int_equal(ac_mcp_response(": only a comment\n\n", 18, 1, 1, &r,
                                     NULL, err, sizeof(err)), AC_MCP_BAD);
    assert_non_null(strstr(err, "no response"));
}


static void
test_list_changed(void **state)
{
    int          changed;
    char         err[256];
    json_t      *r;
    const char  *note = "{\"jsonrpc\":\"2.0\","
                        "\"method\":\"notifications/tools/list_changed\"}";
    const char  *resp = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
    char         sse[512], batch[512];

    /* before the response, after it, or none */

    snprintf(sse, sizeof(sse), "data: %s\n\ndata: %s\n\n", note, resp);
    assert_int_equal(ac_mcp_response(sse, strlen(sse), 1, 1, &r, &changed,
                                     err, sizeof(err)), AC_MCP_OK);
    assert_int_equal(changed, 1);
    json_decref(r);

    snprintf(sse, sizeof(sse), "data: %s\n\ndata: %s\n\n", resp, note);
    assert_int_equal(ac_mcp_response(sse, strlen(sse), 1, 1, &r, &changed,
                                     err, sizeof(err)), AC_MCP_OK);
    assert_int_equal(changed, 1);
    json_decref(r);

    assert_int_equal(ac_mcp_response(resp, strlen(resp), 0, 1, &r, &changed,
                                     err, sizeof(err)), AC_MCP_OK);
    assert_int_equal(changed, 0);
    json_decref(r);

    snprintf(batch, sizeof(batch), "[%s,%s]", note, resp);
    assert_int_equal(ac_mcp_response(batch, strlen(batch), 0, 1, &r,
                                     &changed, err, sizeof(err)), AC_MCP_OK);
    assert_int_equal(changed, 1);
    json_decref(r);
}


static void
test_tools_page(void **state)
{
    int      n;
    char    *cursor, warn[256], long_name[80];
    json_t  *result, *tools;

    memset(long_name, 'a', 65);
    long_name[65] = '\0';

    result = json_pack("{s:[{s:s, s:s, s:{s:s}}, {s:s, s:{s:s}},"
                       " {s:s, s:{}}, {s:s, s:{s:s}}, {s:s}], s:s}",
                       "tools",
                       "name", "echo", "description", "Echo",
                       "inputSchema", "type", "object",
                       "name", "no.dots", "inputSchema", "type", "object",
                       "name", "nodesc", "inputSchema",
                       "name", long_name, "inputSchema", "type", "object",
                       "name", "noschema",
                       "nextCursor", "page2");
    tools = json_array();

    n = ac_mcp_tools_page(result, tools, &cursor, warn, sizeof(warn));
    assert_int_equal(n, 3);
    assert_non_null(strstr(warn, "no.dots"));
    assert_int_equal(json_array_size(tools), 2);
    assert_string_equal(json_string_value(json_object_get(
        json_array_get(tools, 1), "description")), "nodesc");
    assert_string_equal(cursor, "page2");
    free(cursor);
    json_decref(result);

    result = json_pack("{s:[]}", "tools");
    assert_int_equal(ac_mcp_tools_page(result, tools, &cursor, warn,
                                       sizeof(warn)), 0);
    assert_null(cursor);
    json_decref(result);

    result = json_pack("{s:s}", "tools", "x");
    assert_int_equal(ac_mcp_tools_page(result, tools, &cursor, warn,
                                       sizeof(warn)), -1);
    json_decref(result);
    json_decref(tools);
}


static int
taken(void *data, const char *name)
{
    const char **t;

    for (t = data; *t; t++) {
        if (strcmp(*t, name) == 0) {
            return 1;
        }
    }

    return 0;
}


static void
test_names(void **state)
{
    char         out[AC_MCP_MAX_NAME + 1], name[70];
    const char  *names[] = { "echo", "b_echo", NULL };

    assert_int_equal(ac_mcp_tool_name("a_", 0, "add", taken, names, out), 0);
    assert_string_equal(out, "add");
    assert_int_equal(ac_mcp_tool_name("a_", 0, "echo", taken, names, out), 0);
    assert_string_equal(out, "a_echo");
    assert_int_equal(ac_mcp_tool_name("a_", 1, "add", taken, names, out), 0);
    assert_string_equal(out, "a_add");
    assert_int_equal(ac_mcp_tool_name("b_", 0, "echo", taken, names, out),
                     -1);

    /* gateway names: target___tool */
    assert_int_equal(ac_mcp_tool_name("g_", 0, "orders___get", taken, names,
                                      out), 0);
    assert_string_equal(out, "orders___get");

    memset(name, 'x', 63);
    name[63] = '\0';
    assert_int_equal(ac_mcp_tool_name("a_", 1, name, NULL, NULL, out), -1);
    assert_int_equal(ac_mcp_tool_name("a_", 0, name, NULL, NULL, out), 0);

    assert_true(ac_mcp_valid_name("a-b_C9", 6));
    assert_false(ac_mcp_valid_name("a b", 3));
    assert_false(ac_mcp_valid_name("", 0));
}


static void
test_call_text(void **state)
{
    int      err;
    char    *s;
    size_t   len;
    json_t  *r;

    r = json_pack("{s:[{s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s}]}",
                  "content", "type", "text", "text", "one",
                  "type", "image", "data", "AAA", "mimeType", "image/png",
                  "type", "text", "text", "two");
    s = ac_mcp_call_text(r, &err, &len);
    assert_string_equal(s, "one\n{\"type\":\"image\",\"data\":\"AAA\","
                           "\"mimeType\":\"image/png\"}\ntwo");
    assert_int_equal(len, strlen(s));
    assert_int_equal(err, 0);
    free(s);
    json_decref(r);

    r = json_pack("{s:[{s:s, s:s}], s:b}", "content", "type", "text",
                  "text", "boom", "isError", 1);
    s = ac_mcp_call_text(r, &err, &len);
    assert_string_equal(s, "boom");
    assert_int_equal(err, 1);
    free(s);
    json_decref(r);

    r = json_pack("{s:[], s:{s:i}}", "content", "structuredContent",
                  "sum", 5);
    s = ac_mcp_call_text(r, &err, &len);
    assert_string_equal(s, "{\"sum\":5}");
    free(s);
    json_decref(r);

    r = json_pack("{}");
    s = ac_mcp_call_text(r, &err, &len);
    assert_string_equal(s, "");
    free(s);
    json_decref(r);

    r = json_string("x");
    assert_null(ac_mcp_call_text(r, &err, &len));
    json_decref(r);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_json_response),
        cmocka_unit_test(test_sse_splits),
        cmocka_unit_test(test_sse_limits),
        cmocka_unit_test(test_list_changed),
        cmocka_unit_test(test_tools_page),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_call_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
