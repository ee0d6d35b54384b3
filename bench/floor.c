
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * The per-event floor of scenario 2: the work the module must do for
 * every event whatever nginx does around it, measured without nginx.
 * An event-stream body (a .bin of gen-bodies.pl) is fed in 8 KiB reads,
 * as the model location's buffer delivers it, to the decoder (both
 * CRCs), the turn assembler (the text delta's JSON) and the SSE encoder
 * (json.dumps escaping into "data: ...\n\n").  Prints JSON:
 * {"events":N,"ns_per_event":X,"crc_ns_per_event":Y}, the second being
 * the CRC-32 of the frames alone.
 *
 *     floor FILE.bin [ROUNDS]
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_http_agentcore_eventstream.h"
#include "ngx_http_agentcore_converse.h"
#include "ngx_http_agentcore_json.h"


#define FLOOR_READ  8192


typedef struct {
    ac_turn_t      *turn;
    size_t          events;
    size_t          bytes;
    unsigned char   out[65536];
} floor_ctx_t;


static int
floor_text(void *data, const char *text, size_t len)
{
    floor_ctx_t *ctx = data;

    size_t  n;

    n = ac_sse_text_event(NULL, (const unsigned char *) text, len);

    if (n > sizeof(ctx->out)) {
        return 1;
    }

    ctx->bytes += ac_sse_text_event(ctx->out, (const unsigned char *) text,
                                    len);
    ctx->events++;

    return 0;
}


static int
floor_message(void *data, const ac_es_message_t *msg)
{
    floor_ctx_t *ctx = data;

    return ac_turn_feed(ctx->turn, msg) == AC_TURN_OK ? 0 : 1;
}


static double
floor_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec + ts.tv_nsec / 1e9;
}


int
main(int argc, char **argv)
{
    long             rounds, r;
    FILE            *f;
    size_t           size, off, n, frames;
    double           t0, dt, crc_dt;
    uint32_t         total, sum;
    floor_ctx_t      ctx;
    unsigned char   *body;
    ac_es_decoder_t  dec;

    if (argc < 2) {
        fprintf(stderr, "usage: floor FILE.bin [ROUNDS]\n");
        return 2;
    }

    rounds = argc > 2 ? atol(argv[2]) : 200;

    f = fopen(argv[1], "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
        perror(argv[1]);
        return 1;
    }

    size = (size_t) ftell(f);
    rewind(f);

    body = malloc(size);
    if (body == NULL || fread(body, 1, size, f) != size) {
        perror(argv[1]);
        return 1;
    }

    fclose(f);

    memset(&ctx, 0, sizeof(floor_ctx_t));

    /* the whole path */

    t0 = floor_now();

    for (r = 0; r < rounds; r++) {
        ctx.turn = ac_turn_create(floor_text, &ctx);
        if (ctx.turn == NULL) {
            return 1;
        }

        ac_es_decoder_init(&dec, AC_ES_DEFAULT_MAX_MESSAGE);

        for (off = 0; off < size; off += n) {
            n = size - off < FLOOR_READ ? size - off : FLOOR_READ;

            if (ac_es_decoder_feed(&dec, body + off, n, floor_message, &ctx)
                != AC_ES_OK)
            {
                fprintf(stderr, "%s: not a clean stream\n", argv[1]);
                return 1;
            }
        }

        ac_es_decoder_free(&dec);
        ac_turn_destroy(ctx.turn);
    }

    dt = floor_now() - t0;

    /* the CRCs alone: the prelude's and the message's of every frame */

    sum = 0;
    frames = 0;

    t0 = floor_now();

    for (r = 0; r < rounds; r++) {
        for (off = 0; off + 12 <= size; off += total) {
            total = ((uint32_t) body[off] << 24) | (body[off + 1] << 16)
                    | (body[off + 2] << 8) | body[off + 3];

            if (total < 16 || total > size - off) {
                return 1;
            }

            sum += ac_crc32(0, body + off, 8);
            sum += ac_crc32(sum, body + off + 8, total - 12);
            frames++;
        }
    }

    crc_dt = floor_now() - t0;

    printf("{\"events\":%zu,\"frames\":%zu,\"rounds\":%ld,"
           "\"ns_per_event\":%.1f,\"crc_ns_per_event\":%.1f,\"sum\":%u}\n",
           ctx.events / rounds, frames / rounds, rounds,
           dt * 1e9 / ctx.events,
           crc_dt * 1e9 / ctx.events, sum);

    free(body);

    return 0;
}
