# The calculator runs in nginx's thread pool, off the event loop: a slow
# calculation (a symbolic solve of hundreds of milliseconds) does not
# hold up the other connections of its worker, and a client that leaves
# while it runs leaves nothing behind.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;

# the slow calculation takes ~0.4 s, 30 or more under valgrind
$AgentCore::Test::Wait = 120 if $ENV{TEST_NGINX_USE_VALGRIND};

# one worker: the static request is served by the worker that runs the
# invocation (under valgrind, one process all the same)
master_on();
workers(1);

our $Config = <<'_EOC_' . $AgentCore::Test::Config
agentcore_tools calculator;
location = /pong { return 200 "pong\n"; }
_EOC_
    . $AgentCore::Test::ReportLocation;

# a legal input that takes ~0.4 s at -O2 (20 terms; the 7-term solve
# of the calculator's measurements takes ~75 ms)
our $Slow = '{"mode":"solve","expression":"'
    . join('+', map { ($_ % 2 ? 'sin' : 'cos') . "($_*x)" } 1 .. 20)
    . '"}';

# sends a request (HTTP/1.0: the answer is not chunked), returns the socket
sub send_req {
    my ($req) = @_;
    my ($line, $body) = split /\n/, $req, 2;
    my ($method, $uri) = split ' ', $line;

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

# reads until $re matches or the connection closes (bounded by $Wait)
sub read_until {
    my ($sock, $re) = @_;
    my $got = '';
    my $deadline = time + $AgentCore::Test::Wait;

    while ((!defined $re || $got !~ $re) && time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next if !select($rin, undef, undef, 0.1);
        last if !sysread($sock, $got, 65536, length $got);
    }

    return $got;
}

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

=== TEST 1: a calculator call through the thread pool gives the same bytes
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"x**3","mode":"derive"}]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: Result: 3*x**2
--- error_log eval
qr/agentcore calculator \S+: in the thread pool/
--- no_error_log
[error]
[warn]



=== TEST 2: a slow calculation does not hold up the worker's other requests
The invocation's calculator starts (its log line), then a static request
is sent: its answer must arrive while the calculation still runs (no
"tool call done" in the log yet).  On the event loop, the worker would
answer it only once the calculation is over.
--- init
my $at = AgentCore::Test::log_size();
my $inv = main::send_req(AgentCore::Test::invoke(
    "[[tool name=calculator input=$main::Slow]]"));
my $started = AgentCore::Test::wait_log($at,
    qr/agentcore tool call start "calculator"/);
my $pong = main::read_until(main::send_req("GET /pong"), qr/pong\n/);
my $running = !AgentCore::Test::log_matches($at,
    qr/agentcore tool call done/);
my $answer = main::read_until($inv);
$answer =~ s/\A.*?\r\n\r\n//s;
$answer = AgentCore::Test::sse_text($answer);
AgentCore::Test::report(
    'the calculation started: ' . ($started ? 'yes' : 'no'),
    'the static request answered: ' . ($pong =~ /pong\n/ ? 'yes' : 'no'),
    'before the calculation ended: ' . ($running ? 'yes' : 'no'),
    'the invocation got its result: '
        . ($answer =~ /\ATool said: Result: \[\(-3\.06679.*\]\z/
           ? 'yes' : "no: $answer"));
--- request
GET /report
--- response_body
the calculation started: yes
the static request answered: yes
before the calculation ended: yes
the invocation got its result: yes
--- no_error_log
[error]
[warn]



=== TEST 3: a client that leaves while the calculator runs
The client closes once the calculation has started; the task's
completion finds the invocation gone and frees what it holds; the
worker serves the next request.
--- init
my $at = AgentCore::Test::log_size();
my $inv = main::send_req(AgentCore::Test::invoke(
    "[[tool name=calculator input=$main::Slow]]"));
my $started = AgentCore::Test::wait_log($at,
    qr/agentcore tool call start "calculator"/);
close $inv;
my $gone = AgentCore::Test::wait_log($at,
    qr/agentcore calculator: the request went away/);
my $pong = main::read_until(main::send_req("GET /pong"), qr/pong\n/);
AgentCore::Test::report(
    'the calculation started: ' . ($started ? 'yes' : 'no'),
    'its completion found the request gone: ' . ($gone ? 'yes' : 'no'),
    'the worker serves: ' . ($pong =~ /pong\n/ ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the calculation started: yes
its completion found the request gone: yes
the worker serves: yes
--- error_log
client prematurely closed connection
--- no_error_log
[error]



=== TEST 4: several calculator calls of one turn, each a task, in the asked order
The slow one first: the others are posted while it runs and wait for
it (one calculation at a time); the results keep the model's order.
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"calculator","input":'
    . $main::Slow . '},{"name":"calculator","input":{"expression":"x**3","mode":"derive"}},{"name":"calculator","input":{"expression":"2**100"}},{"name":"calculator","input":{"expression":"x**2 - 4","mode":"solve"}},{"name":"calculator","input":{"expression":"2+"}}]]]')
--- timeout eval: $ENV{TEST_NGINX_USE_VALGRIND} ? 150 : 10
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body_like eval
qr/\ATool said: Result: \[\(-3\.06679.*\] \| Result: 3\*x\*\*2 \| Result: 1267650600228229401496703205376 \| Result: \[\(-2\+0j\), \(2\+0j\)\] \| Error: Invalid mathematical expression: invalid syntax\z/s
--- no_error_log
[error]
[warn]



=== TEST 5: no thread pool where no "agentcore_tools" names the calculator
The credentials come from the environment (no fetch, no thread either).
--- config eval
"agentcore_tools weather;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=weather input={}]]')
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body: Tool said: sunny
--- no_error_log
[error]
thread in pool



=== TEST 6: the calls waiting for the one running take no thread of the pool
The five calls of TEST 4 in a pool of one thread and a queue of one
task: posted all at once, the third would overflow the queue ("thread
pool queue overflow", an error result), and each call waiting on the
calculator's mutex would hold a thread the credential fetches share.
They wait on the event loop instead, and go in one after the other.
--- main_config eval
$AgentCore::Test::MainConfig . "thread_pool agentcore threads=1 max_queue=1;\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"calculator","input":'
    . $main::Slow . '},{"name":"calculator","input":{"expression":"x**3","mode":"derive"}},{"name":"calculator","input":{"expression":"2**100"}},{"name":"calculator","input":{"expression":"x**2 - 4","mode":"solve"}},{"name":"calculator","input":{"expression":"2+"}}]]]')
--- timeout eval: $ENV{TEST_NGINX_USE_VALGRIND} ? 150 : 10
--- response_body_filters eval
\&AgentCore::Test::sse_text
--- response_body_like eval
qr/\ATool said: Result: \[\(-3\.06679.*\] \| Result: 3\*x\*\*2 \| Result: 1267650600228229401496703205376 \| Result: \[\(-2\+0j\), \(2\+0j\)\] \| Error: Invalid mathematical expression: invalid syntax\z/s
--- error_log
waits for the one running
--- no_error_log
[error]
[warn]
overflow



=== TEST 7: a client that leaves while its other calls wait for the one running
Two calls: the slow one runs, the second waits on the event loop. The
client closes; the waiting call leaves the queue with the request's pool
(nothing of it is posted later), the running one's completion finds the
request gone, and the worker goes on calculating for others.
--- init
my $at = AgentCore::Test::log_size();
my $inv = main::send_req(AgentCore::Test::invoke(
    '[[tools calls=[{"name":"calculator","input":' . $main::Slow
    . '},{"name":"calculator","input":{"expression":"x**3","mode":"derive"}}]]]'));
my $waits = AgentCore::Test::wait_log($at, qr/waits for the one running/);
close $inv;
my $gone = AgentCore::Test::wait_log($at,
    qr/agentcore calculator: the request went away/);
my $next = main::read_until(main::send_req(AgentCore::Test::invoke(
    '[[tool name=calculator input={"expression":"x**3","mode":"derive"}]]')),
    qr/0\r\n\r\n/);
AgentCore::Test::report(
    'the second call waited: ' . ($waits ? 'yes' : 'no'),
    'the running one found the request gone: ' . ($gone ? 'yes' : 'no'),
    'the next invocation calculates: '
    . ($next =~ /3\*x\*\*2/ ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the second call waited: yes
the running one found the request gone: yes
the next invocation calculates: yes
--- error_log
client prematurely closed connection
--- no_error_log
[error]
