# POST /invocations: a Bedrock ConverseStream answer streamed as SSE,
# byte for byte as the AgentCore runtime writes it.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: each text delta is one event, in order, then the chunked end
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hello", " world", "!"]]]')
--- response_headers
Content-Type: text/event-stream; charset=utf-8
Cache-Control: no-cache
X-Accel-Buffering: no
!Content-Length
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body eval
qq{data: "Hello"\n\ndata: " world"\n\ndata: "!"\n\n}
--- no_error_log
[error]
[warn]



=== TEST 2: one event per chunk, the events of a turn in one write
The head is flushed alone (an empty chunk is not written).  The emulator
writes the whole answer, its head included, in one write ([[batch]]), so
nginx reads it at once (the proxy never reads the upstream again:
checked below): both events, the stream's end and the last chunk arrive
in one turn of the event loop and leave in one write of 40 bytes:
"c\r\n" 12 "\r\n" "d\r\n" 13 "\r\n" "0\r\n\r\n".
--- request eval
AgentCore::Test::invoke('[[deltas texts=["ab", "cde"]]] [[batch]]')
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body eval
qq{data: "ab"\n\ndata: "cde"\n\n}
--- grep_error_log eval: qr/http chunk: \d+|writev: 40 of 40/
--- grep_error_log_out
http chunk: 0
http chunk: 12
http chunk: 13
http chunk: 0
writev: 40 of 40
--- no_error_log
[error]
http upstream process non buffered upstream



=== TEST 3: events leave while the model still streams
The model sends "Hello" and hangs: the event is written (20 bytes:
"f\r\n" 15 "\r\n") at the end of the turn it arrived in, long before the
read timeout ends the stream.
--- config eval
my $c = $AgentCore::Test::Config;
$c =~ s/(proxy_pass)/proxy_read_timeout 500ms;\n    $1/;
$c
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- response_body eval
qq{data: "Hello"\n\n}
. qq{data: {"error": "The model stream ended before the model finished (connection closed or timed out)", "type": "stream_error"}\n\n}
--- grep_error_log eval: qr/agentcore flush|writev: 20 of 20|upstream timed out/
--- grep_error_log_out
agentcore flush
writev: 20 of 20
upstream timed out



=== TEST 4: JSON escaping as json.dumps(ensure_ascii=False)
--- request eval
AgentCore::Test::invoke('[[deltas texts=["a\nb\t\"q\"\\\\ /", "\r\b\f", "\u0001\u001f\u007f", "\u2028"]]]')
--- response_body eval
qq{data: "a\\nb\\t\\"q\\"\\\\ /"\n\n}
. qq{data: "\\r\\b\\f"\n\n}
. qq{data: "\\u0001\\u001f\x7f"\n\n}
. qq{data: "\xe2\x80\xa8"\n\n}
--- no_error_log
[error]



=== TEST 5: UTF-8 passes raw; é is the 12 bytes of the contract
--- request eval
AgentCore::Test::invoke('[[deltas texts=["é", "héllo 世界 😀"]]]')
--- response_body eval
"\x64\x61\x74\x61\x3a\x20\x22\xc3\xa9\x22\x0a\x0a"
. qq{data: "héllo 世界 😀"\n\n}
--- no_error_log
[error]



=== TEST 6: an empty delta is an empty event
--- request eval
AgentCore::Test::invoke('[[deltas texts=["", "x"]]]')
--- response_body eval
qq{data: ""\n\ndata: "x"\n\n}
--- no_error_log
[error]



=== TEST 7: never gzipped, even with gzip on for every type
--- config eval
"gzip on; gzip_types *; gzip_min_length 0;\n" . $AgentCore::Test::Config
--- more_headers
Accept-Encoding: gzip
--- request eval
AgentCore::Test::invoke('[[deltas texts=["plain"]]]')
--- response_headers
!Content-Encoding
Content-Type: text/event-stream; charset=utf-8
--- response_body eval
qq{data: "plain"\n\n}
--- no_error_log
[error]



=== TEST 8: frames split at every byte arrive whole
--- request eval
AgentCore::Test::invoke('[[split bytes=1]]')
--- response_body_like eval
qr/\A(data: "[^"\n]*"\n\n)+\z/
--- no_error_log
[error]
[warn]



=== TEST 9: frames split at 7 bytes give the same events as one write
--- request eval
[AgentCore::Test::invoke('[[split bytes=7]] same'),
 AgentCore::Test::invoke('[[batch]] same')]
--- response_body eval
[qq{data: "Hello!"\n\ndata: " You"\n\ndata: " said:"\n\ndata: " same"\n\n},
 qq{data: "Hello!"\n\ndata: " You"\n\ndata: " said:"\n\ndata: " same"\n\n}]
--- no_error_log
[error]



=== TEST 10: unknown event types and header types are skipped
--- request eval
AgentCore::Test::invoke('[[unknown]]')
--- response_body_like eval
qr/\A(data: "[^"\n]*"\n\n)+\z/
--- no_error_log
[error]
[warn]



=== TEST 11: reasoning produces no bytes; the text after it does
--- request eval
AgentCore::Test::invoke('[[reasoning]]')
--- response_body eval
qq{data: "Here"\n\ndata: " is"\n\ndata: " my"\n\ndata: " answer."\n\n}
--- no_error_log
[error]



=== TEST 12: methods other than POST are 405 with Allow: POST
--- request
GET /invocations
--- error_code: 405
--- response_headers
Allow: POST
--- response_body chomp
Method Not Allowed
--- no_error_log
[error]



=== TEST 13: the ConverseStream request the reference sends
--- request eval
AgentCore::Test::invoke('[[echo]]')
--- response_body eval
'data: "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"[[echo]]\"}]}],'
. '\"inferenceConfig\":{}}"' . "\n\n"
--- no_error_log
[error]



=== TEST 14: agentcore_system_prompt and agentcore_max_tokens
--- config eval
qq{agentcore_system_prompt "You're a helpful assistant. You can do simple math calculations, \n    tell the weather.";\n}
. "agentcore_max_tokens 512;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[echo]]')
--- response_body eval
'data: "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"[[echo]]\"}]}],'
. '\"system\":[{\"text\":\"You\'re a helpful assistant. You can do simple math '
. 'calculations, \\\\n    tell the weather.\"}],'
. '\"inferenceConfig\":{\"maxTokens\":512}}"' . "\n\n"
--- no_error_log
[error]



=== TEST 15: only the signed headers reach Bedrock, at the encoded path
--- more_headers
Cookie: session=secret-cookie
Authorization: Basic dXNlcjpwYXNz
Accept-Encoding: gzip
X-Custom: nope
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{\Adata: ":method: POST\\n}
. qr{:path: /model/us\.anthropic\.claude-3-7-sonnet-20250219-v1%3A0/converse-stream\\n}
. qr{authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/bedrock/aws4_request, }
. qr{SignedHeaders=content-type;host;x-amz-date\\n}
. qr{content-length: \d+\\n}
. qr{content-type: application/json\\n}
. qr{host: bedrock-runtime\.us-east-1\.amazonaws\.com\\n}
. qr{x-amz-date: \d{8}T\d{6}Z\\n"\n\n\z}
--- no_error_log
[error]
