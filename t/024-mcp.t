# Tools of MCP servers (agentcore_mcp, issue 19): listing (paged), calls
# answered as JSON or SSE, isError, JSON-RPC errors, timeouts, oversized
# answers, a server that is down, a session that ends, two servers with
# a name in common.  The servers are emulator/mcp-test-server.py.

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_MCP_A} = AgentCore::Mcp::start(name => 'a', page_size => 3);
$ENV{TEST_NGINX_MCP_B} = AgentCore::Mcp::start(name => 'b', page_size => 100);
# a server TEST 20 stops
($ENV{TEST_NGINX_MCP_GONE}, our $GonePid) = AgentCore::Mcp::start(name => 'gone');
# its tools/list answers after 300 ms: invocations arrive while it lists
$ENV{TEST_NGINX_MCP_S} = AgentCore::Mcp::start(name => 's', page_size => 100,
                                               list_delay_ms => 300);

our $Mcp = <<'_EOC_';
location = /_mcp/a {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_A/mcp;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}
location = /_mcp/b {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_B/mcp;
}
location = /_mcp/impatient {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_A/mcp;
    proxy_read_timeout 300ms;
}
location = /_mcp/bearer {
    internal;
    proxy_set_header Authorization "Bearer mcp-token";
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_A/mcp;
}
location = /_mcp/s {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_S/mcp;
}
location = /_mcp/down {
    internal;
    proxy_pass http://127.0.0.1:9/mcp;
}
_EOC_

# the configuration with the directives of the invocation location
sub conf {
    my ($directives) = @_;

    return $main::Mcp . $AgentCore::Test::ModelLocation . <<"_EOC_";
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    agentcore;
$directives
}
_EOC_
}

sub send_req {
    my ($req) = @_;
    my ($line, $body) = split /\n/, $req, 2;
    my ($method, $uri) = split ' ', $line;

    require IO::Socket::INET;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => Test::Nginx::Util::server_port(),
        Proto => 'tcp') or die "connect: $!\n";

    $body //= '';
    print $sock "$method $uri HTTP/1.0\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

    return $sock;
}

# the whole answer's SSE text (bounded by $Wait)
sub answer {
    my ($sock) = @_;
    my $got = '';
    my $deadline = time + $AgentCore::Test::Wait;

    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next if !select($rin, undef, undef, 0.1);
        last if !sysread($sock, $got, 65536, length $got);
    }

    $got =~ s/\A.*?\r\n\r\n//s;
    return AgentCore::Test::sse_text($got);
}

sub count_log {
    my ($at, $re) = @_;
    my $f = AgentCore::Test::error_log_file();
    open my $in, '<', $f or return 0;
    seek $in, $at, 0;
    my $n = 0;
    while (<$in>) { $n++ if $_ =~ $re; }
    return $n;
}

# waits until $re has matched $n lines of the error log since $at
sub wait_count {
    my ($at, $re, $n) = @_;
    my $deadline = time + $AgentCore::Test::Wait;

    while (count_log($at, $re) < $n) {
        return 0 if time > $deadline;
        select(undef, undef, undef, 0.02);
    }

    return 1;
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the model calls a tool of an MCP server
The list is fetched at the first invocation (3 pages of 3 here), the
call carries the session and the negotiated protocol version.
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"hi"}]]')
--- response_body: Tool said: a echo: hi [version 2025-06-18]
--- error_log
agentcore mcp "a": 11 tools listed
agentcore mcp "a": 1 tools left out, the first: tool "bad.name" left out: its name is not 1 to 64
--- no_error_log
[error]



=== TEST 2: the tools are declared to the model, the result goes back
The second model request (answered with its own body, then=echo) holds
every tool of every page with its schema, and the tool result.
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"x"} then=echo]]')
--- response_body_like eval
qr/"toolResult":\{"toolUseId":"[^"]+","content":\[\{"text":"a echo: x \[version 2025-06-18\]"\}\],"status":"success"\}.*"toolConfig":\{"tools":\[\{"toolSpec":\{"name":"echo","description":"Echo a text","inputSchema":\{"json":\{"type":"object","properties":\{"text":\{"type":"string"\}\},"required":\["text"\]\}\}\}\},\{"toolSpec":\{"name":"echo_sse".*"name":"headers".*"name":"change"/s
--- no_error_log
[error]



=== TEST 3: an answer as an SSE stream (a notification first)
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=echo_sse input={"text":"streamed"}]]')
--- response_body: Tool said: a echo: streamed [version 2025-06-18]
--- no_error_log
[error]



=== TEST 4: isError is an error result
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=fail input={} then=echo]]')
--- response_body_like eval
qr/"content":\[\{"text":"it failed"\}\],"status":"error"/
--- no_error_log
[error]



=== TEST 5: a JSON-RPC error is an error result
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=rpc_error input={} then=echo]]')
--- response_body_like eval
qr/"content":\[\{"text":"Error: MCP error -32000: the tool broke"\}\],"status":"error"/
--- no_error_log
[error]



=== TEST 6: structured content: a json block (the text "5" says its only member)
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=add input={"a":2,"b":3}]]')
--- response_body: Tool said: {"sum":5}
--- no_error_log
[error]



=== TEST 7: a timeout (the location's proxy_read_timeout)
--- config eval
main::conf('agentcore_mcp a /_mcp/impatient;')
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={"ms":2000}]]')
--- response_body: Tool said: Error: MCP server "a" answered HTTP 504
--- error_log
upstream timed out



=== TEST 8: an answer larger than agentcore_tool_max_size
--- config eval
main::conf("agentcore_mcp a /_mcp/a;\nagentcore_tool_max_size 4k;")
--- request eval
AgentCore::Test::invoke('[[tool name=big input={"bytes":100000}]]')
--- response_body: Tool said: Error: the response of MCP server "a" is larger than agentcore_tool_max_size
--- no_error_log
[error]



=== TEST 9: a server that is down: the invocation goes on without it
The model asking for one of its tools gets "Unknown tool".
--- config eval
main::conf(qq{agentcore_tool local /local "Local";\nagentcore_mcp down /_mcp/down;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"x"}]]')
--- response_body: Tool said: Unknown tool: echo
--- error_log
agentcore mcp "down": the tools cannot be listed, the invocation goes on without them: MCP server "down" answered HTTP 502



=== TEST 10: two servers, a name in common: the second one's is prefixed
--- config eval
main::conf("agentcore_mcp a /_mcp/a;\nagentcore_mcp b /_mcp/b;")
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"b_echo","input":{"text":"2"}},{"name":"b_add","input":{"a":1,"b":1}}]]]')
--- response_body: Tool said: a echo: 1 [version 2025-06-18] | b echo: 2 [version 2025-06-18] | {"sum":2}
--- no_error_log
[error]



=== TEST 11: a name taken by a location tool; prefix= for every tool
--- config eval
main::conf(qq{agentcore_tool echo /local "Local echo";\nagentcore_mcp a /_mcp/a;\nagentcore_mcp b /_mcp/b prefix=bee_;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{}},{"name":"a_echo","input":{"text":"1"}},{"name":"bee_echo","input":{"text":"2"}},{"name":"add","input":{"a":1,"b":2}}]]]')
--- response_body: Tool said: local | a echo: 1 [version 2025-06-18] | b echo: 2 [version 2025-06-18] | {"sum":3}
--- no_error_log
[error]



=== TEST 12: the client's credentials stay out, the location's go in
--- config eval
main::conf("agentcore_mcp a /_mcp/a;\nagentcore_mcp t /_mcp/bearer prefix=t_;")
--- more_headers
Authorization: Bearer client-secret
Cookie: sid=client-cookie
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"headers","input":{}},{"name":"t_headers","input":{}}]]]')
--- response_body: Tool said: auth=None cookie=None x=None | auth=Bearer mcp-token cookie=None x=None
--- no_error_log
[error]



=== TEST 13: a session that ended (404) is initialized again, once
The first invocation ends every session of the server; the second one's
call gets 404, initializes again and is sent again (without that, its
result would be the error "MCP server "a" answered HTTP 404").
--- config eval
main::conf("agentcore_mcp a /_mcp/a;")
--- request eval
[AgentCore::Test::invoke('[[tool name=forget input={}]]'),
 AgentCore::Test::invoke('[[tool name=echo input={"text":"again"}]]')]
--- response_body eval
["Tool said: forgotten", "Tool said: a echo: again [version 2025-06-18]"]
--- no_error_log
[error]



=== TEST 14: configuration errors
--- config eval
main::conf("agentcore_mcp a /_mcp/a colour=blue;")
--- must_die
--- error_log
agentcore_mcp "a": unknown option "colour=blue"



=== TEST 15: a name Bedrock would refuse
--- config eval
main::conf("agentcore_mcp a.b /_mcp/a;")
--- must_die
--- error_log
invalid agentcore_mcp name "a.b"



=== TEST 16: invocations that arrive while the list is fetched wait for it
The first invocation lists the server (300 ms); a second one arrives
meanwhile and waits for that list rather than fetching its own.
--- config eval
main::conf("agentcore_mcp s /_mcp/s;") . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $one = main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]'));
my $listing = AgentCore::Test::wait_log($at, qr/agentcore mcp "s": request 2 id/);
my $two = main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]'));
my $waits = main::wait_count($at, qr/agentcore mcp "s": waiting for the list/, 2);
my ($a1, $a2) = (main::answer($one), main::answer($two));
AgentCore::Test::report(
    'listing: ' . ($listing ? 'yes' : 'no'),
    'the second one waits: ' . ($waits ? 'yes' : 'no'),
    "first: $a1",
    "second: $a2",
    'listed: ' . main::count_log($at, qr/agentcore mcp "s": \d+ tools listed/));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
listing: yes
the second one waits: yes
first: Tool said: s echo: 1 [version 2025-06-18]
second: Tool said: s echo: 2 [version 2025-06-18]
listed: 1
--- no_error_log
[error]



=== TEST 17: the invocation that lists goes away: the one waiting lists
--- config eval
main::conf("agentcore_mcp s /_mcp/s;") . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $one = main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]'));
my $listing = AgentCore::Test::wait_log($at, qr/agentcore mcp "s": request 2 id/);
my $two = main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]'));
my $waits = main::wait_count($at, qr/agentcore mcp "s": waiting for the list/, 2);
close $one;
my $a2 = main::answer($two);
AgentCore::Test::report(
    'listing: ' . ($listing ? 'yes' : 'no'),
    'the second one waits: ' . ($waits ? 'yes' : 'no'),
    "second: $a2",
    'lists sent: ' . main::count_log($at, qr/agentcore mcp "s": request 2 id/),
    'listed: ' . main::count_log($at, qr/agentcore mcp "s": \d+ tools listed/));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
listing: yes
the second one waits: yes
second: Tool said: s echo: 2 [version 2025-06-18]
lists sent: 2
listed: 1
--- no_error_log
[alert]



=== TEST 18: a stale list is listed again, the old one serving meanwhile
With refresh=1ms the second invocation finds the list stale: it lists
the server again in the background and calls the tool from the old list.
--- config eval
main::conf("agentcore_mcp a /_mcp/a refresh=1ms;") . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $a1 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]')));
my $a2 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]')));
my $again = main::wait_count($at, qr/agentcore mcp "a": \d+ tools listed/, 2);
AgentCore::Test::report("$a1", "$a2",
    'listed: ' . main::count_log($at, qr/agentcore mcp "a": \d+ tools listed/));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
Tool said: a echo: 1 [version 2025-06-18]
Tool said: a echo: 2 [version 2025-06-18]
listed: 2
--- no_error_log
[error]



=== TEST 19: a refresh that is no time
--- config eval
main::conf("agentcore_mcp a /_mcp/a refresh=soon;")
--- must_die
--- error_log
agentcore_mcp "a": invalid refresh "soon"



=== TEST 20: a server that goes away after listing: the call is an error
The first invocation lists the server and calls it; the server is then
stopped; the next invocation's call gets nginx's 502 as its error result.
--- config eval
main::conf("agentcore_mcp gone /_mcp/gone;")
. "location = /_mcp/gone { internal; proxy_pass http://127.0.0.1:\$TEST_NGINX_MCP_GONE/mcp; }\n"
. $AgentCore::Test::ReportLocation
--- init
my $a1 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]')));
AgentCore::Mcp::stop($main::GonePid);
my $a2 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]')));
AgentCore::Test::report("first: $a1", "second: $a2");
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
first: Tool said: gone echo: 1 [version 2025-06-18]
second: Tool said: Error: MCP server "gone" answered HTTP 502
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 21: MCP calls run concurrently with location tools
--- config eval
main::conf(qq{agentcore_tool local /local "Local";\nagentcore_mcp a /_mcp/a;\nagentcore_mcp b /_mcp/b;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"slow","input":{"ms":200}},{"name":"local","input":{}},{"name":"b_slow","input":{"ms":100}},{"name":"fail","input":{}}]]]')
--- response_body: Tool said: slept 200 | local | slept 100 | it failed
--- no_error_log
[error]



=== TEST 22: notifications/tools/list_changed: the list is fetched again
The call's SSE answer holds the notification; the next invocation lists
the tools again in the background (refresh=off: only the notification
can cause it), and the one after does not.
--- config eval
main::conf("agentcore_mcp a /_mcp/a refresh=off;") . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $a1 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=change input={}]]')));
my $a2 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]')));
my $again = main::wait_count($at, qr/agentcore mcp "a": \d+ tools listed/, 2);
my $a3 = main::answer(main::send_req(AgentCore::Test::invoke('[[tool name=echo input={"text":"3"}]]')));
AgentCore::Test::report("$a1", "$a2", "$a3",
    'changed: ' . main::count_log($at, qr/agentcore mcp "a": the server's tools changed/),
    'listed: ' . main::count_log($at, qr/agentcore mcp "a": \d+ tools listed/));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
Tool said: changed
Tool said: a echo: 2 [version 2025-06-18]
Tool said: a echo: 3 [version 2025-06-18]
changed: 1
listed: 2
--- no_error_log
[error]



=== TEST 23: a token the location adds stays out of the debug log
Nginx's proxy module prints the headers it sends at debug level: each
MCP subrequest pauses debug logging until its response header.
--- config eval
main::conf("agentcore_mcp t /_mcp/bearer prefix=t_;")
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"t_echo","input":{"text":"1"}},{"name":"t_echo_sse","input":{"text":"2"}}]]]')
--- response_body: Tool said: a echo: 1 [version 2025-06-18] | a echo: 2 [version 2025-06-18]
--- no_error_log eval
[qr/mcp-token/, qr/\[error\]/]
--- error_log
agentcore mcp "t": debug logging paused while the request is sent
agentcore mcp "t": debug logging resumed
--- log_level: debug



=== TEST 24: the toolResult the model gets: text, image, json blocks
Text stays text, the serialization of structuredContent is dropped, the
image is an image block, audio a note, the JSON resource and
structuredContent (last) json blocks: the exact toolResult of the next
model request (then=echo answers with its body).
--- config eval
main::conf('agentcore_mcp a /_mcp/a;')
--- request eval
AgentCore::Test::invoke('[[tool name=rich input={} then=echo]]')
--- response_body_like eval
qr/"toolResult":\{"toolUseId":"[^"]+","content":\[\{"text":"Forecast for Paris"\},\{"image":\{"format":"png","source":\{"bytes":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk\+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="\}\}\},\{"text":"\[audio of type audio\/wav, left out: Bedrock takes no audio in a tool result\]"\},\{"json":\{"hourly":\[12,13\]\}\},\{"json":\{"city":"Paris","temperature":\{"max":14,"min":9\}\}\}\],"status":"success"\}\}\]\}/
--- no_error_log
[error]



=== TEST 25: a session keeps those blocks: the next invocation's history holds them
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
main::conf("agentcore_mcp a /_mcp/a;\nagentcore_session s;")
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-0123456789abcdef0123456789abcdef
--- request eval
[AgentCore::Test::invoke('[[tool name=rich input={}]]'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_like eval
[qr/^Tool said: Forecast for Paris \| \[image\] \| \[audio of type audio\/wav, left out: Bedrock takes no audio in a tool result\] \| \{"hourly":\[12,13\]\} \| \{"city":"Paris","temperature":\{"max":14,"min":9\}\}$/,
 qr/"toolResult":\{"toolUseId":"[^"]+","content":\[\{"text":"Forecast for Paris"\},\{"image":\{"format":"png","source":\{"bytes":"iVBORw0KGgo[^"]+"\}\}\},\{"text":"\[audio[^"]+"\},\{"json":\{"hourly":\[12,13\]\}\},\{"json":\{"city":"Paris","temperature":\{"max":14,"min":9\}\}\}\],"status":"success"\}\}\]\},\{"role":"assistant"/]
--- no_error_log
[error]



=== TEST 26: agentcore_mcp off: a location declares no server of the level above, a sibling does
--- config eval
$main::Mcp . $AgentCore::Test::ModelLocation . <<'_EOC_';
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
agentcore_mcp a /_mcp/a;
location = /invocations {
    agentcore;
}
location = /plain {
    agentcore;
    agentcore_mcp off;
}
location = /local {
    agentcore;
    agentcore_tool local /local-tool "Local";
    agentcore_mcp off;
}
location = /local-tool { internal; return 200 local; }
_EOC_
--- request eval
[AgentCore::Test::invoke('[[echo]]', '/plain'),
 AgentCore::Test::invoke('[[echo]]'),
 AgentCore::Test::invoke('[[echo]]', '/local'),
 AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"x"}},{"name":"local","input":{}}]]]', '/local')]
--- response_body_like eval
[qr/^\{"messages":\[\{"role":"user","content":\[\{"text":"\[\[echo\]\]"\}\]\}\],"inferenceConfig":\{\}\}$/,
 qr/^\{"messages":.*"toolConfig":\{"tools":\[\{"toolSpec":\{"name":"echo","description":"Echo a text"/,
 qr/^\{"messages":.*"toolConfig":\{"tools":\[\{"toolSpec":\{"name":"local","description":"Local","inputSchema":\{"json":\{[^\]]*\}\}\}\}\],"toolChoice"/,
 qr/^Tool said: Unknown tool: echo \| local$/]
--- no_error_log
[error]
