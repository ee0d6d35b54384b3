# agentcore_memory (issue 18): a session's conversation in AgentCore
# Memory.  The emulator serves the Memory data plane (CreateEvent,
# ListEvents; SigV4 checked, service bedrock-agentcore) with the model.
# The test's nginx holds two "nodes": /a/invocations and
# /b/invocations, each with a session zone of its own (node_a, node_b:
# they share nothing, as two machines would), both pointing at the same
# memory.  /s/invocations is a node without memory (the shared-memory
# history alone), for comparison.  The emulator's [[echo]] answers with
# the model request, so a turn reads the history the node sent.  Each
# block drives its requests in its init section and reports.

BEGIN {
    $ENV{TEST_NGINX_BEDROCK_LOG} //= "/tmp/agentcore-027-emulator-$$.log";
}

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use HTTP::Tiny;
use IO::Socket::INET;

our $Log = $ENV{TEST_NGINX_BEDROCK_LOG};
our $N = 0;

END { unlink $Log if $Log =~ m{^/tmp/agentcore-027-emulator-} }

# a fresh session id per call (the emulator's store outlives blocks)
sub sid {
    return sprintf 'mem-%d-%d-%s', $$, ++$N, '0123456789abcdef0123456789';
}

our $Memory = <<'_EOC_';
location /_agentcore_memory/ {
    internal;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $agentcore_memory_host;
    proxy_set_header X-Amz-Date $agentcore_memory_date;
    proxy_set_header X-Amz-Security-Token $agentcore_memory_security_token;
    proxy_set_header Authorization $agentcore_memory_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_BEDROCK_PORT/;
}
_EOC_

sub node {
    my ($name, $zone, $memory) = @_;
    return "location = /$name/invocations {\n    agentcore;\n"
           . "    agentcore_session $zone;\n"
           . ($memory ? "    agentcore_memory $memory;\n" : '')
           . "}\n";
}

our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_';
agentcore_session_zone node_a:1m;
agentcore_session_zone node_b:1m;
agentcore_session_zone node_s:1m;
agentcore_session_zone node_w:1m max_messages=4;
agentcore_session_zone node_v:1m max_messages=4;
_EOC_

our $Config = "agentcore_tools calculator;\n"
    . "location = /metrics {\n    agentcore_metrics;\n}\n"
    . $AgentCore::Test::Config
    . $AgentCore::Test::ReportLocation
    . $Memory
    . node('a', 'node_a', 'mem-test uri=/_agentcore_memory')
    . node('b', 'node_b', 'mem-test uri=/_agentcore_memory')
    . node('s', 'node_s')
    . node('p', 'node_a', 'mem-test uri=/_agentcore_memory page_size=2')
    . node('w', 'node_w', 'mem-test uri=/_agentcore_memory')
    . node('v', 'node_v')
    . node('f500', 'node_a', 'mem-fail500 uri=/_agentcore_memory')
    . node('garbage', 'node_a', 'mem-garbage uri=/_agentcore_memory')
    . node('thr', 'node_a', 'mem-throttle1x uri=/_agentcore_memory')
    . node('fc', 'node_a', 'mem-failcreate uri=/_agentcore_memory')
    . "location = /j/invocations {\n    agentcore;\n"
    . "    agentcore_response json;\n"
    . "    agentcore_session node_a;\n"
    . "    agentcore_memory mem-test uri=/_agentcore_memory;\n}\n"
    . "location = /jf/invocations {\n    agentcore;\n"
    . "    agentcore_response json;\n"
    . "    agentcore_session node_a;\n"
    . "    agentcore_memory mem-fail500 uri=/_agentcore_memory;\n}\n"
    . "location = /slow/invocations {\n    agentcore;\n"
    . "    agentcore_session node_a;\n"
    . "    agentcore_invocation_timeout 200ms;\n"
    . "    agentcore_memory mem-slow5 uri=/_agentcore_memory;\n}\n"
    . "location = /r/invocations {\n    agentcore;\n"
    . "    agentcore_session node_a;\n"
    . "    agentcore_retries throttle=3 delay=10ms;\n"
    . "    agentcore_memory mem-throttle2y uri=/_agentcore_memory;\n}\n";

# POST /NODE/invocations: "status text" (the SSE text; an echoed
# request becomes its history, one message per "|")
sub turn {
    my ($node, $sid, $prompt) = @_;
    my $r = HTTP::Tiny->new(timeout => $AgentCore::Test::Wait)->post(
        'http://127.0.0.1:' . Test::Nginx::Util::server_port()
        . "/$node/invocations",
        { headers => { 'Content-Type' => 'application/json',
                       'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id' => $sid },
          content => JSON::PP->new->encode({ prompt => $prompt }) });

    return "$r->{status} " . hist(AgentCore::Test::sse_text($r->{content}));
}

# the messages of an echoed model request
sub echoed {
    my ($node, $sid, $prompt) = @_;
    my $r = HTTP::Tiny->new(timeout => $AgentCore::Test::Wait)->post(
        'http://127.0.0.1:' . Test::Nginx::Util::server_port()
        . "/$node/invocations",
        { headers => { 'Content-Type' => 'application/json',
                       'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id' => $sid },
          content => JSON::PP->new->encode({ prompt => $prompt }) });
    my $text = AgentCore::Test::sse_text($r->{content});
    my $req = eval { JSON::PP->new->utf8->decode($text) };

    return $req ? $req->{messages} : "not echoed: $text";
}

sub hist {
    my $text = shift;

    return $text if $text !~ /\A\{"messages"/;

    my ($req, $n) = JSON::PP->new->utf8->decode_prefix($text);

    return join(' | ', map {
        "$_->{role}: " . join ' + ', map {
            $_->{text} // ($_->{toolUse} ? "toolUse($_->{toolUse}{name})"
                           : $_->{toolResult} ? 'toolResult' : '?')
        } @{ $_->{content} }
    } @{ $req->{messages} }) . substr($text, $n);
}

# the emulator's log from a mark on
sub log_mark { return -s $Log // 0 }

sub log_since {
    my $at = shift;
    open my $in, '<', $Log or return '';
    seek $in, $at, 0;
    local $/;
    my $t = <$in> // '';
    close $in;
    return $t;
}

sub count {
    my ($text, $re) = @_;
    my @m = $text =~ /$re/g;
    return scalar @m;
}

# CreateEvent as another writer (a Strands agent elsewhere) sends it
sub create_event {
    my ($mem, $sid, $ts, $role, $text) = @_;
    my $msg = JSON::PP->new->canonical->encode({
        message => { role => lc $role, content => [{ text => $text }] },
        message_id => 0, redact_message => undef,
        created_at => '2026-01-01T00:00:00+00:00',
        updated_at => '2026-01-01T00:00:00+00:00' });
    my $body = JSON::PP->new->canonical->encode({
        actorId => 'default', sessionId => $sid, eventTimestamp => $ts,
        payload => [{ conversational => { role => $role,
                                          content => { text => $msg } } }] });
    my $host = 'bedrock-agentcore.us-east-1.amazonaws.com';
    my $path = "/memories/$mem/events";
    my $h = AgentCore::Emulator::sigv4_sign(
        method => 'POST', path => $path, body => $body,
        service => 'bedrock-agentcore', region => 'us-east-1',
        headers => ['host', $host, 'content-type', 'application/json']);
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => $ENV{TEST_NGINX_BEDROCK_PORT},
        Proto => 'tcp', Timeout => 5) or return "connect: $!";
    my $req = "POST $path HTTP/1.0\r\n";
    for (my $i = 0; $i < @$h; $i += 2) { $req .= "$h->[$i]: $h->[$i + 1]\r\n" }
    print $sock $req . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    my $res = <$sock> // '';
    return $res =~ m{^HTTP/1\.\d (\d+)} ? $1 : "no answer: $res";
}

# what the emulator stored for a session
sub stored {
    my ($mem, $sid) = @_;
    my $r = HTTP::Tiny->new->get("http://127.0.0.1:$ENV{TEST_NGINX_BEDROCK_PORT}"
                                 . "/_emulator/memory?m=$mem&a=default&s=$sid");
    return JSON::PP->new->utf8->decode($r->{content});
}

sub canon {
    return JSON::PP->new->canonical->encode(shift);
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $main::HttpConfig);
    }

    if (!defined $block->config) {
        $block->set_value("config", $main::Config);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a turn, then the next carries the history read back from the store
Node A answers both: the second model request holds the first turn,
and the store holds one event per message in Strands' layout (role
upper-cased, the message as JSON text).  Every Memory request is signed
for bedrock-agentcore and accepted by the emulator's SigV4 check.
--- init
my $s = main::sid();
my $at = main::log_mark();
my @r = ("turn 1: " . main::turn('a', $s, 'My name is Ada'),
         "turn 2: " . main::turn('a', $s, '[[echo]]'));
my $ev = main::stored('mem-test', $s);
push @r, "events: " . scalar(@$ev);
for my $e (@$ev) {
    my $c = $e->{payload}[0]{conversational};
    my $m = JSON::PP->new->decode($c->{content}{text});
    my $j = main::canon($m->{message});
    $j = '(the echoed request)' if $j =~ /\\"messages\\"/;
    push @r, "  $c->{role} $j";
}
my $log = main::log_since($at);
push @r, "ListEvents signed and accepted: "
         . main::count($log, qr{POST /memories/mem-test/actor/default/sessions/\S+ 200 auth=sigv4:AKIDEXAMPLE memory=ListEvents});
push @r, "CreateEvent signed and accepted: "
         . main::count($log, qr{POST /memories/mem-test/events 201 auth=sigv4:AKIDEXAMPLE memory=CreateEvent});
push @r, "refused: " . main::count($log, qr{ 40[0-9] });
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
turn 1: 200 Hello! You said: My name is Ada
turn 2: 200 user: My name is Ada | assistant: Hello! You said: My name is Ada | user: [[echo]]
events: 4
  USER {"content":[{"text":"My name is Ada"}],"role":"user"}
  ASSISTANT {"content":[{"text":"Hello! You said: My name is Ada"}],"role":"assistant"}
  USER {"content":[{"text":"[[echo]]"}],"role":"user"}
  ASSISTANT (the echoed request)
ListEvents signed and accepted: 2
CreateEvent signed and accepted: 4
refused: 0
--- no_error_log
[error]
[warn]



=== TEST 2: two nodes: a turn on node A, the next on node B carries A's history
B's zone has never seen the session: its history comes from the store.
Then a turn on B and one more on A: A reads B's turn too (nothing
stale from A's own zone).
--- init
my $s = main::sid();
my @r = ("A: " . main::turn('a', $s, 'My name is Ada'),
         "B: " . main::turn('b', $s, 'I like tea'),
         "A: " . main::turn('a', $s, '[[echo]]'));
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
A: 200 Hello! You said: My name is Ada
B: 200 Hello! You said: I like tea
A: 200 user: My name is Ada | assistant: Hello! You said: My name is Ada | user: I like tea | assistant: Hello! You said: I like tea | user: [[echo]]
--- no_error_log
[error]
[warn]



=== TEST 3: tool use round trip: toolUse and toolResult come back exactly
The same two turns on node A (memory) and on node S (its zone alone):
the second model requests are identical but for the tool use id the
emulator draws at random, and the ids of a toolUse and its toolResult
still match after the store.
--- init
my ($s, $t) = (main::sid(), main::sid());
my $p = '[[tool name=calculator input={"expression":"6*7"}]]';
my @r = ("A: " . main::turn('a', $s, $p), "S: " . main::turn('s', $t, $p));
my $ma = main::echoed('a', $s, '[[echo]]');
my $ms = main::echoed('s', $t, '[[echo]]');
my ($ida, $ids) = map { ref $_ ? $_->[1]{content}[0]{toolUse}{toolUseId} : '' }
                  $ma, $ms;
push @r, "A's toolResult answers its toolUse: "
         . ($ida && $ma->[2]{content}[0]{toolResult}{toolUseId} eq $ida
            ? 'yes' : 'no');
my ($ca, $cs) = (main::canon($ma), main::canon($ms));
$ca =~ s/\Q$ida\E/ID/g if $ida;
$cs =~ s/\Q$ids\E/ID/g if $ids;
push @r, "A: $ca", "same as S: " . ($ca eq $cs ? 'yes' : "no: $cs");
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
A: 200 Tool said: Result: 42
S: 200 Tool said: Result: 42
A's toolResult answers its toolUse: yes
A: [{"content":[{"text":"[[tool name=calculator input={\"expression\":\"6*7\"}]]"}],"role":"user"},{"content":[{"toolUse":{"input":{"expression":"6*7"},"name":"calculator","toolUseId":"ID"}}],"role":"assistant"},{"content":[{"toolResult":{"content":[{"text":"Result: 42"}],"status":"success","toolUseId":"ID"}}],"role":"user"},{"content":[{"text":"Tool said: Result: 42"}],"role":"assistant"},{"content":[{"text":"[[echo]]"}],"role":"user"}]
same as S: yes
--- no_error_log
[error]
[warn]



=== TEST 4: paging: a history of several pages (page_size=2) is read whole
Three turns (six events), then an echo: ListEvents follows nextToken
over three pages, and the history is in order.
--- init
my $s = main::sid();
my @r = map { main::turn('p', $s, "turn $_") } 1 .. 3;
my $at = main::log_mark();
push @r, main::turn('p', $s, '[[echo]]');
my $log = main::log_since($at);
push @r, "pages: " . main::count($log, qr{memory=ListEvents events=\d+}),
         "with a next page: " . main::count($log, qr{memory=ListEvents events=2 next});
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
200 Hello! You said: turn 1
200 Hello! You said: turn 2
200 Hello! You said: turn 3
200 user: turn 1 | assistant: Hello! You said: turn 1 | user: turn 2 | assistant: Hello! You said: turn 2 | user: turn 3 | assistant: Hello! You said: turn 3 | user: [[echo]]
pages: 3
with a next page: 2
--- error_log
agentcore memory: 6 messages read in 3 pages
--- no_error_log
[error]
[warn]



=== TEST 5: a history longer than the window is trimmed as the zone's is
max_messages=4 on node W (memory) and node V (its zone alone): the
same turns give the same model request.
--- init
my ($s, $t) = (main::sid(), main::sid());
for my $i (1 .. 3) {
    main::turn('w', $s, "turn $i");
    main::turn('v', $t, "turn $i");
}
my @r = ("W: " . main::turn('w', $s, '[[echo]]'),
         "V: " . main::turn('v', $t, '[[echo]]'));
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
W: 200 user: turn 2 | assistant: Hello! You said: turn 2 | user: turn 3 | assistant: Hello! You said: turn 3 | user: [[echo]]
V: 200 user: turn 2 | assistant: Hello! You said: turn 2 | user: turn 3 | assistant: Hello! You said: turn 3 | user: [[echo]]
--- no_error_log
[error]



=== TEST 6: store errors end the invocation before any model call
A 500 from ListEvents, a page that is not JSON, a 429 with retries off:
each a stream_error, and the emulator got no model request.
--- init
my $at = main::log_mark();
my @r = map { main::turn($_, main::sid(), 'hi') } qw(f500 garbage thr);
my $log = main::log_since($at);
push @r, "model requests: " . main::count($log, qr{converse-stream});
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
200 [stream_error: The session history cannot be read from AgentCore Memory: ListEvents answered HTTP 500]
200 [stream_error: The session history cannot be read from AgentCore Memory: a ListEvents page is not readable: the ListEvents response is not a JSON object]
200 [stream_error: The session history cannot be read from AgentCore Memory: ListEvents answered HTTP 429]
model requests: 0
--- error_log
agentcore memory: the session history cannot be read: ListEvents answered HTTP 500



=== TEST 7: throttling is retried as model calls are (agentcore_retries)
The first two Memory requests of mem-throttle2y are 429s: with
throttle=3 the third goes through and the turn completes.
--- init
my $s = main::sid();
my $at = main::log_mark();
my @r = (main::turn('r', $s, 'hi'), main::turn('r', $s, '[[echo]]'));
my $log = main::log_since($at);
push @r, "throttled: " . main::count($log, qr{ 429 auth=});
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
200 Hello! You said: hi
200 user: hi | assistant: Hello! You said: hi | user: [[echo]]
throttled: 2
--- error_log
agentcore memory: ListEvents answered HTTP 429, retried in



=== TEST 8: a CreateEvent that fails: logged, the client told
--- init
my $s = main::sid();
AgentCore::Test::report(main::turn('fc', $s, 'hi'));
--- request
GET /report
--- response_body
200 Hello! You said: hi[stream_error: The turn could not be written to AgentCore Memory: the next turn will not see it]
--- error_log
agentcore memory: CreateEvent answered HTTP 500: 0 of 2 messages of the turn written



=== TEST 9: the signed headers never reach the debug log
The proxy module prints the request it sends at debug level: the
connection's debug logging pauses while a Memory request is sent.
--- init
AgentCore::Test::report(main::turn('a', main::sid(), 'hi'));
--- request
GET /report
--- response_body
200 Hello! You said: hi
--- error_log
agentcore memory: debug logging paused
--- no_error_log
AWS4-HMAC-SHA256
Signature=
[error]



=== TEST 10: agentcore_memory without agentcore_session is refused
--- config
location = /x {
    agentcore;
    agentcore_model_location /_agentcore/bedrock;
    agentcore_memory mem-test uri=/_agentcore_memory;
}
--- must_die
--- error_log
"agentcore_memory" requires "agentcore_session"



=== TEST 11: the invocation's deadline passes while ListEvents is in flight
The stream ends with the timeout's stream_error; the page that comes
later starts no model call.
--- init
my $at = main::log_mark();
my @r = (main::turn('slow', main::sid(), 'hi'));
my $deadline = time + $AgentCore::Test::Wait;
until (main::log_since($at) =~ /memory=ListEvents/ || time > $deadline) {
    select undef, undef, undef, 0.05;
}
my $log = main::log_since($at);
push @r, "ListEvents answered: " . main::count($log, qr{memory=ListEvents}),
         "model requests: " . main::count($log, qr{converse-stream});
# a request after it: the worker is still there
push @r, main::turn('a', main::sid(), 'hi');
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
200 [stream_error: The invocation timed out after 200ms (agentcore_invocation_timeout)]
ListEvents answered: 1
model requests: 0
200 Hello! You said: hi



=== TEST 12: /metrics counts Memory requests by operation and result
One turn read and written (1 page, 2 events), one failed read, one
turn whose CreateEvent fails.
--- init
main::turn('a', main::sid(), 'hi');
main::turn('f500', main::sid(), 'hi');
main::turn('fc', main::sid(), 'hi');
--- request
GET /metrics
--- response_body_like
agentcore_memory_requests_total\{operation="ListEvents",result="success"\} 2
agentcore_memory_requests_total\{operation="ListEvents",result="failure"\} 1
agentcore_memory_requests_total\{operation="CreateEvent",result="success"\} 2
agentcore_memory_requests_total\{operation="CreateEvent",result="failure"\} 1



=== TEST 13: agentcore_response json: the same, in the one JSON answer
A turn written, the next reads it; a store error is the answer's error.
--- init
my $s = main::sid();
my $h = { 'Content-Type' => 'application/json',
          'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id' => $s };
my $url = 'http://127.0.0.1:' . Test::Nginx::Util::server_port();
my @r;
for my $p (['j', 'My name is Ada'], ['j', '[[echo]]'], ['jf', 'hi']) {
    my $res = HTTP::Tiny->new(timeout => $AgentCore::Test::Wait)->post(
        "$url/$p->[0]/invocations",
        { headers => $h, content => JSON::PP->new->encode({ prompt => $p->[1] }) });
    push @r, "$res->{status} $res->{content}";
}
my $ev = main::stored('mem-test', $s);
push @r, "events: " . scalar(@$ev);
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body_like
^200 "Hello! You said: My name is Ada"
200 "\{\\"messages\\":\[\{\\"role\\":\\"user\\",\\"content\\":\[\{\\"text\\":\\"My name is Ada\\"\}\]\},\{\\"role\\":\\"assistant\\"[^\n]*"
503 \{"error":"The session history cannot be read from AgentCore Memory: ListEvents answered HTTP 500"\}
events: 4



=== TEST 14: events of a writer whose clock is ahead: this turn still comes after them
Another writer (a Strands agent on a machine whose clock is 100 s
ahead) stored a turn; node A's turn is written after it in the
store's order, so the next turn reads the conversation in order.
--- init
my $s = main::sid();
my $t = time + 100;
my @r = (main::create_event('mem-test', $s, $t, 'USER', 'I am from the future'),
         main::create_event('mem-test', $s, $t + 0.001, 'ASSISTANT', 'Noted.'));
push @r, main::turn('a', $s, 'hi'), main::turn('a', $s, '[[echo]]');
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
201
201
200 Hello! You said: hi
200 user: I am from the future | assistant: Noted. | user: hi | assistant: Hello! You said: hi | user: [[echo]]
--- no_error_log
[error]
[warn]
