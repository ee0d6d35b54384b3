
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * OpenAI-compatible Chat Completions (ngx_http_agentcore_openai.c):
 * one implementation of the model-call interface.
 */


#ifndef _NGX_HTTP_AGENTCORE_OPENAI_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_OPENAI_H_INCLUDED_


#include "ngx_http_agentcore_provider.h"


extern const ac_provider_t  ac_provider_openai;


#endif /* _NGX_HTTP_AGENTCORE_OPENAI_H_INCLUDED_ */
