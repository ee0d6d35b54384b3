# Conversations across worker processes: one session seen by every
# worker, kept through "nginx -s reload", and freed when the worker
# holding it dies.

BEGIN {
    # valgrind runs a single nginx process: nothing here can be tested then
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        require Test::More;
        Test::More::plan(skip_all => 'needs worker processes, and valgrind '
                                     . 'runs nginx as a single process');
    }
}

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Workers;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

our $Sid = 'sess-workers-0123456789abcdef0123456789';
our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $Sid";

# the invocations run in a second server listening with reuseport: each
# proxied request comes from a new port, so the kernel spreads them over
# the workers
our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_'
agentcore_session_zone s:1m max_messages=100;

server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_session s;
    agentcore_tool whoami /internal/whoami "Which worker runs this";

    location = /invocations { agentcore; }
    location = /internal/whoami { internal; return 200 "$pid"; }
    location = /pid { return 200 "$pid"; }
_EOC_
. $AgentCore::Test::ModelLocation . "}\n";

# HTTP/1.0 to the second server on every nginx version: from 1.29.7
# the proxy defaults to HTTP/1.1 with keepalive, which would send the
# requests down one connection to one worker, and report a killed
# worker's unfinished chunked answer as an [error] of the proxy
our $Config = <<'_EOC_';
location = /invocations {
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    proxy_http_version 1.0;
    proxy_buffering off;
}
_EOC_

our @Pids;

sub invoke { AgentCore::Test::invoke(@_) }

sub err_log {
    return $Test::Nginx::Util::ErrLogFile
           // "$ENV{TEST_NGINX_SERVROOT}/logs/error.log";
}

# waits (bounded) until $cond returns true
# "nginx -s reload", then wait until the old workers are gone
# starts an invocation that hangs, finds the worker running it in the
# debug log, kills it, and waits until the master saw it die
our $Hang;

sub kill_holder {
    my $log = err_log();
    my $from = -s $log;
    my ($pid, $req);

    $req = qq{{"prompt": "[[hang]] first"}};
    $Hang = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(),
                                  Proto => 'tcp')
        or die "connect: $!";
    print $Hang "POST /invocations HTTP/1.1\r\nHost: x\r\n$SidHeader\r\n"
                . "Content-Length: " . length($req) . "\r\n\r\n$req";

    await(sub {
        substr(read_file($log), $from)
            =~ /\[debug\] (\d+)#\d+: \*\d+ agentcore session \w+: 1 messages, held/
            and $pid = $1
    }, "the invocation to take the session");

    kill KILL => $pid or die "kill: $!";

    await(sub {
        substr(read_file($log), $from)
            =~ /worker process $pid exited on signal 9/
    }, "the master to see worker $pid die");

    return "killed";
}

our $Killed;

# the reuseport server's port, from the configuration written for the block
# one request to the reuseport server from a given local port: with
# reuseport the kernel picks the worker by a hash of the addresses and
# ports, so one local port always reaches the same worker (nginx closes
# first: the port is free again at once)
sub from_port {
    my ($lport, $method, $uri, $headers, $body) = @_;
    my ($sock, $resp);

    $body //= '';
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => backend_port(),
                                  LocalAddr => '127.0.0.1',
                                  LocalPort => $lport, ReuseAddr => 1,
                                  Proto => 'tcp')
        or return undef;
    print $sock "$method $uri HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                . $headers . "Content-Length: " . length($body)
                . "\r\n\r\n$body";
    local $/;
    $resp = <$sock> // '';
    close $sock;

    my ($head, $rest) = split /\r\n\r\n/, $resp, 2;
    return $rest // '' if $head !~ /transfer-encoding: chunked/i;

    my $out = '';
    while ($rest =~ s/\A([0-9a-f]+)\r\n//i) {
        my $n = hex $1;
        last if $n == 0;
        $out .= substr($rest, 0, $n, '');
        $rest =~ s/\A\r\n//;
    }
    return $out;
}

# the echoed request's messages, one "role: first text" each
sub history {
    my $req = JSON::PP->new->utf8->decode(shift);

    return join " | ", map { "$_->{role}: $_->{content}[0]{text}" }
                       @{ $req->{messages} };
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

master_on();
workers(2);
check_accum_error_log();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: every worker sees the session
Two local ports are found that reach different workers of the reuseport
server (a port always reaches the same one); twelve invocations, from
the two ports in turn, each ask their worker's pid by a tool.  Then the
history the model gets holds all twelve, in order.
--- config eval
$main::Config . $AgentCore::Test::ReportLocation
--- init
my (%port_of, $pid);
my $base = 20000 + int rand 8000;
for my $p ($base .. $base + 200) {
    $pid = main::from_port($p, 'GET', '/pid', '') // next;
    $port_of{$pid} //= $p if $pid =~ /^\d+$/;
    last if keys %port_of == 2;
}
my @pids = sort keys %port_of;
my @seen;
my ($right, $hist) = (0, '');
my $sh = "$main::SidHeader\r\nContent-Type: application/json\r\n";
if (@pids == 2) {
    for my $i (0 .. 11) {
        my $w = $pids[$i % 2];
        my $text = AgentCore::Test::sse_text(main::from_port($port_of{$w},
            'POST', '/invocations', $sh,
            '{"prompt": "[[tool name=whoami input={}]]"}'));
        my ($got) = $text =~ /^Tool said: (\d+)$/;
        push @seen, $got // "[$text]";
        $right++ if ($got // 0) == $w;
    }
    my $echo = AgentCore::Test::sse_text(
        main::from_port($port_of{$pids[0]}, 'POST', '/invocations', $sh,
                        '{"prompt": "[[echo]]"}'));
    my $req = eval { JSON::PP->new->utf8->decode($echo) }
              // { messages => [] };
    my @results = map { $_->{toolResult}{content}[0]{text} }
                  grep { $_->{toolResult} }
                  map { @{ $_->{content} } } @{ $req->{messages} };
    $hist = sprintf "results=%d same=%d", scalar @results,
                    "@results" eq "@seen" ? 1 : 0;
}
AgentCore::Test::report(
    'ports to two workers: ' . (@pids == 2 ? 'found' : 'not found'),
    "invocations run by the worker their port reaches: $right of 12",
    "the history: $hist");
--- request
GET /report
--- response_body
ports to two workers: found
invocations run by the worker their port reaches: 12 of 12
the history: results=12 same=1
--- no_error_log
[error]
[alert]



=== TEST 2: the session survives nginx -s reload
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("My name is Ada"),
 main::invoke("[[echo]]")]
--- response_body_filters eval
sub {
    my $text = AgentCore::Test::sse_text(shift);
    return main::history($text) if $text =~ /^\{/;
    return "$text " . main::reload();
}
--- response_body eval
["Hello! You said: My name is Ada reloaded",
 "user: My name is Ada | assistant: Hello! You said: My name is Ada"
 . " | user: [[echo]]"]
--- error_log
reconfiguring
--- no_error_log
[error]
[alert]



=== TEST 3: a session held by a worker that died is taken over
The worker running an invocation is killed (-9): no cleanup runs, the
session stays marked with its pid; the next invocation finds that pid
gone and takes the session.  /ping does not count the dead worker's
invocation as in flight.
--- http_config eval
$main::HttpConfig . "agentcore_ping_busy on;\n"
--- config eval
$main::Config . "location = /ping { agentcore_ping; }\n"
--- more_headers eval: $main::SidHeader
--- request eval
["GET /ping",
 main::invoke("[[echo]]"),
 "GET /ping"]
--- response_body_filters eval
sub {
    my $body = shift;
    return main::history(AgentCore::Test::sse_text($body))
        if $body =~ /^data: /;
    return main::kill_holder() if !$main::Killed++;
    return $body =~ s/\d+/T/r;
}
--- response_body eval
["killed",
 "user: [[echo]]",
 '{"status":"Healthy","time_of_last_update":T}']
--- error_log eval
qr/worker process \d+ exited on signal 9/
--- no_error_log
[error]
[crit]
already processing
