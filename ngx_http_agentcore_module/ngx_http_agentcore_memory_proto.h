
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Memory's data plane, plain C (jansson, no nginx types): the
 * bodies of CreateEvent and ListEvents (rest-json, botocore's
 * bedrock-agentcore 2024-02-28) for a session's Converse messages, and
 * ListEvents pages read back into Converse messages, oldest first.
 *
 * The layout is the one of Strands' AgentCoreMemorySessionManager
 * (bedrock-agentcore-sdk-python, memory/integrations/strands), so that
 * either can read what the other wrote:
 *
 *   - one event per message;
 *   - its payload one item, {"conversational": {"content": {"text": T},
 *     "role": R}}, R the message's role upper-cased (USER, ASSISTANT),
 *     T the JSON text of Strands' SessionMessage:
 *     {"message": {role, content}, "message_id": N, "redact_message":
 *     null, "created_at": ISO 8601, "updated_at": ISO 8601}, binary
 *     values (base64 in Converse JSON) as {"__bytes_encoded__": true,
 *     "data": base64};
 *   - a text too long for a conversational item: {"blob": J}, J the
 *     JSON text of the array [T, R].
 */


#ifndef _NGX_HTTP_AGENTCORE_MEMORY_PROTO_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_MEMORY_PROTO_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* the service's limits (the API's constraints) */
#define AC_MEMORY_MAX_TEXT      100000  /* characters of conversational
                                           text */
#define AC_MEMORY_MAX_RESULTS   100     /* ListEvents maxResults */


/*
 * AgentCore Memory's role of a Converse role: "user" "USER",
 * "assistant" "ASSISTANT"; NULL for any other.
 */
const char *ac_memory_role(const char *role);


/*
 * The stored text of a Converse message (Strands' SessionMessage as
 * JSON), malloc'd; timestamp in epoch seconds gives created_at and
 * updated_at.  NULL: not a message ({"role": "user" | "assistant",
 * "content": [objects]}), or no memory; err says which.
 */
char *ac_memory_message_text(json_t *message, long message_id,
    double timestamp, size_t *len, char *err, size_t errlen);


/*
 * The body of CreateEvent for one message: actorId, sessionId,
 * eventTimestamp (epoch seconds), the payload item (conversational, or
 * blob past AC_MEMORY_MAX_TEXT characters), clientToken if not NULL
 * (the same token makes a retried call create the event once).
 * malloc'd, compact JSON; NULL as ac_memory_message_text().
 */
char *ac_memory_create_event(const char *actor_id, const char *session_id,
    double timestamp, json_t *message, long message_id,
    const char *client_token, size_t *len, char *err, size_t errlen);


/*
 * The body of ListEvents: maxResults (clamped to 1..100),
 * includePayloads, nextToken if not NULL.  malloc'd; NULL: no memory.
 */
char *ac_memory_list_events(int max_results, const char *next_token,
    int include_payloads, size_t *len);


/*
 * ListEvents pages, collected until the last, then the session's
 * Converse messages, ordered by eventTimestamp.  The order of events
 * within a page is not documented; Strands' reader takes them as
 * newest first, so events with one timestamp keep the reverse of the
 * order they came in (the items of one event keep theirs).
 */

typedef struct {
    json_t      *items;      /* [timestamp, arrival, item, message] */
    size_t       events;
    size_t       skipped;    /* items that are not a Converse message */
} ac_memory_history_t;


void ac_memory_history_init(ac_memory_history_t *h);

/*
 * One ListEvents response body: 0, and *next_token the page's nextToken
 * (malloc'd) or NULL on the last page; -1: not a ListEvents response,
 * or an event that is not well formed (err says which: the history is
 * not to be trusted then).  Items that are not messages (blobs of other
 * writers, TOOL and OTHER roles, empty after Strands' filter of blank
 * text blocks) are skipped and counted.
 */
int ac_memory_history_add_page(ac_memory_history_t *h, const char *body,
    size_t len, char **next_token, char *err, size_t errlen);

/* the messages so far, oldest first: a new array, NULL: no memory */
json_t *ac_memory_history_messages(ac_memory_history_t *h);

void ac_memory_history_free(ac_memory_history_t *h);


#endif /* _NGX_HTTP_AGENTCORE_MEMORY_PROTO_H_INCLUDED_ */
