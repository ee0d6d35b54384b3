
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * A prompt given as content blocks: checked as Bedrock Converse checks
 * a user message, rewritten as Strands 1.62 formats it for Bedrock
 * (models/bedrock.py _format_request_message_content), except that
 * the base64 text goes to Bedrock once, as the client wrote it.
 */


#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_agentcore_content.h"


typedef struct {
    char                    *err;
    size_t                   err_len;
    size_t                   index;
    const char              *type;
    size_t                   images;
    size_t                   documents;
    size_t                   texts;
} ac_content_t;


static json_t *ac_content_block(ac_content_t *c, json_t *block);
static json_t *ac_content_image(ac_content_t *c, json_t *image);
static json_t *ac_content_document(ac_content_t *c, json_t *doc);
static json_t *ac_content_video(ac_content_t *c, json_t *video);
static json_t *ac_content_source(ac_content_t *c, json_t *source,
    int bytes, const char *format);
static json_t *ac_content_s3(ac_content_t *c, json_t *loc,
    const char *member);
static int ac_content_image_check(ac_content_t *c, const unsigned char *p,
    size_t n, const char *format);
static int ac_content_utf8(ac_content_t *c, json_t *s, const char *what);
static int ac_content_one_of(const char *s, const char *const *list);
static json_t *ac_content_fail(ac_content_t *c, const char *fmt, ...);


static const char *const  ac_content_image_formats[] = {
    "png", "jpeg", "gif", "webp", NULL
};

static const char *const  ac_content_document_formats[] = {
    "pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md", NULL
};

static const char *const  ac_content_video_formats[] = {
    "mkv", "mov", "mp4", "webm", "flv", "mpeg", "mpg", "wmv", "three_gp",
    NULL
};

/* ContentBlock members Bedrock knows but a prompt may not hold here */
static const char *const  ac_content_other_types[] = {
    "audio", "cachePoint", "citationsContent", "guardContent",
    "reasoningContent", "searchResult", "toolResult", "toolUse", NULL
};


json_t *
ac_content_prompt(json_t *prompt, char *err, size_t err_len)
{
    size_t         i;
    json_t        *out, *block, *b;
    ac_content_t   c;

    memset(&c, 0, sizeof(ac_content_t));
    c.err = err;
    c.err_len = err_len;
    err[0] = '\0';

    if (!json_is_array(prompt) || json_array_size(prompt) == 0) {
        c.type = NULL;
        snprintf(err, err_len, "\"prompt\" is an empty list: give a string "
                 "or a list of content blocks");
        return NULL;
    }

    out = json_array();
    if (out == NULL) {
        return NULL;
    }

    json_array_foreach(prompt, i, block) {
        c.index = i;
        c.type = NULL;

        b = ac_content_block(&c, block);

        if (b == NULL || json_array_append_new(out, b) != 0) {
            json_decref(out);
            return NULL;
        }
    }

    if (c.documents && c.texts == 0) {
        snprintf(err, err_len, "\"prompt\" holds a document but no text "
                 "block: Bedrock takes documents only beside a text");
        json_decref(out);
        return NULL;
    }

    return out;
}


static json_t *
ac_content_block(ac_content_t *c, json_t *block)
{
    json_t      *v, *found;
    const char  *key, *type;

    if (!json_is_object(block)) {
        return ac_content_fail(c, "a content block is an object "
                               "(text, image, document or video)");
    }

    type = NULL;
    found = NULL;

    json_object_foreach(block, key, v) {

        if (strcmp(key, "text") != 0 && strcmp(key, "image") != 0
            && strcmp(key, "document") != 0 && strcmp(key, "video") != 0)
        {
            if (ac_content_one_of(key, ac_content_other_types)) {
                c->type = key;
                return ac_content_fail(c, "not accepted in a prompt (text, "
                                       "image, document and video are)");
            }

            /* other members: dropped, as Strands drops them */
            continue;
        }

        if (type) {
            return ac_content_fail(c, "holds both \"%s\" and \"%s\": one "
                                   "type per block", type, key);
        }

        type = key;
        found = v;
    }

    if (type == NULL) {
        return ac_content_fail(c, "not a content block: expected one of "
                               "text, image, document, video");
    }

    c->type = type;

    switch (type[0]) {

    case 't':
        if (!json_is_string(found)) {
            return ac_content_fail(c, "\"text\" is not a string");
        }

        if (ac_content_utf8(c, found, "\"text\"") != 0) {
            return NULL;
        }

        c->texts++;

        return json_pack("{s:O}", "text", found);

    case 'i':
        return ac_content_image(c, found);

    case 'd':
        return ac_content_document(c, found);

    default: /* 'v' */
        return ac_content_video(c, found);
    }
}


static json_t *
ac_content_image(ac_content_t *c, json_t *image)
{
    json_t      *format, *source;
    const char  *f;

    if (++c->images > AC_CONTENT_MAX_IMAGES) {
        return ac_content_fail(c, "more than %d images in one prompt",
                               AC_CONTENT_MAX_IMAGES);
    }

    if (!json_is_object(image)) {
        return ac_content_fail(c, "not an object with \"format\" and "
                               "\"source\"");
    }

    format = json_object_get(image, "format");
    f = json_string_value(format);

    if (f == NULL || !ac_content_one_of(f, ac_content_image_formats)) {
        return ac_content_fail(c, "\"format\" is not one of png, jpeg, gif, "
                               "webp");
    }

    source = ac_content_source(c, json_object_get(image, "source"), 1, f);
    if (source == NULL) {
        return NULL;
    }

    return json_pack("{s:{s:O, s:o}}", "image", "format", format,
                     "source", source);
}


static json_t *
ac_content_document(ac_content_t *c, json_t *doc)
{
    int          space;
    json_t      *name, *format, *source, *cit, *enabled, *ctx, *d;
    size_t       i, len, chars;
    const char  *s;

    if (++c->documents > AC_CONTENT_MAX_DOCUMENTS) {
        return ac_content_fail(c, "more than %d documents in one prompt",
                               AC_CONTENT_MAX_DOCUMENTS);
    }

    if (!json_is_object(doc)) {
        return ac_content_fail(c, "not an object with \"name\" and "
                               "\"source\"");
    }

    /* DocumentBlock.name: letters, digits, single whitespace, - ( ) [ ] */

    name = json_object_get(doc, "name");
    s = json_string_value(name);

    if (s == NULL) {
        return ac_content_fail(c, "\"name\" is missing or not a string");
    }

    len = json_string_length(name);
    space = 0;
    chars = 0;

    for (i = 0; i < len; i++) {
        unsigned char ch = (unsigned char) s[i];

        if ((ch & 0xc0) != 0x80) {
            chars++;
        }

        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r'
            || ch == '\v' || ch == '\f')
        {
            if (space) {
                return ac_content_fail(c, "\"name\" holds two whitespace "
                                       "characters in a row");
            }

            space = 1;
            continue;
        }

        space = 0;

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9') || ch == '-' || ch == '('
            || ch == ')' || ch == '[' || ch == ']')
        {
            continue;
        }

        return ac_content_fail(c, "\"name\" may hold only letters, digits, "
                               "whitespace, hyphens, parentheses and square "
                               "brackets (character %zu is not one)",
                               chars - 1);
    }

    if (chars == 0 || chars > AC_CONTENT_MAX_NAME) {
        return ac_content_fail(c, "\"name\" is not 1 to %d characters long",
                               AC_CONTENT_MAX_NAME);
    }

    format = json_object_get(doc, "format");

    if (format
        && (!json_is_string(format)
            || !ac_content_one_of(json_string_value(format),
                                  ac_content_document_formats)))
    {
        return ac_content_fail(c, "\"format\" is not one of pdf, csv, doc, "
                               "docx, xls, xlsx, html, txt, md");
    }

    cit = json_object_get(doc, "citations");
    enabled = NULL;

    if (cit && !json_is_null(cit)) {
        enabled = json_object_get(cit, "enabled");

        if (!json_is_boolean(enabled)) {
            return ac_content_fail(c, "\"citations\" is not {\"enabled\": "
                                   "true|false}");
        }
    }

    ctx = json_object_get(doc, "context");

    if (ctx) {
        if (!json_is_string(ctx)) {
            return ac_content_fail(c, "\"context\" is not a string");
        }

        if (ac_content_utf8(c, ctx, "\"context\"") != 0) {
            return NULL;
        }
    }

    source = ac_content_source(c, json_object_get(doc, "source"), 1, NULL);
    if (source == NULL) {
        return NULL;
    }

    /* the members in the order Strands writes them */

    d = json_object();
    if (d == NULL
        || json_object_set(d, "name", name) != 0
        || (format && json_object_set(d, "format", format) != 0)
        || json_object_set_new(d, "source", source) != 0
        || (enabled
            && json_object_set_new(d, "citations",
                                   json_pack("{s:O}", "enabled", enabled))
               != 0)
        || (ctx && json_object_set(d, "context", ctx) != 0))
    {
        json_decref(d);
        return NULL;
    }

    return json_pack("{s:o}", "document", d);
}


static json_t *
ac_content_video(ac_content_t *c, json_t *video)
{
    json_t      *source;
    const char  *f;

    if (!json_is_object(video)) {
        return ac_content_fail(c, "not an object with \"format\" and "
                               "\"source\"");
    }

    f = json_string_value(json_object_get(video, "format"));

    /* Strands 1.62's _BEDROCK_VIDEO_FORMAT_ALIASES */
    if (f && (strcmp(f, "3gp") == 0 || strcmp(f, "3g2") == 0
              || strcmp(f, "3gpp") == 0))
    {
        f = "three_gp";
    }

    if (f == NULL || !ac_content_one_of(f, ac_content_video_formats)) {
        return ac_content_fail(c, "\"format\" is not one of mkv, mov, mp4, "
                               "webm, flv, mpeg, mpg, wmv, three_gp");
    }

    source = ac_content_source(c, json_object_get(video, "source"), 0, f);
    if (source == NULL) {
        return NULL;
    }

    return json_pack("{s:{s:s, s:o}}", "video", "format", f,
                     "source", source);
}


/*
 * {"bytes": b64} (when bytes is allowed), {"s3Location": ..} or
 * Strands' {"location": {"type": "s3", ..}}; format: the image format
 * to check the bytes against, NULL for a document
 */

static json_t *
ac_content_source(ac_content_t *c, json_t *source, int bytes,
    const char *format)
{
    int             rc;
    long            n;
    char           *clean;
    size_t          len, bad, i, j, max;
    json_t         *b, *loc;
    const char     *s;
    unsigned char  *p;

    if (!json_is_object(source)) {
        return ac_content_fail(c, "\"source\" is missing or not an object");
    }

    loc = json_object_get(source, "s3Location");

    if (loc) {
        return ac_content_s3(c, loc, "s3Location");
    }

    loc = json_object_get(source, "location");

    if (loc) {
        return ac_content_s3(c, loc, "location");
    }

    b = json_object_get(source, "bytes");

    if (b == NULL) {
        return ac_content_fail(c, bytes ? "\"source\" holds none of bytes, "
                                          "s3Location, location"
                                        : "\"source\" holds neither "
                                          "s3Location nor location");
    }

    if (!bytes) {
        return ac_content_fail(c, "\"bytes\" are not accepted for a video: "
                               "give an S3 location");
    }

    if (!json_is_string(b)) {
        return ac_content_fail(c, "\"bytes\" is not a base64 string");
    }

    s = json_string_value(b);
    len = json_string_length(b);

    n = ac_base64_decode(s, len, NULL, &bad);

    if (n < 0) {
        if (bad < len) {
            return ac_content_fail(c, "\"bytes\" is not base64 (character "
                                   "%zu)", bad);
        }

        return ac_content_fail(c, "\"bytes\" is not base64 (its length is "
                               "not a multiple of 4: \"=\" padding "
                               "missing?)");
    }

    if (n == 0) {
        return ac_content_fail(c, "\"bytes\" is empty");
    }

    max = format ? AC_CONTENT_MAX_IMAGE_BYTES : AC_CONTENT_MAX_DOCUMENT_BYTES;

    if ((size_t) n > max) {
        return ac_content_fail(c, "%ld bytes, more than %s (%zu bytes)", n,
                               format ? "3.75 MB" : "4.5 MB", max);
    }

    if (format) {
        /* a png, gif or webp header is in its first 36 bytes */

        i = (strcmp(format, "jpeg") != 0
             && len == (size_t) (n + 2) / 3 * 4 && len > 48)
            ? 48 : len;

        p = malloc(i / 4 * 3 + 3);
        if (p == NULL) {
            c->err[0] = '\0';
            return NULL;
        }

        (void) ac_base64_decode(s, i, p, &bad);
        rc = ac_content_image_check(c, p, (i == len) ? (size_t) n : 36,
                                    format);
        free(p);

        if (rc != 0) {
            return NULL;
        }
    }

    if (len == (size_t) (n + 2) / 3 * 4) {
        /* no whitespace: the client's text as it is */
        return json_pack("{s:O}", "bytes", b);
    }

    clean = malloc(len);
    if (clean == NULL) {
        c->err[0] = '\0';
        return NULL;
    }

    for (i = 0, j = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n'
            && s[i] != '\f' && s[i] != '\v')
        {
            clean[j++] = s[i];
        }
    }

    b = json_stringn_nocheck(clean, j);
    free(clean);

    return b ? json_pack("{s:o}", "bytes", b) : NULL;
}


/* S3Location: s3://[a-z0-9][.-a-z0-9]{1,61}[a-z0-9](/.*)?, 12 digits */

static json_t *
ac_content_s3(ac_content_t *c, json_t *loc, const char *member)
{
    json_t      *uri, *owner, *out;
    size_t       i, len, bucket;
    const char  *s, *type;

    if (!json_is_object(loc)) {
        return ac_content_fail(c, "\"%s\" is not an object", member);
    }

    if (member[0] == 'l') {
        type = json_string_value(json_object_get(loc, "type"));

        if (type == NULL || strcmp(type, "s3") != 0) {
            return ac_content_fail(c, "\"location\" is not {\"type\": \"s3\", "
                                   "\"uri\": ..}: only S3 locations are "
                                   "accepted");
        }
    }

    uri = json_object_get(loc, "uri");
    s = json_string_value(uri);

    if (s == NULL) {
        return ac_content_fail(c, "the S3 \"uri\" is missing");
    }

    len = json_string_length(uri);

    if (len > AC_CONTENT_MAX_URI || len < 8 || memcmp(s, "s3://", 5) != 0) {
        goto bad_uri;
    }

    for (i = 5; i < len && s[i] != '/'; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || ((s[i] == '.' || s[i] == '-') && i > 5)))
        {
            goto bad_uri;
        }
    }

    bucket = i - 5;

    if (bucket < 3 || bucket > 63 || s[i - 1] == '.' || s[i - 1] == '-') {
        goto bad_uri;
    }

    if (ac_content_utf8(c, uri, "the S3 \"uri\"") != 0) {
        return NULL;
    }

    owner = json_object_get(loc, "bucketOwner");

    if (owner) {
        s = json_string_value(owner);

        if (s == NULL || json_string_length(owner) != 12
            || strspn(s, "0123456789") != 12)
        {
            return ac_content_fail(c, "\"bucketOwner\" is not an account id "
                                   "(12 digits)");
        }
    }

    out = owner ? json_pack("{s:O, s:O}", "uri", uri, "bucketOwner", owner)
                : json_pack("{s:O}", "uri", uri);

    return out ? json_pack("{s:o}", "s3Location", out) : NULL;

bad_uri:

    return ac_content_fail(c, "the S3 \"uri\" is not s3://<bucket>[/<key>] "
                           "(a bucket of 3 to 63 characters a-z 0-9 . -, at "
                           "most 1024 characters in all)");
}


/* the image is of the format named, and within 8000 x 8000 pixels */

static uint32_t
ac_be16(const unsigned char *p)
{
    return ((uint32_t) p[0] << 8) | p[1];
}


static uint32_t
ac_be32(const unsigned char *p)
{
    return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16)
           | ((uint32_t) p[2] << 8) | p[3];
}


static uint32_t
ac_le(const unsigned char *p, int n)
{
    uint32_t  v;

    v = 0;

    while (n--) {
        v = (v << 8) | p[n];
    }

    return v;
}


static int
ac_content_image_check(ac_content_t *c, const unsigned char *p, size_t n,
    const char *format)
{
    size_t    i, seg;
    uint32_t  w, h;

    w = h = 0;

    if (strcmp(format, "png") == 0) {
        if (n < 24 || memcmp(p, "\x89PNG\r\n\x1a\n", 8) != 0
            || memcmp(p + 12, "IHDR", 4) != 0)
        {
            goto mismatch;
        }

        w = ac_be32(p + 16);
        h = ac_be32(p + 20);

    } else if (strcmp(format, "gif") == 0) {
        if (n < 10 || (memcmp(p, "GIF87a", 6) != 0
                       && memcmp(p, "GIF89a", 6) != 0))
        {
            goto mismatch;
        }

        w = ac_le(p + 6, 2);
        h = ac_le(p + 8, 2);

    } else if (strcmp(format, "webp") == 0) {
        if (n < 30 || memcmp(p, "RIFF", 4) != 0
            || memcmp(p + 8, "WEBP", 4) != 0)
        {
            goto mismatch;
        }

        if (memcmp(p + 12, "VP8 ", 4) == 0) {
            w = ac_le(p + 26, 2) & 0x3fff;
            h = ac_le(p + 28, 2) & 0x3fff;

        } else if (memcmp(p + 12, "VP8L", 4) == 0 && p[20] == 0x2f) {
            w = (ac_le(p + 21, 4) & 0x3fff) + 1;
            h = ((ac_le(p + 21, 4) >> 14) & 0x3fff) + 1;

        } else if (memcmp(p + 12, "VP8X", 4) == 0) {
            w = ac_le(p + 24, 3) + 1;
            h = ac_le(p + 27, 3) + 1;

        } else {
            goto mismatch;
        }

    } else { /* jpeg: the first frame header (SOFn) gives the size */

        if (n < 4 || p[0] != 0xff || p[1] != 0xd8) {
            goto mismatch;
        }

        for (i = 2; /* void */ ; i += 2 + seg) {

            while (i < n && p[i] == 0xff && i + 1 < n && p[i + 1] == 0xff) {
                i++;     /* fill bytes */
            }

            if (i + 4 > n || p[i] != 0xff) {
                (void) ac_content_fail(c, "the jpeg image has no frame "
                                       "header before its end");
                return -1;
            }

            if ((p[i + 1] >= 0xd0 && p[i + 1] <= 0xd7) || p[i + 1] == 0x01) {
                seg = 0;
                continue;
            }

            seg = ac_be16(p + i + 2);

            if (p[i + 1] >= 0xc0 && p[i + 1] <= 0xcf && p[i + 1] != 0xc4
                && p[i + 1] != 0xc8 && p[i + 1] != 0xcc)
            {
                if (i + 9 > n) {
                    goto mismatch;
                }

                h = ac_be16(p + i + 5);
                w = ac_be16(p + i + 7);
                break;
            }

            if (p[i + 1] == 0xda || p[i + 1] == 0xd9 || seg < 2) {
                (void) ac_content_fail(c, "the jpeg image has no frame "
                                       "header before its data");
                return -1;
            }
        }
    }

    if (w > AC_CONTENT_MAX_IMAGE_PIXELS || h > AC_CONTENT_MAX_IMAGE_PIXELS) {
        (void) ac_content_fail(c, "the image is %u x %u pixels, more than "
                               "%d in width or height", w, h,
                               AC_CONTENT_MAX_IMAGE_PIXELS);
        return -1;
    }

    return 0;

mismatch:

    (void) ac_content_fail(c, "the bytes are not a %s image", format);
    return -1;
}


/* the payload parser keeps a lone surrogate as ED A0..BF xx */

static int
ac_content_utf8(ac_content_t *c, json_t *s, const char *what)
{
    size_t                i, len, n;
    const unsigned char  *p;

    p = (const unsigned char *) json_string_value(s);
    len = json_string_length(s);

    for (i = 0, n = 0; i < len; i++) {
        if ((p[i] & 0xc0) == 0x80) {
            continue;
        }

        if (p[i] == 0xed && len - i >= 3 && p[i + 1] >= 0xa0) {
            (void) ac_content_fail(c, "%s holds a lone surrogate "
                                   "('\\u%04x' at character %zu), not UTF-8",
                                   what,
                                   0xd000 | ((p[i + 1] & 0x3f) << 6)
                                   | (p[i + 2] & 0x3f), n);
            return -1;
        }

        n++;
    }

    return 0;
}


static int
ac_content_one_of(const char *s, const char *const *list)
{
    for ( /* void */ ; *list; list++) {
        if (strcmp(s, *list) == 0) {
            return 1;
        }
    }

    return 0;
}


/* "prompt[i] (type): message"; returns NULL */

static json_t *
ac_content_fail(ac_content_t *c, const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (c->type) {
        n = snprintf(c->err, c->err_len, "prompt[%zu] (%s): ", c->index,
                     c->type);
    } else {
        n = snprintf(c->err, c->err_len, "prompt[%zu]: ", c->index);
    }

    if (n < 0 || (size_t) n >= c->err_len) {
        return NULL;
    }

    va_start(args, fmt);
    (void) vsnprintf(c->err + n, c->err_len - n, fmt, args);
    va_end(args);

    return NULL;
}


/* base64 */

static const char  ac_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


/* 0..63 a digit, 64 whitespace, 65 "=", 66 anything else */

static const unsigned char  ac_b64_class[256] = {
    66, 66, 66, 66, 66, 66, 66, 66, 66, 64, 64, 64, 64, 64, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    64, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 62, 66, 66, 66, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 66, 66, 66, 65, 66, 66,
    66,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 66, 66, 66, 66, 66,
    66, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
    66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66
};


long
ac_base64_decode(const char *s, size_t len, unsigned char *out,
    size_t *bad)
{
    int                   pad;
    size_t                i, q, n;
    uint32_t              acc, a, b, c, d;
    const unsigned char  *p;

    p = (const unsigned char *) s;
    acc = 0;
    q = 0;          /* characters in the current quantum */
    n = 0;          /* bytes out */
    pad = 0;
    i = 0;

    for ( ;; ) {

        /* the common case: whole quanta of digits */

        if (q == 0 && pad == 0) {
            while (len - i >= 4
                   && (a = ac_b64_class[p[i]]) < 64
                   && (b = ac_b64_class[p[i + 1]]) < 64
                   && (c = ac_b64_class[p[i + 2]]) < 64
                   && (d = ac_b64_class[p[i + 3]]) < 64)
            {
                if (out) {
                    acc = (a << 18) | (b << 12) | (c << 6) | d;
                    out[n] = (unsigned char) (acc >> 16);
                    out[n + 1] = (unsigned char) (acc >> 8);
                    out[n + 2] = (unsigned char) acc;
                }

                n += 3;
                i += 4;
            }

            acc = 0;
        }

        if (i == len) {
            break;
        }

        a = ac_b64_class[p[i]];

        if (a == 64) {
            i++;
            continue;
        }

        if (a == 65) {
            /* "xx==" or "xxx=", then only whitespace */
            if (q < 2 || pad > 2) {
                *bad = i;
                return -1;
            }

            pad++;
            acc <<= 6;

            if (++q == 4) {
                if (out) {
                    out[n] = (unsigned char) (acc >> 16);

                    if (pad == 1) {
                        out[n + 1] = (unsigned char) (acc >> 8);
                    }
                }

                n += 3 - pad;
                q = 0;
                pad = 3;        /* the end: anything but whitespace fails */
            }

            i++;
            continue;
        }

        if (pad || a == 66) {
            *bad = i;
            return -1;
        }

        acc = (acc << 6) | a;

        if (++q == 4) {
            if (out) {
                out[n] = (unsigned char) (acc >> 16);
                out[n + 1] = (unsigned char) (acc >> 8);
                out[n + 2] = (unsigned char) acc;
            }

            n += 3;
            q = 0;
        }

        i++;
    }

    if (q != 0) {
        *bad = len;
        return -1;
    }

    return (long) n;
}


void
ac_base64_encode(const unsigned char *p, size_t n, char *out)
{
    size_t    i;
    uint32_t  v;

    for (i = 0; i + 2 < n; i += 3) {
        v = ((uint32_t) p[i] << 16) | ((uint32_t) p[i + 1] << 8) | p[i + 2];
        *out++ = ac_b64[v >> 18];
        *out++ = ac_b64[(v >> 12) & 0x3f];
        *out++ = ac_b64[(v >> 6) & 0x3f];
        *out++ = ac_b64[v & 0x3f];
    }

    if (n - i == 1) {
        v = (uint32_t) p[i] << 16;
        *out++ = ac_b64[v >> 18];
        *out++ = ac_b64[(v >> 12) & 0x3f];
        *out++ = '=';
        *out++ = '=';

    } else if (n - i == 2) {
        v = ((uint32_t) p[i] << 16) | ((uint32_t) p[i + 1] << 8);
        *out++ = ac_b64[v >> 18];
        *out++ = ac_b64[(v >> 12) & 0x3f];
        *out++ = ac_b64[(v >> 6) & 0x3f];
        *out++ = '=';
    }
}
