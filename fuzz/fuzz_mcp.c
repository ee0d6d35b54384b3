
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the MCP response parser on arbitrary bytes, as JSON
 * and as SSE, and the SSE decoder fed in two pieces split where the
 * first byte says:
 *  - the split stream finds the same response as the whole one;
 *  - a found result maps to tool-result text or to NULL, never crashes;
 *  - its toolResult blocks are each one of text (a string), json (an
 *    object) or image;
 *  - a tools/list page never yields an invalid name;
 *  - an OAuth token response gives a token a header can carry, or an
 *    error without the token.
 */


#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_mcp_proto.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, is_error;
    long           exp;
    char           err[256], *s, *cursor;
    size_t         split, len, i;
    json_t        *result, *tools, *t, *name, *blocks, *v;
    ac_mcp_sse_t   a, b;

    if (size == 0) {
        return 0;
    }

    split = data[0] % size;
    data++;
    size--;

    if (split > size) {
        split = size;
    }

    ac_mcp_sse_init(&a, 1, size + 1);
    ac_mcp_sse_init(&b, 1, size + 1);

    check(ac_mcp_sse_feed(&a, (const char *) data, size) == 0);
    check(ac_mcp_sse_feed(&b, (const char *) data, split) == 0);
    check(ac_mcp_sse_feed(&b, (const char *) data + split, size - split)
          == 0);
    check((a.response == NULL) == (b.response == NULL));
    check(a.response == NULL || json_equal(a.response, b.response));

    ac_mcp_sse_free(&a);
    ac_mcp_sse_free(&b);

    if (ac_mcp_token_response(split < 128 ? 200 : 400, (const char *) data,
                              size, &s, &exp, err, sizeof(err))
        == 0)
    {
        check(s[0] != '\0');

        for (len = 0; s[len]; len++) {
            check(s[len] > ' ' && s[len] <= '~');
        }

        free(s);

    } else {
        check(s == NULL && err[0]);
    }

    for (i = 0; i < 2; i++) {
        rc = ac_mcp_response((const char *) data, size, (int) i, 1, &result,
                             NULL, err, sizeof(err));

        check(rc == AC_MCP_OK || rc == AC_MCP_RPC_ERROR || rc == AC_MCP_BAD);
        check(rc == AC_MCP_OK || (result == NULL && err[0]));

        if (rc != AC_MCP_OK) {
            continue;
        }

        s = ac_mcp_call_text(result, &is_error, &len);
        if (s) {
            check(strlen(s) <= len);
            free(s);
        }

        if (ac_mcp_call_content(result, &blocks) == 0 && blocks) {
            check(json_array_size(blocks) > 0);

            json_array_foreach(blocks, len, t) {
                check(json_object_size(t) == 1);

                if ((v = json_object_get(t, "text"))) {
                    check(json_is_string(v));

                } else if ((v = json_object_get(t, "json"))) {
                    check(json_is_object(v));

                } else {
                    check(json_is_object(json_object_get(t, "image")));
                }
            }

            json_decref(blocks);
        }

        tools = json_array();
        cursor = NULL;

        if (ac_mcp_tools_page(result, tools, &cursor, err, sizeof(err))
            >= 0)
        {
            json_array_foreach(tools, len, t) {
                name = json_object_get(t, "name");
                check(ac_mcp_valid_name(json_string_value(name),
                                        json_string_length(name)));
            }
        }

        free(cursor);
        json_decref(tools);
        json_decref(result);
    }

    return 0;
}
