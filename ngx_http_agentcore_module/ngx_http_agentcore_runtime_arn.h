
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * AgentCore Runtime addressing, plain C: the runtime ARN, the endpoint
 * host, the InvokeAgentRuntime path and query on the wire, and the
 * session id the SDKs generate.
 */


#ifndef _NGX_HTTP_AGENTCORE_RUNTIME_ARN_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_RUNTIME_ARN_H_INCLUDED_


#include <stddef.h>


/* the longest ARN, qualifier and host accepted */
#define AC_RUNTIME_ARN_MAX        256
#define AC_RUNTIME_QUALIFIER_MAX  128
#define AC_RUNTIME_HOST_MAX       80


/* "arn:PARTITION:bedrock-agentcore:REGION:ACCOUNT:runtime/ID", parsed */

typedef struct {
    const char              *partition;    /* into the ARN, not NUL-ended */
    size_t                   partition_len;
    const char              *region;
    size_t                   region_len;
    const char              *account;
    size_t                   account_len;
    const char              *id;
    size_t                   id_len;
} ac_runtime_arn_t;


/*
 * Parses a runtime ARN.  Returns 0, or -1 with *error set to a static
 * text saying what is wrong: the partition ([a-z-]), the service
 * ("bedrock-agentcore"), the region ([a-z0-9-], up to 31), the account
 * (12 digits), the resource ("runtime/" and an id of [A-Za-z0-9_-], up
 * to 100).
 */
int ac_runtime_arn_parse(const char *arn, size_t len, ac_runtime_arn_t *out,
    const char **error);

/*
 * A qualifier (an endpoint name or a version): 1 to 128 bytes of
 * [A-Za-z0-9_-].  Returns 1 if good.
 */
int ac_runtime_qualifier_valid(const char *q, size_t len);

/*
 * The data plane's host for the ARN's partition and region:
 * "bedrock-agentcore.REGION.amazonaws.com" ("...amazonaws.com.cn" in
 * aws-cn) + NUL.  out holds AC_RUNTIME_HOST_MAX bytes.  Returns the
 * length, or 0 if it does not fit.
 */
size_t ac_runtime_host(const ac_runtime_arn_t *arn, char *out);

/*
 * The path and query on the wire, as the SDKs send them:
 * "/runtimes/" + the ARN with every byte outside A-Za-z0-9-._~ as %XX,
 * "/invocations?qualifier=" + the qualifier, encoded alike (no query
 * when qualifier_len is 0) + NUL.  out holds 3 * (len + qualifier_len)
 * + 64 bytes.  Returns the length; *query_at is the offset of the
 * query (after '?'), or the length when there is none.
 */
size_t ac_runtime_wire_path(const char *arn, size_t len,
    const char *qualifier, size_t qualifier_len, char *out,
    size_t *query_at);

/*
 * A version 4 UUID from 16 random bytes, as botocore fills the
 * runtimeSessionId idempotency token: 36 lower-case characters + NUL.
 */
void ac_runtime_uuid4(const unsigned char random[16], char out[37]);


#endif /* _NGX_HTTP_AGENTCORE_RUNTIME_ARN_H_INCLUDED_ */
