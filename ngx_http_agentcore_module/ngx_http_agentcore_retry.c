
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Retries of a failed model call, as the reference makes them, before
 * any text of that call reached the client:
 *
 *   - throttling (HTTP 429, ThrottlingException, or a throttlingException
 *     frame before any text): Strands' schedule, 6 attempts, waiting 4,
 *     8, 16, 32 and 64 s (each wait at most 240 s);
 *   - 5xx and connection errors (the model location's 502/504): the AWS
 *     SDK's standard mode, 3 attempts, waiting a random time up to 1 s,
 *     then up to 2 s (each at most 20 s); so is Anthropic's
 *     overloaded_error event before any text (its 529).
 *
 * Each wait is a timer in the ctx (ngx_http_agentcore_handler.c starts
 * the call again when it fires; the request's cleanup deletes it).
 */


#include "ngx_http_agentcore_module.h"


#define NGX_HTTP_AGENTCORE_RETRY_NONE      0
#define NGX_HTTP_AGENTCORE_RETRY_THROTTLE  1
#define NGX_HTTP_AGENTCORE_RETRY_ERROR     2


/*
 * agentcore_retries off;
 * agentcore_retries [throttle=N] [delay=T] [max_delay=T]
 *                   [errors=N] [error_delay=T] [error_max_delay=T];
 */

char *
ngx_http_agentcore_retries_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *lcf = conf;

    ngx_int_t                      n;
    ngx_str_t                     *value, v;
    ngx_uint_t                     i;
    ngx_msec_t                     t;
    ngx_http_agentcore_retries_t  *rt;

    rt = &lcf->retries;

    if (rt->set) {
        return "is duplicate";
    }

    /* what is not given keeps the reference's value */

    rt->throttle = 6;
    rt->delay = 4000;
    rt->max_delay = 240000;
    rt->errors = 3;
    rt->error_delay = 1000;
    rt->error_max_delay = 20000;
    rt->set = 1;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        rt->throttle = 1;
        rt->errors = 1;
        return NGX_CONF_OK;
    }

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "throttle=", 9) == 0
            || ngx_strncmp(value[i].data, "errors=", 7) == 0)
        {
            v.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            v.len = value[i].data + value[i].len - v.data;

            n = ngx_atoi(v.data, v.len);
            if (n < 1 || n > 100) {
                goto invalid;
            }

            if (value[i].data[0] == 't') {
                rt->throttle = n;

            } else {
                rt->errors = n;
            }

            continue;
        }

        v.data = (u_char *) ngx_strchr(value[i].data, '=');
        if (v.data == NULL) {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        t = ngx_parse_time(&v, 0);
        if (t == (ngx_msec_t) NGX_ERROR || t > 3600000) {
            goto invalid;
        }

        n = v.data - 1 - value[i].data;

        if (n == 5 && ngx_strncmp(value[i].data, "delay", 5) == 0) {
            rt->delay = t;

        } else if (n == 9 && ngx_strncmp(value[i].data, "max_delay", 9) == 0) {
            rt->max_delay = t;

        } else if (n == 11
                   && ngx_strncmp(value[i].data, "error_delay", 11) == 0)
        {
            rt->error_delay = t;

        } else if (n == 15
                   && ngx_strncmp(value[i].data, "error_max_delay", 15) == 0)
        {
            rt->error_max_delay = t;

        } else {
            goto invalid;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


void
ngx_http_agentcore_retries_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_http_agentcore_retries_t  *rt;

    if (conf->retries.set) {
        return;
    }

    if (prev->retries.set) {
        conf->retries = prev->retries;
        return;
    }

    /* the reference's: Strands' throttling schedule, the SDK's standard */

    rt = &conf->retries;

    rt->throttle = 6;
    rt->delay = 4000;
    rt->max_delay = 240000;
    rt->errors = 3;
    rt->error_delay = 1000;
    rt->error_max_delay = 20000;
}


/*
 * The wait before retry number "retry" (1, 2, ...): base doubled for
 * each retry before it, at most max; with jitter, a random time up to
 * that (botocore's standard mode: random() * min(max, base * 2^(n-1)))
 */

ngx_msec_t
ngx_http_agentcore_retry_delay(ngx_msec_t base, ngx_msec_t max,
    ngx_uint_t retry, ngx_uint_t jitter)
{
    ngx_uint_t  i;
    ngx_msec_t  t;

    t = base;

    for (i = 1; i < retry && t < max; i++) {
        t *= 2;
    }

    if (t > max) {
        t = max;
    }

    if (jitter && t) {
        t = (ngx_msec_t) ((uint64_t) ngx_random() * (t + 1)
                          / ((uint64_t) 0x7fffffff + 1));
    }

    return t;
}


/*
 * A model call ended (ctx->model_done): NGX_AGAIN when it is to be made
 * again and the wait is on, NGX_DECLINED when its outcome stands
 */

ngx_int_t
ngx_http_agentcore_retry(ngx_http_agentcore_ctx_t *ctx)
{
    u_char                        *p, *last, name[64];
    ngx_str_t                      type;
    ngx_uint_t                     kind, n, of;
    ngx_msec_t                     delay;
    const char                    *t;
    ngx_http_request_t            *r;
    ngx_http_agentcore_retries_t  *rt;

    r = ctx->request;
    rt = &ctx->conf->retries;
    kind = NGX_HTTP_AGENTCORE_RETRY_NONE;
    last = name + sizeof(name);

    /* the sanitized x-amzn-errortype: the text before the first ':' */

    type = ctx->error_type;
    p = ngx_strlchr(type.data, type.data + type.len, ':');
    if (p) {
        type.len = p - type.data;
    }

    if (ctx->model_status == NGX_HTTP_OK) {

        t = ctx->turn ? ac_turn_error_type(ctx->turn) : NULL;

        if (t && ngx_strcasecmp((u_char *) t, (u_char *) "throttlingException")
                 == 0
            && ctx->stream_error == NULL)
        {
            if (ctx->model_text && !ctx->json) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "agentcore: model call throttled "
                              "(ThrottlingException) after its text was "
                              "sent: not retried");
                goto declined;
            }

            kind = NGX_HTTP_AGENTCORE_RETRY_THROTTLE;
            p = ngx_slprintf(name, last, "ThrottlingException");

        } else if (t && ctx->provider
                   && ctx->provider == ac_provider(AC_PROVIDER_ANTHROPIC)
                   && ngx_strcmp(t, "serviceUnavailableException") == 0
                   && ctx->stream_error == NULL
                   && !(ctx->model_text && !ctx->json))
        {
            /*
             * Anthropic's overloaded_error event after HTTP 200 means
             * what its HTTP 529 means: retried as that 5xx is, before
             * any text (Bedrock's serviceUnavailableException frame is
             * not: the AWS SDK does not retry a stream's events)
             */

            kind = NGX_HTTP_AGENTCORE_RETRY_ERROR;
            p = ngx_slprintf(name, last, "overloaded_error");
        }

    } else if (ctx->model_status == NGX_HTTP_TOO_MANY_REQUESTS
               || (type.len == sizeof("ThrottlingException") - 1
                   && ngx_strncmp(type.data, "ThrottlingException",
                                  type.len) == 0))
    {
        kind = NGX_HTTP_AGENTCORE_RETRY_THROTTLE;
        p = type.len ? ngx_slprintf(name, last, "%V", &type)
                     : ngx_slprintf(name, last, "HTTP %ui", ctx->model_status);

    } else if (ctx->model_status >= NGX_HTTP_INTERNAL_SERVER_ERROR
               || (ctx->model_status == 0
                   && (ctx->model_rc >= NGX_HTTP_INTERNAL_SERVER_ERROR
                       || ctx->model_rc == NGX_ERROR)))
    {
        /* a 5xx from Bedrock, or the model location's 502/504 */

        kind = NGX_HTTP_AGENTCORE_RETRY_ERROR;

        if (type.len) {
            p = ngx_slprintf(name, last, "%V, HTTP %ui", &type,
                             ctx->model_status);

        } else {
            p = ngx_slprintf(name, last, "HTTP %i",
                             ctx->model_status ? (ngx_int_t) ctx->model_status
                                               : ctx->model_rc);
        }
    }

    if (kind == NGX_HTTP_AGENTCORE_RETRY_NONE || r->connection->error) {
        goto declined;
    }

    if (kind == NGX_HTTP_AGENTCORE_RETRY_THROTTLE) {
        of = rt->throttle - 1;
        n = ++ctx->throttle_retries;

        if (n > of) {
            goto declined;
        }

        /* each of Strands' attempts has the SDK's attempts afresh */
        ctx->error_retries = 0;

        delay = ngx_http_agentcore_retry_delay(rt->delay, rt->max_delay, n,
                                               0);

    } else {
        of = rt->errors - 1;
        n = ++ctx->error_retries;

        if (n > of) {
            goto declined;
        }

        delay = ngx_http_agentcore_retry_delay(rt->error_delay,
                                               rt->error_max_delay, n, 1);
    }

    ctx->stats.retries++;

    /* a JSON answer sent nothing yet: the call's text is dropped */
    ctx->answer_len = ctx->answer_mark;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "agentcore: model call %s (%*s), retry %ui of %ui in "
                  "%M%s",
                  (kind == NGX_HTTP_AGENTCORE_RETRY_THROTTLE)
                  ? "throttled" : "failed",
                  p - name, name, n, of,
                  (delay && delay % 1000 == 0) ? delay / 1000 : delay,
                  (delay && delay % 1000 == 0) ? "s" : "ms");

    ngx_add_timer(&ctx->retry_event, delay);

    return NGX_AGAIN;

declined:

    ctx->throttle_retries = 0;
    ctx->error_retries = 0;

    return NGX_DECLINED;
}
