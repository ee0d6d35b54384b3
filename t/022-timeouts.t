# Limits in time, none of them in the reference and all off by default:
# agentcore_invocation_timeout ends the stream with a stream_error naming
# it (a 504 JSON error before the stream starts), agentcore_tool_timeout
# gives the model an error result for each call still running, and
# agentcore_heartbeat sends ": keep-alive\n\n" while nothing else goes.
# The limits are 100 to 500 ms; the tests wait for responses and log
# lines, never for time.

use lib 't/lib';
use AgentCore::Test 'tool_module';
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

# a location tool that never answers: the emulator reads its request
# and says nothing (proxy_read_timeout is 60 s)
our $SlowTool = <<'_EOC_';
agentcore_tool slow /internal/slow "Slow";
location = /internal/slow {
    proxy_pass http://bedrock/model/x/converse-stream;
    proxy_set_header Authorization "Bearer $TEST_NGINX_BEDROCK_BEARER";
    proxy_set_body '{"messages":[{"role":"user","content":[{"text":"[[hang-accept]]"}]}]}';
}
_EOC_

# the first block's cap: under valgrind the model's first event takes
# longer than 300 ms
our $Cap = $ENV{TEST_NGINX_USE_VALGRIND} ? '3s' : '300ms';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the invocation's cap while the model streams
The model sends "Hello" and hangs; the cap ends the call (its upstream
connection is closed) and the stream.
--- config eval
"agentcore_invocation_timeout $main::Cap;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- response_body eval
qq{data: "Hello"\n\n}
. qq{data: {"error": "The invocation timed out after $main::Cap (agentcore_invocation_timeout)", "type": "stream_error"}\n\n}
--- error_log eval
[qq{agentcore: stream_error: "The invocation timed out after $main::Cap (agentcore_invocation_timeout)"},
 "close http upstream connection"]
--- no_error_log
upstream timed out



=== TEST 2: the invocation's cap while a tool runs
The tool is given up (its upstream connection closed) and no model call
follows.
--- config eval
"agentcore_invocation_timeout 400ms;\n" . $main::SlowTool
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- response_body eval
qq{data: {"error": "The invocation timed out after 400ms (agentcore_invocation_timeout)", "type": "stream_error"}\n\n}
--- error_log
http upstream request: "/internal/slow?"
close http upstream connection
--- grep_error_log eval: qr/agentcore model call #\d+/
--- grep_error_log_out
agentcore model call #1



=== TEST 3: the invocation's cap during the wait before a retry
Throttled, the retry would come 5 s later: the cap comes first, and the
wait is cancelled with the stream.
--- config eval
"agentcore_invocation_timeout 300ms;\n"
. "agentcore_retries throttle=3 delay=5s;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[http status=429]]')
--- response_body eval
qq{data: {"error": "The invocation timed out after 300ms (agentcore_invocation_timeout)", "type": "stream_error"}\n\n}
--- error_log
retry 1 of 2 in 5s
--- no_error_log
the retry is cancelled



=== TEST 4: in seconds, the value is written back in seconds
--- config eval
"agentcore_invocation_timeout 1s;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- response_body eval
qq{data: "Hello"\n\n}
. qq{data: {"error": "The invocation timed out after 1s (agentcore_invocation_timeout)", "type": "stream_error"}\n\n}



=== TEST 5: within the cap nothing changes
--- config eval
"agentcore_invocation_timeout 10s;\nagentcore_tool_timeout 10s;\n"
. "agentcore_heartbeat 10s;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["a","b"]]]')
--- response_body eval
qq{data: "a"\n\ndata: "b"\n\n}



=== TEST 6: $agentcore_error_type and $agentcore_error name the cap
--- http_config eval
$AgentCore::Test::HttpConfig
. qq{log_format et "error_type=\$agentcore_error_type error=\$agentcore_error";\n}
--- config eval
"agentcore_invocation_timeout 200ms;\n"
. "access_log logs/et.log et;\n"
. "location = /et.log { access_log off; root logs; }\n"
. $AgentCore::Test::Config
--- request eval
[AgentCore::Test::invoke('[[hang]]'), "GET /et.log"]
--- response_body eval
[qq{data: "Hello"\n\n}
 . qq{data: {"error": "The invocation timed out after 200ms (agentcore_invocation_timeout)", "type": "stream_error"}\n\n},
 "error_type=invocation_timeout error=The invocation timed out after 200ms (agentcore_invocation_timeout)\n"]



=== TEST 7: the metrics count the cap as a stream_error of its own type
--- config eval
"agentcore_invocation_timeout 200ms;\n"
. "location = /metrics { agentcore_metrics; }\n"
. $AgentCore::Test::Config
--- request eval
[AgentCore::Test::invoke('[[hang]]'), "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return "-" if $body !~ /^# HELP/;
    return CORE::join "\n",
        grep { /^agentcore_(?:invocations|stream_errors)_total\{/ && !/ 0$/ }
        split /\n/, $body;
}
--- response_body eval
["-",
 qq{agentcore_invocations_total{outcome="stream_error"} 1\n}
 . qq{agentcore_stream_errors_total{type="invocation_timeout"} 1}]



=== TEST 8: a session after the cap: the next prompt works, the tool call interrupted
The first invocation is cut while its tool runs; the session keeps the
turn, and the next one sends its unanswered toolUse with Strands'
"Tool was interrupted." result.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\nagentcore_invocation_timeout 400ms;\n"
. $main::SlowTool . $AgentCore::Test::Config
--- more_headers: X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-0123456789abcdef0123456789abcdef
--- request eval
[AgentCore::Test::invoke('[[tool name=slow input={}]]'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
sub {
    my $text = AgentCore::Test::sse_text(shift);
    return $text if $text !~ /\A\{"messages"/;
    my $req = JSON::PP->new->utf8->decode($text);
    return CORE::join ' | ', map {
        my $m = $_;
        "$m->{role}: " . CORE::join ' + ', map {
            exists $_->{text} ? $_->{text}
            : exists $_->{toolUse} ? "toolUse $_->{toolUse}{name}"
            : "toolResult $_->{toolResult}{status} "
              . CORE::join('', map { $_->{text} // '' }
                               @{ $_->{toolResult}{content} })
        } @{ $m->{content} }
    } @{ $req->{messages} };
}
--- response_body eval
["[stream_error: The invocation timed out after 400ms (agentcore_invocation_timeout)]",
 "user: [[tool name=slow input={}]] | assistant: toolUse slow"
 . " | user: toolResult error Tool was interrupted. + [[echo]]"]



=== TEST 9: a tool past agentcore_tool_timeout: an error result, the loop goes on
--- config eval
"agentcore_tool_timeout 300ms;\n" . $main::SlowTool . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: Error: the tool call timed out after 300ms (agentcore_tool_timeout)
--- error_log
agentcore tool "slow" (
: the tool call timed out after 300ms (agentcore_tool_timeout)
close http upstream connection
--- grep_error_log eval: qr/agentcore model call #\d+/
--- grep_error_log_out
agentcore model call #1
agentcore model call #2



=== TEST 10: only the calls still running time out
Two calls in one turn: the fast one's result stands.
--- config eval
"agentcore_tool_timeout 300ms;\nagentcore_tools reverse;\n"
. $main::SlowTool . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"reverse","input":{"text":"ab"}},{"name":"slow","input":{}}]]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: ba | Error: the tool call timed out after 300ms (agentcore_tool_timeout)



=== TEST 11: a module's tool that answers after its timeout: the result is dropped
"later" answers 300 ms after it starts, 200 ms after it was given up,
while the model still streams the next answer (50 ms between words):
its result is dropped, not taken as a second one.
--- config eval
"agentcore_tool_timeout 100ms;\nagentcore_tools later;\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=later input={"ms":300}]] [[delay ms=50]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: Error: the tool call timed out after 100ms (agentcore_tool_timeout)
--- error_log
a result after the timeout, dropped
--- no_error_log
completed twice



=== TEST 12: the calculator's thread and its queue, given up
A solve of about 0.4 s runs in the thread pool, a second call waits for
it in the queue: both are given up at 100 ms.  The solve runs to its
end, and so does the second call after it; their results find the calls
given up while the model streams its next answer (100 ms between words).
--- config eval
"agentcore_tool_timeout 100ms;\nagentcore_tools calculator;\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"calculator","input":'
    . '{"mode":"solve","expression":"'
    . CORE::join('+', map { ($_ % 2 ? 'sin' : 'cos') . "($_*x)" } 1 .. 20)
    . '"}},{"name":"calculator","input":{"expression":"2+2"}}]]] [[delay ms=100]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: Error: the tool call timed out after 100ms (agentcore_tool_timeout) | Error: the tool call timed out after 100ms (agentcore_tool_timeout)
--- error_log
a result after the timeout, dropped
--- no_error_log
completed twice
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}



=== TEST 13: heartbeats while a tool runs
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_tool_timeout 450ms;\n"
. $main::SlowTool . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- response_body_like eval
qr/\A(?:: keep-alive\n\n){2,}data: "Tool"\n\ndata: " said:"\n\n(?:data: "[^"]*"\n\n)+\z/



=== TEST 14: a heartbeat is not the first event: $agentcore_ttfb_ms waits for the event
The first event comes after the tool's 450 ms, heartbeats before it.
--- http_config eval
$AgentCore::Test::HttpConfig
. qq{log_format ttfb "ttfb=\$agentcore_ttfb_ms";\n}
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_tool_timeout 450ms;\n"
. "access_log logs/ttfb.log ttfb;\n"
. "location = /ttfb.log { access_log off; root logs; }\n"
. $main::SlowTool . $AgentCore::Test::Config
--- request eval
[AgentCore::Test::invoke('[[tool name=slow input={}]]'), "GET /ttfb.log"]
--- response_body_filters eval
sub {
    my $body = shift;
    return $body =~ /\Attfb=(\d+)\n\z/
           ? ($1 >= 450 ? "ttfb at least 450" : "ttfb $1") : "-";
}
--- response_body eval
["-", "ttfb at least 450"]



=== TEST 15: heartbeats while the model is silent, none after the end
"slow" sends its two deltas 350 ms apart.
--- config eval
"agentcore_heartbeat 100ms;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[slow ms=350 n=2]]')
--- response_body_like eval
qr/\A(?:: keep-alive\n\n)*data: "tok1 "\n\n(?:: keep-alive\n\n){2,}data: "tok2 "\n\n\z/



=== TEST 16: no heartbeat by default
--- request eval
AgentCore::Test::invoke('[[slow ms=350 n=2]]')
--- response_body eval
qq{data: "tok1 "\n\ndata: "tok2 "\n\n}



=== TEST 17: heartbeats with agentcore_sse_coalesce
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_sse_coalesce on;\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[slow ms=350 n=2]]')
--- response_body_like eval
qr/\A(?:: keep-alive\n\n)*data: "tok1 "\n\n(?:: keep-alive\n\n){2,}data: "tok2 "\n\n\z/



=== TEST 18: heartbeats until the invocation's cap
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_invocation_timeout 500ms;\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- response_body_like eval
qr/\A(?:: keep-alive\n\n)*data: "Hello"\n\n(?:: keep-alive\n\n)+data: \{"error": "The invocation timed out after 500ms \(agentcore_invocation_timeout\)", "type": "stream_error"\}\n\n\z/



=== TEST 19: never in a JSON answer
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_invocation_timeout 100ms;\n"
. $AgentCore::Test::Config
--- request
POST /invocations
{"prompt": 1}
--- error_code: 400
--- response_body: {"error":"Invalid payload","details":"expected a JSON object with a \"prompt\" that is a string or a list of content blocks"}



=== TEST 19b: a JSON answer: the cap is a 504, no heartbeat in the body
--- config eval
"agentcore_heartbeat 100ms;\nagentcore_invocation_timeout 400ms;\n"
. $main::SlowTool . $AgentCore::Test::Config
--- more_headers
Accept: application/json
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- error_code: 504
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"The invocation timed out after 400ms (agentcore_invocation_timeout)"}



=== TEST 20: a client that leaves: no timer fires after the request
The first client leaves while the model hangs; a second invocation, in
the same location and started later, hits the same cap: by its end the
first one's timers would have fired.  Only the second's stream_error is
logged.
--- config eval
"agentcore_invocation_timeout 300ms;\nagentcore_heartbeat 100ms;\n"
. "agentcore_tool_timeout 200ms;\n"
. $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $streaming = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[hang]]'), qr/data: "Hello"\n\n/);
my $closed = AgentCore::Test::wait_log($at,
    qr/client prematurely closed connection/,
    qr/close http upstream connection/);
my $second = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[hang]]'), qr/"type": "stream_error"/);
AgentCore::Test::report(
    'the first left while the model streamed: '
        . ($streaming && $closed ? 'yes' : 'no'),
    'the second hit the cap: ' . ($second ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the first left while the model streamed: yes
the second hit the cap: yes
--- grep_error_log eval: qr/agentcore: stream_error: "[^"]*"/
--- grep_error_log_out
agentcore: stream_error: "The invocation timed out after 300ms (agentcore_invocation_timeout)"



=== TEST 21: invalid values
--- config eval
"agentcore_tool_timeout soon;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
invalid value



=== TEST 22: "off" and 0 are no limit
--- config eval
"agentcore_invocation_timeout off;\nagentcore_tool_timeout 0;\n"
. "agentcore_heartbeat off;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[slow ms=200 n=2]]')
--- response_body eval
qq{data: "tok1 "\n\ndata: "tok2 "\n\n}



=== TEST 23: a tool call with no upstream to close: given up, what it sends later dropped
Another client's request holds the proxy_cache lock of the tool's
response (its upstream never answers, 1 s); the tool's subrequest waits
for the lock, with no connection of its own to close.  The model asks
for the tool every turn and each call is given up at 300 ms.  Once the
lock is free the subrequests of earlier turns go on, and the model
answers them: their bytes are dropped, not sent to the client (the
postpone filter would hold them, and the subrequest, with the
invocation's request, would never end: its access log line shows it
ended).
--- http_config eval
$AgentCore::Test::HttpConfig . "proxy_cache_path cache keys_zone=c:1m;\n"
--- config eval
my $cached = q{
    proxy_cache c;
    proxy_cache_key slow;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10s;
    proxy_method POST;
    proxy_pass http://bedrock/model/x/converse-stream;
    proxy_set_header Authorization "Bearer $TEST_NGINX_BEDROCK_BEARER";
    proxy_read_timeout 1s;
};
my $hang = q{proxy_set_body '{"messages":[{"role":"user","content":[{"text":"[[hang-accept]]"}]}]}';};
my $late = q{proxy_set_body '{"messages":[{"role":"user","content":[{"text":"late"}]}]}';};
qq{agentcore_tool_timeout 300ms;\nagentcore_max_cycles 4;\n}
. qq{agentcore_tool slow /internal/slow "Slow" method=GET;\n}
. qq{location = /internal/slow { $cached $late }\n}
. qq{location = /cached { $cached $hang }\n}
. qq{access_log logs/inv.log;\n}
. $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
require IO::Socket::INET;
my $holder = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => server_port()) or die;
print $holder "GET /cached HTTP/1.0\r\n\r\n";
my $held = AgentCore::Test::wait_log($at,
    qr{http upstream request: "/cached\?"});
my $streamed = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[tool-loop name=slow input={}]]'),
    qr/"type": "stream_error"\}\n\n/);
my $dropped = AgentCore::Test::wait_log($at,
    qr{agentcore: "/internal/slow" was given up: its output is dropped});
close $holder;
my $log = Test::Nginx::Util::server_root() . '/logs/inv.log';
my ($ended, $deadline) = (0, time + $AgentCore::Test::Wait);
until ($ended || time > $deadline) {
    $ended = (-s $log && `cat $log` =~ m{"POST /invocations}) ? 1 : 0;
    select undef, undef, undef, 0.02 unless $ended;
}
AgentCore::Test::report(
    'the lock was held: ' . ($held ? 'yes' : 'no'),
    'the stream ended: ' . ($streamed ? 'yes' : 'no'),
    'a late answer was dropped: ' . ($dropped ? 'yes' : 'no'),
    "the invocation's request ended: " . ($ended ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the lock was held: yes
the stream ended: yes
a late answer was dropped: yes
the invocation's request ended: yes
--- timeout: 15
