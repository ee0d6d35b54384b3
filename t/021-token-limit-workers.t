# Token budgets with worker processes: a key's tokens charged in one
# worker are refused in another, and the buckets survive
# "nginx -s reload".

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
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

# the invocations run in a second server listening with reuseport: the
# kernel picks the worker by a hash of the addresses and ports, so one
# local port always reaches the same worker
our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_'
agentcore_token_limit_zone $arg_key zone=tokens:1m rate=1/m;

server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_token_limit zone=tokens;

    location = /invocations { agentcore; }
    location = /pid { return 200 "$pid"; }
_EOC_
. $AgentCore::Test::ModelLocation . "}\n";

our $Config = <<'_EOC_';
location = /invocations {
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    proxy_http_version 1.0;
    proxy_buffering off;
}
_EOC_

our $Call = '{"prompt": "[[usage in=10 out=20]] [[deltas texts=[\"ok\"]]]"}';

# "nginx -s reload", then wait until the old workers are gone
# one request to the reuseport server from a given local port: "STATUS
# BODY" (the body's SSE events as their text), or undef
sub from_port {
    my ($lport, $method, $uri, $body) = @_;
    my ($sock, $resp);

    $body //= '';
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => backend_port(),
                                  LocalAddr => '127.0.0.1',
                                  LocalPort => $lport, ReuseAddr => 1,
                                  Proto => 'tcp')
        or return undef;
    print $sock "$method $uri HTTP/1.0\r\nHost: x\r\n"
                . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    $resp = <$sock> // '';
    close $sock;

    my ($head, $rest) = split /\r\n\r\n/, $resp, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    $rest //= '';
    $rest = AgentCore::Test::sse_text($rest) if $rest =~ /^data: /;
    $rest =~ s/in (1800|17\d\d) seconds/in ~1800 seconds/;
    return ($status // '-') . " $rest";
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

=== TEST 1: tokens charged in one worker are refused in the other
Two local ports are found that reach different workers of the reuseport
server.  Key w is charged 30 tokens by worker A and refused by worker B;
key v the other way round.
--- config eval
$main::Config . $AgentCore::Test::ReportLocation
--- init
my (%port_of, $pid);
my $base = 23000 + int rand 5000;
for my $p ($base .. $base + 200) {
    $pid = main::from_port($p, 'GET', '/pid') // next;
    $port_of{$1} //= $p if $pid =~ /^200 (\d+)$/;
    last if keys %port_of == 2;
}
my @pids = sort keys %port_of;
my @out;
if (@pids == 2) {
    my ($a, $b) = @port_of{@pids};
    push @out, "A, key w: " . main::from_port($a, 'POST', '/invocations?key=w', $main::Call),
               "B, key w: " . main::from_port($b, 'POST', '/invocations?key=w', $main::Call),
               "B, key v: " . main::from_port($b, 'POST', '/invocations?key=v', $main::Call),
               "A, key v: " . main::from_port($a, 'POST', '/invocations?key=v', $main::Call);
}
AgentCore::Test::report(
    'ports to two workers: ' . (@pids == 2 ? 'found' : 'not found'), @out);
--- request
GET /report
--- response_body
ports to two workers: found
A, key w: 200 ok
B, key w: 429 {"error":"Token limit exceeded","details":"The token limit of zone \"tokens\" is reached: try again in ~1800 seconds"}
B, key v: 200 ok
A, key v: 429 {"error":"Token limit exceeded","details":"The token limit of zone \"tokens\" is reached: try again in ~1800 seconds"}
--- no_error_log
[alert]



=== TEST 2: the buckets survive nginx -s reload
--- request eval
[AgentCore::Test::invoke('[[usage in=10 out=20]] [[deltas texts=["ok"]]]', "/invocations?key=r"),
 AgentCore::Test::invoke('[[usage in=10 out=20]] [[deltas texts=["ok"]]]', "/invocations?key=r")]
--- error_code eval
[200, 429]
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) . " " . main::reload()
        if $body =~ /^data: /;
    return $body =~ /Token limit exceeded/ ? "refused" : $body;
}
--- response_body eval
["ok reloaded", "refused"]
--- error_log
reconfiguring
--- no_error_log
[alert]
