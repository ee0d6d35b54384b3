# A prompt of content blocks ({"prompt": [{"text": ..}, {"image": ..},
# {"document": ..}, {"video": ..}]}), as Strands takes it: the emulator's
# [[echo]] answers with the request body Bedrock gets, so each test states
# the exact bytes on both sides.  The reference (Strands 1.62 on botocore)
# sends the client's base64 text base64-encoded again; here Bedrock gets
# the client's base64 once: its decoded bytes are the client's image.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use MIME::Base64 ();

# a 1 x 1 PNG, 70 bytes
our $Png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD'
           . 'hgGAWjR9awAAAABJRU5ErkJggg==';

# 1,500,000 bytes: a PNG header, 2000 x 1500, then zeros
our $Big = "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR" . pack("NN", 2000, 1500);
$Big .= "\0" x (1500000 - length $Big);

our $Sid = 'sess-blocks-0123456789abcdef0123456789';
our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $Sid";

our $SessionHttp = $AgentCore::Test::HttpConfig
                   . "agentcore_session_zone s:1m;\n";

# POST /invocations with a body written out
sub body { "POST /invocations\n" . shift }

# the request body Bedrock gets for these messages (compact JSON text)
sub request { '{"messages":[' . shift . '],"inferenceConfig":{}}' }

# the image block of $Png
sub png { '{"image":{"format":"png","source":{"bytes":"' . $Png . '"}}}' }

# the echoed request: the SSE text (the body Bedrock got)
sub echoed { AgentCore::Test::sse_text(shift) }

add_block_preprocessor(\&AgentCore::Test::defaults);

# the lines of every request count (a block makes several)
check_accum_error_log();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: text and an image: Bedrock gets the client's base64 once
--- request eval
main::body('{"prompt": [{"text": "[[echo]] What is this?"},
  {"image": {"format": "png", "source": {"bytes": "' . $main::Png . '"}}}]}')
--- response_body_filters eval
\&main::echoed
--- response_body eval
main::request('{"role":"user","content":[{"text":"[[echo]] What is this?"},'
              . main::png() . ']}')
--- no_error_log
[error]



=== TEST 2: the image Bedrock decodes is the client's file, byte for byte
--- request eval
main::body('{"prompt": [{"text": "[[echo]]"},
  {"image": {"format": "png", "source": {"bytes": "' . $main::Png . '"}}}]}')
--- response_body_filters eval
[\&main::echoed, sub {
    my $req = JSON::PP->new->decode(shift);
    my $b = MIME::Base64::decode_base64(
                $req->{messages}[0]{content}[1]{image}{source}{bytes});
    return length($b) . " bytes, "
           . ($b eq MIME::Base64::decode_base64($main::Png)
              ? "the client's" : "other")
           . ", starts " . unpack("H16", $b);
}]
--- response_body chomp
70 bytes, the client's, starts 89504e470d0a1a0a



=== TEST 3: base64 wrapped as `base64` prints it: the line breaks dropped
--- request eval
main::body('{"prompt": [{"text": "[[echo]]"},
  {"image": {"format": "png", "source": {"bytes": "'
  . (MIME::Base64::encode_base64(MIME::Base64::decode_base64($main::Png), "\\n"))
  . '"}}}]}')
--- response_body_filters eval
\&main::echoed
--- response_body eval
main::request('{"role":"user","content":[{"text":"[[echo]]"},'
              . main::png() . ']}')



=== TEST 4: a document, members as Strands sends them, others dropped
--- request eval
main::body('{"prompt": [{"text": "[[echo]] Summarize"},
  {"document": {"format": "txt", "name": "Notes (v2)",
   "source": {"bytes": "aGVsbG8gd29ybGQ="}, "citations": {"enabled": true},
   "comment": "dropped"}}]}')
--- response_body_filters eval
\&main::echoed
--- response_body eval
main::request('{"role":"user","content":[{"text":"[[echo]] Summarize"},'
    . '{"document":{"name":"Notes (v2)","format":"txt",'
    . '"source":{"bytes":"aGVsbG8gd29ybGQ="},"citations":{"enabled":true}}}]}')
--- no_error_log
[error]



=== TEST 5: a video by S3 location, in Bedrock's form and in Strands'
--- request eval
[main::body('{"prompt": [{"text": "[[echo]]"},
  {"video": {"format": "mp4", "source": {"s3Location":
   {"uri": "s3://my-bucket/clips/a.mp4", "bucketOwner": "123456789012"}}}}]}'),
 main::body('{"prompt": [{"text": "[[echo]]"},
  {"video": {"format": "3gp", "source": {"location":
   {"type": "s3", "uri": "s3://my-bucket/b.3gp"}}}}]}')]
--- response_body_filters eval
\&main::echoed
--- response_body eval
[main::request('{"role":"user","content":[{"text":"[[echo]]"},'
    . '{"video":{"format":"mp4","source":{"s3Location":'
    . '{"uri":"s3://my-bucket/clips/a.mp4","bucketOwner":"123456789012"}}}}]}'),
 main::request('{"role":"user","content":[{"text":"[[echo]]"},'
    . '{"video":{"format":"three_gp","source":{"s3Location":'
    . '{"uri":"s3://my-bucket/b.3gp"}}}}]}')]



=== TEST 6: a plain answer to blocks streams as to a string
--- request eval
main::body('{"prompt": [{"text": "[[deltas texts=[\"A \", \"cat.\"]]]"},
  {"image": {"format": "gif", "source": {"bytes": "R0lGODlhAQABAAAAACw="}}}]}')
--- response_body eval
qq{data: "A "\n\ndata: "cat."\n\n}



=== TEST 7: each refusal is a 400 naming the block and the problem
--- request eval
[map { main::body($_) }
 '{"prompt": []}',
 '{"prompt": ["hi"]}',
 '{"prompt": [{"text": "a"}, {"toolUse": {"toolUseId": "x", "name": "y", "input": {}}}]}',
 '{"prompt": [{"text": "a"}, {"image": {"format": "bmp", "source": {"bytes": "AAAA"}}}]}',
 '{"prompt": [{"text": "a"}, {"image": {"format": "png", "source": {"bytes": "iVBO*w0K"}}}]}',
 '{"prompt": [{"text": "a"}, {"image": {"format": "jpeg", "source": {"bytes": "R0lGODlhAQABAAAAACw="}}}]}',
 '{"prompt": [{"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAH0EAAAAB"}}}]}',
 '{"prompt": [{"document": {"name": "n", "source": {"bytes": "aGk="}}}]}',
 '{"prompt": [{"text": "a"}, {"document": {"name": "a/b.txt", "source": {"bytes": "aGk="}}}]}',
 '{"prompt": [{"video": {"format": "mp4", "source": {"bytes": "aGk="}}}]}',
 '{"prompt": [{"video": {"format": "mp4", "source": {"s3Location": {"uri": "https://x/y"}}}}]}',
 '{"prompt": [{"text": "a\\ud800"}]}',
 '{"prompt": 42}']
--- error_code eval
[(400) x 13]
--- response_body eval
['{"error":"Invalid prompt","details":"\"prompt\" is an empty list: give a string or a list of content blocks"}',
 '{"error":"Invalid prompt","details":"prompt[0]: a content block is an object (text, image, document or video)"}',
 '{"error":"Invalid prompt","details":"prompt[1] (toolUse): not accepted in a prompt (text, image, document and video are)"}',
 '{"error":"Invalid prompt","details":"prompt[1] (image): \"format\" is not one of png, jpeg, gif, webp"}',
 '{"error":"Invalid prompt","details":"prompt[1] (image): \"bytes\" is not base64 (character 4)"}',
 '{"error":"Invalid prompt","details":"prompt[1] (image): the bytes are not a jpeg image"}',
 '{"error":"Invalid prompt","details":"prompt[0] (image): the image is 8001 x 1 pixels, more than 8000 in width or height"}',
 '{"error":"Invalid prompt","details":"\"prompt\" holds a document but no text block: Bedrock takes documents only beside a text"}',
 '{"error":"Invalid prompt","details":"prompt[1] (document): \"name\" may hold only letters, digits, whitespace, hyphens, parentheses and square brackets (character 1 is not one)"}',
 '{"error":"Invalid prompt","details":"prompt[0] (video): \"bytes\" are not accepted for a video: give an S3 location"}',
 '{"error":"Invalid prompt","details":"prompt[0] (video): the S3 \"uri\" is not s3://<bucket>[/<key>] (a bucket of 3 to 63 characters a-z 0-9 . -, at most 1024 characters in all)"}',
 '{"error":"Invalid prompt","details":"prompt[0] (text): \"text\" holds a lone surrogate (\'\\\\ud800\' at character 1), not UTF-8"}',
 '{"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}']
--- no_error_log
[error]



=== TEST 8: a session keeps the image turn across invocations
--- http_config eval: $main::SessionHttp
--- config eval: "agentcore_session s;\n" . $AgentCore::Test::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::body('{"prompt": [{"text": "Look at this"},
  {"image": {"format": "png", "source": {"bytes": "' . $main::Png . '"}}}]}'),
 AgentCore::Test::invoke("[[echo]]")]
--- response_body_filters eval
\&main::echoed
--- response_body eval
["Hello! You said: Look at this",
 main::request('{"role":"user","content":[{"text":"Look at this"},'
     . main::png() . ']},'
     . '{"role":"assistant","content":[{"text":"Hello! You said: Look at this"}]},'
     . '{"role":"user","content":[{"text":"[[echo]]"}]}')]
--- no_error_log
[error]



=== TEST 9: a 1.5 MB image: the stored history holds its bytes, not its 2 MB of base64
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:4m;\n"
--- config eval
"agentcore_session s;\n"
. ($AgentCore::Test::Config =~ s/agentcore;/agentcore; client_max_body_size 8m;/r)
--- more_headers eval: $main::SidHeader
--- request eval
[main::body('{"prompt": [{"text": "Look"}, {"image": {"format": "png",'
  . ' "source": {"bytes": "' . MIME::Base64::encode_base64($main::Big, '')
  . '"}}}]}'),
 AgentCore::Test::invoke("[[echo]]")]
--- response_body_filters eval
[\&main::echoed, sub {
    my $text = shift;
    return $text if $text !~ /^\{/;
    my $req = JSON::PP->new->decode($text);
    my $b = MIME::Base64::decode_base64(
                $req->{messages}[0]{content}[1]{image}{source}{bytes});
    return scalar(@{ $req->{messages} }) . " messages, image of "
           . length($b) . " bytes, "
           . ($b eq $main::Big ? "the client's" : "other");
}]
--- response_body eval
["Hello! You said: Look",
 "3 messages, image of 1500000 bytes, the client's"]
--- error_log eval
qr/agentcore session \w+: stored 2 messages, 15000\d\d bytes/
--- no_error_log
[error]
