
/*
 * Copyright (C) ngx_http_agentcore_module authors
 *
 * A prompt given as content blocks, plain C on jansson (no nginx
 * types): {"prompt": [{"text": ..}, {"image": ..}, {"document": ..},
 * {"video": ..}]} checked against Bedrock Converse's rules for a user
 * message and rewritten into the blocks Bedrock takes.
 */


#ifndef _NGX_HTTP_AGENTCORE_CONTENT_H_INCLUDED_
#define _NGX_HTTP_AGENTCORE_CONTENT_H_INCLUDED_


#include <stddef.h>
#include <jansson.h>


/* Bedrock's limits for the content of one message (Message, Converse) */
#define AC_CONTENT_MAX_IMAGES        20
#define AC_CONTENT_MAX_IMAGE_BYTES   3932160      /* 3.75 MB */
#define AC_CONTENT_MAX_IMAGE_PIXELS  8000         /* width and height */
#define AC_CONTENT_MAX_DOCUMENTS     5
#define AC_CONTENT_MAX_DOCUMENT_BYTES  4718592    /* 4.5 MB */
#define AC_CONTENT_MAX_NAME          200          /* DocumentBlock.name */
#define AC_CONTENT_MAX_URI           1024         /* S3Location.uri */


/*
 * The content blocks of a user message from a prompt that is a JSON
 * array of blocks, each an object holding one of:
 *
 *   {"text": "..."}
 *   {"image": {"format": "png|jpeg|gif|webp", "source": SOURCE}}
 *   {"document": {"name": "..", "format"?: "pdf|csv|doc|docx|xls|xlsx|
 *                 html|txt|md", "source": SOURCE, "citations"?:
 *                 {"enabled": bool}, "context"?: ".."}}
 *   {"video": {"format": "mkv|mov|mp4|webm|flv|mpeg|mpg|wmv|three_gp"
 *              (or 3gp, 3g2, 3gpp), "source": S3 SOURCE}}
 *
 * SOURCE: {"bytes": "<base64>"} (image and document), or an S3 object,
 * as Bedrock writes it {"s3Location": {"uri": "s3://..",
 * "bucketOwner"?: "<12 digits>"}} or as Strands does {"location":
 * {"type": "s3", "uri": .., "bucketOwner"?: ..}}.
 *
 * Checked: the formats, base64 (RFC 4648 with padding; ASCII
 * whitespace is dropped), that image bytes are an image of the format
 * named no larger than 3.75 MB and 8000 x 8000 pixels, at most 20
 * images, documents no larger than 4.5 MB, at most 5 of them and with a
 * text block beside them, document names (1 to 200 characters: letters
 * and digits, single whitespace, - ( ) [ ]), S3 URIs and owners, and
 * that no text holds a lone surrogate.  Members Strands drops are
 * dropped; the base64 text is kept as the client wrote it (decoded
 * bytes = the client's).
 *
 * Returns a new array of Bedrock content blocks, or NULL with err
 * filled, e.g. "prompt[1] (image): the bytes are not a png image"
 * (NULL with err "" when out of memory).
 */
json_t *ac_content_prompt(json_t *prompt, char *err, size_t err_len);

/*
 * Strict base64 (A-Z a-z 0-9 + /, "=" padding, length a multiple of
 * 4, ASCII whitespace skipped): the decoded length, or -1 with *bad set
 * to the offending offset.  out NULL: only checked and measured; else
 * out holds 3 * len / 4 bytes.
 */
long ac_base64_decode(const char *s, size_t len, unsigned char *out,
    size_t *bad);

/* base64 of n bytes, 4 * ((n + 2) / 3) characters, no NUL */
void ac_base64_encode(const unsigned char *p, size_t n, char *out);


#endif /* _NGX_HTTP_AGENTCORE_CONTENT_H_INCLUDED_ */
