
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Metrics and the access log's view of an invocation (docs/operating.md).
 *
 * The counters live in a shared memory zone of fixed size,
 * "agentcore_metrics", which every worker adds to with atomic
 * operations (no lock on any request's path) and which a reload keeps.
 * Labels are bounded: models and tools are those of the configuration,
 * entered in the zone's tables by the master when the zone is set up
 * (a reload appends the new ones), and stream_error types come from a
 * fixed vocabulary (ngx_http_agentcore_prom.c).
 *
 * An invocation is counted once, when it is logged (a log phase
 * handler): its outcome, duration, time to the first event, model
 * calls, retries and tokens.  Tool calls, session evictions and
 * credential fetches are counted as they happen, by one call each from
 * tools.c, session.c and credentials.c.  "agentcore_metrics" in a
 * location serves the zone as Prometheus text.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_session.h"
#include "ngx_http_agentcore_prom.h"


#define NGX_HTTP_AGENTCORE_METRICS_NAME_LEN   256
#define NGX_HTTP_AGENTCORE_METRICS_MODELS     64
#define NGX_HTTP_AGENTCORE_METRICS_TOOLS      128
#define NGX_HTTP_AGENTCORE_METRICS_ZONES      16
#define NGX_HTTP_AGENTCORE_METRICS_TYPES      64
#define NGX_HTTP_AGENTCORE_METRICS_BUCKETS    16

/* the longest list of tool names $agentcore_tool_names holds */
#define NGX_HTTP_AGENTCORE_METRICS_TOOLS_LOG  4096


/* invocation outcomes */
#define NGX_HTTP_AGENTCORE_OK                 0
#define NGX_HTTP_AGENTCORE_STREAM_ERROR       1
#define NGX_HTTP_AGENTCORE_CLIENT_ABORT       2
#define NGX_HTTP_AGENTCORE_4XX                3
#define NGX_HTTP_AGENTCORE_5XX                4
#define NGX_HTTP_AGENTCORE_OUTCOMES           5

/* a model's counters */
#define NGX_HTTP_AGENTCORE_CALLS              0
#define NGX_HTTP_AGENTCORE_RETRIES            1
#define NGX_HTTP_AGENTCORE_INPUT              2
#define NGX_HTTP_AGENTCORE_OUTPUT             3
#define NGX_HTTP_AGENTCORE_CACHE_READ         4
#define NGX_HTTP_AGENTCORE_CACHE_WRITE        5

/* a tool's */
#define NGX_HTTP_AGENTCORE_SUCCESS            0
#define NGX_HTTP_AGENTCORE_ERROR              1


typedef struct {
    ngx_atomic_t    n[6];
    size_t          len;
    u_char          name[NGX_HTTP_AGENTCORE_METRICS_NAME_LEN];
} ngx_http_agentcore_metrics_slot_t;


/* counts per bucket (not cumulative), the last above every bound */
typedef struct {
    ngx_atomic_t    count[NGX_HTTP_AGENTCORE_METRICS_BUCKETS];
    ngx_atomic_t    sum;                    /* ms */
} ngx_http_agentcore_metrics_hist_t;


typedef struct {
    ngx_atomic_t    invocations[NGX_HTTP_AGENTCORE_OUTCOMES];
    ngx_atomic_t    stream_errors[NGX_HTTP_AGENTCORE_METRICS_TYPES];
    ngx_atomic_t    credentials[2];         /* ok, failed */
    ngx_atomic_t    memory[4];              /* ListEvents ok, failed,
                                               CreateEvent ok, failed */

    ngx_http_agentcore_metrics_hist_t  ttfb;
    ngx_http_agentcore_metrics_hist_t  duration;

    /* tables: entries are appended by the master, never moved */
    ngx_atomic_t    nmodels;
    ngx_atomic_t    ntools;
    ngx_atomic_t    nzones;

    ngx_http_agentcore_metrics_slot_t
                    models[NGX_HTTP_AGENTCORE_METRICS_MODELS];
    ngx_http_agentcore_metrics_slot_t
                    tools[NGX_HTTP_AGENTCORE_METRICS_TOOLS];
    ngx_http_agentcore_metrics_slot_t
                    zones[NGX_HTTP_AGENTCORE_METRICS_ZONES];
} ngx_http_agentcore_metrics_sh_t;


/* the zone's data: this configuration's */
typedef struct {
    ngx_http_agentcore_metrics_sh_t    *sh;
    ngx_slab_pool_t                    *shpool;
    ngx_array_t                         models;      /* of ngx_str_t */
    ngx_array_t                         tools;       /* of ngx_str_t */
    ngx_cycle_t                        *cycle;
} ngx_http_agentcore_metrics_zone_t;


static ngx_http_agentcore_metrics_zone_t *ngx_http_agentcore_metrics_add_zone(
    ngx_conf_t *cf);
static ngx_int_t ngx_http_agentcore_metrics_register(ngx_array_t *names,
    ngx_str_t *name);
static ngx_int_t ngx_http_agentcore_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_agentcore_metrics_find(
    ngx_http_agentcore_metrics_slot_t *slots, ngx_atomic_t *n, u_char *name,
    size_t len);
static ngx_int_t ngx_http_agentcore_metrics_append(
    ngx_http_agentcore_metrics_slot_t *slots, ngx_atomic_t *n,
    ngx_uint_t max, ngx_str_t *name);
static ngx_http_agentcore_metrics_zone_t *ngx_http_agentcore_metrics_zone(
    void);
static ngx_int_t ngx_http_agentcore_metrics_log(ngx_http_request_t *r);
static void ngx_http_agentcore_metrics_observe(
    ngx_http_agentcore_metrics_hist_t *h, const uint64_t *bounds,
    ngx_uint_t n, ngx_msec_t ms);
static ngx_msec_t ngx_http_agentcore_metrics_elapsed(ngx_http_request_t *r);
static ngx_uint_t ngx_http_agentcore_outcome(ngx_http_request_t *r,
    ngx_http_agentcore_ctx_t *ctx);
static ngx_int_t ngx_http_agentcore_metrics_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_agentcore_metrics_handler(ngx_http_request_t *r);
static void ngx_http_agentcore_metrics_text(ac_prom_t *p,
    ngx_http_agentcore_metrics_sh_t *sh);
static ngx_int_t ngx_http_agentcore_metrics_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_agentcore_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_tool_names_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_retries_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_ttfb_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_error_type_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_agentcore_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_str_t  ngx_http_agentcore_metrics_name =
    ngx_string("agentcore_metrics");

static ngx_uint_t  ngx_http_agentcore_metrics_tag;

static ngx_str_t  ngx_http_agentcore_other = ngx_string("(other)");
static ngx_str_t  ngx_http_agentcore_unknown = ngx_string("(unknown)");

static ngx_str_t  ngx_http_agentcore_outcomes[] = {
    ngx_string("ok"),
    ngx_string("stream_error"),
    ngx_string("client_abort"),
    ngx_string("4xx"),
    ngx_string("5xx")
};

/* bucket bounds, ms */
static const uint64_t  ngx_http_agentcore_ttfb_bounds[] = {
    25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000
};

static const uint64_t  ngx_http_agentcore_duration_bounds[] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000,
    600000
};

#define ngx_http_agentcore_nbounds(b)  (sizeof(b) / sizeof(b[0]))


static ngx_http_output_body_filter_pt  ngx_http_agentcore_next_body_filter;


static ngx_http_variable_t  ngx_http_agentcore_metrics_vars[] = {

    { ngx_string("agentcore_model"), NULL,
      ngx_http_agentcore_model_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_cache_read_tokens"), NULL,
      ngx_http_agentcore_cache_variable,
      offsetof(ac_usage_t, cache_read_input_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_cache_write_tokens"), NULL,
      ngx_http_agentcore_cache_variable,
      offsetof(ac_usage_t, cache_write_input_tokens),
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_tool_names"), NULL,
      ngx_http_agentcore_tool_names_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_retries"), NULL,
      ngx_http_agentcore_retries_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_ttfb_ms"), NULL,
      ngx_http_agentcore_ttfb_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_error_type"), NULL,
      ngx_http_agentcore_error_type_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("agentcore_outcome"), NULL,
      ngx_http_agentcore_outcome_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* configuration */

char *
ngx_http_agentcore_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    if (ngx_http_agentcore_metrics_add_zone(cf) == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf->handler = ngx_http_agentcore_metrics_handler;

    return NGX_CONF_OK;
}


/* an agentcore location: its model and tools are labels */

char *
ngx_http_agentcore_metrics_merge(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_uint_t                          i;
    ngx_http_agentcore_tool_entry_t   **e;
    ngx_http_agentcore_metrics_zone_t  *zone;

    if (conf->enable != 1) {
        return NGX_CONF_OK;
    }

    zone = ngx_http_agentcore_metrics_add_zone(cf);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_agentcore_metrics_register(&zone->models, &conf->model)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (conf->tools == NULL) {
        return NGX_CONF_OK;
    }

    e = conf->tools->elts;

    for (i = 0; i < conf->tools->nelts; i++) {
        if (ngx_http_agentcore_metrics_register(&zone->tools,
                                                &e[i]->tool->name)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_http_agentcore_metrics_zone_t *
ngx_http_agentcore_metrics_add_zone(ngx_conf_t *cf)
{
    size_t                              size;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_agentcore_metrics_zone_t  *zone;

    /* the same size every time: a reload keeps the zone */
    size = ngx_align(sizeof(ngx_http_agentcore_metrics_sh_t), ngx_pagesize)
           + 8 * ngx_pagesize;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_agentcore_metrics_name,
                                     size, &ngx_http_agentcore_metrics_tag);
    if (shm_zone == NULL) {
        return NULL;
    }

    if (shm_zone->data) {
        return shm_zone->data;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_metrics_zone_t));
    if (zone == NULL) {
        return NULL;
    }

    if (ngx_array_init(&zone->models, cf->pool, 4, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&zone->tools, cf->pool, 8, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NULL;
    }

    zone->cycle = cf->cycle;

    shm_zone->init = ngx_http_agentcore_metrics_init_zone;
    shm_zone->data = zone;

    return zone;
}


static ngx_int_t
ngx_http_agentcore_metrics_register(ngx_array_t *names, ngx_str_t *name)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    s = names->elts;

    for (i = 0; i < names->nelts; i++) {
        if (s[i].len == name->len
            && ngx_strncmp(s[i].data, name->data, name->len) == 0)
        {
            return NGX_OK;
        }
    }

    s = ngx_array_push(names);
    if (s == NULL) {
        return NGX_ERROR;
    }

    *s = *name;

    return NGX_OK;
}


/*
 * In the master, at start and at each reload: a reload with the zone
 * unchanged (it always is, but for a new binary) carries the counters
 * on; this configuration's names are appended to the tables.
 */

static ngx_int_t
ngx_http_agentcore_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_agentcore_metrics_zone_t  *ozone = data;

    ngx_int_t                           n;
    ngx_str_t                          *s;
    ngx_uint_t                          i, lost;
    ngx_shm_zone_t                     *shm;
    ngx_list_part_t                    *part;
    ngx_http_agentcore_metrics_sh_t    *sh;
    ngx_http_agentcore_metrics_zone_t  *zone;

    zone = shm_zone->data;

    if (ac_prom_nerror_types > NGX_HTTP_AGENTCORE_METRICS_TYPES) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "agentcore: %uz stream_error types, room for %d",
                      ac_prom_nerror_types, NGX_HTTP_AGENTCORE_METRICS_TYPES);
        return NGX_ERROR;
    }

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

    } else {
        zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            zone->sh = zone->shpool->data;

        } else {
            zone->sh = ngx_slab_calloc(zone->shpool,
                                      sizeof(ngx_http_agentcore_metrics_sh_t));
            if (zone->sh == NULL) {
                return NGX_ERROR;
            }

            zone->shpool->data = zone->sh;
        }
    }

    sh = zone->sh;
    lost = 0;

    /* the catch-alls first: a table that is full counts there */

    if (ngx_http_agentcore_metrics_append(sh->models, &sh->nmodels,
                                          NGX_HTTP_AGENTCORE_METRICS_MODELS,
                                          &ngx_http_agentcore_other)
        == NGX_ERROR
        || ngx_http_agentcore_metrics_append(sh->tools, &sh->ntools,
                                          NGX_HTTP_AGENTCORE_METRICS_TOOLS,
                                          &ngx_http_agentcore_other)
           == NGX_ERROR
        || ngx_http_agentcore_metrics_append(sh->tools, &sh->ntools,
                                          NGX_HTTP_AGENTCORE_METRICS_TOOLS,
                                          &ngx_http_agentcore_unknown)
           == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    s = zone->models.elts;

    for (i = 0; i < zone->models.nelts; i++) {
        if (ngx_http_agentcore_metrics_append(sh->models, &sh->nmodels,
                                          NGX_HTTP_AGENTCORE_METRICS_MODELS,
                                          &s[i])
            == NGX_ERROR)
        {
            lost++;
        }
    }

    s = zone->tools.elts;

    for (i = 0; i < zone->tools.nelts; i++) {
        if (ngx_http_agentcore_metrics_append(sh->tools, &sh->ntools,
                                          NGX_HTTP_AGENTCORE_METRICS_TOOLS,
                                          &s[i])
            == NGX_ERROR)
        {
            lost++;
        }
    }

    /* the session zones */

    part = &zone->cycle->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        n = ngx_http_agentcore_session_count(&shm[i]);

        if (n != NGX_ERROR
            && ngx_http_agentcore_metrics_append(sh->zones, &sh->nzones,
                                          NGX_HTTP_AGENTCORE_METRICS_ZONES,
                                          &shm[i].shm.name)
               == NGX_ERROR)
        {
            lost++;
        }
    }

    if (lost) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "agentcore: the metrics zone has no room for %ui "
                      "model, tool or session zone names (names longer "
                      "than %d bytes, or more than %d models, %d tools, "
                      "%d zones since the start): they are counted as "
                      "\"(other)\"", lost,
                      NGX_HTTP_AGENTCORE_METRICS_NAME_LEN,
                      NGX_HTTP_AGENTCORE_METRICS_MODELS - 1,
                      NGX_HTTP_AGENTCORE_METRICS_TOOLS - 2,
                      NGX_HTTP_AGENTCORE_METRICS_ZONES);
    }

    return NGX_OK;
}


/* lock-free: an entry is complete before the count that shows it */

static ngx_int_t
ngx_http_agentcore_metrics_find(ngx_http_agentcore_metrics_slot_t *slots,
    ngx_atomic_t *n, u_char *name, size_t len)
{
    ngx_uint_t  i, last;

    last = *n;
    ngx_memory_barrier();

    for (i = 0; i < last; i++) {
        if (slots[i].len == len && ngx_memcmp(slots[i].name, name, len) == 0)
        {
            return i;
        }
    }

    return NGX_ERROR;
}


/* the master only, so one writer */

static ngx_int_t
ngx_http_agentcore_metrics_append(ngx_http_agentcore_metrics_slot_t *slots,
    ngx_atomic_t *n, ngx_uint_t max, ngx_str_t *name)
{
    ngx_int_t   i;

    i = ngx_http_agentcore_metrics_find(slots, n, name->data, name->len);

    if (i != NGX_ERROR) {
        return i;
    }

    if (*n >= max || name->len > NGX_HTTP_AGENTCORE_METRICS_NAME_LEN) {
        return NGX_ERROR;
    }

    i = *n;

    ngx_memcpy(slots[i].name, name->data, name->len);
    slots[i].len = name->len;

    ngx_memory_barrier();

    (void) ngx_atomic_fetch_add(n, 1);

    return i;
}


/* this worker's zone: the current cycle's */

static ngx_http_agentcore_metrics_zone_t *
ngx_http_agentcore_metrics_zone(void)
{
    ngx_uint_t        i;
    ngx_shm_zone_t   *shm;
    ngx_list_part_t  *part;

    static ngx_cycle_t                        *cycle;
    static ngx_http_agentcore_metrics_zone_t  *zone;

    if (cycle == (ngx_cycle_t *) ngx_cycle) {
        return zone;
    }

    zone = NULL;

    part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        if (shm[i].init == ngx_http_agentcore_metrics_init_zone) {
            zone = shm[i].data;
            break;
        }
    }

    if (zone && zone->sh == NULL) {
        zone = NULL;
    }

    cycle = (ngx_cycle_t *) ngx_cycle;

    return zone;
}


ngx_int_t
ngx_http_agentcore_metrics_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_agentcore_metrics_log;

    ngx_http_agentcore_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_agentcore_metrics_body_filter;

    if (ngx_http_agentcore_metrics_variables(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_agentcore_request_id_variable(cf);
}


/* counted as they happen */

void
ngx_http_agentcore_metrics_tool(ngx_http_agentcore_tool_call_t *call)
{
    u_char                             *p;
    size_t                              size;
    ngx_int_t                           i;
    ngx_str_t                          *name;
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_stats_t         *st;
    ngx_http_agentcore_metrics_sh_t    *sh;
    ngx_http_agentcore_metrics_zone_t  *zone;

    name = call->tool ? &call->tool->name : &ngx_http_agentcore_unknown;

    zone = ngx_http_agentcore_metrics_zone();

    if (zone) {
        sh = zone->sh;

        i = ngx_http_agentcore_metrics_find(sh->tools, &sh->ntools,
                                            name->data, name->len);
        if (i == NGX_ERROR) {
            i = ngx_http_agentcore_metrics_find(sh->tools, &sh->ntools,
                                          ngx_http_agentcore_other.data,
                                          ngx_http_agentcore_other.len);
        }

        if (i != NGX_ERROR) {
            (void) ngx_atomic_fetch_add(&sh->tools[i].n[call->error
                                            ? NGX_HTTP_AGENTCORE_ERROR
                                            : NGX_HTTP_AGENTCORE_SUCCESS],
                                        1);
        }
    }

    /* $agentcore_tool_names */

    ctx = call->invocation;
    st = &ctx->stats;

    if (st->tools.len + 1 + name->len > st->tools_size) {

        if (st->tools.len + 1 + name->len
            > NGX_HTTP_AGENTCORE_METRICS_TOOLS_LOG)
        {
            return;
        }

        size = ngx_max(2 * st->tools_size, 64);
        size = ngx_max(size, st->tools.len + 1 + name->len);
        size = ngx_min(size, NGX_HTTP_AGENTCORE_METRICS_TOOLS_LOG);

        p = ngx_pnalloc(ctx->request->pool, size);
        if (p == NULL) {
            return;
        }

        if (st->tools.len) {
            /* the first tool of the request: tools.data is NULL */
            ngx_memcpy(p, st->tools.data, st->tools.len);
        }

        st->tools.data = p;
        st->tools_size = size;
    }

    p = st->tools.data + st->tools.len;

    if (st->tools.len) {
        *p++ = ',';
    }

    p = ngx_cpymem(p, name->data, name->len);
    st->tools.len = p - st->tools.data;
}


void
ngx_http_agentcore_metrics_evicted(ngx_str_t *name, ngx_uint_t n)
{
    ngx_int_t                           i;
    ngx_http_agentcore_metrics_sh_t    *sh;
    ngx_http_agentcore_metrics_zone_t  *zone;

    zone = ngx_http_agentcore_metrics_zone();
    if (zone == NULL) {
        return;
    }

    sh = zone->sh;

    i = ngx_http_agentcore_metrics_find(sh->zones, &sh->nzones, name->data,
                                        name->len);
    if (i != NGX_ERROR) {
        (void) ngx_atomic_fetch_add(&sh->zones[i].n[0], n);
    }
}


void
ngx_http_agentcore_metrics_credentials(ngx_uint_t ok)
{
    ngx_http_agentcore_metrics_zone_t  *zone;

    zone = ngx_http_agentcore_metrics_zone();

    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->credentials[ok ? 0 : 1], 1);
    }
}


/* agentcore_memory: op 0 ListEvents, 1 CreateEvent */

void
ngx_http_agentcore_metrics_memory(ngx_uint_t op, ngx_uint_t ok)
{
    ngx_http_agentcore_metrics_zone_t  *zone;

    zone = ngx_http_agentcore_metrics_zone();

    if (zone) {
        (void) ngx_atomic_fetch_add(&zone->sh->memory[op * 2 + (ok ? 0 : 1)],
                                    1);
    }
}


/* the time to the first event: the first body bytes the stream sends */

static ngx_int_t
ngx_http_agentcore_metrics_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t               *cl;
    ngx_http_agentcore_ctx_t  *ctx;

    if (r != r->main || in == NULL) {
        return ngx_http_agentcore_next_body_filter(r, in);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx && ctx->streaming && !ctx->stats.ttfb_set) {
        for (cl = in; cl; cl = cl->next) {

            /* an event, not an agentcore_heartbeat comment (":") */

            if (ngx_buf_size(cl->buf) > 0
                && !(ngx_buf_in_memory(cl->buf) && *cl->buf->pos == ':'))
            {
                ctx->stats.ttfb = ngx_http_agentcore_metrics_elapsed(r);
                ctx->stats.ttfb_set = 1;
                break;
            }
        }
    }

    return ngx_http_agentcore_next_body_filter(r, in);
}


static ngx_msec_t
ngx_http_agentcore_metrics_elapsed(ngx_http_request_t *r)
{
    ngx_time_t      *tp;
    ngx_msec_int_t   ms;

    tp = ngx_timeofday();

    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    return (ngx_msec_t) ngx_max(ms, 0);
}


/* an invocation is logged: everything else it counts */

static ngx_int_t
ngx_http_agentcore_metrics_log(ngx_http_request_t *r)
{
    ngx_int_t                           i;
    ngx_str_t                           type, *model;
    ngx_uint_t                          outcome;
    ngx_atomic_t                       *n;
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_loc_conf_t      *alcf;
    ngx_http_agentcore_metrics_sh_t    *sh;
    ngx_http_agentcore_metrics_zone_t  *zone;

    if (r != r->main) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

    /* an agentcore location's (not agentcore_runtime_pass's) */

    if ((ctx ? ctx->conf : alcf)->enable != 1) {
        return NGX_OK;
    }

    zone = ngx_http_agentcore_metrics_zone();
    if (zone == NULL) {
        return NGX_OK;
    }

    sh = zone->sh;

    outcome = ngx_http_agentcore_outcome(r, ctx);

    (void) ngx_atomic_fetch_add(&sh->invocations[outcome], 1);

    if (outcome == NGX_HTTP_AGENTCORE_STREAM_ERROR) {
        ngx_http_agentcore_error_type(ctx, &type);
        (void) ngx_atomic_fetch_add(
                   &sh->stream_errors[ac_prom_error_type((char *) type.data,
                                                         type.len)],
                   1);
    }

    ngx_http_agentcore_metrics_observe(&sh->duration,
                             ngx_http_agentcore_duration_bounds,
                             ngx_http_agentcore_nbounds(
                                 ngx_http_agentcore_duration_bounds),
                             ngx_http_agentcore_metrics_elapsed(r));

    if (ctx == NULL) {
        return NGX_OK;
    }

    if (ctx->stats.ttfb_set) {
        ngx_http_agentcore_metrics_observe(&sh->ttfb,
                                 ngx_http_agentcore_ttfb_bounds,
                                 ngx_http_agentcore_nbounds(
                                     ngx_http_agentcore_ttfb_bounds),
                                 ctx->stats.ttfb);
    }

    if (ctx->cycles == 0) {
        return NGX_OK;
    }

    model = &ctx->conf->model;

    i = ngx_http_agentcore_metrics_find(sh->models, &sh->nmodels,
                                        model->data, model->len);
    if (i == NGX_ERROR) {
        i = ngx_http_agentcore_metrics_find(sh->models, &sh->nmodels,
                                            ngx_http_agentcore_other.data,
                                            ngx_http_agentcore_other.len);
        if (i == NGX_ERROR) {
            return NGX_OK;
        }
    }

    n = sh->models[i].n;

    (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_CALLS], ctx->cycles);

    if (ctx->stats.retries) {
        (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_RETRIES],
                                    ctx->stats.retries);
    }

    if (!ctx->usage_seen) {
        return NGX_OK;
    }

    if (ctx->usage.input_tokens > 0) {
        (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_INPUT],
                                    ctx->usage.input_tokens);
    }

    if (ctx->usage.output_tokens > 0) {
        (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_OUTPUT],
                                    ctx->usage.output_tokens);
    }

    if (ctx->usage.cache_read_input_tokens > 0) {
        (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_CACHE_READ],
                                    ctx->usage.cache_read_input_tokens);
    }

    if (ctx->usage.cache_write_input_tokens > 0) {
        (void) ngx_atomic_fetch_add(&n[NGX_HTTP_AGENTCORE_CACHE_WRITE],
                                    ctx->usage.cache_write_input_tokens);
    }

    return NGX_OK;
}


static void
ngx_http_agentcore_metrics_observe(ngx_http_agentcore_metrics_hist_t *h,
    const uint64_t *bounds, ngx_uint_t n, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if ((uint64_t) ms <= bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&h->count[i], 1);
    (void) ngx_atomic_fetch_add(&h->sum, ms);
}


/*
 * How an invocation ended.  Before the stream: 4xx or 5xx as its
 * status says (499, the client closed, is a client_abort); once
 * streaming: client_abort if the client went away or the stream never
 * finished, else stream_error or ok.
 */

static ngx_uint_t
ngx_http_agentcore_outcome(ngx_http_request_t *r,
    ngx_http_agentcore_ctx_t *ctx)
{
    ngx_uint_t  status;

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (ctx == NULL || !ctx->streaming) {

        if (status == NGX_HTTP_CLIENT_CLOSED_REQUEST
            || (status == 0 && r->connection->error))
        {
            return NGX_HTTP_AGENTCORE_CLIENT_ABORT;
        }

        return (status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
               ? NGX_HTTP_AGENTCORE_5XX : NGX_HTTP_AGENTCORE_4XX;
    }

    if (r->connection->error || !ctx->finished) {
        return NGX_HTTP_AGENTCORE_CLIENT_ABORT;
    }

    return ctx->error.len ? NGX_HTTP_AGENTCORE_STREAM_ERROR
                          : NGX_HTTP_AGENTCORE_OK;
}


/*
 * The type of the stream_error sent: the one its cause set in
 * ctx->stats.error_type, else what the last model call and the loop's
 * state say.  Bedrock's types as the model sent them (the text of
 * x-amzn-errortype before ':', an exception's type, an error frame's
 * code), the module's own from ac_prom_error_types.
 */

void
ngx_http_agentcore_error_type(ngx_http_agentcore_ctx_t *ctx, ngx_str_t *type)
{
    u_char      *p, *end;
    const char  *t;

    t = NULL;

    if (ctx->stats.error_type.len) {
        *type = ctx->stats.error_type;
        return;
    }

    if (ctx->cycles == 0 || ctx->turn == NULL) {
        /* before any model call: the session was busy or had no room */
        t = ctx->session_id.len ? "session" : "internal";

    } else if (ctx->model_status == 0) {
        t = (ctx->model_rc == NGX_HTTP_GATEWAY_TIME_OUT)
            ? "upstream_timeout" : "upstream_error";

    } else if (ctx->model_status != NGX_HTTP_OK) {

        /* "ThrottlingException:http://internal.amazon.com/coral/..." */

        p = ngx_strlchr(ctx->error_type.data,
                        ctx->error_type.data + ctx->error_type.len, ':');

        type->data = ctx->error_type.data;
        type->len = (p ? p : ctx->error_type.data + ctx->error_type.len)
                    - ctx->error_type.data;

        if (type->len) {
            return;
        }

        /* from the body: "An error occurred (TYPE) when calling ..." */

        if (ctx->error.len > sizeof("An error occurred (") - 1
            && ngx_strncmp(ctx->error.data, "An error occurred (",
                           sizeof("An error occurred (") - 1) == 0)
        {
            p = ctx->error.data + sizeof("An error occurred (") - 1;
            end = ngx_strlchr(p, ctx->error.data + ctx->error.len, ')');

            if (end && end > p
                && ngx_strncmp(p, "HTTP ", sizeof("HTTP ") - 1) != 0)
            {
                type->data = p;
                type->len = end - p;
                return;
            }
        }

        t = "upstream_error";

    } else if (ctx->stream_error) {
        t = "stream_corrupt";

    } else if (ac_turn_error(ctx->turn)) {
        t = ac_turn_error_type(ctx->turn);

        if (t == NULL || *t == '\0') {
            t = "other";
        }

    } else if (!ac_turn_stopped(ctx->turn)) {
        t = "stream_truncated";

    } else if (ngx_strcmp(ac_turn_stop_reason(ctx->turn), "max_tokens") == 0)
    {
        t = "max_tokens";

    } else if (ac_turn_tool_uses(ctx->turn)
               && ctx->cycles - ctx->stats.retries >= ctx->conf->max_cycles)
    {
        t = "max_cycles";

    } else if (ctx->error.len >= sizeof("No AWS credentials") - 1
               && ngx_strncmp(ctx->error.data, "No AWS credentials",
                              sizeof("No AWS credentials") - 1) == 0)
    {
        t = "credentials";

    } else if (ac_turn_tool_uses(ctx->turn) == 0 && ctx->session_id.len) {
        /* the answer was whole: its history was not stored */
        t = "session";

    } else {
        t = "internal";
    }

    type->data = (u_char *) t;
    type->len = ngx_strlen(t);
}


/* agentcore_metrics: the zone as Prometheus text */

static ngx_int_t
ngx_http_agentcore_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                           rc;
    ngx_buf_t                          *b;
    ac_prom_t                           p;
    ngx_http_agentcore_metrics_zone_t  *zone;

    static ngx_str_t  type = ngx_string(AC_PROM_CONTENT_TYPE);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_agentcore_send_not_allowed(r, "GET, HEAD");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    zone = ngx_http_agentcore_metrics_zone();
    if (zone == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ac_prom_init(&p);

    ngx_http_agentcore_metrics_text(&p, zone->sh);

    if (p.failed) {
        ac_prom_free(&p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, p.len);
    if (b == NULL) {
        ac_prom_free(&p);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, p.data, p.len);

    ac_prom_free(&p);

    return ngx_http_agentcore_send_buf(r, NGX_HTTP_OK, &type, b);
}


static void
ngx_http_agentcore_metrics_text(ac_prom_t *p,
    ngx_http_agentcore_metrics_sh_t *sh)
{
    ngx_int_t                           live;
    ngx_uint_t                          i, j, n;
    uint64_t                            counts[
                                            NGX_HTTP_AGENTCORE_METRICS_BUCKETS];
    ngx_shm_zone_t                     *shm;
    ngx_list_part_t                    *part;
    ac_prom_label_t                     l[2];
    ngx_http_agentcore_metrics_slot_t  *s;

    static const char  *token_types[] = {
        "input", "output", "cache_read", "cache_write"
    };

    static const char  *tool_outcomes[] = { "success", "error" };

    /* invocations */

    ac_prom_family(p, "agentcore_invocations_total", "counter",
                   "Invocations, by how they ended: ok; stream_error (the "
                   "stream ended with a stream_error event); client_abort "
                   "(the client went away); 4xx, 5xx (refused before the "
                   "stream)");

    l[0].name = "outcome";

    for (i = 0; i < NGX_HTTP_AGENTCORE_OUTCOMES; i++) {
        l[0].value = (char *) ngx_http_agentcore_outcomes[i].data;
        l[0].len = ngx_http_agentcore_outcomes[i].len;
        ac_prom_sample(p, "agentcore_invocations_total", l, 1,
                       sh->invocations[i]);
    }

    ac_prom_family(p, "agentcore_stream_errors_total", "counter",
                   "Invocations that ended with a stream_error, by its type "
                   "(Bedrock's error type, or the module's own cause)");

    l[0].name = "type";

    for (i = 0; i < ac_prom_nerror_types; i++) {
        l[0].value = ac_prom_error_types[i];
        l[0].len = ngx_strlen(ac_prom_error_types[i]);
        ac_prom_sample(p, "agentcore_stream_errors_total", l, 1,
                       sh->stream_errors[i]);
    }

    ac_prom_family(p, "agentcore_invocations_in_flight", "gauge",
                   "Invocations running now, in every worker");
    ac_prom_sample(p, "agentcore_invocations_in_flight", NULL, 0,
                   ngx_http_agentcore_invocations());

    ac_prom_family(p, "agentcore_invocation_duration_seconds", "histogram",
                   "Invocations' duration, from the request to its log");

    for (i = 0; i < NGX_HTTP_AGENTCORE_METRICS_BUCKETS; i++) {
        counts[i] = sh->duration.count[i];
    }

    ac_prom_histogram_ms(p, "agentcore_invocation_duration_seconds", NULL, 0,
                         ngx_http_agentcore_duration_bounds, counts,
                         ngx_http_agentcore_nbounds(
                             ngx_http_agentcore_duration_bounds),
                         sh->duration.sum);

    ac_prom_family(p, "agentcore_ttfb_seconds", "histogram",
                   "Time from the request to the stream's first event "
                   "(the answer's first text, or a stream_error)");

    for (i = 0; i < NGX_HTTP_AGENTCORE_METRICS_BUCKETS; i++) {
        counts[i] = sh->ttfb.count[i];
    }

    ac_prom_histogram_ms(p, "agentcore_ttfb_seconds", NULL, 0,
                         ngx_http_agentcore_ttfb_bounds, counts,
                         ngx_http_agentcore_nbounds(
                             ngx_http_agentcore_ttfb_bounds),
                         sh->ttfb.sum);

    /* models; "(other)" only once something is counted there */

    n = sh->nmodels;
    ngx_memory_barrier();

    ac_prom_family(p, "agentcore_model_calls_total", "counter",
                   "Model calls (ConverseStream requests), retries "
                   "included, by model id");

    l[0].name = "model";

    for (i = 0; i < n; i++) {
        s = &sh->models[i];

        if (i == 0 && s->n[NGX_HTTP_AGENTCORE_CALLS] == 0) {
            continue;
        }

        l[0].value = (char *) s->name;
        l[0].len = s->len;
        ac_prom_sample(p, "agentcore_model_calls_total", l, 1,
                       s->n[NGX_HTTP_AGENTCORE_CALLS]);
    }

    ac_prom_family(p, "agentcore_model_retries_total", "counter",
                   "Model calls that were retries of a failed one, by model "
                   "id");

    for (i = 0; i < n; i++) {
        s = &sh->models[i];

        if (i == 0 && s->n[NGX_HTTP_AGENTCORE_CALLS] == 0) {
            continue;
        }

        l[0].value = (char *) s->name;
        l[0].len = s->len;
        ac_prom_sample(p, "agentcore_model_retries_total", l, 1,
                       s->n[NGX_HTTP_AGENTCORE_RETRIES]);
    }

    ac_prom_family(p, "agentcore_tokens_total", "counter",
                   "Tokens the model reported in its usage, by model id and "
                   "type: input, output, cache_read, cache_write "
                   "(cacheRead/cacheWriteInputTokens)");

    l[1].name = "type";

    for (i = 0; i < n; i++) {
        s = &sh->models[i];

        if (i == 0 && s->n[NGX_HTTP_AGENTCORE_CALLS] == 0) {
            continue;
        }

        l[0].value = (char *) s->name;
        l[0].len = s->len;

        for (j = 0; j < 4; j++) {
            l[1].value = token_types[j];
            l[1].len = ngx_strlen(token_types[j]);
            ac_prom_sample(p, "agentcore_tokens_total", l, 2,
                           s->n[NGX_HTTP_AGENTCORE_INPUT + j]);
        }
    }

    /* tools; "(other)" and "(unknown)" once something is counted there */

    ac_prom_family(p, "agentcore_tool_calls_total", "counter",
                   "Tool calls by tool and outcome (the toolResult's "
                   "status); \"(unknown)\": a tool the model named that is "
                   "not enabled");

    n = sh->ntools;
    ngx_memory_barrier();

    l[0].name = "tool";
    l[1].name = "outcome";

    for (i = 0; i < n; i++) {
        s = &sh->tools[i];

        if (i < 2 && s->n[0] == 0 && s->n[1] == 0) {
            continue;
        }

        l[0].value = (char *) s->name;
        l[0].len = s->len;

        for (j = 0; j < 2; j++) {
            l[1].value = tool_outcomes[j];
            l[1].len = ngx_strlen(tool_outcomes[j]);
            ac_prom_sample(p, "agentcore_tool_calls_total", l, 2, s->n[j]);
        }
    }

    /* sessions */

    ac_prom_family(p, "agentcore_sessions", "gauge",
                   "Sessions held in each agentcore_session_zone");

    l[0].name = "zone";

    part = &((ngx_cycle_t *) ngx_cycle)->shared_memory.part;
    shm = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            shm = part->elts;
            i = 0;
        }

        live = ngx_http_agentcore_session_count(&shm[i]);

        if (live != NGX_ERROR) {
            l[0].value = (char *) shm[i].shm.name.data;
            l[0].len = shm[i].shm.name.len;
            ac_prom_sample(p, "agentcore_sessions", l, 1, live);
        }
    }

    ac_prom_family(p, "agentcore_sessions_evicted_total", "counter",
                   "Idle sessions evicted to make room in a full "
                   "agentcore_session_zone");

    n = sh->nzones;
    ngx_memory_barrier();

    for (i = 0; i < n; i++) {
        s = &sh->zones[i];
        l[0].value = (char *) s->name;
        l[0].len = s->len;
        ac_prom_sample(p, "agentcore_sessions_evicted_total", l, 1, s->n[0]);
    }

    /* credentials */

    ac_prom_family(p, "agentcore_credential_refreshes_total", "counter",
                   "Fetches of AWS credentials from the sources that "
                   "expire (profiles, container, IMDS, web identity), by "
                   "result");

    l[0].name = "result";
    l[0].value = "success";
    l[0].len = sizeof("success") - 1;
    ac_prom_sample(p, "agentcore_credential_refreshes_total", l, 1,
                   sh->credentials[0]);

    l[0].value = "failure";
    l[0].len = sizeof("failure") - 1;
    ac_prom_sample(p, "agentcore_credential_refreshes_total", l, 1,
                   sh->credentials[1]);

    /* agentcore_memory */

    ac_prom_family(p, "agentcore_memory_requests_total", "counter",
                   "AgentCore Memory requests (agentcore_memory), by "
                   "operation and result (a failure after the retries)");

    for (i = 0; i < 4; i++) {
        l[0].name = "operation";
        l[0].value = (i < 2) ? "ListEvents" : "CreateEvent";
        l[0].len = ngx_strlen(l[0].value);
        l[1].name = "result";
        l[1].value = (i % 2) ? "failure" : "success";
        l[1].len = ngx_strlen(l[1].value);
        ac_prom_sample(p, "agentcore_memory_requests_total", l, 2,
                       sh->memory[i]);
    }
}


/* the access log's variables */

static ngx_int_t
ngx_http_agentcore_metrics_variables(ngx_conf_t *cf)
{
    return ngx_http_agentcore_add_variables(cf,
                                            ngx_http_agentcore_metrics_vars);
}


static ngx_int_t
ngx_http_agentcore_model_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || ctx->conf->enable != 1 || ctx->conf->model.len == 0)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ctx->conf->model.data;
    v->len = ctx->conf->model.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_metrics_number(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, int64_t n)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;
    v->len = ngx_sprintf(p, "%L", n) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_cache_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || !ctx->usage_seen) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_agentcore_metrics_number(r, v,
                                  *(int64_t *) ((char *) &ctx->usage + data));
}


static ngx_int_t
ngx_http_agentcore_tool_names_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || ctx->stats.tools.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ctx->stats.tools.data;
    v->len = ctx->stats.tools.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_retries_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_agentcore_metrics_number(r, v, ctx->stats.retries);
}


static ngx_int_t
ngx_http_agentcore_ttfb_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || !ctx->stats.ttfb_set) {
        v->not_found = 1;
        return NGX_OK;
    }

    return ngx_http_agentcore_metrics_number(r, v, ctx->stats.ttfb);
}


static ngx_int_t
ngx_http_agentcore_error_type_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    size_t                     i;
    ngx_str_t                  type;
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || ctx->error.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_agentcore_error_type(ctx, &type);

    /* a known type as the vocabulary spells it: "ThrottlingException"
       for the stream's "throttlingException" too */

    i = ac_prom_error_type((char *) type.data, type.len);

    if (i + 1 < ac_prom_nerror_types) {
        type.data = (u_char *) ac_prom_error_types[i];
        type.len = ngx_strlen(ac_prom_error_types[i]);
    }

    v->data = type.data;
    v->len = ngx_min(type.len, 128);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t                      outcome;
    ngx_http_agentcore_ctx_t       *ctx;
    ngx_http_agentcore_loc_conf_t  *alcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_agentcore_module);

    if (r != r->main || (ctx ? ctx->conf : alcf)->enable != 1) {
        v->not_found = 1;
        return NGX_OK;
    }

    outcome = ngx_http_agentcore_outcome(r, ctx);

    v->data = ngx_http_agentcore_outcomes[outcome].data;
    v->len = ngx_http_agentcore_outcomes[outcome].len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
