
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The texts the reference runtime (Strands Agents, in the AgentCore
 * tutorial) writes and the module writes the same: stream_error
 * messages and the texts it puts into the conversation.  One table,
 * each entry with the release and source line it was taken from;
 * unit/vectors/check_reference_texts.py checks each one against an
 * installed reference (pip install strands-agents==<version>).
 * Plain C, string literals only: usable in static initializers and in
 * ngx_string().
 */


#ifndef _NGX_HTTP_AGENTCORE_REFERENCE_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_REFERENCE_H_INCLUDED_


/* the release the texts below were read from */
#define AC_REF_VERSION          "strands-agents 1.62.0"

/*
 * stream_error of a max_tokens stop: strands-agents 1.62.0,
 * event_loop/event_loop.py:319 (MaxTokensReachedException).  Up to
 * 1.61 it read "Agent has reached an unrecoverable state due to
 * max_tokens limit. For more information see: https://strandsagents.com/
 * latest/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception"
 */
#define AC_REF_MAX_TOKENS                                                    \
    "Model stopped generating due to maximum token limit. "                  \
    "The partial message has been added to the conversation history. "       \
    "You can continue by calling the agent again. "                          \
    "For more information see: "                                             \
    "https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/"  \
    "#maxtokensreachedexception"

/*
 * the text block that replaces each toolUse of a message cut by
 * max_tokens, around the tool's name ("<unknown>" if none):
 * strands-agents 1.62.0,
 * event_loop/_recover_message_on_max_tokens_reached.py:66
 */
#define AC_REF_MAX_TOKENS_TOOL_PRE   "The selected tool "
#define AC_REF_MAX_TOKENS_TOOL_POST                                          \
    "'s tool use was incomplete due to maximum token limits being reached."
#define AC_REF_MAX_TOKENS_TOOL_NONAME  "<unknown>"

/*
 * stream_error of a second invocation while one runs:
 * strands-agents 1.62.0, agent/agent.py:1488 (ConcurrencyException;
 * the same text since 1.22.0)
 */
#define AC_REF_CONCURRENT                                                    \
    "Agent is already processing a request. Concurrent invocations are "     \
    "not supported."

/*
 * the toolResult text for a toolUse left unanswered in the history:
 * strands-agents 1.62.0, tools/_tool_helpers.py:26
 */
#define AC_REF_TOOL_INTERRUPTED  "Tool was interrupted."

/*
 * what a blank assistant text block becomes: strands-agents 1.62.0,
 * event_loop/streaming.py:74
 */
#define AC_REF_BLANK_TEXT        "[blank text]"

/*
 * the toolResult text for a tool the agent does not have, before the
 * name: strands-agents 1.62.0, tools/executors/_executor.py:654
 */
#define AC_REF_UNKNOWN_TOOL      "Unknown tool: "


#endif /* _NGX_HTTP_AGENTCORE_REFERENCE_H_INCLUDED_ */
