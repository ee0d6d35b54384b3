
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The Anthropic Messages API (ngx_http_agentcore_anthropic.c): one
 * implementation of the model-call interface.
 */


#ifndef _NGX_HTTP_AGENTCORE_ANTHROPIC_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_ANTHROPIC_H_INCLUDED_


#include "ngx_http_agentcore_provider.h"


/* "max_tokens" is required: this when agentcore_max_tokens is unset */
#define AC_ANTHROPIC_MAX_TOKENS  4096

#define AC_ANTHROPIC_VERSION     "2023-06-01"


extern const ac_provider_t  ac_provider_anthropic;


#endif /* _NGX_HTTP_AGENTCORE_ANTHROPIC_H_INCLUDED_ */
