/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_history.c: Strands' sliding window
 * (runtime-contract.md 8.5, the fallback of strands-agents PR #2174),
 * the "Tool was interrupted." repair (8.3, 7), the user turn, and the
 * binary form (round trips, every truncation, malformed input).
 */


#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>

#include "ngx_http_agentcore_history.h"
#include "ngx_http_agentcore_content.h"


/* a history in a compact notation, see msgs() */

static json_t *
load(const char *text)
{
    json_t        *v;
    json_error_t   err;

    v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (v == NULL) {
        fail_msg("bad test JSON: %s: %s", err.text, text);
    }

    return v;
}


static void
assert_json(json_t *v, const char *expected)
{
    char    *s;
    json_t  *e;

    e = load(expected);

    if (!json_equal(v, e)) {
        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s\nexpected %s", s, expected);
    }

    json_decref(e);
}


/*
 * One letter per message: u user text, a assistant text, T assistant
 * toolUse (id t<i>), R user toolResult answering the T before it,
 * X user message holding a toolUse (not what models send).
 */
static json_t *
msgs(const char *shape)
{
    int      i;
    char     id[16];
    json_t  *a, *m;

    a = json_array();

    for (i = 0; shape[i]; i++) {
        snprintf(id, sizeof(id), "t%d", shape[i] == 'R' ? i - 1 : i);

        switch (shape[i]) {
        case 'u':
            m = json_pack("{s:s, s:[{s:i}]}", "role", "user",
                          "content", "text", i);
            break;
        case 'a':
            m = json_pack("{s:s, s:[{s:i}]}", "role", "assistant",
                          "content", "text", i);
            break;
        case 'T':
            m = json_pack("{s:s, s:[{s:{s:s, s:s, s:{}}}]}",
                          "role", "assistant", "content", "toolUse",
                          "toolUseId", id, "name", "weather", "input");
            break;
        case 'R':
            m = json_pack("{s:s, s:[{s:{s:s, s:s, s:[{s:s}]}}]}",
                          "role", "user", "content", "toolResult",
                          "toolUseId", id, "status", "success",
                          "content", "text", "sunny");
            break;
        case 'X':
            m = json_pack("{s:s, s:[{s:{s:s, s:s, s:{}}}]}",
                          "role", "user", "content", "toolUse",
                          "toolUseId", id, "name", "weather", "input");
            break;
        default:
            fail_msg("bad shape %c", shape[i]);
            return NULL;
        }

        json_object_set_new(m, "i", json_integer(i));
        json_array_append_new(a, m);
    }

    return a;
}


/* the original index of each message left, as "3,4,5" */

static void
assert_kept(json_t *a, const char *expected)
{
    char     buf[512];
    size_t   i, n;
    json_t  *m;

    n = 0;
    buf[0] = '\0';

    json_array_foreach(a, i, m) {
        n += snprintf(buf + n, sizeof(buf) - n, "%s%d", i ? "," : "",
                      (int) json_integer_value(json_object_get(m, "i")));
    }

    assert_string_equal(buf, expected);
}


static void
trim_case(const char *shape, size_t window, size_t removed,
    const char *kept)
{
    json_t  *a;

    a = msgs(shape);
    assert_int_equal(ac_history_trim(a, window), removed);
    assert_kept(a, kept);
    json_decref(a);
}


static void
test_trim_within_window(void **state)
{
    trim_case("", 40, 0, "");
    trim_case("ua", 2, 0, "0,1");
    trim_case("uauau", 5, 0, "0,1,2,3,4");
}


static void
test_trim_text_turns(void **state)
{
    /* 6 messages, window 4: the oldest 2 go, a user message leads */
    trim_case("uauaua", 4, 2, "2,3,4,5");

    /* window 3: the cut at 3 is an assistant; it moves on to 4 */
    trim_case("uauaua", 3, 4, "4,5");

    /* odd window, odd length */
    trim_case("uauauau", 4, 4, "4,5,6");
}


static void
test_trim_skips_tool_results(void **state)
{
    /* u T R a u a, window 4: 2 is a toolResult, 3 an assistant */
    trim_case("uTRaua", 4, 4, "4,5");

    /* u a u T R a u a, window 5: 3 is T, 4 R, 5 a, 6 u */
    trim_case("uauTRaua", 5, 6, "6,7");

    /* the cut never lands inside a toolUse/toolResult pair */
    trim_case("uTRTRaua", 6, 6, "6,7");
}


static void
test_trim_user_tool_use(void **state)
{
    /* a user message with a toolUse leads only if a toolResult follows */
    trim_case("uaXua", 3, 3, "3,4");
    trim_case("uaXRa", 3, 2, "2,3,4");

    /* at the very end: no next message, not a valid start */
    trim_case("uauaX", 1, 0, "0,1,2,3,4");
}


static void
test_trim_fallback(void **state)
{
    /*
     * strands-agents issue #2173: a tool-heavy loop has no plain user
     * message after the first; the cut falls on the first
     * assistant(toolUse) followed by its user(toolResult).
     */
    trim_case("uTRTRTRa", 4, 5, "5,6,7");
    trim_case("uTRTRTRTRa", 4, 7, "7,8,9");

    /* a plain user message wins over the fallback, even a later one */
    trim_case("uTRTRua", 4, 5, "5,6");

    /* neither: left as is (Strands warns and keeps the history) */
    trim_case("uTRa", 2, 0, "0,1,2,3");
    trim_case("uaaa", 2, 0, "0,1,2,3");
}


static void
test_trim_window_40(void **state)
{
    int      i;
    char     shape[64];
    json_t  *a;

    /* 21 text turns: 42 messages, the 2 oldest go */

    for (i = 0; i < 42; i++) {
        shape[i] = (i % 2) ? 'a' : 'u';
    }

    shape[42] = '\0';

    a = msgs(shape);
    assert_int_equal(ac_history_trim(a, AC_HISTORY_WINDOW), 2);
    assert_int_equal(json_array_size(a), 40);
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(a, 0), "i")), 2);
    json_decref(a);
}


static void
test_trim_odd_shapes(void **state)
{
    json_t  *a;

    /* messages that are not objects, content that is not an array */
    a = load("[1, \"x\", {\"role\": 5}, {\"role\": \"user\"},"
             " {\"role\": \"user\", \"content\": 3},"
             " {\"role\": \"user\", \"content\": [7, {\"text\": \"t\"}]}]");

    assert_int_equal(ac_history_trim(a, 2), 4);
    assert_int_equal(json_array_size(a), 2);

    json_decref(a);

    a = load("{}");
    assert_int_equal(ac_history_trim(a, 0), 0);
    json_decref(a);
}


static void
cut_case(const char *shape, size_t last, size_t cut)
{
    json_t  *a;

    a = msgs(shape);
    assert_int_equal(ac_history_cut_point(a, last), cut);
    json_decref(a);
}


static void
test_cut_point(void **state)
{
    json_t  *a;

    /* the oldest exchange goes: the next user text message */
    cut_case("uauau", 4, 2);
    cut_case("uauau", 2, 2);

    /* never past "last": the turn in progress stays */
    cut_case("uau", 1, 0);
    cut_case("u", 0, 0);
    cut_case("", 5, 0);

    /* tool results are no start; a user text after them is */
    cut_case("uTRau", 4, 4);
    cut_case("uTRTRau", 6, 6);
    cut_case("uTRTRau", 5, 0);

    /* a user toolUse only with a result after it */
    cut_case("uaXau", 4, 4);
    cut_case("uaXRau", 5, 2);

    /* "last" beyond the end */
    cut_case("uaua", 40, 2);

    a = load("{}");
    assert_int_equal(ac_history_cut_point(a, 3), 0);
    json_decref(a);
}


static void
test_repair(void **state)
{
    char    *s;
    json_t  *a;

    a = load("[{\"role\": \"user\", \"content\": [{\"text\": \"hi\"}]},"
             " {\"role\": \"assistant\", \"content\": ["
             "   {\"text\": \"Let me check.\"},"
             "   {\"toolUse\": {\"toolUseId\": \"t1\", \"name\": \"weather\","
             "                  \"input\": {}}},"
             "   {\"toolUse\": {\"toolUseId\": \"t2\", \"name\": \"get_time\","
             "                  \"input\": {}}}]}]");

    assert_int_equal(ac_history_repair(a), 2);
    assert_int_equal(json_array_size(a), 3);

    assert_json(json_array_get(a, 2),
        "{\"role\": \"user\", \"content\": ["
        " {\"toolResult\": {\"toolUseId\": \"t1\", \"status\": \"error\","
        "   \"content\": [{\"text\": \"Tool was interrupted.\"}]}},"
        " {\"toolResult\": {\"toolUseId\": \"t2\", \"status\": \"error\","
        "   \"content\": [{\"text\": \"Tool was interrupted.\"}]}}]}");

    /* key order as Strands builds it */
    s = json_dumps(json_array_get(a, 2), JSON_COMPACT);
    assert_string_equal(s,
        "{\"role\":\"user\",\"content\":[{\"toolResult\":{\"toolUseId\":"
        "\"t1\",\"status\":\"error\",\"content\":[{\"text\":\"Tool was "
        "interrupted.\"}]}},{\"toolResult\":{\"toolUseId\":\"t2\","
        "\"status\":\"error\",\"content\":[{\"text\":\"Tool was "
        "interrupted.\"}]}}]}");
    free(s);

    /* answered now: nothing more to do */
    assert_int_equal(ac_history_repair(a), 0);
    assert_int_equal(json_array_size(a), 3);

    json_decref(a);
}


static void
test_repair_nothing(void **state)
{
    json_t  *a;

    a = json_array();
    assert_int_equal(ac_history_repair(a), 0);
    json_decref(a);

    a = msgs("ua");
    assert_int_equal(ac_history_repair(a), 0);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);

    a = msgs("uTR");
    assert_int_equal(ac_history_repair(a), 0);
    json_decref(a);

    /* a toolUse without an id still gets its result */
    a = load("[{\"role\": \"assistant\", \"content\": [{\"toolUse\": {}}]}]");
    assert_int_equal(ac_history_repair(a), 1);
    assert_json(json_array_get(a, 1),
        "{\"role\": \"user\", \"content\": ["
        " {\"toolResult\": {\"toolUseId\": \"\", \"status\": \"error\","
        "   \"content\": [{\"text\": \"Tool was interrupted.\"}]}}]}");
    json_decref(a);
}


static void
test_add_user_text(void **state)
{
    json_t  *a, *text;

    text = json_string("next");

    /* empty, or after an assistant: a new message */
    a = json_array();
    assert_int_equal(ac_history_add_user_text(a, text), 0);
    assert_json(a, "[{\"role\": \"user\","
                   " \"content\": [{\"text\": \"next\"}]}]");

    json_array_append_new(a, load("{\"role\": \"assistant\","
                                  " \"content\": [{\"text\": \"ok\"}]}"));
    assert_int_equal(ac_history_add_user_text(a, text), 0);
    assert_int_equal(json_array_size(a), 3);

    /* after a user message (a failed turn): joins it */
    assert_int_equal(ac_history_add_user_text(a, text), 0);
    assert_int_equal(json_array_size(a), 3);
    assert_json(json_array_get(a, 2),
                "{\"role\": \"user\", \"content\": [{\"text\": \"next\"},"
                " {\"text\": \"next\"}]}");
    json_decref(a);

    /* after the repair: results, then the text, in one message */
    a = msgs("uT");
    assert_int_equal(ac_history_repair(a), 1);
    assert_int_equal(ac_history_add_user_text(a, text), 0);
    assert_int_equal(json_array_size(a), 3);
    assert_json(json_object_get(json_array_get(a, 2), "content"),
        "[{\"toolResult\": {\"toolUseId\": \"t1\", \"status\": \"error\","
        "   \"content\": [{\"text\": \"Tool was interrupted.\"}]}},"
        " {\"text\": \"next\"}]");
    json_decref(a);

    /* not a string */
    a = json_array();
    assert_int_equal(ac_history_add_user_text(a, json_null()), -1);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);

    json_decref(text);
}


/* a prompt of content blocks: one user message, or joins the last */

static void
test_add_user_blocks(void **state)
{
    json_t  *a, *blocks;

    blocks = load("[{\"text\": \"see\"}, {\"image\": {\"format\": \"png\","
                  " \"source\": {\"bytes\": \"aGk=\"}}}]");

    a = json_array();
    assert_int_equal(ac_history_add_user(a, blocks), 0);
    assert_json(a, "[{\"role\": \"user\", \"content\": [{\"text\": \"see\"},"
                   " {\"image\": {\"format\": \"png\","
                   " \"source\": {\"bytes\": \"aGk=\"}}}]}]");

    /* after a user message: joins it */
    assert_int_equal(ac_history_add_user(a, blocks), 0);
    assert_int_equal(json_array_size(a), 1);
    assert_int_equal(json_array_size(json_object_get(json_array_get(a, 0),
                                                     "content")), 4);
    json_decref(a);

    /* a string is a text block */
    a = msgs("ua");
    blocks = (json_decref(blocks), json_string("next"));
    assert_int_equal(ac_history_add_user(a, blocks), 0);
    assert_json(json_array_get(a, 2), "{\"role\": \"user\","
                                      " \"content\": [{\"text\": \"next\"}]}");
    json_decref(a);
    json_decref(blocks);

    a = json_array();
    assert_int_equal(ac_history_add_user(a, json_null()), -1);
    json_decref(a);
}


/* Strands 1.62's recover_message_on_max_tokens_reached */

static void
test_max_tokens(void **state)
{
    json_t  *m;

    m = load("{\"role\": \"assistant\", \"content\": ["
             " {\"text\": \"Let me\"},"
             " {\"toolUse\": {\"toolUseId\": \"t1\", \"name\": \"calculator\","
             "  \"input\": {}}},"
             " {\"toolUse\": {\"toolUseId\": \"t2\", \"input\": {}}}]}");

    assert_int_equal(ac_history_max_tokens(m), 2);
    assert_json(m,
        "{\"role\": \"assistant\", \"content\": ["
        " {\"text\": \"Let me\"},"
        " {\"text\": \"The selected tool calculator's tool use was incomplete"
        " due to maximum token limits being reached.\"},"
        " {\"text\": \"The selected tool <unknown>'s tool use was incomplete"
        " due to maximum token limits being reached.\"}]}");

    /* nothing to replace */
    assert_int_equal(ac_history_max_tokens(m), 0);
    json_decref(m);
}


/* the binary form */

static unsigned char *
encode(json_t *v, size_t *len)
{
    size_t          n, m;
    unsigned char  *p;

    n = ac_history_encode(v, NULL, 0);
    assert_true(n > 0);

    /* too small a buffer: the length, nothing written past the end */
    p = malloc(n + 1);
    memset(p, 0xee, n + 1);
    m = ac_history_encode(v, p, n - 1);
    assert_int_equal(m, n);
    assert_int_equal(p[n - 1], 0xee);

    m = ac_history_encode(v, p, n);
    assert_int_equal(m, n);
    assert_int_equal(p[n], 0xee);

    *len = n;
    return p;
}


static void
round_trip(const char *text)
{
    size_t          len;
    json_t         *v, *w;
    const char     *err;
    unsigned char  *p;

    v = load(text);
    p = encode(v, &len);

    err = NULL;
    w = ac_history_decode(p, len, &err);
    if (w == NULL) {
        fail_msg("decode failed: %s: %s", err, text);
    }

    assert_true(json_equal(v, w));

    json_decref(w);
    json_decref(v);
    free(p);
}


static void
test_round_trips(void **state)
{
    round_trip("[]");
    round_trip("[null, true, false, 0, 1, -1, 63, -64, 64, 9223372036854775807,"
               " -9223372036854775808, 0.5, -1e300, 2.2250738585072014e-308,"
               " \"\", \"x\", [], {}, [[[]]], {\"\": {\"\": 1}}]");
    round_trip("[{\"role\": \"user\", \"content\": [{\"text\": \"h\\u00e9llo "
               "\\u4e16\\u754c \\ud83d\\ude00 \\u0000 nul\"}]}]");
    round_trip("[{\"k\\u00e9y\": 1, \"role\": \"user\", \"r\\u00f4le\": 2}]");
    round_trip("[{\"role\": \"assistant\", \"content\": ["
               " {\"text\": \"Let me use the calculator tool.\"},"
               " {\"toolUse\": {\"toolUseId\": \"tooluse_abc\","
               "  \"name\": \"calculator\","
               "  \"input\": {\"expression\": \"2+1\", \"n\": [1, 2.5]}}},"
               " {\"reasoningContent\": {\"reasoningText\": {\"text\": \"t\","
               "  \"signature\": \"s\"}}}]},"
               " {\"role\": \"user\", \"content\": [{\"toolResult\":"
               "  {\"toolUseId\": \"tooluse_abc\", \"status\": \"success\","
               "   \"content\": [{\"text\": \"Result: 3\"},"
               "                {\"json\": {}}]}}]}]");
}


static void
test_compact(void **state)
{
    char           *s;
    size_t          len;
    json_t         *v;
    unsigned char  *p;

    v = msgs("uauTRa");
    s = json_dumps(v, JSON_COMPACT);
    p = encode(v, &len);

    /* words and varints: well under the compact JSON */
    assert_true(len * 2 < strlen(s));

    /* order of keys kept */
    {
        json_t      *w;
        char        *t;
        const char  *err;

        w = ac_history_decode(p, len, &err);
        t = json_dumps(w, JSON_COMPACT);
        assert_string_equal(s, t);
        free(t);
        json_decref(w);
    }

    free(s);
    free(p);
    json_decref(v);
}


/* base64 strings (an image's bytes) kept as their decoded bytes */

static void
test_base64_form(void **state)
{
    char           *b64, *text;
    size_t          len, i, n;
    json_t         *v, *w;
    const char     *err;
    unsigned char  *p, *img;

    /* 30000 bytes of "image": the history holds them in about 30000 */
    n = 30000;
    img = malloc(n);
    for (i = 0; i < n; i++) {
        img[i] = (unsigned char) (i * 7 + (i >> 8));
    }

    for (i = n - 2; i <= n; i++) {       /* each padding */
        b64 = calloc(1, (i + 2) / 3 * 4 + 1);
        ac_base64_encode(img, i, b64);

        text = malloc(strlen(b64) + 256);
        sprintf(text, "[{\"role\": \"user\", \"content\": [{\"image\":"
                " {\"format\": \"png\", \"source\": {\"bytes\": \"%s\"}}}]}]",
                b64);

        v = load(text);
        p = encode(v, &len);

        assert_true(len < i + 64);
        assert_non_null(memmem(p, len, img, i));

        w = ac_history_decode(p, len, &err);
        assert_non_null(w);
        assert_true(json_equal(v, w));

        json_decref(w);
        json_decref(v);
        free(p);
        free(text);
        free(b64);
    }

    free(img);

    /* not canonical (unused bits set, whitespace, no padding, other
     * alphabets) or short: a plain string, kept as it is */
    round_trip("[\"aGl=aGlaGlaGlaGlaGlaGlaGlaGl\", \"aGm=\","
               " \"aGlhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=\","
               " \"aGlhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWF=\","
               " \"aGlhYWFhYWFhYWFh\\nYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=\","
               " \"aGlhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE\","
               " \"aGlhYWFhYWFhYWFh-WFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWE=\","
               " \"abcdefghijklmnopqrstuvwxyzABCDEF\"]");

    /* a word stays a word */
    v = load("[\"toolResult\", \"AAAAAAAAAAAAAAAAAAAA\"]");
    p = encode(v, &len);
    assert_int_equal(len, 4 + 2 + 2 + 2 + 15);
    free(p);
    json_decref(v);
}


static void
test_encode_refuses(void **state)
{
    int      i;
    json_t  *v, *inner;

    v = load("{}");
    assert_int_equal(ac_history_encode(v, NULL, 0), 0);
    json_decref(v);

    /* nested deeper than AC_HISTORY_MAX_DEPTH */
    inner = json_array();
    for (i = 0; i < AC_HISTORY_MAX_DEPTH + 1; i++) {
        v = json_array();
        json_array_append_new(v, inner);
        inner = v;
    }
    assert_int_equal(ac_history_encode(v, NULL, 0), 0);
    json_decref(v);
}


static void
decode_fails(const unsigned char *p, size_t len, const char *error)
{
    json_t      *v;
    const char  *err;

    err = NULL;
    v = ac_history_decode(p, len, &err);

    if (v != NULL) {
        fail_msg("decoded, expected \"%s\"", error);
    }

    assert_non_null(err);

    if (error) {
        assert_string_equal(err, error);
    }
}


#define BYTES(s)  (const unsigned char *) (s), sizeof(s) - 1


static void
test_decode_errors(void **state)
{
    size_t          i, len;
    json_t         *v;
    unsigned char  *p;

    decode_fails(BYTES(""), "not a history (bad magic or version)");
    decode_fails(BYTES("ACH\x02\x06\x00"),
                 "not a history (bad magic or version)");
    decode_fails(BYTES("ACH\x01"), "not an array");
    decode_fails(BYTES("ACH\x01\x07\x00"), "not an array");
    decode_fails(BYTES("ACH\x01\x06\x00\x00"), "trailing bytes");
    decode_fails(BYTES("ACH\x01\x06\x01\x0a"), "bad tag");
    decode_fails(BYTES("ACH\x01\x06\x01\x09\x00"), "empty base64");
    decode_fails(BYTES("ACH\x01\x06\x01\x09\x03" "ab"), "truncated");
    decode_fails(BYTES("ACH\x01\x06\x01\x05\x02\xc3\x28"),
                 "string not UTF-8");
    decode_fails(BYTES("ACH\x01\x06\x01\x07\x01\x04\xff\xfe\x00"),
                 "key not UTF-8");
    decode_fails(BYTES("ACH\x01\x06\x01\x07\x01\x04k\x00\x00"),
                 "key holds a NUL byte");
    decode_fails(BYTES("ACH\x01\x06\x01\x08\x7f"), "unknown word");
    decode_fails(BYTES("ACH\x01\x06\x01\x07\x01\x7f\x00"), "unknown word");
    decode_fails(BYTES("ACH\x01\x06\x01\x07\x02\x01\x00\x01\x00"),
                 "duplicate key");
    decode_fails(BYTES("ACH\x01\x06\x01\x04\x00\x00\x00\x00\x00\x00\xf8\x7f"),
                 "not a finite number");
    decode_fails(BYTES("ACH\x01\x06\xff\xff\xff\xff\x0f\x00"), "truncated");
    decode_fails(BYTES("ACH\x01\x06\x01\x05\x80\x80\x80\x80\x80\x80\x80"
                       "\x80\x80\x80\x01"), "varint overflow");
    decode_fails(BYTES("ACH\x01\x06\x01\x03\xff\xff\xff\xff\xff\xff\xff"
                       "\xff\xff\x02"), "varint overflow");

    /* the largest varint is fine */
    v = ac_history_decode(BYTES("ACH\x01\x06\x01\x03\xff\xff\xff\xff\xff"
                                "\xff\xff\xff\xff\x01"), NULL);
    assert_non_null(v);
    assert_int_equal(json_integer_value(json_array_get(v, 0)), INT64_MIN);
    json_decref(v);

    /* too deep */
    len = 4 + 2 * (AC_HISTORY_MAX_DEPTH + 1);
    p = malloc(len);
    memcpy(p, "ACH\x01", 4);
    for (i = 4; i < len; i += 2) {
        p[i] = 0x06;
        p[i + 1] = 0x01;
    }
    p[len - 1] = 0x00;
    decode_fails(p, len, "too deep");
    free(p);
}


static void
test_decode_every_truncation(void **state)
{
    size_t          len, i;
    json_t         *v;
    unsigned char  *p;

    v = msgs("uauTRaX");
    p = encode(v, &len);

    for (i = 0; i < len; i++) {
        decode_fails(p, i, NULL);
    }

    json_decref(v);
    free(p);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_within_window),
        cmocka_unit_test(test_trim_text_turns),
        cmocka_unit_test(test_trim_skips_tool_results),
        cmocka_unit_test(test_trim_user_tool_use),
        cmocka_unit_test(test_trim_fallback),
        cmocka_unit_test(test_trim_window_40),
        cmocka_unit_test(test_trim_odd_shapes),
        cmocka_unit_test(test_cut_point),
        cmocka_unit_test(test_repair),
        cmocka_unit_test(test_repair_nothing),
        cmocka_unit_test(test_add_user_text),
        cmocka_unit_test(test_max_tokens),
        cmocka_unit_test(test_add_user_blocks),
        cmocka_unit_test(test_base64_form),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_every_truncation),
    };

    return cmocka_run_group_tests(tests, 0, NULL);
}
