
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Credentials (docs/credentials.md): the agentcore_credentials
 * directive and the sources of a configuration.
 *
 * Static keys, the environment and a Bedrock API key are read in each
 * worker and need nothing else.  The other sources (the "auto" chain
 * when the environment has no keys, profiles, the container endpoint,
 * IMDS, web identity) are fetched with libcurl in a thread of nginx's
 * thread pool, never on the event loop, and shared by all workers in a
 * shared memory zone: one slot per source holds the credentials, their
 * expiration, the next refresh and a lease that lets one worker fetch
 * at a time.  Every worker keeps a timer per source: it refreshes ahead
 * of the expiration (5 minutes, jittered), retries a failed fetch with
 * backoff while the old credentials stay in use, and takes over the
 * lease of a worker that died.
 *
 * A request waits only when there are no valid credentials at all: it
 * is queued and woken by the end of the fetch (its own worker's thread
 * completion) or by a check of the zone on a short timer (another
 * worker's fetch).  Secrets never reach a log line; the zone and the
 * workers' copies are excluded from core dumps.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_awscreds.h"

#include <sys/mman.h>
#include <pwd.h>


#if !(NGX_THREADS)
#error ngx_http_agentcore_module needs nginx built with threads
#endif


#define NGX_HTTP_AGENTCORE_CREDS_LEAD     300   /* s before Expiration */
#define NGX_HTTP_AGENTCORE_CREDS_JITTER   60    /* s, at most, earlier */
#define NGX_HTTP_AGENTCORE_CREDS_MIN      5     /* s between good fetches */
#define NGX_HTTP_AGENTCORE_CREDS_RECHECK  60    /* s: no Expiration */
#define NGX_HTTP_AGENTCORE_CREDS_BACKOFF  30    /* s, the longest */
#define NGX_HTTP_AGENTCORE_CREDS_LEASE    30    /* s for one fetch */
#define NGX_HTTP_AGENTCORE_CREDS_WAIT     30    /* s a request waits */
#define NGX_HTTP_AGENTCORE_CREDS_POLL     20    /* ms: waiters look */


/* one source's slot in the shared zone */

typedef struct {
    u_char                          key[64];    /* the source, for reloads */
    ngx_uint_t                      generation; /* new credentials */
    ngx_uint_t                      attempts;   /* finished fetches */
    ngx_uint_t                      failures;   /* the current streak */
    time_t                          expiration; /* 0: does not expire */
    time_t                          refresh;    /* the next fetch */
    time_t                          lease;      /* the fetch ends by then */
    ngx_pid_t                       fetcher;    /* 0: none */
    ngx_uint_t                      valid;
    size_t                          akid_len;
    size_t                          secret_len;
    size_t                          token_len;
    u_char                          source[AC_CREDS_SOURCE_MAX];
    u_char                          error[AC_CREDS_ERROR_MAX];
    u_char                          tried[AC_CREDS_TRIED_MAX];  /* names */
    u_char                          akid[AC_CREDS_AKID_MAX];
    u_char                          secret[AC_CREDS_SECRET_MAX];
    u_char                          token[AC_CREDS_TOKEN_MAX];
} ngx_http_agentcore_creds_slot_t;


typedef struct {
    ngx_uint_t                      nslots;
    ngx_http_agentcore_creds_slot_t slots[1];
} ngx_http_agentcore_creds_shm_t;


/* a worker's copy of credentials, in memory excluded from core dumps */

typedef struct {
    ngx_uint_t                      generation;
    time_t                          expiration;
    ngx_uint_t                      valid;
    u_char                          akid[AC_CREDS_AKID_MAX + 1];
    u_char                          secret[AC_CREDS_SECRET_MAX + 1];
    u_char                          token[AC_CREDS_TOKEN_MAX + 1];
} ngx_http_agentcore_creds_local_t;


struct ngx_http_agentcore_creds_conf_s {
    ngx_array_t                     sources;    /* creds_t * */
    ngx_cycle_t                    *cycle;
    ngx_thread_pool_t              *pool;
    ngx_shm_zone_t                 *zone;
    ngx_slab_pool_t                *shpool;
    ngx_http_agentcore_creds_shm_t *sh;
    ngx_uint_t                      nslots;
};


struct ngx_http_agentcore_creds_s {
    ac_creds_source_e               type;       /* as configured */
    ac_creds_source_e               use;        /* in a worker: "auto"
                                                   may be the env's */
    ngx_str_t                       key;        /* "auto", "profile=x" */
    u_char                         *profile;    /* NULL or a C string */
    ngx_uint_t                      slot;       /* NGX_CONF_UNSET_UINT:
                                                   none */
    ngx_http_agentcore_creds_conf_t *conf;

    ngx_http_agentcore_credentials_t  creds;    /* what requests get */
    ngx_http_agentcore_creds_local_t *local;
    time_t                          env_expiration;
    u_char                         *missing;    /* why there are none */

    /* a worker's state */
    ngx_queue_t                     waiters;
    ngx_event_t                     timer;
    ngx_thread_task_t              *task;

    unsigned                        used:1;
    unsigned                        fetching:1;
    unsigned                        logged:1;
};


/* a request waiting for credentials */

struct ngx_http_agentcore_creds_wait_s {
    ngx_queue_t                     queue;
    ngx_http_agentcore_ctx_t       *ctx;
    ngx_http_agentcore_creds_t     *src;
    ngx_uint_t                      attempts;   /* when it began */
    time_t                          deadline;
    ngx_int_t                       rc;         /* NGX_AGAIN: waiting */
    unsigned                        queued:1;   /* in src->waiters */
    unsigned                        linked:1;   /* in any queue */
};


/* what a thread needs and gives back */

typedef struct {
    ngx_http_agentcore_creds_t     *src;
    ac_creds_source_e               type;
    const char                     *profile;
    ac_creds_opts_t                 opts;
    ac_creds_t                      out;    /* the task's own: freed by
                                               the completion, else by the
                                               cycle pool's cleanup */
    int                             rc;
    ngx_atomic_t                    ran;    /* the thread is done with it */
    char                            error[AC_CREDS_ERROR_MAX];
} ngx_http_agentcore_creds_task_t;


typedef struct {
    void                           *addr;
    size_t                          size;
} ngx_http_agentcore_secret_t;


static ngx_http_agentcore_creds_t *ngx_http_agentcore_creds_add(
    ngx_conf_t *cf, ac_creds_source_e type, ngx_str_t *profile);
static void ngx_http_agentcore_secret_free(void *data);
static ngx_uint_t ngx_http_agentcore_creds_fetched(ac_creds_source_e type);
static ngx_int_t ngx_http_agentcore_pass_env(ngx_conf_t *cf);
static const char *ngx_http_agentcore_conf_getenv(void *data,
    const char *name);
static const char *ngx_http_agentcore_worker_getenv(void *data,
    const char *name);
static ngx_int_t ngx_http_agentcore_creds_init_zone(ngx_shm_zone_t *zone,
    void *data);
static ngx_int_t ngx_http_agentcore_creds_check(
    ngx_http_agentcore_creds_conf_t *cc, ngx_log_t *log);
static void ngx_http_agentcore_creds_slots(
    ngx_http_agentcore_creds_conf_t *cc, ngx_log_t *log);
static ngx_int_t ngx_http_agentcore_creds_worker(
    ngx_http_agentcore_creds_t *src, ngx_cycle_t *cycle);
static void ngx_http_agentcore_creds_local_env(
    ngx_http_agentcore_creds_t *src, ngx_log_t *log);
static ngx_int_t ngx_http_agentcore_creds_valid(
    ngx_http_agentcore_creds_t *src, time_t now);
static void ngx_http_agentcore_creds_sync(ngx_http_agentcore_creds_t *src,
    ngx_http_agentcore_creds_slot_t *slot);
static ngx_int_t ngx_http_agentcore_creds_start(
    ngx_http_agentcore_creds_t *src, ngx_uint_t *attempts);
static void ngx_http_agentcore_creds_thread(void *data, ngx_log_t *log);
static void ngx_http_agentcore_creds_task_cleanup(void *data);
static void ngx_http_agentcore_creds_done(ngx_event_t *ev);
static void ngx_http_agentcore_creds_failed(
    ngx_http_agentcore_creds_slot_t *slot, time_t now, const char *error);
static void ngx_http_agentcore_creds_timer(ngx_event_t *ev);
static void ngx_http_agentcore_creds_schedule(
    ngx_http_agentcore_creds_t *src);
static void ngx_http_agentcore_creds_waiters(ngx_http_agentcore_creds_t *src,
    ngx_uint_t attempts, ngx_uint_t busy);
static void ngx_http_agentcore_creds_wait_cleanup(void *data);


static ngx_str_t  ngx_http_agentcore_creds_zone_name =
    ngx_string("agentcore_credentials");

static ngx_str_t  ngx_http_agentcore_creds_pool_name =
    ngx_string("agentcore");


static ac_creds_env_t  ngx_http_agentcore_env;
static char           *ngx_http_agentcore_home;
static ngx_uint_t      ngx_http_agentcore_curl_ready;


static const char  *ngx_http_agentcore_creds_names[] = {
    "auto", "env", "profile", "container", "imds", "web_identity",
    "static", "bearer"
};


/* the directive */

char *
ngx_http_agentcore_credentials_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    u_char                            *p;
    ngx_str_t                         *value, profile;
    ngx_uint_t                         i;
    ac_creds_source_e                  type;
    ngx_http_agentcore_creds_t        *src;
    ngx_http_agentcore_creds_local_t  *l;

    if (alcf->creds) {
        return "is duplicate";
    }

    value = cf->args->elts;
    ngx_str_null(&profile);

    if (value[1].len == sizeof("static") - 1
        && ngx_strcmp(value[1].data, "static") == 0)
    {
        /* never echo a value: a key id given as a secret is a secret */

        if (cf->args->nelts != 4 && cf->args->nelts != 5) {
            return "static needs an access key id, a secret access key "
                   "and an optional session token";
        }

        if (!ac_creds_good_key_id((char *) value[2].data, value[2].len)) {
            return "static: the access key id is malformed (4 to 128 "
                   "letters, digits or \"_\")";
        }

        if (!ac_creds_good_secret((char *) value[3].data, value[3].len)) {
            return "static: the secret access key is malformed (8 to 128 "
                   "visible ASCII characters)";
        }

        if (cf->args->nelts == 5
            && !ac_creds_good_token((char *) value[4].data, value[4].len))
        {
            return "static: the session token is malformed (1 to 8192 "
                   "visible ASCII characters)";
        }

        src = ngx_http_agentcore_creds_add(cf, AC_CREDS_STATIC, NULL);
        if (src == NULL) {
            return NGX_CONF_ERROR;
        }

        l = ngx_http_agentcore_secret_alloc(cf->pool,
                                   sizeof(ngx_http_agentcore_creds_local_t));
        if (l == NULL) {
            return NGX_CONF_ERROR;
        }

        src->local = l;
        l->valid = 1;

        src->creds.access_key_id.data = l->akid;
        src->creds.access_key_id.len = value[2].len;
        ngx_memcpy(l->akid, value[2].data, value[2].len);

        src->creds.secret_access_key.data = l->secret;
        src->creds.secret_access_key.len = value[3].len;
        ngx_memcpy(l->secret, value[3].data, value[3].len);
        ngx_explicit_memzero(value[3].data, value[3].len);

        if (cf->args->nelts == 5) {
            src->creds.session_token.data = l->token;
            src->creds.session_token.len = value[4].len;
            ngx_memcpy(l->token, value[4].data, value[4].len);
            ngx_explicit_memzero(value[4].data, value[4].len);
        }

        alcf->creds = src;

        return NGX_CONF_OK;
    }

    if (cf->args->nelts != 2) {
        return "takes one source, or \"static\" with keys";
    }

    if (value[1].len > sizeof("profile=") - 1
        && ngx_strncmp(value[1].data, "profile=", sizeof("profile=") - 1)
           == 0)
    {
        type = AC_CREDS_PROFILE;
        profile.data = value[1].data + sizeof("profile=") - 1;
        profile.len = value[1].len - (sizeof("profile=") - 1);

        for (p = profile.data; p < profile.data + profile.len; p++) {
            if (*p <= ' ' || *p >= 0x7f || *p == '[' || *p == ']') {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid profile name \"%V\"", &profile);
                return NGX_CONF_ERROR;
            }
        }

        if (profile.len > 128) {
            return "profile: the name is longer than 128 characters";
        }

        goto found;
    }

    for (i = 0; i < sizeof(ngx_http_agentcore_creds_names) / sizeof(char *);
         i++)
    {
        if (i != AC_CREDS_STATIC
            && ngx_strlen(ngx_http_agentcore_creds_names[i]) == value[1].len
            && ngx_strncmp(value[1].data, ngx_http_agentcore_creds_names[i],
                           value[1].len)
               == 0)
        {
            type = (ac_creds_source_e) i;
            goto found;
        }
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must be "
                       "\"auto\", \"env\", \"profile\", \"profile=NAME\", "
                       "\"container\", \"imds\", \"web_identity\", "
                       "\"bearer\" or \"static\"", &value[1], &cmd->name);
    return NGX_CONF_ERROR;

found:

    src = ngx_http_agentcore_creds_add(cf, type,
                                       profile.len ? &profile : NULL);
    if (src == NULL) {
        return NGX_CONF_ERROR;
    }

    alcf->creds = src;

    return NGX_CONF_OK;
}


/* one source per distinct value, shared by the locations that name it */

static ngx_http_agentcore_creds_t *
ngx_http_agentcore_creds_add(ngx_conf_t *cf, ac_creds_source_e type,
    ngx_str_t *profile)
{
    u_char                           *p;
    ngx_uint_t                        i;
    ngx_http_agentcore_creds_t       *src, **srcp;
    ngx_http_agentcore_main_conf_t   *amcf;
    ngx_http_agentcore_creds_conf_t  *cc;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_agentcore_module);

    cc = amcf->creds;

    if (cc == NULL) {
        cc = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_creds_conf_t));
        if (cc == NULL) {
            return NULL;
        }

        if (ngx_array_init(&cc->sources, cf->pool, 4,
                           sizeof(ngx_http_agentcore_creds_t *))
            != NGX_OK)
        {
            return NULL;
        }

        amcf->creds = cc;
    }

    srcp = cc->sources.elts;

    for (i = 0; type != AC_CREDS_STATIC && i < cc->sources.nelts; i++) {
        src = srcp[i];

        if (src->type == type
            && ((profile == NULL && src->profile == NULL)
                || (profile && src->profile
                    && ngx_strlen(src->profile) == profile->len
                    && ngx_strncmp(src->profile, profile->data,
                                   profile->len)
                       == 0)))
        {
            return src;
        }
    }

    src = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_creds_t));
    if (src == NULL) {
        return NULL;
    }

    src->type = type;
    src->use = type;
    src->slot = NGX_CONF_UNSET_UINT;
    src->conf = cc;

    src->key.len = ngx_strlen(ngx_http_agentcore_creds_names[type])
                   + (profile ? 1 + profile->len : 0);
    src->key.data = ngx_pnalloc(cf->pool, src->key.len + 1);
    if (src->key.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(src->key.data, ngx_http_agentcore_creds_names[type],
                   ngx_strlen(ngx_http_agentcore_creds_names[type]));

    if (profile) {
        *p++ = '=';
        src->profile = p;
        p = ngx_cpymem(p, profile->data, profile->len);
    }

    *p = '\0';

    srcp = ngx_array_push(&cc->sources);
    if (srcp == NULL) {
        return NULL;
    }

    *srcp = src;

    return src;
}


/* memory that core dumps leave out, wiped when the pool goes */

void *
ngx_http_agentcore_secret_alloc(ngx_pool_t *pool, size_t size)
{
    void                         *p;
    ngx_pool_cleanup_t           *cln;
    ngx_http_agentcore_secret_t  *s;

    cln = ngx_pool_cleanup_add(pool, sizeof(ngx_http_agentcore_secret_t));
    if (cln == NULL) {
        return NULL;
    }

    size = ngx_align(size, ngx_pagesize);

    p = mmap(NULL, size, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS,
             -1, 0);

    if (p == MAP_FAILED) {
        ngx_log_error(NGX_LOG_EMERG, pool->log, ngx_errno,
                      "mmap(%uz) failed", size);
        return NULL;
    }

#ifdef MADV_DONTDUMP
    (void) madvise(p, size, MADV_DONTDUMP);
#endif

    s = cln->data;
    s->addr = p;
    s->size = size;
    cln->handler = ngx_http_agentcore_secret_free;

    return p;
}


static void
ngx_http_agentcore_secret_free(void *data)
{
    ngx_http_agentcore_secret_t *s = data;

    ngx_explicit_memzero(s->addr, s->size);
    (void) munmap(s->addr, s->size);
}


/* merge: locations with "agentcore" get "auto" unless told otherwise */

char *
ngx_http_agentcore_merge_credentials(ngx_conf_t *cf,
    ngx_http_agentcore_loc_conf_t *prev, ngx_http_agentcore_loc_conf_t *conf)
{
    if (conf->creds == NULL) {
        conf->creds = prev->creds;
    }

    if (conf->enable != 1 && !ngx_http_agentcore_runtime_signs(conf)) {
        return NGX_CONF_OK;
    }

    if (conf->creds == NULL) {
        conf->creds = ngx_http_agentcore_creds_add(cf, AC_CREDS_AUTO, NULL);
        if (conf->creds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    conf->creds->used = 1;

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_agentcore_creds_fetched(ac_creds_source_e type)
{
    return type == AC_CREDS_AUTO || type == AC_CREDS_PROFILE
           || type == AC_CREDS_CONTAINER || type == AC_CREDS_IMDS
           || type == AC_CREDS_WEB_IDENTITY;
}


/*
 * The variables the credential chain reads reach the workers without
 * "env" lines: each one no "env" directive names is added to the core
 * module's list as "env NAME;" would add it, so nginx's own
 * ngx_set_environment() copies it from the master's environment.  An
 * "env NAME=VALUE;" or "env NAME;" of the configuration stays as it is
 * (one after "http" is seen by init_module, which drops ours).
 */

static ngx_int_t
ngx_http_agentcore_pass_env(ngx_conf_t *cf)
{
    size_t            n, k;
    ngx_str_t        *var;
    ngx_uint_t        i;
    const char       *name;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    for (k = 0; (name = ac_creds_env_name(k)) != NULL; k++) {
        n = ngx_strlen(name);
        var = ccf->env.elts;

        for (i = 0; i < ccf->env.nelts; i++) {
            if (var[i].len == n && ngx_strncmp(var[i].data, name, n) == 0) {
                break;
            }
        }

        if (i < ccf->env.nelts) {
            continue;
        }

        var = ngx_array_push(&ccf->env);
        if (var == NULL) {
            return NGX_ERROR;
        }

        /* as ngx_set_env() keeps it: data[len] is not '=' */
        var->len = n;
        var->data = (u_char *) name;
    }

    return NGX_OK;
}


/*
 * init_module, once the whole configuration is read: an "env" directive
 * after "http" names a variable the module added too; the module's entry
 * would come first in the workers' environment, so it goes.
 */

ngx_int_t
ngx_http_agentcore_credentials_init_module(ngx_cycle_t *cycle)
{
    size_t            k;
    ngx_str_t        *var;
    ngx_uint_t        i, j, n;
    const char       *name;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    var = ccf->env.elts;
    n = 0;

    for (i = 0; i < ccf->env.nelts; i++) {

        for (k = 0; (name = ac_creds_env_name(k)) != NULL; k++) {
            if (var[i].data == (u_char *) name) {
                break;
            }
        }

        if (name) {
            for (j = i + 1; j < ccf->env.nelts; j++) {
                if (var[j].len == var[i].len
                    && ngx_strncmp(var[j].data, var[i].data, var[i].len)
                       == 0)
                {
                    break;
                }
            }

            if (j < ccf->env.nelts) {
                continue;
            }
        }

        var[n++] = var[i];
    }

    ccf->env.nelts = n;

    return NGX_OK;
}


/*
 * The workers' environment as the configuration makes it: "env NAME"
 * (the module adds one for each variable the chain reads) passes the
 * master's value, "env NAME=VALUE" sets one; nothing else reaches the
 * workers.  HOME falls back to the workers' user's home.
 */

static const char *
ngx_http_agentcore_conf_getenv(void *data, const char *name)
{
    ngx_cycle_t *cycle = data;

    size_t            n;
    char             *v;
    ngx_str_t        *var;
    ngx_uint_t        i;
    struct passwd    *pw;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = ngx_strlen(name);
    var = ccf->env.elts;

    /* "NAME=VALUE" is kept as "NAME" (len) followed by "=VALUE" */

    for (i = 0; i < ccf->env.nelts; i++) {
        if (var[i].len != n || ngx_strncmp(var[i].data, name, n) != 0) {
            continue;
        }

        if (var[i].data[n] == '=') {
            return (const char *) var[i].data + n + 1;
        }

        v = getenv(name);

        if (v && *v) {
            return v;
        }

        break;
    }

    if (ngx_strcmp(name, "HOME") == 0) {
        pw = getpwuid(ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT
                      ? geteuid() : ccf->user);
        return pw ? pw->pw_dir : NULL;
    }

    return NULL;
}


static const char *
ngx_http_agentcore_worker_getenv(void *data, const char *name)
{
    const char  *v;

    v = getenv(name);

    if ((v == NULL || *v == '\0') && ngx_strcmp(name, "HOME") == 0) {
        return ngx_http_agentcore_home;
    }

    return v;
}


/*
 * postconfiguration: slots for the fetched sources, the thread pool
 * ("agentcore" if declared before "http", else "default") and the zone.
 */

ngx_int_t
ngx_http_agentcore_credentials_postconfiguration(ngx_conf_t *cf)
{
    size_t                            size;
    ngx_uint_t                        i, used, thread;
    ac_creds_env_t                    env;
    ngx_http_agentcore_creds_t      **srcp, *src;
    ngx_http_agentcore_main_conf_t   *amcf;
    ngx_http_agentcore_creds_conf_t  *cc;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_agentcore_module);

    cc = amcf->creds;
    if (cc == NULL) {
        return NGX_OK;
    }

    cc->cycle = cf->cycle;

    srcp = cc->sources.elts;

    for (i = 0; i < cc->sources.nelts; i++) {
        if (srcp[i]->used) {
            if (ngx_http_agentcore_pass_env(cf) != NGX_OK) {
                return NGX_ERROR;
            }

            break;
        }
    }

    ac_creds_env_load(&env, ngx_http_agentcore_conf_getenv, cf->cycle);

    used = 0;
    thread = 0;
    srcp = cc->sources.elts;

    for (i = 0; i < cc->sources.nelts; i++) {
        src = srcp[i];

        if (!src->used) {
            continue;
        }

        used++;

        if (!ngx_http_agentcore_creds_fetched(src->type)) {
            continue;
        }

        cc->nslots++;

        /* "auto" with keys or an API key in the environment: no thread */

        if (src->type != AC_CREDS_AUTO
            || (env.bearer_token == NULL
                && (env.access_key_id == NULL
                    || env.secret_access_key == NULL)))
        {
            thread = 1;
        }
    }

    if (used == 0) {
        return NGX_OK;
    }

    if (thread) {
        cc->pool = ngx_thread_pool_get(cf->cycle,
                                       &ngx_http_agentcore_creds_pool_name);

        if (cc->pool == NULL) {
            cc->pool = ngx_thread_pool_add(cf, NULL);
            if (cc->pool == NULL) {
                return NGX_ERROR;
            }
        }
    }

    /*
     * Room for more sources than this configuration has: a reload that
     * keeps the size keeps the zone, and the old and the new workers
     * share the slots of the sources they have in common.
     */

    cc->nslots = ngx_align(cc->nslots + 8, 16);

    size = 8 * ngx_pagesize + sizeof(ngx_http_agentcore_creds_shm_t)
           + cc->nslots * sizeof(ngx_http_agentcore_creds_slot_t);

    cc->zone = ngx_shared_memory_add(cf, &ngx_http_agentcore_creds_zone_name,
                                     size, &ngx_http_agentcore_module);
    if (cc->zone == NULL) {
        return NGX_ERROR;
    }

    cc->zone->init = ngx_http_agentcore_creds_init_zone;
    cc->zone->data = cc;

    return NGX_OK;
}


/*
 * The zone's init runs once the whole configuration is read ("nginx -t"
 * too): the sources are checked against the workers' environment here,
 * and a reload keeps the credentials of the sources that stay.
 */

static ngx_int_t
ngx_http_agentcore_creds_init_zone(ngx_shm_zone_t *zone, void *data)
{
    size_t                            size;
    ngx_slab_pool_t                  *shpool;
    ngx_http_agentcore_creds_shm_t   *sh;
    ngx_http_agentcore_creds_conf_t  *cc;

    cc = zone->data;

    if (ngx_http_agentcore_creds_check(cc, zone->shm.log) != NGX_OK) {
        return NGX_ERROR;
    }

#ifdef MADV_DONTDUMP
    (void) madvise(zone->shm.addr, zone->shm.size, MADV_DONTDUMP);
#endif

    shpool = (ngx_slab_pool_t *) zone->shm.addr;
    cc->shpool = shpool;

    if (data || zone->shm.exists) {
        /* the previous configuration's zone: its slots stay */
        sh = shpool->data;

    } else {
        size = sizeof(ngx_http_agentcore_creds_shm_t)
               + (cc->nslots - 1) * sizeof(ngx_http_agentcore_creds_slot_t);

        sh = ngx_slab_alloc(shpool, size);
        if (sh == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(sh, size);
        sh->nslots = cc->nslots;
        shpool->data = sh;
    }

    cc->sh = sh;

    ngx_shmtx_lock(&shpool->mutex);
    ngx_http_agentcore_creds_slots(cc, zone->shm.log);
    ngx_shmtx_unlock(&shpool->mutex);

    return NGX_OK;
}


/*
 * Each fetched source takes the slot of its key, or a free one.  The key
 * holds a hash of the workers' variables: a reload that changes them
 * starts afresh.  When all are taken, the slots of sources this
 * configuration no longer has are freed (an old worker still draining
 * would fetch again).
 */

static void
ngx_http_agentcore_creds_slots(ngx_http_agentcore_creds_conf_t *cc,
    ngx_log_t *log)
{
    u_char                            key[64], *p;
    uint32_t                          crc;
    ngx_uint_t                        i, j, k, pass;
    ac_creds_env_t                    env;
    const char                      **v;
    ngx_http_agentcore_creds_t      **srcp, *src;
    ngx_http_agentcore_creds_shm_t   *sh;

    sh = cc->sh;
    srcp = cc->sources.elts;

    ac_creds_env_load(&env, ngx_http_agentcore_conf_getenv, cc->cycle);

    ngx_crc32_init(crc);

    for (v = (const char **) &env;
         v < (const char **) (&env + 1);
         v++)
    {
        ngx_crc32_update(&crc, (u_char *) "|", 1);

        if (*v) {
            ngx_crc32_update(&crc, (u_char *) *v, ngx_strlen(*v));
        }
    }

    ngx_crc32_final(crc);

    for (pass = 0; pass < 3; pass++) {

        for (i = 0; i < cc->sources.nelts; i++) {
            src = srcp[i];

            if (!src->used || !ngx_http_agentcore_creds_fetched(src->type)
                || (pass && src->slot != NGX_CONF_UNSET_UINT))
            {
                continue;
            }

            p = ngx_snprintf(key, sizeof(key) - 1, "%V#%08xD", &src->key,
                             crc);
            *p = '\0';

            for (j = 0; j < sh->nslots; j++) {

                if (pass == 0 && ngx_strcmp(sh->slots[j].key, key) == 0) {
                    break;
                }

                if (pass > 0 && sh->slots[j].key[0] == '\0') {
                    break;
                }
            }

            if (j == sh->nslots) {
                continue;
            }

            if (pass > 0) {
                ngx_memzero(&sh->slots[j],
                            sizeof(ngx_http_agentcore_creds_slot_t));
                ngx_cpystrn(sh->slots[j].key, key, sizeof(key));
            }

            src->slot = j;
        }

        if (pass != 1) {
            continue;
        }

        for (k = 0; k < cc->sources.nelts; k++) {
            if (srcp[k]->used && ngx_http_agentcore_creds_fetched(srcp[k]->type)
                && srcp[k]->slot == NGX_CONF_UNSET_UINT)
            {
                break;
            }
        }

        if (k == cc->sources.nelts) {
            break;
        }

        /* full: free the slots no source of this configuration holds */

        for (j = 0; j < sh->nslots; j++) {
            for (k = 0; k < cc->sources.nelts; k++) {
                if (srcp[k]->slot == j) {
                    break;
                }
            }

            if (k == cc->sources.nelts && sh->slots[j].key[0]) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "agentcore_credentials: the slot of \"%s\" "
                              "is reused", sh->slots[j].key);
                sh->slots[j].key[0] = '\0';
            }
        }
    }
}


static ngx_int_t
ngx_http_agentcore_creds_check(ngx_http_agentcore_creds_conf_t *cc,
    ngx_log_t *log)
{
    char                         err[AC_CREDS_ERROR_MAX];
    ngx_uint_t                   i;
    ac_creds_env_t               env;
    ngx_http_agentcore_creds_t  **srcp;

    ac_creds_env_load(&env, ngx_http_agentcore_conf_getenv, cc->cycle);

    srcp = cc->sources.elts;

    for (i = 0; i < cc->sources.nelts; i++) {
        if (!srcp[i]->used) {
            continue;
        }

        if (ac_creds_check(srcp[i]->type, (const char *) srcp[i]->profile,
                           &env, err, sizeof(err))
            != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, log, 0,
                          "agentcore_credentials %V: %s", &srcp[i]->key,
                          err);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* init_process */

ngx_int_t
ngx_http_agentcore_credentials_init(ngx_cycle_t *cycle)
{
    char                              *home;
    ngx_uint_t                         i;
    struct passwd                      pwd, *pw;
    ngx_http_agentcore_creds_t       **srcp;
    ngx_http_agentcore_main_conf_t    *amcf;
    ngx_http_agentcore_creds_conf_t   *cc;
    char                               buf[4096];

    amcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_agentcore_module);

    if (amcf == NULL || amcf->creds == NULL || amcf->creds->zone == NULL) {
        return NGX_OK;
    }

    cc = amcf->creds;

#ifdef MADV_DONTDUMP
    (void) madvise(cc->zone->shm.addr, cc->zone->shm.size, MADV_DONTDUMP);
#endif

    /* the files' default place when HOME is not passed: the user's home */

    ngx_http_agentcore_home = NULL;

    if (getpwuid_r(geteuid(), &pwd, buf, sizeof(buf), &pw) == 0 && pw) {
        home = ngx_pnalloc(cycle->pool, ngx_strlen(pw->pw_dir) + 1);
        if (home == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn((u_char *) home, (u_char *) pw->pw_dir,
                    ngx_strlen(pw->pw_dir) + 1);
        ngx_http_agentcore_home = home;
    }

    ac_creds_env_load(&ngx_http_agentcore_env,
                      ngx_http_agentcore_worker_getenv, NULL);

    srcp = cc->sources.elts;

    for (i = 0; i < cc->sources.nelts; i++) {
        if (srcp[i]->used
            && ngx_http_agentcore_creds_worker(srcp[i], cycle) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_creds_worker(ngx_http_agentcore_creds_t *src,
    ngx_cycle_t *cycle)
{
    ac_creds_env_t                   *env;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_creds_task_t  *t;

    env = &ngx_http_agentcore_env;

    ngx_queue_init(&src->waiters);

    switch (src->type) {

    case AC_CREDS_STATIC:
        return NGX_OK;

    case AC_CREDS_ENV:
    case AC_CREDS_BEARER:
        ngx_http_agentcore_creds_local_env(src, cycle->log);
        return NGX_OK;

    case AC_CREDS_AUTO:

        /* as the SDKs: an API key wins, then the environment's keys */

        if (env->bearer_token
            || env->access_key_id || env->secret_access_key)
        {
            src->use = env->bearer_token ? AC_CREDS_BEARER : AC_CREDS_ENV;
            ngx_http_agentcore_creds_local_env(src, cycle->log);
            return NGX_OK;
        }

        break;

    default:
        break;
    }

    src->use = src->type;

    src->local = ngx_http_agentcore_secret_alloc(cycle->pool,
                                   sizeof(ngx_http_agentcore_creds_local_t));
    if (src->local == NULL) {
        return NGX_ERROR;
    }

    if (src->slot == NGX_CONF_UNSET_UINT) {
        src->missing = (u_char *) "no slot for them in the shared zone";
        src->use = AC_CREDS_ENV;
        return NGX_OK;
    }

    if (src->conf->pool == NULL) {
        src->missing = (u_char *) "no thread pool to fetch them in: put "
                       "the \"env\" directives before the \"http\" block";
        src->use = AC_CREDS_ENV;
        return NGX_OK;
    }

    if (!ngx_http_agentcore_curl_ready) {
        if (ac_creds_global_init() != 0) {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                          "agentcore: curl_global_init() failed");
            return NGX_ERROR;
        }

        ngx_http_agentcore_curl_ready = 1;
    }

    src->task = ngx_thread_task_alloc(cycle->pool,
                                   sizeof(ngx_http_agentcore_creds_task_t));
    if (src->task == NULL) {
        return NGX_ERROR;
    }

    /*
     * A fetch that ends just before the worker exits never reaches its
     * completion handler: the cycle pool's cleanup frees (and wipes)
     * what the thread left in the task
     */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_agentcore_creds_task_cleanup;
    cln->data = src->task->ctx;

    t = src->task->ctx;
    t->src = src;
    t->type = src->type;
    t->profile = (const char *) src->profile;
    ac_creds_opts_default(&t->opts);

    src->task->handler = ngx_http_agentcore_creds_thread;
    src->task->event.handler = ngx_http_agentcore_creds_done;
    src->task->event.data = t;
    src->task->event.log = cycle->log;

    src->timer.handler = ngx_http_agentcore_creds_timer;
    src->timer.data = src;
    src->timer.log = cycle->log;
    src->timer.cancelable = 1;

    /* the first look at once: a fetch unless the zone has credentials */
    ngx_add_timer(&src->timer, 1);

    return NGX_OK;
}


/* the environment's keys or API key, as they are: nothing to refresh */

static void
ngx_http_agentcore_creds_local_env(ngx_http_agentcore_creds_t *src,
    ngx_log_t *log)
{
    int                          rc;
    char                         err[AC_CREDS_ERROR_MAX];
    size_t                       len;
    ac_creds_t                   c;
    ac_creds_env_t              *env;
    ngx_http_agentcore_credentials_t  *cr;

    env = &ngx_http_agentcore_env;
    cr = &src->creds;

    if (src->use == AC_CREDS_BEARER) {
        if (env->bearer_token == NULL) {
            src->missing = (u_char *) "AWS_BEARER_TOKEN_BEDROCK is not in "
                           "the worker's environment (set it in nginx's, "
                           "or with \"env NAME=VALUE\")";
            return;
        }

        len = ngx_strlen(env->bearer_token);

        if (!ac_creds_good_token(env->bearer_token, len)) {
            src->missing = (u_char *) "AWS_BEARER_TOKEN_BEDROCK holds "
                           "spaces or control characters";
            return;
        }

        cr->bearer_token.data = (u_char *) env->bearer_token;
        cr->bearer_token.len = len;
        return;
    }

    rc = ac_creds_from_env(env, ngx_time(), &c, err, sizeof(err));

    if (rc == 1) {
        src->missing = (u_char *) "neither AWS_BEARER_TOKEN_BEDROCK nor "
                       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are in "
                       "the worker's environment (set them in nginx's, "
                       "or with \"env NAME=VALUE\")";
        return;
    }

    if (rc != 0) {
        len = ngx_strlen(err) + 1;
        src->missing = ngx_pnalloc(ngx_cycle->pool, len);

        if (src->missing) {
            ngx_memcpy(src->missing, err, len);
        }

        ngx_log_error(NGX_LOG_ERR, log, 0, "agentcore: no AWS credentials: "
                      "%s", err);
        src->logged = 1;
        return;
    }

    /* the variables live as long as the process: point at them */

    cr->access_key_id.data = (u_char *) env->access_key_id;
    cr->access_key_id.len = ngx_strlen(env->access_key_id);
    cr->secret_access_key.data = (u_char *) env->secret_access_key;
    cr->secret_access_key.len = ngx_strlen(env->secret_access_key);

    if (env->session_token) {
        cr->session_token.data = (u_char *) env->session_token;
        cr->session_token.len = ngx_strlen(env->session_token);
    }

    src->env_expiration = c.expiration;

    ac_creds_free(&c);
}


/*
 * The credentials to sign with, for ctx's location: NGX_OK and *cr;
 * NGX_AGAIN: a fetch is under way, the main request will be posted when
 * it ends (call again then); NGX_DECLINED: there are none (the cause is
 * in the error log); NGX_ERROR.
 */

ngx_int_t
ngx_http_agentcore_credentials(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_agentcore_credentials_t **cr)
{
    time_t                            now;
    ngx_int_t                         rc;
    ngx_uint_t                        attempts;
    ngx_pool_cleanup_t               *cln;
    ngx_http_request_t               *r;
    ngx_http_agentcore_creds_t       *src;
    ngx_http_agentcore_creds_wait_t  *w;

    r = ctx->request;
    src = ctx->conf->creds;
    w = ctx->creds_wait;

    if (src == NULL) {
        return NGX_DECLINED;
    }

    if (w) {
        if (w->queued) {
            return NGX_AGAIN;
        }

        if (w->rc != NGX_AGAIN) {
            rc = w->rc;
            w->rc = NGX_AGAIN;

            if (rc != NGX_OK) {
                return rc;
            }
        }
    }

    now = ngx_time();

    if (!ngx_http_agentcore_creds_fetched(src->use)) {

        if (ngx_http_agentcore_creds_valid(src, now)) {
            *cr = &src->creds;
            return NGX_OK;
        }

        if (!src->logged) {
            src->logged = 1;

            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "agentcore: no AWS credentials: %s",
                          src->missing ? (char *) src->missing
                          : "the credentials in the environment expired "
                            "(AWS_CREDENTIAL_EXPIRATION)");
        }

        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&src->conf->shpool->mutex);
    ngx_http_agentcore_creds_sync(src, &src->conf->sh->slots[src->slot]);
    ngx_shmtx_unlock(&src->conf->shpool->mutex);

    if (ngx_http_agentcore_creds_valid(src, now)) {
        *cr = &src->creds;
        return NGX_OK;
    }

    /* none at all: wait for a fetch, this worker's or another's */

    rc = ngx_http_agentcore_creds_start(src, &attempts);

    if (rc == NGX_DECLINED || rc == NGX_ERROR) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "agentcore credentials \"%V\": none, the last fetch "
                       "failed", &src->key);
        return NGX_DECLINED;
    }

    if (w == NULL) {
        w = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_creds_wait_t));
        if (w == NULL) {
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_ERROR;
        }

        cln->handler = ngx_http_agentcore_creds_wait_cleanup;
        cln->data = w;

        w->ctx = ctx;
        w->src = src;
        ctx->creds_wait = w;
    }

    w->attempts = attempts;
    w->deadline = now + NGX_HTTP_AGENTCORE_CREDS_WAIT;
    w->rc = NGX_AGAIN;
    w->queued = 1;
    w->linked = 1;

    ngx_queue_insert_tail(&src->waiters, &w->queue);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore credentials \"%V\": waiting for a fetch "
                   "(%s)", &src->key,
                   src->fetching ? "this worker's" : "another worker's");

    if (!src->fetching) {
        ngx_add_timer(&src->timer, NGX_HTTP_AGENTCORE_CREDS_POLL);
    }

    return NGX_AGAIN;
}


/*
 * What a location's credentials were looked for in, by name only (no
 * path, URL or value): the details of the 500 when there are none.
 * Writes a C string into buf (len > 0).
 */

void
ngx_http_agentcore_credentials_tried(ngx_http_agentcore_ctx_t *ctx,
    u_char *buf, size_t len)
{
    u_char                           *p;
    ngx_http_agentcore_creds_t       *src;
    ngx_http_agentcore_creds_slot_t  *slot;

    src = ctx->conf->creds;
    p = buf;

    if (src == NULL) {
        p = ngx_snprintf(buf, len - 1, "no source");

    } else if (src->use == AC_CREDS_BEARER) {
        p = ngx_snprintf(buf, len - 1,
                         "environment (AWS_BEARER_TOKEN_BEDROCK)");

    } else if (src->use == AC_CREDS_ENV) {
        p = ngx_snprintf(buf, len - 1, "environment (AWS_ACCESS_KEY_ID, "
                         "AWS_SECRET_ACCESS_KEY%s)",
                         src->type == AC_CREDS_AUTO
                         ? ", AWS_BEARER_TOKEN_BEDROCK" : "");

    } else if (ngx_http_agentcore_creds_fetched(src->use)
               && src->slot != NGX_CONF_UNSET_UINT)
    {
        slot = &src->conf->sh->slots[src->slot];

        ngx_shmtx_lock(&src->conf->shpool->mutex);
        p = ngx_snprintf(buf, len - 1, "%s", slot->tried);
        ngx_shmtx_unlock(&src->conf->shpool->mutex);
    }

    if (p == buf) {
        p = ngx_snprintf(buf, len - 1, "%V (no answer yet)", &src->key);
    }

    *p = '\0';
}


static ngx_int_t
ngx_http_agentcore_creds_valid(ngx_http_agentcore_creds_t *src, time_t now)
{
    ngx_http_agentcore_creds_local_t  *l;

    if (!ngx_http_agentcore_creds_fetched(src->use)) {
        return (src->creds.bearer_token.len
                || src->creds.access_key_id.len)
               && (src->env_expiration == 0 || now < src->env_expiration);
    }

    l = src->local;

    return l->valid && (l->expiration == 0 || now < l->expiration);
}


/* the zone's credentials into the worker's copy; the zone is locked */

static void
ngx_http_agentcore_creds_sync(ngx_http_agentcore_creds_t *src,
    ngx_http_agentcore_creds_slot_t *slot)
{
    ngx_http_agentcore_creds_local_t  *l;
    ngx_http_agentcore_credentials_t  *cr;

    l = src->local;

    if (l->generation == slot->generation) {
        return;
    }

    cr = &src->creds;

    /* C strings: the signer wants them so */

    ngx_memcpy(l->akid, slot->akid, slot->akid_len);
    l->akid[slot->akid_len] = '\0';
    ngx_memcpy(l->secret, slot->secret, slot->secret_len);
    l->secret[slot->secret_len] = '\0';
    ngx_memcpy(l->token, slot->token, slot->token_len);
    l->token[slot->token_len] = '\0';

    l->generation = slot->generation;
    l->expiration = slot->expiration;
    l->valid = slot->valid;

    cr->access_key_id.data = l->akid;
    cr->access_key_id.len = slot->akid_len;
    cr->secret_access_key.data = l->secret;
    cr->secret_access_key.len = slot->secret_len;
    cr->session_token.data = slot->token_len ? l->token : NULL;
    cr->session_token.len = slot->token_len;
}


/*
 * Takes the lease and starts a fetch if one is due: NGX_OK (started),
 * NGX_BUSY (one is under way somewhere), NGX_DECLINED (not due: after
 * a failure, the backoff; with credentials, the refresh time), or
 * NGX_ERROR.  *attempts: the count of fetches finished so far.
 */

static ngx_int_t
ngx_http_agentcore_creds_start(ngx_http_agentcore_creds_t *src,
    ngx_uint_t *attempts)
{
    time_t                            now;
    ngx_int_t                         due;
    ngx_slab_pool_t                  *shpool;
    ngx_http_agentcore_creds_slot_t  *slot;
    ngx_http_agentcore_creds_task_t  *t;

    now = ngx_time();
    shpool = src->conf->shpool;
    slot = &src->conf->sh->slots[src->slot];

    ngx_shmtx_lock(&shpool->mutex);

    *attempts = slot->attempts;

    if (src->fetching || (slot->fetcher && slot->lease > now)) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_BUSY;
    }

    /* none, and no failure yet (just expired, a first fetch): due now */

    due = now >= slot->refresh
          || (slot->failures == 0
              && !(slot->valid
                   && (slot->expiration == 0 || now < slot->expiration)));

    if (!due) {
        ngx_shmtx_unlock(&shpool->mutex);
        return NGX_DECLINED;
    }

    slot->fetcher = ngx_pid;
    slot->lease = now + NGX_HTTP_AGENTCORE_CREDS_LEASE;

    ngx_shmtx_unlock(&shpool->mutex);

    t = src->task->ctx;
    t->rc = -1;
    t->ran = 0;
    t->error[0] = '\0';

    if (ngx_thread_task_post(src->conf->pool, src->task) != NGX_OK) {

        /* the pool's queue is full (logged): a failure, with backoff */

        ngx_shmtx_lock(&shpool->mutex);

        if (slot->fetcher == ngx_pid) {
            slot->fetcher = 0;
            slot->lease = 0;
        }

        ngx_http_agentcore_creds_failed(slot, now, "the thread pool did "
                                        "not take the fetch");

        ngx_shmtx_unlock(&shpool->mutex);

        return NGX_ERROR;
    }

    src->fetching = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, src->timer.log, 0,
                   "agentcore credentials \"%V\": fetch started", &src->key);

    return NGX_OK;
}


/* in a thread: no nginx calls, no logging */

static void
ngx_http_agentcore_creds_thread(void *data, ngx_log_t *log)
{
    ngx_http_agentcore_creds_task_t *t = data;

    t->rc = ac_creds_fetch(t->type, t->profile, &ngx_http_agentcore_env,
                           &t->opts, &t->out, t->error, sizeof(t->error));

    ngx_memory_barrier();
    t->ran = 1;
}


/*
 * The cycle pool goes (the worker exits): the credentials of a fetch whose
 * completion never ran are freed here.  The thread pool's exit_process
 * has joined its threads by then (a core module's hook runs before
 * ours, and the cycle pool is destroyed after all hooks); a fetch still
 * running (a pool that outlives this cycle) keeps the task: never freed
 * under a thread.  The completion handler frees and zeroes t->out, so
 * the two never free the same memory.
 */

static void
ngx_http_agentcore_creds_task_cleanup(void *data)
{
    ngx_http_agentcore_creds_task_t *t = data;

    if (t->src->fetching && !t->ran) {
        return;
    }

    ngx_memory_barrier();

    ac_creds_free(&t->out);
}


static time_t
ngx_http_agentcore_creds_refresh_time(time_t now, time_t expiration)
{
    time_t  ahead, jitter;

    if (expiration == 0) {
        /* shared files: read again now and then */
        return now + NGX_HTTP_AGENTCORE_CREDS_RECHECK;
    }

    ahead = expiration - NGX_HTTP_AGENTCORE_CREDS_LEAD - now;

    if (ahead <= NGX_HTTP_AGENTCORE_CREDS_MIN) {
        return now + NGX_HTTP_AGENTCORE_CREDS_MIN;
    }

    jitter = ngx_min(NGX_HTTP_AGENTCORE_CREDS_JITTER, ahead / 10);

    return now + ahead - (jitter ? (time_t) (ngx_random() % (jitter + 1))
                                 : 0);
}


/* a failed fetch, the zone locked: backoff 1, 2, 4 ... 30 s */

static void
ngx_http_agentcore_creds_failed(ngx_http_agentcore_creds_slot_t *slot,
    time_t now, const char *error)
{
    time_t  delay;

    slot->failures++;
    ngx_cpystrn(slot->error, (u_char *) error, sizeof(slot->error));

    delay = ngx_min(NGX_HTTP_AGENTCORE_CREDS_BACKOFF,
                    (time_t) 1 << ngx_min(slot->failures - 1, 5));
    slot->refresh = now + delay;

    /* valid ones still: a try at their expiration at the latest */

    if (slot->valid && slot->expiration > now
        && slot->refresh > slot->expiration)
    {
        slot->refresh = slot->expiration;
    }
}


/* the thread's answer, back on the event loop of the fetching worker */

static void
ngx_http_agentcore_creds_done(ngx_event_t *ev)
{
    ngx_http_agentcore_creds_task_t *t = ev->data;

    char                             *error;
    time_t                            now, left, expiration;
    ngx_uint_t                        failures, streak, attempts, valid,
                                      changed;
    ngx_slab_pool_t                  *shpool;
    ngx_http_agentcore_creds_t       *src;
    ngx_http_agentcore_creds_slot_t  *slot;
    u_char                            source[AC_CREDS_SOURCE_MAX];
    char                              cause[AC_CREDS_ERROR_MAX];

    src = t->src;
    src->fetching = 0;

    now = ngx_time();
    shpool = src->conf->shpool;
    slot = &src->conf->sh->slots[src->slot];

    error = t->error;

    if (t->rc == 0) {
        if (t->out.expiration && t->out.expiration <= now) {
            ngx_snprintf((u_char *) t->error, sizeof(t->error),
                         "the credentials from %s expired already "
                         "(Expiration is in the past)%Z", t->out.source);
            t->rc = -1;

        } else if (ngx_strlen(t->out.access_key_id) > AC_CREDS_AKID_MAX
                   || ngx_strlen(t->out.secret_access_key)
                      > AC_CREDS_SECRET_MAX
                   || (t->out.session_token
                       && ngx_strlen(t->out.session_token)
                          > AC_CREDS_TOKEN_MAX))
        {
            ngx_snprintf((u_char *) t->error, sizeof(t->error),
                         "the credentials from %s are too long%Z",
                         t->out.source);
            t->rc = -1;
        }
    }

    ngx_shmtx_lock(&shpool->mutex);

    slot->attempts++;
    ngx_cpystrn(slot->tried, (u_char *) t->out.tried, sizeof(slot->tried));

    if (slot->fetcher == ngx_pid) {
        slot->fetcher = 0;
        slot->lease = 0;
    }

    streak = slot->failures;
    changed = 1;

    if (t->rc == 0) {
        changed = !slot->valid
                  || slot->expiration != t->out.expiration
                  || ngx_strlen(t->out.access_key_id) != slot->akid_len
                  || ngx_strncmp(t->out.access_key_id, slot->akid,
                                 slot->akid_len)
                     != 0;

        slot->akid_len = ngx_strlen(t->out.access_key_id);
        slot->secret_len = ngx_strlen(t->out.secret_access_key);
        slot->token_len = t->out.session_token
                          ? ngx_strlen(t->out.session_token) : 0;

        ngx_memcpy(slot->akid, t->out.access_key_id, slot->akid_len);
        ngx_memcpy(slot->secret, t->out.secret_access_key, slot->secret_len);

        if (slot->token_len) {
            /* no session token: t->out.session_token is NULL */
            ngx_memcpy(slot->token, t->out.session_token, slot->token_len);
        }

        ngx_cpystrn(slot->source, (u_char *) t->out.source,
                    sizeof(slot->source));

        slot->expiration = t->out.expiration;
        slot->valid = 1;
        slot->generation++;
        slot->failures = 0;
        slot->error[0] = '\0';
        slot->refresh = ngx_http_agentcore_creds_refresh_time(now,
                                                        t->out.expiration);

    } else {
        ngx_http_agentcore_creds_failed(slot, now, t->error);
    }

    failures = slot->failures;
    attempts = slot->attempts;
    valid = slot->valid && (slot->expiration == 0 || now < slot->expiration);
    expiration = slot->expiration;
    left = expiration - now;
    ngx_cpystrn(source, slot->source, sizeof(source));

    ngx_http_agentcore_creds_sync(src, slot);

    ngx_shmtx_unlock(&shpool->mutex);

    ngx_http_agentcore_metrics_credentials(t->rc == 0);

    ac_creds_free(&t->out);

    /* the log: once per failure streak; the causes hold no secret */

    if (t->rc == 0) {
        if (streak) {
            ngx_log_error(NGX_LOG_NOTICE, ev->log, 0,
                          "agentcore: AWS credentials (%V) fetched from %s "
                          "after %ui failed attempts", &src->key, source,
                          streak);
        }

        /* the files, read again every minute: only news are logged */

        if (!changed) {
            ngx_log_debug2(NGX_LOG_DEBUG_CORE, ev->log, 0,
                           "agentcore credentials \"%V\": the same from %s",
                           &src->key, source);

        } else if (expiration) {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "agentcore: AWS credentials (%V) from %s, "
                          "expiring in %T s", &src->key, source, left);

        } else {
            ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                          "agentcore: AWS credentials (%V) from %s",
                          &src->key, source);
        }

    } else if (failures == 1) {
        ngx_cpystrn((u_char *) cause, (u_char *) error, sizeof(cause));

        if (valid) {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "agentcore: refreshing the AWS credentials (%V) "
                          "failed, the current ones stay in use %s: %s",
                          &src->key,
                          left > 0 ? "until they expire" : "(no expiration)",
                          cause);

        } else {
            ngx_log_error(NGX_LOG_ERR, ev->log, 0,
                          "agentcore: no AWS credentials: %V: %s",
                          &src->key, cause);
        }

    } else {
        ngx_log_debug3(NGX_LOG_DEBUG_CORE, ev->log, 0,
                       "agentcore credentials \"%V\": attempt %ui of the "
                       "failure streak failed: %s", &src->key, failures,
                       error);
    }

    ngx_http_agentcore_creds_waiters(src, attempts, 0);
    ngx_http_agentcore_creds_schedule(src);
}


/* refresh time, a lease to take over, waiters to wake */

static void
ngx_http_agentcore_creds_timer(ngx_event_t *ev)
{
    ngx_http_agentcore_creds_t *src = ev->data;

    time_t                            now;
    ngx_uint_t                        attempts, busy;
    ngx_http_agentcore_creds_slot_t  *slot;

    now = ngx_time();
    slot = &src->conf->sh->slots[src->slot];

    ngx_shmtx_lock(&src->conf->shpool->mutex);

    ngx_http_agentcore_creds_sync(src, slot);
    attempts = slot->attempts;
    busy = src->fetching || (slot->fetcher && slot->lease > now);

    ngx_shmtx_unlock(&src->conf->shpool->mutex);

    if (!ngx_queue_empty(&src->waiters)) {
        ngx_http_agentcore_creds_waiters(src, attempts, busy);
    }

    /* a worker on its way out refreshes nothing for the others */

    if (!src->fetching
        && (!(ngx_exiting || ngx_quit || ngx_terminate)
            || !ngx_queue_empty(&src->waiters)))
    {
        (void) ngx_http_agentcore_creds_start(src, &attempts);
    }

    ngx_http_agentcore_creds_schedule(src);
}


static void
ngx_http_agentcore_creds_schedule(ngx_http_agentcore_creds_t *src)
{
    time_t                            now, next;
    ngx_msec_t                        delay;
    ngx_http_agentcore_creds_slot_t  *slot;

    if (src->fetching) {
        /* the thread's completion comes first */
        return;
    }

    if (!ngx_queue_empty(&src->waiters)) {
        ngx_add_timer(&src->timer, NGX_HTTP_AGENTCORE_CREDS_POLL);
        return;
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        if (src->timer.timer_set) {
            ngx_del_timer(&src->timer);
        }

        return;
    }

    now = ngx_time();
    slot = &src->conf->sh->slots[src->slot];

    ngx_shmtx_lock(&src->conf->shpool->mutex);

    next = (slot->fetcher && slot->lease > now) ? slot->lease
                                                 : slot->refresh;

    ngx_shmtx_unlock(&src->conf->shpool->mutex);

    if (next <= now) {
        delay = 1;

    } else {
        delay = (ngx_msec_t) ngx_min(next - now, 3600) * 1000;
    }

    ngx_add_timer(&src->timer, delay);
}


/*
 * Wakes the waiters that have an answer: credentials, a failed fetch
 * with none under way, or the end of their wait.
 */

static void
ngx_http_agentcore_creds_waiters(ngx_http_agentcore_creds_t *src,
    ngx_uint_t attempts, ngx_uint_t busy)
{
    time_t                            now;
    ngx_int_t                         rc, valid;
    ngx_queue_t                       wake, *q, *next;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_agentcore_creds_wait_t  *w;

    now = ngx_time();
    valid = ngx_http_agentcore_creds_valid(src, now);

    ngx_queue_init(&wake);

    for (q = ngx_queue_head(&src->waiters);
         q != ngx_queue_sentinel(&src->waiters);
         q = next)
    {
        next = ngx_queue_next(q);
        w = ngx_queue_data(q, ngx_http_agentcore_creds_wait_t, queue);

        if (valid) {
            rc = NGX_OK;

        } else if (w->attempts != attempts && !busy) {
            rc = NGX_DECLINED;

        } else if (now >= w->deadline) {
            ngx_log_error(NGX_LOG_ERR, w->ctx->request->connection->log, 0,
                          "agentcore: waited %d s for AWS credentials (%V) "
                          "in vain", NGX_HTTP_AGENTCORE_CREDS_WAIT,
                          &src->key);
            rc = NGX_DECLINED;

        } else {
            continue;
        }

        ngx_queue_remove(q);
        ngx_queue_insert_tail(&wake, q);

        w->queued = 0;
        w->rc = rc;
    }

    /* one by one: a woken request may end, and free its waiter */

    while (!ngx_queue_empty(&wake)) {
        q = ngx_queue_head(&wake);
        ngx_queue_remove(q);

        w = ngx_queue_data(q, ngx_http_agentcore_creds_wait_t, queue);
        w->linked = 0;

        r = w->ctx->request;
        c = r->connection;

        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "agentcore credentials \"%V\": waiter woken, rc:%i",
                       &src->key, w->rc);

        if (ngx_http_post_request(r, NULL) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_ERROR);
            continue;
        }

        ngx_http_run_posted_requests(c);
    }
}


static void
ngx_http_agentcore_creds_wait_cleanup(void *data)
{
    ngx_http_agentcore_creds_wait_t *w = data;

    if (w->linked) {
        ngx_queue_remove(&w->queue);
        w->linked = 0;
        w->queued = 0;
    }
}
