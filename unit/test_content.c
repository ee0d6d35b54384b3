/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * Unit tests of ngx_http_agentcore_content.c: a prompt of content
 * blocks (text, image, document, video) checked against Bedrock
 * Converse's rules, rewritten as Strands 1.62 formats it, and the
 * ConverseStream request bytes it makes (the client's base64 once).
 */


#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ngx_http_agentcore_content.h"
#include "ngx_http_agentcore_converse.h"
#include "ngx_http_agentcore_history.h"


/* a 1 x 1 PNG (70 bytes), as `base64 pixel.png` prints it */
#define PNG_1X1                                                              \
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"  \
    "hgGAWjR9awAAAABJRU5ErkJggg=="


static json_t *
load(const char *text)
{
    json_t        *v;
    json_error_t   err;

    v = json_loads(text, JSON_DECODE_ANY, &err);
    if (v == NULL) {
        fail_msg("bad test JSON: %s: %s", err.text, text);
    }

    return v;
}


static char *
b64(const unsigned char *p, size_t n)
{
    char  *s;

    s = calloc(1, (n + 2) / 3 * 4 + 1);
    assert_non_null(s);
    ac_base64_encode(p, n, s);

    return s;
}


/* the prompt's blocks, compact JSON, or "ERR: <message>" */

static char *
run(const char *prompt)
{
    char    *s, err[512];
    json_t  *in, *out;

    in = load(prompt);
    out = ac_content_prompt(in, err, sizeof(err));
    json_decref(in);

    if (out == NULL) {
        assert_true(err[0] != '\0');
        s = malloc(strlen(err) + 6);
        sprintf(s, "ERR: %s", err);
        return s;
    }

    s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(out);

    return s;
}


static void
expect(const char *prompt, const char *expected)
{
    char  *s;

    s = run(prompt);

    if (strcmp(s, expected) != 0) {
        fail_msg("prompt %.200s\n     got %s\nexpected %s", prompt, s,
                 expected);
    }

    free(s);
}


/* an image block around the base64 of p, n */

static char *
image_prompt(const char *format, const unsigned char *p, size_t n)
{
    char    *s, *b;
    size_t   len;

    b = b64(p, n);
    len = strlen(b) + 128;
    s = malloc(len);
    snprintf(s, len, "[{\"image\": {\"format\": \"%s\", \"source\": "
             "{\"bytes\": \"%s\"}}}]", format, b);
    free(b);

    return s;
}


static void
expect_image(const char *format, const unsigned char *p, size_t n,
    const char *error)
{
    char  *prompt, *s;

    prompt = image_prompt(format, p, n);
    s = run(prompt);

    if (error == NULL) {
        if (strncmp(s, "ERR: ", 5) == 0) {
            fail_msg("%s image refused: %s", format, s);
        }

    } else if (strcmp(s, error) != 0) {
        fail_msg("%s image\n     got %s\nexpected %s", format, s, error);
    }

    free(s);
    free(prompt);
}


static void
test_text_and_image(void **state)
{
    expect("[{\"text\": \"What is this?\"}, {\"image\": {\"format\": \"png\","
           " \"source\": {\"bytes\": \"" PNG_1X1 "\"}}}]",
           "[{\"text\":\"What is this?\"},{\"image\":{\"format\":\"png\","
           "\"source\":{\"bytes\":\"" PNG_1X1 "\"}}}]");

    /* members Strands drops are dropped; the order is Bedrock's */
    expect("[{\"text\": \"a\", \"cache\": 1}, {\"image\": {\"source\":"
           " {\"bytes\": \"" PNG_1X1 "\"}, \"x\": 2, \"format\": \"png\"}}]",
           "[{\"text\":\"a\"},{\"image\":{\"format\":\"png\","
           "\"source\":{\"bytes\":\"" PNG_1X1 "\"}}}]");

    /* base64 as `base64` wraps it: the line breaks go */
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"bytes\":"
           " \"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42"
           "mNk+M9QDwAD\\n"
           "hgGAWjR9awAAAABJRU5ErkJggg==\\n\"}}}]",
           "[{\"image\":{\"format\":\"png\","
           "\"source\":{\"bytes\":\"" PNG_1X1 "\"}}}]");
}


static void
test_image_errors(void **state)
{
    size_t          i;
    char           *s, *p;
    unsigned char   png[24];

    expect("[{\"image\": {\"format\": \"bmp\", \"source\": {\"bytes\": "
           "\"AAAA\"}}}]",
           "ERR: prompt[0] (image): \"format\" is not one of png, jpeg, "
           "gif, webp");
    expect("[{\"image\": {\"format\": \"png\"}}]",
           "ERR: prompt[0] (image): \"source\" is missing or not an object");
    expect("[{\"image\": {\"format\": \"png\", \"source\": {}}}]",
           "ERR: prompt[0] (image): \"source\" holds none of bytes, "
           "s3Location, location");
    expect("[{\"text\": \"hi\"}, {\"image\": {\"format\": \"png\", \"source\":"
           " {\"bytes\": \"iVBO*w0K\"}}}]",
           "ERR: prompt[1] (image): \"bytes\" is not base64 (character 4)");
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": "
           "\"iVBORw0\"}}}]",
           "ERR: prompt[0] (image): \"bytes\" is not base64 (its length is "
           "not a multiple of 4: \"=\" padding missing?)");
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": "
           "\"iVBO-w0_\"}}}]",
           "ERR: prompt[0] (image): \"bytes\" is not base64 (character 4)");
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": "
           "\"\"}}}]",
           "ERR: prompt[0] (image): \"bytes\" is empty");
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": 5}}}]",
           "ERR: prompt[0] (image): \"bytes\" is not a base64 string");

    /* the bytes of another format */
    expect("[{\"image\": {\"format\": \"jpeg\", \"source\": {\"bytes\": \""
           PNG_1X1 "\"}}}]",
           "ERR: prompt[0] (image): the bytes are not a jpeg image");

    /* 8001 pixels wide */
    memcpy(png, "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x1f\x41\0\0\0\x01", 24);
    expect_image("png", png, 24, "ERR: prompt[0] (image): the image is 8001 x "
                 "1 pixels, more than 8000 in width or height");
    png[19] = 0x40;
    png[23] = 0x00;
    png[22] = 0x1f;
    png[23] = 0x40;
    expect_image("png", png, 24, NULL);       /* 8000 x 8000 */

    /* 3.75 MB and one byte */
    p = calloc(1, AC_CONTENT_MAX_IMAGE_BYTES + 1);
    memcpy(p, png, 24);
    expect_image("png", (unsigned char *) p, AC_CONTENT_MAX_IMAGE_BYTES, NULL);
    expect_image("png", (unsigned char *) p, AC_CONTENT_MAX_IMAGE_BYTES + 1,
                 "ERR: prompt[0] (image): 3932161 bytes, more than 3.75 MB "
                 "(3932160 bytes)");
    free(p);

    /* 20 images, then 21 */
    s = malloc(64 + 21 * (sizeof(PNG_1X1) + 64));
    strcpy(s, "[");
    for (i = 0; i < 21; i++) {
        strcat(s, i ? ", " : "");
        strcat(s, "{\"image\": {\"format\": \"png\", \"source\": {\"bytes\": \""
                  PNG_1X1 "\"}}}");
        if (i == 19) {
            char *t = strcat(strcpy(malloc(strlen(s) + 2), s), "]");

            p = run(t);
            assert_true(strncmp(p, "ERR", 3) != 0);
            free(p);
            free(t);
        }
    }
    strcat(s, "]");
    expect(s, "ERR: prompt[20] (image): more than 20 images in one prompt");
    free(s);

    /* an S3 image */
    expect("[{\"image\": {\"format\": \"png\", \"source\": {\"s3Location\":"
           " {\"uri\": \"s3://bucket/a.png\"}}}}]",
           "[{\"image\":{\"format\":\"png\",\"source\":{\"s3Location\":"
           "{\"uri\":\"s3://bucket/a.png\"}}}}]");
}


static void
test_image_formats(void **state)
{
    unsigned char  b[64];

    /* GIF: 8001 x 2 */
    memcpy(b, "GIF89a\x41\x1f\x02\x00", 10);
    expect_image("gif", b, 10, "ERR: prompt[0] (image): the image is 8001 x "
                 "2 pixels, more than 8000 in width or height");
    memcpy(b, "GIF87a\x40\x1f\x02\x00", 10);
    expect_image("gif", b, 10, NULL);
    expect_image("png", b, 10, "ERR: prompt[0] (image): the bytes are not a "
                 "png image");

    /* JPEG: SOI, APP0 (16 bytes), SOF0 3 x 9000 */
    memset(b, 0, sizeof(b));
    memcpy(b, "\xff\xd8\xff\xe0\x00\x10JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
              "\xff\xc0\x00\x11\x08\x23\x28\x00\x03\x03", 31);
    expect_image("jpeg", b, 40, "ERR: prompt[0] (image): the image is 3 x "
                 "9000 pixels, more than 8000 in width or height");
    b[25] = 0x1f;
    b[26] = 0x40;
    expect_image("jpeg", b, 40, NULL);
    /* scan data before any frame header */
    b[21] = 0xda;
    expect_image("jpeg", b, 40, "ERR: prompt[0] (image): the jpeg image has "
                 "no frame header before its data");
    expect_image("jpeg", b, 4, "ERR: prompt[0] (image): the jpeg image has "
                 "no frame header before its end");

    /* WebP: VP8X 8000 x 8001, VP8L 16 x 16, VP8 9000 x 1 */
    memset(b, 0, sizeof(b));
    memcpy(b, "RIFF\0\0\0\0WEBPVP8X", 16);
    b[24] = 0x3f; b[25] = 0x1f;                   /* 7999 + 1 */
    b[27] = 0x40; b[28] = 0x1f;                   /* 8000 + 1 */
    expect_image("webp", b, 30, "ERR: prompt[0] (image): the image is 8000 x "
                 "8001 pixels, more than 8000 in width or height");
    memcpy(b + 12, "VP8L", 4);
    b[20] = 0x2f;
    b[21] = 0x0f; b[22] = 0xc0; b[23] = 0x03; b[24] = 0x00;
    expect_image("webp", b, 30, NULL);
    memcpy(b + 12, "VP8 ", 4);
    b[26] = 0x28; b[27] = 0x23; b[28] = 0x01; b[29] = 0x00;
    expect_image("webp", b, 30, "ERR: prompt[0] (image): the image is 9000 x "
                 "1 pixels, more than 8000 in width or height");
    memcpy(b + 12, "VP9 ", 4);
    expect_image("webp", b, 30, "ERR: prompt[0] (image): the bytes are not a "
                 "webp image");
}


static void
test_document(void **state)
{
    int    i;
    char  *s, *p, *big;

    expect("[{\"text\": \"Summarize\"}, {\"document\": {\"format\": \"txt\","
           " \"source\": {\"bytes\": \"aGVsbG8=\"}, \"name\": \"My notes"
           " (v2) [draft]\","
           " \"context\": \"c\", \"citations\": {\"enabled\": true}, \"y"
           "\": 1}}]",
           "[{\"text\":\"Summarize\"},{\"document\":{\"name\":"
           "\"My notes (v2) [draft]\",\"format\":\"txt\",\"source\":"
           "{\"bytes\":\"aGVsbG8=\"},\"citations\":{\"enabled\":true},"
           "\"context\":\"c\"}}]");

    /* format is optional in Bedrock's DocumentBlock */
    expect("[{\"document\": {\"name\": \"n\", \"source\": {\"bytes\": \""
           "aGk=\"}}},"
           " {\"text\": \"t\"}]",
           "[{\"document\":{\"name\":\"n\",\"source\":{\"bytes\":\"aGk=\"}}},"
           "{\"text\":\"t\"}]");

    expect("[{\"document\": {\"name\": \"n\", \"source\": {\"bytes\": \""
           "aGk=\"}}}]",
           "ERR: \"prompt\" holds a document but no text block: Bedrock "
           "takes documents only beside a text");
    expect("[{\"text\": \"t\"}, {\"document\": {\"name\": \"a.txt\","
           " \"source\": {\"bytes\": \"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"name\" may hold only letters, "
           "digits, whitespace, hyphens, parentheses and square brackets "
           "(character 1 is not one)");
    expect("[{\"text\": \"t\"}, {\"document\": {\"name\": \"a  b\","
           " \"source\": {\"bytes\": \"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"name\" holds two whitespace "
           "characters in a row");
    expect("[{\"text\": \"t\"}, {\"document\": {\"name\": \"\","
           " \"source\": {\"bytes\": \"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"name\" is not 1 to 200 characters "
           "long");
    expect("[{\"text\": \"t\"}, {\"document\": {\"source\": {\"bytes\": "
           "\"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"name\" is missing or not a string");
    expect("[{\"text\": \"t\"}, {\"document\": {\"name\": \"n\", \"forma"
           "t\": \"exe\","
           " \"source\": {\"bytes\": \"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"format\" is not one of pdf, csv, "
           "doc, docx, xls, xlsx, html, txt, md");
    expect("[{\"text\": \"t\"}, {\"document\": {\"name\": \"n\", \"citat"
           "ions\": 1,"
           " \"source\": {\"bytes\": \"aGk=\"}}}]",
           "ERR: prompt[1] (document): \"citations\" is not {\"enabled\": "
           "true|false}");

    /* 200 characters, then 201 */
    s = malloc(512);
    p = malloc(256);
    memset(p, 'x', 201);
    p[200] = '\0';
    snprintf(s, 512, "[{\"text\": \"t\"}, {\"document\": {\"name\": \"%s\","
             " \"source\": {\"bytes\": \"aGk=\"}}}]", p);
    free(run(s));
    p[200] = 'x';
    p[201] = '\0';
    snprintf(s, 512, "[{\"text\": \"t\"}, {\"document\": {\"name\": \"%s\","
             " \"source\": {\"bytes\": \"aGk=\"}}}]", p);
    expect(s, "ERR: prompt[1] (document): \"name\" is not 1 to 200 "
              "characters long");
    free(p);

    /* 6 documents */
    strcpy(s, "[{\"text\": \"t\"}");
    for (i = 0; i < 6; i++) {
        strcat(s, ", {\"document\": {\"name\": \"n\", \"source\":"
                  " {\"bytes\": \"aGk=\"}}}");
    }
    strcat(s, "]");
    expect(s, "ERR: prompt[6] (document): more than 5 documents in one "
              "prompt");
    free(s);

    /* 4.5 MB and one byte */
    big = calloc(1, AC_CONTENT_MAX_DOCUMENT_BYTES + 1);
    p = b64((unsigned char *) big, AC_CONTENT_MAX_DOCUMENT_BYTES + 1);
    s = malloc(strlen(p) + 256);
    sprintf(s, "[{\"text\": \"t\"}, {\"document\": {\"name\": \"n\","
            " \"source\": {\"bytes\": \"%s\"}}}]", p);
    expect(s, "ERR: prompt[1] (document): 4718593 bytes, more than 4.5 MB "
              "(4718592 bytes)");
    free(s);
    free(p);
    free(big);
}


static void
test_video(void **state)
{
    expect("[{\"text\": \"t\"}, {\"video\": {\"format\": \"mp4\", \"source\":"
           " {\"s3Location\": {\"uri\": \"s3://my-bucket/v/clip.mp4\","
           " \"bucketOwner\": \"123456789012\"}}}}]",
           "[{\"text\":\"t\"},{\"video\":{\"format\":\"mp4\",\"source\":"
           "{\"s3Location\":{\"uri\":\"s3://my-bucket/v/clip.mp4\","
           "\"bucketOwner\":\"123456789012\"}}}}]");

    /* Strands' own form, and its format aliases */
    expect("[{\"video\": {\"format\": \"3gp\", \"source\": {\"location\":"
           " {\"type\": \"s3\", \"uri\": \"s3://abc\"}}}}]",
           "[{\"video\":{\"format\":\"three_gp\",\"source\":"
           "{\"s3Location\":{\"uri\":\"s3://abc\"}}}}]");

    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"bytes\": "
           "\"aGk=\"}}}]",
           "ERR: prompt[0] (video): \"bytes\" are not accepted for a video: "
           "give an S3 location");
    expect("[{\"video\": {\"format\": \"avi\", \"source\": {}}}]",
           "ERR: prompt[0] (video): \"format\" is not one of mkv, mov, mp4, "
           "webm, flv, mpeg, mpg, wmv, three_gp");
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"location\":"
           " {\"type\": \"url\", \"uri\": \"s3://abc\"}}}}]",
           "ERR: prompt[0] (video): \"location\" is not {\"type\": \"s3\", "
           "\"uri\": ..}: only S3 locations are accepted");

#define BAD_URI "ERR: prompt[0] (video): the S3 \"uri\" is not "             \
    "s3://<bucket>[/<key>] (a bucket of 3 to 63 characters a-z 0-9 . -, "   \
    "at most 1024 characters in all)"

    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {\"uri\": \"https://abc/x\"}}}}]", BAD_URI);
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {\"uri\": \"s3://Abc/x\"}}}}]", BAD_URI);
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {\"uri\": \"s3://ab/x\"}}}}]", BAD_URI);
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {\"uri\": \"s3://abc-/x\"}}}}]", BAD_URI);
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {\"uri\": \"s3://abc\", \"bucketOwner\": \"12345\"}}}}]",
           "ERR: prompt[0] (video): \"bucketOwner\" is not an account id "
           "(12 digits)");
    expect("[{\"video\": {\"format\": \"mp4\", \"source\": {\"s3Location\":"
           " {}}}}]", "ERR: prompt[0] (video): the S3 \"uri\" is missing");
}


static void
test_blocks(void **state)
{
    expect("[]", "ERR: \"prompt\" is an empty list: give a string or a list "
                 "of content blocks");
    expect("[\"hi\"]", "ERR: prompt[0]: a content block is an object (text, "
                       "image, document or video)");
    expect("[{\"foo\": 1}]", "ERR: prompt[0]: not a content block: expected "
                             "one of text, image, document, video");
    expect("[{\"text\": \"a\"}, {\"toolUse\": {}}]",
           "ERR: prompt[1] (toolUse): not accepted in a prompt (text, image, "
           "document and video are)");
    expect("[{\"text\": \"a\", \"image\": {}}]",
           "ERR: prompt[0]: holds both \"text\" and \"image\": one "
           "type per block");
    expect("[{\"text\": 1}]", "ERR: prompt[0] (text): \"text\" is not a "
                              "string");
}


static void
test_lone_surrogate(void **state)
{
    char    err[256];
    json_t  *in, *out;

    /* what the payload parser keeps for "\ud800" */
    in = json_pack("[{s:s%}]", "text", "ab\xed\xa0\x80", (size_t) 5);
    if (in == NULL) {
        /* jansson refuses it; build it unchecked */
        in = json_array();
        json_array_append_new(in, json_object());
        json_object_set_new(json_array_get(in, 0), "text",
                            json_stringn_nocheck("ab\xed\xa0\x80", 5));
    }

    out = ac_content_prompt(in, err, sizeof(err));
    assert_null(out);
    assert_string_equal(err, "prompt[0] (text): \"text\" holds a lone "
                        "surrogate ('\\ud800' at character 2), not UTF-8");
    json_decref(in);
}


static void
test_base64(void **state)
{
    long            n;
    char            s[16];
    size_t          bad, i;
    unsigned char   out[16];

    static const char  *rfc4648[] = {
        "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"
    };

    static const struct {
        const char  *in;
        long         n;
        size_t       bad;
    } cases[] = {
        { "", 0, 0 },
        { "aGk=", 2, 0 },
        { "aA==", 1, 0 },
        { "aGVs", 3, 0 },
        { " a G\nk= ", 2, 0 },
        { "aGk", -1, 3 },
        { "a===", -1, 1 },
        { "aG=k", -1, 3 },
        { "aGk=aGk=", -1, 4 },
        { "aA==  =", -1, 6 },
        { "aA==AAAA", -1, 4 },
        { "aGk=\n", 2, 0 },
        { "aG\tk=", 2, 0 },
        { "aGVsbG8gd29ybGQ=", 11, 0 },
        { "aGk_", -1, 3 },
        { "\xc3\xa9" "AAA", -1, 0 },
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bad = 99;
        n = ac_base64_decode(cases[i].in, strlen(cases[i].in), out, &bad);

        if (n != cases[i].n || (n < 0 && bad != cases[i].bad)) {
            fail_msg("\"%s\": %ld (bad %zu), expected %ld (bad %zu)",
                     cases[i].in, n, bad, cases[i].n, cases[i].bad);
        }
    }

    n = ac_base64_decode("aGVsbG8=", 8, out, &bad);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);

    for (i = 0; i <= 6; i++) {
        memset(s, 0, sizeof(s));
        ac_base64_encode((const unsigned char *) "foobar", i, s);
        assert_string_equal(s, rfc4648[i]);
    }
}


/* what Bedrock receives: the client's base64 once */

static void
test_request_bytes(void **state)
{
    char                *s, err[256];
    size_t               len;
    json_t              *prompt, *blocks, *messages;
    ac_converse_conf_t   conf = { NULL, -1, NULL };

    prompt = load("[{\"text\": \"What is this?\"}, {\"image\": {\"format\":"
                  " \"png\", \"source\": {\"bytes\": \"" PNG_1X1 "\"}}}]");
    blocks = ac_content_prompt(prompt, err, sizeof(err));
    assert_non_null(blocks);

    messages = json_array();
    assert_int_equal(ac_history_add_user(messages, blocks), 0);

    s = ac_converse_request(&conf, messages, &len);
    assert_non_null(s);
    assert_string_equal(s,
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":"
        "\"What is this?\"},{\"image\":{\"format\":\"png\",\"source\":"
        "{\"bytes\":\"" PNG_1X1 "\"}}}]}],\"inferenceConfig\":{}}");
    assert_int_equal(len, strlen(s));

    free(s);
    json_decref(messages);
    json_decref(blocks);
    json_decref(prompt);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_and_image),
        cmocka_unit_test(test_image_errors),
        cmocka_unit_test(test_image_formats),
        cmocka_unit_test(test_document),
        cmocka_unit_test(test_video),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_lone_surrogate),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_request_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
