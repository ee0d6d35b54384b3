
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Tools of MCP servers: "agentcore_mcp NAME URI", where URI is an
 * internal location that proxies to the server's Streamable HTTP
 * endpoint.  Every MCP request is a subrequest of an invocation, so
 * TLS, keepalive, timeouts and upstreams are nginx's.
 *
 * A worker lists a server's tools (initialize, notifications/
 * initialized, tools/list page by page) the first time an invocation
 * needs them: that invocation's model call waits for the list (as it
 * waits for credentials), and so do the other invocations of the
 * worker that arrive meanwhile; nothing blocks.  The list is kept by
 * the worker and listed again after "refresh=" (the invocation that
 * finds it stale lists it again, using the old one meanwhile).  A
 * server that cannot be listed is left out of the invocation, logged,
 * and tried again 10 seconds later.
 *
 * tools/call runs as a tool call like a location tool's, concurrent
 * with the other calls of the turn; its response (JSON or SSE) becomes
 * the tool result, and isError, a JSON-RPC error, an HTTP error, a
 * timeout (the location's proxy_read_timeout) or a response larger than
 * agentcore_tool_max_size an error result.  A 404 for the session
 * starts a new one and sends the call again, once.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_mcp_proto.h"


#define NGX_HTTP_AGENTCORE_MCP_RETRY      10000     /* ms after a failure */
#define NGX_HTTP_AGENTCORE_MCP_MAX_PAGES  100
#define NGX_HTTP_AGENTCORE_MCP_MAX_ID     256       /* session id bytes */
#define NGX_HTTP_AGENTCORE_MCP_ZONE_SIZE  (1024 * 1024)


/* a server's list for every worker: its JSON text, in a zone of its own */

typedef struct {
    ngx_uint_t                        generation;   /* 0: none yet */
    time_t                            listed;
    u_char                           *text;
    size_t                            len;
} ngx_http_agentcore_mcp_shm_t;


typedef struct ngx_http_agentcore_mcp_inv_s  ngx_http_agentcore_mcp_inv_t;


/* one "agentcore_mcp", and its worker's state */

typedef struct {
    ngx_str_t                         name;
    ngx_str_t                         uri;
    ngx_str_t                         prefix;     /* NAME "_" by default */
    ngx_msec_t                        refresh;    /* 0: never */
    unsigned                          force_prefix:1;

    ngx_http_agentcore_tool_t         pseudo;     /* for the capture's logs */

    json_t                           *tools;      /* the list, or NULL */
    json_t                           *pending;    /* the pages so far */
    ngx_http_agentcore_mcp_inv_t     *listing;    /* its invocation */
    ngx_msec_t                        listed_at;
    ngx_msec_t                        failed_at;  /* 0: not failed */
    ngx_queue_t                       waiters;
    long                              next_id;
    ngx_uint_t                        pages;
    ngx_shm_zone_t                   *zone;       /* the list's */
    ngx_uint_t                        generation; /* the zone's, loaded */
    unsigned                          changed:1;  /* list_changed seen */

    ngx_str_t                         session;    /* Mcp-Session-Id */
    u_char                            session_buf[NGX_HTTP_AGENTCORE_MCP_MAX_ID];
    ngx_str_t                         version;    /* negotiated */
    u_char                            version_buf[32];

    ngx_uint_t                        auth;       /* auth= */
    ngx_str_t                         host;       /* signed Host */
    ngx_str_t                         path;       /* signed path */
    ngx_str_t                         region;     /* "": agentcore_region */
    ngx_http_complex_value_t         *bearer;     /* auth=bearer:$VAR */
    ngx_str_t                         token;      /* "Bearer " FILE's */

    /* auth=oauth: the client, and the worker's token */
    ngx_str_t                         token_uri;
    ngx_str_t                         client_id;  /* form-encoded */
    ngx_http_complex_value_t         *secret_cv;  /* client_secret=$VAR */
    ngx_str_t                         secret;     /* client_secret=FILE */
    ngx_str_t                         scope;      /* form-encoded */
    u_char                           *oauth;      /* "Bearer TOKEN" */
    size_t                            oauth_len;
    ngx_msec_t                        oauth_until;
    ngx_uint_t                        oauth_generation;
    ngx_http_agentcore_mcp_inv_t     *fetching;   /* its invocation */
    ngx_queue_t                       deferred;   /* requests waiting */
    unsigned                          client_post:1;
    unsigned                          oauth_expires:1;
} ngx_http_agentcore_mcp_server_t;


#define NGX_HTTP_AGENTCORE_MCP_AUTH_NONE    0
#define NGX_HTTP_AGENTCORE_MCP_AUTH_SIGV4   1
#define NGX_HTTP_AGENTCORE_MCP_AUTH_BEARER  2
#define NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH   3


/* a tool of a server, as an invocation declared it */

typedef struct {
    ngx_http_agentcore_mcp_server_t  *server;
    char                             *name;       /* the server's name */
} ngx_http_agentcore_mcp_tool_t;


/* an invocation waiting for a server's list */

typedef struct {
    ngx_queue_t                       queue;
    ngx_event_t                       ev;
    ngx_http_agentcore_mcp_inv_t     *inv;
    ngx_uint_t                        index;
} ngx_http_agentcore_mcp_waiter_t;


struct ngx_http_agentcore_mcp_inv_s {
    ngx_http_agentcore_ctx_t         *ctx;
    ngx_queue_t                       reqs;       /* in flight */
    ngx_queue_t                       deferred;   /* waiting for tokens */
    ngx_http_agentcore_mcp_waiter_t  *waiters;    /* one per server */
    u_char                           *settled;    /* one per server */
    ngx_uint_t                        waiting;
    ngx_array_t                       tools;      /* tool_t */
    ngx_str_t                         suffix;
    unsigned                          ready:1;
};


#define NGX_HTTP_AGENTCORE_MCP_INIT         0
#define NGX_HTTP_AGENTCORE_MCP_INITIALIZED  1
#define NGX_HTTP_AGENTCORE_MCP_LIST         2
#define NGX_HTTP_AGENTCORE_MCP_CALL         3
#define NGX_HTTP_AGENTCORE_MCP_TOKEN        4       /* auth=oauth's */

/* the flags of a request */
#define NGX_HTTP_AGENTCORE_MCP_RETRIED      1       /* sent again (404) */
#define NGX_HTTP_AGENTCORE_MCP_REAUTHED     2       /* sent again (401) */


/* one MCP request: the capture filter fills "capture" */

typedef struct ngx_http_agentcore_mcp_req_s  ngx_http_agentcore_mcp_req_t;

struct ngx_http_agentcore_mcp_req_s {
    ngx_http_agentcore_tool_call_t    capture;    /* first */
    ngx_queue_t                       queue;
    ngx_http_agentcore_mcp_inv_t     *inv;
    ngx_http_agentcore_mcp_server_t  *server;
    ngx_uint_t                        kind;
    long                              id;
    ngx_http_agentcore_tool_call_t   *call;       /* CALL, or INIT for it */

    /* what its location's $agentcore_mcp_* variables return */
    ngx_str_t                         host;
    ngx_str_t                         amz_date;
    ngx_str_t                         authorization;
    ngx_str_t                         security_token;

    ngx_str_t                         body;       /* sent again on 401 */
    ngx_uint_t                        generation; /* of its OAuth token */

    unsigned                          retried:1;
    unsigned                          reauthed:1;
    unsigned                          finished:1;
    unsigned                          quiet:1;    /* holds a log pause */
};


/* an MCP request waiting for auth=oauth's token */

typedef struct {
    ngx_queue_t                       queue;      /* the server's */
    ngx_queue_t                       link;       /* the invocation's */
    ngx_event_t                       ev;
    ngx_http_agentcore_mcp_inv_t     *inv;
    ngx_http_agentcore_mcp_server_t  *server;
    ngx_uint_t                        kind;
    long                              id;
    ngx_str_t                         body;
    ngx_http_agentcore_tool_call_t   *call;
    ngx_uint_t                        flags;
    unsigned                          failed:1;
    u_char                            err[256];
} ngx_http_agentcore_mcp_deferred_t;


static ngx_http_agentcore_mcp_inv_t *ngx_http_agentcore_mcp_inv(
    ngx_http_agentcore_ctx_t *ctx);
static void ngx_http_agentcore_mcp_inv_cleanup(void *data);
static void ngx_http_agentcore_mcp_wake(ngx_event_t *ev);
static ngx_int_t ngx_http_agentcore_mcp_build(
    ngx_http_agentcore_mcp_inv_t *inv);
static int ngx_http_agentcore_mcp_taken(void *data, const char *name);
static ngx_int_t ngx_http_agentcore_mcp_send(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind, json_t *params,
    ngx_http_agentcore_tool_call_t *call, ngx_uint_t retried);
static ngx_int_t ngx_http_agentcore_mcp_post(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind, long id,
    ngx_str_t *body, ngx_http_agentcore_tool_call_t *call, ngx_uint_t flags);
static ngx_int_t ngx_http_agentcore_mcp_defer(
    ngx_http_agentcore_mcp_inv_t *inv, ngx_http_agentcore_mcp_server_t *s,
    ngx_uint_t kind, long id, ngx_str_t *body,
    ngx_http_agentcore_tool_call_t *call, ngx_uint_t flags);
static ngx_int_t ngx_http_agentcore_mcp_token_fetch(
    ngx_http_agentcore_mcp_inv_t *inv, ngx_http_agentcore_mcp_server_t *s);
static void ngx_http_agentcore_mcp_tokened(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc);
static void ngx_http_agentcore_mcp_token_settle(
    ngx_http_agentcore_mcp_server_t *s, const char *err);
static void ngx_http_agentcore_mcp_token_drop(
    ngx_http_agentcore_mcp_server_t *s);
static void ngx_http_agentcore_mcp_deferred_wake(ngx_event_t *ev);
static void ngx_http_agentcore_mcp_list_failed(
    ngx_http_agentcore_mcp_server_t *s, ngx_log_t *log, const char *err);
static char *ngx_http_agentcore_mcp_secret_conf(ngx_conf_t *cf,
    ngx_http_agentcore_mcp_server_t *s, ngx_str_t *value,
    ngx_http_complex_value_t **cv, ngx_str_t *str, const char *prefix);
static ngx_int_t ngx_http_agentcore_mcp_headers(ngx_http_request_t *r,
    ngx_http_request_t *sr, ngx_http_agentcore_mcp_server_t *s,
    ngx_uint_t kind);
static ngx_int_t ngx_http_agentcore_mcp_push(ngx_http_request_t *r,
    ngx_http_request_t *sr, char *key, char *lowcase, ngx_str_t *value);
static ngx_int_t ngx_http_agentcore_mcp_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_agentcore_mcp_listed(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc);
static void ngx_http_agentcore_mcp_settle(ngx_http_agentcore_mcp_server_t *s,
    ngx_uint_t ok);
static void ngx_http_agentcore_mcp_called(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc);
static void ngx_http_agentcore_mcp_blocks_cleanup(void *data);
static void ngx_http_agentcore_mcp_call_error(
    ngx_http_agentcore_mcp_req_t *req, const char *fmt, ...);
static ngx_int_t ngx_http_agentcore_mcp_status(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc, u_char *err, size_t len);
static ngx_int_t ngx_http_agentcore_mcp_parse(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, json_t **result, char *err, size_t len);
static ngx_int_t ngx_http_agentcore_mcp_call_tool(
    ngx_http_agentcore_tool_call_t *call);
static void ngx_http_agentcore_mcp_session(ngx_http_agentcore_mcp_server_t *s,
    ngx_http_request_t *sr);
static void ngx_http_agentcore_mcp_server_cleanup(void *data);
static ngx_int_t ngx_http_agentcore_mcp_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_agentcore_mcp_store(ngx_http_agentcore_mcp_server_t *s,
    ngx_log_t *log);
static void ngx_http_agentcore_mcp_load(ngx_http_agentcore_mcp_server_t *s,
    ngx_log_t *log);
static json_t *ngx_http_agentcore_mcp_call_params(
    ngx_http_agentcore_tool_call_t *call);
static void ngx_http_agentcore_mcp_host_region(ngx_str_t *host,
    ngx_str_t *region);
static char *ngx_http_agentcore_mcp_bearer_conf(ngx_conf_t *cf,
    ngx_http_agentcore_mcp_server_t *s, ngx_str_t *value);
static ngx_int_t ngx_http_agentcore_mcp_bearer(
    ngx_http_agentcore_mcp_req_t *req);
static ngx_int_t ngx_http_agentcore_mcp_sign(ngx_http_agentcore_mcp_req_t *req,
    u_char *body, size_t len);
static void ngx_http_agentcore_mcp_req_loud(ngx_http_agentcore_mcp_req_t *req);
static ngx_int_t ngx_http_agentcore_mcp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define ngx_http_agentcore_mcp_field(field)                                   \
    offsetof(ngx_http_agentcore_mcp_req_t, field)


/* read by an MCP server's location while it proxies a signed request */

static ngx_http_variable_t  ngx_http_agentcore_mcp_vars[] = {

    { ngx_string("agentcore_mcp_host"), NULL,
      ngx_http_agentcore_mcp_variable,
      ngx_http_agentcore_mcp_field(host),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_mcp_date"), NULL,
      ngx_http_agentcore_mcp_variable,
      ngx_http_agentcore_mcp_field(amz_date),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_mcp_authorization"), NULL,
      ngx_http_agentcore_mcp_variable,
      ngx_http_agentcore_mcp_field(authorization),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

    { ngx_string("agentcore_mcp_security_token"), NULL,
      ngx_http_agentcore_mcp_variable,
      ngx_http_agentcore_mcp_field(security_token),
      NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_NOHASH, 0 },

      ngx_http_null_variable
};


/*
 * agentcore_mcp NAME URI [prefix=P] [refresh=TIME]
 *     [auth=none|bearer:FILE|bearer:$VAR
 *          |sigv4 host=HOST [path=PATH] [region=REGION]
 *          |oauth token_uri=URI client_id=ID client_secret=$VAR|FILE
 *                 [scope=SCOPE] [client_auth=basic|post]];
 * agentcore_mcp off;
 *
 * "off" is an empty array of servers, which the merge makes NULL (no
 * servers) once it has stopped the inheritance
 */

char *
ngx_http_agentcore_mcp_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_agentcore_loc_conf_t *alcf = conf;

    ngx_str_t                         *value, v, secret;
    ngx_uint_t                         i;
    ngx_pool_cleanup_t                *cln;
    ngx_http_agentcore_mcp_server_t   *s, **ps;

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {

        if (cf->args->nelts != 2) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore_mcp \"off\": \"off\" is not a "
                               "server name (\"agentcore_mcp off;\" takes "
                               "nothing more)");
            return NGX_CONF_ERROR;
        }

        if (alcf->mcp_servers) {
            goto mixed;
        }

        alcf->mcp_servers = ngx_array_create(cf->pool, 1,
                                sizeof(ngx_http_agentcore_mcp_server_t *));
        if (alcf->mcp_servers == NULL) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (cf->args->nelts < 3) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid number of arguments in \"agentcore_mcp\" "
                           "directive");
        return NGX_CONF_ERROR;
    }

    if (alcf->mcp_servers && alcf->mcp_servers->nelts == 0) {
        goto mixed;
    }

    if (!ac_mcp_valid_name((char *) value[1].data, value[1].len)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid agentcore_mcp name \"%V\": use 1 to 64 "
                           "of a-z, A-Z, 0-9, \"_\" and \"-\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (value[2].len == 0 || value[2].data[0] != '/') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_mcp \"%V\": \"%V\" is not a URI "
                           "(an internal location that proxies to the "
                           "server)", &value[1], &value[2]);
        return NGX_CONF_ERROR;
    }

    s = ngx_pcalloc(cf->pool, sizeof(ngx_http_agentcore_mcp_server_t));
    if (s == NULL) {
        return NGX_CONF_ERROR;
    }

    /* the worker's list goes with the configuration */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_agentcore_mcp_server_cleanup;
    cln->data = s;

    s->name = value[1];
    s->uri = value[2];
    s->refresh = 300000;
    s->pseudo.name = value[1];
    s->next_id = 1;
    ngx_queue_init(&s->waiters);
    ngx_queue_init(&s->deferred);
    ngx_str_null(&secret);

    s->prefix.len = value[1].len + 1;
    s->prefix.data = ngx_pnalloc(cf->pool, s->prefix.len + 1);
    if (s->prefix.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(s->prefix.data, "%V_%Z", &value[1]);

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            v.data = value[i].data + 7;
            v.len = value[i].len - 7;

            if (v.len && !ac_mcp_valid_name((char *) v.data, v.len)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "agentcore_mcp \"%V\": invalid prefix "
                                   "\"%V\"", &value[1], &v);
                return NGX_CONF_ERROR;
            }

            /* value[i] is NUL-terminated by the configuration parser */
            s->prefix = v;
            s->force_prefix = (v.len != 0);
            continue;
        }

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            v.data = value[i].data + 8;
            v.len = value[i].len - 8;

            if (v.len == 3 && ngx_strncmp(v.data, "off", 3) == 0) {
                s->refresh = 0;
                continue;
            }

            s->refresh = ngx_parse_time(&v, 0);

            if (s->refresh == (ngx_msec_t) NGX_ERROR || s->refresh == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "agentcore_mcp \"%V\": invalid refresh "
                                   "\"%V\"", &value[1], &v);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "auth=", 5) == 0) {
            v.data = value[i].data + 5;
            v.len = value[i].len - 5;

            if (v.len == 4 && ngx_strncmp(v.data, "none", 4) == 0) {
                s->auth = NGX_HTTP_AGENTCORE_MCP_AUTH_NONE;
                continue;
            }

            if (v.len == 5 && ngx_strncmp(v.data, "sigv4", 5) == 0) {
                s->auth = NGX_HTTP_AGENTCORE_MCP_AUTH_SIGV4;
                continue;
            }

            if (v.len == 5 && ngx_strncmp(v.data, "oauth", 5) == 0) {
                s->auth = NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH;
                continue;
            }

            if (v.len > 7 && ngx_strncmp(v.data, "bearer:", 7) == 0) {
                s->auth = NGX_HTTP_AGENTCORE_MCP_AUTH_BEARER;
                v.data += 7;
                v.len -= 7;

                if (ngx_http_agentcore_mcp_bearer_conf(cf, s, &v)
                    != NGX_CONF_OK)
                {
                    return NGX_CONF_ERROR;
                }

                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore_mcp \"%V\": invalid auth \"%V\": "
                               "use \"none\", \"bearer:FILE\", "
                               "\"bearer:$VAR\", \"sigv4\" or \"oauth\"",
                               &value[1], &v);
            return NGX_CONF_ERROR;
        }

        if (ngx_strncmp(value[i].data, "host=", 5) == 0
            && value[i].len > 5)
        {
            s->host.data = value[i].data + 5;
            s->host.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "path=", 5) == 0
            && value[i].len > 5 && value[i].data[5] == '/')
        {
            s->path.data = value[i].data + 5;
            s->path.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "region=", 7) == 0
            && value[i].len > 7)
        {
            s->region.data = value[i].data + 7;
            s->region.len = value[i].len - 7;
            continue;
        }

        /* auth=oauth */

        if (ngx_strncmp(value[i].data, "token_uri=", 10) == 0
            && value[i].len > 10 && value[i].data[10] == '/')
        {
            s->token_uri.data = value[i].data + 10;
            s->token_uri.len = value[i].len - 10;
            continue;
        }

        if (ngx_strncmp(value[i].data, "client_id=", 10) == 0
            && value[i].len > 10)
        {
            v.len = ac_mcp_form_encode((char *) value[i].data + 10,
                                       value[i].len - 10, NULL);
            v.data = ngx_pnalloc(cf->pool, v.len);
            if (v.data == NULL) {
                return NGX_CONF_ERROR;
            }

            (void) ac_mcp_form_encode((char *) value[i].data + 10,
                                      value[i].len - 10, (char *) v.data);
            s->client_id = v;
            continue;
        }

        if (ngx_strncmp(value[i].data, "client_secret=", 14) == 0
            && value[i].len > 14)
        {
            secret.data = value[i].data + 14;
            secret.len = value[i].len - 14;
            continue;
        }

        if (ngx_strncmp(value[i].data, "scope=", 6) == 0
            && value[i].len > 6)
        {
            v.len = ac_mcp_form_encode((char *) value[i].data + 6,
                                       value[i].len - 6, NULL);
            v.data = ngx_pnalloc(cf->pool, v.len);
            if (v.data == NULL) {
                return NGX_CONF_ERROR;
            }

            (void) ac_mcp_form_encode((char *) value[i].data + 6,
                                      value[i].len - 6, (char *) v.data);
            s->scope = v;
            continue;
        }

        if (ngx_strcmp(value[i].data, "client_auth=basic") == 0) {
            s->client_post = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "client_auth=post") == 0) {
            s->client_post = 1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_mcp \"%V\": unknown option \"%V\"",
                           &value[1], &value[i]);
        return NGX_CONF_ERROR;
    }

    if (s->auth == NGX_HTTP_AGENTCORE_MCP_AUTH_SIGV4) {

        if (s->host.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore_mcp \"%V\": auth=sigv4 needs "
                               "host= (the Host its location sends, "
                               "$agentcore_mcp_host)", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (s->path.len == 0) {
            ngx_str_set(&s->path, "/mcp");
        }

        /* ID.gateway.bedrock-agentcore.REGION.amazonaws.com */

        if (s->region.len == 0) {
            ngx_http_agentcore_mcp_host_region(&s->host, &v);

            /* the signer takes a C string */

            if (v.len) {
                s->region.data = ngx_pnalloc(cf->pool, v.len + 1);
                if (s->region.data == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_memcpy(s->region.data, v.data, v.len);
                s->region.data[v.len] = '\0';
                s->region.len = v.len;
            }
        }

    } else if (s->host.len || s->path.len || s->region.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_mcp \"%V\": host=, path= and region= "
                           "go with auth=sigv4", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (s->auth == NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH) {

        if (s->token_uri.len == 0 || s->client_id.len == 0
            || secret.len == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "agentcore_mcp \"%V\": auth=oauth needs "
                               "token_uri= (an internal location that "
                               "proxies to the token endpoint), client_id= "
                               "and client_secret=", &value[1]);
            return NGX_CONF_ERROR;
        }

        if (ngx_http_agentcore_mcp_secret_conf(cf, s, &secret, &s->secret_cv,
                                               &s->secret, NULL)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }

    } else if (s->token_uri.len || s->client_id.len || secret.len
               || s->scope.len || s->client_post)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_mcp \"%V\": token_uri=, client_id=, "
                           "client_secret=, scope= and client_auth= go with "
                           "auth=oauth", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (alcf->mcp_servers == NULL) {
        alcf->mcp_servers = ngx_array_create(cf->pool, 2,
                                sizeof(ngx_http_agentcore_mcp_server_t *));
        if (alcf->mcp_servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    ps = alcf->mcp_servers->elts;

    for (i = 0; i < alcf->mcp_servers->nelts; i++) {
        if (ps[i]->name.len == s->name.len
            && ngx_strncmp(ps[i]->name.data, s->name.data, s->name.len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate agentcore_mcp \"%V\"", &s->name);
            return NGX_CONF_ERROR;
        }
    }

    /*
     * the list is shared by the workers in a zone named after the
     * server and its URI: the same server in other locations shares it
     */

    v.len = sizeof("agentcore_mcp:") - 1 + s->name.len + 1 + s->uri.len;
    v.data = ngx_pnalloc(cf->pool, v.len);
    if (v.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(v.data, "agentcore_mcp:%V:%V", &s->name, &s->uri);

    s->zone = ngx_shared_memory_add(cf, &v, NGX_HTTP_AGENTCORE_MCP_ZONE_SIZE,
                                    &ngx_http_agentcore_module);
    if (s->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    s->zone->init = ngx_http_agentcore_mcp_init_zone;

    ps = ngx_array_push(alcf->mcp_servers);
    if (ps == NULL) {
        return NGX_CONF_ERROR;
    }

    *ps = s;

    return NGX_CONF_OK;

mixed:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "\"agentcore_mcp off\" and servers at one level");
    return NGX_CONF_ERROR;
}


static void
ngx_http_agentcore_mcp_server_cleanup(void *data)
{
    ngx_http_agentcore_mcp_server_t *s = data;

    json_decref(s->tools);
    json_decref(s->pending);
    s->tools = NULL;
    s->pending = NULL;

    ngx_http_agentcore_mcp_token_drop(s);
}


void
ngx_http_agentcore_mcp_merge(ngx_http_agentcore_loc_conf_t *prev,
    ngx_http_agentcore_loc_conf_t *conf)
{
    if (conf->mcp_servers == NULL) {
        conf->mcp_servers = prev->mcp_servers;
    }

    if (conf->mcp_servers && conf->mcp_servers->nelts == 0) {
        /* agentcore_mcp off, here or above: no servers */
        conf->mcp_servers = NULL;
    }
}


static ngx_http_agentcore_mcp_inv_t *
ngx_http_agentcore_mcp_inv(ngx_http_agentcore_ctx_t *ctx)
{
    ngx_uint_t                     i, n;
    ngx_pool_t                    *pool;
    ngx_pool_cleanup_t            *cln;
    ngx_http_agentcore_mcp_inv_t  *inv;

    if (ctx->mcp) {
        return ctx->mcp;
    }

    pool = ctx->request->pool;
    n = ctx->conf->mcp_servers->nelts;

    inv = ngx_pcalloc(pool, sizeof(ngx_http_agentcore_mcp_inv_t));
    if (inv == NULL) {
        return NULL;
    }

    inv->waiters = ngx_pcalloc(pool,
                               n * sizeof(ngx_http_agentcore_mcp_waiter_t));
    inv->settled = ngx_pcalloc(pool, n);

    if (inv->waiters == NULL || inv->settled == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    inv->ctx = ctx;
    ngx_queue_init(&inv->reqs);
    ngx_queue_init(&inv->deferred);

    for (i = 0; i < n; i++) {
        inv->waiters[i].inv = inv;
        inv->waiters[i].index = i;
        inv->waiters[i].ev.handler = ngx_http_agentcore_mcp_wake;
        inv->waiters[i].ev.data = &inv->waiters[i];
        inv->waiters[i].ev.log = ctx->request->connection->log;
    }

    cln->handler = ngx_http_agentcore_mcp_inv_cleanup;
    cln->data = inv;

    ctx->mcp = inv;

    return inv;
}


/*
 * The invocation ends: it waits no more, and a listing it did is
 * abandoned (its subrequests end with it): the invocations that waited
 * for it try again.
 */

static void
ngx_http_agentcore_mcp_inv_cleanup(void *data)
{
    ngx_http_agentcore_mcp_inv_t *inv = data;

    ngx_queue_t                        *q;
    ngx_uint_t                          i;
    ngx_http_agentcore_mcp_server_t   **ps, *s;
    ngx_http_agentcore_mcp_waiter_t    *w;
    ngx_http_agentcore_mcp_deferred_t  *d;

    ps = inv->ctx->conf->mcp_servers->elts;

    /* requests still in flight give their log pauses back */

    for (q = ngx_queue_head(&inv->reqs);
         q != ngx_queue_sentinel(&inv->reqs);
         q = ngx_queue_next(q))
    {
        ngx_http_agentcore_mcp_req_loud(
            ngx_queue_data(q, ngx_http_agentcore_mcp_req_t, queue));
    }

    /* its requests waiting for a token wait no more */

    for (q = ngx_queue_head(&inv->deferred);
         q != ngx_queue_sentinel(&inv->deferred);
         q = ngx_queue_next(q))
    {
        d = ngx_queue_data(q, ngx_http_agentcore_mcp_deferred_t, link);

        if (d->queue.next) {
            ngx_queue_remove(&d->queue);
            d->queue.next = NULL;
        }

        if (d->ev.posted) {
            ngx_delete_posted_event(&d->ev);
        }
    }

    for (i = 0; i < inv->ctx->conf->mcp_servers->nelts; i++) {
        s = ps[i];

        if (s->fetching != inv) {
            continue;
        }

        /* its token fetch ends with it: a waiting request fetches again */

        s->fetching = NULL;

        if (!ngx_queue_empty(&s->deferred)) {
            q = ngx_queue_head(&s->deferred);
            ngx_queue_remove(q);
            q->next = NULL;

            d = ngx_queue_data(q, ngx_http_agentcore_mcp_deferred_t, queue);
            ngx_post_event(&d->ev, &ngx_posted_events);
        }
    }

    for (i = 0; i < inv->ctx->conf->mcp_servers->nelts; i++) {
        w = &inv->waiters[i];

        if (w->queue.next) {
            ngx_queue_remove(&w->queue);
            w->queue.next = NULL;
        }

        if (w->ev.posted) {
            ngx_delete_posted_event(&w->ev);
        }
    }

    for (i = 0; i < inv->ctx->conf->mcp_servers->nelts; i++) {
        s = ps[i];

        if (s->listing != inv) {
            continue;
        }

        s->listing = NULL;
        json_decref(s->pending);
        s->pending = NULL;

        while (!ngx_queue_empty(&s->waiters)) {
            q = ngx_queue_head(&s->waiters);
            ngx_queue_remove(q);
            q->next = NULL;

            w = ngx_queue_data(q, ngx_http_agentcore_mcp_waiter_t, queue);
            ngx_post_event(&w->ev, &ngx_posted_events);
        }
    }
}


static void
ngx_http_agentcore_mcp_wake(ngx_event_t *ev)
{
    ngx_http_agentcore_mcp_waiter_t *w = ev->data;

    ngx_connection_t              *c;
    ngx_http_request_t            *r;
    ngx_http_agentcore_mcp_inv_t  *inv;

    inv = w->inv;
    r = inv->ctx->request;
    c = r->connection;

    if (inv->waiting && --inv->waiting) {
        return;
    }

    ngx_http_set_log_request(c->log, r);

    (void) ngx_http_post_request(r, NULL);
    ngx_http_run_posted_requests(c);
}


/*
 * Before a model call: NGX_OK with *suffix the request's end (its
 * toolConfig with the servers' tools), NGX_AGAIN while a list is
 * fetched (the invocation is woken), NGX_ERROR.
 */

ngx_int_t
ngx_http_agentcore_mcp_prepare(ngx_http_agentcore_ctx_t *ctx,
    ngx_str_t *suffix)
{
    ngx_uint_t                         i;
    ngx_http_agentcore_mcp_inv_t      *inv;
    ngx_http_agentcore_mcp_server_t  **ps, *s;

    if (ctx->conf->mcp_servers == NULL || ctx->conf->mcp_servers->nelts == 0)
    {
        return NGX_OK;
    }

    inv = ngx_http_agentcore_mcp_inv(ctx);
    if (inv == NULL) {
        return NGX_ERROR;
    }

    if (inv->ready) {
        *suffix = inv->suffix;
        return NGX_OK;
    }

    if (inv->waiting) {
        return NGX_AGAIN;
    }

    ps = ctx->conf->mcp_servers->elts;

    for (i = 0; i < ctx->conf->mcp_servers->nelts; i++) {
        s = ps[i];

        if (inv->settled[i]) {
            continue;
        }

        /* another worker's list, if newer */
        ngx_http_agentcore_mcp_load(s, ctx->request->connection->log);

        if (s->tools) {
            inv->settled[i] = 1;

            if (s->listing == NULL
                && (s->changed
                    || (s->refresh
                        && ngx_current_msec - s->listed_at >= s->refresh)))
            {
                s->changed = 0;

                /* stale: listed again, the old list serves meanwhile */

                s->listing = inv;
                s->pages = 0;

                if (ngx_http_agentcore_mcp_send(inv, s,
                                                NGX_HTTP_AGENTCORE_MCP_INIT,
                                                NULL, NULL, 0)
                    != NGX_OK)
                {
                    s->listing = NULL;
                }
            }

            continue;
        }

        if (s->failed_at
            && ngx_current_msec - s->failed_at < NGX_HTTP_AGENTCORE_MCP_RETRY)
        {
            inv->settled[i] = 1;
            continue;
        }

        if (s->listing == NULL) {
            s->listing = inv;
            s->pages = 0;

            if (ngx_http_agentcore_mcp_send(inv, s,
                                            NGX_HTTP_AGENTCORE_MCP_INIT,
                                            NULL, NULL, 0)
                != NGX_OK)
            {
                s->listing = NULL;
                return NGX_ERROR;
            }
        }

        ngx_queue_insert_tail(&s->waiters, &inv->waiters[i].queue);
        inv->waiting++;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ctx->request->connection->log, 0,
                       "agentcore mcp \"%V\": waiting for the list",
                       &s->name);
    }

    if (inv->waiting) {
        return NGX_AGAIN;
    }

    if (ngx_http_agentcore_mcp_build(inv) != NGX_OK) {
        return NGX_ERROR;
    }

    inv->ready = 1;
    *suffix = inv->suffix;

    return NGX_OK;
}


/* the invocation's tools: the location's, then each server's */

static ngx_int_t
ngx_http_agentcore_mcp_build(ngx_http_agentcore_mcp_inv_t *inv)
{
    char                               *s, name[AC_MCP_MAX_NAME + 1];
    size_t                              i, len;
    json_t                             *specs, *t, *spec;
    ngx_str_t                           text;
    ngx_uint_t                          k;
    ngx_pool_t                         *pool;
    ac_converse_conf_t                  cc;
    ngx_http_request_t                 *r;
    ngx_http_agentcore_tool_t          *tool;
    ngx_http_agentcore_mcp_tool_t      *mt;
    ngx_http_agentcore_loc_conf_t      *conf;
    ngx_http_agentcore_mcp_server_t   **ps, *srv;

    r = inv->ctx->request;
    pool = r->pool;
    conf = inv->ctx->conf;

    if (ngx_array_init(&inv->tools, pool, 8,
                       sizeof(ngx_http_agentcore_tool_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    specs = conf->tool_specs ? json_copy(conf->tool_specs) : json_array();
    if (specs == NULL) {
        return NGX_ERROR;
    }

    ps = conf->mcp_servers->elts;

    for (k = 0; k < conf->mcp_servers->nelts; k++) {
        srv = ps[k];

        json_array_foreach(srv->tools, i, t) {

            if (ac_mcp_tool_name((char *) srv->prefix.data,
                                 srv->force_prefix,
                                 json_string_value(json_object_get(t, "name")),
                                 ngx_http_agentcore_mcp_taken, inv, name)
                != 0)
            {
                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "agentcore mcp \"%V\": tool \"%s\" left out: "
                              "its name is taken, prefixed too",
                              &srv->name,
                              json_string_value(json_object_get(t, "name")));
                continue;
            }

            spec = json_pack("{s:{s:s, s:O, s:{s:O}}}", "toolSpec",
                             "name", name,
                             "description", json_object_get(t, "description"),
                             "inputSchema", "json",
                             json_object_get(t, "inputSchema"));

            if (spec == NULL || json_array_append_new(specs, spec) != 0) {
                json_decref(specs);
                return NGX_ERROR;
            }

            tool = ngx_array_push(&inv->tools);
            mt = ngx_palloc(pool, sizeof(ngx_http_agentcore_mcp_tool_t));

            if (tool == NULL || mt == NULL) {
                json_decref(specs);
                return NGX_ERROR;
            }

            ngx_memzero(tool, sizeof(ngx_http_agentcore_tool_t));

            len = ngx_strlen(name);
            tool->name.data = ngx_pnalloc(pool, len);
            text.data = (u_char *) json_string_value(json_object_get(t,
                                                                     "name"));
            text.len = ngx_strlen(text.data);
            mt->name = ngx_pnalloc(pool, text.len + 1);

            if (tool->name.data == NULL || mt->name == NULL) {
                json_decref(specs);
                return NGX_ERROR;
            }

            ngx_memcpy(tool->name.data, name, len);
            tool->name.len = len;
            ngx_memcpy(mt->name, text.data, text.len + 1);

            mt->server = srv;
            tool->handler = ngx_http_agentcore_mcp_call_tool;
            tool->data = mt;
        }
    }

    if (inv->tools.nelts == 0) {
        json_decref(specs);
        inv->suffix = conf->request_suffix;
        return NGX_OK;
    }

    cc.system_prompt = conf->system_prompt.len
                       ? (const char *) conf->system_prompt.data : NULL;
    cc.max_tokens = (conf->max_tokens == NGX_CONF_UNSET)
                    ? -1 : (int64_t) conf->max_tokens;
    cc.tools = specs;

    s = ac_converse_request_suffix(&cc, &len);
    json_decref(specs);

    if (s == NULL) {
        return NGX_ERROR;
    }

    inv->suffix.data = ngx_pnalloc(pool, len);
    if (inv->suffix.data == NULL) {
        free(s);
        return NGX_ERROR;
    }

    ngx_memcpy(inv->suffix.data, s, len);
    inv->suffix.len = len;
    free(s);

    return NGX_OK;
}


static int
ngx_http_agentcore_mcp_taken(void *data, const char *name)
{
    ngx_http_agentcore_mcp_inv_t *inv = data;

    size_t                            len;
    ngx_uint_t                        i;
    ngx_http_agentcore_tool_t        *t;
    ngx_http_agentcore_tool_entry_t **e;
    ngx_http_agentcore_loc_conf_t    *conf;

    len = ngx_strlen(name);
    conf = inv->ctx->conf;

    e = conf->tools ? conf->tools->elts : NULL;

    for (i = 0; e && i < conf->tools->nelts; i++) {
        if (e[i]->tool->name.len == len
            && ngx_strncmp(e[i]->tool->name.data, name, len) == 0)
        {
            return 1;
        }
    }

    t = inv->tools.elts;

    for (i = 0; i < inv->tools.nelts; i++) {
        if (t[i].name.len == len && ngx_strncmp(t[i].name.data, name, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* tools_run: a name the location does not know */

ngx_http_agentcore_tool_t *
ngx_http_agentcore_mcp_tool(ngx_http_agentcore_ctx_t *ctx, ngx_str_t *name)
{
    ngx_uint_t                     i;
    ngx_http_agentcore_tool_t     *t;
    ngx_http_agentcore_mcp_inv_t  *inv;

    inv = ctx->mcp;

    if (inv == NULL || !inv->ready) {
        return NULL;
    }

    t = inv->tools.elts;

    for (i = 0; i < inv->tools.nelts; i++) {
        if (t[i].name.len == name->len
            && ngx_strncmp(t[i].name.data, name->data, name->len) == 0)
        {
            return &t[i];
        }
    }

    return NULL;
}


/* the capture filter: is sr one of ours? */

ngx_http_agentcore_tool_call_t *
ngx_http_agentcore_mcp_capture(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_queue_t                   *q;
    ngx_http_agentcore_mcp_inv_t  *inv;
    ngx_http_agentcore_mcp_req_t  *req;

    inv = ctx->mcp;

    if (inv == NULL) {
        return NULL;
    }

    for (q = ngx_queue_head(&inv->reqs);
         q != ngx_queue_sentinel(&inv->reqs);
         q = ngx_queue_next(q))
    {
        req = ngx_queue_data(q, ngx_http_agentcore_mcp_req_t, queue);

        if (req->capture.sr == sr) {
            return &req->capture;
        }
    }

    return NULL;
}


/* one MCP request as a subrequest of the invocation */

static ngx_int_t
ngx_http_agentcore_mcp_send(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind, json_t *params,
    ngx_http_agentcore_tool_call_t *call, ngx_uint_t retried)
{
    char                *json;
    long                 id;
    size_t               len;
    json_t              *p;
    ngx_str_t            body;
    ngx_http_request_t  *r;

    r = inv->ctx->request;

    id = (kind == NGX_HTTP_AGENTCORE_MCP_INITIALIZED) ? -1 : s->next_id++;

    switch (kind) {

    case NGX_HTTP_AGENTCORE_MCP_INIT:
        p = json_pack("{s:s, s:{}, s:{s:s, s:s}}",
                      "protocolVersion", AC_MCP_PROTOCOL_VERSION,
                      "capabilities",
                      "clientInfo", "name", "ngx_http_agentcore_module",
                      "version", "1");
        json = p ? ac_mcp_request(id, "initialize", p, &len) : NULL;
        json_decref(p);
        break;

    case NGX_HTTP_AGENTCORE_MCP_INITIALIZED:
        json = ac_mcp_request(-1, "notifications/initialized", NULL, &len);
        break;

    case NGX_HTTP_AGENTCORE_MCP_LIST:
        json = ac_mcp_request(id, "tools/list", params, &len);
        break;

    default: /* NGX_HTTP_AGENTCORE_MCP_CALL */
        json = ac_mcp_request(id, "tools/call", params, &len);
        break;
    }

    if (json == NULL) {
        return NGX_ERROR;
    }

    body.len = len;
    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        free(json);
        return NGX_ERROR;
    }

    ngx_memcpy(body.data, json, len);
    free(json);

    return ngx_http_agentcore_mcp_post(inv, s, kind, id, &body, call,
                                       retried ? NGX_HTTP_AGENTCORE_MCP_RETRIED
                                               : 0);
}


/*
 * The request body as a subrequest, signed or with its token; with
 * auth=oauth and no token yet, deferred until there is one
 */

static ngx_int_t
ngx_http_agentcore_mcp_post(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind, long id,
    ngx_str_t *body, ngx_http_agentcore_tool_call_t *call, ngx_uint_t flags)
{
    ngx_buf_t                     *b;
    ngx_str_t                     *uri;
    ngx_http_request_t            *r, *sr;
    ngx_http_post_subrequest_t    *ps;
    ngx_http_agentcore_mcp_req_t  *req;

    r = inv->ctx->request;

    if (s->auth == NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH
        && kind != NGX_HTTP_AGENTCORE_MCP_TOKEN)
    {
        if (s->oauth && s->oauth_expires
            && (ngx_msec_int_t) (s->oauth_until - ngx_current_msec) <= 0)
        {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "agentcore mcp \"%V\": the OAuth token expires, "
                          "fetching another", &s->name);

            ngx_http_agentcore_mcp_token_drop(s);
        }

        if (s->oauth == NULL) {
            return ngx_http_agentcore_mcp_defer(inv, s, kind, id, body, call,
                                                flags);
        }
    }

    req = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_mcp_req_t));
    if (req == NULL) {
        return NGX_ERROR;
    }

    req->inv = inv;
    req->server = s;
    req->kind = kind;
    req->call = call;
    req->id = id;
    req->body = *body;
    req->retried = (flags & NGX_HTTP_AGENTCORE_MCP_RETRIED) ? 1 : 0;
    req->reauthed = (flags & NGX_HTTP_AGENTCORE_MCP_REAUTHED) ? 1 : 0;

    req->capture.tool = &s->pseudo;
    req->capture.request = r;
    req->capture.pool = r->pool;
    req->capture.invocation = inv->ctx;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->start = b->pos;
    b->end = b->last;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    uri = &s->uri;

    switch (s->auth) {

    case NGX_HTTP_AGENTCORE_MCP_AUTH_SIGV4:
        if (ngx_http_agentcore_mcp_sign(req, b->pos, body->len) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_AGENTCORE_MCP_AUTH_BEARER:
        if (ngx_http_agentcore_mcp_bearer(req) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    case NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH:
        if (kind == NGX_HTTP_AGENTCORE_MCP_TOKEN) {
            /* the client's Basic credentials, if any: set by the caller */
            uri = &s->token_uri;
            break;
        }

        req->authorization.data = s->oauth;
        req->authorization.len = s->oauth_len;
        req->generation = s->oauth_generation;
        break;

    default: /* NGX_HTTP_AGENTCORE_MCP_AUTH_NONE */
        break;
    }

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_ERROR;
    }

    ps->handler = ngx_http_agentcore_mcp_done;
    ps->data = req;

    sr = ngx_http_agentcore_post_subrequest(r, uri, NULL, b, ps, inv->ctx);
    if (sr == NULL) {
        return NGX_ERROR;
    }

    req->capture.sr = sr;
    ngx_queue_insert_tail(&inv->reqs, &req->queue);

    if (ngx_http_agentcore_mcp_headers(r, sr, s, kind) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore mcp \"%V\": request %ui id %l",
                   &s->name, kind, req->id);

    return NGX_OK;
}


/*
 * The subrequest's headers: none of the client's (the MCP server is
 * the module's, not the client's; its location adds its own
 * credentials), the transport's own, and a fresh variable cache.
 */

static ngx_int_t
ngx_http_agentcore_mcp_headers(ngx_http_request_t *r, ngx_http_request_t *sr,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind)
{
    ngx_str_t                   v;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    sr->variables = ngx_pcalloc(r->pool, cmcf->variables.nelts
                                         * sizeof(ngx_http_variable_value_t));
    if (sr->variables == NULL) {
        return NGX_ERROR;
    }

    if (ngx_list_init(&sr->headers_in.headers, r->pool, 6,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    sr->headers_in.content_length = NULL;
    sr->headers_in.transfer_encoding = NULL;
    sr->headers_in.expect = NULL;
    sr->headers_in.range = NULL;
    sr->headers_in.if_range = NULL;
    sr->headers_in.if_match = NULL;
    sr->headers_in.if_none_match = NULL;
    sr->headers_in.if_modified_since = NULL;
    sr->headers_in.if_unmodified_since = NULL;
    sr->headers_in.user_agent = NULL;
    sr->headers_in.referer = NULL;
#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    sr->headers_in.accept_encoding = NULL;
#endif
#if (NGX_HTTP_HEADERS)
    sr->headers_in.accept = NULL;
#endif
    sr->headers_in.authorization = NULL;
    ngx_str_null(&sr->headers_in.user);
    ngx_str_null(&sr->headers_in.passwd);
#ifdef ngx_http_proxy_auth
    sr->headers_in.proxy_authorization = NULL;
#endif
#if (nginx_version >= 1023000)
    sr->headers_in.cookie = NULL;
#else
    if (ngx_array_init(&sr->headers_in.cookies, r->pool, 1,
                       sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }
#endif

    if (kind == NGX_HTTP_AGENTCORE_MCP_TOKEN) {
        /* RFC 6749 4.4.2 */
        ngx_str_set(&v, "application/x-www-form-urlencoded");

    } else {
        ngx_str_set(&v, "application/json");
    }

    if (ngx_http_agentcore_mcp_push(r, sr, "Content-Type", "content-type",
                                    &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (kind == NGX_HTTP_AGENTCORE_MCP_TOKEN) {
        ngx_str_set(&v, "application/json");
        return ngx_http_agentcore_mcp_push(r, sr, "Accept", "accept", &v);
    }

    ngx_str_set(&v, "application/json, text/event-stream");

    if (ngx_http_agentcore_mcp_push(r, sr, "Accept", "accept", &v)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (kind != NGX_HTTP_AGENTCORE_MCP_INIT) {
        if (s->session.len
            && ngx_http_agentcore_mcp_push(r, sr, "Mcp-Session-Id",
                                           "mcp-session-id", &s->session)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (s->version.len
            && ngx_http_agentcore_mcp_push(r, sr, "MCP-Protocol-Version",
                                           "mcp-protocol-version",
                                           &s->version)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_mcp_push(ngx_http_request_t *r, ngx_http_request_t *sr,
    char *key, char *lowcase, ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&sr->headers_in.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->lowcase_key = (u_char *) lowcase;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (lowcase[0] == 'c') {
        sr->headers_in.content_type = h;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_mcp_done(ngx_http_request_t *sr, void *data, ngx_int_t rc)
{
    ngx_http_agentcore_mcp_req_t *req = data;

    ngx_http_agentcore_mcp_server_t  *s;

    if (rc == NGX_AGAIN || req->finished) {
        return rc;
    }

    req->finished = 1;
    ngx_http_agentcore_mcp_req_loud(req);
    ngx_queue_remove(&req->queue);

    s = req->server;

    if (req->kind == NGX_HTTP_AGENTCORE_MCP_TOKEN) {
        ngx_http_agentcore_mcp_tokened(req, sr, rc);
        goto done;
    }

    if (s->auth == NGX_HTTP_AGENTCORE_MCP_AUTH_OAUTH
        && req->capture.status == NGX_HTTP_UNAUTHORIZED
        && !req->reauthed
        && (req->call == NULL || !req->call->done))
    {
        /* the token was refused (revoked, expired early): another, once */

        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "agentcore mcp \"%V\": the server refused the OAuth "
                      "token (401), fetching another", &s->name);

        if (req->generation == s->oauth_generation) {
            ngx_http_agentcore_mcp_token_drop(s);
        }

        if (ngx_http_agentcore_mcp_post(req->inv, s, req->kind, req->id,
                                        &req->body, req->call,
                                        NGX_HTTP_AGENTCORE_MCP_REAUTHED
                                        | (req->retried
                                           ? NGX_HTTP_AGENTCORE_MCP_RETRIED
                                           : 0))
            == NGX_OK)
        {
            goto done;
        }

        /* no memory: the 401 is the outcome */
    }

    if (req->kind == NGX_HTTP_AGENTCORE_MCP_CALL
        || req->call != NULL)
    {
        ngx_http_agentcore_mcp_called(req, sr, rc);

    } else {
        ngx_http_agentcore_mcp_listed(req, sr, rc);
    }

done:

    if (sr->connection->error) {
        return rc;
    }

    return NGX_OK;
}


/*
 * The HTTP outcome: NGX_OK for a 2xx response, else NGX_ERROR with
 * what happened in err
 */

static ngx_int_t
ngx_http_agentcore_mcp_status(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc, u_char *err, size_t len)
{
    ngx_uint_t  status;

    status = req->capture.status ? req->capture.status : (ngx_uint_t) rc;

    if (req->capture.too_big) {
        ngx_snprintf(err, len, "the response of MCP server \"%V\" is larger "
                     "than agentcore_tool_max_size%Z", &req->server->name);
        return NGX_ERROR;
    }

    if (req->capture.status == 0 || status < 200 || status >= 300
        || rc == NGX_ERROR)
    {
        ngx_snprintf(err, len, "MCP server \"%V\" answered HTTP %ui%Z",
                     &req->server->name, status >= 100 ? status : 500);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_mcp_parse(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, json_t **result, char *err, size_t len)
{
    int         rc, sse, changed;
    ngx_buf_t  *b;
    ngx_str_t  *ct;

    ct = &sr->headers_out.content_type;
    sse = (ct->len >= sizeof("text/event-stream") - 1
           && ngx_strncasecmp(ct->data, (u_char *) "text/event-stream",
                              sizeof("text/event-stream") - 1) == 0);

    b = req->capture.body;

    rc = ac_mcp_response(b ? (char *) b->pos : "",
                         b ? (size_t) (b->last - b->pos) : 0,
                         sse, req->id, result, &changed, err, len);

    if (changed && req->server->tools) {
        /* listed again by the next invocation that needs the tools */

        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "agentcore mcp \"%V\": the server's tools changed "
                      "(notifications/tools/list_changed)",
                      &req->server->name);

        req->server->changed = 1;
    }

    return rc;
}


/* a step of listing: initialize, notifications/initialized, tools/list */

static void
ngx_http_agentcore_mcp_listed(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc)
{
    int                               skipped;
    char                              err[512], *cursor;
    json_t                           *result, *params, *v;
    ngx_log_t                        *log;
    ngx_http_agentcore_mcp_server_t  *s;

    s = req->server;
    log = sr->connection->log;
    result = NULL;

    if (s->listing != req->inv) {
        return;
    }

    if (ngx_http_agentcore_mcp_status(req, sr, rc, (u_char *) err,
                                      sizeof(err))
        != NGX_OK)
    {
        goto failed;
    }

    switch (req->kind) {

    case NGX_HTTP_AGENTCORE_MCP_INIT:

        if (ngx_http_agentcore_mcp_parse(req, sr, &result, err, sizeof(err))
            != AC_MCP_OK)
        {
            goto failed;
        }

        v = json_object_get(result, "protocolVersion");

        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) >= sizeof(s->version_buf))
        {
            ngx_snprintf((u_char *) err, sizeof(err), "MCP server \"%V\": "
                         "an initialize result without a protocolVersion%Z",
                         &s->name);
            goto failed;
        }

        s->version.len = json_string_length(v);
        s->version.data = s->version_buf;
        ngx_memcpy(s->version_buf, json_string_value(v), s->version.len);

        json_decref(result);
        result = NULL;

        ngx_http_agentcore_mcp_session(s, sr);

        if (ngx_http_agentcore_mcp_send(req->inv, s,
                                        NGX_HTTP_AGENTCORE_MCP_INITIALIZED,
                                        NULL, NULL, 0)
            != NGX_OK)
        {
            ngx_snprintf((u_char *) err, sizeof(err), "no memory%Z");
            goto failed;
        }

        return;

    case NGX_HTTP_AGENTCORE_MCP_INITIALIZED:

        json_decref(s->pending);
        s->pending = json_array();

        if (s->pending == NULL
            || ngx_http_agentcore_mcp_send(req->inv, s,
                                           NGX_HTTP_AGENTCORE_MCP_LIST,
                                           NULL, NULL, 0)
               != NGX_OK)
        {
            ngx_snprintf((u_char *) err, sizeof(err), "no memory%Z");
            goto failed;
        }

        return;

    default: /* NGX_HTTP_AGENTCORE_MCP_LIST */

        if (ngx_http_agentcore_mcp_parse(req, sr, &result, err, sizeof(err))
            != AC_MCP_OK)
        {
            goto failed;
        }

        skipped = ac_mcp_tools_page(result, s->pending, &cursor, err,
                                    sizeof(err));
        json_decref(result);
        result = NULL;

        if (skipped < 0) {
            goto failed;
        }

        if (skipped) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "agentcore mcp \"%V\": %d tools left out, the "
                          "first: %s", &s->name, skipped, err);
        }

        if (cursor && ++s->pages < NGX_HTTP_AGENTCORE_MCP_MAX_PAGES) {
            params = json_pack("{s:s}", "cursor", cursor);
            free(cursor);

            if (params == NULL
                || ngx_http_agentcore_mcp_send(req->inv, s,
                                               NGX_HTTP_AGENTCORE_MCP_LIST,
                                               params, NULL, 0)
                   != NGX_OK)
            {
                json_decref(params);
                ngx_snprintf((u_char *) err, sizeof(err), "no memory%Z");
                goto failed;
            }

            json_decref(params);
            return;
        }

        free(cursor);

        json_decref(s->tools);
        s->tools = s->pending;
        s->pending = NULL;
        s->listed_at = ngx_current_msec;
        s->failed_at = 0;

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "agentcore mcp \"%V\": %uz tools listed",
                      &s->name, json_array_size(s->tools));

        ngx_http_agentcore_mcp_store(s, log);

        ngx_http_agentcore_mcp_settle(s, 1);
        return;
    }

failed:

    json_decref(result);

    ngx_http_agentcore_mcp_list_failed(s, log, err);
}


static void
ngx_http_agentcore_mcp_list_failed(ngx_http_agentcore_mcp_server_t *s,
    ngx_log_t *log, const char *err)
{
    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "agentcore mcp \"%V\": the tools cannot be listed, the "
                  "invocation goes on without them: %s", &s->name, err);

    json_decref(s->pending);
    s->pending = NULL;
    s->failed_at = ngx_current_msec ? ngx_current_msec : 1;

    ngx_http_agentcore_mcp_settle(s, 0);
}


/* the list is there, or not: every invocation waiting for it goes on */

static void
ngx_http_agentcore_mcp_settle(ngx_http_agentcore_mcp_server_t *s,
    ngx_uint_t ok)
{
    ngx_queue_t                      *q;
    ngx_http_agentcore_mcp_waiter_t  *w;

    s->listing = NULL;

    while (!ngx_queue_empty(&s->waiters)) {
        q = ngx_queue_head(&s->waiters);
        ngx_queue_remove(q);
        q->next = NULL;

        w = ngx_queue_data(q, ngx_http_agentcore_mcp_waiter_t, queue);
        w->inv->settled[w->index] = 1;

        ngx_post_event(&w->ev, &ngx_posted_events);
    }
}


/* a tool of a server, called by the model */

static ngx_int_t
ngx_http_agentcore_mcp_call_tool(ngx_http_agentcore_tool_call_t *call)
{
    json_t                         *params;
    ngx_int_t                       rc;
    ngx_http_agentcore_ctx_t       *ctx;
    ngx_http_agentcore_mcp_tool_t  *mt;

    ctx = call->invocation;
    mt = call->tool->data;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                   "agentcore mcp \"%V\": tools/call \"%s\"",
                   &mt->server->name, mt->name);

    params = ngx_http_agentcore_mcp_call_params(call);
    if (params == NULL) {
        return NGX_ERROR;
    }

    if (mt->server->version.len == 0) {
        /*
         * the list came from another worker: this one initializes its
         * own session first, then sends the call
         */

        json_decref(params);

        rc = ngx_http_agentcore_mcp_send(ctx->mcp, mt->server,
                                         NGX_HTTP_AGENTCORE_MCP_INIT, NULL,
                                         call, 1);

        return (rc == NGX_OK) ? NGX_AGAIN : NGX_ERROR;
    }

    rc = ngx_http_agentcore_mcp_send(ctx->mcp, mt->server,
                                     NGX_HTTP_AGENTCORE_MCP_CALL, params,
                                     call, 0);
    json_decref(params);

    return (rc == NGX_OK) ? NGX_AGAIN : NGX_ERROR;
}


static void
ngx_http_agentcore_mcp_called(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc)
{
    int                               is_error, prc;
    char                              err[512], *text;
    size_t                            len;
    json_t                           *result, *params, *v, *blocks;
    ngx_str_t                         t;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_mcp_server_t  *s;
    ngx_http_agentcore_tool_call_t   *call;

    s = req->server;
    call = req->call;

    if (call->done) {
        return;
    }

    /* the session ended: a new one, and the call again, once */

    if (req->kind == NGX_HTTP_AGENTCORE_MCP_CALL
        && req->capture.status == NGX_HTTP_NOT_FOUND && s->session.len
        && !req->retried)
    {
        ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                      "agentcore mcp \"%V\": the session ended (404), "
                      "initializing again", &s->name);

        ngx_str_null(&s->session);

        if (ngx_http_agentcore_mcp_send(req->inv, s,
                                        NGX_HTTP_AGENTCORE_MCP_INIT, NULL,
                                        call, 1)
            != NGX_OK)
        {
            ngx_http_agentcore_mcp_call_error(req, "no memory");
        }

        return;
    }

    if (ngx_http_agentcore_mcp_status(req, sr, rc, (u_char *) err,
                                      sizeof(err))
        != NGX_OK)
    {
        ngx_http_agentcore_mcp_call_error(req, "%s", err);
        return;
    }

    if (req->kind == NGX_HTTP_AGENTCORE_MCP_INITIALIZED) {
        /* the new session is ready: the call again */

        params = ngx_http_agentcore_mcp_call_params(call);

        if (params == NULL
            || ngx_http_agentcore_mcp_send(req->inv, s,
                                           NGX_HTTP_AGENTCORE_MCP_CALL,
                                           params, call, 1)
               != NGX_OK)
        {
            ngx_http_agentcore_mcp_call_error(req, "no memory");
        }

        json_decref(params);
        return;
    }

    prc = ngx_http_agentcore_mcp_parse(req, sr, &result, err, sizeof(err));

    if (prc != AC_MCP_OK) {
        ngx_http_agentcore_mcp_call_error(req, "%s", err);
        return;
    }

    if (req->kind == NGX_HTTP_AGENTCORE_MCP_INIT) {
        /* a new session for a call whose session had ended */

        v = json_object_get(result, "protocolVersion");

        if (json_is_string(v) && json_string_length(v)
            && json_string_length(v) < sizeof(s->version_buf))
        {
            s->version.len = json_string_length(v);
            s->version.data = s->version_buf;
            ngx_memcpy(s->version_buf, json_string_value(v), s->version.len);
        }

        json_decref(result);

        ngx_http_agentcore_mcp_session(s, sr);

        if (ngx_http_agentcore_mcp_send(req->inv, s,
                                        NGX_HTTP_AGENTCORE_MCP_INITIALIZED,
                                        NULL, call, 1)
            != NGX_OK)
        {
            ngx_http_agentcore_mcp_call_error(req, "no memory");
        }

        return;
    }

    text = ac_mcp_call_text(result, &is_error, &len);

    blocks = NULL;

    if (text && ac_mcp_call_content(result, &blocks) != 0) {
        free(text);
        text = NULL;
    }

    json_decref(result);

    if (text == NULL) {
        ngx_http_agentcore_mcp_call_error(req, "MCP server \"%V\": not a "
                                          "tools/call result", &s->name);
        return;
    }

    if (blocks && !call->abandoned) {
        /* the toolResult's content (ngx_http_agentcore_mcp_result) */

        cln = ngx_pool_cleanup_add(call->pool, 0);
        if (cln == NULL) {
            json_decref(blocks);
            free(text);
            ngx_http_agentcore_mcp_call_error(req, "no memory");
            return;
        }

        cln->handler = ngx_http_agentcore_mcp_blocks_cleanup;
        cln->data = blocks;
        call->data = blocks;

    } else {
        json_decref(blocks);
    }

    t.data = (u_char *) text;
    t.len = len;

    ngx_http_agentcore_tool_done(call, is_error ? NGX_ERROR : NGX_OK, &t);

    free(text);
}


static void
ngx_http_agentcore_mcp_blocks_cleanup(void *data)
{
    json_decref(data);
}


/*
 * The toolResult of a call of an MCP tool whose result is more than
 * text (ac_mcp_call_content: structured content, images, JSON
 * resources), or NULL: the result's text says it all.
 */

json_t *
ngx_http_agentcore_mcp_result(ngx_http_agentcore_tool_call_t *call)
{
    if (call->tool == NULL
        || call->tool->handler != ngx_http_agentcore_mcp_call_tool
        || call->data == NULL || !call->done)
    {
        return NULL;
    }

    return json_pack("{s:{s:s%, s:O, s:s}}", "toolResult",
                     "toolUseId", call->tool_use_id.data,
                     call->tool_use_id.len,
                     "content", (json_t *) call->data,
                     "status", call->error ? "error" : "success");
}


/* the Mcp-Session-Id of an initialize response, if any */

static void
ngx_http_agentcore_mcp_session(ngx_http_agentcore_mcp_server_t *s,
    ngx_http_request_t *sr)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ngx_str_null(&s->session);

    part = &sr->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == sizeof("mcp-session-id") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "mcp-session-id",
                               h[i].key.len) == 0
            && h[i].value.len <= NGX_HTTP_AGENTCORE_MCP_MAX_ID)
        {
            s->session.data = s->session_buf;
            s->session.len = h[i].value.len;
            ngx_memcpy(s->session_buf, h[i].value.data, h[i].value.len);
            return;
        }
    }
}


static json_t *
ngx_http_agentcore_mcp_call_params(ngx_http_agentcore_tool_call_t *call)
{
    json_t                         *args;
    ngx_http_agentcore_mcp_tool_t  *mt;

    mt = call->tool->data;
    args = json_is_object(call->input) ? json_incref(call->input)
                                       : json_object();

    return json_pack("{s:s, s:o}", "name", mt->name, "arguments", args);
}


static void
ngx_http_agentcore_mcp_call_error(ngx_http_agentcore_mcp_req_t *req,
    const char *fmt, ...)
{
    u_char     buf[600], *p;
    va_list    args;
    ngx_str_t  text;

    p = ngx_cpymem(buf, "Error: ", sizeof("Error: ") - 1);

    va_start(args, fmt);
    p = ngx_vslprintf(p, buf + sizeof(buf), fmt, args);
    va_end(args);

    text.data = buf;
    text.len = p - buf;

    ngx_http_agentcore_tool_done(req->call, NGX_ERROR, &text);
}


static ngx_int_t
ngx_http_agentcore_mcp_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t               *shpool;
    ngx_http_agentcore_mcp_shm_t  *sh;

    if (data) {
        /* a reload: the list stays */
        shm_zone->data = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_agentcore_mcp_shm_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    shpool->data = sh;
    shm_zone->data = sh;

    return NGX_OK;
}


/* a worker's new list, for the others */

static void
ngx_http_agentcore_mcp_store(ngx_http_agentcore_mcp_server_t *s,
    ngx_log_t *log)
{
    char                          *text;
    size_t                         len;
    u_char                        *p;
    ngx_slab_pool_t               *shpool;
    ngx_http_agentcore_mcp_shm_t  *sh;

    text = json_dumps(s->tools, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL) {
        return;
    }

    len = ngx_strlen(text);
    shpool = (ngx_slab_pool_t *) s->zone->shm.addr;
    sh = s->zone->data;

    ngx_shmtx_lock(&shpool->mutex);

    p = ngx_slab_alloc_locked(shpool, len);

    if (p == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        free(text);

        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "agentcore mcp \"%V\": the list (%uz bytes) does not "
                      "fit in shared memory, the other workers list it "
                      "themselves", &s->name, len);
        return;
    }

    if (sh->text) {
        ngx_slab_free_locked(shpool, sh->text);
    }

    ngx_memcpy(p, text, len);
    sh->text = p;
    sh->len = len;
    sh->listed = ngx_time();
    s->generation = ++sh->generation;

    ngx_shmtx_unlock(&shpool->mutex);

    free(text);
}


/* the list another worker fetched, if this one has an older one */

static void
ngx_http_agentcore_mcp_load(ngx_http_agentcore_mcp_server_t *s,
    ngx_log_t *log)
{
    u_char                        *copy;
    size_t                         len;
    time_t                         age;
    json_t                        *tools;
    ngx_uint_t                     generation;
    ngx_slab_pool_t               *shpool;
    ngx_http_agentcore_mcp_shm_t  *sh;

    sh = s->zone->data;
    shpool = (ngx_slab_pool_t *) s->zone->shm.addr;

    ngx_shmtx_lock(&shpool->mutex);

    generation = sh->generation;

    if (generation == 0 || generation == s->generation || sh->len == 0) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    len = sh->len;
    age = ngx_time() - sh->listed;

    copy = ngx_alloc(len, log);
    if (copy == NULL) {
        ngx_shmtx_unlock(&shpool->mutex);
        return;
    }

    ngx_memcpy(copy, sh->text, len);

    ngx_shmtx_unlock(&shpool->mutex);

    tools = json_loadb((char *) copy, len, 0, NULL);
    ngx_free(copy);

    if (!json_is_array(tools)) {
        json_decref(tools);
        return;
    }

    json_decref(s->tools);
    s->tools = tools;
    s->generation = generation;
    s->failed_at = 0;
    s->listed_at = ngx_current_msec - (ngx_msec_t) (age > 0 ? age : 0) * 1000;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, log, 0,
                   "agentcore mcp \"%V\": %uz tools from shared memory",
                   &s->name, json_array_size(tools));
}


/* ID.gateway.bedrock-agentcore.REGION.amazonaws.com: REGION, or none */

static void
ngx_http_agentcore_mcp_host_region(ngx_str_t *host, ngx_str_t *region)
{
    u_char  *p, *end, *r;

    ngx_str_null(region);

    end = host->data + host->len;

    p = ngx_strlcasestrn(host->data, end, (u_char *) ".bedrock-agentcore.",
                         sizeof(".bedrock-agentcore.") - 1 - 1);
    if (p == NULL) {
        return;
    }

    r = p + sizeof(".bedrock-agentcore.") - 1;

    for (p = r; p < end && *p != '.'; p++) { /* void */ }

    if (p == r || end - p < (ssize_t) sizeof(".amazonaws.com") - 1
        || ngx_strncasecmp(p, (u_char *) ".amazonaws.com",
                           sizeof(".amazonaws.com") - 1) != 0)
    {
        return;
    }

    region->data = r;
    region->len = p - r;
}


/*
 * auth=sigv4: the request signed with the module's credentials, for
 * service "bedrock-agentcore" (AgentCore Gateway's), the values kept in
 * the request's own struct: the MCP requests of an invocation may be
 * in flight together, and the model call's values stay in the ctx
 */

static ngx_int_t
ngx_http_agentcore_mcp_sign(ngx_http_agentcore_mcp_req_t *req, u_char *body,
    size_t len)
{
    ngx_int_t                          rc;
    ngx_str_t                          date, auth, token, *region;
    ac_sigv4_header_t                  headers[4];
    ac_sigv4_request_t                 sreq;
    ngx_http_agentcore_ctx_t          *ctx;
    ngx_http_agentcore_mcp_server_t   *s;
    ngx_http_agentcore_credentials_t  *cr;

    ctx = req->inv->ctx;
    s = req->server;

    region = s->region.len ? &s->region : &ctx->conf->region;

    rc = ngx_http_agentcore_credentials(ctx, &cr);

    if (rc != NGX_OK || cr->access_key_id.len == 0 || region->len == 0) {
        ngx_log_error(NGX_LOG_ERR, ctx->request->connection->log, 0,
                      "agentcore mcp \"%V\": the request cannot be signed: "
                      "%s", &s->name,
                      (rc != NGX_OK) ? "no AWS credentials at hand"
                      : region->len ? "the credentials have no access key"
                      : "no region (region= or agentcore_region)");
        return NGX_ERROR;
    }

    headers[0].name = "content-type";
    headers[0].name_len = sizeof("content-type") - 1;
    headers[0].value = "application/json";
    headers[0].value_len = sizeof("application/json") - 1;

    headers[1].name = "host";
    headers[1].name_len = sizeof("host") - 1;
    headers[1].value = (const char *) s->host.data;
    headers[1].value_len = s->host.len;

    ngx_memzero(&sreq, sizeof(ac_sigv4_request_t));

    sreq.method = "POST";
    sreq.path = (const char *) s->path.data;
    sreq.path_len = s->path.len;
    sreq.body = body;
    sreq.body_len = len;
    sreq.region = (const char *) region->data;
    sreq.service = "bedrock-agentcore";
    sreq.normalize = 1;

    /* the signer keeps its results in the ctx: the model call's there */

    date = ctx->amz_date;
    auth = ctx->authorization;
    token = ctx->security_token;

    rc = ngx_http_agentcore_sign(ctx, cr, &sreq, headers, 2);

    req->host = s->host;
    req->amz_date = ctx->amz_date;
    req->authorization = ctx->authorization;
    req->security_token = ctx->security_token;

    ctx->amz_date = date;
    ctx->authorization = auth;
    ctx->security_token = token;

    return rc;
}


static ngx_int_t
ngx_http_agentcore_mcp_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t                       *s;
    ngx_http_agentcore_ctx_t        *ctx;
    ngx_http_agentcore_tool_call_t  *capture;

    ctx = ngx_http_get_module_ctx(r, ngx_http_agentcore_module);

    capture = (ctx && r != r->main) ? ngx_http_agentcore_mcp_capture(ctx, r)
                                    : NULL;

    if (capture == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    /* the capture is the request's first member */

    s = (ngx_str_t *) ((char *) capture + data);

    if (s->len == 0) {
        /* no header from proxy_set_header */
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


ngx_int_t
ngx_http_agentcore_mcp_add_variables(ngx_conf_t *cf)
{
    return ngx_http_agentcore_add_variables(cf, ngx_http_agentcore_mcp_vars);
}


/*
 * At debug level nginx's proxy module prints the request it sends, its
 * headers included: an MCP request's signature and session token, or a
 * token its location adds.  So the connection's debug logging pauses
 * from each MCP subrequest's content phase until its response header
 * (or its end), as for the model call; the pauses are counted, as the
 * requests of an invocation may be in flight together.
 */

void
ngx_http_agentcore_mcp_quiet(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_http_agentcore_mcp_req_t  *req;

    req = (ngx_http_agentcore_mcp_req_t *)
              ngx_http_agentcore_mcp_capture(ctx, sr);

    if (req == NULL || req->quiet || req->finished) {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, sr->connection->log, 0,
                   "agentcore mcp \"%V\": debug logging paused while the "
                   "request is sent", &req->server->name);

    req->quiet = 1;
    ngx_http_agentcore_log_pause(ctx);
}


void
ngx_http_agentcore_mcp_loud(ngx_http_agentcore_ctx_t *ctx,
    ngx_http_request_t *sr)
{
    ngx_http_agentcore_mcp_req_t  *req;

    req = (ngx_http_agentcore_mcp_req_t *)
              ngx_http_agentcore_mcp_capture(ctx, sr);

    if (req) {
        ngx_http_agentcore_mcp_req_loud(req);
    }
}


static void
ngx_http_agentcore_mcp_req_loud(ngx_http_agentcore_mcp_req_t *req)
{
    if (!req->quiet) {
        return;
    }

    req->quiet = 0;
    ngx_http_agentcore_log_resume(req->inv->ctx);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, req->inv->ctx->request->connection->log,
                   0, "agentcore mcp \"%V\": debug logging resumed",
                   &req->server->name);
}


/*
 * auth=bearer:$VAR (a complex value, evaluated for each MCP request in
 * the invocation's request) or auth=bearer:FILE (the token in a file,
 * read with the configuration: a reload reads it again; surrounding
 * white space is dropped)
 */

static char *
ngx_http_agentcore_mcp_bearer_conf(ngx_conf_t *cf,
    ngx_http_agentcore_mcp_server_t *s, ngx_str_t *value)
{
    return ngx_http_agentcore_mcp_secret_conf(cf, s, value, &s->bearer,
                                              &s->token, "Bearer ");
}


/*
 * A secret given as a value with variables (*cv), or as a FILE whose
 * contents (white space around them dropped) go to *str after prefix
 */

static char *
ngx_http_agentcore_mcp_secret_conf(ngx_conf_t *cf,
    ngx_http_agentcore_mcp_server_t *s, ngx_str_t *value,
    ngx_http_complex_value_t **cv, ngx_str_t *str, const char *prefix)
{
    size_t                             plen;
    u_char                            *p, *last;
    ssize_t                            n;
    ngx_fd_t                           fd;
    ngx_str_t                          name;
    ngx_file_info_t                    fi;
    ngx_http_compile_complex_value_t   ccv;
    u_char                             buf[4096];

    if (ngx_http_script_variables_count(value)) {
        *cv = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = value;
        ccv.complex_value = *cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    name = *value;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &name);
        return NGX_CONF_ERROR;
    }

    n = -1;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR
        && ngx_file_size(&fi) < (off_t) sizeof(buf))
    {
        n = ngx_read_fd(fd, buf, sizeof(buf));
    }

    ngx_close_file(fd);

    p = buf;
    last = buf + (n > 0 ? n : 0);

    while (p < last && (*p == ' ' || *p == '\t' || *p == CR || *p == LF)) {
        p++;
    }

    while (last > p
           && (last[-1] == ' ' || last[-1] == '\t' || last[-1] == CR
               || last[-1] == LF))
    {
        last--;
    }

    if (n < 0 || p == last) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "agentcore_mcp \"%V\": the %s file \"%V\" is "
                           "empty, unreadable or not under 4 KB", &s->name,
                           prefix ? "token" : "secret", &name);
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_CONF_ERROR;
    }

    plen = prefix ? ngx_strlen(prefix) : 0;

    str->len = plen + (last - p);
    str->data = ngx_pnalloc(cf->pool, str->len);
    if (str->data == NULL) {
        ngx_explicit_memzero(buf, sizeof(buf));
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(prefix ? ngx_cpymem(str->data, prefix, plen) : str->data,
               p, last - p);
    ngx_explicit_memzero(buf, sizeof(buf));

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_agentcore_mcp_bearer(ngx_http_agentcore_mcp_req_t *req)
{
    u_char                           *p;
    ngx_int_t                         rc;
    ngx_str_t                         v;
    ngx_http_agentcore_ctx_t         *ctx;
    ngx_http_agentcore_mcp_server_t  *s;

    s = req->server;
    ctx = req->inv->ctx;

    if (s->bearer == NULL) {
        req->authorization = s->token;
        return NGX_OK;
    }

    /* the script engine logs the values it reads at debug level */

    ngx_http_agentcore_log_pause(ctx);
    rc = ngx_http_complex_value(ctx->request, s->bearer, &v);
    ngx_http_agentcore_log_resume(ctx);

    if (rc != NGX_OK) {
        return NGX_ERROR;
    }

    if (v.len == 0) {
        /* no token: no header */
        return NGX_OK;
    }

    req->authorization.len = sizeof("Bearer ") - 1 + v.len;
    req->authorization.data = ngx_pnalloc(ctx->request->pool,
                                          req->authorization.len);
    if (req->authorization.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(req->authorization.data, "Bearer ", sizeof("Bearer ") - 1);
    ngx_memcpy(p, v.data, v.len);

    return NGX_OK;
}


/*
 * auth=oauth: a request that needs the token waits for it; the first
 * one of the worker fetches it (the other invocations' requests wait for
 * the same token)
 */

static ngx_int_t
ngx_http_agentcore_mcp_defer(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s, ngx_uint_t kind, long id,
    ngx_str_t *body, ngx_http_agentcore_tool_call_t *call, ngx_uint_t flags)
{
    ngx_http_request_t                 *r;
    ngx_http_agentcore_mcp_deferred_t  *d;

    r = inv->ctx->request;

    d = ngx_pcalloc(r->pool, sizeof(ngx_http_agentcore_mcp_deferred_t));
    if (d == NULL) {
        return NGX_ERROR;
    }

    d->inv = inv;
    d->server = s;
    d->kind = kind;
    d->id = id;
    d->body = *body;
    d->call = call;
    d->flags = flags;
    d->ev.handler = ngx_http_agentcore_mcp_deferred_wake;
    d->ev.data = d;
    d->ev.log = r->connection->log;

    if (s->fetching == NULL
        && ngx_http_agentcore_mcp_token_fetch(inv, s) != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_queue_insert_tail(&s->deferred, &d->queue);
    ngx_queue_insert_tail(&inv->deferred, &d->link);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore mcp \"%V\": request %ui waits for the OAuth "
                   "token", &s->name, kind);

    return NGX_OK;
}


/* the token is there, or not: a waiting request goes on in its invocation */

static void
ngx_http_agentcore_mcp_deferred_wake(ngx_event_t *ev)
{
    ngx_http_agentcore_mcp_deferred_t *d = ev->data;

    u_char                           *p;
    ngx_str_t                         text;
    ngx_connection_t                 *c;
    ngx_http_request_t               *r;
    ngx_http_agentcore_mcp_server_t  *s;
    u_char                            buf[400];

    s = d->server;
    r = d->inv->ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (!d->failed) {
        if (ngx_http_agentcore_mcp_post(d->inv, s, d->kind, d->id, &d->body,
                                        d->call, d->flags)
            == NGX_OK)
        {
            goto done;
        }

        ngx_cpystrn(d->err, (u_char *) "no memory", sizeof(d->err));
    }

    if (d->call) {
        if (!d->call->done) {
            p = ngx_slprintf(buf, buf + sizeof(buf), "Error: MCP server "
                             "\"%V\": no OAuth token: %s", &s->name, d->err);
            text.data = buf;
            text.len = p - buf;

            ngx_http_agentcore_tool_done(d->call, NGX_ERROR, &text);
        }

    } else if (s->listing == d->inv) {
        p = ngx_slprintf(buf, buf + sizeof(buf) - 1, "no OAuth token: %s",
                         d->err);
        *p = '\0';

        ngx_http_agentcore_mcp_list_failed(s, c->log, (char *) buf);
    }

done:

    ngx_http_run_posted_requests(c);
}


/*
 * POST grant_type=client_credentials to token_uri (RFC 6749 4.4), the
 * client authenticated by HTTP Basic (client_secret_basic, the default)
 * or in the body (client_auth=post)
 */

static ngx_int_t
ngx_http_agentcore_mcp_token_fetch(ngx_http_agentcore_mcp_inv_t *inv,
    ngx_http_agentcore_mcp_server_t *s)
{
    u_char                        *p;
    size_t                         len, elen;
    ngx_int_t                      rc;
    ngx_str_t                      body, secret, basic, plain, enc;
    ngx_http_request_t            *r;
    ngx_http_agentcore_mcp_req_t  *req;

    r = inv->ctx->request;

    if (s->secret_cv) {
        /* the script engine logs the values it reads at debug level */

        ngx_http_agentcore_log_pause(inv->ctx);
        rc = ngx_http_complex_value(r, s->secret_cv, &secret);
        ngx_http_agentcore_log_resume(inv->ctx);

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        secret = s->secret;
    }

    elen = ac_mcp_form_encode((char *) secret.data, secret.len, NULL);

    len = sizeof("grant_type=client_credentials") - 1
          + (s->scope.len ? sizeof("&scope=") - 1 + s->scope.len : 0)
          + (s->client_post ? sizeof("&client_id=&client_secret=") - 1
                              + s->client_id.len + elen
                            : 0);

    body.data = ngx_pnalloc(r->pool, len);
    if (body.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(body.data, "grant_type=client_credentials",
                   sizeof("grant_type=client_credentials") - 1);

    if (s->scope.len) {
        p = ngx_cpymem(p, "&scope=", sizeof("&scope=") - 1);
        p = ngx_cpymem(p, s->scope.data, s->scope.len);
    }

    ngx_str_null(&basic);

    if (s->client_post) {
        p = ngx_cpymem(p, "&client_id=", sizeof("&client_id=") - 1);
        p = ngx_cpymem(p, s->client_id.data, s->client_id.len);
        p = ngx_cpymem(p, "&client_secret=", sizeof("&client_secret=") - 1);
        p += ac_mcp_form_encode((char *) secret.data, secret.len, (char *) p);

    } else {
        /* RFC 6749 2.3.1: the id and secret form-encoded, then base64 */

        plain.len = s->client_id.len + 1 + elen;
        plain.data = ngx_pnalloc(r->pool, plain.len);
        basic.len = sizeof("Basic ") - 1 + ngx_base64_encoded_length(plain.len);
        basic.data = ngx_pnalloc(r->pool, basic.len);

        if (plain.data == NULL || basic.data == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(plain.data, s->client_id.data, s->client_id.len);
        *p++ = ':';
        (void) ac_mcp_form_encode((char *) secret.data, secret.len,
                                  (char *) p);

        enc.data = ngx_cpymem(basic.data, "Basic ", sizeof("Basic ") - 1);
        ngx_encode_base64(&enc, &plain);
        basic.len = sizeof("Basic ") - 1 + enc.len;

        ngx_explicit_memzero(plain.data, plain.len);
    }

    body.len = len;

    if (ngx_http_agentcore_mcp_post(inv, s, NGX_HTTP_AGENTCORE_MCP_TOKEN, 0,
                                    &body, NULL, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    req = ngx_queue_data(ngx_queue_last(&inv->reqs),
                         ngx_http_agentcore_mcp_req_t, queue);

    if (basic.len) {
        req->authorization = basic;

        if (ngx_http_agentcore_mcp_push(r, req->capture.sr, "Authorization",
                                        "authorization", &basic)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    s->fetching = inv;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "agentcore mcp \"%V\": fetching an OAuth token",
                   &s->name);

    return NGX_OK;
}


static void
ngx_http_agentcore_mcp_tokened(ngx_http_agentcore_mcp_req_t *req,
    ngx_http_request_t *sr, ngx_int_t rc)
{
    char                             *token, err[256];
    long                              expires_in;
    size_t                            len;
    ngx_buf_t                        *b;
    ngx_uint_t                        status;
    ngx_http_agentcore_mcp_server_t  *s;

    s = req->server;
    b = req->capture.body;

    /* what held the client's secret is of no more use */

    ngx_explicit_memzero(req->body.data, req->body.len);

    if (req->authorization.len) {
        ngx_explicit_memzero(req->authorization.data,
                             req->authorization.len);
    }

    if (s->fetching != req->inv) {
        /* given up with its invocation: another fetch is on its way */
        goto done;
    }

    s->fetching = NULL;

    status = req->capture.status;

    if (req->capture.too_big) {
        ngx_cpystrn((u_char *) err, (u_char *) "the token endpoint's answer "
                    "is larger than agentcore_tool_max_size", sizeof(err));
        goto failed;
    }

    if (status == 0 || rc == NGX_ERROR) {
        status = (rc >= 100) ? (ngx_uint_t) rc : 502;
    }

    if (ac_mcp_token_response(status, b ? (char *) b->pos : "",
                              b ? (size_t) (b->last - b->pos) : 0,
                              &token, &expires_in, err, sizeof(err))
        != 0)
    {
        goto failed;
    }

    len = ngx_strlen(token);

    ngx_http_agentcore_mcp_token_drop(s);

    s->oauth = ngx_alloc(sizeof("Bearer ") - 1 + len, sr->connection->log);

    if (s->oauth == NULL) {
        ngx_explicit_memzero(token, len);
        free(token);
        ngx_cpystrn((u_char *) err, (u_char *) "no memory", sizeof(err));
        goto failed;
    }

    ngx_memcpy(ngx_cpymem(s->oauth, "Bearer ", sizeof("Bearer ") - 1),
               token, len);
    s->oauth_len = sizeof("Bearer ") - 1 + len;
    s->oauth_generation++;

    ngx_explicit_memzero(token, len);
    free(token);

    /* used until a tenth of its life is left, at most a minute */

    s->oauth_expires = (expires_in > 0);

    if (s->oauth_expires) {
        s->oauth_until = ngx_current_msec + (ngx_msec_t) expires_in * 1000
                         - ngx_min((ngx_msec_t) expires_in * 100, 60000);
    }

    ngx_log_error(NGX_LOG_INFO, sr->connection->log, 0,
                  "agentcore mcp \"%V\": an OAuth token (expires in %l s)",
                  &s->name, expires_in);

    ngx_http_agentcore_mcp_token_settle(s, NULL);

    goto done;

failed:

    ngx_log_error(NGX_LOG_ERR, sr->connection->log, 0,
                  "agentcore mcp \"%V\": no OAuth token: %s", &s->name, err);

    ngx_http_agentcore_mcp_token_settle(s, err);

done:

    if (b) {
        /* the token */
        ngx_explicit_memzero(b->pos, b->last - b->pos);
    }
}


/* every request waiting for the token goes on, or fails with err */

static void
ngx_http_agentcore_mcp_token_settle(ngx_http_agentcore_mcp_server_t *s,
    const char *err)
{
    ngx_queue_t                        *q;
    ngx_http_agentcore_mcp_deferred_t  *d;

    while (!ngx_queue_empty(&s->deferred)) {
        q = ngx_queue_head(&s->deferred);
        ngx_queue_remove(q);
        q->next = NULL;

        d = ngx_queue_data(q, ngx_http_agentcore_mcp_deferred_t, queue);

        if (err) {
            d->failed = 1;
            ngx_cpystrn(d->err, (u_char *) err, sizeof(d->err));
        }

        ngx_post_event(&d->ev, &ngx_posted_events);
    }
}


static void
ngx_http_agentcore_mcp_token_drop(ngx_http_agentcore_mcp_server_t *s)
{
    if (s->oauth) {
        ngx_explicit_memzero(s->oauth, s->oauth_len);
        ngx_free(s->oauth);
        s->oauth = NULL;
        s->oauth_len = 0;
    }
}
