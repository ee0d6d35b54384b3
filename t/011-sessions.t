# Conversations: a session's history in shared memory, as the reference
# keeps it on its agent (runtime-contract.md 7, 8.3, 8.5, 8.6).  The
# emulator's [[echo]] answers with the request body, so a test reads the
# history the model got; hist() writes it one message per "|".

use lib 't/lib';
use AgentCore::Test 'tool_module';
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();

our $Sid = 'sess-0123456789abcdef0123456789abcdef';    # 37 characters
our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $Sid";

our $HttpConfig = $AgentCore::Test::HttpConfig
                  . "agentcore_session_zone s:1m;\n";

our $Config = "agentcore_session s;\n" . $AgentCore::Test::Config;

# by query argument, so one block can use several sessions
our $ArgConfig = "agentcore_session_key \$arg_sid;\n" . $Config;

sub invoke { AgentCore::Test::invoke(@_) }

# the SSE text; an echoed request becomes its history:
# "user: text + toolResult error Tool was interrupted. | assistant: ..."
sub hist {
    my $body = shift;
    my ($text, $req, $n);

    return $body if $body !~ /\Adata: /;

    $text = AgentCore::Test::sse_text($body);

    return $text if $text !~ /\A\{"messages"/;

    ($req, $n) = JSON::PP->new->utf8->decode_prefix($text);

    return join(' | ', map {
        my $m = $_;
        "$m->{role}: " . join ' + ', map {
            exists $_->{text} ? $_->{text}
            : exists $_->{toolUse} ? "toolUse $_->{toolUse}{name}"
            : exists $_->{toolResult}
              ? "toolResult $_->{toolResult}{status} "
                . join('', map { $_->{text} // '' }
                           @{ $_->{toolResult}{content} })
            : '?'
        } @{ $m->{content} }
    } @{ $req->{messages} }) . substr($text, $n);
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $main::HttpConfig);
    }

    if (!defined $block->config) {
        $block->set_value("config", $main::Config);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&main::hist);
    }

    AgentCore::Test::defaults($block);
});

# the lines of every request count (a block makes several)
check_accum_error_log();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a second invocation remembers the first; the id comes back
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("My name is Ada"),
 main::invoke("[[echo]]")]
--- response_headers eval
["X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid",
 "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid"]
--- response_body eval
["Hello! You said: My name is Ada",
 "user: My name is Ada | assistant: Hello! You said: My name is Ada"
 . " | user: [[echo]]"]
--- no_error_log
[error]
[warn]



=== TEST 2: no session id: each invocation stands alone
--- request eval
[main::invoke("My name is Ada"),
 main::invoke("[[echo]]")]
--- response_headers eval
["!X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
 "!X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"]
--- response_body eval
["Hello! You said: My name is Ada",
 "user: [[echo]]"]
--- no_error_log
[error]



=== TEST 3: sessions are isolated; agentcore_session_key; $agentcore_session_id
--- config eval
"add_header X-Session \"[\$agentcore_session_id]\" always;\n"
. $main::ArgConfig
--- request eval
[main::invoke("I am A", "/invocations?sid=A"),
 main::invoke("I am B", "/invocations?sid=B"),
 main::invoke("[[echo]]", "/invocations?sid=A"),
 main::invoke("[[echo]]", "/invocations?sid=B"),
 main::invoke("[[echo]]", "/invocations")]
--- response_headers eval
["X-Session: [A]", "X-Session: [B]", "X-Session: [A]", "X-Session: [B]",
 "X-Session: []"]
--- response_body eval
["Hello! You said: I am A",
 "Hello! You said: I am B",
 "user: I am A | assistant: Hello! You said: I am A | user: [[echo]]",
 "user: I am B | assistant: Hello! You said: I am B | user: [[echo]]",
 "user: [[echo]]"]
--- no_error_log
[error]



=== TEST 4: a session id shorter than 33 characters is refused
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: too-short
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_body_filters
--- response_body chomp
{"error":"Invalid session id","details":"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id must be 33 to 256 characters long"}



=== TEST 5: a session id longer than 256 characters is refused
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: " . ("x" x 257)
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_body_filters
--- response_body_like: "error":"Invalid session id"



=== TEST 6: agentcore_session off in a location; the header is ignored there
--- config eval
"location = /stateless { agentcore_session off; agentcore; }\n"
. $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("one", "/stateless"),
 main::invoke("[[echo]]", "/stateless"),
 main::invoke("[[echo]]")]
--- response_headers eval
["!X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
 "!X-Amzn-Bedrock-AgentCore-Runtime-Session-Id",
 "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid"]
--- response_body eval
["Hello! You said: one",
 "user: [[echo]]",
 "user: [[echo]]"]



=== TEST 7: the window: max_messages=4 keeps the last two turns
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m max_messages=4;\n"
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("one"), main::invoke("two"), main::invoke("three"),
 main::invoke("[[echo]]")]
--- response_body eval
["Hello! You said: one", "Hello! You said: two", "Hello! You said: three",
 "user: two | assistant: Hello! You said: two"
 . " | user: three | assistant: Hello! You said: three | user: [[echo]]"]
--- no_error_log
[error]



=== TEST 8: the window never starts with a toolResult
A tool turn is 4 messages; with the next turn there are 6, the cut at 2
falls on the toolResult and moves on to the next plain user message.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m max_messages=4;\n"
--- config eval
"agentcore_tools weather;\n" . $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("[[tool name=weather input={}]]"), main::invoke("hello"),
 main::invoke("[[echo]]")]
--- response_body eval
["Tool said: sunny", "Hello! You said: hello",
 "user: hello | assistant: Hello! You said: hello | user: [[echo]]"]
--- no_error_log
[error]



=== TEST 9: the whole tool turn is kept within the window
--- config eval
"agentcore_tools weather;\n" . $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("[[tool name=weather input={} text=\"Checking.\"]]"),
 main::invoke("[[echo]]")]
--- response_body eval
["Checking.Tool said: sunny",
 "user: [[tool name=weather input={} text=\"Checking.\"]]"
 . " | assistant: Checking. + toolUse weather"
 . " | user: toolResult success sunny"
 . " | assistant: Tool said: sunny | user: [[echo]]"]
--- no_error_log
[error]



=== TEST 10: an unanswered toolUse gets "Tool was interrupted." first
agentcore_max_cycles 1 stops the loop after the toolUse is stored, before
its tool runs.  The result joins the next user turn (two user messages in
a row would be refused by Bedrock).
--- config eval
"agentcore_tools weather; agentcore_max_cycles 1;\n" . $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("[[tool name=weather input={}]]"),
 main::invoke("[[echo]]")]
--- response_body eval
["[stream_error: The agent stopped after 1 model calls (agentcore_max_cycles)]",
 "user: [[tool name=weather input={}]] | assistant: toolUse weather"
 . " | user: toolResult error Tool was interrupted. + [[echo]]"]



=== TEST 11: a second invocation while the first runs is refused
The agent's tool calls /invocations again on the same session (the
tool's subrequest passes the client's headers on).
--- config eval
q{agentcore_tool again /internal/again "Ask the agent again";
location = /internal/again {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/invocations;
    proxy_set_body '{"prompt": "again"}';
}
} . $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("[[tool name=again input={}]]"),
 main::invoke("[[echo]]")]
--- response_body eval
["Tool said: data: {\"error\": \"Agent is already processing a request."
 . " Concurrent invocations are not supported.\", \"type\":"
 . " \"stream_error\"}\n\n",
 "user: [[tool name=again input={}]] | assistant: toolUse again"
 . " | user: toolResult success data: {\"error\": \"Agent is already"
 . " processing a request. Concurrent invocations are not supported.\","
 . " \"type\": \"stream_error\"}\n\n"
 . " | assistant: Tool said: data: {\"error\": \"Agent is already"
 . " processing a request. Concurrent invocations are not supported.\","
 . " \"type\": \"stream_error\"}\n\n | user: [[echo]]"]
--- error_log
agentcore: stream_error: "Agent is already processing a request. Concurrent invocations are not supported."
--- no_error_log
[error]



=== TEST 12: a failed turn keeps its user turn; the next prompt joins it
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("[[http status=500 message=boom times=1 id=t13]] first"),
 main::invoke("[[echo]]")]
--- response_body eval
["[stream_error: An error occurred (InternalServerException) when calling"
 . " the ConverseStream operation: boom]",
 "user: [[http status=500 message=boom times=1 id=t13]] first + [[echo]]"]



=== TEST 13: a client that goes away frees the session; its turn is kept
The agent's tool calls /invocations on session "inner", whose model
hangs; the tool location gives up after 300ms and closes the connection:
the inner invocation's client is gone.
--- config eval
q{agentcore_tool inner /internal/inner "Ask another agent";
location = /internal/inner {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/invocations?sid=inner;
    proxy_set_body '{"prompt": "[[hang times=1 id=t13]] first"}';
    proxy_read_timeout 300ms;
}
} . $main::ArgConfig
--- request eval
[main::invoke("[[tool name=inner input={}]]", "/invocations?sid=outer"),
 main::invoke("[[echo]]", "/invocations?sid=inner")]
--- response_body_like eval
[qr/^Tool said: /,
 qr/^user: \[\[hang times=1 id=t13\]\] first \+ \[\[echo\]\]\z/]
--- error_log
client prematurely closed connection
upstream timed out
--- no_error_log
[alert]
[crit]
already processing



=== TEST 14: idle sessions expire after ttl
Session "old" is left idle; invocations on "other" (each runs the
sweep) go on until the sweep logs an expiry: the least recently used
goes first, "old".  Then "fresh", used twice in a row, keeps its turn,
and "old" starts anew.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m ttl=1s;\n"
--- config eval
$main::ArgConfig . $AgentCore::Test::ReportLocation
--- init
require AgentCore::Creds;
my $post = sub {
    my ($sid, $prompt) = @_;
    my ($st, $body) = AgentCore::Creds::http(
        port => Test::Nginx::Util::server_port(), method => 'POST',
        path => "/invocations?sid=$sid",
        body => JSON::PP->new->encode({ prompt => $prompt }), timeout => 10);
    return "$st " . main::hist($body);
};
my $first = $post->('old', 'remember me');
my $at = AgentCore::Test::log_size();
my $swept = 0;
for (1 .. 500) {
    $post->('other', 'hi');
    $swept = AgentCore::Test::log_matches($at,
                 qr/agentcore session [0-9a-f]{8} expired/) and last;
    select undef, undef, undef, 0.02;
}
AgentCore::Test::report(
    "old: $first",
    'the sweep logged an expiry: ' . ($swept ? 'yes' : 'no'),
    'fresh: ' . $post->('fresh', 'remember me'),
    'fresh again: ' . $post->('fresh', '[[echo]]'),
    'old again: ' . $post->('old', '[[echo]]'));
--- request
GET /report
--- response_body
old: 200 Hello! You said: remember me
the sweep logged an expiry: yes
fresh: 200 Hello! You said: remember me
fresh again: 200 user: remember me | assistant: Hello! You said: remember me | user: [[echo]]
old again: 200 user: [[echo]]
--- no_error_log
[error]



=== TEST 15: a full zone evicts the least recently used session
The smallest zone (8 pages): each of these histories takes two pages.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:32k;\n"
--- config eval: $main::ArgConfig
--- request eval
[map({ main::invoke("$_" . ("-" x 2500), "/invocations?sid=$_") }
     qw(a b c d)),
 main::invoke("[[echo]]", "/invocations?sid=d"),
 main::invoke("[[echo]]", "/invocations?sid=a")]
--- response_body_filters eval
sub { my $h = main::hist(shift); $h =~ s/-{2500}/-*/g; $h }
--- response_body eval
["Hello! You said: a-*", "Hello! You said: b-*", "Hello! You said: c-*",
 "Hello! You said: d-*",
 "user: d-* | assistant: Hello! You said: d-* | user: [[echo]]",
 "user: [[echo]]"]
--- no_error_log
[error]



=== TEST 16: a history larger than the zone fails its invocation clearly
The answer streams, then the error; the session keeps its earlier state.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone tiny:32k;\n"
--- config eval
"agentcore_session tiny;\n" . $AgentCore::Test::Config
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("small"),
 main::invoke("big" . ("-" x 40000)),
 main::invoke("[[echo]]")]
--- response_body_filters eval
sub {
    my $h = main::hist(shift);
    $h =~ s/-{40000}/-*/g;
    $h =~ s/\(\d+ bytes\)/(N bytes)/;
    $h
}
--- response_body eval
["Hello! You said: small",
 "Hello! You said: big-*[stream_error: The session history (N bytes) is"
 . " larger than agentcore_session_zone \"tiny\" can hold]",
 "user: small | assistant: Hello! You said: small | user: [[echo]]"]
--- no_error_log
[alert]
[crit]



=== TEST 17: agentcore_ping_busy on: HealthyBusy while an invocation runs
The agent's tool asks /ping during the invocation.
--- config eval
q{agentcore_ping_busy on;
agentcore_tool health /internal/ping "Health";
location = /internal/ping {
    internal;
    proxy_method GET;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ping;
}
location = /ping { agentcore_ping; }
} . $main::Config
--- request eval
["GET /ping",
 main::invoke("[[tool name=health input={}]]"),
 "GET /ping"]
--- response_body_filters eval
sub {
    my $h = main::hist(shift);
    $h =~ s/"time_of_last_update":(\d+)/"time_of_last_update":T/;
    $main::stamps .= "$1 " if defined $1;
    $h
}
--- response_body eval
['{"status":"Healthy","time_of_last_update":T}',
 'Tool said: {"status":"HealthyBusy","time_of_last_update":T}',
 '{"status":"Healthy","time_of_last_update":T}']
--- no_error_log
[error]



=== TEST 18: agentcore_ping_busy is off by default, as the reference
--- config eval
q{agentcore_tool health /internal/ping "Health";
location = /internal/ping {
    internal;
    proxy_method GET;
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ping;
}
location = /ping { agentcore_ping; }
} . $main::Config
--- request eval
main::invoke("[[tool name=health input={}]]")
--- response_body_like: ^Tool said: \{"status":"Healthy","time_of_last_update":\d+\}$



=== TEST 19: an unknown zone fails the configuration
--- config eval
"agentcore_session nosuch;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
unknown agentcore_session_zone "nosuch"



=== TEST 20: a zone below 8 pages fails the configuration
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:16k;\n"
--- must_die
--- error_log
is too small



=== TEST 21: bad zone parameters fail the configuration
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m max_messages=0;\n"
--- must_die
--- error_log
invalid max_messages "max_messages=0"



=== TEST 22: the module's own zone names are reserved
--- http_config eval
$AgentCore::Test::HttpConfig
. "agentcore_session_zone agentcore_credentials:1m;\n"
--- must_die
--- error_log
zone name "agentcore_credentials" is reserved



=== TEST 23: a turn cut by max_tokens keeps its toolUse as Strands 1.62's text
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke('[[tool name=calculator input={"expression":"1+1"} text="Let me"]] [[max-tokens]]'),
 main::invoke("[[echo]]")]
--- response_body eval
["Let me[stream_error: Model stopped generating due to maximum token limit. The partial message has been added to the conversation history. You can continue by calling the agent again. For more information see: https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception]",
 "user: [[tool name=calculator input={\"expression\":\"1+1\"} text=\"Let me\"]] [[max-tokens]] | assistant: Let me + The selected tool calculator's tool use was incomplete due to maximum token limits being reached. | user: [[echo]]"]
