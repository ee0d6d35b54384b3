# A JSON answer (issue 12 item 6): with "Accept: application/json" (or
# agentcore_response json), one application/json body holding the whole
# answer text, sent with a Content-Length once the agent loop has ended,
# as the reference runtime answers an entrypoint that returns the
# agent's text (json.dumps(text, ensure_ascii=False)); an error that
# would end the stream with a stream_error is the runtime's error
# response instead: a status and a compact {"error":...}, with the text
# so far as "partial".  unit/vectors/observe_json_answer.py records the
# reference's bytes.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $Json = "Accept: application/json";

our $Tools = "agentcore_tools calculator weather get_time;\n"
             . $AgentCore::Test::Config;

our $LogFormat = <<'_EOC_' . $AgentCore::Test::HttpConfig;
log_format agentcore_json 'agentcore-log status=$status outcome=$agentcore_outcome cycles=$agentcore_cycles retries=$agentcore_retries tools=$agentcore_tool_names stop=$agentcore_stop_reason type=$agentcore_error_type ttfb=$agentcore_ttfb_ms';
_EOC_

our $Log = "access_log logs/error.log agentcore_json;\n";

our $MaxTokens = "Model stopped generating due to maximum token limit. The partial message has been added to the conversation history. You can continue by calling the agent again. For more information see: https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception";

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->more_headers) {
        $block->set_value("more_headers", $main::Json);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the whole answer in one JSON string, with a Content-Length
The reference's returned str: application/json without a charset, a
Content-Length, not chunked; no SSE headers.
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hello", " world", "!"]]]')
--- response_headers
Content-Type: application/json
Content-Length: 14
!Transfer-Encoding
!Cache-Control
!X-Accel-Buffering
--- raw_response_headers_unlike: chunked
--- response_body eval
qq{"Hello world!"}
--- no_error_log
[error]
[warn]



=== TEST 2: escaping as json.dumps(ensure_ascii=False), UTF-8 raw
The reference gave the same bytes for a returned str (raw UTF-8, lower
case \u00xx, DEL and U+2028 raw, "/" not escaped).
--- request eval
AgentCore::Test::invoke('[[deltas texts=["héllo 世界 😀 ", "a\nb\t\"q\"\\\\ /", "\r\b\f", "\u0001\u001f\u007f", "\u2028", ""]]]')
--- response_body eval
qq{"h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 }
. qq{a\\nb\\t\\"q\\"\\\\ /\\r\\b\\f\\u0001\\u001f\x7f\xe2\x80\xa8"}
--- no_error_log
[error]



=== TEST 3: a tool cycle: the text of both model calls, one body
--- config eval
$main::Tools
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"2+1"} text="I\'ll calculate that."]]')
--- response_headers
Content-Type: application/json
Content-Length: 42
--- response_body: "I'll calculate that.Tool said: Result: 3"
--- no_error_log
[error]
[warn]



=== TEST 4: two tools in one turn
--- config eval
$main::Tools
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"weather","input":{}},{"name":"calculator","input":{"expression":"6*7"}},{"name":"weather","input":{}}]]]')
--- response_body: "Tool said: sunny | Result: 42 | sunny"
--- no_error_log
[error]



=== TEST 5: agentcore_response: json for any Accept, sse for any; inherited
The server level says json, which /invocations inherits (no Accept, and
then "text/event-stream" too); /sse says sse (with Accept:
application/json).
--- config eval
"agentcore_response json;\n" . $AgentCore::Test::Config
. "location = /sse { agentcore; agentcore_response sse; }\n"
--- more_headers eval
["", "Accept: text/event-stream", $main::Json]
--- request eval
[AgentCore::Test::invoke('[[deltas texts=["a", "b"]]]'),
 AgentCore::Test::invoke('[[deltas texts=["a", "b"]]]'),
 AgentCore::Test::invoke('[[deltas texts=["a", "b"]]]', '/sse')]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json",
 "Content-Type: text/event-stream; charset=utf-8"]
--- response_body eval
[qq{"ab"}, qq{"ab"}, qq{data: "a"\n\ndata: "b"\n\n}]



=== TEST 6: Accept variants under agentcore_response auto (the default)
SSE for: none, text/event-stream, */*, a lower q for JSON, equal
preferences (agentcore-invoke's "text/event-stream, application/json"),
JSON refused (q=0), neither named; JSON for: application/json with
parameters, a higher q than SSE's, named where SSE is only * / *,
application/*, and a second Accept line.
--- more_headers eval
["",
 "Accept: text/event-stream",
 "Accept: */*",
 "Accept: application/json;q=0.5, text/event-stream",
 "Accept: text/event-stream, application/json",
 "Accept: application/json;q=0, */*",
 "Accept: text/html",
 "Accept: Application/JSON; charset=utf-8",
 "Accept: text/event-stream;q=0.5, application/json",
 "Accept: application/json, text/plain, */*",
 "Accept: application/*",
 "Accept: text/html\r\nAccept: application/json;q=0.9"]
--- request eval
[map { AgentCore::Test::invoke('[[deltas texts=["x"]]]') } 1 .. 12]
--- response_body eval
[(qq{data: "x"\n\n}) x 7, (qq{"x"}) x 5]
--- no_error_log
[error]



=== TEST 7: a model error before any text: the status by its type
Retries off (the suites' default): a 429 stays a 429, Bedrock's
ValidationException is a 502 (the model refused what the module sent),
a model location that never answers a 504.
--- config eval
my $c = $AgentCore::Test::Config;
$c =~ s/(proxy_pass)/proxy_read_timeout 300ms;\n    $1/;
$c
--- request eval
[AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again."]]'),
 AgentCore::Test::invoke('[[http status=400 message="Bad input"]]'),
 AgentCore::Test::invoke('[[hang-accept]]')]
--- error_code eval
[429, 502, 504]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json",
 "Content-Type: application/json"]
--- response_body eval
[q{{"error":"An error occurred (ThrottlingException) when calling the ConverseStream operation: Too many requests, please wait before trying again."}},
 q{{"error":"An error occurred (ValidationException) when calling the ConverseStream operation: Bad input"}},
 q{{"error":"The model endpoint timed out (HTTP 504)"}}]



=== TEST 8: an error after some text: 502, the text so far as "partial"
--- request eval
AgentCore::Test::invoke('[[exception type=internalServerException message="boom"]]')
--- error_code: 502
--- response_headers
Content-Type: application/json
Content-Length: 131
--- response_body eval
q{{"error":"An error occurred (internalServerException) when calling the ConverseStream operation: boom","partial":"Partial answer "}}
--- error_log
agentcore: stream_error: "An error occurred (internalServerException)



=== TEST 9: max_tokens: 500 with the reference's message and the text
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Partial \"cut"]]] [[max-tokens]]')
--- error_code: 500
--- response_body eval
qq{{"error":"$main::MaxTokens","partial":"Partial \\"cut"}}



=== TEST 10: agentcore_max_cycles: 500, the text of every cycle kept
--- config eval
"agentcore_max_cycles 2;\n" . $main::Tools
--- request eval
AgentCore::Test::invoke('[[tool-loop]]')
--- error_code: 500
--- response_body eval
q{{"error":"The agent stopped after 2 model calls (agentcore_max_cycles)","partial":"Cycle 1. Cycle 2. "}}



=== TEST 11: agentcore_response_max_size bounds the answer
11 bytes of text against a limit of 10: the model call stops at the
delta that would pass it, and the answer is a 500 naming the limit.
--- http_config eval
$main::LogFormat
--- config eval
"agentcore_response_max_size 10;\n" . $main::Log . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["Hello", " world"]]]')
--- error_code: 500
--- response_body eval
q{{"error":"The answer is larger than agentcore_response_max_size (10 bytes)","partial":"Hello"}}
--- error_log
agentcore: the answer is larger than agentcore_response_max_size (10 bytes)
agentcore-log status=500 outcome=stream_error cycles=1 retries=0 tools=- stop=- type=response_too_large



=== TEST 12: the log variables and the request id, as with SSE
--- http_config eval
$main::LogFormat
--- config eval
$main::Log . $main::Tools
--- more_headers
Accept: application/json
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-json-12
--- request eval
AgentCore::Test::invoke('[[tool name=weather input={} text="Checking."]]')
--- response_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-json-12
--- response_body: "Checking.Tool said: sunny"
--- error_log eval
qr/agentcore-log status=200 outcome=ok cycles=2 retries=0 tools=weather stop=end_turn type=- ttfb=\d+/



=== TEST 13: a throttled call after its text is retried: nothing was sent
With SSE the text already sent makes the module give up (017-retries.t);
a JSON answer drops the call's text and makes the call again.
--- http_config eval
$main::LogFormat =~ s/agentcore_retries off;/agentcore_retries throttle=3 delay=10ms;/r
--- config eval
$main::Log . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down" times=1 id=json13]] [[deltas texts=["ok"]]]')
--- response_body: "ok"
--- error_log
agentcore: model call throttled (ThrottlingException), retry 1 of 2 in 10ms
agentcore-log status=200 outcome=ok cycles=2 retries=1
--- no_error_log
not retried



=== TEST 14: a session's history goes on across JSON answers
The second prompt's model request (echoed) holds the first exchange.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\n" . $AgentCore::Test::Config
--- more_headers
Accept: application/json
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-json-0123456789abcdef0123456789
--- request eval
[AgentCore::Test::invoke('first'), AgentCore::Test::invoke('[[echo]] second')]
--- response_body_like eval
[qr/\A"Hello! You said: first"\z/,
 qr/\A"\{\\"messages\\":\[\{\\"role\\":\\"user\\",\\"content\\":\[\{\\"text\\":\\"first\\"\}\]\},\{\\"role\\":\\"assistant\\",\\"content\\":\[\{\\"text\\":\\"Hello! You said: first\\"\}\]\},\{\\"role\\":\\"user\\",/]



=== TEST 15: HEAD and GET are 405 as before, whatever the Accept
--- request eval
["HEAD /invocations", "GET /invocations"]
--- error_code eval
[405, 405]
--- response_headers eval
["Allow: POST", "Allow: POST"]
--- response_body eval
["", "Method Not Allowed"]



=== TEST 16: errors before the loop keep their shape and status
--- request eval
["POST /invocations\nnot json", 'POST /invocations
{"nope": 1}']
--- error_code eval
[400, 400]
--- response_body eval
[q{{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}},
 q{{"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}}]



=== TEST 17: a client that leaves while the answer is buffered
The model sends "Hello" and hangs; nothing reaches the client, which
leaves once nginx has read that delta: the model call is cancelled and
the request's memory freed (no alert, no leak under valgrind).
--- config eval
"agentcore_response json;\n" . $AgentCore::Test::Config
. $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $read = AgentCore::Test::abort_when(
    "POST /invocations\n" . '{"prompt": "[[hang]]"}',
    sub { AgentCore::Test::wait_log($at, qr/agentcore json: 5 bytes of answer/) });
my $closed = AgentCore::Test::wait_log($at,
    qr/client prematurely closed connection/,
    qr/close http upstream connection/);
AgentCore::Test::report(
    'the model streamed when the client left: ' . ($read ? 'yes' : 'no'),
    'the upstream connection closed: ' . ($closed ? 'yes' : 'no'));
--- more_headers
--- request
GET /report
--- response_body
the model streamed when the client left: yes
the upstream connection closed: yes
--- error_log
client prematurely closed connection
close http upstream connection



=== TEST 18: a session busy with another invocation: 409
The first invocation of session s1 (its model hangs after "Hello") holds
the session while the second asks; the second gets the reference's
concurrent-invocation message as a 409, then the first client leaves.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_response json;\nagentcore_session s;\nagentcore_session_key \$arg_sid;\n"
. $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $second = '';
my $sid = 'json-busy-0123456789abcdef0123456789';
AgentCore::Test::abort_when(
    "POST /invocations?sid=$sid\n" . '{"prompt": "[[hang]]"}',
    sub {
        AgentCore::Test::wait_log($at, qr/agentcore json: 5 bytes of answer/)
            or return 0;
        my $s = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => Test::Nginx::Util::server_port(),
            Proto => 'tcp') or die "connect: $!\n";
        my $body = '{"prompt": "hi"}';
        print $s "POST /invocations?sid=$sid HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Length: " . length($body)
            . "\r\n\r\n$body";
        local $/;
        $second = <$s> // '';
        close $s;
        return 1;
    });
my ($status) = $second =~ m{\AHTTP/1\.1 (\d+)};
my ($type) = $second =~ m{\r\nContent-Type: ([^\r]*)\r\n}i;
my ($body) = $second =~ m{\r\n\r\n(.*)\z}s;
AgentCore::Test::report("status=" . ($status // '-'),
                        "type=" . ($type // '-'), $body // '-');
--- more_headers
--- request
GET /report
--- response_body
status=409
type=application/json
{"error":"Agent is already processing a request. Concurrent invocations are not supported."}



=== TEST 19: agentcore_response takes auto, sse or json
--- config eval
"agentcore_response stream;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
invalid value "stream"



=== TEST 20: the metrics count JSON answers as they count streams
Two answers (one with a tool call) and a max_tokens error, then the
scrape: outcomes ok and stream_error, the error's type, the tokens, the
tool call and the time to the first byte of each body.
--- config eval
"agentcore_tools weather;\n" . $AgentCore::Test::Config
. "location = /metrics { agentcore_metrics; }\n"
--- request eval
[AgentCore::Test::invoke('[[usage in=11 out=7]] hi'),
 AgentCore::Test::invoke('[[deltas texts=["cut"]]] [[max-tokens]] [[usage in=5 out=1]]'),
 AgentCore::Test::invoke('[[usage in=100 out=20]] [[tool name=weather input={}]]'),
 "GET /metrics"]
--- error_code eval
[200, 500, 200, 200]
--- response_body_like eval
[qr/\A"Hello! You said: hi"\z/, qr/\A\{"error":"Model stopped [^"]*","partial":"cut"\}\z/,
 qr/\A"Tool said: sunny"\z/,
 qr/(?=.*^agentcore_invocations_total\{outcome="ok"\} 2$)(?=.*^agentcore_invocations_total\{outcome="stream_error"\} 1$)(?=.*^agentcore_invocations_total\{outcome="5xx"\} 0$)(?=.*^agentcore_stream_errors_total\{type="max_tokens"\} 1$)(?=.*^agentcore_ttfb_seconds_count 3$)(?=.*^agentcore_tokens_total\{model="[^"]+",type="input"\} 216$)(?=.*^agentcore_tool_calls_total\{tool="weather",outcome="success"\} 1$)/ms]
