# agentcore_sse_coalesce: the events of one turn of the event loop go
# out as one chunk, and the head waits for the first of them.  The
# de-chunked stream is the same as without it.

use lib 't/lib';
use AgentCore::Test 'tool_module';
use Test::Nginx::Socket 'no_plan';

our $Coalesce = "agentcore_sse_coalesce on;\n" . $AgentCore::Test::Config;

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", $main::Coalesce);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the events of one read are one chunk; no flush of the head alone
The emulator writes the whole answer, head, frames and end, in one write
([[batch]]), so nginx reads it at once: the proxy has the body with the
head and never reads the upstream again (checked below).  Both events go
down the filters in one call (the chunked filter logs each buffer of
it), then the last chunk.  Without the directive (t/002 TEST 2) the head
is flushed first ("http chunk: 0") and each event is a call of its own.
--- request eval
AgentCore::Test::invoke('[[deltas texts=["ab", "cde"]]] [[batch]]')
--- response_headers
Content-Type: text/event-stream; charset=utf-8
Cache-Control: no-cache
X-Accel-Buffering: no
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body eval
qq{data: "ab"\n\ndata: "cde"\n\n}
--- grep_error_log eval: qr/agentcore sse: \d+ events in one chunk|http chunk: \d+/
--- grep_error_log_out
agentcore sse: 2 events in one chunk
http chunk: 12
http chunk: 13
http chunk: 0
--- no_error_log
[error]
http upstream process non buffered upstream



=== TEST 2: "off" in a location overrides "on" above it
--- config eval
"agentcore_sse_coalesce on;\n"
. "location = /exact { agentcore; agentcore_sse_coalesce off; }\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["ab", "cde"]]] [[batch]]', '/exact')
--- response_body eval
qq{data: "ab"\n\ndata: "cde"\n\n}
--- grep_error_log eval: qr/agentcore sse: \d+ events in one chunk|http chunk: \d+/
--- grep_error_log_out
http chunk: 0
http chunk: 12
http chunk: 13
http chunk: 0
--- no_error_log
[error]



=== TEST 3: a stream that fails before any event: 200, the head and the error
--- config eval
my $c = $main::Coalesce;
$c =~ s/(proxy_pass)/proxy_read_timeout 500ms;\n    $1/;
$c
--- request eval
AgentCore::Test::invoke('[[hang-headers]]')
--- error_code: 200
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- response_body eval
qq{data: {"error": "The model stream ended before the model finished (connection closed or timed out)", "type": "stream_error"}\n\n}
--- error_log
upstream timed out



=== TEST 4: held events leave before an error event, in order
The two deltas and the exception frame arrive in one read (the emulator
writes the head and every frame in one write, [[batch]]; no second read
of the upstream, checked below): the deltas are held for the turn, and
go down before the error event.
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]] [[batch]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (throttlingException) when calling the ConverseStream operation: Slow down", "type": "stream_error"}\n\n}
--- grep_error_log eval: qr/agentcore sse: \d+ events in one chunk/
--- grep_error_log_out
agentcore sse: 2 events in one chunk
--- no_error_log
http upstream process non buffered upstream



=== TEST 5: a tool cycle: the text of both model calls, in order
--- config eval
"agentcore_tools calculator;\n" . $main::Coalesce
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"2+1"} text="I\'ll calculate that."]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: I'll calculate that.Tool said: Result: 3
--- no_error_log
[error]
[warn]



=== TEST 6: HTTP/1.0: no chunks, the events as they are
No Transfer-Encoding in the head, and the body as it went on the wire
(no chunked decoding without the header): the events alone, no chunk
sizes, the end told by the close.
--- request eval
"POST /invocations HTTP/1.0\n" . '{"prompt": "[[deltas texts=[\"ab\", \"cde\"]]] [[batch]]"}'
--- raw_response_headers_unlike: (?i)transfer-encoding|content-length
--- raw_response_headers_like: \r\nConnection: close\r\n
--- response_body eval
qq{data: "ab"\n\ndata: "cde"\n\n}
--- grep_error_log eval: qr/http chunk: \d+/
--- grep_error_log_out
--- no_error_log
[error]



=== TEST 7: a long answer in many reads: every delta once, in order
--- request eval
AgentCore::Test::invoke('[[many n=300]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body eval
CORE::join '', map { "w$_ " } 1 .. 300
--- no_error_log
[error]



=== TEST 8: past postpone_output the held events go down at once
With postpone_output 0 every event is past it: each is passed down as
soon as it is made, one chunk each, as without the directive.
--- config eval
"postpone_output 0;\n" . $main::Coalesce
--- request eval
AgentCore::Test::invoke('[[deltas texts=["ab", "cde"]]] [[batch]]')
--- response_body eval
qq{data: "ab"\n\ndata: "cde"\n\n}
--- grep_error_log eval: qr/agentcore sse: \d+ events in one chunk/
--- grep_error_log_out
agentcore sse: 1 events in one chunk
agentcore sse: 1 events in one chunk
--- no_error_log
[error]
