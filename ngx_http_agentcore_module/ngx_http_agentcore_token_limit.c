
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Token budgets: agentcore_token_limit_zone and agentcore_token_limit,
 * after ngx_http_limit_req_module.  Each key of a zone has a leaky
 * bucket of tokens (ngx_http_agentcore_budget.h) in shared memory,
 * shared by all workers and kept through a reload: a red-black tree by
 * the key's CRC32, an LRU queue whose idle tail is reclaimed, one lock.
 * The check runs before the first model call (a refusal is a 429 with
 * Retry-After, before the stream) and before each later one (a refusal
 * ends the stream with a stream_error); the usage the model reports is
 * charged after each call.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_budget.h"


typedef struct {
    u_char                       color;
    u_char                       dummy;
    u_short                      len;
    ngx_queue_t                  queue;
    ngx_msec_t                   last;      /* when debt was computed */
    uint64_t                     debt;      /* thousandths of a token */
    u_char                       data[1];
} ngx_http_agentcore_tl_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;     /* most recent first */
} ngx_http_agentcore_tl_shctx_t;


typedef struct {
    ngx_http_agentcore_tl_shctx_t  *sh;
    ngx_slab_pool_t             *shpool;
    ac_budget_rate_t             rate;
    ngx_http_complex_value_t     key;
} ngx_http_agentcore_tl_zone_t;


/* agentcore_token_limit: one zone and its burst */

typedef struct {
    ngx_shm_zone_t              *shm_zone;
    uint64_t                     burst;     /* tokens */
} ngx_http_agentcore_tl_limit_t;


/* an invocation's keys, one per limit; len 0: not counted */

struct ngx_http_agentcore_token_limit_s {
    ngx_str_t                   *keys;
    ngx_uint_t                   status;
};


#define NGX_HTTP_AGENTCORE_TL_PASSED    1
#define NGX_HTTP_AGENTCORE_TL_REJECTED  2
#define NGX_HTTP_AGENTCORE_TL_STOPPED   3


static ngx_int_t ngx_http_agentcore_tl_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_agentcore_tl_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_agentcore_tl_node_t *ngx_http_agentcore_tl_lookup(
    ngx_http_agentcore_tl_zone_t *zone, ngx_str_t *key, uint32_t hash);
static void ngx_http_agentcore_tl_expire(ngx_http_agentcore_tl_zone_t *zone,
    ngx_uint_t n);
static ngx_int_t ngx_http_agentcore_tl_keys(ngx_http_agentcore_ctx_t *ctx);
static ngx_int_t ngx_http_agentcore_tl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


/* the tag of our zones: not the session's or the metrics' */
static ngx_uint_t  ngx_http_agentcore_tl_tag;


static ngx_str_t  ngx_http_agentcore_tl_status_text[] = {
    ngx_null_string,
    ngx_string("PASSED"),
    ngx_string("REJECTED"),
    ngx_string("STOPPED")
};


static ngx_http_variable_t  ngx_http_agentcore_tl_vars[] = {

    { ngx_string("agentcore_token_limit_status"), NULL,
      ngx_http_agentcore_tl_status_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_conf_enum_t  ngx_http_agentcore_token_limit_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


ngx_conf_num_bounds_t  ngx_http_agentcore_token_limit_status_bounds = {
    ngx_conf_check_num_bounds, 400, 599
};


ngx_int_t
ngx_http_agentcore_token_limit_add_variables(ngx_conf_t *cf)
{
    return ngx_http_agentcore_add_variables(cf, ngx_http_agentcore_tl_vars);
}


/* agentcore_token_limit_zone KEY zone=NAME:SIZE rate=N/m */

char *
ngx_http_agentcore_token_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i, rate_set;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_agentcore_tl_zone_t      *zone;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_tl_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &zone->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    rate_set = 0;
    ngx_str_null(&name);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR || name.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            if (ac_budget_parse_rate((const char *) value[i].data + 5,
                                     value[i].len - 5, &zone->rate)
                != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\": tokens (1 to "
                                   "1000000000) per second, minute, hour "
                                   "or day, as \"rate=6000/m\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            rate_set = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (!rate_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"rate\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_agentcore_tl_tag);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        zone = shm_zone->data;

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V \"%V\" is already bound to key \"%V\"",
                           &cmd->name, &name, &zone->key.value);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_agentcore_tl_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


/* agentcore_token_limit zone=NAME [burst=N] */

char *
ngx_http_agentcore_token_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_agentcore_loc_conf_t  *alcf = conf;

    ngx_int_t                       burst;
    ngx_str_t                      *value, s;
    ngx_uint_t                      i;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_agentcore_tl_limit_t  *limit, *limits;

    value = cf->args->elts;

    shm_zone = NULL;
    burst = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (s.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            /* the size comes from agentcore_token_limit_zone */
            shm_zone = ngx_shared_memory_add(cf, &s, 0,
                                             &ngx_http_agentcore_tl_tag);
            if (shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);

            if (burst == NGX_ERROR
                || (uint64_t) burst > AC_BUDGET_MAX_TOKENS)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\": tokens, "
                                   "0 to 1000000000", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    if (alcf->token_limits == NULL) {
        alcf->token_limits = ngx_array_create(cf->pool, 1,
                                        sizeof(ngx_http_agentcore_tl_limit_t));
        if (alcf->token_limits == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    limits = alcf->token_limits->elts;

    for (i = 0; i < alcf->token_limits->nelts; i++) {
        if (shm_zone == limits[i].shm_zone) {
            return "is duplicate";
        }
    }

    limit = ngx_array_push(alcf->token_limits);
    if (limit == NULL) {
        return NGX_CONF_ERROR;
    }

    limit->shm_zone = shm_zone;
    limit->burst = (uint64_t) burst;

    return NGX_CONF_OK;
}


/* as limit_req: the limits of a level replace those inherited */

void
ngx_http_agentcore_token_limit_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf)
{
    if (conf->token_limits == NULL) {
        conf->token_limits = prev->token_limits;
    }

    ngx_conf_merge_uint_value(conf->token_limit_status,
                              prev->token_limit_status,
                              NGX_HTTP_TOO_MANY_REQUESTS);
    ngx_conf_merge_uint_value(conf->token_limit_log_level,
                              prev->token_limit_log_level, NGX_LOG_ERR);
}


static ngx_int_t
ngx_http_agentcore_tl_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_agentcore_tl_zone_t  *ozone = data;

    size_t                         len;
    ngx_http_agentcore_tl_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload: the buckets stay, the rate is the new one */

        if (zone->key.value.len != ozone->key.value.len
            || ngx_strncmp(zone->key.value.data, ozone->key.value.data,
                           zone->key.value.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "agentcore_token_limit_zone \"%V\" uses the \"%V\" "
                          "key while previously it used the \"%V\" key",
                          &shm_zone->shm.name, &zone->key.value,
                          &ozone->key.value);
            return NGX_ERROR;
        }

        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_agentcore_tl_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_agentcore_tl_rbtree_insert_value);

    ngx_queue_init(&zone->sh->queue);

    len = sizeof(" in agentcore_token_limit_zone \"\"")
          + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in agentcore_token_limit_zone "
                "\"%V\"%Z", &shm_zone->shm.name);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_agentcore_tl_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t             **p;
    ngx_http_agentcore_tl_node_t   *tn, *tnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            tn = (ngx_http_agentcore_tl_node_t *) &node->color;
            tnt = (ngx_http_agentcore_tl_node_t *) &temp->color;

            p = (ngx_memn2cmp(tn->data, tnt->data, tn->len, tnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* the lock is held */

static ngx_http_agentcore_tl_node_t *
ngx_http_agentcore_tl_lookup(ngx_http_agentcore_tl_zone_t *zone,
    ngx_str_t *key, uint32_t hash)
{
    ngx_int_t                      rc;
    ngx_rbtree_node_t             *node, *sentinel;
    ngx_http_agentcore_tl_node_t  *tn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        tn = (ngx_http_agentcore_tl_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, tn->data, key->len, (size_t) tn->len);

        if (rc == 0) {
            return tn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* the debt of a node now; another worker's clock may be a little behind */

static uint64_t
ngx_http_agentcore_tl_drain(ngx_http_agentcore_tl_zone_t *zone,
    ngx_http_agentcore_tl_node_t *tn, ngx_msec_t now)
{
    ngx_msec_int_t  ms;

    ms = (ngx_msec_int_t) (now - tn->last);

    return ac_budget_drain(tn->debt, &zone->rate, ms > 0 ? (uint64_t) ms : 0);
}


/*
 * The lock is held.  n == 1: up to two of the least recently used
 * keys whose bucket is empty go.  n == 0 (the zone is full): the least
 * recently used key goes whatever its bucket holds, then up to two
 * empty ones.
 */

static void
ngx_http_agentcore_tl_expire(ngx_http_agentcore_tl_zone_t *zone,
    ngx_uint_t n)
{
    ngx_msec_t                     now;
    ngx_queue_t                   *q;
    ngx_rbtree_node_t             *node;
    ngx_http_agentcore_tl_node_t  *tn;

    now = ngx_current_msec;

    while (n < 3) {

        if (ngx_queue_empty(&zone->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&zone->sh->queue);

        tn = ngx_queue_data(q, ngx_http_agentcore_tl_node_t, queue);

        if (n++ != 0 && ngx_http_agentcore_tl_drain(zone, tn, now) > 0) {
            return;
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) tn - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&zone->sh->rbtree, node);

        ngx_slab_free_locked(zone->shpool, node);
    }
}


/* the keys of the invocation's limits, evaluated once */

static ngx_int_t
ngx_http_agentcore_tl_keys(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_uint_t                      i;
    ngx_http_request_t             *r;
    ngx_http_agentcore_tl_zone_t   *zone;
    ngx_http_agentcore_tl_limit_t  *limits;

    if (ctx->token_limit) {
        return NGX_OK;
    }

    r = ctx->request;

    ctx->token_limit = ngx_pcalloc(r->pool,
                                   sizeof(ngx_http_agentcore_token_limit_t));
    if (ctx->token_limit == NULL) {
        return NGX_ERROR;
    }

    ctx->token_limit->keys = ngx_pcalloc(r->pool,
                            ctx->conf->token_limits->nelts * sizeof(ngx_str_t));
    if (ctx->token_limit->keys == NULL) {
        return NGX_ERROR;
    }

    limits = ctx->conf->token_limits->elts;

    for (i = 0; i < ctx->conf->token_limits->nelts; i++) {
        zone = limits[i].shm_zone->data;

        if (ngx_http_complex_value(r, &zone->key, &ctx->token_limit->keys[i])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ctx->token_limit->keys[i].len > 65535) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "the value of the \"%V\" key "
                          "is more than 65535 bytes: not counted in "
                          "agentcore_token_limit_zone \"%V\"",
                          &zone->key.value, &limits[i].shm_zone->shm.name);
            ctx->token_limit->keys[i].len = 0;
        }
    }

    return NGX_OK;
}


/*
 * Before a model call: NGX_OK when every limit allows it (or there
 * are none); NGX_DECLINED when one refuses, with the text of the
 * refusal in *error (for the JSON body and the stream_error alike) and
 * the seconds until the call would be allowed in *retry_after.
 */

ngx_int_t
ngx_http_agentcore_token_limit_check(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error, time_t *retry_after)
{
    uint32_t                        hash;
    uint64_t                        debt, wait, max_wait;
    ngx_str_t                      *key;
    ngx_uint_t                      i, n, refused;
    ngx_msec_t                      now;
    ngx_http_request_t             *r;
    ngx_http_agentcore_tl_node_t   *tn;
    ngx_http_agentcore_tl_zone_t   *zone;
    ngx_http_agentcore_tl_limit_t  *limits;

    if (ctx->conf->token_limits == NULL) {
        return NGX_OK;
    }

    if (ngx_http_agentcore_tl_keys(ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    r = ctx->request;
    limits = ctx->conf->token_limits->elts;
    max_wait = 0;
    refused = 0;
    n = 0;

    for (i = 0; i < ctx->conf->token_limits->nelts; i++) {
        key = &ctx->token_limit->keys[i];

        if (key->len == 0) {
            continue;
        }

        n++;

        zone = limits[i].shm_zone->data;
        hash = ngx_crc32_short(key->data, key->len);

        ngx_shmtx_lock(&zone->shpool->mutex);

        now = ngx_current_msec;

        ngx_http_agentcore_tl_expire(zone, 1);

        tn = ngx_http_agentcore_tl_lookup(zone, key, hash);

        wait = 0;

        if (tn) {
            debt = ngx_http_agentcore_tl_drain(zone, tn, now);

            tn->debt = debt;
            tn->last = now;

            ngx_queue_remove(&tn->queue);
            ngx_queue_insert_head(&zone->sh->queue, &tn->queue);

            wait = ac_budget_wait(debt, limits[i].burst, &zone->rate);

        } else {
            debt = 0;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "agentcore token limit \"%V\": debt %uL.%03uL, "
                       "wait %uL ms", &limits[i].shm_zone->shm.name,
                       debt / 1000, debt % 1000, wait);

        if (wait > max_wait || (wait && !refused)) {
            max_wait = wait;
            refused = i + 1;
        }
    }

    if (n == 0) {
        /* every key empty: not counted */
        return NGX_OK;
    }

    if (!refused) {
        if (ctx->token_limit->status == 0) {
            ctx->token_limit->status = NGX_HTTP_AGENTCORE_TL_PASSED;
        }

        return NGX_OK;
    }

    *retry_after = (time_t) ac_budget_seconds(max_wait);

    ctx->token_limit->status = ctx->streaming
                               ? NGX_HTTP_AGENTCORE_TL_STOPPED
                               : NGX_HTTP_AGENTCORE_TL_REJECTED;

    error->data = ngx_pnalloc(r->pool, 256);
    if (error->data == NULL) {
        return NGX_ERROR;
    }

    /* no key in the text or the log: it may be an API key */

    error->len = ngx_snprintf(error->data, 256,
                              "The token limit of zone \"%V\" is reached: "
                              "try again in %T seconds",
                              &limits[refused - 1].shm_zone->shm.name,
                              *retry_after)
                 - error->data;

    ngx_log_error(ctx->conf->token_limit_log_level, r->connection->log, 0,
                  "agentcore: token limit of zone \"%V\" reached %s, "
                  "retry in %uL ms",
                  &limits[refused - 1].shm_zone->shm.name,
                  ctx->streaming ? "between model calls"
                                 : "before the stream",
                  max_wait);

    return NGX_DECLINED;
}


/* after a model call: its usage, added to the bucket of every key */

void
ngx_http_agentcore_token_limit_charge(ngx_http_agentcore_ctx_t *ctx,
    const ac_usage_t *u)
{
    size_t                          size;
    uint32_t                        hash;
    uint64_t                        tokens;
    ngx_str_t                      *key;
    ngx_uint_t                      i;
    ngx_msec_t                      now;
    ngx_rbtree_node_t              *node;
    ngx_http_agentcore_tl_node_t   *tn;
    ngx_http_agentcore_tl_zone_t   *zone;
    ngx_http_agentcore_tl_limit_t  *limits;

    if (ctx->conf->token_limits == NULL || ctx->token_limit == NULL) {
        return;
    }

    /* every token the model read or wrote, cached or not */

    tokens = 0;
    tokens += u->input_tokens > 0 ? (uint64_t) u->input_tokens : 0;
    tokens += u->output_tokens > 0 ? (uint64_t) u->output_tokens : 0;
    tokens += u->cache_read_input_tokens > 0
              ? (uint64_t) u->cache_read_input_tokens : 0;
    tokens += u->cache_write_input_tokens > 0
              ? (uint64_t) u->cache_write_input_tokens : 0;

    if (tokens == 0) {
        return;
    }

    limits = ctx->conf->token_limits->elts;

    for (i = 0; i < ctx->conf->token_limits->nelts; i++) {
        key = &ctx->token_limit->keys[i];

        if (key->len == 0) {
            continue;
        }

        zone = limits[i].shm_zone->data;
        hash = ngx_crc32_short(key->data, key->len);

        ngx_shmtx_lock(&zone->shpool->mutex);

        now = ngx_current_msec;

        tn = ngx_http_agentcore_tl_lookup(zone, key, hash);

        if (tn) {
            tn->debt = ngx_http_agentcore_tl_drain(zone, tn, now);
            ngx_queue_remove(&tn->queue);

        } else {
            size = offsetof(ngx_rbtree_node_t, color)
                   + offsetof(ngx_http_agentcore_tl_node_t, data)
                   + key->len;

            ngx_http_agentcore_tl_expire(zone, 1);

            node = ngx_slab_alloc_locked(zone->shpool, size);

            if (node == NULL) {
                ngx_log_error(NGX_LOG_WARN, ctx->request->connection->log,
                              0, "agentcore_token_limit_zone \"%V\" is "
                              "full: the least recently used key is "
                              "forgotten", &limits[i].shm_zone->shm.name);

                ngx_http_agentcore_tl_expire(zone, 0);

                node = ngx_slab_alloc_locked(zone->shpool, size);
                if (node == NULL) {
                    ngx_shmtx_unlock(&zone->shpool->mutex);

                    ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log,
                                  0, "could not allocate node%s: %uL "
                                  "tokens not counted",
                                  zone->shpool->log_ctx, tokens);
                    continue;
                }
            }

            node->key = hash;

            tn = (ngx_http_agentcore_tl_node_t *) &node->color;

            tn->len = (u_short) key->len;
            tn->debt = 0;
            ngx_memcpy(tn->data, key->data, key->len);

            ngx_rbtree_insert(&zone->sh->rbtree, node);
        }

        tn->debt = ac_budget_charge(tn->debt, tokens);
        tn->last = now;

        ngx_queue_insert_head(&zone->sh->queue, &tn->queue);

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }
}


/*
 * The 429 before the stream: Retry-After, and the runtime's JSON error
 * shape (as the module's other errors before the stream)
 */

ngx_int_t
ngx_http_agentcore_token_limit_refuse(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error, time_t retry_after)
{
    u_char              *details;
    ngx_table_elt_t     *h;
    ngx_http_request_t  *r;

    r = ctx->request;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");

    h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->value.len = ngx_sprintf(h->value.data, "%T", retry_after)
                   - h->value.data;

    details = ngx_pnalloc(r->pool, error->len + 1);
    if (details == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(details, error->data, error->len);
    details[error->len] = '\0';

    return ngx_http_agentcore_send_json(r, ctx->conf->token_limit_status,
                                        "Token limit exceeded",
                                        (char *) details);
}


static ngx_int_t
ngx_http_agentcore_tl_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_agentcore_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    if (ctx == NULL || ctx->token_limit == NULL
        || ctx->token_limit->status == 0)
    {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ngx_http_agentcore_tl_status_text[ctx->token_limit->status].data;
    v->len = ngx_http_agentcore_tl_status_text[ctx->token_limit->status].len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
