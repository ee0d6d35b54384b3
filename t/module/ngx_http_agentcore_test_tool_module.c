
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * A module for the test suite: it gives the agent three tools through
 * the public header only, as any third-party module would.
 *
 *   reverse   answers at once: the "text" input reversed
 *   later     answers from a timer, "ms" milliseconds later (async)
 *   die_locked  takes the lock of the shared zone named "zone" and
 *             kills its own process (a worker dying in a critical
 *             section: t/023-reload.t)
 *
 * And the sanitizer canary of make test-asan (t/matrix/san.sh): with
 * AGENTCORE_TEST_SANITIZER_CANARY=asan in the environment it reads past
 * a heap block at configuration time, with =ubsan it overflows an int,
 * so that the runner shows it fails on a report.  This module is the
 * test suite's only, never installed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_agentcore.h"

#include <stdlib.h>


typedef struct {
    ngx_event_t                      timer;
    ngx_http_agentcore_tool_call_t  *call;
} ngx_http_agentcore_test_later_t;


static ngx_int_t ngx_http_agentcore_test_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_agentcore_test_reverse(
    ngx_http_agentcore_tool_call_t *call);
static ngx_int_t ngx_http_agentcore_test_later(
    ngx_http_agentcore_tool_call_t *call);
static void ngx_http_agentcore_test_later_fire(ngx_event_t *ev);
static void ngx_http_agentcore_test_later_cleanup(void *data);
static ngx_int_t ngx_http_agentcore_test_die_locked(
    ngx_http_agentcore_tool_call_t *call);
static void ngx_http_agentcore_test_canary(ngx_conf_t *cf);


static ngx_http_agentcore_tool_t  ngx_http_agentcore_test_tools[] = {

    { ngx_string("reverse"),
      ngx_string("Reverse a string"),
      ngx_string("{\"type\":\"object\",\"properties\":{\"text\":"
                 "{\"type\":\"string\"}},\"required\":[\"text\"]}"),
      ngx_http_agentcore_test_reverse, NULL },

    { ngx_string("later"),
      ngx_string("Answer after a while"),
      ngx_string("{\"type\":\"object\",\"properties\":{\"ms\":"
                 "{\"type\":\"integer\"}}}"),
      ngx_http_agentcore_test_later, NULL },

    { ngx_string("die_locked"),
      ngx_string("Die holding a zone's lock"),
      ngx_string("{\"type\":\"object\",\"properties\":{\"zone\":"
                 "{\"type\":\"string\"}},\"required\":[\"zone\"]}"),
      ngx_http_agentcore_test_die_locked, NULL }
};


static ngx_http_module_t  ngx_http_agentcore_test_tool_module_ctx = {
    ngx_http_agentcore_test_preconf,       /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    NULL,                                  /* create location configuration */
    NULL                                   /* merge location configuration */
};


ngx_module_t  ngx_http_agentcore_test_tool_module = {
    NGX_MODULE_V1,
    &ngx_http_agentcore_test_tool_module_ctx,  /* module context */
    NULL,                                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_http_agentcore_test_preconf(ngx_conf_t *cf)
{
    ngx_uint_t  i;

    ngx_http_agentcore_test_canary(cf);

    for (i = 0;
         i < sizeof(ngx_http_agentcore_test_tools)
             / sizeof(ngx_http_agentcore_tool_t);
         i++)
    {
        if (ngx_http_agentcore_add_tool(cf, &ngx_http_agentcore_test_tools[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_test_reverse(ngx_http_agentcore_tool_call_t *call)
{
    u_char     *p;
    json_t     *text;
    size_t      i, n;
    ngx_str_t   s;

    text = json_object_get(call->input, "text");

    if (!json_is_string(text)) {
        ngx_str_set(&s, "Error: \"text\" must be a string");
        ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);
        return NGX_OK;
    }

    n = json_string_length(text);

    p = ngx_pnalloc(call->pool, n);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        p[i] = json_string_value(text)[n - 1 - i];
    }

    s.data = p;
    s.len = n;

    ngx_http_agentcore_tool_done(call, NGX_OK, &s);

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_test_later(ngx_http_agentcore_tool_call_t *call)
{
    json_t                           *ms;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_test_later_t  *later;

    later = ngx_pcalloc(call->pool, sizeof(ngx_http_agentcore_test_later_t));
    if (later == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(call->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    /* a client that goes away must not leave the timer behind */
    cln->handler = ngx_http_agentcore_test_later_cleanup;
    cln->data = later;

    later->call = call;
    later->timer.handler = ngx_http_agentcore_test_later_fire;
    later->timer.data = later;
    later->timer.log = call->request->connection->log;

    ms = json_object_get(call->input, "ms");

    ngx_add_timer(&later->timer,
                  json_is_integer(ms) ? (ngx_msec_t) json_integer_value(ms)
                                      : 10);

    return NGX_AGAIN;
}


static void
ngx_http_agentcore_test_later_fire(ngx_event_t *ev)
{
    ngx_http_agentcore_test_later_t *later = ev->data;

    ngx_str_t          s;
    ngx_connection_t  *c;

    c = later->call->request->connection;

    ngx_str_set(&s, "done later");
    ngx_http_agentcore_tool_done(later->call, NGX_OK, &s);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_agentcore_test_later_cleanup(void *data)
{
    ngx_http_agentcore_test_later_t *later = data;

    if (later->timer.timer_set) {
        ngx_del_timer(&later->timer);
    }
}


static ngx_int_t
ngx_http_agentcore_test_die_locked(ngx_http_agentcore_tool_call_t *call)
{
    json_t           *zone;
    ngx_str_t         s;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_shm_zone_t   *shm_zone;
    ngx_slab_pool_t  *shpool;

    zone = json_object_get(call->input, "zone");

    if (!json_is_string(zone)) {
        ngx_str_set(&s, "Error: \"zone\" must be a string");
        ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);
        return NGX_OK;
    }

    part = (ngx_list_part_t *) &ngx_cycle->shared_memory.part;
    shm_zone = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm_zone = part->elts;
            i = 0;
        }

        if (shm_zone[i].shm.name.len == json_string_length(zone)
            && ngx_strncmp(shm_zone[i].shm.name.data, json_string_value(zone),
                           shm_zone[i].shm.name.len)
               == 0)
        {
            shpool = (ngx_slab_pool_t *) shm_zone[i].shm.addr;

            ngx_log_error(NGX_LOG_NOTICE, call->request->connection->log, 0,
                          "test: dying with zone \"%V\" locked",
                          &shm_zone[i].shm.name);

            ngx_shmtx_lock(&shpool->mutex);
            (void) kill(ngx_pid, SIGKILL);

            for ( ;; ) {
                (void) pause();
            }
        }
    }

    ngx_str_set(&s, "Error: no such zone");
    ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);

    return NGX_OK;
}


static void
ngx_http_agentcore_test_canary(ngx_conf_t *cf)
{
    int            n;
    char          *kind;
    size_t         len;
    volatile char  c;
    u_char        *p;

    kind = getenv("AGENTCORE_TEST_SANITIZER_CANARY");
    if (kind == NULL) {
        return;
    }

    len = ngx_strlen(kind);

    if (ngx_strcmp(kind, "asan") == 0) {
        p = calloc(len, 1);
        if (p == NULL) {
            return;
        }

        c = p[len];             /* one byte past the block */
        free(p);

    } else {
        n = NGX_MAX_INT32_VALUE - 2;
        n += (int) len;         /* INT_MAX + 3 */
        c = (char) n;
    }

    ngx_log_error(NGX_LOG_NOTICE, cf->log, 0,
                  "sanitizer canary \"%s\" done: %d", kind, (int) c);
}
