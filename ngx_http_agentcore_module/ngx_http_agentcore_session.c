
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Conversations.  A session's history lives in a shared memory zone
 * (slab allocator, rbtree by id, LRU queue), so every worker sees it
 * and it survives a reload.  An invocation takes its session (owner
 * pid + generation), loads the history, and stores it trimmed to the
 * window when it ends, whichever way it ends.  A second invocation on
 * a taken session gets the reference's concurrency error; a session
 * taken by a process that no longer exists is taken over.
 *
 * A second, small zone counts the invocations in flight per worker
 * and keeps the /ping status and stamp.
 */


#include "ngx_http_agentcore_session.h"
#include "ngx_http_agentcore_history.h"


#define NGX_HTTP_AGENTCORE_WORKERS        256
#define NGX_HTTP_AGENTCORE_STATE_SIZE     (64 * 1024)
#define NGX_HTTP_AGENTCORE_EXPIRE_STEPS   8

/*
 * A session zone backed by a memfd (Linux): its fd, address and size go
 * to a new binary (USR2) in an environment variable, and the new binary
 * maps the same memory at the same address (docs/design.md, "Binary
 * upgrades").  The layout number changes with any change of what the
 * zone holds.
 */
#if (NGX_LINUX) && defined(MFD_CLOEXEC) && defined(F_GET_SEALS)
#define NGX_HTTP_AGENTCORE_MEMFD          1
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE               0x100000
#endif
#endif

#define NGX_HTTP_AGENTCORE_ZONE_LAYOUT    1
#define NGX_HTTP_AGENTCORE_ZONE_ENV       "AGENTCORE_ZONE_"
#define NGX_HTTP_AGENTCORE_ZONE_ENV_LEN   (sizeof("AGENTCORE_ZONE_") - 1 + 8)


typedef struct {
    ngx_pid_t                           pid;          /* 0: free */
    ngx_atomic_t                        invocations;
    ngx_uint_t                          epoch;        /* of its taking */
} ngx_http_agentcore_worker_t;


typedef struct {
    ngx_uint_t                          ping_status;  /* 0: none yet */
    time_t                              ping_stamp;
    ngx_uint_t                          epoch;        /* slots taken */
    ngx_http_agentcore_worker_t         workers[NGX_HTTP_AGENTCORE_WORKERS];
    uint64_t                            instance;     /* this master's */
} ngx_http_agentcore_state_sh_t;


typedef struct {
    ngx_http_agentcore_state_sh_t      *sh;
    ngx_slab_pool_t                    *shpool;
} ngx_http_agentcore_state_t;


typedef struct {
    ngx_rbtree_t                        rbtree;
    ngx_rbtree_node_t                   sentinel;
    ngx_queue_t                         lru;          /* recent first */
    uint64_t                            generation;
    uint64_t                            layout;       /* of the binary */
} ngx_http_agentcore_session_sh_t;


typedef struct {
    ngx_rbtree_node_t                   node;         /* key: crc32(id) */
    ngx_queue_t                         queue;
    ngx_msec_t                          last;         /* last used */
    u_char                             *data;         /* the history */
    size_t                              size;
    uint64_t                            generation;   /* of the holder */
    ngx_pid_t                           owner;        /* 0: free */
    ngx_uint_t                          owner_slot;   /* its worker slot */
    ngx_uint_t                          owner_epoch;
    uint64_t                            owner_instance;
    size_t                              len;
    u_char                              id[1];
} ngx_http_agentcore_session_node_t;


typedef struct {
    ngx_http_agentcore_session_sh_t    *sh;
    ngx_slab_pool_t                    *shpool;
    ngx_shm_zone_t                     *shm_zone;
    ngx_msec_t                          ttl;
    ngx_uint_t                          max_messages;
    ngx_cycle_t                        *cycle;
    ngx_fd_t                            fd;           /* the memfd, or -1 */
    u_char                              env[NGX_HTTP_AGENTCORE_ZONE_ENV_LEN
                                            + 1];
} ngx_http_agentcore_session_zone_t;


/* one invocation's hold on its session */

struct ngx_http_agentcore_session_s {
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_session_zone_t  *zone;
    uint32_t                            hash;
    uint64_t                            generation;
    ngx_queue_t                         queue;        /* held here */
    unsigned                            held:1;
    unsigned                            counted:1;
};


static ngx_int_t ngx_http_agentcore_state_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_agentcore_session_init_zone(
    ngx_shm_zone_t *shm_zone, void *data);
static uint64_t ngx_http_agentcore_session_layout(void);
#if (NGX_HTTP_AGENTCORE_MEMFD)
static ngx_int_t ngx_http_agentcore_session_memfd(ngx_shm_zone_t *shm_zone,
    ngx_http_agentcore_session_zone_t *zone);
static ngx_int_t ngx_http_agentcore_session_adopt(ngx_shm_zone_t *shm_zone,
    ngx_http_agentcore_session_zone_t *zone, const char **reason);
static ngx_int_t ngx_http_agentcore_session_publish(
    ngx_shm_zone_t *shm_zone, ngx_http_agentcore_session_zone_t *zone);
static void ngx_http_agentcore_session_close_fd(void *data);
static void ngx_http_agentcore_session_unsetenv(void);
#endif
static void ngx_http_agentcore_session_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_agentcore_session_key(ngx_http_request_t *r,
    ngx_http_agentcore_loc_conf_t *conf, ngx_str_t *id, ngx_str_t *error);
static ngx_int_t ngx_http_agentcore_session_check(ngx_http_request_t *r,
    ngx_str_t *id, ngx_uint_t key, ngx_str_t *error);
static ngx_int_t ngx_http_agentcore_session_acquire(
    ngx_http_agentcore_session_t *s, ngx_str_t *history, ngx_str_t *error);
static ngx_int_t ngx_http_agentcore_session_store(
    ngx_http_agentcore_session_t *s, ngx_str_t *error);
static void ngx_http_agentcore_session_release(
    ngx_http_agentcore_session_t *s);
static u_char *ngx_http_agentcore_session_replace(
    ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node, size_t len, ngx_log_t *log);
static ngx_http_agentcore_session_node_t *ngx_http_agentcore_session_lookup(
    ngx_http_agentcore_session_zone_t *zone, ngx_str_t *id, uint32_t hash);
static ngx_uint_t ngx_http_agentcore_session_alive(
    ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node);
static ngx_uint_t ngx_http_agentcore_session_busy(
    ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *keep);
static void *ngx_http_agentcore_session_alloc(
    ngx_http_agentcore_session_zone_t *zone, size_t size,
    ngx_http_agentcore_session_node_t *keep);
static void ngx_http_agentcore_session_expire(
    ngx_http_agentcore_session_zone_t *zone);
static void ngx_http_agentcore_session_delete(
    ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node);
static void ngx_http_agentcore_session_cleanup(void *data);
static void ngx_http_agentcore_session_uncount(
    ngx_http_agentcore_session_t *s);


static ngx_str_t  ngx_http_agentcore_session_header =
    ngx_string("X-Amzn-Bedrock-AgentCore-Runtime-Session-Id");

static ngx_str_t  ngx_http_agentcore_busy_error =
    ngx_string(AC_REF_CONCURRENT);

static ngx_str_t  ngx_http_agentcore_state_name =
    ngx_string("agentcore_module_state");

/* the state zone's tag: no user zone can be declared under its name */
static ngx_uint_t                    ngx_http_agentcore_state_tag;

/* this process: the state zone, its own slot, the sessions it holds */
static ngx_http_agentcore_state_t   *ngx_http_agentcore_state;
static ngx_http_agentcore_worker_t  *ngx_http_agentcore_worker;
static ngx_queue_t                   ngx_http_agentcore_held;


/* configuration */

char *
ngx_http_agentcore_session_zone_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf)
{
    u_char                             *p;
    ssize_t                             size;
    ngx_str_t                          *value, name, s;
    ngx_int_t                           n;
    ngx_msec_t                          ttl;
    ngx_uint_t                          i, max;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_agentcore_session_zone_t  *zone;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    /* the module's own zones */
    if ((name.len == ngx_http_agentcore_state_name.len
         && ngx_strncmp(name.data, ngx_http_agentcore_state_name.data,
                        name.len) == 0)
        || (name.len == sizeof("agentcore_credentials") - 1
            && ngx_strncmp(name.data, "agentcore_credentials", name.len)
               == 0)
        || (name.len == sizeof("agentcore_metrics") - 1
            && ngx_strncmp(name.data, "agentcore_metrics", name.len) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"%V\" is reserved", &name);
        return NGX_CONF_ERROR;
    }

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small (at least %uzk)",
                           &value[1], 8 * ngx_pagesize / 1024);
        return NGX_CONF_ERROR;
    }

    /* idleRuntimeSessionTimeout's default, and Strands' window */
    ttl = 900 * 1000;
    max = AC_HISTORY_WINDOW;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);

            if (ttl == (ngx_msec_t) NGX_ERROR || ttl == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid ttl \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "max_messages=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);

            if (n == NGX_ERROR || n < 1 || n > 100000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid max_messages \"%V\" "
                                   "(1 to 100000)", &value[i]);
                return NGX_CONF_ERROR;
            }

            max = (ngx_uint_t) n;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_agentcore_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_session_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->shm_zone = shm_zone;
    zone->ttl = ttl;
    zone->max_messages = max;
    zone->cycle = cf->cycle;
    zone->fd = -1;

    ngx_sprintf(zone->env, NGX_HTTP_AGENTCORE_ZONE_ENV "%08xD%Z",
                ngx_crc32_short(name.data, name.len));

#if (NGX_HTTP_AGENTCORE_MEMFD)
    {
    ngx_str_t        *var;
    ngx_core_conf_t  *ccf;

    /*
     * "env AGENTCORE_ZONE_<crc32 of the name>=", its value set once the
     * zone is mapped: a new binary gets it (ngx_exec_new_binary())
     */

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    var = ngx_array_push(&ccf->env);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    var->len = NGX_HTTP_AGENTCORE_ZONE_ENV_LEN;
    var->data = ngx_pnalloc(cf->pool, var->len + 2);
    if (var->data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(var->data, "%s=%Z", zone->env);
    }
#endif

    shm_zone->init = ngx_http_agentcore_session_init_zone;
    shm_zone->data = zone;

    return NGX_CONF_OK;
}


char *
ngx_http_agentcore_session_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    ngx_str_t  *value;

    if (alcf->session_zone != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        alcf->session_zone = NULL;
        return NGX_CONF_OK;
    }

    alcf->session_zone = ngx_shared_memory_add(cf, &value[1], 0,
                                               &ngx_http_agentcore_module);
    if (alcf->session_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_agentcore_merge_session(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    ngx_conf_merge_ptr_value(conf->session_zone, prev->session_zone, NULL);

    if (conf->session_key == NULL) {
        conf->session_key = prev->session_key;
    }

    ngx_conf_merge_value(conf->ping_busy, prev->ping_busy, 0);

    if (conf->session_zone && conf->session_zone->data == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown agentcore_session_zone \"%V\"",
                           &conf->session_zone->shm.name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_agentcore_state_init(ngx_conf_t *cf)
{
    ngx_shm_zone_t              *shm_zone;
    ngx_http_agentcore_state_t  *state;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_agentcore_state_name,
                                     NGX_HTTP_AGENTCORE_STATE_SIZE,
                                     &ngx_http_agentcore_state_tag);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        return NGX_OK;
    }

    state = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_state_t));
    if (state == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_agentcore_state_init_zone;
    shm_zone->data = state;

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_state_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_agentcore_state_t  *ostate = data;

    ngx_http_agentcore_state_t  *state;

    state = shm_zone->data;

    if (ostate) {
        /* a reload: the counts and the stamp carry on */
        state->sh = ostate->sh;
        state->shpool = ostate->shpool;
        return NGX_OK;
    }

    state->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        state->sh = state->shpool->data;
        return NGX_OK;
    }

    state->sh = ngx_slab_calloc(state->shpool,
                                sizeof(ngx_http_agentcore_state_sh_t));
    if (state->sh == NULL) {
        return NGX_ERROR;
    }

    state->shpool->data = state->sh;

    /* tells this master's workers from another binary's (USR2) */
    state->sh->instance = ((uint64_t) ngx_random() << 32)
                          ^ (uint64_t) ngx_random()
                          ^ ((uint64_t) ngx_pid << 16) ^ ngx_time();

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_session_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_agentcore_session_zone_t  *ozone = data;

    size_t                              len;
    const char                         *reason;
    ngx_http_agentcore_session_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload with the same name and size: the sessions carry on */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;

#if (NGX_HTTP_AGENTCORE_MEMFD)
        /* each cycle its own fd, closed with its pool */
        if (ozone->fd != -1 && !ngx_test_config) {
            zone->fd = dup(ozone->fd);

            if (zone->fd == -1) {
                ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, ngx_errno,
                              "agentcore: dup() of the memfd of "
                              "agentcore_session_zone \"%V\" failed: a new "
                              "binary will start it empty",
                              &shm_zone->shm.name);
            }
        }

        return ngx_http_agentcore_session_publish(shm_zone, zone);
#else
        return NGX_OK;
#endif
    }

#if (NGX_HTTP_AGENTCORE_MEMFD)

    reason = "the old binary passed none";

    if (!ngx_test_config && !shm_zone->shm.exists) {

        if (ngx_inherited && ngx_is_init_cycle(ngx_cycle)
            && ngx_http_agentcore_session_adopt(shm_zone, zone, &reason)
               == NGX_OK)
        {
            ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                          "agentcore: a new binary: agentcore_session_zone "
                          "\"%V\" shared with the old binary, its sessions "
                          "kept", &shm_zone->shm.name);

            return ngx_http_agentcore_session_publish(shm_zone, zone);
        }

        if (ngx_http_agentcore_session_memfd(shm_zone, zone) != NGX_OK) {
            return NGX_ERROR;
        }
    }

#else

    reason = "no memfd on this system";

#endif

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool,
                              sizeof(ngx_http_agentcore_session_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_agentcore_session_rbtree_insert);
    ngx_queue_init(&zone->sh->lru);
    zone->sh->generation = 0;
    zone->sh->layout = ngx_http_agentcore_session_layout();

    len = sizeof(" in agentcore_session_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in agentcore_session_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is handled: evictions, then a clear error */
    zone->shpool->log_nomem = 0;

    if (ngx_inherited && ngx_is_init_cycle(ngx_cycle)) {
        /*
         * A new binary (USR2) that could not map the old binary's
         * zone (docs/operating.md): the old master's sessions are out
         * of its reach
         */
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "agentcore: a new binary: agentcore_session_zone "
                      "\"%V\" starts empty (%s), the sessions of the old "
                      "binary's workers stay with them",
                      &shm_zone->shm.name, reason);
    }

#if (NGX_HTTP_AGENTCORE_MEMFD)
    return ngx_http_agentcore_session_publish(shm_zone, zone);
#else
    return NGX_OK;
#endif
}


/* what a zone shared by two binaries must agree on */

static uint64_t
ngx_http_agentcore_session_layout(void)
{
    size_t  sizes[8];

    sizes[0] = sizeof(ngx_slab_pool_t);
    sizes[1] = sizeof(ngx_slab_page_t);
    sizes[2] = sizeof(ngx_http_agentcore_session_sh_t);
    sizes[3] = sizeof(ngx_http_agentcore_session_node_t);
    sizes[4] = sizeof(ngx_rbtree_node_t);
    sizes[5] = sizeof(ngx_shmtx_sh_t);
    sizes[6] = nginx_version;
    sizes[7] = ngx_pagesize;

    return ((uint64_t) NGX_HTTP_AGENTCORE_ZONE_LAYOUT << 32)
           | ngx_crc32_short((u_char *) sizes, sizeof(sizes));
}


#if (NGX_HTTP_AGENTCORE_MEMFD)

/*
 * The master, a zone nginx has just mapped (anonymous, shared) and
 * made a slab pool of: the same pool, moved into a memfd mapped at the
 * same address.  A failure leaves the anonymous zone: a new binary
 * will start it empty.
 */

static ngx_int_t
ngx_http_agentcore_session_memfd(ngx_shm_zone_t *shm_zone,
    ngx_http_agentcore_session_zone_t *zone)
{
    u_char           *p, *addr;
    size_t            size, used;
    ngx_fd_t          fd;
    ngx_slab_pool_t  *sp;

    addr = shm_zone->shm.addr;
    size = shm_zone->shm.size;
    sp = (ngx_slab_pool_t *) addr;
    used = sp->start - addr;

    fd = memfd_create("agentcore_session_zone", 0);

    if (fd == -1) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, ngx_errno,
                      "agentcore: memfd_create() failed: "
                      "agentcore_session_zone \"%V\" will not outlive "
                      "this binary", &shm_zone->shm.name);
        return NGX_OK;
    }

    if (ftruncate(fd, size) == -1) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, ngx_errno,
                      "agentcore: ftruncate() of a memfd failed: "
                      "agentcore_session_zone \"%V\" will not outlive "
                      "this binary", &shm_zone->shm.name);
        (void) close(fd);
        return NGX_OK;
    }

    p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_SHARED, fd, 0);

    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, ngx_errno,
                      "agentcore: mmap() of a memfd failed: "
                      "agentcore_session_zone \"%V\" will not outlive "
                      "this binary", &shm_zone->shm.name);
        (void) close(fd);
        return NGX_OK;
    }

    /* the pool's header and pages; the rest is zeros in both */
    ngx_memcpy(p, addr, used);

    (void) munmap(p, size);

    /* replaces the anonymous mapping, at once */
    p = mmap(addr, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED, fd, 0);

    if (p != addr) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, ngx_errno,
                      "agentcore: mmap(MAP_FIXED) of a memfd for "
                      "agentcore_session_zone \"%V\" failed",
                      &shm_zone->shm.name);
        (void) close(fd);
        return NGX_ERROR;
    }

    zone->fd = fd;

    return NGX_OK;
}


/*
 * A new binary, at its start: the old binary's zone of this name, from
 * the variable it passed, mapped at its address in place of the empty
 * one nginx has made.  NGX_DECLINED with *reason.
 */

static ngx_int_t
ngx_http_agentcore_session_adopt(ngx_shm_zone_t *shm_zone,
    ngx_http_agentcore_session_zone_t *zone, const char **reason)
{
    int                               seals;
    char                             *env, *p;
    u_char                           *addr, *mine;
    size_t                            size;
    uint64_t                          layout;
    ngx_fd_t                          fd;
    ngx_file_info_t                   fi;
    ngx_slab_pool_t                  *sp;
    ngx_http_agentcore_session_sh_t  *sh;

    env = getenv((char *) zone->env);

    if (env == NULL || *env == '\0') {
        *reason = "the old binary passed none";
        return NGX_DECLINED;
    }

    /* fd:address:size:layout, as ngx_http_agentcore_session_publish() */

    errno = 0;
    fd = (ngx_fd_t) strtol(env, &p, 10);
    if (*p++ != ':') {
        goto invalid;
    }

    addr = (u_char *) (uintptr_t) strtoull(p, &p, 16);
    if (*p++ != ':') {
        goto invalid;
    }

    size = (size_t) strtoull(p, &p, 10);
    if (*p++ != ':') {
        goto invalid;
    }

    layout = strtoull(p, &p, 16);
    if (*p != '\0' || errno || fd < 0 || addr == NULL) {
        goto invalid;
    }

    /* a memfd (it has seals), not any other file this process inherited */

    seals = fcntl(fd, F_GET_SEALS);
    if (seals == -1 || ngx_fd_info(fd, &fi) == -1) {
        *reason = "its fd is no memfd";
        return NGX_DECLINED;
    }

    if (layout != ngx_http_agentcore_session_layout()) {
        *reason = "the old binary's zone layout differs";
        goto close;
    }

    if (size != shm_zone->shm.size || (size_t) ngx_file_size(&fi) != size) {
        *reason = "the zone's size differs";
        goto close;
    }

    mine = shm_zone->shm.addr;

    if (addr == mine) {
        /* nginx's anonymous zone is where the old one was: replaced */
        p = mmap(addr, size, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_FIXED,
                 fd, 0);

    } else if (addr < mine + size && mine < addr + size) {
        *reason = "its address overlaps the new zone";
        goto close;

    } else {
        p = mmap(addr, size, PROT_READ|PROT_WRITE,
                 MAP_SHARED|MAP_FIXED_NOREPLACE, fd, 0);
    }

    if (p == MAP_FAILED) {
        *reason = "its address is taken in this binary";
        goto close;
    }

    if ((u_char *) p != addr) {
        /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
        (void) munmap(p, size);
        *reason = "its address is taken in this binary";
        goto close;
    }

    sp = (ngx_slab_pool_t *) addr;
    sh = sp->data;

    if (sp->addr != addr || sp->end != addr + size
        || (u_char *) sh < sp->start || (u_char *) sh >= sp->end
        || sh->layout != layout)
    {
        if (addr != mine) {
            (void) munmap(addr, size);
        }

        *reason = "the old binary's zone header differs";
        goto close;
    }

    if (addr != mine) {
        /* ngx_shm_free() and the master's unlocks use the address */
        (void) munmap(mine, size);
        shm_zone->shm.addr = addr;
    }

    zone->shpool = sp;
    zone->sh = sh;
    zone->fd = fd;

    return NGX_OK;

invalid:

    *reason = "the variable the old binary passed is invalid";
    return NGX_DECLINED;

close:

    (void) close(fd);
    return NGX_DECLINED;
}


/* "AGENTCORE_ZONE_<crc32>=fd:address:size:layout" for a new binary */

static ngx_int_t
ngx_http_agentcore_session_publish(ngx_shm_zone_t *shm_zone,
    ngx_http_agentcore_session_zone_t *zone)
{
    u_char              *p;
    ngx_str_t           *var;
    ngx_uint_t           i;
    ngx_core_conf_t     *ccf;
    ngx_pool_cleanup_t  *cln;

    if (zone->fd == -1) {
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(zone->cycle->pool, 0);
    if (cln == NULL) {
        (void) close(zone->fd);
        zone->fd = -1;
        return NGX_ERROR;
    }

    cln->handler = ngx_http_agentcore_session_close_fd;
    cln->data = zone;

    ccf = (ngx_core_conf_t *) ngx_get_conf(zone->cycle->conf_ctx,
                                           ngx_core_module);

    var = ccf->env.elts;

    for (i = 0; i < ccf->env.nelts; i++) {
        if (var[i].len == NGX_HTTP_AGENTCORE_ZONE_ENV_LEN
            && ngx_strncmp(var[i].data, zone->env, var[i].len) == 0
            && var[i].data[var[i].len] == '=')
        {
            break;
        }
    }

    if (i == ccf->env.nelts) {
        return NGX_OK;
    }

    p = ngx_pnalloc(zone->cycle->pool, NGX_HTTP_AGENTCORE_ZONE_ENV_LEN
                                       + 1 + 4 * NGX_INT64_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(p, "%s=%d:%xL:%uz:%xL%Z",
                zone->env, zone->fd,
                (uint64_t) (uintptr_t) shm_zone->shm.addr,
                shm_zone->shm.size, ngx_http_agentcore_session_layout());

    var[i].data = p;

    return NGX_OK;
}


static void
ngx_http_agentcore_session_close_fd(void *data)
{
    ngx_http_agentcore_session_zone_t  *zone = data;

    if (zone->fd != -1) {
        (void) close(zone->fd);
        zone->fd = -1;
    }
}

#endif


static void
ngx_http_agentcore_session_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t                  **p;
    ngx_http_agentcore_session_node_t   *sn, *snt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            sn = (ngx_http_agentcore_session_node_t *) node;
            snt = (ngx_http_agentcore_session_node_t *) temp;

            p = (ngx_memn2cmp(sn->id, snt->id, sn->len, snt->len) < 0)
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


/* processes */

ngx_int_t
ngx_http_agentcore_session_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_shm_zone_t                 *shm_zone;
    ngx_http_agentcore_worker_t    *w, *slot;
    ngx_http_agentcore_state_sh_t  *sh;

    ngx_queue_init(&ngx_http_agentcore_held);

    ngx_http_agentcore_state = NULL;
    ngx_http_agentcore_worker = NULL;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    part = &cycle->shared_memory.part;
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

        if (shm_zone[i].tag == &ngx_http_agentcore_state_tag) {
            ngx_http_agentcore_state = shm_zone[i].data;
            break;
        }
    }

    if (ngx_http_agentcore_state == NULL) {
        return NGX_OK;
    }

    /*
     * The slots of processes now gone are freed, all of them: a worker
     * starts in place of one that died, and its pid, soon given to
     * another process (pid_max may be 32768), no longer counts as a
     * worker's, for the invocations in flight and the sessions it held
     * (ngx_http_agentcore_session_alive()).  Then a slot of our own.
     */

    sh = ngx_http_agentcore_state->sh;
    slot = NULL;

    ngx_shmtx_lock(&ngx_http_agentcore_state->shpool->mutex);

    for (i = 0; i < NGX_HTTP_AGENTCORE_WORKERS; i++) {
        w = &sh->workers[i];

        if (w->pid == ngx_pid) {
            /* an earlier process with our pid died without its exit */
            w->pid = 0;

        } else if (w->pid
                   && kill(w->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                          "agentcore: the worker slot of process %P, "
                          "which is gone, freed", w->pid);
            w->pid = 0;
        }

        if (slot == NULL && w->pid == 0) {
            slot = w;
        }
    }

    if (slot) {
        slot->pid = ngx_pid;
        slot->invocations = 0;
        slot->epoch = ++sh->epoch;
    }

    ngx_shmtx_unlock(&ngx_http_agentcore_state->shpool->mutex);

    if (slot == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "agentcore: more than %d worker processes: this one's "
                      "invocations do not count for agentcore_ping_busy",
                      NGX_HTTP_AGENTCORE_WORKERS);
    }

    ngx_http_agentcore_worker = slot;

    return NGX_OK;
}


void
ngx_http_agentcore_session_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t                          i, n;
    ngx_queue_t                        *q, *next;
    ngx_list_part_t                    *part;
    ngx_shm_zone_t                     *shm_zone;
    ngx_http_agentcore_session_zone_t  *zone;
    ngx_http_agentcore_session_node_t  *node;

    /*
     * Requests end before a graceful exit, and release their sessions
     * then; a fast shutdown ends none: release what this process holds.
     */

    part = &cycle->shared_memory.part;
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

        if (shm_zone[i].init != ngx_http_agentcore_session_init_zone
            || shm_zone[i].data == NULL)
        {
            continue;
        }

        zone = shm_zone[i].data;

        if (zone->sh == NULL) {
            continue;
        }

        n = 0;

        ngx_shmtx_lock(&zone->shpool->mutex);

        for (q = ngx_queue_head(&zone->sh->lru);
             q != ngx_queue_sentinel(&zone->sh->lru);
             q = next)
        {
            next = ngx_queue_next(q);
            node = ngx_queue_data(q, ngx_http_agentcore_session_node_t,
                                  queue);

            if (node->owner == ngx_pid) {
                node->owner = 0;
                n++;
            }
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (n) {
            ngx_log_error(NGX_LOG_INFO, cycle->log, 0,
                          "agentcore: released %ui sessions at exit", n);
        }
    }

    if (ngx_http_agentcore_worker) {
        ngx_http_agentcore_worker->invocations = 0;
        ngx_http_agentcore_worker->pid = 0;
        ngx_http_agentcore_worker = NULL;
    }

#if (NGX_HTTP_AGENTCORE_MEMFD)
    ngx_http_agentcore_session_unsetenv();
#endif
}


#if (NGX_HTTP_AGENTCORE_MEMFD)

/*
 * A worker's environment (ngx_set_environment()) points at our
 * "AGENTCORE_ZONE_<crc32>=..." strings, which live in the cycle's pool:
 * after exit_process nginx destroys the pool, then exit() runs the
 * libraries' destructors, and some read the environment (libgnutls's
 * getenv() in its fini: valgrind saw it read the freed pool).  So the
 * entries go before the pool does.
 */

static void
ngx_http_agentcore_session_unsetenv(void)
{
    char    **e, *eq;
    size_t    n;
    u_char    name[NGX_HTTP_AGENTCORE_ZONE_ENV_LEN + 1];

again:

    for (e = environ; e != NULL && *e != NULL; e++) {

        if (ngx_strncmp(*e, NGX_HTTP_AGENTCORE_ZONE_ENV,
                        sizeof(NGX_HTTP_AGENTCORE_ZONE_ENV) - 1)
            != 0)
        {
            continue;
        }

        eq = strchr(*e, '=');
        n = eq ? (size_t) (eq - *e) : ngx_strlen(*e);

        if (n > NGX_HTTP_AGENTCORE_ZONE_ENV_LEN) {
            continue;
        }

        ngx_memcpy(name, *e, n);
        name[n] = '\0';

        if (unsetenv((char *) name) != 0) {
            return;
        }

        goto again;
    }
}

#endif


/* the invocation */

ngx_int_t
ngx_http_agentcore_session_start(ngx_http_agentcore_ctx_t *ctx,
    json_t *prompt, ngx_str_t *error)
{
    json_t                         *messages;
    ngx_int_t                       rc;
    ngx_str_t                       id, history;
    const char                     *err;
    ngx_table_elt_t                *h;
    ngx_pool_cleanup_t             *cln;
    ngx_http_request_t             *r;
    ngx_http_agentcore_session_t   *s;

    r = ctx->request;

    s = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_session_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    s->ctx = ctx;
    cln->handler = ngx_http_agentcore_session_cleanup;
    cln->data = s;
    ctx->session = s;

    if (ngx_http_agentcore_worker) {
        (void) ngx_atomic_fetch_add(&ngx_http_agentcore_worker->invocations,
                                    1);
        s->counted = 1;
    }

    messages = NULL;

    if (ctx->conf->session_zone) {

        rc = ngx_http_agentcore_session_key(r, ctx->conf, &id, error);

        if (rc == NGX_OK) {
            ctx->session_id = id;
            s->zone = ctx->conf->session_zone->data;
            s->hash = ngx_crc32_short(id.data, id.len);

            /* the id comes back, as InvokeAgentRuntime's response has it */

            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            h->hash = 1;
            h->key = ngx_http_agentcore_session_header;
            h->value = id;
            h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
            h->next = NULL;
#endif

            rc = ngx_http_agentcore_session_acquire(s, &history, error);

            /*
             * agentcore_memory: the history is read from the store
             * (ngx_http_agentcore_memory.c), never from this zone: another
             * node may have added turns since
             */

            if (rc == NGX_OK && history.len && ctx->conf->memory == NULL) {
                messages = ac_history_decode(history.data, history.len,
                                             &err);

                if (messages == NULL) {
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "agentcore: session %08xD: stored history "
                                  "unreadable (%s), starting afresh",
                                  s->hash, err);
                }
            }
        }

        if (rc == NGX_DECLINED && error->len == 0) {
            /* no key: stateless */
            rc = NGX_OK;
        }

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (messages == NULL) {
        messages = json_array();
        if (messages == NULL) {
            return NGX_ERROR;
        }
    }

    /* the ctx's cleanup frees it from here on */
    ctx->messages = messages;

    if (ac_history_repair(messages) < 0
        || ac_history_add_user(messages, prompt) != 0)
    {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore session %08xD: %uz messages, %s",
                   s->hash, json_array_size(messages),
                   s->held ? "held" : "stateless");

    return NGX_OK;
}


ngx_uint_t
ngx_http_agentcore_session_window(ngx_http_agentcore_ctx_t *ctx)
{
    if (ctx->session == NULL || ctx->session->zone == NULL) {
        return 0;
    }

    return ctx->session->zone->max_messages;
}


/*
 * The id: agentcore_session_key, or the runtime's session header.
 * NGX_OK; NGX_DECLINED (none: stateless); NGX_HTTP_BAD_REQUEST with
 * *error; NGX_ERROR.
 */

static ngx_int_t
ngx_http_agentcore_session_key(ngx_http_request_t *r,
    ngx_http_agentcore_loc_conf_t *conf, ngx_str_t *id, ngx_str_t *error)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *header;

    ngx_str_null(error);

    if (conf->session_key) {
        if (ngx_http_complex_value(r, conf->session_key, id) != NGX_OK) {
            return NGX_ERROR;
        }

        if (id->len == 0) {
            return NGX_DECLINED;
        }

        if (id->len > NGX_HTTP_AGENTCORE_SESSION_ID_MAX) {
            ngx_str_set(error, "the session key (agentcore_session_key) "
                               "is longer than 256 bytes");
            return NGX_HTTP_BAD_REQUEST;
        }

        return ngx_http_agentcore_session_check(r, id, 1, error);
    }

    h = NULL;
    part = &r->headers_in.headers.part;
    header = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            header = part->elts;
            i = 0;
        }

        if (header[i].key.len == ngx_http_agentcore_session_header.len
            && ngx_strncasecmp(header[i].key.data,
                               ngx_http_agentcore_session_header.data,
                               header[i].key.len)
               == 0)
        {
            h = &header[i];
            break;
        }
    }

    if (h == NULL) {
        return NGX_DECLINED;
    }

    if (h->value.len < NGX_HTTP_AGENTCORE_SESSION_ID_MIN
        || h->value.len > NGX_HTTP_AGENTCORE_SESSION_ID_MAX)
    {
        ngx_str_set(error, "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id "
                           "must be 33 to 256 characters long");
        return NGX_HTTP_BAD_REQUEST;
    }

    *id = h->value;

    return ngx_http_agentcore_session_check(r, id, 0, error);
}


/*
 * The bytes of a session id: it comes back in a response header, and
 * it keys what a later invocation sees.  The runtime's header holds
 * visible ASCII only (0x21 to 0x7E: what an SDK client sends, a UUID;
 * InvokeAgentRuntime documents only the length).  The value of
 * agentcore_session_key may also hold spaces and non-ASCII UTF-8 (a
 * user name, a JWT claim), but no control character (C0, DEL, C1) and
 * no invalid UTF-8.  NGX_OK, or NGX_HTTP_BAD_REQUEST with *error.
 */

static ngx_int_t
ngx_http_agentcore_session_check(ngx_http_request_t *r, ngx_str_t *id,
    ngx_uint_t key, ngx_str_t *error)
{
    u_char      *p, *end, *start, c;
    size_t       n;
    uint32_t     cp, min;
    const char  *what;

    p = id->data;
    end = p + id->len;

    while (p < end) {
        start = p;
        c = *p++;

        if (c >= 0x21 && c <= 0x7e) {
            continue;
        }

        if (!key) {
            goto bad;
        }

        if (c == ' ') {
            continue;
        }

        if (c < 0xc2 || c > 0xf4) {
            goto bad;
        }

        if (c < 0xe0) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;

        } else if (c < 0xf0) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;

        } else {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        }

        if ((size_t) (end - p) < n) {
            goto bad;
        }

        for ( /* void */ ; n; n--, p++) {
            if ((*p & 0xc0) != 0x80) {
                goto bad;
            }

            cp = (cp << 6) | (*p & 0x3f);
        }

        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)
            || (cp >= 0x80 && cp <= 0x9f))
        {
            goto bad;
        }
    }

    return NGX_OK;

bad:

    /* the first byte of the character refused */

    what = key ? "the session key (agentcore_session_key) may hold only "
                 "UTF-8 text without control characters"
               : "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id may hold only "
                 "visible ASCII characters (letters, digits and punctuation, "
                 "0x21 to 0x7E)";

    error->data = ngx_pnalloc(r->pool, 256);
    if (error->data == NULL) {
        return NGX_ERROR;
    }

    /* NUL-terminated: the handler passes it on as a C string */

    error->len = ngx_snprintf(error->data, 255,
                              "%s: the byte 0x%02Xd at offset %uz is not "
                              "allowed%Z",
                              what, (u_int) *start,
                              (size_t) (start - id->data))
                 - error->data - 1;

    return NGX_HTTP_BAD_REQUEST;
}


/*
 * Takes the session: NGX_OK with a copy of its history (empty for a
 * new one); NGX_BUSY, NGX_DECLINED (the zone is full) with *error.
 */

static ngx_int_t
ngx_http_agentcore_session_acquire(ngx_http_agentcore_session_t *s,
    ngx_str_t *history, ngx_str_t *error)
{
    u_char                             *p;
    ngx_pid_t                           owner;
    ngx_http_request_t                 *r;
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_session_zone_t  *zone;
    ngx_http_agentcore_session_node_t  *node;

    ctx = s->ctx;
    r = ctx->request;
    zone = s->zone;

    ngx_str_null(history);
    owner = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_agentcore_session_expire(zone);

    node = ngx_http_agentcore_session_lookup(zone, &ctx->session_id,
                                             s->hash);

    if (node && node->owner) {
        if (ngx_http_agentcore_session_alive(zone, node)) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            *error = ngx_http_agentcore_busy_error;
            return NGX_BUSY;
        }

        /* its holder is gone (crashed, killed): the session is free */
        owner = node->owner;

    } else if (node
               && (ngx_msec_int_t) (ngx_current_msec - node->last)
                  > (ngx_msec_int_t) zone->ttl)
    {
        /* idle too long, not yet swept: as if it were gone */
        ngx_http_agentcore_session_delete(zone, node);
        node = NULL;
    }

    if (node == NULL) {
        node = ngx_http_agentcore_session_alloc(zone,
                   offsetof(ngx_http_agentcore_session_node_t, id)
                   + ctx->session_id.len, NULL);

        if (node == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);

            error->data = ngx_pnalloc(r->pool, 256);
            if (error->data == NULL) {
                return NGX_ERROR;
            }

            error->len = ngx_snprintf(error->data, 256,
                                      "No room for a new session: "
                                      "agentcore_session_zone \"%V\" is "
                                      "full of sessions in use",
                                      &zone->shm_zone->shm.name)
                         - error->data;

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "agentcore: %V", error);

            return NGX_DECLINED;
        }

        node->node.key = s->hash;
        node->len = ctx->session_id.len;
        ngx_memcpy(node->id, ctx->session_id.data, ctx->session_id.len);
        node->data = NULL;
        node->size = 0;

        /* this binary's function: another may share the zone (USR2) */
        zone->sh->rbtree.insert = ngx_http_agentcore_session_rbtree_insert;
        ngx_rbtree_insert(&zone->sh->rbtree, &node->node);
        ngx_queue_insert_head(&zone->sh->lru, &node->queue);

    } else {
        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&zone->sh->lru, &node->queue);
    }

    node->owner = ngx_pid;
    node->generation = ++zone->sh->generation;
    node->last = ngx_current_msec;

    if (ngx_http_agentcore_worker) {
        node->owner_slot = ngx_http_agentcore_worker
                           - ngx_http_agentcore_state->sh->workers;
        node->owner_epoch = ngx_http_agentcore_worker->epoch;
        node->owner_instance = ngx_http_agentcore_state->sh->instance;

    } else {
        node->owner_slot = NGX_HTTP_AGENTCORE_WORKERS;    /* none */
        node->owner_epoch = 0;
        node->owner_instance = 0;
    }

    s->generation = node->generation;
    s->held = 1;
    ngx_queue_insert_tail(&ngx_http_agentcore_held, &s->queue);

    if (node->size) {
        p = ngx_pnalloc(r->pool, node->size);

        if (p) {
            ngx_memcpy(p, node->data, node->size);
            history->data = p;
            history->len = node->size;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (owner) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "agentcore: session %08xD was held by process %P, "
                      "which is gone: taken over", s->hash, owner);
    }

    if (node->size && history->len == 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_agentcore_session_end(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *error)
{
    ngx_int_t                      rc;
    ngx_http_agentcore_session_t  *s;

    s = ctx->session;

    if (s == NULL) {
        return NGX_OK;
    }

    /*
     * The invocation is over for agentcore_ping_busy and the in-flight
     * gauge now, not when the request is freed: that waits for the
     * client to close a connection nginx lingers on (lingering_close).
     */
    ngx_http_agentcore_session_uncount(s);

    if (!s->held) {
        return NGX_OK;
    }

    rc = ngx_http_agentcore_session_store(s, error);

    ngx_http_agentcore_session_release(s);

    return rc;
}


/*
 * Stores ctx->messages, trimmed.  It also runs from the pool cleanup,
 * where r->pool is gone: its buffer is malloc'd, and *error (a
 * stream_error text from r->pool) is only made when "error" is not NULL.
 */

static ngx_int_t
ngx_http_agentcore_session_store(ngx_http_agentcore_session_t *s,
    ngx_str_t *error)
{
    u_char                             *buf, *p;
    size_t                              len, room;
    size_t                              removed;
    ngx_uint_t                          busy;
    ngx_log_t                          *log;
    ngx_http_request_t                 *r;
    ngx_http_agentcore_ctx_t           *ctx;
    ngx_http_agentcore_session_zone_t  *zone;
    ngx_http_agentcore_session_node_t  *node;

    static ngx_str_t  too_deep = ngx_string(
        "The session history cannot be stored (a value is nested too "
        "deeply)");
    static ngx_str_t  no_memory = ngx_string(
        "The session history cannot be stored (no memory)");

    ctx = s->ctx;
    r = ctx->request;
    log = r->connection->log;
    zone = s->zone;

    if (ctx->messages == NULL || ctx->keep_history || ctx->conf->memory) {
        return NGX_OK;
    }

    removed = ac_history_trim(ctx->messages, zone->max_messages);

    if (removed) {
        /* read here, not only in a debug log: builds without debug */
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                       "agentcore session %08xD: %uz oldest messages "
                       "trimmed", s->hash, removed);
    }

    len = ac_history_encode(ctx->messages, NULL, 0);

    if (len == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "agentcore: session %08xD: %V",
                      s->hash, &too_deep);
        if (error) {
            *error = too_deep;
        }
        return NGX_ERROR;
    }

    buf = ngx_alloc(len, log);
    if (buf == NULL) {
        if (error) {
            *error = no_memory;
        }
        return NGX_ERROR;
    }

    (void) ac_history_encode(ctx->messages, buf, len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_agentcore_session_lookup(zone, &ctx->session_id,
                                             s->hash);

    if (node == NULL || node->owner != ngx_pid
        || node->generation != s->generation)
    {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(buf);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "agentcore: session %08xD was taken over: "
                      "this invocation's history is not stored", s->hash);
        return NGX_OK;
    }

    p = ngx_http_agentcore_session_alloc(zone, len, node);

    if (p == NULL && node->data) {
        p = ngx_http_agentcore_session_replace(zone, node, len, log);
    }

    if (p == NULL) {
        /*
         * Every idle session is evicted by now.  With others in use, a
         * history the zone's pages (less one, for the small blocks) could
         * hold would fit once they end: the zone is busy, not too small.
         */

        busy = ngx_http_agentcore_session_busy(zone, node);
        room = (size_t) (zone->shpool->end - zone->shpool->start)
               - ngx_pagesize;

        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_free(buf);

        if (busy && len <= room) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "agentcore: session %08xD: the session history "
                          "(%uz bytes) was not stored: "
                          "agentcore_session_zone \"%V\" is full of "
                          "sessions in use (%ui besides this one)",
                          s->hash, len, &zone->shm_zone->shm.name, busy);

        } else {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "agentcore: session %08xD: the session history "
                          "(%uz bytes) is larger than "
                          "agentcore_session_zone \"%V\" can hold",
                          s->hash, len, &zone->shm_zone->shm.name);
        }

        if (error == NULL) {
            return NGX_ERROR;
        }

        error->data = ngx_pnalloc(r->pool, 256);
        if (error->data == NULL) {
            *error = no_memory;
            return NGX_ERROR;
        }

        if (busy && len <= room) {
            error->len = ngx_snprintf(error->data, 256,
                                      "The session history (%uz bytes) was "
                                      "not stored: agentcore_session_zone "
                                      "\"%V\" is full of sessions in use "
                                      "(%ui besides this one); the session "
                                      "keeps its earlier history",
                                      len, &zone->shm_zone->shm.name, busy)
                         - error->data;

        } else {
            error->len = ngx_snprintf(error->data, 256,
                                      "The session history (%uz bytes) is "
                                      "larger than agentcore_session_zone "
                                      "\"%V\" can hold",
                                      len, &zone->shm_zone->shm.name)
                         - error->data;
        }

        return NGX_ERROR;
    }

    ngx_memcpy(p, buf, len);

    if (node->data && node->data != p) {
        ngx_slab_free_locked(zone->shpool, node->data);
    }

    node->data = p;
    node->size = len;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(buf);

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, log, 0,
                   "agentcore session %08xD: stored %uz messages, %uz bytes",
                   s->hash, json_array_size(ctx->messages), len);

    return NGX_OK;
}


/*
 * With every other session evicted there is still no room while the
 * old history is kept: its room is used too.  If even that is not
 * enough, the old history goes back where it was.  Returns the new
 * block, with node->data freed (or equal to it); NULL, old kept.
 */

static u_char *
ngx_http_agentcore_session_replace(ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node, size_t len, ngx_log_t *log)
{
    u_char  *old, *p;

    old = ngx_alloc(node->size, log);
    if (old == NULL) {
        return NULL;
    }

    ngx_memcpy(old, node->data, node->size);

    ngx_slab_free_locked(zone->shpool, node->data);
    node->data = NULL;

    p = ngx_http_agentcore_session_alloc(zone, len, node);

    if (p == NULL) {
        /* the block just freed: no one else allocated in between */
        node->data = ngx_slab_alloc_locked(zone->shpool, node->size);

        if (node->data) {
            ngx_memcpy(node->data, old, node->size);

        } else {
            node->size = 0;
        }
    }

    ngx_free(old);

    return p;
}


static void
ngx_http_agentcore_session_release(ngx_http_agentcore_session_t *s)
{
    ngx_http_agentcore_session_zone_t  *zone;
    ngx_http_agentcore_session_node_t  *node;

    zone = s->zone;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_http_agentcore_session_lookup(zone, &s->ctx->session_id,
                                             s->hash);

    if (node && node->owner == ngx_pid
        && node->generation == s->generation)
    {
        node->owner = 0;
        node->last = ngx_current_msec;

        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&zone->sh->lru, &node->queue);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_queue_remove(&s->queue);
    s->held = 0;
}


/* the pool cleanup: every ending, client aborts included */

static void
ngx_http_agentcore_session_cleanup(void *data)
{
    ngx_http_agentcore_session_t *s = data;

    if (s->held) {
        /* what the reference keeps: the user turn, the messages done */
        (void) ngx_http_agentcore_session_store(s, NULL);
        ngx_http_agentcore_session_release(s);
    }

    ngx_http_agentcore_session_uncount(s);

    s->ctx->session = NULL;
}


static void
ngx_http_agentcore_session_uncount(ngx_http_agentcore_session_t *s)
{
    if (s->counted && ngx_http_agentcore_worker) {
        (void) ngx_atomic_fetch_add(&ngx_http_agentcore_worker->invocations,
                                    -1);
    }

    s->counted = 0;
}


/* the zone, locked */

static ngx_http_agentcore_session_node_t *
ngx_http_agentcore_session_lookup(ngx_http_agentcore_session_zone_t *zone,
    ngx_str_t *id, uint32_t hash)
{
    ngx_int_t                           rc;
    ngx_rbtree_node_t                  *node, *sentinel;
    ngx_http_agentcore_session_node_t  *sn;

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

        sn = (ngx_http_agentcore_session_node_t *) node;

        rc = ngx_memn2cmp(id->data, sn->id, id->len, sn->len);

        if (rc == 0) {
            return sn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* is the invocation holding the node still running somewhere */

static ngx_uint_t
ngx_http_agentcore_session_alive(ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node)
{
    ngx_queue_t                   *q;
    ngx_http_agentcore_worker_t   *w;
    ngx_http_agentcore_session_t  *s;

    if (node->owner == 0) {
        return 0;
    }

    if (node->owner == ngx_pid) {
        /* ours, or an earlier process's that had our pid */

        for (q = ngx_queue_head(&ngx_http_agentcore_held);
             q != ngx_queue_sentinel(&ngx_http_agentcore_held);
             q = ngx_queue_next(q))
        {
            s = ngx_queue_data(q, ngx_http_agentcore_session_t, queue);

            if (s->zone == zone && s->generation == node->generation) {
                return 1;
            }
        }

        return 0;
    }

    /*
     * A worker that died has its slot freed by the one started in its
     * place: its pid, maybe another program's by now, holds nothing.
     * The slots are this master's: a holder of the other binary (a
     * zone shared across USR2) is alive as long as its pid is.
     */

    if (node->owner_slot < NGX_HTTP_AGENTCORE_WORKERS
        && ngx_http_agentcore_state
        && node->owner_instance == ngx_http_agentcore_state->sh->instance)
    {
        w = &ngx_http_agentcore_state->sh->workers[node->owner_slot];

        if (w->pid != node->owner || w->epoch != node->owner_epoch) {
            return 0;
        }
    }

    if (kill(node->owner, 0) == -1 && ngx_errno == NGX_ESRCH) {
        return 0;
    }

    return 1;
}


/* the sessions in use, other than "keep" (locked) */

static ngx_uint_t
ngx_http_agentcore_session_busy(ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *keep)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q;
    ngx_http_agentcore_session_node_t  *node;

    n = 0;

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_agentcore_session_node_t, queue);

        if (node != keep && ngx_http_agentcore_session_alive(zone, node)) {
            n++;
        }
    }

    return n;
}


/* slab memory; when the zone is full, the least recently used go */

static void *
ngx_http_agentcore_session_alloc(ngx_http_agentcore_session_zone_t *zone,
    size_t size, ngx_http_agentcore_session_node_t *keep)
{
    void                               *p;
    ngx_uint_t                          evicted;
    ngx_queue_t                        *q;
    ngx_http_agentcore_session_node_t  *node;

    evicted = 0;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);

        if (p) {
            break;
        }

        node = NULL;

        for (q = ngx_queue_last(&zone->sh->lru);
             q != ngx_queue_sentinel(&zone->sh->lru);
             q = ngx_queue_prev(q))
        {
            node = ngx_queue_data(q, ngx_http_agentcore_session_node_t,
                                  queue);

            if (node != keep && !ngx_http_agentcore_session_alive(zone, node))
            {
                break;
            }

            node = NULL;
        }

        if (node == NULL) {
            break;
        }

        ngx_http_agentcore_session_delete(zone, node);
        evicted++;
    }

    if (evicted) {
        ngx_http_agentcore_metrics_evicted(&zone->shm_zone->shm.name, evicted);

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "agentcore: agentcore_session_zone \"%V\" is full: "
                      "%ui least recently used sessions evicted",
                      &zone->shm_zone->shm.name, evicted);
    }

    return p;
}


/* idle sessions past the ttl go, a few per invocation */

static void
ngx_http_agentcore_session_expire(ngx_http_agentcore_session_zone_t *zone)
{
    ngx_uint_t                          n;
    ngx_queue_t                        *q, *prev;
    ngx_msec_int_t                      idle;
    ngx_http_agentcore_session_node_t  *node;

    n = 0;

    for (q = ngx_queue_last(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru)
         && n < NGX_HTTP_AGENTCORE_EXPIRE_STEPS;
         q = prev, n++)
    {
        prev = ngx_queue_prev(q);
        node = ngx_queue_data(q, ngx_http_agentcore_session_node_t, queue);

        idle = (ngx_msec_int_t) (ngx_current_msec - node->last);

        if (idle <= (ngx_msec_int_t) zone->ttl) {
            break;
        }

        if (!ngx_http_agentcore_session_alive(zone, node)) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                           "agentcore session %08xD expired",
                           (uint32_t) node->node.key);

            ngx_http_agentcore_session_delete(zone, node);
        }
    }
}


static void
ngx_http_agentcore_session_delete(ngx_http_agentcore_session_zone_t *zone,
    ngx_http_agentcore_session_node_t *node)
{
    ngx_queue_remove(&node->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, &node->node);

    if (node->data) {
        ngx_slab_free_locked(zone->shpool, node->data);
    }

    ngx_slab_free_locked(zone->shpool, node);
}


/* invocations in flight, and the /ping stamp */

ngx_uint_t
ngx_http_agentcore_invocations(void)
{
    ngx_uint_t                      i, n;
    ngx_http_agentcore_worker_t    *w;
    ngx_http_agentcore_state_sh_t  *sh;

    if (ngx_http_agentcore_state == NULL) {
        return 0;
    }

    sh = ngx_http_agentcore_state->sh;
    n = 0;

    for (i = 0; i < NGX_HTTP_AGENTCORE_WORKERS; i++) {
        w = &sh->workers[i];

        if (w->pid == 0 || w->invocations == 0) {
            continue;
        }

        /* a worker that died mid-invocation counts no more */
        if (w->pid != ngx_pid
            && kill(w->pid, 0) == -1 && ngx_errno == NGX_ESRCH)
        {
            continue;
        }

        n += w->invocations;
    }

    return n;
}


time_t
ngx_http_agentcore_ping_stamp(ngx_uint_t busy)
{
    time_t                          stamp;
    ngx_uint_t                      status;
    ngx_http_agentcore_state_sh_t  *sh;

    if (ngx_http_agentcore_state == NULL) {
        return ngx_time();
    }

    sh = ngx_http_agentcore_state->sh;
    status = busy ? 2 : 1;

    ngx_shmtx_lock(&ngx_http_agentcore_state->shpool->mutex);

    /* the first ping stamps; later, only a change of status does */
    if (sh->ping_status != status) {
        sh->ping_status = status;
        sh->ping_stamp = ngx_time();
    }

    stamp = sh->ping_stamp;

    ngx_shmtx_unlock(&ngx_http_agentcore_state->shpool->mutex);

    return stamp;
}


/* the sessions a zone holds (the metrics); NGX_ERROR: not a session zone */

ngx_int_t
ngx_http_agentcore_session_count(ngx_shm_zone_t *shm_zone)
{
    ngx_int_t                           n;
    ngx_queue_t                        *q;
    ngx_http_agentcore_session_zone_t  *zone;

    if (shm_zone->init != ngx_http_agentcore_session_init_zone) {
        return NGX_ERROR;
    }

    zone = shm_zone->data;

    if (zone == NULL || zone->sh == NULL) {
        return 0;
    }

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru);
         q = ngx_queue_next(q))
    {
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}
