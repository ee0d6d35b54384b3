
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Credentials: static keys or a Bedrock API key from the worker's
 * environment (pass them with nginx's "env" directive).  Values are
 * never logged.
 */


#include "ngx_http_agentcore_module.h"


static ngx_http_agentcore_credentials_t  ngx_http_agentcore_creds;
static ngx_uint_t                        ngx_http_agentcore_creds_missing;


static void
ngx_http_agentcore_getenv(ngx_str_t *s, const char *name)
{
    char  *value;

    value = getenv(name);

    if (value == NULL || *value == '\0') {
        ngx_str_null(s);
        return;
    }

    s->data = (u_char *) value;
    s->len = ngx_strlen(value);
}


ngx_int_t
ngx_http_agentcore_credentials_init(ngx_cycle_t *cycle)
{
    ngx_http_agentcore_credentials_t  *cr;

    cr = &ngx_http_agentcore_creds;

    ngx_http_agentcore_getenv(&cr->access_key_id, "AWS_ACCESS_KEY_ID");
    ngx_http_agentcore_getenv(&cr->secret_access_key,
                              "AWS_SECRET_ACCESS_KEY");
    ngx_http_agentcore_getenv(&cr->session_token, "AWS_SESSION_TOKEN");
    ngx_http_agentcore_getenv(&cr->bearer_token, "AWS_BEARER_TOKEN_BEDROCK");

    if (cr->access_key_id.len == 0 || cr->secret_access_key.len == 0) {
        ngx_str_null(&cr->access_key_id);
        ngx_str_null(&cr->secret_access_key);
        ngx_str_null(&cr->session_token);
    }

    ngx_http_agentcore_creds_missing = 0;

    return NGX_OK;
}


/*
 * The credentials to sign with: a Bedrock API key wins, as in the AWS
 * SDKs.  NULL when there are none; the cause is logged once per worker.
 */

ngx_http_agentcore_credentials_t *
ngx_http_agentcore_credentials(ngx_log_t *log)
{
    ngx_http_agentcore_credentials_t  *cr;

    cr = &ngx_http_agentcore_creds;

    if (cr->bearer_token.len || cr->access_key_id.len) {
        return cr;
    }

    if (!ngx_http_agentcore_creds_missing) {
        ngx_http_agentcore_creds_missing = 1;

        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "agentcore: no AWS credentials: neither "
                      "AWS_BEARER_TOKEN_BEDROCK nor AWS_ACCESS_KEY_ID and "
                      "AWS_SECRET_ACCESS_KEY are in the worker's "
                      "environment (pass them with the \"env\" directive)");
    }

    return NULL;
}
