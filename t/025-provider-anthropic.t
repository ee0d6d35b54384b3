# agentcore_provider anthropic: the same loop, tools and SSE output
# against the Anthropic Messages API (the emulator's /v1/messages, which
# plays the same scenarios as Messages stream events).  The emulator
# refuses a request without anthropic-version, with an Authorization or
# SigV4 header, or without the x-api-key it was given, so every answer
# below also shows the headers were right.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $Model = <<'_EOC_';
location = /_agentcore/anthropic {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_anthropic_params;
    proxy_pass http://bedrock/v1/messages;
}
_EOC_

our $Invocations = <<'_EOC_';
agentcore_model_location /_agentcore/anthropic;
agentcore_provider anthropic;
agentcore_model claude-sonnet-4-5;
agentcore_tools calculator weather;

location = /invocations {
    agentcore;
}
_EOC_

our $Config = "agentcore_model_api_key $ENV{TEST_NGINX_BEDROCK_BEARER};\n"
              . $Invocations . $Model;

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", $main::Config);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a text answer: the same SSE, byte for byte, as from Bedrock (t/002-stream.t TEST 1)
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



=== TEST 2: the calculator: a tool cycle (tool_use, then the tool_result)
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"2+1"} text="I\'ll calculate that."]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: I'll calculate that.Tool said: Result: 3
--- no_error_log
[error]
[warn]



=== TEST 3: two tools in one turn: results in the order asked
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"weather","input":{}},{"name":"calculator","input":{"expression":"6*7"}},{"name":"weather","input":{}}]]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: sunny | Result: 42 | sunny
--- no_error_log
[error]



=== TEST 4: an error event after some text (rate_limit_error): Bedrock's throttlingException text (t/004-model-errors.t TEST 3)
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (throttlingException) when calling the ConverseStream operation: Slow down", "type": "stream_error"}\n\n}



=== TEST 5: overloaded_error after HTTP 200
--- request eval
AgentCore::Test::invoke('[[exception type=serviceUnavailableException message="Overloaded"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (serviceUnavailableException) when calling the ConverseStream operation: Overloaded", "type": "stream_error"}\n\n}



=== TEST 6: HTTP 529 (overloaded) with Anthropic's error body
--- request eval
AgentCore::Test::invoke('[[http status=529 type=ServiceUnavailableException message="Overloaded"]]')
--- response_body eval
qq{data: {"error": "An error occurred (ServiceUnavailableException) when calling the ConverseStream operation: Overloaded", "type": "stream_error"}\n\n}



=== TEST 7: a stream cut in the middle of an event
--- request eval
AgentCore::Test::invoke('[[truncate]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "The model stream ended in the middle of a message (connection closed or timed out)", "type": "stream_error"}\n\n}



=== TEST 8: a wrong key: the API's 401 as a stream_error, the key never logged
--- config eval
"agentcore_model_api_key not-the-key;\n" . $main::Invocations . $main::Model
--- request eval
AgentCore::Test::invoke('hello')
--- response_body eval
qq{data: {"error": "An error occurred (AccessDeniedException) when calling the ConverseStream operation: invalid x-api-key", "type": "stream_error"}\n\n}
--- no_error_log
not-the-key



=== TEST 9: the key (from a variable) as x-api-key, never logged at debug level
--- http_config eval
$AgentCore::Test::HttpConfig
. "map \$host \$model_key { default $ENV{TEST_NGINX_BEDROCK_BEARER}; }\n"
--- config eval
"agentcore_model_api_key \$model_key;\n" . $main::Invocations . $main::Model
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hi"]]]')
--- response_body eval
qq{data: "Hi"\n\n}
--- error_log
agentcore: debug logging paused while the model request is sent
--- no_error_log eval
[$ENV{TEST_NGINX_BEDROCK_BEARER}, "[error]"]



=== TEST 10: max_tokens: agentcore_max_tokens, and a stop at it ends as Bedrock's max_tokens does (t/004-model-errors.t TEST 14)
--- config eval
"agentcore_max_tokens 64;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Partial"]]] [[max-tokens]]')
--- response_body eval
qq{data: "Partial"\n\n}
. qq{data: {"error": "Model stopped generating due to maximum token limit. The partial message has been added to the conversation history. You can continue by calling the agent again. For more information see: https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception", "type": "stream_error"}\n\n}



=== TEST 11: the client goes away while the model streams: the upstream connection closes
--- config eval
$main::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $streaming = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[hang]]'), qr/data: "Hello"\n\n/);
my $closed = AgentCore::Test::wait_log($at,
    qr/client prematurely closed connection/,
    qr/close http upstream connection/);
AgentCore::Test::report(
    'the model streamed when the client left: ' . ($streaming ? 'yes' : 'no'),
    'the upstream connection closed: ' . ($closed ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the model streamed when the client left: yes
the upstream connection closed: yes
--- error_log
client prematurely closed connection
close http upstream connection



=== TEST 12: 529 (overloaded) is retried as a 5xx (agentcore_retries)
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[http status=529 type=ServiceUnavailableException message="Overloaded" times=1 id=a529]] [[deltas texts=["after 529"]]]')
--- response_body eval
qq{data: "after 529"\n\n}
--- error_log
agentcore: model call failed (HTTP 529), retry 1 of 2 in



=== TEST 12b: an overloaded_error event before any text is retried as its 529 is
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[exception type=serviceUnavailableException message="Overloaded" deltas=0 times=1 id=a12b]] [[deltas texts=["after overloaded"]]]')
--- response_body eval
qq{data: "after overloaded"\n\n}
--- error_log
agentcore: model call failed (overloaded_error), retry 1 of 2 in



=== TEST 12c: after some text it is not (TEST 5): no text twice
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[exception type=serviceUnavailableException message="Overloaded" times=1 id=a12c]] [[deltas texts=["after overloaded"]]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (serviceUnavailableException) when calling the ConverseStream operation: Overloaded", "type": "stream_error"}\n\n}
--- no_error_log
retry 1 of



=== TEST 13: 429 is retried as throttling
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="slow" times=1 id=a429]] [[deltas texts=["after 429"]]]')
--- response_body eval
qq{data: "after 429"\n\n}
--- error_log
agentcore: model call throttled (HTTP 429), retry 1 of 5 in 10ms



=== TEST 14: usage (each member the last value seen; the emulator sends it in message_delta) in the token variables
--- http_config eval
$AgentCore::Test::HttpConfig
. "log_format usage 'agentcore-usage in=\$agentcore_input_tokens "
. "out=\$agentcore_output_tokens total=\$agentcore_total_tokens "
. "stop=\$agentcore_stop_reason';\n"
--- config eval
"access_log logs/error.log usage;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["counted"]]] [[usage in=11 out=22]]')
--- response_body eval
qq{data: "counted"\n\n}
--- error_log
agentcore-usage in=11 out=22 total=33 stop=end_turn



=== TEST 15: the headers sent: x-api-key, anthropic-version, no Authorization, no SigV4
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body_like eval
qr{\A(?!.*x-amz)(?!.*^authorization)(?=.*^:path: /v1/messages$)(?=.*^anthropic-version: 2023-06-01$)(?=.*^x-api-key: \[redacted\]$)(?=.*^content-type: application/json$)}sm



=== TEST 16: a session's history goes on: the second request carries the first exchange in Anthropic's shape, max_tokens 4096
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\nagentcore_system_prompt \"Be brief.\";\n" . $main::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-anthropic-0123456789abcdef01234567
--- request eval
[AgentCore::Test::invoke('first'), AgentCore::Test::invoke('[[echo]] second')]
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body_like eval
[qr/\AHello! You said: first\z/,
 qr/\A\{"model":"claude-sonnet-4-5","max_tokens":4096,"system":"Be brief.","messages":\[\{"role":"user","content":\[\{"type":"text","text":"first"\}\]\},\{"role":"assistant","content":\[\{"type":"text","text":"Hello! You said: first"\}\]\},\{"role":"user","content":\[\{"type":"text","text":"\[\[echo\]\] second"\}\]\}\],"tools":\[.*\],"stream":true\}\z/]



=== TEST 25: a prompt with a document: a 400 naming the block (text only for this provider)
--- request eval
"POST /invocations\n" . '{"prompt": [{"document": {"format": "txt", "name": "notes", "source": {"bytes": "aGVsbG8="}}}, {"text": "summarize"}]}'
--- error_code: 400
--- response_body eval
qq{{"error":"Invalid prompt","details":"prompt[0] (document): agentcore_provider anthropic sends text blocks only"}}
