
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The built-in tools of the reference service, registered through the
 * public API like any other module's: calculator, weather, get_time,
 * and strands_tools' current_time.
 */


#include "ngx_http_agentcore_module.h"
#include "ngx_http_agentcore_calculator.h"

#include <pthread.h>
#include <mpfr.h>


/*
 * A calculator call runs in a thread of nginx's thread pool, never on the
 * event loop (a symbolic solve can take hundreds of milliseconds).  The
 * task is malloc'd, not from the request's pool: a client that goes away
 * frees the request while the thread runs; the pool cleanup then only
 * marks the task abandoned, and the completion handler frees it.
 */

typedef struct {
    ngx_http_agentcore_tool_call_t  *call;     /* NULL: the request went */
    ngx_pool_cleanup_t              *cln;      /* on call->pool */
    json_t                          *input;    /* the task's own copy */
    char                            *text;     /* malloc'd by the thread */
    ngx_thread_pool_t               *pool;
    ngx_queue_t                      queue;    /* in ..._calc_waiting */
    unsigned                         waiting:1;
    int                              rc;
} ngx_http_agentcore_calc_task_t;


static void ngx_http_agentcore_calc_thread(void *data, ngx_log_t *log);
static void ngx_http_agentcore_calc_done(ngx_event_t *ev);
static void ngx_http_agentcore_calc_abandon(void *data);
static void ngx_http_agentcore_calc_next(void);

static ngx_int_t ngx_http_agentcore_calculator_tool(
    ngx_http_agentcore_tool_call_t *call);
static ngx_int_t ngx_http_agentcore_weather_tool(
    ngx_http_agentcore_tool_call_t *call);
static ngx_int_t ngx_http_agentcore_get_time_tool(
    ngx_http_agentcore_tool_call_t *call);
static ngx_int_t ngx_http_agentcore_current_time_tool(
    ngx_http_agentcore_tool_call_t *call);


#define ngx_http_agentcore_prop(name, type, text)                            \
    "\"" name "\":{\"type\":\"" type "\",\"description\":\"" text "\"}"

static ngx_http_agentcore_tool_t  ngx_http_agentcore_builtin_tools[] = {

    { ngx_string("calculator"),
      ngx_string("Calculator with exact integer and multiple-precision "
                 "arithmetic and a computer algebra system (Giac). "
                 "Expressions use Python syntax: + - * / ** ^ //, "
                 "parentheses, pi, e, I, oo and functions such as sqrt, "
                 "exp, log, sin, cos, tan, asin, atan, sinh, Abs, floor, "
                 "factorial, binomial, Max, Min, Eq, Matrix, det, "
                 "transpose, trace. Modes: "
                 "evaluate (default): computes the value; names without "
                 "a value stay symbolic and are simplified (x*2 + x gives "
                 "3*x), complex results print like 2+3j; "
                 "solve: the roots of expression = 0 (or of Eq(a, b)) in "
                 "its variable, as a list of complex numbers; "
                 "derive: the order-th derivative with respect to wrt; "
                 "integrate: an antiderivative with respect to wrt; "
                 "limit: the limit as wrt approaches point (from above; "
                 "oo for infinity); "
                 "series: the expansion around point up to order terms, "
                 "with its O() remainder; "
                 "matrix: matrix arithmetic on Matrix([[1, 2], [3, 4]]) "
                 "values, with det, transpose and trace."),
      ngx_string("{\"properties\":{"
          ngx_http_agentcore_prop("expression", "string",
                                  "The expression, in Python syntax")
          "," ngx_http_agentcore_prop("mode", "string",
                                  "evaluate (default), solve, derive, "
                                  "integrate, limit, series or matrix")
          "," ngx_http_agentcore_prop("precision", "integer",
                                  "Decimal places of numeric results "
                                  "(default 10)")
          "," ngx_http_agentcore_prop("scientific", "boolean",
                                  "Whether to use scientific notation")
          "," ngx_http_agentcore_prop("force_numeric", "boolean",
                                  "Evaluate symbolic results numerically")
          "," ngx_http_agentcore_prop("variables", "object",
                                  "Values (numbers or expressions) to "
                                  "substitute for names, in evaluate")
          "," ngx_http_agentcore_prop("wrt", "string",
                                  "The variable of derive, integrate, "
                                  "limit and series (default: the first "
                                  "one in the expression)")
          "," ngx_http_agentcore_prop("point", "string",
                                  "Where limit and series are taken "
                                  "(default 0; oo for infinity)")
          "," ngx_http_agentcore_prop("order", "integer",
                                  "Order of the derivative (default 1) or "
                                  "of the series (default 5)")
          "},\"required\":[\"expression\"],\"type\":\"object\"}"),
      ngx_http_agentcore_calculator_tool, NULL },

    { ngx_string("weather"),
      ngx_string("Get weather"),
      ngx_string("{\"properties\":{},\"type\":\"object\",\"required\":[]}"),
      ngx_http_agentcore_weather_tool, NULL },

    { ngx_string("get_time"),
      ngx_string("Get current time"),
      ngx_string("{\"properties\":{},\"type\":\"object\",\"required\":[]}"),
      ngx_http_agentcore_get_time_tool, NULL },

    { ngx_string("current_time"),
      ngx_string("Get the current time in ISO 8601 format for a time zone "
                 "(default UTC)."),
      ngx_string("{\"properties\":{"
          ngx_http_agentcore_prop("timezone", "string",
                                  "An IANA time zone such as Europe/Paris; "
                                  "default UTC")
          "},\"type\":\"object\",\"required\":[]}"),
      ngx_http_agentcore_current_time_tool, NULL },

    { ngx_null_string, ngx_null_string, ngx_null_string, NULL, NULL }
};


ngx_int_t
ngx_http_agentcore_add_builtin_tools(ngx_conf_t *cf)
{
    ngx_http_agentcore_tool_t  *tool;

    for (tool = ngx_http_agentcore_builtin_tools; tool->name.len; tool++) {
        if (ngx_http_agentcore_add_tool(cf, tool) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * Giac's context, the shim's name table and the calculator's statistics
 * are process globals: one calculation at a time, whatever the number of
 * the pool's threads.  MPFR (built with TLS in Debian) and GMP are
 * reentrant.
 */

static pthread_mutex_t  ngx_http_agentcore_calc_mutex =
    PTHREAD_MUTEX_INITIALIZER;

static ngx_str_t  ngx_http_agentcore_calc_pool_name = ngx_string("agentcore");


/*
 * One calculation of this worker in the pool at a time, the others wait
 * here, on the event loop: queued behind the mutex instead, they would
 * each hold one of the pool's threads asleep (the pool the credential
 * fetches, and with "default" aio threads, share) for as long as the
 * calculations before them take.
 */

static ngx_queue_t  ngx_http_agentcore_calc_waiting;
static ngx_uint_t   ngx_http_agentcore_calc_busy;


/*
 * postconfiguration: the calculator's thread pool, the one the credential
 * fetches use: "agentcore" if declared before "http", else "default"
 * (nginx's, 32 threads unless a "thread_pool default" says otherwise);
 * none unless an "agentcore_tools" names the calculator
 */

ngx_int_t
ngx_http_agentcore_builtins_postconfiguration(ngx_conf_t *cf)
{
    ngx_uint_t                        i;
    ngx_http_agentcore_tool_entry_t **e;
    ngx_http_agentcore_main_conf_t   *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_agentcore_module);

    e = amcf->tools.elts;

    for (i = 0; i < amcf->tools.nelts; i++) {
        if (e[i]->tool->handler == ngx_http_agentcore_calculator_tool) {
            break;
        }
    }

    if (i == amcf->tools.nelts || !e[i]->used) {
        return NGX_OK;
    }

    amcf->calc_pool = ngx_thread_pool_get(cf->cycle,
                                          &ngx_http_agentcore_calc_pool_name);

    if (amcf->calc_pool == NULL) {
        amcf->calc_pool = ngx_thread_pool_add(cf, NULL);
        if (amcf->calc_pool == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_agentcore_calculator_tool(ngx_http_agentcore_tool_call_t *call)
{
    ngx_thread_task_t                *task;
    ngx_pool_cleanup_t               *cln;
    ngx_http_agentcore_calc_task_t   *t;
    ngx_http_agentcore_main_conf_t   *amcf;

    amcf = ngx_http_get_module_main_conf(call->request,
                                         ngx_http_agentcore_module);

    if (amcf->calc_pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_calloc(sizeof(ngx_thread_task_t)
                      + sizeof(ngx_http_agentcore_calc_task_t),
                      call->request->connection->log);
    if (task == NULL) {
        return NGX_ERROR;
    }

    t = (ngx_http_agentcore_calc_task_t *) (task + 1);
    task->ctx = t;

    t->call = call;
    t->pool = amcf->calc_pool;

    if (call->input) {
        t->input = json_deep_copy(call->input);
        if (t->input == NULL) {
            ngx_free(task);
            return NGX_ERROR;
        }
    }

    cln = ngx_pool_cleanup_add(call->pool, 0);
    if (cln == NULL) {
        json_decref(t->input);
        ngx_free(task);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_agentcore_calc_abandon;
    cln->data = t;
    t->cln = cln;

    task->handler = ngx_http_agentcore_calc_thread;
    task->event.handler = ngx_http_agentcore_calc_done;
    task->event.data = task;
    task->event.log = ngx_cycle->log;

    if (ngx_http_agentcore_calc_busy) {
        if (ngx_queue_next(&ngx_http_agentcore_calc_waiting) == NULL) {
            ngx_queue_init(&ngx_http_agentcore_calc_waiting);
        }

        ngx_queue_insert_tail(&ngx_http_agentcore_calc_waiting, &t->queue);
        t->waiting = 1;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                       "agentcore calculator %V: waits for the one running",
                       &call->tool_use_id);

        return NGX_AGAIN;
    }

    if (ngx_thread_task_post(amcf->calc_pool, task) != NGX_OK) {
        /* the pool's queue is full (logged) */
        cln->handler = NULL;
        json_decref(t->input);
        ngx_free(task);
        return NGX_ERROR;
    }

    ngx_http_agentcore_calc_busy = 1;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, call->request->connection->log, 0,
                   "agentcore calculator %V: in the thread pool",
                   &call->tool_use_id);

    return NGX_AGAIN;
}


/* the completion of the one running: the next one waiting goes in */

static void
ngx_http_agentcore_calc_next(void)
{
    ngx_str_t                        s;
    ngx_queue_t                     *q;
    ngx_connection_t                *c;
    ngx_thread_task_t               *task;
    ngx_http_agentcore_calc_task_t  *t;

    ngx_http_agentcore_calc_busy = 0;

    while (ngx_queue_next(&ngx_http_agentcore_calc_waiting) != NULL
           && !ngx_queue_empty(&ngx_http_agentcore_calc_waiting))
    {
        q = ngx_queue_head(&ngx_http_agentcore_calc_waiting);
        ngx_queue_remove(q);

        t = ngx_queue_data(q, ngx_http_agentcore_calc_task_t, queue);
        t->waiting = 0;
        task = (ngx_thread_task_t *) t - 1;

        if (ngx_thread_task_post(t->pool, task) == NGX_OK) {
            ngx_http_agentcore_calc_busy = 1;
            return;
        }

        /* the pool's queue is full (logged): that call fails */

        t->cln->handler = NULL;
        c = t->call->request->connection;

        ngx_str_set(&s, "Error: the tool failed");
        ngx_http_agentcore_tool_done(t->call, NGX_ERROR, &s);

        json_decref(t->input);
        ngx_free(task);

        ngx_http_run_posted_requests(c);
    }
}


/* in a thread: no nginx calls, no logging, nothing of the request */

static void
ngx_http_agentcore_calc_thread(void *data, ngx_log_t *log)
{
    ngx_http_agentcore_calc_task_t *t = data;

    (void) pthread_mutex_lock(&ngx_http_agentcore_calc_mutex);

    t->rc = ac_calculator(t->input, &t->text);

    /*
     * MPFR's constant caches are the thread's own (TLS): nginx never
     * frees them when it ends its threads (valgrind: "definitely lost")
     */
    mpfr_free_cache();

    (void) pthread_mutex_unlock(&ngx_http_agentcore_calc_mutex);

    json_decref(t->input);
    t->input = NULL;
}


/* the request's pool goes first: the completion has nothing to deliver */

static void
ngx_http_agentcore_calc_abandon(void *data)
{
    ngx_http_agentcore_calc_task_t *t = data;

    if (t->waiting) {
        /* not in the pool yet: nobody else holds it */
        ngx_queue_remove(&t->queue);
        json_decref(t->input);
        ngx_free((ngx_thread_task_t *) t - 1);
        return;
    }

    t->call = NULL;
    t->cln = NULL;
}


/* back on the event loop */

static void
ngx_http_agentcore_calc_done(ngx_event_t *ev)
{
    ngx_thread_task_t *task = ev->data;

    ngx_str_t                        s;
    ngx_connection_t                *c;
    ngx_http_agentcore_tool_call_t  *call;
    ngx_http_agentcore_calc_task_t  *t;

    t = task->ctx;
    call = t->call;

    ngx_http_agentcore_calc_next();

    if (call == NULL) {
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, ev->log, 0,
                       "agentcore calculator: the request went away");
        free(t->text);
        ngx_free(task);
        return;
    }

    t->cln->handler = NULL;

    c = call->request->connection;

    if (t->text == NULL) {
        /* out of memory: as a tool that returned NGX_ERROR */
        ngx_str_set(&s, "Error: the tool failed");
        ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);

    } else {
        s.data = (u_char *) t->text;
        s.len = ngx_strlen(t->text);

        ngx_http_agentcore_tool_done(call, (t->rc == AC_CALC_SUCCESS)
                                           ? NGX_OK : NGX_ERROR, &s);
    }

    free(t->text);
    ngx_free(task);

    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_agentcore_weather_tool(ngx_http_agentcore_tool_call_t *call)
{
    ngx_http_agentcore_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(call->request,
                                        ngx_http_agentcore_module);

    ngx_http_agentcore_tool_done(call, NGX_OK, &alcf->weather);

    return NGX_OK;
}


/* naive local time, as the reference's get_time */

static ngx_int_t
ngx_http_agentcore_get_time_tool(ngx_http_agentcore_tool_call_t *call)
{
    u_char     buf[sizeof("2025-07-18 20:25:48")];
    ngx_tm_t   tm;
    ngx_str_t  s;

    ngx_localtime(ngx_time(), &tm);

    s.data = buf;
    s.len = ngx_sprintf(buf, "%4d-%02d-%02d %02d:%02d:%02d",
                        tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                        tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec)
            - buf;

    ngx_http_agentcore_tool_done(call, NGX_OK, &s);

    return NGX_OK;
}


/*
 * ISO 8601 with microseconds and offset, in an IANA zone read from the
 * system's zoneinfo (tzdata).  The worker is single-threaded here, so
 * TZ is switched for the conversion and restored.
 */

static ngx_int_t
ngx_http_agentcore_current_time_tool(ngx_http_agentcore_tool_call_t *call)
{
    char            *old, *saved, zone[128], path[256];
    long             off;
    u_char           buf[160], *p;
    json_t          *tz;
    size_t           len;
    ngx_str_t        s;
    struct tm        tm;
    ngx_uint_t       i, utc;
    struct timeval   tv;

    tz = json_is_object(call->input) ? json_object_get(call->input,
                                                       "timezone")
                                     : NULL;

    if (tz != NULL && !json_is_null(tz) && !json_is_string(tz)) {
        ngx_str_set(&s, "Error: Error getting current time: timezone must "
                        "be a string");
        ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);
        return NGX_OK;
    }

    len = json_is_string(tz) ? json_string_length(tz) : 0;

    if (len == 0) {
        ngx_cpystrn((u_char *) zone, (u_char *) "UTC", sizeof(zone));
        len = 3;

    } else if (len >= sizeof(zone)) {
        goto bad_zone;

    } else {
        ngx_memcpy(zone, json_string_value(tz), len);
        zone[len] = '\0';
    }

    utc = (len == 3 && ngx_strncasecmp((u_char *) zone, (u_char *) "UTC", 3)
                       == 0);

    if (!utc) {
        for (i = 0; i < len; i++) {
            if (!(isalnum((unsigned char) zone[i]) || zone[i] == '/'
                  || zone[i] == '_' || zone[i] == '-' || zone[i] == '+'))
            {
                goto bad_zone;
            }
        }

        if (zone[0] == '/' || ngx_strstr(zone, "..")) {
            goto bad_zone;
        }

        ngx_snprintf((u_char *) path, sizeof(path),
                     "/usr/share/zoneinfo/%s%Z", zone);

        if (access(path, R_OK) != 0) {
            goto bad_zone;
        }
    }

    ngx_gettimeofday(&tv);

    if (utc) {
        (void) gmtime_r(&tv.tv_sec, &tm);
        off = 0;

    } else {
        old = getenv("TZ");
        saved = old ? strdup(old) : NULL;

        if (old && saved == NULL) {
            return NGX_ERROR;
        }

        (void) setenv("TZ", zone, 1);
        tzset();
        (void) localtime_r(&tv.tv_sec, &tm);
        off = tm.tm_gmtoff;

        if (saved) {
            (void) setenv("TZ", saved, 1);
            free(saved);

        } else {
            (void) unsetenv("TZ");
        }

        tzset();
    }

    p = ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02d.%06l%c%02l:%02l",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                    tm.tm_hour, tm.tm_min, tm.tm_sec, (long) tv.tv_usec,
                    off < 0 ? '-' : '+', ngx_abs(off) / 3600,
                    (ngx_abs(off) % 3600) / 60);

    s.data = buf;
    s.len = p - buf;

    ngx_http_agentcore_tool_done(call, NGX_OK, &s);

    return NGX_OK;

bad_zone:

    p = ngx_snprintf(buf, sizeof(buf),
                     "Error: Error getting current time: "
                     "'No time zone found with key %*s'",
                     ngx_min(len, (size_t) 16), json_string_value(tz));

    s.data = buf;
    s.len = p - buf;

    ngx_http_agentcore_tool_done(call, NGX_ERROR, &s);

    return NGX_OK;
}
