
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The benchmark's load generator: N concurrent SSE streams on libcurl's
 * multi interface (socket API, epoll), each timed for time to first
 * byte, the gaps between its events and completion.  Every stream is
 * parsed as SSE and compared, event by event, with the expected body
 * (a fast wrong answer is a failure).  It also samples the CPU time and
 * RSS of the server's worker processes (--pid) from /proc.
 *
 *   loadgen -u URL -e EXPECTED.sse [-b BODY | -B BODY_FILE] [-c CONC]
 *           [-n TOTAL] [-r RAMP_PER_S] [-p PID]... [--rss-at N,N,...]
 *           [-t TIMEOUT_S] [-l LABEL] [-o OUT.json] [--raw]
 *
 * --raw: the body is not SSE; it must equal EXPECTED byte for byte (a
 * reference for moving bytes without reading them).
 *
 * Prints one JSON object (to OUT.json or stdout); exits 0 if every
 * stream arrived whole and in order, 1 otherwise, 2 on bad usage.
 */


#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>


#define LG_MAX_PIDS        8
#define LG_MAX_RSS_AT      16
#define LG_SAMPLE_MS       100
#define LG_MAX_ERRORS      5


/* log-linear histogram of nanoseconds: < 1% error, exact below 1 us */

#define LG_HIST_LINEAR     1024
#define LG_HIST_SUB        128
#define LG_HIST_EXP        44
#define LG_HIST_SIZE       (LG_HIST_LINEAR + (LG_HIST_EXP - 10) * LG_HIST_SUB)

typedef struct {
    uint64_t        count[LG_HIST_SIZE];
    uint64_t        n;
    uint64_t        max;
    double          sum;
} lg_hist_t;


typedef struct {
    const char     *data;
    size_t          len;
} lg_event_t;


typedef struct {
    CURL           *easy;
    int             index;
    int             active;
    uint64_t        start;        /* ns */
    uint64_t        first;        /* first body byte, 0 before */
    uint64_t        last_event;
    size_t          events;       /* events matched so far */
    int             failed;
    char           *pending;      /* an incomplete event */
    size_t          plen;
    size_t          psize;
    char            error[160];
} lg_stream_t;


typedef struct {
    const char     *url;
    const char     *body;
    size_t          body_len;
    int             raw;
    const char     *label;
    const char     *out;
    long            concurrency;
    long            total;
    double          ramp;         /* new streams per second, 0: all */
    double          timeout;      /* whole run, seconds */
    int             npids;
    int             pids[LG_MAX_PIDS];
    int             nrss_at;
    long            rss_at[LG_MAX_RSS_AT];

    char           *expect_raw;
    size_t          expect_len;
    lg_event_t     *expect;
    size_t          nexpect;
    size_t          nalloc;

    CURLM          *multi;
    int             epfd;
    uint64_t        timer_at;     /* curl's timeout, 0: none */

    lg_stream_t    *streams;
    long            started;
    long            completed;
    long            ok;
    long            failed;
    long            open;         /* first byte seen, not completed */
    uint64_t        events;
    uint64_t        bytes;
    int             nerrors;

    lg_hist_t       ttfb;
    lg_hist_t       gap;
    lg_hist_t       total_time;

    uint64_t        t0;
    uint64_t        t_end;

    /* the workers */
    uint64_t        cpu0;
    uint64_t        cpu1;
    long            rss0;
    long            rss1;
    long            rss_peak;
    long            peak_open;
    long            rss_at_peak_open;
    long            rss_at_value[LG_MAX_RSS_AT];
    int             rss_at_done;
    uint64_t        next_sample;
} lg_t;


static lg_t  lg;


static uint64_t
lg_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}


static void
lg_die(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);

    exit(2);
}


/* histogram */

static size_t
lg_hist_index(uint64_t v)
{
    int  e;

    if (v < LG_HIST_LINEAR) {
        return (size_t) v;
    }

    e = 63 - __builtin_clzll(v);

    if (e >= LG_HIST_EXP) {
        return LG_HIST_SIZE - 1;
    }

    return LG_HIST_LINEAR + (size_t) (e - 10) * LG_HIST_SUB
           + (size_t) ((v >> (e - 7)) & (LG_HIST_SUB - 1));
}


static double
lg_hist_value(size_t i)
{
    int       e;
    uint64_t  lo, width;

    if (i < LG_HIST_LINEAR) {
        return (double) i;
    }

    e = 10 + (int) ((i - LG_HIST_LINEAR) / LG_HIST_SUB);
    width = 1ull << (e - 7);
    lo = (1ull << e) + (uint64_t) ((i - LG_HIST_LINEAR) % LG_HIST_SUB)
                       * width;

    return (double) lo + (double) width / 2;
}


static void
lg_hist_add(lg_hist_t *h, uint64_t v)
{
    h->count[lg_hist_index(v)]++;
    h->n++;
    h->sum += (double) v;

    if (v > h->max) {
        h->max = v;
    }
}


static double
lg_hist_pct(lg_hist_t *h, double pct)
{
    size_t    i;
    uint64_t  rank, seen;

    if (h->n == 0) {
        return 0;
    }

    rank = (uint64_t) (pct / 100 * (double) h->n);
    if (rank >= h->n) {
        rank = h->n - 1;
    }

    seen = 0;

    for (i = 0; i < LG_HIST_SIZE; i++) {
        seen += h->count[i];

        if (seen > rank) {
            return lg_hist_value(i);
        }
    }

    return (double) h->max;
}


static void
lg_hist_json(FILE *f, const char *name, lg_hist_t *h, int last)
{
    /* microseconds */

    fprintf(f, "  \"%s\": {\"n\": %" PRIu64 ", \"mean\": %.1f, "
            "\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
            "\"p999\": %.1f, \"max\": %.1f}%s\n",
            name, h->n, h->n ? h->sum / (double) h->n / 1000 : 0,
            lg_hist_pct(h, 50) / 1000, lg_hist_pct(h, 90) / 1000,
            lg_hist_pct(h, 99) / 1000, lg_hist_pct(h, 99.9) / 1000,
            (double) h->max / 1000, last ? "" : ",");
}


/* the workers, from /proc */

static uint64_t
lg_cpu_ns(int pid)
{
    FILE               *f;
    char                path[64], buf[1024], *p;
    int                 i;
    unsigned long long  ut, st, ns;

    /* schedstat: nanoseconds on the CPU, finer than the 10 ms ticks */

    snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
    f = fopen(path, "r");

    if (f != NULL) {
        if (fscanf(f, "%llu", &ns) == 1) {
            fclose(f);
            return ns;
        }

        fclose(f);
    }

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        return 0;
    }

    fclose(f);

    p = strrchr(buf, ')');
    if (p == NULL) {
        return 0;
    }

    /* fields 14 and 15 (utime, stime); p is at the end of field 2 */

    for (i = 2; i < 13 && p; i++) {
        p = strchr(p + 1, ' ');
    }

    if (p == NULL || sscanf(p, " %llu %llu", &ut, &st) != 2) {
        return 0;
    }

    return (ut + st) * (1000000000ull / (uint64_t) sysconf(_SC_CLK_TCK));
}


/* RSS in KiB */

static long
lg_rss_kib(int pid)
{
    FILE  *f;
    char   path[64];
    long   size, rss;

    snprintf(path, sizeof(path), "/proc/%d/statm", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }

    if (fscanf(f, "%ld %ld", &size, &rss) != 2) {
        rss = 0;
    }

    fclose(f);

    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}


static uint64_t
lg_workers_cpu(void)
{
    int       i;
    uint64_t  sum;

    sum = 0;

    for (i = 0; i < lg.npids; i++) {
        sum += lg_cpu_ns(lg.pids[i]);
    }

    return sum;
}


static long
lg_workers_rss(void)
{
    int   i;
    long  sum;

    sum = 0;

    for (i = 0; i < lg.npids; i++) {
        sum += lg_rss_kib(lg.pids[i]);
    }

    return sum;
}


static void
lg_sample(uint64_t now)
{
    long  rss;

    if (lg.npids == 0 || now < lg.next_sample) {
        return;
    }

    lg.next_sample = now + LG_SAMPLE_MS * 1000000ull;

    rss = lg_workers_rss();

    if (rss > lg.rss_peak) {
        lg.rss_peak = rss;
    }

    if (lg.open >= lg.peak_open) {
        lg.peak_open = lg.open;
        lg.rss_at_peak_open = rss;
    }
}


/* the expected body: its events' data, in order */

static void
lg_load_expect(const char *path)
{
    FILE   *f;
    char   *p, *end, *ev, *nl;
    long    size;

    f = fopen(path, "rb");
    if (f == NULL) {
        lg_die("%s: %s", path, strerror(errno));
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    lg.expect_raw = malloc((size_t) size + 1);
    if (lg.expect_raw == NULL
        || fread(lg.expect_raw, 1, (size_t) size, f) != (size_t) size)
    {
        lg_die("%s: cannot read", path);
    }

    fclose(f);

    lg.expect_raw[size] = '\0';
    lg.expect_len = (size_t) size;

    if (lg.raw) {
        return;
    }

    p = lg.expect_raw;
    end = p + size;

    while (p < end) {
        ev = strstr(p, "\n\n");
        if (ev == NULL) {
            lg_die("%s: does not end with a blank line", path);
        }

        nl = memchr(p, '\n', (size_t) (ev - p));

        if (nl != NULL || strncmp(p, "data: ", 6) != 0) {
            lg_die("%s: expected single-line data events", path);
        }

        if (lg.nexpect == lg.nalloc) {
            lg.nalloc = lg.nalloc ? lg.nalloc * 2 : 64;
            lg.expect = realloc(lg.expect, lg.nalloc * sizeof(lg_event_t));
            if (lg.expect == NULL) {
                lg_die("out of memory");
            }
        }

        lg.expect[lg.nexpect].data = p + 6;
        lg.expect[lg.nexpect].len = (size_t) (ev - p - 6);
        lg.nexpect++;

        p = ev + 2;
    }
}


/* a request body from a file */

static void
lg_load_body(const char *path)
{
    FILE   *f;
    char   *b;
    long    size;

    f = fopen(path, "rb");
    if (f == NULL) {
        lg_die("%s: %s", path, strerror(errno));
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    b = malloc((size_t) size + 1);
    if (b == NULL || fread(b, 1, (size_t) size, f) != (size_t) size) {
        lg_die("%s: cannot read", path);
    }

    fclose(f);

    b[size] = '\0';
    lg.body = b;
    lg.body_len = (size_t) size;
}


/* SSE parsing */

static void
lg_fail(lg_stream_t *s, const char *fmt, ...)
{
    va_list  args;

    if (s->failed) {
        return;
    }

    s->failed = 1;

    va_start(args, fmt);
    vsnprintf(s->error, sizeof(s->error), fmt, args);
    va_end(args);
}


/*
 * One event (without its blank line): its "data" lines joined by \n,
 * other fields and comments ignored, as an EventSource does.
 */

static void
lg_event(lg_stream_t *s, const char *p, size_t len, uint64_t now)
{
    char         *data, *dp;
    size_t        dlen, llen;
    const char   *line, *end, *nl, *v;
    lg_event_t   *want;

    data = NULL;
    dlen = 0;
    dp = NULL;

    line = p;
    end = p + len;

    /* the usual event is one data line: no copy */

    if (len >= 5 && memcmp(p, "data:", 5) == 0
        && memchr(p, '\n', len) == NULL)
    {
        v = p + 5;
        if (v < end && *v == ' ') {
            v++;
        }

        dp = (char *) v;
        dlen = (size_t) (end - v);

    } else {
        data = malloc(len + 1);
        if (data == NULL) {
            lg_die("out of memory");
        }

        while (line < end) {
            nl = memchr(line, '\n', (size_t) (end - line));
            llen = nl ? (size_t) (nl - line) : (size_t) (end - line);

            if (llen >= 5 && memcmp(line, "data:", 5) == 0) {
                v = line + 5;
                if (v < line + llen && *v == ' ') {
                    v++;
                }

                if (dp != NULL) {
                    data[dlen++] = '\n';
                }

                dp = data;
                memcpy(data + dlen, v, (size_t) (line + llen - v));
                dlen += (size_t) (line + llen - v);
            }

            line += llen + (nl ? 1 : 0);
        }

        if (dp == NULL) {
            /* no data: not dispatched */
            free(data);
            return;
        }
    }

    if (s->events >= lg.nexpect) {
        lg_fail(s, "event %zu beyond the %zu expected: %.*s", s->events + 1,
                lg.nexpect, (int) (dlen > 80 ? 80 : dlen), dp);

    } else {
        want = &lg.expect[s->events];

        if (want->len != dlen || memcmp(want->data, dp, dlen) != 0) {
            lg_fail(s, "event %zu differs: got %.*s", s->events + 1,
                    (int) (dlen > 80 ? 80 : dlen), dp);
        }
    }

    free(data);

    if (s->events > 0) {
        lg_hist_add(&lg.gap, now - s->last_event);
    }

    s->last_event = now;
    s->events++;
    lg.events++;
}


static size_t
lg_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    int           in_pending;
    char         *p, *end, *ev;
    size_t        n, need;
    uint64_t      now;
    lg_stream_t  *s = userdata;

    n = size * nmemb;
    now = lg_now();

    if (s->first == 0) {
        s->first = now;
        lg_hist_add(&lg.ttfb, now - s->start);
        lg.open++;
    }

    lg.bytes += n;

    if (lg.raw) {
        /* s->plen counts the bytes matched so far */

        if (s->plen + n > lg.expect_len
            || memcmp(lg.expect_raw + s->plen, ptr, n) != 0)
        {
            lg_fail(s, "body differs at byte %zu", s->plen);
        }

        s->plen += n;

        return size * nmemb;
    }

    if (s->plen) {
        need = s->plen + n;

        if (need > s->psize) {
            s->psize = need * 2;
            s->pending = realloc(s->pending, s->psize);
            if (s->pending == NULL) {
                lg_die("out of memory");
            }
        }

        memcpy(s->pending + s->plen, ptr, n);
        s->plen = need;

        p = s->pending;
        end = p + s->plen;
        in_pending = 1;

    } else {
        p = ptr;
        end = ptr + n;
        in_pending = 0;
    }

    for ( ;; ) {
        ev = memmem(p, (size_t) (end - p), "\n\n", 2);
        if (ev == NULL) {
            break;
        }

        lg_event(s, p, (size_t) (ev - p), now);
        p = ev + 2;
    }

    /* keep the rest for the next read */

    n = (size_t) (end - p);

    if (n == 0) {
        s->plen = 0;
        return size * nmemb;
    }

    if (in_pending) {
        memmove(s->pending, p, n);

    } else {
        if (n > s->psize) {
            s->psize = n * 2 > 256 ? n * 2 : 256;
            free(s->pending);
            s->pending = malloc(s->psize);
            if (s->pending == NULL) {
                lg_die("out of memory");
            }
        }

        memcpy(s->pending, p, n);
    }

    s->plen = n;

    return size * nmemb;
}


/* streams */

static void
lg_start(lg_stream_t *s)
{
    CURLMcode  rc;

    s->start = lg_now();
    s->first = 0;
    s->last_event = 0;
    s->events = 0;
    s->failed = 0;
    s->plen = 0;
    s->error[0] = '\0';
    s->active = 1;

    rc = curl_multi_add_handle(lg.multi, s->easy);
    if (rc != CURLM_OK) {
        lg_die("curl_multi_add_handle: %s", curl_multi_strerror(rc));
    }

    lg.started++;
}


static void
lg_done(lg_stream_t *s, CURLcode result)
{
    long      status;
    uint64_t  now;

    now = lg_now();

    curl_multi_remove_handle(lg.multi, s->easy);

    s->active = 0;
    lg.completed++;

    if (s->first) {
        lg.open--;
    }

    status = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);

    if (result != CURLE_OK) {
        lg_fail(s, "transfer failed: %s", curl_easy_strerror(result));

    } else if (status != 200) {
        lg_fail(s, "HTTP status %ld", status);

    } else if (lg.raw) {
        if (s->plen != lg.expect_len) {
            lg_fail(s, "%zu bytes of %zu", s->plen, lg.expect_len);
        }

        s->plen = 0;

    } else if (s->plen) {
        lg_fail(s, "%zu bytes after the last event", s->plen);

    } else if (s->events != lg.nexpect) {
        lg_fail(s, "%zu events of %zu", s->events, lg.nexpect);
    }

    if (s->failed) {
        lg.failed++;

        if (lg.nerrors++ < LG_MAX_ERRORS) {
            fprintf(stderr, "loadgen: %s: stream %ld: %s\n",
                    lg.label ? lg.label : lg.url, lg.completed, s->error);
        }

    } else {
        lg.ok++;
        lg_hist_add(&lg.total_time, now - s->start);
    }

    if (lg.rss_at_done < lg.nrss_at
        && lg.completed >= lg.rss_at[lg.rss_at_done])
    {
        lg.rss_at_value[lg.rss_at_done++] = lg_workers_rss();
    }

    lg.t_end = now;
}


/* libcurl's socket API on epoll */

static int
lg_socket_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp)
{
    struct epoll_event  ev;

    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(lg.epfd, EPOLL_CTL_DEL, fd, NULL);
        curl_multi_assign(lg.multi, fd, NULL);
        return 0;
    }

    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0)
                | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);

    if (sockp == NULL) {
        if (epoll_ctl(lg.epfd, EPOLL_CTL_ADD, fd, &ev) != 0
            && errno == EEXIST)
        {
            epoll_ctl(lg.epfd, EPOLL_CTL_MOD, fd, &ev);
        }

        curl_multi_assign(lg.multi, fd, &lg);

    } else {
        epoll_ctl(lg.epfd, EPOLL_CTL_MOD, fd, &ev);
    }

    return 0;
}


static int
lg_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    lg.timer_at = (timeout_ms < 0) ? 0
                  : lg_now() + (uint64_t) timeout_ms * 1000000ull;
    return 0;
}


static void
lg_check_done(void)
{
    int           left;
    CURLMsg      *msg;
    lg_stream_t  *s;

    while ((msg = curl_multi_info_read(lg.multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
        lg_done(s, msg->data.result);
    }
}


/* starts what the ramp and the total allow */

static void
lg_start_more(uint64_t now)
{
    long          i, allowed;
    lg_stream_t  *s;

    allowed = lg.total - lg.started;

    if (lg.ramp > 0) {
        i = (long) ((double) (now - lg.t0) / 1e9 * lg.ramp) + 1
            - lg.started;

        if (i < allowed) {
            allowed = i;
        }
    }

    for (i = 0; i < lg.concurrency && allowed > 0; i++) {
        s = &lg.streams[i];

        if (!s->active) {
            lg_start(s);
            allowed--;
        }
    }
}


static void
lg_usage(void)
{
    fprintf(stderr,
        "usage: loadgen -u URL -e EXPECTED.sse [-b BODY | -B BODY_FILE]\n"
        "               [-c CONCURRENCY] [-n TOTAL] [-r NEW_PER_SECOND]\n"
        "               [-p WORKER_PID]... [--rss-at N,N,...]\n"
        "               [-t TIMEOUT_S] [-l LABEL] [-o OUT.json] [--raw]\n");
    exit(2);
}


static void
lg_options(int argc, char **argv)
{
    int          c;
    char        *p, *next;
    const char  *expect;

    static struct option  opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "expect", required_argument, NULL, 'e' },
        { "body", required_argument, NULL, 'b' },
        { "concurrency", required_argument, NULL, 'c' },
        { "requests", required_argument, NULL, 'n' },
        { "ramp", required_argument, NULL, 'r' },
        { "pid", required_argument, NULL, 'p' },
        { "rss-at", required_argument, NULL, 'R' },
        { "timeout", required_argument, NULL, 't' },
        { "label", required_argument, NULL, 'l' },
        { "body-file", required_argument, NULL, 'B' },
        { "raw", no_argument, NULL, 'W' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 }
    };

    lg.body = "{\"prompt\": \"How much is 2+1?\"}";
    lg.body_len = strlen(lg.body);
    expect = NULL;
    lg.concurrency = 1;
    lg.total = 1;
    lg.timeout = 300;

    /* the expected body is read after the options: --raw may follow */

    while ((c = getopt_long(argc, argv, "u:e:b:B:c:n:r:p:R:t:l:o:", opts,
                            NULL))
           != -1)
    {
        switch (c) {
        case 'u': lg.url = optarg; break;
        case 'e': expect = optarg; break;
        case 'b': lg.body = optarg; lg.body_len = strlen(optarg); break;
        case 'B': lg_load_body(optarg); break;
        case 'W': lg.raw = 1; break;
        case 'c': lg.concurrency = atol(optarg); break;
        case 'n': lg.total = atol(optarg); break;
        case 'r': lg.ramp = atof(optarg); break;
        case 't': lg.timeout = atof(optarg); break;
        case 'l': lg.label = optarg; break;
        case 'o': lg.out = optarg; break;

        case 'p':
            if (lg.npids == LG_MAX_PIDS) {
                lg_die("at most %d pids", LG_MAX_PIDS);
            }

            lg.pids[lg.npids++] = atoi(optarg);
            break;

        case 'R':
            for (p = optarg; *p && lg.nrss_at < LG_MAX_RSS_AT; p = next) {
                lg.rss_at[lg.nrss_at++] = strtol(p, &next, 10);

                if (*next == ',') {
                    next++;
                }

                if (next == p) {
                    lg_die("bad --rss-at list");
                }
            }

            break;

        default:
            lg_usage();
        }
    }

    if (expect == NULL) {
        lg_usage();
    }

    lg_load_expect(expect);

    if (lg.url == NULL || (lg.nexpect == 0 && !lg.raw) || lg.concurrency < 1
        || lg.total < 1 || lg.timeout <= 0)
    {
        lg_usage();
    }

    if (lg.concurrency > lg.total) {
        lg.concurrency = lg.total;
    }
}


static void
lg_report(void)
{
    int     i;
    FILE   *f;
    double  secs, cpu;

    f = stdout;

    if (lg.out) {
        f = fopen(lg.out, "w");
        if (f == NULL) {
            lg_die("%s: %s", lg.out, strerror(errno));
        }
    }

    secs = (double) (lg.t_end - lg.t0) / 1e9;
    cpu = (double) (lg.cpu1 - lg.cpu0) / 1e9;

    fprintf(f, "{\n  \"label\": \"%s\",\n  \"url\": \"%s\",\n",
            lg.label ? lg.label : "", lg.url);
    fprintf(f, "  \"concurrency\": %ld,\n  \"requests\": %ld,\n"
            "  \"ok\": %ld,\n  \"failed\": %ld,\n"
            "  \"events_expected\": %zu,\n  \"events\": %" PRIu64 ",\n"
            "  \"bytes\": %" PRIu64 ",\n  \"seconds\": %.4f,\n",
            lg.concurrency, lg.started, lg.ok, lg.failed, lg.nexpect,
            lg.events, lg.bytes, secs);
    fprintf(f, "  \"invocations_per_s\": %.1f,\n  \"events_per_s\": %.1f,\n",
            secs > 0 ? (double) lg.ok / secs : 0,
            secs > 0 ? (double) lg.events / secs : 0);

    lg_hist_json(f, "ttfb_us", &lg.ttfb, 0);
    lg_hist_json(f, "gap_us", &lg.gap, 0);
    lg_hist_json(f, "total_us", &lg.total_time, 0);

    fprintf(f, "  \"worker\": {\"pids\": %d, \"cpu_s\": %.4f, "
            "\"cpu_util\": %.3f, \"cpu_us_per_invocation\": %.2f, "
            "\"cpu_ns_per_event\": %.1f,\n"
            "    \"rss_kib_start\": %ld, \"rss_kib_end\": %ld, "
            "\"rss_kib_peak\": %ld,\n"
            "    \"peak_open\": %ld, \"rss_kib_at_peak_open\": %ld,\n"
            "    \"rss_at\": [",
            lg.npids, cpu, secs > 0 ? cpu / secs : 0,
            lg.ok ? cpu * 1e6 / (double) lg.ok : 0,
            lg.events ? cpu * 1e9 / (double) lg.events : 0,
            lg.rss0, lg.rss1, lg.rss_peak, lg.peak_open,
            lg.rss_at_peak_open);

    for (i = 0; i < lg.rss_at_done; i++) {
        fprintf(f, "%s{\"completed\": %ld, \"rss_kib\": %ld}",
                i ? ", " : "", lg.rss_at[i], lg.rss_at_value[i]);
    }

    fprintf(f, "]}\n}\n");

    if (f != stdout) {
        fclose(f);
    }
}


int
main(int argc, char **argv)
{
    int                  i, n, running;
    long                 wait_ms;
    uint64_t             now, deadline;
    lg_stream_t         *s;
    struct curl_slist   *headers;
    struct epoll_event   events[256];

    lg_options(argc, argv);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        lg_die("curl_global_init failed");
    }

    lg.multi = curl_multi_init();
    lg.epfd = epoll_create1(0);
    lg.timer_at = 0;

    if (lg.multi == NULL || lg.epfd < 0) {
        lg_die("cannot set up libcurl or epoll");
    }

    curl_multi_setopt(lg.multi, CURLMOPT_SOCKETFUNCTION, lg_socket_cb);
    curl_multi_setopt(lg.multi, CURLMOPT_TIMERFUNCTION, lg_timer_cb);
    curl_multi_setopt(lg.multi, CURLMOPT_MAXCONNECTS, lg.concurrency + 16);
    curl_multi_setopt(lg.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
    curl_multi_setopt(lg.multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);

    headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");

    lg.streams = calloc((size_t) lg.concurrency, sizeof(lg_stream_t));
    if (lg.streams == NULL) {
        lg_die("out of memory");
    }

    for (i = 0; i < lg.concurrency; i++) {
        s = &lg.streams[i];
        s->index = i;
        s->easy = curl_easy_init();

        if (s->easy == NULL) {
            lg_die("curl_easy_init failed");
        }

        curl_easy_setopt(s->easy, CURLOPT_URL, lg.url);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, lg.body);
        curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long) lg.body_len);
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, lg_write);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS,
                         (long) (lg.timeout * 1000));
        curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
        curl_easy_setopt(s->easy, CURLOPT_BUFFERSIZE, 16384L);
    }

    lg.rss0 = lg_workers_rss();
    lg.rss_peak = lg.rss0;
    lg.cpu0 = lg_workers_cpu();
    lg.t0 = lg_now();
    lg.t_end = lg.t0;
    deadline = lg.t0 + (uint64_t) (lg.timeout * 1e9);

    lg_start_more(lg.t0);
    curl_multi_socket_action(lg.multi, CURL_SOCKET_TIMEOUT, 0, &running);

    /* bounded: every stream has a timeout, and so has the whole run */

    while (lg.completed < lg.total) {
        now = lg_now();

        if (now > deadline) {
            fprintf(stderr, "loadgen: run timed out after %.0f s with "
                    "%ld of %ld streams done\n", lg.timeout,
                    lg.completed, lg.total);
            break;
        }

        wait_ms = LG_SAMPLE_MS;

        if (lg.timer_at) {
            wait_ms = (lg.timer_at <= now)
                      ? 0 : (long) ((lg.timer_at - now + 999999) / 1000000);

            if (wait_ms > LG_SAMPLE_MS) {
                wait_ms = LG_SAMPLE_MS;
            }
        }

        if (lg.ramp > 0 && lg.started < lg.total && wait_ms > 1) {
            wait_ms = 1;
        }

        n = epoll_wait(lg.epfd, events, 256, (int) wait_ms);

        if (n < 0 && errno != EINTR) {
            lg_die("epoll_wait: %s", strerror(errno));
        }

        for (i = 0; i < n; i++) {
            curl_multi_socket_action(lg.multi, events[i].data.fd,
                ((events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                 ? CURL_CSELECT_IN : 0)
                | ((events[i].events & (EPOLLOUT | EPOLLERR))
                   ? CURL_CSELECT_OUT : 0)
                | ((events[i].events & EPOLLERR) ? CURL_CSELECT_ERR : 0),
                &running);
        }

        if (lg.timer_at && lg.timer_at <= lg_now()) {
            lg.timer_at = 0;
            curl_multi_socket_action(lg.multi, CURL_SOCKET_TIMEOUT, 0,
                                     &running);
        }

        lg_check_done();

        now = lg_now();
        lg_sample(now);
        lg_start_more(now);
    }

    lg.cpu1 = lg_workers_cpu();
    lg.rss1 = lg_workers_rss();

    /* streams left at a timeout count as failed */

    for (i = 0; i < lg.concurrency; i++) {
        s = &lg.streams[i];

        if (s->active) {
            curl_multi_remove_handle(lg.multi, s->easy);
            lg.failed++;
        }
    }

    lg.failed += lg.total - lg.started;

    lg_report();

    for (i = 0; i < lg.concurrency; i++) {
        curl_easy_cleanup(lg.streams[i].easy);
        free(lg.streams[i].pending);
    }

    curl_multi_cleanup(lg.multi);
    curl_slist_free_all(headers);
    curl_global_cleanup();

    return (lg.failed == 0 && lg.ok == lg.total) ? 0 : 1;
}
