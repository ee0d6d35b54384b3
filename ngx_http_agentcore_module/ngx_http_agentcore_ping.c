
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * GET /ping: {"status":"Healthy","time_of_last_update":<int>}, or
 * "HealthyBusy" while invocations are in flight in any worker when
 * agentcore_ping_busy is on.  The stamp is set by the first ping and
 * changes only with the status, as the runtime contract requires; both
 * live in shared memory (ngx_http_agentcore_session.c), so every
 * worker answers alike.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_session.h"


ngx_int_t
ngx_http_agentcore_ping_handler(ngx_http_request_t *r)
{
    char                           *status;
    time_t                          stamp;
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_uint_t                      busy;
    ngx_http_agentcore_loc_conf_t  *alcf;

    static ngx_str_t  type = ngx_string("application/json");

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_agentcore_send_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

    busy = alcf->ping_busy && ngx_http_agentcore_invocations() > 0;
    status = busy ? "HealthyBusy" : "Healthy";
    stamp = ngx_http_agentcore_ping_stamp(busy);

    b = ngx_create_temp_buf(r->pool,
                            sizeof("{\"status\":\"HealthyBusy\","
                                   "\"time_of_last_update\":}") - 1
                            + NGX_TIME_T_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last,
                          "{\"status\":\"%s\",\"time_of_last_update\":%T}",
                          status, stamp);

    return ngx_http_agentcore_send_buf(r, NGX_HTTP_OK, &type, b);
}
