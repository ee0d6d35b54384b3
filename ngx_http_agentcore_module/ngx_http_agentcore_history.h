
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * A conversation's history, plain C on jansson (no nginx types): the
 * sliding window Strands applies after each invocation, the repair of
 * a history that ends in an unanswered toolUse, the user turn, and a
 * compact binary form of a history for shared memory.
 */


#ifndef _NGX_HTTP_AGENTCORE_HISTORY_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_HISTORY_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>

#include "ngx_http_agentcore_reference.h"


/* SlidingWindowConversationManager(window_size=40) */
#define AC_HISTORY_WINDOW             40

/* the deepest JSON value the binary form holds */
#define AC_HISTORY_MAX_DEPTH          256

#define AC_HISTORY_INTERRUPTED        AC_REF_TOOL_INTERRUPTED


/*
 * Strands' sliding window (runtime-contract.md 8.5): with more than
 * "window" messages, the oldest len - window go, and the cut moves on
 * until the history starts with a user message that holds no
 * toolResult and holds a toolUse only if a toolResult follows.  With no
 * such message, the cut falls on the first assistant(toolUse) that a
 * user(toolResult) follows.  With neither, nothing is removed.  Returns
 * the number of messages removed.
 */
size_t ac_history_trim(json_t *messages, size_t window);

/*
 * The first index in 1 .. last where the history may start, by the rule
 * of ac_history_trim() (a user message that holds no toolResult, and a
 * toolUse only if a toolResult follows), or 0 if there is none.  Removing
 * the messages before it is what Strands' context-overflow recovery does
 * (at least the two oldest messages go, then the cut moves on to such a
 * message); "last" keeps a part of the history (the turn in progress)
 * from being cut.
 */
size_t ac_history_cut_point(json_t *messages, size_t last);

/*
 * When the last message holds toolUse blocks (its tools never
 * answered), appends the user message Strands appends before the next
 * turn: one {"toolResult": {"toolUseId", "status": "error",
 * "content": [{"text": "Tool was interrupted."}]}} per toolUse, in
 * order.  Returns the number of results added, or -1 (no memory).
 */
int ac_history_repair(json_t *messages);

/*
 * An assistant message cut by max_tokens, as Strands keeps it
 * (recover_message_on_max_tokens_reached): each toolUse block becomes
 * {"text": "The selected tool <name>'s tool use was incomplete due to
 * maximum token limits being reached."}.  Returns the number of blocks
 * replaced, or -1 (no memory).
 */
int ac_history_max_tokens(json_t *message);

/*
 * Appends the user turn {"role": "user", "content": [{"text": ..}]}.
 * If the history already ends with a user message (the results of
 * interrupted tools, or the prompt of a turn that failed), the text
 * joins that message as one more block, so roles keep alternating as
 * Bedrock requires.  Returns 0, or -1 (no memory, text not a string).
 */
int ac_history_add_user_text(json_t *messages, json_t *text);

/*
 * The same for a prompt: a string (as above), or an array of content
 * blocks (ac_content_prompt()'s), each appended as it is.  Returns 0,
 * or -1 (no memory, neither a string nor an array).
 */
int ac_history_add_user(json_t *messages, json_t *prompt);

/*
 * The binary form: "ACH" 0x01, then the array as a tagged value
 * (lengths and counts as varints, common keys and strings as one-byte
 * references, a string that is canonical base64, as an image's bytes,
 * as its decoded bytes).  ac_history_encode() writes at most out_len bytes and
 * returns the full length (out may be NULL to measure); 0 if the
 * value is not an array or nests deeper than AC_HISTORY_MAX_DEPTH.
 */
size_t ac_history_encode(json_t *messages, unsigned char *out,
    size_t out_len);

/*
 * The array back from its binary form, a new reference; NULL with
 * *error set (a static string) for anything malformed: truncated,
 * trailing bytes, bad tag, invalid UTF-8, too deep, NaN.
 */
json_t *ac_history_decode(const unsigned char *p, size_t len,
    const char **error);


#endif /* _NGX_HTTP_AGENTCORE_HISTORY_H_INCLUDED_ */
