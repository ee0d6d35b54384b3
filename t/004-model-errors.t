# Failures after the SSE head: every one ends the stream with a single
# stream_error event and a proper chunked terminator.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: HTTP error from Bedrock, typed by x-amzn-errortype
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again."]]')
--- error_code: 200
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- response_body eval
qq{data: {"error": "An error occurred (ThrottlingException) when calling the ConverseStream operation: Too many requests, please wait before trying again.", "type": "stream_error"}\n\n}
--- error_log
agentcore: stream_error: "An error occurred (ThrottlingException)



=== TEST 2: a bad signature is Bedrock's 403, not a crash
--- main_config
env AWS_ACCESS_KEY_ID=AKIDEXAMPLE;
env AWS_SECRET_ACCESS_KEY=not-the-right-secret;
--- request eval
AgentCore::Test::invoke('hello')
--- response_body eval
qq{data: {"error": "An error occurred (InvalidSignatureException) when calling the ConverseStream operation: The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.", "type": "stream_error"}\n\n}
--- no_error_log
not-the-right-secret



=== TEST 3: an exception frame after some text
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (throttlingException) when calling the ConverseStream operation: Slow down", "type": "stream_error"}\n\n}



=== TEST 4: modelStreamErrorException names the original error
--- request eval
AgentCore::Test::invoke('[[exception type=modelStreamErrorException message="Model failed"]]')
--- response_body_like eval
qr/\Adata: "Partial "\n\ndata: "answer "\n\ndata: \{"error": "An error occurred \(modelStreamErrorException\) when calling the ConverseStream operation: Model failed[^"]*", "type": "stream_error"\}\n\n\z/



=== TEST 5: an unmodeled error frame
--- request eval
AgentCore::Test::invoke('[[error-frame code=InternalFailure message="boom"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (InternalFailure) when calling the ConverseStream operation: boom", "type": "stream_error"}\n\n}



=== TEST 6: a CRC mismatch
--- request eval
AgentCore::Test::invoke('[[corrupt]]')
--- response_body eval
qq{data: "Good "\n\n}
. qq{data: {"error": "The model stream is corrupt: Message checksum mismatch", "type": "stream_error"}\n\n}



=== TEST 7: a stream cut in the middle of a frame
--- request eval
AgentCore::Test::invoke('[[truncate]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "The model stream ended in the middle of a message (connection closed or timed out)", "type": "stream_error"}\n\n}



=== TEST 8: a connection closed without the chunked end
--- request eval
AgentCore::Test::invoke('[[close]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "The model stream ended in the middle of a message (connection closed or timed out)", "type": "stream_error"}\n\n}
--- error_log
upstream prematurely closed connection



=== TEST 9: a stream that hangs hits proxy_read_timeout
--- config eval
my $c = $AgentCore::Test::Config;
$c =~ s/(proxy_pass)/proxy_read_timeout 500ms;\n    $1/;
$c
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- response_body eval
qq{data: "Hello"\n\n}
. qq{data: {"error": "The model stream ended before the model finished (connection closed or timed out)", "type": "stream_error"}\n\n}
--- error_log
upstream timed out



=== TEST 10: no response headers before the timeout
--- config eval
my $c = $AgentCore::Test::Config;
$c =~ s/(proxy_pass)/proxy_read_timeout 500ms;\n    $1/;
$c
--- request eval
AgentCore::Test::invoke('[[hang-headers]]')
--- response_body eval
qq{data: {"error": "The model stream ended before the model finished (connection closed or timed out)", "type": "stream_error"}\n\n}
--- error_log
upstream timed out



=== TEST 11: Bedrock never answers
--- config eval
my $c = $AgentCore::Test::Config;
$c =~ s/(proxy_pass)/proxy_read_timeout 500ms;\n    $1/;
$c
--- request eval
AgentCore::Test::invoke('[[hang-accept]]')
--- response_body eval
qq{data: {"error": "The model endpoint timed out (HTTP 504)", "type": "stream_error"}\n\n}
--- error_log
upstream timed out



=== TEST 12: Bedrock unreachable
--- http_config
upstream bedrock { server 127.0.0.1:1; }
--- request eval
AgentCore::Test::invoke('hi')
--- response_body eval
qq{data: {"error": "The model call failed (HTTP 502 from the model location)", "type": "stream_error"}\n\n}
--- error_log
connect() failed (111: Connection refused)



=== TEST 13: a validation error names Bedrock's message
--- request eval
AgentCore::Test::invoke('[[http status=400 type=ValidationException message="The provided model identifier is invalid."]]')
--- response_body eval
qq{data: {"error": "An error occurred (ValidationException) when calling the ConverseStream operation: The provided model identifier is invalid.", "type": "stream_error"}\n\n}



=== TEST 14: max_tokens ends the stream with the reference's message (Strands 1.62)
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Partial"]]] [[max-tokens]]')
--- response_body eval
qq{data: "Partial"\n\n}
. qq{data: {"error": "Model stopped generating due to maximum token limit. The partial message has been added to the conversation history. You can continue by calling the agent again. For more information see: https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception", "type": "stream_error"}\n\n}



=== TEST 15: the model location missing is an error event
--- config
    agentcore_model_location /_nowhere;
    location = /invocations { agentcore; }
--- request eval
AgentCore::Test::invoke('hi')
--- response_body eval
qq{data: {"error": "The model call failed (HTTP 404 from the model location)", "type": "stream_error"}\n\n}
