# agentcore_provider openai: the same loop, tools and SSE output against
# an OpenAI-compatible Chat Completions endpoint (the emulator's
# /v1/chat/completions, which plays the same scenarios in OpenAI's
# streaming format).  The emulator refuses a request that carries SigV4
# headers (X-Amz-Date, X-Amz-Security-Token) or lacks the bearer key, so
# every answer below also shows that none was sent and the key was.

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_MCP_A} = AgentCore::Mcp::start(name => 'a', page_size => 100);

our $Model = <<'_EOC_';
location = /_agentcore/openai {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_openai_params;
    proxy_pass http://bedrock/v1/chat/completions;
}
_EOC_

our $Invocations = <<'_EOC_';
agentcore_model_location /_agentcore/openai;
agentcore_provider openai;
agentcore_model llama3.2;
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



=== TEST 2: the calculator: a tool cycle (the tool_calls, then the role "tool" result)
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"2+1"} text="I\'ll calculate that."]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: I'll calculate that.Tool said: Result: 3
--- no_error_log
[error]
[warn]



=== TEST 3: two tools in one turn (index 0 and 1): results in the order asked
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"weather","input":{}},{"name":"calculator","input":{"expression":"6*7"}},{"name":"weather","input":{}}]]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: sunny | Result: 42 | sunny
--- no_error_log
[error]



=== TEST 4: an error event after some text: the stream_error Bedrock's throttlingException gives (t/004-model-errors.t TEST 3)
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (throttlingException) when calling the ConverseStream operation: Slow down", "type": "stream_error"}\n\n}
--- error_log
agentcore: stream_error: "An error occurred (throttlingException)



=== TEST 5: HTTP 429 with OpenAI's error body: the text of Bedrock's ThrottlingException (t/004-model-errors.t TEST 1)
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again."]]')
--- error_code: 200
--- response_body eval
qq{data: {"error": "An error occurred (ThrottlingException) when calling the ConverseStream operation: Too many requests, please wait before trying again.", "type": "stream_error"}\n\n}



=== TEST 6: a stream cut in the middle of an event
--- request eval
AgentCore::Test::invoke('[[truncate]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "The model stream ended in the middle of a message (connection closed or timed out)", "type": "stream_error"}\n\n}



=== TEST 7: a wrong key: the server's 401 as a stream_error
--- config eval
"agentcore_model_api_key not-the-key;\n" . $main::Invocations . $main::Model
--- request eval
AgentCore::Test::invoke('hello')
--- response_body eval
qq{data: {"error": "An error occurred (AccessDeniedException) when calling the ConverseStream operation: Incorrect API key provided.", "type": "stream_error"}\n\n}
--- no_error_log
not-the-key



=== TEST 8: no key: no Authorization header (the emulator wants one here)
--- config eval
$main::Invocations . $main::Model
--- request eval
AgentCore::Test::invoke('hello')
--- response_body_like: Incorrect API key provided



=== TEST 9: the key from a variable is sent and never logged, at debug level either
nginx's script engine and the proxy module would both log it at debug
level: the module pauses debug logging while it reads the key and while
the model request is sent.
--- http_config eval
$AgentCore::Test::HttpConfig
. "map \$host \$model_key { default $ENV{TEST_NGINX_BEDROCK_BEARER}; }\n"
--- config eval
"agentcore_model_api_key \$model_key;\n" . $main::Invocations
. $main::Model
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hi"]]]')
--- response_body eval
qq{data: "Hi"\n\n}
--- error_log
agentcore: debug logging paused while the model request is sent
--- no_error_log eval
[$ENV{TEST_NGINX_BEDROCK_BEARER}, "[error]"]



=== TEST 10: the key from a file (file:, relative to the configuration's directory)
--- user_files eval
">>> key.txt\n$ENV{TEST_NGINX_BEDROCK_BEARER}\n"
--- config eval
"agentcore_model_api_key file:../html/key.txt;\n" . $main::Invocations
. $main::Model
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hi"]]]')
--- response_body eval
qq{data: "Hi"\n\n}
--- no_error_log eval
[$ENV{TEST_NGINX_BEDROCK_BEARER}, "[error]"]



=== TEST 11: the client goes away while the model streams: the upstream connection closes (t/007-abort.t TEST 1)
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



=== TEST 12: agentcore_provider is inherited, and a location may go back to bedrock
--- config eval
"agentcore_provider openai;\n"
. "agentcore_model_api_key $ENV{TEST_NGINX_BEDROCK_BEARER};\n"
. "agentcore_region us-east-1;\n"
. "location = /a { agentcore_model_location /_agentcore/openai; agentcore; }\n"
. "location = /b { agentcore_provider bedrock;"
. " agentcore_model_location /_agentcore/bedrock; agentcore; }\n"
. $main::Model . $AgentCore::Test::ModelLocation
--- request eval
[AgentCore::Test::invoke('[[deltas texts=["openai"]]]', '/a'),
 AgentCore::Test::invoke('[[deltas texts=["bedrock"]]]', '/b')]
--- response_body eval
[qq{data: "openai"\n\n}, qq{data: "bedrock"\n\n}]
--- no_error_log
[error]



=== TEST 13: an unknown provider fails the configuration
--- config
agentcore_provider gemini;
--- must_die
--- error_log
invalid value "gemini"



=== TEST 14: no SigV4 even through the Bedrock params file (X-Amz-Date, X-Amz-Security-Token stay empty: not sent)
The emulator refuses a request to /v1/chat/completions that carries
X-Amz-Date or X-Amz-Security-Token.
--- main_config
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN=a-session-token;
--- config eval
"agentcore_model_api_key $ENV{TEST_NGINX_BEDROCK_BEARER};\n"
. $main::Invocations . <<'_EOC_'
location = /_agentcore/openai {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_bedrock_params;
    proxy_pass http://bedrock/v1/chat/completions;
}
_EOC_
--- request eval
AgentCore::Test::invoke('[[deltas texts=["unsigned"]]]')
--- response_body eval
qq{data: "unsigned"\n\n}
--- no_error_log
[error]



=== TEST 15: no AWS credentials are needed (a Bedrock location without any answers "No AWS credentials")
--- config eval
"agentcore_credentials imds;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["no AWS"]]]')
--- response_body eval
qq{data: "no AWS"\n\n}



=== TEST 16: HTTP 429 is retried as Bedrock's throttling is (agentcore_retries)
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="slow" times=1 id=o429]] [[deltas texts=["after 429"]]]')
--- response_body eval
qq{data: "after 429"\n\n}
--- error_log
agentcore: model call throttled (HTTP 429), retry 1 of 5 in 10ms



=== TEST 17: a rate_limit error event before any text is retried as Bedrock's throttlingException is
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="slow" deltas=0 times=1 id=oexc]] [[deltas texts=["after the event"]]]')
--- response_body eval
qq{data: "after the event"\n\n}
--- error_log
agentcore: model call throttled (ThrottlingException), retry 1 of 5 in 10ms



=== TEST 18: HTTP 503 is retried as a Bedrock 5xx is
--- config eval
"agentcore_retries delay=10ms error_delay=10ms;\n" . $main::Config
--- request eval
AgentCore::Test::invoke('[[http status=503 times=1 id=o503]] [[deltas texts=["after 503"]]]')
--- response_body eval
qq{data: "after 503"\n\n}
--- error_log
agentcore: model call failed (HTTP 503), retry 1 of 2 in



=== TEST 19: usage from the last chunk (stream_options.include_usage) in the token variables
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



=== TEST 20: a key file that cannot be read fails the configuration
--- config eval
"agentcore_model_api_key file:/nonexistent/key;\n" . $main::Invocations
. $main::Model
--- must_die
--- error_log
open() "/nonexistent/key" failed



=== TEST 21: a key file of two lines fails the configuration (a key goes into a header)
--- user_files eval
">>> key2.txt\nfirst\nsecond\n"
--- config eval
"agentcore_model_api_key file:../html/key2.txt;\n" . $main::Invocations
. $main::Model
--- must_die
--- error_log
holds a control character



=== TEST 22: the headers sent: the bearer key, JSON, no SigV4, nothing of the client's
--- more_headers
Cookie: secret-cookie
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body_like eval
qr{\A(?!.*x-amz)(?!.*cookie)(?=.*^:path: /v1/chat/completions$)(?=.*^accept: text/event-stream$)(?=.*^authorization: Bearer \[redacted\]$)(?=.*^content-type: application/json$)}sm



=== TEST 23: a session's history goes on, and a JSON answer: the second request carries the first exchange in OpenAI's shape
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\nagentcore_system_prompt \"Be brief.\";\n" . $main::Config
--- more_headers
Accept: application/json
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-openai-0123456789abcdef0123456789
--- request eval
[AgentCore::Test::invoke('first'), AgentCore::Test::invoke('[[echo]] second')]
--- response_body_like eval
[qr/\A"Hello! You said: first"\z/,
 qr/\A"\{\\"model\\":\\"llama3.2\\",\\"messages\\":\[\{\\"role\\":\\"system\\",\\"content\\":\\"Be brief.\\"\},\{\\"role\\":\\"user\\",\\"content\\":\\"first\\"\},\{\\"role\\":\\"assistant\\",\\"content\\":\\"Hello! You said: first\\"\},\{\\"role\\":\\"user\\",\\"content\\":\\"\[\[echo\]\] second\\"\}\],\\"tools\\":\[.*\],\\"stream\\":true,\\"stream_options\\":\{\\"include_usage\\":true\}\}"\z/]



=== TEST 24: a tool of an MCP server (agentcore_mcp) through the OpenAI-compatible API
--- config eval
"agentcore_model_api_key $ENV{TEST_NGINX_BEDROCK_BEARER};\n"
. "agentcore_mcp a /_mcp/a;\n" . $main::Invocations . $main::Model
. "location = /_mcp/a { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_MCP_A/mcp; }\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"hi"}]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: a echo: hi [version 2025-06-18]



=== TEST 25: a prompt with an image: a 400 naming the block, not an answer without it
This provider's requests carry text only: the image would be dropped
and the model would answer without it.  Text blocks alone still go.
--- request eval
["POST /invocations\n" . '{"prompt": [{"text": "what is this?"}, {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwAD"}}}]}',
 "POST /invocations\n" . '{"prompt": [{"text": "[[deltas texts=[\"fine\"]]]"}]}']
--- error_code eval
[400, 200]
--- response_body eval
['{"error":"Invalid prompt","details":"prompt[1] (image): agentcore_provider openai sends text blocks only"}',
 qq{data: "fine"\n\n}]
