
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * OpenAI-compatible Chat Completions (OpenAI, vLLM, llama.cpp, Ollama),
 * plain C (jansson, no nginx types): the streaming request built from
 * the Converse history and request end, and the SSE response decoded
 * into the turn's Converse events.
 *
 * The stream: "data: {json}" events separated by blank lines, ending
 * with "data: [DONE]".  choices[0].delta.content is text;
 * delta.tool_calls[] are keyed by "index", "id" and function.name only
 * in a call's first chunk, function.arguments fragments that are JSON
 * only once joined.  Ollama sends index 0 for every call, each whole in
 * one chunk: an id other than the call's at that index starts a new
 * call; vLLM may repeat a call's whole arguments after their fragments:
 * dropped.  finish_reason: stop -> end_turn, tool_calls -> tool_use,
 * length -> max_tokens.  "usage" (stream_options.include_usage) comes
 * in a last chunk with no choices.  {"error": {...}} is an error event.
 */


#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "ngx_http_agentcore_openai.h"


#define AC_OPENAI_MAX_CALLS     128


typedef struct {
    int64_t                  index;     /* the API's "index" */
    char                    *id;
    size_t                   block;     /* the turn's contentBlockIndex */
    ac_pbuf_t                args;      /* the arguments so far */
} ac_openai_call_t;


typedef struct {
    ac_turn_t               *turn;
    ac_sse_reader_t          sse;

    size_t                   next_block;
    int64_t                  text_block;    /* -1: none open */
    ac_openai_call_t         calls[AC_OPENAI_MAX_CALLS];
    size_t                   ncalls;

    unsigned                 done:1;    /* [DONE] */
    unsigned                 stopped:1; /* messageStop fed */
} ac_openai_stream_t;


static char *ac_openai_request(json_t *messages, const char *suffix,
    size_t suffix_len, const char *model, size_t *len);
static json_t *ac_openai_messages(json_t *messages, json_t *system);
static int ac_openai_user(json_t *out, json_t *content);
static int ac_openai_assistant(json_t *out, json_t *content);
static json_t *ac_openai_tools(json_t *tools);
static ac_model_stream_t *ac_openai_create(ac_turn_t *turn,
    size_t max_message);
static int ac_openai_feed(ac_model_stream_t *s, const unsigned char *p,
    size_t n);
static int ac_openai_dispatch(void *ctx, const char *data, size_t len);
static int ac_openai_chunk(ac_openai_stream_t *s, json_t *root);
static int ac_openai_tool_call(ac_openai_stream_t *s, json_t *tc);
static int ac_openai_repeated(ac_openai_stream_t *s, ac_openai_call_t *call,
    const char *frag, size_t len);
static int ac_openai_finish(ac_openai_stream_t *s, const char *reason);
static int ac_openai_usage(ac_openai_stream_t *s, json_t *usage);
static int ac_openai_error(ac_openai_stream_t *s, json_t *error);
static int ac_openai_event(ac_openai_stream_t *s, const char *type,
    json_t *payload);
static int ac_openai_pending(const ac_model_stream_t *s);
static const char *ac_openai_stream_error(const ac_model_stream_t *s);
static void ac_openai_destroy(ac_model_stream_t *s);
static char *ac_openai_text(json_t *content, const char *sep);


const ac_provider_t  ac_provider_openai = {
    "openai",
    ac_openai_request,
    ac_openai_create,
    ac_openai_feed,
    ac_openai_pending,
    ac_openai_stream_error,
    ac_openai_destroy,
    ac_provider_http_error
};


/* request */

/*
 * {"model":..,"messages":[system?, ...],"max_tokens":..,"tools":[..],
 *  "stream":true,"stream_options":{"include_usage":true}}
 */

static char *
ac_openai_request(json_t *messages, const char *suffix, size_t suffix_len,
    const char *model, size_t *len)
{
    char    *s, *conf_json;
    json_t  *conf, *body, *v, *msgs, *tools;

    /* the Converse request's end: "," or "}" becomes "{" */

    conf_json = malloc(suffix_len + 2);
    if (conf_json == NULL) {
        return NULL;
    }

    conf_json[0] = '{';

    if (suffix_len > 1) {
        memcpy(conf_json + 1, suffix + 1, suffix_len - 1);
        conf_json[suffix_len] = '\0';

    } else {
        conf_json[1] = '}';
        conf_json[2] = '\0';
    }

    conf = json_loads(conf_json, 0, NULL);
    free(conf_json);

    if (conf == NULL) {
        return NULL;
    }

    s = NULL;
    body = json_object();
    msgs = ac_openai_messages(messages, json_object_get(conf, "system"));

    if (body == NULL || msgs == NULL
        || json_object_set_new(body, "model", json_string(model ? model : ""))
        || json_object_set_new(body, "messages", msgs))
    {
        goto done;
    }

    v = json_object_get(json_object_get(conf, "inferenceConfig"),
                        "maxTokens");

    if (json_is_integer(v) && json_object_set(body, "max_tokens", v)) {
        goto done;
    }

    v = json_object_get(json_object_get(conf, "toolConfig"), "tools");

    if (json_array_size(v)) {
        tools = ac_openai_tools(v);

        if (tools == NULL || json_object_set_new(body, "tools", tools)) {
            goto done;
        }
    }

    if (json_object_set_new(body, "stream", json_true())
        || json_object_set_new(body, "stream_options",
                               json_pack("{s:b}", "include_usage", 1)))
    {
        goto done;
    }

    s = json_dumps(body, JSON_COMPACT);

    if (s) {
        *len = strlen(s);
    }

done:

    json_decref(body);
    json_decref(conf);

    return s;
}


static json_t *
ac_openai_messages(json_t *messages, json_t *system)
{
    char         *text;
    size_t        i;
    json_t       *out, *m, *role, *content;
    const char   *r;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    if (json_array_size(system)) {
        text = ac_openai_text(system, "\n");

        if (text == NULL
            || json_array_append_new(out, json_pack("{s:s,s:s}",
                                                    "role", "system",
                                                    "content", text)))
        {
            free(text);
            goto failed;
        }

        free(text);
    }

    json_array_foreach(messages, i, m) {
        role = json_object_get(m, "role");
        content = json_object_get(m, "content");
        r = json_string_value(role);

        if (r == NULL || !json_is_array(content)) {
            continue;
        }

        if (strcmp(r, "assistant") == 0) {
            if (ac_openai_assistant(out, content) != 0) {
                goto failed;
            }

        } else if (ac_openai_user(out, content) != 0) {
            goto failed;
        }
    }

    return out;

failed:

    json_decref(out);

    return NULL;
}


/* toolResult blocks become "tool" messages, first; the text a user one */

static int
ac_openai_user(json_t *out, json_t *content)
{
    int          rc;
    char        *text;
    size_t       i, ntext;
    json_t      *b, *tr;
    const char  *id;

    ntext = 0;

    json_array_foreach(content, i, b) {
        tr = json_object_get(b, "toolResult");

        if (tr == NULL) {
            ntext += json_is_string(json_object_get(b, "text"));
            continue;
        }

        id = json_string_value(json_object_get(tr, "toolUseId"));
        text = ac_openai_text(json_object_get(tr, "content"), "");

        if (text == NULL) {
            return -1;
        }

        rc = json_array_append_new(out,
                 json_pack("{s:s,s:s,s:s}", "role", "tool",
                           "tool_call_id", id ? id : "",
                           "content", text));
        free(text);

        if (rc != 0) {
            return -1;
        }
    }

    if (ntext == 0) {
        return 0;
    }

    text = ac_openai_text(content, "\n");
    if (text == NULL) {
        return -1;
    }

    rc = json_array_append_new(out, json_pack("{s:s,s:s}", "role", "user",
                                              "content", text));
    free(text);

    return rc;
}


static int
ac_openai_assistant(json_t *out, json_t *content)
{
    char        *text, *args;
    size_t       i;
    json_t      *msg, *calls, *b, *tu, *call, *v;
    const char  *id, *name;

    text = ac_openai_text(content, "");
    if (text == NULL) {
        return -1;
    }

    msg = json_pack("{s:s}", "role", "assistant");

    if (msg == NULL
        || json_object_set_new(msg, "content",
                               *text ? json_string(text) : json_null()))
    {
        free(text);
        json_decref(msg);
        return -1;
    }

    free(text);

    calls = json_array();

    json_array_foreach(content, i, b) {
        tu = json_object_get(b, "toolUse");

        if (!json_is_object(tu)) {
            continue;
        }

        v = json_object_get(tu, "input");
        args = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
                 : strdup("{}");
        if (args == NULL) {
            goto failed;
        }

        id = json_string_value(json_object_get(tu, "toolUseId"));
        name = json_string_value(json_object_get(tu, "name"));

        call = json_pack("{s:s,s:s,s:{s:s,s:s}}",
                         "id", id ? id : "",
                         "type", "function",
                         "function",
                         "name", name ? name : "",
                         "arguments", args);
        free(args);

        if (call == NULL || json_array_append_new(calls, call)) {
            goto failed;
        }
    }

    if (json_array_size(calls)
        && json_object_set(msg, "tool_calls", calls))
    {
        goto failed;
    }

    json_decref(calls);

    return json_array_append_new(out, msg);

failed:

    json_decref(calls);
    json_decref(msg);

    return -1;
}


/* {"toolSpec":{name,description,inputSchema:{json}}} -> "function" tools */

static json_t *
ac_openai_tools(json_t *tools)
{
    size_t   i;
    json_t  *out, *t, *spec, *f, *v;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    json_array_foreach(tools, i, t) {
        spec = json_object_get(t, "toolSpec");

        if (!json_is_object(spec)) {
            continue;
        }

        f = json_object();

        if (f == NULL
            || json_object_set(f, "name", json_object_get(spec, "name"))
            || json_array_append_new(out, json_pack("{s:s,s:o}", "type",
                                                    "function", "function",
                                                    f)))
        {
            goto failed;
        }

        v = json_object_get(spec, "description");

        if (v && json_object_set(f, "description", v)) {
            goto failed;
        }

        v = json_object_get(json_object_get(spec, "inputSchema"), "json");

        if (json_object_set_new(f, "parameters",
                                v ? json_incref(v)
                                  : json_pack("{s:s}", "type", "object")))
        {
            goto failed;
        }
    }

    return out;

failed:

    json_decref(out);

    return NULL;
}


/*
 * The text of content blocks ({"text"} and {"json"}) joined by sep
 * (malloc'd)
 */

static char *
ac_openai_text(json_t *content, const char *sep)
{
    char             *j;
    size_t            i, seplen, n;
    json_t           *b, *v;
    ac_pbuf_t         buf = { NULL, 0, 0 };

    seplen = strlen(sep);
    n = 0;

    json_array_foreach(content, i, b) {
        v = json_object_get(b, "text");

        if (json_is_string(v)) {
            if (n++ && ac_pbuf_append(&buf, sep, seplen, (size_t) -1)) {
                goto failed;
            }

            if (ac_pbuf_append(&buf, json_string_value(v),
                                 json_string_length(v), (size_t) -1))
            {
                goto failed;
            }

            continue;
        }

        v = json_object_get(b, "json");

        if (v != NULL) {
            j = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (j == NULL) {
                goto failed;
            }

            if ((n++ && ac_pbuf_append(&buf, sep, seplen, (size_t) -1))
                || ac_pbuf_append(&buf, j, strlen(j), (size_t) -1))
            {
                free(j);
                goto failed;
            }

            free(j);
        }
    }

    if (ac_pbuf_append(&buf, "", 1, (size_t) -1)) {
        goto failed;
    }

    return buf.data;

failed:

    free(buf.data);

    return NULL;
}


/* response */

static ac_model_stream_t *
ac_openai_create(ac_turn_t *turn, size_t max_message)
{
    ac_openai_stream_t  *s;

    s = calloc(1, sizeof(ac_openai_stream_t));
    if (s == NULL) {
        return NULL;
    }

    s->turn = turn;
    s->sse.max = max_message;
    s->text_block = -1;

    return (ac_model_stream_t *) s;
}


static int
ac_openai_feed(ac_model_stream_t *stream, const unsigned char *p, size_t n)
{
    ac_openai_stream_t  *s = (ac_openai_stream_t *) stream;

    return ac_sse_read(&s->sse, p, n, ac_openai_dispatch, s);
}


static int
ac_openai_dispatch(void *ctx, const char *data, size_t len)
{
    int                  rc;
    json_t              *root;
    json_error_t         jerr;
    ac_openai_stream_t  *s = ctx;

    if (len == 6 && memcmp(data, "[DONE]", 6) == 0) {
        s->done = 1;

        return ac_openai_finish(s, NULL);
    }

    if (s->done) {
        /* nothing counts after [DONE] */
        return 0;
    }

    root = json_loadb(data, len, 0, &jerr);

    if (!json_is_object(root)) {
        snprintf(s->sse.error, sizeof(s->sse.error),
                 "an event that is not a JSON object (%.80s)",
                 root ? "another JSON value" : jerr.text);
        json_decref(root);
        return AC_STREAM_CORRUPT;
    }

    rc = ac_openai_chunk(s, root);

    json_decref(root);

    return rc;
}


static int
ac_openai_chunk(ac_openai_stream_t *s, json_t *root)
{
    int           rc;
    size_t        i;
    json_t       *v, *choice, *delta, *tc, *payload;
    const char   *reason;

    v = json_object_get(root, "error");

    if (v != NULL) {
        return ac_openai_error(s, v);
    }

    choice = json_array_get(json_object_get(root, "choices"), 0);
    delta = json_object_get(choice, "delta");

    v = json_object_get(delta, "content");

    if (json_is_string(v) && json_string_length(v)) {

        if (s->text_block < 0) {
            s->text_block = s->next_block++;
        }

        payload = json_pack("{s:I,s:{s:O}}",
                            "contentBlockIndex", (json_int_t) s->text_block,
                            "delta", "text", v);

        rc = ac_openai_event(s, "contentBlockDelta", payload);
        if (rc != 0) {
            return rc;
        }
    }

    json_array_foreach(json_object_get(delta, "tool_calls"), i, tc) {
        rc = ac_openai_tool_call(s, tc);
        if (rc != 0) {
            return rc;
        }
    }

    reason = json_string_value(json_object_get(choice, "finish_reason"));

    if (reason != NULL && *reason) {
        rc = ac_openai_finish(s, reason);
        if (rc != 0) {
            return rc;
        }
    }

    v = json_object_get(root, "usage");

    if (json_is_object(v)) {
        return ac_openai_usage(s, v);
    }

    return 0;
}


static int
ac_openai_tool_call(ac_openai_stream_t *s, json_t *tc)
{
    int                rc;
    char              *args, idbuf[32];
    size_t             i;
    json_t            *v, *f, *payload;
    int64_t            index;
    const char        *id, *name;
    ac_openai_call_t  *call;

    v = json_object_get(tc, "index");
    index = json_is_integer(v) ? json_integer_value(v) : 0;

    id = json_string_value(json_object_get(tc, "id"));
    if (id != NULL && *id == '\0') {
        id = NULL;
    }

    f = json_object_get(tc, "function");

    /* the latest call of this index */

    call = NULL;

    for (i = s->ncalls; i > 0; i--) {
        if (s->calls[i - 1].index == index) {
            call = &s->calls[i - 1];
            break;
        }
    }

    if (call != NULL && id != NULL && strcmp(call->id, id) != 0) {
        /* Ollama: index 0 again, another call */
        call = NULL;
    }

    if (call == NULL) {
        if (s->ncalls == AC_OPENAI_MAX_CALLS) {
            snprintf(s->sse.error, sizeof(s->sse.error),
                     "more than %d tool calls in one turn",
                     AC_OPENAI_MAX_CALLS);
            return AC_STREAM_CORRUPT;
        }

        call = &s->calls[s->ncalls++];
        call->index = index;
        call->block = s->next_block++;

        /* text after this call is a block of its own */
        s->text_block = -1;

        if (id == NULL) {
            snprintf(idbuf, sizeof(idbuf), "call_%zu", call->block);
            id = idbuf;
        }

        call->id = strdup(id);
        if (call->id == NULL) {
            s->ncalls--;
            snprintf(s->sse.error, sizeof(s->sse.error), "out of memory");
            return AC_STREAM_CORRUPT;
        }

        name = json_string_value(json_object_get(f, "name"));

        payload = json_pack("{s:I,s:{s:{s:s,s:s}}}",
                            "contentBlockIndex", (json_int_t) call->block,
                            "start", "toolUse", "toolUseId", call->id,
                            "name", name ? name : "");

        rc = ac_openai_event(s, "contentBlockStart", payload);
        if (rc != 0) {
            return rc;
        }
    }

    v = json_object_get(f, "arguments");

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (json_is_string(v)) {
        if (json_string_length(v) == 0) {
            return 0;
        }

        if (ac_openai_repeated(s, call, json_string_value(v),
                               json_string_length(v)))
        {
            return 0;
        }

        payload = json_pack("{s:I,s:{s:{s:O}}}",
                            "contentBlockIndex", (json_int_t) call->block,
                            "delta", "toolUse", "input", v);

    } else {
        /* an object: some servers send the arguments parsed */

        args = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (args == NULL) {
            return AC_STREAM_CORRUPT;
        }

        payload = json_pack("{s:I,s:{s:{s:s}}}",
                            "contentBlockIndex", (json_int_t) call->block,
                            "delta", "toolUse", "input", args);
        free(args);
    }

    return ac_openai_event(s, "contentBlockDelta", payload);
}


/*
 * vLLM's tool parsers may send a call's whole arguments again after
 * their fragments: a fragment that starts an object once the arguments
 * so far are a complete JSON value is dropped (no call's arguments go
 * on after their closing brace)
 */

static int
ac_openai_repeated(ac_openai_stream_t *s, ac_openai_call_t *call,
    const char *frag, size_t len)
{
    json_t  *v;

    if (call->args.len && len && frag[0] == '{') {
        v = json_loadb(call->args.data, call->args.len, JSON_DECODE_ANY,
                       NULL);

        if (v != NULL) {
            json_decref(v);
            return 1;
        }
    }

    /* past the limit, the arguments are not kept (and not checked) */
    (void) ac_pbuf_append(&call->args, frag, len, s->sse.max);

    return 0;
}


/* finish_reason, or [DONE] (NULL) without one: blocks stop, then the turn */

static int
ac_openai_finish(ac_openai_stream_t *s, const char *reason)
{
    int          rc;
    size_t       i;
    const char  *stop;

    if (s->stopped) {
        return 0;
    }

    s->stopped = 1;

    for (i = 0; i < s->next_block; i++) {
        rc = ac_openai_event(s, "contentBlockStop",
                             json_pack("{s:I}", "contentBlockIndex",
                                       (json_int_t) i));
        if (rc != 0) {
            return rc;
        }
    }

    if (reason == NULL) {
        stop = s->ncalls ? "tool_use" : "end_turn";

    } else if (strcmp(reason, "tool_calls") == 0
               || strcmp(reason, "function_call") == 0)
    {
        stop = "tool_use";

    } else if (strcmp(reason, "length") == 0) {
        stop = "max_tokens";

    } else if (strcmp(reason, "content_filter") == 0) {
        stop = "content_filtered";

    } else {
        /* "stop", "eos", and the rest */
        stop = "end_turn";
    }

    return ac_openai_event(s, "messageStop",
                           json_pack("{s:s}", "stopReason", stop));
}


static int
ac_openai_usage(ac_openai_stream_t *s, json_t *usage)
{
    json_t  *u, *v;

    u = json_object();
    if (u == NULL) {
        return AC_STREAM_CORRUPT;
    }

    v = json_object_get(usage, "prompt_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "inputTokens", v);
    }

    v = json_object_get(usage, "completion_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "outputTokens", v);
    }

    v = json_object_get(usage, "total_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "totalTokens", v);
    }

    v = json_object_get(json_object_get(usage, "prompt_tokens_details"),
                        "cached_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "cacheReadInputTokens", v);
    }

    return ac_openai_event(s, "metadata", json_pack("{s:o}", "usage", u));
}


/*
 * {"error":{"message","type","code"}} after HTTP 200: an exception of
 * the Bedrock name that means the same, for the texts and the retries
 */

static int
ac_openai_error(ac_openai_stream_t *s, json_t *error)
{
    int          rc, code;
    char        *m;
    json_t      *v;
    const char  *type, *ctype, *name, *msg;

    v = json_object_get(error, "message");
    msg = json_string_value(v);
    m = NULL;

    if (msg == NULL) {
        m = json_dumps(error, JSON_COMPACT | JSON_ENCODE_ANY);
        msg = m ? m : "";
    }

    type = json_string_value(json_object_get(error, "type"));
    v = json_object_get(error, "code");
    ctype = json_string_value(v);
    code = json_is_integer(v) ? (int) json_integer_value(v) : 0;

#define ac_has(s, w)  ((s) != NULL && strstr(s, w) != NULL)

    if (ac_has(type, "rate_limit") || ac_has(ctype, "rate_limit")
        || code == 429)
    {
        name = "throttlingException";

    } else if (ac_has(type, "overloaded") || ac_has(type, "unavailable")
               || code == 503 || code == 529)
    {
        name = "serviceUnavailableException";

    } else if (ac_has(type, "invalid_request") || code == 400) {
        name = "validationException";

    } else if (ac_has(type, "server_error") || code == 500) {
        name = "internalServerException";

    } else {
        name = "modelStreamErrorException";
    }

#undef ac_has

    rc = ac_turn_feed_exception(s->turn, name, msg, strlen(msg));

    free(m);

    return (rc == AC_TURN_ERROR) ? AC_STREAM_TURN_ERROR : rc;
}


/* one Converse event to the turn; payload is taken (NULL: no memory) */

static int
ac_openai_event(ac_openai_stream_t *s, const char *type, json_t *payload)
{
    int     rc;
    char   *p;

    if (payload == NULL) {
        snprintf(s->sse.error, sizeof(s->sse.error), "out of memory");
        return AC_STREAM_CORRUPT;
    }

    p = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);

    if (p == NULL) {
        snprintf(s->sse.error, sizeof(s->sse.error), "out of memory");
        return AC_STREAM_CORRUPT;
    }

    rc = ac_turn_feed_event(s->turn, type, p, strlen(p));

    free(p);

    return (rc == AC_TURN_ERROR) ? AC_STREAM_TURN_ERROR : rc;
}


static int
ac_openai_pending(const ac_model_stream_t *stream)
{
    const ac_openai_stream_t  *s = (const ac_openai_stream_t *) stream;

    return ac_sse_pending(&s->sse);
}


static const char *
ac_openai_stream_error(const ac_model_stream_t *stream)
{
    const ac_openai_stream_t  *s = (const ac_openai_stream_t *) stream;

    return s->sse.error;
}


static void
ac_openai_destroy(ac_model_stream_t *stream)
{
    size_t               i;
    ac_openai_stream_t  *s = (ac_openai_stream_t *) stream;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < s->ncalls; i++) {
        free(s->calls[i].id);
        free(s->calls[i].args.data);
    }

    ac_sse_free(&s->sse);
    free(s);
}
