
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The MCP client's protocol layer (ngx_http_agentcore_mcp_proto.h).
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ngx_http_agentcore_mcp_proto.h"
#include "ngx_http_agentcore_content.h"


static int ac_mcp_append(char **buf, size_t *len, size_t *cap, size_t max,
    const char *p, size_t n);
static void ac_mcp_sse_line(ac_mcp_sse_t *d);
static void ac_mcp_sse_dispatch(ac_mcp_sse_t *d);
static int ac_mcp_is_response(json_t *msg, long id);
static json_t *ac_mcp_find(json_t *msg, long id);
static int ac_mcp_list_changed(json_t *msg);
static int ac_mcp_block(json_t *out, json_t *block, json_t *sc);
static int ac_mcp_says(json_t *text, json_t *sc);
static int ac_mcp_resource(json_t *out, json_t *res);
static int ac_mcp_image(json_t *out, const char *format, json_t *data,
    const char *what);
static int ac_mcp_text(json_t *out, const char *mime, const char *p,
    size_t n);
static int ac_mcp_note(json_t *out, const char *fmt, ...);
static const char *ac_mcp_image_format(const char *mime);
static int ac_mcp_mime_is(const char *mime, const char *type);
static int ac_mcp_json_mime(const char *mime);
static int ac_mcp_text_mime(const char *mime);


/* MCP's image types and Bedrock's formats (as Strands maps them) */
static const char *const  ac_mcp_image_types[] = {
    "image/png", "png", "image/jpeg", "jpeg", "image/jpg", "jpeg",
    "image/gif", "gif", "image/webp", "webp", NULL
};


char *
ac_mcp_request(long id, const char *method, json_t *params, size_t *len)
{
    char    *s;
    json_t  *msg;

    msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
    if (msg == NULL) {
        return NULL;
    }

    if (id >= 0 && json_object_set_new(msg, "id", json_integer(id)) != 0) {
        json_decref(msg);
        return NULL;
    }

    if (params && json_object_set(msg, "params", params) != 0) {
        json_decref(msg);
        return NULL;
    }

    s = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(msg);

    if (s && len) {
        *len = strlen(s);
    }

    return s;
}


/* the SSE decoder */

void
ac_mcp_sse_init(ac_mcp_sse_t *d, long id, size_t max)
{
    memset(d, 0, sizeof(ac_mcp_sse_t));
    d->id = id;
    d->max = max;
}


void
ac_mcp_sse_free(ac_mcp_sse_t *d)
{
    free(d->line);
    free(d->data);
    json_decref(d->response);
    d->line = NULL;
    d->data = NULL;
    d->response = NULL;
}


static int
ac_mcp_append(char **buf, size_t *len, size_t *cap, size_t max,
    const char *p, size_t n)
{
    char    *nb;
    size_t   want;

    if (n > max || *len > max - n) {
        return -1;
    }

    if (*len + n + 1 > *cap) {
        want = (*cap ? *cap * 2 : 256);

        while (want < *len + n + 1) {
            want *= 2;
        }

        nb = realloc(*buf, want);
        if (nb == NULL) {
            return -1;
        }

        *buf = nb;
        *cap = want;
    }

    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';

    return 0;
}


int
ac_mcp_sse_feed(ac_mcp_sse_t *d, const char *p, size_t n)
{
    size_t       i, start;
    const char  *s;

    if (d->too_big) {
        return -1;
    }

    /* a UTF-8 byte order mark at the very start is skipped */

    if (!d->bom_done) {
        s = "\xef\xbb\xbf";

        while (n && d->line_len < 3 && (unsigned char) *p
                                       == (unsigned char) s[d->line_len])
        {
            if (ac_mcp_append(&d->line, &d->line_len, &d->line_cap, d->max,
                              p, 1) != 0)
            {
                d->too_big = 1;
                return -1;
            }

            p++;
            n--;
        }

        if (n == 0 && d->line_len < 3) {
            return 0;
        }

        if (d->line_len != 3) {
            /* not a BOM: what was held is the start of the line */
            d->bom_done = 1;

        } else {
            d->line_len = 0;
            d->bom_done = 1;
        }
    }

    start = 0;

    for (i = 0; i < n; i++) {

        if (p[i] != '\r' && p[i] != '\n') {
            d->cr = 0;
            continue;
        }

        if (p[i] == '\n' && d->cr) {
            /* the LF of a CRLF whose CR ended the line */
            d->cr = 0;
            start = i + 1;
            continue;
        }

        if (ac_mcp_append(&d->line, &d->line_len, &d->line_cap, d->max,
                          p + start, i - start)
            != 0)
        {
            d->too_big = 1;
            return -1;
        }

        ac_mcp_sse_line(d);

        if (d->too_big) {
            return -1;
        }

        d->line_len = 0;
        d->cr = (p[i] == '\r');
        start = i + 1;
    }

    if (ac_mcp_append(&d->line, &d->line_len, &d->line_cap, d->max,
                      p + start, n - start)
        != 0)
    {
        d->too_big = 1;
        return -1;
    }

    return 0;
}


static void
ac_mcp_sse_line(ac_mcp_sse_t *d)
{
    char    *line, *value;
    size_t   len, flen, vlen;

    line = d->line ? d->line : "";
    len = d->line_len;

    if (len == 0) {
        ac_mcp_sse_dispatch(d);
        return;
    }

    if (line[0] == ':') {
        return;                                   /* a comment */
    }

    value = memchr(line, ':', len);
    flen = value ? (size_t) (value - line) : len;

    if (flen != 4 || memcmp(line, "data", 4) != 0) {
        return;                                   /* event, id, retry */
    }

    if (value) {
        value++;
        vlen = len - flen - 1;

        if (vlen && *value == ' ') {
            value++;
            vlen--;
        }

    } else {
        value = "";
        vlen = 0;
    }

    if (d->has_data
        && ac_mcp_append(&d->data, &d->data_len, &d->data_cap, d->max,
                         "\n", 1) != 0)
    {
        d->too_big = 1;
        return;
    }

    if (ac_mcp_append(&d->data, &d->data_len, &d->data_cap, d->max,
                      value, vlen)
        != 0)
    {
        d->too_big = 1;
        return;
    }

    d->has_data = 1;
}


static void
ac_mcp_sse_dispatch(ac_mcp_sse_t *d)
{
    json_t  *msg, *found;

    if (!d->has_data) {
        return;
    }

    d->has_data = 0;

    if (d->response && d->data_len) {
        msg = json_loadb(d->data, d->data_len, 0, NULL);

        if (ac_mcp_list_changed(msg)) {
            d->list_changed = 1;
        }

        json_decref(msg);

    } else if (d->data_len) {
        msg = json_loadb(d->data, d->data_len, 0, NULL);
        found = ac_mcp_find(msg, d->id);

        if (ac_mcp_list_changed(msg)) {
            d->list_changed = 1;
        }

        if (found) {
            d->response = json_incref(found);
        }

        json_decref(msg);
    }

    d->data_len = 0;
}


static int
ac_mcp_is_response(json_t *msg, long id)
{
    json_t  *jid;

    if (!json_is_object(msg)) {
        return 0;
    }

    jid = json_object_get(msg, "id");

    if (!json_is_integer(jid) || json_integer_value(jid) != id) {
        return 0;
    }

    return json_object_get(msg, "result") != NULL
           || json_object_get(msg, "error") != NULL;
}


/* a notifications/tools/list_changed, alone or in a batch */

static int
ac_mcp_list_changed(json_t *msg)
{
    size_t   i;
    json_t  *m, *method;

    if (json_is_array(msg)) {
        json_array_foreach(msg, i, m) {
            if (ac_mcp_list_changed(m) && !json_is_array(m)) {
                return 1;
            }
        }

        return 0;
    }

    method = json_object_get(msg, "method");

    return json_is_string(method)
           && strcmp(json_string_value(method),
                     "notifications/tools/list_changed") == 0
           && json_object_get(msg, "id") == NULL;
}


/* the response to id: the message, or one of a batch (borrowed) */

static json_t *
ac_mcp_find(json_t *msg, long id)
{
    size_t   i;
    json_t  *m;

    if (json_is_array(msg)) {
        json_array_foreach(msg, i, m) {
            if (ac_mcp_is_response(m, id)) {
                return m;
            }
        }

        return NULL;
    }

    return ac_mcp_is_response(msg, id) ? msg : NULL;
}


int
ac_mcp_response(const char *body, size_t len, int sse, long id,
    json_t **result, int *list_changed, char *err, size_t errlen)
{
    int            rc;
    json_t        *msg, *found, *e, *code, *message;
    json_error_t   jerr;
    ac_mcp_sse_t   d;

    *result = NULL;
    found = NULL;
    msg = NULL;

    if (list_changed) {
        *list_changed = 0;
    }

    if (sse) {
        ac_mcp_sse_init(&d, id, len + 1);

        if (ac_mcp_sse_feed(&d, body, len) == 0) {
            /* a last event whose blank line the stream did not send */
            if (d.line_len) {
                ac_mcp_sse_line(&d);
                d.line_len = 0;
            }

            ac_mcp_sse_dispatch(&d);
        }

        msg = d.response;
        d.response = NULL;

        if (list_changed) {
            *list_changed = d.list_changed;
        }

        ac_mcp_sse_free(&d);

        found = msg;

        if (found == NULL) {
            snprintf(err, errlen, "the MCP server's event stream holds no "
                     "response to request %ld", id);
            return AC_MCP_BAD;
        }

    } else {
        msg = json_loadb(body, len, 0, &jerr);

        if (msg == NULL) {
            snprintf(err, errlen, "the MCP server's response is not JSON: "
                     "%s", jerr.text);
            return AC_MCP_BAD;
        }

        found = ac_mcp_find(msg, id);

        if (list_changed) {
            *list_changed = ac_mcp_list_changed(msg);
        }

        if (found == NULL) {
            json_decref(msg);
            snprintf(err, errlen, "the MCP server's response is not a "
                     "JSON-RPC response to request %ld", id);
            return AC_MCP_BAD;
        }
    }

    e = json_object_get(found, "error");

    if (e) {
        code = json_object_get(e, "code");
        message = json_object_get(e, "message");

        snprintf(err, errlen, "MCP error %lld: %s",
                 json_is_integer(code)
                 ? (long long) json_integer_value(code) : 0LL,
                 json_is_string(message) ? json_string_value(message)
                                         : "(no message)");
        rc = AC_MCP_RPC_ERROR;

    } else {
        *result = json_incref(json_object_get(found, "result"));
        rc = AC_MCP_OK;
    }

    json_decref(msg);

    return rc;
}


int
ac_mcp_valid_name(const char *name, size_t len)
{
    char    c;
    size_t  i;

    if (len == 0 || len > AC_MCP_MAX_NAME) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
        {
            return 0;
        }
    }

    return 1;
}


int
ac_mcp_tools_page(json_t *result, json_t *tools, char **cursor,
    char *warn, size_t wlen)
{
    int          skipped;
    char        *s;
    size_t       i, slen;
    json_t      *list, *tool, *name, *desc, *schema, *type, *next, *t;
    const char  *why;

    *cursor = NULL;
    skipped = 0;

    if (warn && wlen) {
        warn[0] = '\0';
    }

    list = json_object_get(result, "tools");

    if (!json_is_array(list)) {
        snprintf(warn, wlen, "a tools/list result without a \"tools\" "
                 "array");
        return -1;
    }

    json_array_foreach(list, i, tool) {

        name = json_object_get(tool, "name");
        desc = json_object_get(tool, "description");
        schema = json_object_get(tool, "inputSchema");
        why = NULL;

        if (!json_is_string(name)) {
            why = "a tool without a name";

        } else if (!ac_mcp_valid_name(json_string_value(name),
                                      json_string_length(name)))
        {
            why = "its name is not 1 to 64 of a-z, A-Z, 0-9, _ and -";

        } else if (!json_is_object(schema)) {
            why = "its inputSchema is not an object";

        } else {
            type = json_object_get(schema, "type");

            if (type && !(json_is_string(type)
                          && strcmp(json_string_value(type), "object") == 0))
            {
                why = "its inputSchema's type is not \"object\"";

            } else {
                s = json_dumps(schema, JSON_COMPACT);
                slen = s ? strlen(s) : AC_MCP_MAX_SCHEMA + 1;
                free(s);

                if (slen > AC_MCP_MAX_SCHEMA) {
                    why = "its inputSchema is larger than 64k";
                }
            }
        }

        if (why) {
            if (skipped++ == 0) {
                snprintf(warn, wlen, "tool \"%.64s\" left out: %s",
                         json_is_string(name) ? json_string_value(name) : "",
                         why);
            }

            continue;
        }

        if (!json_is_string(desc) || json_string_length(desc) == 0) {
            desc = name;
        }

        t = json_pack("{s:O, s:O, s:O}", "name", name, "description", desc,
                      "inputSchema", schema);

        if (t == NULL || json_array_append_new(tools, t) != 0) {
            snprintf(warn, wlen, "no memory");
            return -1;
        }
    }

    next = json_object_get(result, "nextCursor");

    if (json_is_string(next) && json_string_length(next)) {
        *cursor = strdup(json_string_value(next));
    }

    return skipped;
}


int
ac_mcp_tool_name(const char *prefix, int force, const char *name,
    int (*taken)(void *data, const char *name), void *data, char *out)
{
    size_t  plen, nlen;

    nlen = strlen(name);

    if (!ac_mcp_valid_name(name, nlen)) {
        return -1;
    }

    if (!force && (taken == NULL || !taken(data, name))) {
        memcpy(out, name, nlen + 1);
        return 0;
    }

    plen = prefix ? strlen(prefix) : 0;

    if (plen + nlen > AC_MCP_MAX_NAME) {
        return -1;
    }

    memcpy(out, prefix, plen);
    memcpy(out + plen, name, nlen + 1);

    if (!ac_mcp_valid_name(out, plen + nlen)
        || (taken && taken(data, out)))
    {
        return -1;
    }

    return 0;
}


char *
ac_mcp_call_text(json_t *result, int *is_error, size_t *len)
{
    char        *s, *out, *nb;
    size_t       i, n, olen, cap;
    json_t      *content, *block, *type, *text, *sc;
    const char  *p;

    *is_error = json_is_true(json_object_get(result, "isError"));

    if (!json_is_object(result)) {
        return NULL;
    }

    content = json_object_get(result, "content");
    sc = json_object_get(result, "structuredContent");

    cap = 256;
    olen = 0;
    out = malloc(cap);
    if (out == NULL) {
        return NULL;
    }

    out[0] = '\0';

    if (json_array_size(content) == 0 && sc) {
        s = json_dumps(sc, JSON_COMPACT | JSON_PRESERVE_ORDER
                           | JSON_ENCODE_ANY);
        free(out);

        if (s && len) {
            *len = strlen(s);
        }

        return s;
    }

    json_array_foreach(content, i, block) {
        type = json_object_get(block, "type");
        text = json_object_get(block, "text");
        s = NULL;

        if (json_is_string(type) && strcmp(json_string_value(type), "text")
                                    == 0
            && json_is_string(text))
        {
            p = json_string_value(text);
            n = json_string_length(text);

        } else {
            s = json_dumps(block, JSON_COMPACT | JSON_PRESERVE_ORDER
                                  | JSON_ENCODE_ANY);
            if (s == NULL) {
                free(out);
                return NULL;
            }

            p = s;
            n = strlen(s);
        }

        if (olen + n + 2 > cap) {
            while (olen + n + 2 > cap) {
                cap *= 2;
            }

            nb = realloc(out, cap);
            if (nb == NULL) {
                free(s);
                free(out);
                return NULL;
            }

            out = nb;
        }

        if (olen) {
            out[olen++] = '\n';
        }

        memcpy(out + olen, p, n);
        olen += n;
        out[olen] = '\0';

        free(s);
    }

    if (len) {
        *len = olen;
    }

    return out;
}


int
ac_mcp_call_content(json_t *result, json_t **blocks)
{
    int          plain;
    size_t       i;
    json_t      *out, *content, *block, *sc;
    const char  *type;

    *blocks = NULL;

    if (!json_is_object(result)) {
        return -1;
    }

    content = json_object_get(result, "content");
    sc = json_object_get(result, "structuredContent");

    if (!json_is_object(sc)) {
        /* not structured content (ac_mcp_call_text gives it as text) */
        sc = NULL;
    }

    /* text only: one text, as ac_mcp_call_text() gives it */

    plain = (sc == NULL);

    json_array_foreach(content, i, block) {
        type = json_string_value(json_object_get(block, "type"));

        if (type == NULL || strcmp(type, "text") != 0
            || !json_is_string(json_object_get(block, "text")))
        {
            plain = 0;
            break;
        }
    }

    if (plain) {
        return 0;
    }

    out = json_array();
    if (out == NULL) {
        return -1;
    }

    json_array_foreach(content, i, block) {
        if (ac_mcp_block(out, block, sc) != 0) {
            json_decref(out);
            return -1;
        }
    }

    if (sc && json_array_append_new(out, json_pack("{s:O}", "json", sc))
              != 0)
    {
        json_decref(out);
        return -1;
    }

    *blocks = out;

    return 0;
}


/* one content item of a result, appended to out as Bedrock blocks */

static int
ac_mcp_block(json_t *out, json_t *block, json_t *sc)
{
    int          rc;
    char        *s;
    json_t      *text;
    const char  *type, *mime, *format;

    type = json_string_value(json_object_get(block, "type"));
    text = json_object_get(block, "text");
    mime = json_string_value(json_object_get(block, "mimeType"));

    if (type && strcmp(type, "text") == 0 && json_is_string(text)) {

        if (sc && ac_mcp_says(text, sc)) {
            /* the json block says it */
            return 0;
        }

        return json_array_append_new(out, json_pack("{s:O}", "text", text));
    }

    if (type && strcmp(type, "image") == 0) {
        format = ac_mcp_image_format(mime);

        if (format == NULL) {
            return ac_mcp_note(out, "[an image of type %s, left out: "
                               "Bedrock takes png, jpeg, gif and webp]",
                               mime ? mime : "(none)");
        }

        return ac_mcp_image(out, format, json_object_get(block, "data"),
                            "an image");
    }

    if (type && strcmp(type, "audio") == 0) {
        return ac_mcp_note(out, "[audio of type %s, left out: Bedrock takes "
                           "no audio in a tool result]",
                           mime ? mime : "(none)");
    }

    if (type && strcmp(type, "resource") == 0
        && json_is_object(json_object_get(block, "resource")))
    {
        return ac_mcp_resource(out, json_object_get(block, "resource"));
    }

    /* resource_link, and what a later specification adds: as JSON text */

    s = json_dumps(block, JSON_COMPACT | JSON_PRESERVE_ORDER
                          | JSON_ENCODE_ANY);
    if (s == NULL) {
        return -1;
    }

    rc = json_array_append_new(out, json_pack("{s:s}", "text", s));
    free(s);

    return rc;
}


/*
 * A text item that says what structuredContent says: its serialization
 * (the copy the specification asks of servers for older clients), or,
 * for structuredContent of one member, that member's value (the Python
 * SDK gives a tool's plain return value as {"result": value} and as
 * text)
 */

static int
ac_mcp_says(json_t *text, json_t *sc)
{
    int          rc;
    json_t      *v, *one;
    const char  *key;

    v = json_loadb(json_string_value(text), json_string_length(text),
                   JSON_DECODE_ANY, NULL);

    rc = (v && json_equal(v, sc));

    if (!rc && json_object_size(sc) == 1) {
        json_object_foreach(sc, key, one) {
            rc = (v && json_equal(v, one)) || json_equal(text, one);
        }
    }

    json_decref(v);

    return rc;
}


/* an embedded resource: {"uri", "mimeType"?, "text" | "blob"} */

static int
ac_mcp_resource(json_t *out, json_t *res)
{
    int             rc;
    long            n;
    size_t          bad;
    json_t         *text, *blob;
    const char     *mime, *uri, *format;
    unsigned char  *bytes;

    text = json_object_get(res, "text");
    blob = json_object_get(res, "blob");
    mime = json_string_value(json_object_get(res, "mimeType"));
    uri = json_string_value(json_object_get(res, "uri"));

    if (uri == NULL) {
        uri = "(no uri)";
    }

    if (json_is_string(text)) {
        return ac_mcp_text(out, mime, json_string_value(text),
                           json_string_length(text));
    }

    if (!json_is_string(blob)) {
        return ac_mcp_note(out, "[the resource %s, left out: neither text "
                           "nor blob]", uri);
    }

    format = ac_mcp_image_format(mime);

    if (format) {
        return ac_mcp_image(out, format, blob, "the resource");
    }

    if (!ac_mcp_text_mime(mime)) {
        return ac_mcp_note(out, "[the resource %s of type %s, left out: "
                           "binary]", uri, mime ? mime : "(none)");
    }

    n = ac_base64_decode(json_string_value(blob), json_string_length(blob),
                         NULL, &bad);
    if (n < 0) {
        return ac_mcp_note(out, "[the resource %s, left out: its blob is "
                           "not base64]", uri);
    }

    bytes = malloc(n + 1);
    if (bytes == NULL) {
        return -1;
    }

    (void) ac_base64_decode(json_string_value(blob), json_string_length(blob),
                            bytes, &bad);

    rc = ac_mcp_text(out, mime, (char *) bytes, n);
    free(bytes);

    return rc;
}


/* a resource's text: JSON if its type says so and it is, else text */

static int
ac_mcp_text(json_t *out, const char *mime, const char *p, size_t n)
{
    json_t  *v, *s;

    if (ac_mcp_json_mime(mime)) {
        v = json_loadb(p, n, 0, NULL);

        if (json_is_object(v)) {
            return json_array_append_new(out, json_pack("{s:o}", "json", v));
        }

        json_decref(v);
    }

    s = json_stringn(p, n);

    if (s == NULL) {
        /* not UTF-8 (or no memory: the note fails too) */
        return ac_mcp_note(out, "[a resource of type %s, left out: not "
                           "UTF-8 text]", mime ? mime : "(none)");
    }

    return json_array_append_new(out, json_pack("{s:o}", "text", s));
}


/* an image block if Bedrock would take it, else a note saying why not */

static int
ac_mcp_image(json_t *out, const char *format, json_t *data, const char *what)
{
    int          rc;
    char         err[256];
    json_t      *prompt, *checked;
    const char  *why;

    if (!json_is_string(data)) {
        return ac_mcp_note(out, "[%s (%s), left out: no data]", what, format);
    }

    prompt = json_pack("[{s:{s:s, s:{s:O}}}]", "image", "format", format,
                       "source", "bytes", data);
    if (prompt == NULL) {
        return -1;
    }

    err[0] = '\0';
    checked = ac_content_prompt(prompt, err, sizeof(err));
    json_decref(prompt);

    if (checked == NULL) {
        if (err[0] == '\0') {
            return -1;
        }

        /* "prompt[0] (image): why" */
        why = strstr(err, "): ");
        why = why ? why + 3 : err;

        return ac_mcp_note(out, "[%s (%s), left out: %s]", what, format, why);
    }

    rc = json_array_extend(out, checked);
    json_decref(checked);

    return rc;
}


static int
ac_mcp_note(json_t *out, const char *fmt, ...)
{
    char     buf[512];
    json_t  *v;
    va_list  args;

    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);

    v = json_string(buf);

    if (v == NULL) {
        /* the server's mimeType or uri, not UTF-8, or cut mid-character */
        v = json_string("[a content block left out]");
    }

    return json_array_append_new(out, json_pack("{s:o}", "text", v));
}


static const char *
ac_mcp_image_format(const char *mime)
{
    size_t  i;

    for (i = 0; mime && ac_mcp_image_types[i]; i += 2) {
        if (ac_mcp_mime_is(mime, ac_mcp_image_types[i])) {
            return ac_mcp_image_types[i + 1];
        }
    }

    return NULL;
}


/* mime is type, parameters (";charset=...") and case aside */

static int
ac_mcp_mime_is(const char *mime, const char *type)
{
    size_t  n;

    n = strlen(type);

    return strncasecmp(mime, type, n) == 0
           && (mime[n] == '\0' || mime[n] == ';' || mime[n] == ' ');
}


static int
ac_mcp_json_mime(const char *mime)
{
    const char  *p;

    if (mime == NULL) {
        return 0;
    }

    if (ac_mcp_mime_is(mime, "application/json")) {
        return 1;
    }

    /* application/ld+json, application/vnd.api+json, ... */

    p = strstr(mime, "+json");

    return p && (p[5] == '\0' || p[5] == ';' || p[5] == ' ');
}


/* what Strands reads as text: text/..., JSON, XML, JavaScript, YAML */

static int
ac_mcp_text_mime(const char *mime)
{
    if (mime == NULL) {
        return 0;
    }

    return strncasecmp(mime, "text/", 5) == 0
           || ac_mcp_json_mime(mime)
           || ac_mcp_mime_is(mime, "application/xml")
           || ac_mcp_mime_is(mime, "application/javascript")
           || ac_mcp_mime_is(mime, "application/yaml")
           || ac_mcp_mime_is(mime, "application/x-yaml")
           || strstr(mime, "+xml") != NULL;
}


size_t
ac_mcp_form_encode(const char *s, size_t n, char *out)
{
    size_t          i, len;
    unsigned char   c;
    static const char  hex[] = "0123456789ABCDEF";

    len = 0;

    for (i = 0; i < n; i++) {
        c = (unsigned char) s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
            || c == '~')
        {
            if (out) {
                out[len] = (char) c;
            }

            len++;
            continue;
        }

        if (out) {
            out[len] = '%';
            out[len + 1] = hex[c >> 4];
            out[len + 2] = hex[c & 0x0f];
        }

        len += 3;
    }

    return len;
}


int
ac_mcp_token_response(unsigned status, const char *body, size_t len,
    char **token, long *expires_in, char *err, size_t errlen)
{
    size_t       i, n;
    json_t      *msg, *v, *type, *exp;
    const char  *t, *e;

    *token = NULL;
    *expires_in = -1;

    msg = json_loadb(body, len, 0, NULL);

    if (status < 200 || status >= 300) {
        e = json_string_value(json_object_get(msg, "error"));

        /* the error code is the IdP's, of RFC 6749 5.2: a short word */

        for (i = 0; e && e[i]; i++) {
            if (i == 64 || e[i] <= ' ' || e[i] > '~' || e[i] == '"') {
                e = NULL;
            }
        }

        if (e) {
            snprintf(err, errlen, "the token endpoint answered HTTP %u (%s)",
                     status, e);

        } else {
            snprintf(err, errlen, "the token endpoint answered HTTP %u",
                     status);
        }

        json_decref(msg);
        return -1;
    }

    if (!json_is_object(msg)) {
        snprintf(err, errlen, "the token endpoint's answer is not a JSON "
                 "object");
        json_decref(msg);
        return -1;
    }

    v = json_object_get(msg, "access_token");
    type = json_object_get(msg, "token_type");
    exp = json_object_get(msg, "expires_in");

    t = json_string_value(v);
    n = json_string_length(v);

    for (i = 0; t && i < n; i++) {
        if (t[i] <= ' ' || t[i] > '~') {
            t = NULL;
        }
    }

    if (t == NULL || n == 0 || n > 8192) {
        snprintf(err, errlen, "the token endpoint's answer has no "
                 "access_token a header can carry");
        json_decref(msg);
        return -1;
    }

    if (type && (!json_is_string(type)
                 || strcasecmp(json_string_value(type), "Bearer") != 0))
    {
        snprintf(err, errlen, "the token endpoint's token_type is not "
                 "Bearer");
        json_decref(msg);
        return -1;
    }

    if (json_is_integer(exp) && json_integer_value(exp) > 0) {
        *expires_in = json_integer_value(exp) > 100000000
                      ? 100000000 : (long) json_integer_value(exp);

    } else if (json_is_real(exp) && json_real_value(exp) >= 1
               && json_real_value(exp) <= 100000000)
    {
        *expires_in = (long) json_real_value(exp);
    }

    *token = strdup(t);

    /* the answer held the token: gone with it */
    memset((char *) t, 0, n);
    json_decref(msg);

    if (*token == NULL) {
        snprintf(err, errlen, "no memory");
        return -1;
    }

    return 0;
}
