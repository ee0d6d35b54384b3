
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The Anthropic Messages API (POST /v1/messages, "stream": true), plain
 * C (jansson, no nginx types): the request built from the Converse
 * history and request end, and the SSE response decoded into the turn's
 * Converse events.
 *
 * The stream: message_start (usage: input and cache tokens),
 * content_block_start (index, content_block text / tool_use {id, name} /
 * thinking), content_block_delta (text_delta, input_json_delta
 * fragments that are JSON only once joined, thinking_delta,
 * signature_delta), content_block_stop, message_delta (stop_reason;
 * usage, cumulative: the last counts), message_stop, ping, and error
 * ({"error": {"type": "overloaded_error", ...}}) after HTTP 200; other
 * event types are skipped.  Anthropic's block index is the turn's
 * contentBlockIndex.
 */


#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "ngx_http_agentcore_anthropic.h"


typedef struct {
    ac_turn_t               *turn;
    ac_sse_reader_t          sse;

    json_t                  *usage;     /* the last seen, merged */
    char                     stop[32];  /* message_delta's stop_reason */
} ac_anthropic_stream_t;


static char *ac_anthropic_request(json_t *messages, const char *suffix,
    size_t suffix_len, const char *model, size_t *len);
static json_t *ac_anthropic_content(json_t *content);
static json_t *ac_anthropic_result(json_t *tr);
static json_t *ac_anthropic_tools(json_t *tools);
static ac_model_stream_t *ac_anthropic_create(ac_turn_t *turn,
    size_t max_message);
static int ac_anthropic_feed(ac_model_stream_t *s, const unsigned char *p,
    size_t n);
static int ac_anthropic_dispatch(void *ctx, const char *data, size_t len);
static int ac_anthropic_block_start(ac_anthropic_stream_t *s, json_t *root);
static int ac_anthropic_block_delta(ac_anthropic_stream_t *s, json_t *root);
static void ac_anthropic_usage(ac_anthropic_stream_t *s, json_t *usage);
static int ac_anthropic_stop(ac_anthropic_stream_t *s);
static int ac_anthropic_error(ac_anthropic_stream_t *s, json_t *error);
static int ac_anthropic_event(ac_anthropic_stream_t *s, const char *type,
    json_t *payload);
static int ac_anthropic_pending(const ac_model_stream_t *s);
static const char *ac_anthropic_stream_error(const ac_model_stream_t *s);
static void ac_anthropic_destroy(ac_model_stream_t *s);


const ac_provider_t  ac_provider_anthropic = {
    "anthropic",
    ac_anthropic_request,
    ac_anthropic_create,
    ac_anthropic_feed,
    ac_anthropic_pending,
    ac_anthropic_stream_error,
    ac_anthropic_destroy,
    ac_provider_http_error
};


/* request */

/*
 * {"model":..,"max_tokens":N,"system":"..","messages":[..],
 *  "tools":[{name,description,input_schema}],"stream":true}
 */

static char *
ac_anthropic_request(json_t *messages, const char *suffix, size_t suffix_len,
    const char *model, size_t *len)
{
    char    *s, *conf_json, *text;
    size_t   i, n;
    json_t  *conf, *body, *v, *msgs, *m, *content, *role, *b;

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
    msgs = json_array();

    if (body == NULL || msgs == NULL
        || json_object_set_new(body, "model", json_string(model ? model : "")))
    {
        json_decref(msgs);
        goto done;
    }

    v = json_object_get(json_object_get(conf, "inferenceConfig"),
                        "maxTokens");

    if (json_object_set_new(body, "max_tokens",
                            json_is_integer(v)
                            ? json_incref(v)
                            : json_integer(AC_ANTHROPIC_MAX_TOKENS)))
    {
        json_decref(msgs);
        goto done;
    }

    /* the system prompt's text blocks, joined */

    v = json_object_get(conf, "system");
    n = 0;
    text = NULL;

    json_array_foreach(v, i, b) {
        if (json_is_string(json_object_get(b, "text"))) {
            n++;
        }
    }

    if (n) {
        ac_pbuf_t  buf = { NULL, 0, 0 };

        n = 0;

        json_array_foreach(v, i, b) {
            m = json_object_get(b, "text");

            if (!json_is_string(m)) {
                continue;
            }

            if ((n++ && ac_pbuf_append(&buf, "\n", 1, (size_t) -1))
                || ac_pbuf_append(&buf, json_string_value(m),
                                  json_string_length(m), (size_t) -1))
            {
                free(buf.data);
                json_decref(msgs);
                goto done;
            }
        }

        text = buf.data;

        if (json_object_set_new(body, "system",
                                json_stringn(text ? text : "", buf.len)))
        {
            free(text);
            json_decref(msgs);
            goto done;
        }

        free(text);
    }

    if (json_object_set_new(body, "messages", msgs)) {
        goto done;
    }

    json_array_foreach(messages, i, m) {
        role = json_object_get(m, "role");

        if (!json_is_string(role)) {
            continue;
        }

        content = ac_anthropic_content(json_object_get(m, "content"));

        if (content == NULL
            || json_array_append_new(msgs,
                                     json_pack("{s:O,s:o}", "role", role,
                                               "content", content)))
        {
            goto done;
        }
    }

    v = json_object_get(json_object_get(conf, "toolConfig"), "tools");

    if (json_array_size(v)) {
        if (json_object_set_new(body, "tools", ac_anthropic_tools(v))) {
            goto done;
        }
    }

    if (json_object_set_new(body, "stream", json_true())) {
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


/* Converse content blocks -> Anthropic's; images and the rest dropped */

static json_t *
ac_anthropic_content(json_t *content)
{
    size_t   i;
    json_t  *out, *b, *v, *o, *item;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    json_array_foreach(content, i, b) {
        item = NULL;

        if (json_is_string(v = json_object_get(b, "text"))) {
            item = json_pack("{s:s,s:O}", "type", "text", "text", v);

        } else if (json_is_object(v = json_object_get(b, "toolUse"))) {
            o = json_object_get(v, "input");

            item = json_pack("{s:s,s:O?,s:O?,s:o}", "type", "tool_use",
                             "id", json_object_get(v, "toolUseId"),
                             "name", json_object_get(v, "name"),
                             "input", json_is_object(o) ? json_incref(o)
                                                        : json_object());

        } else if (json_is_object(v = json_object_get(b, "toolResult"))) {
            item = ac_anthropic_result(v);

        } else if (json_is_object(v = json_object_get(b,
                                                      "reasoningContent")))
        {
            /* thinking goes back only with its signature */

            o = json_object_get(v, "reasoningText");

            if (json_is_string(json_object_get(o, "signature"))) {
                item = json_pack("{s:s,s:O?,s:O}", "type", "thinking",
                                 "thinking", json_object_get(o, "text"),
                                 "signature",
                                 json_object_get(o, "signature"));
            }

            if (item == NULL) {
                continue;
            }

        } else {
            continue;
        }

        if (item == NULL || json_array_append_new(out, item)) {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


static json_t *
ac_anthropic_result(json_t *tr)
{
    char        *j;
    size_t       i;
    json_t      *blocks, *b, *v, *item;
    const char  *status;

    blocks = json_array();
    if (blocks == NULL) {
        return NULL;
    }

    json_array_foreach(json_object_get(tr, "content"), i, b) {
        v = json_object_get(b, "text");

        if (json_is_string(v)) {
            item = json_pack("{s:s,s:O}", "type", "text", "text", v);

        } else if ((v = json_object_get(b, "json")) != NULL) {
            j = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            item = j ? json_pack("{s:s,s:s}", "type", "text", "text", j)
                     : NULL;
            free(j);

        } else {
            continue;
        }

        if (item == NULL || json_array_append_new(blocks, item)) {
            json_decref(blocks);
            return NULL;
        }
    }

    status = json_string_value(json_object_get(tr, "status"));

    return json_pack("{s:s,s:O?,s:o,s:b}", "type", "tool_result",
                     "tool_use_id", json_object_get(tr, "toolUseId"),
                     "content", blocks,
                     "is_error", status && strcmp(status, "error") == 0);
}


static json_t *
ac_anthropic_tools(json_t *tools)
{
    size_t   i;
    json_t  *out, *t, *spec, *schema, *item;

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    json_array_foreach(tools, i, t) {
        spec = json_object_get(t, "toolSpec");

        if (!json_is_object(spec)) {
            continue;
        }

        schema = json_object_get(json_object_get(spec, "inputSchema"),
                                 "json");

        item = json_pack("{s:O?,s:O?,s:o}",
                         "name", json_object_get(spec, "name"),
                         "description", json_object_get(spec, "description"),
                         "input_schema",
                         schema ? json_incref(schema)
                                : json_pack("{s:s}", "type", "object"));

        if (item == NULL || json_array_append_new(out, item)) {
            json_decref(out);
            return NULL;
        }
    }

    return out;
}


/* response */

static ac_model_stream_t *
ac_anthropic_create(ac_turn_t *turn, size_t max_message)
{
    ac_anthropic_stream_t  *s;

    s = calloc(1, sizeof(ac_anthropic_stream_t));
    if (s == NULL) {
        return NULL;
    }

    s->turn = turn;
    s->sse.max = max_message;

    return (ac_model_stream_t *) s;
}


static int
ac_anthropic_feed(ac_model_stream_t *stream, const unsigned char *p,
    size_t n)
{
    ac_anthropic_stream_t  *s = (ac_anthropic_stream_t *) stream;

    return ac_sse_read(&s->sse, p, n, ac_anthropic_dispatch, s);
}


static int
ac_anthropic_dispatch(void *ctx, const char *data, size_t len)
{
    int                     rc;
    json_t                 *root, *v;
    const char             *type, *reason;
    json_error_t            jerr;
    ac_anthropic_stream_t  *s = ctx;

    root = json_loadb(data, len, 0, &jerr);

    if (!json_is_object(root)) {
        snprintf(s->sse.error, sizeof(s->sse.error),
                 "an event that is not a JSON object (%.80s)",
                 root ? "another JSON value" : jerr.text);
        json_decref(root);
        return AC_STREAM_CORRUPT;
    }

    type = json_string_value(json_object_get(root, "type"));
    rc = 0;

    if (type == NULL) {
        /* not an event of the API: skipped */

    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = ac_anthropic_block_delta(s, root);

    } else if (strcmp(type, "content_block_start") == 0) {
        rc = ac_anthropic_block_start(s, root);

    } else if (strcmp(type, "content_block_stop") == 0) {
        v = json_object_get(root, "index");

        if (json_is_integer(v)) {
            rc = ac_anthropic_event(s, "contentBlockStop",
                                    json_pack("{s:O}", "contentBlockIndex",
                                              v));
        }

    } else if (strcmp(type, "message_start") == 0) {
        ac_anthropic_usage(s, json_object_get(json_object_get(root,
                                                              "message"),
                                              "usage"));

    } else if (strcmp(type, "message_delta") == 0) {
        reason = json_string_value(
                     json_object_get(json_object_get(root, "delta"),
                                     "stop_reason"));
        if (reason) {
            snprintf(s->stop, sizeof(s->stop), "%s", reason);
        }

        ac_anthropic_usage(s, json_object_get(root, "usage"));

    } else if (strcmp(type, "message_stop") == 0) {
        rc = ac_anthropic_stop(s);

    } else if (strcmp(type, "error") == 0) {
        rc = ac_anthropic_error(s, json_object_get(root, "error"));
    }

    /* ping and unknown events: skipped */

    json_decref(root);

    return rc;
}


static int
ac_anthropic_block_start(ac_anthropic_stream_t *s, json_t *root)
{
    json_t      *index, *cb, *v;
    const char  *type, *id, *name;

    index = json_object_get(root, "index");
    cb = json_object_get(root, "content_block");
    type = json_string_value(json_object_get(cb, "type"));

    if (!json_is_integer(index) || type == NULL) {
        return 0;
    }

    if (strcmp(type, "tool_use") == 0) {
        id = json_string_value(json_object_get(cb, "id"));
        name = json_string_value(json_object_get(cb, "name"));

        return ac_anthropic_event(s, "contentBlockStart",
                   json_pack("{s:O,s:{s:{s:s,s:s}}}",
                             "contentBlockIndex", index,
                             "start", "toolUse",
                             "toolUseId", id ? id : "",
                             "name", name ? name : ""));
    }

    if (strcmp(type, "text") == 0) {
        /* text in the start itself (none in practice) */

        v = json_object_get(cb, "text");

        if (json_is_string(v) && json_string_length(v)) {
            return ac_anthropic_event(s, "contentBlockDelta",
                       json_pack("{s:O,s:{s:O}}", "contentBlockIndex", index,
                                 "delta", "text", v));
        }
    }

    return 0;
}


static int
ac_anthropic_block_delta(ac_anthropic_stream_t *s, json_t *root)
{
    json_t      *index, *d, *v;
    const char  *type;

    index = json_object_get(root, "index");
    d = json_object_get(root, "delta");
    type = json_string_value(json_object_get(d, "type"));

    if (!json_is_integer(index) || type == NULL) {
        return 0;
    }

    if (strcmp(type, "text_delta") == 0) {
        v = json_object_get(d, "text");

        if (!json_is_string(v) || json_string_length(v) == 0) {
            return 0;
        }

        return ac_anthropic_event(s, "contentBlockDelta",
                   json_pack("{s:O,s:{s:O}}", "contentBlockIndex", index,
                             "delta", "text", v));
    }

    if (strcmp(type, "input_json_delta") == 0) {
        v = json_object_get(d, "partial_json");

        if (!json_is_string(v) || json_string_length(v) == 0) {
            return 0;
        }

        return ac_anthropic_event(s, "contentBlockDelta",
                   json_pack("{s:O,s:{s:{s:O}}}", "contentBlockIndex", index,
                             "delta", "toolUse", "input", v));
    }

    if (strcmp(type, "thinking_delta") == 0
        && json_is_string(v = json_object_get(d, "thinking")))
    {
        return ac_anthropic_event(s, "contentBlockDelta",
                   json_pack("{s:O,s:{s:{s:O}}}", "contentBlockIndex", index,
                             "delta", "reasoningContent", "text", v));
    }

    if (strcmp(type, "signature_delta") == 0
        && json_is_string(v = json_object_get(d, "signature")))
    {
        return ac_anthropic_event(s, "contentBlockDelta",
                   json_pack("{s:O,s:{s:{s:O}}}", "contentBlockIndex", index,
                             "delta", "reasoningContent", "signature", v));
    }

    return 0;
}


/* message_start's, then message_delta's: each member the last seen */

static void
ac_anthropic_usage(ac_anthropic_stream_t *s, json_t *usage)
{
    if (!json_is_object(usage)) {
        return;
    }

    if (s->usage == NULL) {
        s->usage = json_object();
        if (s->usage == NULL) {
            return;
        }
    }

    json_object_update(s->usage, usage);
}


static int
ac_anthropic_stop(ac_anthropic_stream_t *s)
{
    int          rc;
    json_t      *u, *v;
    json_int_t   in, out;
    const char  *stop;

    stop = s->stop;

    if (*stop == '\0' || strcmp(stop, "pause_turn") == 0
        || strcmp(stop, "refusal") == 0)
    {
        stop = "end_turn";
    }

    rc = ac_anthropic_event(s, "messageStop",
                            json_pack("{s:s}", "stopReason", stop));
    if (rc != 0 || s->usage == NULL) {
        return rc;
    }

    u = json_object();
    if (u == NULL) {
        return AC_STREAM_CORRUPT;
    }

    v = json_object_get(s->usage, "input_tokens");
    in = json_is_integer(v) ? json_integer_value(v) : 0;
    v = json_object_get(s->usage, "output_tokens");
    out = json_is_integer(v) ? json_integer_value(v) : 0;

    json_object_set_new(u, "inputTokens", json_integer(in));
    json_object_set_new(u, "outputTokens", json_integer(out));
    json_object_set_new(u, "totalTokens", json_integer(in + out));

    v = json_object_get(s->usage, "cache_read_input_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "cacheReadInputTokens", v);
    }

    v = json_object_get(s->usage, "cache_creation_input_tokens");
    if (json_is_integer(v)) {
        json_object_set(u, "cacheWriteInputTokens", v);
    }

    return ac_anthropic_event(s, "metadata", json_pack("{s:o}", "usage", u));
}


/*
 * {"type":"error","error":{"type":"overloaded_error","message":..}}:
 * an exception of the Bedrock name that means the same
 */

static int
ac_anthropic_error(ac_anthropic_stream_t *s, json_t *error)
{
    int          rc;
    char        *m;
    const char  *type, *name, *msg;

    msg = json_string_value(json_object_get(error, "message"));
    m = NULL;

    if (msg == NULL) {
        m = json_dumps(error, JSON_COMPACT | JSON_ENCODE_ANY);
        msg = m ? m : "";
    }

    type = json_string_value(json_object_get(error, "type"));
    if (type == NULL) {
        type = "";
    }

    if (strcmp(type, "rate_limit_error") == 0) {
        name = "throttlingException";

    } else if (strcmp(type, "overloaded_error") == 0) {
        name = "serviceUnavailableException";

    } else if (strcmp(type, "api_error") == 0) {
        name = "internalServerException";

    } else if (strcmp(type, "invalid_request_error") == 0) {
        name = "validationException";

    } else if (strcmp(type, "timeout_error") == 0) {
        name = "modelTimeoutException";

    } else {
        name = "modelStreamErrorException";
    }

    rc = ac_turn_feed_exception(s->turn, name, msg, strlen(msg));

    free(m);

    return (rc == AC_TURN_ERROR) ? AC_STREAM_TURN_ERROR : rc;
}


/* one Converse event to the turn; payload is taken (NULL: no memory) */

static int
ac_anthropic_event(ac_anthropic_stream_t *s, const char *type,
    json_t *payload)
{
    int    rc;
    char  *p;

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
ac_anthropic_pending(const ac_model_stream_t *stream)
{
    const ac_anthropic_stream_t  *s;

    s = (const ac_anthropic_stream_t *) stream;

    return ac_sse_pending(&s->sse);
}


static const char *
ac_anthropic_stream_error(const ac_model_stream_t *stream)
{
    const ac_anthropic_stream_t  *s;

    s = (const ac_anthropic_stream_t *) stream;

    return s->sse.error;
}


static void
ac_anthropic_destroy(ac_model_stream_t *stream)
{
    ac_anthropic_stream_t  *s = (ac_anthropic_stream_t *) stream;

    if (s == NULL) {
        return;
    }

    ac_sse_free(&s->sse);
    json_decref(s->usage);
    free(s);
}
