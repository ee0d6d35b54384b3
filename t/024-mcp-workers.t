# The tools of an MCP server listed once for every worker (shared
# memory): the worker that first needs them lists them; the others take
# the list from the zone and only initialize a session of their own.

BEGIN {
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        require Test::More;
        Test::More::plan(skip_all => 'needs worker processes, and valgrind '
                                     . 'runs nginx as a single process');
    }
}

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;

$ENV{TEST_NGINX_MCP_A} = AgentCore::Mcp::start(name => 'a', page_size => 3);

# the invocations run in a second server listening with reuseport: each
# proxied request comes from a new port, so the kernel spreads them over
# the workers (as in t/011-sessions-workers.t)
our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_'
server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_tool whoami /internal/whoami "Which worker runs this";
    agentcore_mcp a /_mcp/a;

    location = /invocations { agentcore; }
    location = /internal/whoami { internal; return 200 "$pid"; }
    location = /_mcp/a {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_A/mcp;
    }
_EOC_
. $AgentCore::Test::ModelLocation . "}\n";

our $Config = <<'_EOC_' . $AgentCore::Test::ReportLocation;
location = /invocations {
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    proxy_http_version 1.0;
    proxy_buffering off;
}
_EOC_

sub answer {
    my ($req) = @_;
    my ($line, $body) = split /\n/, $req, 2;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => Test::Nginx::Util::server_port(),
        Proto => 'tcp') or die "connect: $!\n";
    my $got = '';
    my $deadline = time + $AgentCore::Test::Wait;

    print $sock "POST /invocations HTTP/1.0\r\nHost: localhost\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

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
    open my $in, '<', AgentCore::Test::error_log_file() or return 0;
    seek $in, $at, 0;
    my $n = 0;
    while (<$in>) { $n++ if $_ =~ $re; }
    return $n;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", $main::HttpConfig)
        if !defined $block->http_config;
    $block->set_value("config", $main::Config) if !defined $block->config;

    AgentCore::Test::defaults($block);
});

master_on();
workers(2);
no_shuffle();
run_tests();

__DATA__

=== TEST 1: one listing for every worker
16 invocations, each through a new connection, reach both workers; the
tools are listed once; every call succeeds.
--- init
my $at = AgentCore::Test::log_size();
my (%pids, $ok);
$ok = 0;
for my $k (1 .. 16) {
    my $a = main::answer(AgentCore::Test::invoke(
        qq{[[tools calls=[{"name":"echo","input":{"text":"$k"}},{"name":"whoami","input":{}}]]]}));
    if ($a =~ /\ATool said: a echo: $k \[version 2025-06-18\] \| (\d+)\z/) {
        $pids{$1} = 1;
        $ok++;
    }
}
AgentCore::Test::report(
    "calls that succeeded: $ok",
    'workers: ' . scalar(keys %pids),
    'listed: ' . main::count_log($at, qr/agentcore mcp "a": \d+ tools listed/),
    'from shared memory: '
        . (main::count_log($at, qr/agentcore mcp "a": \d+ tools from shared memory/)
           ? 'yes' : 'no'));
--- request
GET /report
--- response_body
calls that succeeded: 16
workers: 2
listed: 1
from shared memory: yes
--- no_error_log
[error]
