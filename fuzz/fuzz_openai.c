/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: the OpenAI Chat Completions stream decoder
 * (ngx_http_agentcore_openai.c) feeding the ConverseStream turn
 * assembler, fed the input whole, split at a data-derived point, and
 * byte by byte: all three must end the same (result, texts and their
 * boundaries' count aside, the assistant message, stop reason, error
 * and its type, usage, pending).  The first byte chooses the split and
 * whether the rest is also read as a JSON history whose OpenAI request,
 * when built, must be a JSON object; and the HTTP error text of the
 * input as a body must be a bounded NUL-terminated string.
 */


#include "ngx_http_agentcore_openai.h"


#define FUZZ_PROVIDER  ac_provider_openai

#include "fuzz_provider.h"
