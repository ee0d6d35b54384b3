/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * libFuzzer target: ac_content_prompt(), the prompt of content blocks.
 *  - first byte even: the rest is a request body, parsed as the
 *    module parses it (ac_json_parse_payload, lone surrogates kept);
 *    its "prompt", if a list, is checked; a prompt accepted has one
 *    block per block given, images within the limits whose bytes
 *    decode, and it makes a ConverseStream request (valid UTF-8) and a
 *    history that encodes and decodes to an equal value;
 *  - first byte odd: the rest is an image's bytes, in each format
 *    (the header readers), base64-encoded by ac_base64_encode and read
 *    back by ac_base64_decode unchanged.
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_content.h"
#include "ngx_http_agentcore_converse.h"
#include "ngx_http_agentcore_history.h"
#include "ngx_http_agentcore_json.h"


#define check(e)  do { if (!(e)) { abort(); } } while (0)


static void
accepted(json_t *in, json_t *out)
{
    char                *s;
    long                 n;
    size_t               i, len, bad;
    json_t              *b, *bytes, *messages, *w;
    const char          *err;
    unsigned char       *h;
    ac_converse_conf_t   conf = { NULL, -1, NULL };

    check(json_is_array(out));
    check(json_array_size(out) == json_array_size(in));

    json_array_foreach(out, i, b) {
        check(json_object_size(b) == 1);

        bytes = json_object_get(json_object_get(json_object_get(b, "image"),
                                                "source"), "bytes");
        if (bytes) {
            n = ac_base64_decode(json_string_value(bytes),
                                 json_string_length(bytes), NULL, &bad);
            check(n > 0 && n <= AC_CONTENT_MAX_IMAGE_BYTES);
        }
    }

    messages = json_array();
    check(ac_history_add_user(messages, out) == 0);

    s = ac_converse_request(&conf, messages, &len);
    check(s != NULL);
    free(s);

    len = ac_history_encode(messages, NULL, 0);
    check(len > 0);
    h = malloc(len);
    check(h != NULL && ac_history_encode(messages, h, len) == len);
    w = ac_history_decode(h, len, &err);
    check(w != NULL && json_equal(w, messages));

    json_decref(w);
    free(h);
    json_decref(messages);
}


static void
image(const uint8_t *data, size_t size)
{
    char            *b64, err[512];
    long             n;
    size_t           i, bad;
    json_t          *in, *out;
    unsigned char   *back;

    static const char  *formats[] = { "png", "jpeg", "gif", "webp" };

    b64 = malloc((size + 2) / 3 * 4 + 1);
    back = malloc(size + 3);
    check(b64 != NULL && back != NULL);

    ac_base64_encode(data, size, b64);
    b64[(size + 2) / 3 * 4] = '\0';

    n = ac_base64_decode(b64, (size + 2) / 3 * 4, back, &bad);
    check(n == (long) size && memcmp(back, data, size) == 0);

    for (i = 0; i < 4; i++) {
        in = json_pack("[{s:{s:s, s:{s:s}}}]", "image", "format", formats[i],
                       "source", "bytes", b64);
        check(in != NULL);

        out = ac_content_prompt(in, err, sizeof(err));

        if (out == NULL) {
            check(size == 0 || err[0] != '\0');
        } else {
            accepted(in, out);
            json_decref(out);
        }

        json_decref(in);
    }

    free(back);
    free(b64);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char              err[512];
    json_t           *payload, *prompt, *out;
    ac_json_error_t   jerr;

    if (size == 0) {
        return 0;
    }

    if (data[0] & 1) {
        image(data + 1, size - 1);
        return 0;
    }

    payload = ac_json_parse_payload(data + 1, size - 1, &jerr);
    if (payload == NULL) {
        return 0;
    }

    prompt = json_object_get(payload, "prompt");

    if (json_is_array(prompt)) {
        out = ac_content_prompt(prompt, err, sizeof(err));

        if (out == NULL) {
            check(err[0] != '\0');
        } else {
            accepted(prompt, out);
            json_decref(out);
        }
    }

    json_decref(payload);

    return 0;
}
