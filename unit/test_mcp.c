/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The MCP client's protocol layer: requests, responses as JSON or as
 * SSE fed in every split, tools/list pages, names, tools/call text and
 * toolResult content blocks.
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


/* the toolResult blocks of a result (its JSON text), as compact JSON */

static char *
content_of(const char *result)
{
    char    *s;
    json_t  *r, *blocks;

    r = json_loads(result, 0, NULL);
    assert_non_null(r);
    assert_int_equal(ac_mcp_call_content(r, &blocks), 0);
    json_decref(r);

    if (blocks == NULL) {
        return NULL;
    }

    s = json_dumps(blocks, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(blocks);

    return s;
}


#define PNG_1x1                                                               \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA" \
    "WjR9awAAAABJRU5ErkJggg=="


static void
test_call_content(void **state)
{
    char    *s;
    json_t  *blocks;

    /* text only: none (the text of ac_mcp_call_text) */
    assert_null(content_of("{\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                           "{\"type\":\"text\",\"text\":\"b\"}]}"));
    assert_null(content_of("{\"content\":[]}"));

    /* structuredContent: a json block, last; text stays text */
    s = content_of("{\"content\":[{\"type\":\"text\",\"text\":\"5\"}],"
                   "\"structuredContent\":{\"sum\":6}}");
    assert_string_equal(s, "[{\"text\":\"5\"},{\"json\":{\"sum\":6}}]");
    free(s);

    /* the value of its only member: the Python SDK's {"result": V} */
    s = content_of("{\"content\":[{\"type\":\"text\",\"text\":\"5\"},"
                   "{\"type\":\"text\",\"text\":\"Hi\"}],"
                   "\"structuredContent\":{\"sum\":5}}");
    assert_string_equal(s, "[{\"text\":\"Hi\"},{\"json\":{\"sum\":5}}]");
    free(s);

    s = content_of("{\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],"
                   "\"structuredContent\":{\"result\":\"Hi\"}}");
    assert_string_equal(s, "[{\"json\":{\"result\":\"Hi\"}}]");
    free(s);

    s = content_of("{\"content\":[{\"type\":\"text\",\"text\":\"[1, 2]\"}],"
                   "\"structuredContent\":{\"result\":[1,2]}}");
    assert_string_equal(s, "[{\"json\":{\"result\":[1,2]}}]");
    free(s);

    /* its serialization in a text block (as the spec asks) is dropped */
    s = content_of("{\"content\":[{\"type\":\"text\",\"text\":"
                   "\"{\\\"sum\\\": 5, \\\"of\\\": [2, 3]}\"},"
                   "{\"type\":\"text\",\"text\":\"two numbers\"}],"
                   "\"structuredContent\":{\"of\":[2,3],\"sum\":5}}");
    assert_string_equal(s, "[{\"text\":\"two numbers\"},"
                           "{\"json\":{\"of\":[2,3],\"sum\":5}}]");
    free(s);

    /* no content at all */
    s = content_of("{\"structuredContent\":{\"a\":{\"b\":null}}}");
    assert_string_equal(s, "[{\"json\":{\"a\":{\"b\":null}}}]");
    free(s);

    /* structuredContent that is no object: the text, as before */
    assert_null(content_of("{\"content\":[],\"structuredContent\":[1]}"));

    /* images: png/jpeg/gif/webp checked as Bedrock would, else a note */
    s = content_of("{\"content\":[{\"type\":\"image\",\"mimeType\":"
                   "\"image/png\",\"data\":\"" PNG_1x1 "\"}]}");
    assert_string_equal(s, "[{\"image\":{\"format\":\"png\",\"source\":"
                           "{\"bytes\":\"" PNG_1x1 "\"}}}]");
    free(s);

    s = content_of("{\"content\":[{\"type\":\"image\",\"mimeType\":"
                   "\"image/jpeg\",\"data\":\"" PNG_1x1 "\"},"
                   "{\"type\":\"image\",\"mimeType\":\"image/bmp\","
                   "\"data\":\"Qk0=\"},"
                   "{\"type\":\"image\",\"mimeType\":\"image/gif\"}]}");
    assert_string_equal(s, "[{\"text\":\"[an image (jpeg), left out: the "
                           "bytes are not a jpeg image]\"},"
                           "{\"text\":\"[an image of type image/bmp, left "
                           "out: Bedrock takes png, jpeg, gif and webp]\"},"
                           "{\"text\":\"[an image (gif), left out: no "
                           "data]\"}]");
    free(s);

    /* audio: a note; a resource link: its JSON */
    s = content_of("{\"content\":[{\"type\":\"audio\",\"mimeType\":"
                   "\"audio/wav\",\"data\":\"AAAA\"},"
                   "{\"type\":\"resource_link\",\"uri\":\"file:///a\","
                   "\"name\":\"a\"},{\"type\":\"image\",\"mimeType\":"
                   "\"image/png\",\"data\":\"" PNG_1x1 "\"}]}");
    assert_string_equal(s, "[{\"text\":\"[audio of type audio/wav, left "
                           "out: Bedrock takes no audio in a tool result]\"},"
                           "{\"text\":\"{\\\"type\\\":\\\"resource_link\\\","
                           "\\\"uri\\\":\\\"file:///a\\\",\\\"name\\\":"
                           "\\\"a\\\"}\"},"
                           "{\"image\":{\"format\":\"png\",\"source\":"
                           "{\"bytes\":\"" PNG_1x1 "\"}}}]");
    free(s);

    /* embedded resources: JSON text as json, other text as text */
    s = content_of("{\"content\":[{\"type\":\"resource\",\"resource\":"
                   "{\"uri\":\"r:1\",\"mimeType\":\"application/json; "
                   "charset=utf-8\",\"text\":\"{\\\"k\\\":[1]}\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:2\","
                   "\"mimeType\":\"application/ld+json\",\"text\":"
                   "\"[1]\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:3\","
                   "\"mimeType\":\"application/json\",\"text\":\"{no\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:4\","
                   "\"text\":\"plain\"}}]}");
    assert_string_equal(s, "[{\"json\":{\"k\":[1]}},{\"text\":\"[1]\"},"
                           "{\"text\":\"{no\"},{\"text\":\"plain\"}]");
    free(s);

    /* blobs: JSON and text decoded, images, binary a note */
    s = content_of("{\"content\":[{\"type\":\"resource\",\"resource\":"
                   "{\"uri\":\"r:1\",\"mimeType\":\"application/json\","
                   "\"blob\":\"eyJhIjoxfQ==\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:2\","
                   "\"mimeType\":\"text/csv\",\"blob\":\"YSxi\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:3\","
                   "\"mimeType\":\"image/png\",\"blob\":\"" PNG_1x1 "\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:4\","
                   "\"mimeType\":\"application/pdf\",\"blob\":\"JVBE\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:5\","
                   "\"mimeType\":\"text/plain\",\"blob\":\"/w==\"}},"
                   "{\"type\":\"resource\",\"resource\":{\"uri\":\"r:6\","
                   "\"mimeType\":\"text/plain\",\"blob\":\"!\"}}]}");
    assert_string_equal(s, "[{\"json\":{\"a\":1}},{\"text\":\"a,b\"},"
                           "{\"image\":{\"format\":\"png\",\"source\":"
                           "{\"bytes\":\"" PNG_1x1 "\"}}},"
                           "{\"text\":\"[the resource r:4 of type "
                           "application/pdf, left out: binary]\"},"
                           "{\"text\":\"[a resource of type text/plain, left "
                           "out: not UTF-8 text]\"},"
                           "{\"text\":\"[the resource r:6, left out: its "
                           "blob is not base64]\"}]");
    free(s);

    /* not a result */
    blocks = NULL;
    assert_int_equal(ac_mcp_call_content(json_null(), &blocks), -1);
    assert_null(blocks);
}


static void
test_oauth(void **state)
{
    int    rc;
    char   out[64], err[256], *token;
    long   exp;

    /* form encoding */
    assert_int_equal(ac_mcp_form_encode("gw/invoke a+b", 13, out), 19);
    out[19] = '\0';
    assert_string_equal(out, "gw%2Finvoke%20a%2Bb");
    assert_int_equal(ac_mcp_form_encode("Az09-._~", 8, NULL), 8);

#define TOKEN(status, body)                                                   \
    ac_mcp_token_response(status, body, strlen(body), &token, &exp, err,     \
                          sizeof(err))

    rc = TOKEN(200, "{\"access_token\":\"eyJ.a-b_c~d+e/f=\","
                    "\"expires_in\":3600,\"token_type\":\"Bearer\"}");
    assert_int_equal(rc, 0);
    assert_string_equal(token, "eyJ.a-b_c~d+e/f=");
    assert_int_equal(exp, 3600);
    free(token);

    /* no expires_in; token_type in another case */
    rc = TOKEN(200, "{\"access_token\":\"t\",\"token_type\":\"bearer\"}");
    assert_int_equal(rc, 0);
    assert_int_equal(exp, -1);
    free(token);

    /* errors: the IdP's code, never the token */
    rc = TOKEN(401, "{\"error\":\"invalid_client\"}");
    assert_int_equal(rc, -1);
    assert_null(token);
    assert_string_equal(err, "the token endpoint answered HTTP 401 "
                             "(invalid_client)");

    rc = TOKEN(400, "{\"error\":\"bad\\r\\nline\"}");
    assert_string_equal(err, "the token endpoint answered HTTP 400");

    rc = TOKEN(502, "<html>");
    assert_string_equal(err, "the token endpoint answered HTTP 502");

    rc = TOKEN(200, "[1]");
    assert_int_equal(rc, -1);

    /* a token a header cannot carry (CR LF, a space), or none */
    rc = TOKEN(200, "{\"access_token\":\"a\\r\\nX-Evil: 1\"}");
    assert_int_equal(rc, -1);
    assert_null(strstr(err, "Evil"));
    rc = TOKEN(200, "{\"access_token\":\"a b\"}");
    assert_int_equal(rc, -1);
    rc = TOKEN(200, "{\"access_token\":\"\"}");
    assert_int_equal(rc, -1);
    rc = TOKEN(200, "{\"expires_in\":5}");
    assert_int_equal(rc, -1);

    rc = TOKEN(200, "{\"access_token\":\"t\",\"token_type\":\"mac\"}");
    assert_int_equal(rc, -1);
    assert_string_equal(err, "the token endpoint's token_type is not "
                             "Bearer");

#undef TOKEN
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
        cmocka_unit_test(test_call_content),
        cmocka_unit_test(test_oauth),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
