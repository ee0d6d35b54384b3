
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Prometheus' text exposition format (version 0.0.4), plain C (no
 * nginx types): HELP and TYPE lines, samples with escaped label values,
 * histograms kept in milliseconds and shown in seconds; and the bounded
 * vocabulary of stream_error types the metrics label with.
 */


#ifndef _NGX_HTTP_AGENTCORE_PROM_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_PROM_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define AC_PROM_CONTENT_TYPE  "text/plain; version=0.0.4; charset=utf-8"


/* a growing text buffer (malloc); after a failed allocation it stays
   as it was and "failed" is set */
typedef struct {
    char                    *data;
    size_t                   len;
    size_t                   size;
    int                      failed;
} ac_prom_t;


typedef struct {
    const char              *name;      /* [a-zA-Z_][a-zA-Z0-9_]* */
    const char              *value;     /* any bytes, escaped */
    size_t                   len;
} ac_prom_label_t;


void ac_prom_init(ac_prom_t *p);
void ac_prom_free(ac_prom_t *p);

/* "# HELP name help\n# TYPE name type\n", help escaped (\\ and \n) */
void ac_prom_family(ac_prom_t *p, const char *name, const char *type,
    const char *help);

/* name{l1="v1",...} value\n; the label values escaped (\\ \" \n) */
void ac_prom_sample(ac_prom_t *p, const char *name,
    const ac_prom_label_t *labels, size_t nlabels, uint64_t value);

/*
 * A histogram observed in milliseconds: counts[i] is the number of
 * observations in (bounds_ms[i - 1], bounds_ms[i]], counts[nbounds]
 * those above the last bound.  Writes the cumulative name_bucket lines
 * with le in seconds ("0.05", "1", "+Inf"), name_sum in seconds and
 * name_count (the +Inf bucket's count).
 */
void ac_prom_histogram_ms(ac_prom_t *p, const char *name,
    const ac_prom_label_t *labels, size_t nlabels, const uint64_t *bounds_ms,
    const uint64_t *counts, size_t nbounds, uint64_t sum_ms);

/* milliseconds as seconds, shortest: 50 -> "0.05", 1000 -> "1";
   out holds 32 bytes; returns the length */
size_t ac_prom_seconds(uint64_t ms, char *out);


/*
 * stream_error types: the module's own causes (snake_case) and
 * Bedrock's error shapes (as its HTTP x-amzn-errortype names them;
 * the in-stream exceptions' camelCase names match them whatever the
 * case of the first letter), then "other".  A label never holds
 * anything else.
 */
extern const char *const  ac_prom_error_types[];
extern const size_t       ac_prom_nerror_types;

/* the index of a type in ac_prom_error_types, or that of "other" */
size_t ac_prom_error_type(const char *type, size_t len);


#endif /* _NGX_HTTP_AGENTCORE_PROM_H_INCLUDED_ */
