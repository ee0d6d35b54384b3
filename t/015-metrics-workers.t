# agentcore_metrics with worker processes: the counts of every worker
# summed in the shared zone whichever worker serves the scrape, and
# kept through "nginx -s reload".

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
use IPC::Open2 qw(open2);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

# the invocations run in a second server listening with reuseport: each
# proxied request comes from a new port, so the kernel spreads them over
# the workers; a tool tells which worker ran each
our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_'
server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1 reuseport;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_tool whoami /internal/whoami "Which worker runs this";

    location = /invocations { agentcore; }
    location = /internal/whoami { internal; return 200 "$pid"; }
_EOC_
. $AgentCore::Test::ModelLocation . "}\n";

our $Config = <<'_EOC_';
location = /invocations {
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    proxy_buffering off;
}

location = /metrics {
    agentcore_metrics;
}
_EOC_

our (@Pids, $Before);

# "nginx -s reload", then wait until the old workers are gone
sub get {
    my $path = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Proto => 'tcp')
        or die "connect: $!";
    print $s "GET $path HTTP/1.0\r\nHost: x\r\n\r\n";
    local $/;
    my $r = <$s>;
    $r =~ s/\A.*?\r\n\r\n//s;
    return $r;
}

# the samples as the Prometheus client's parser reads them
sub samples {
    my $text = shift;
    my $pid = open2(my $out, my $in, '/usr/bin/python3',
                    "$AgentCore::Test::Root/t/lib/prom_samples.py");
    print $in $text;
    close $in;
    local $/;
    my $res = <$out>;
    waitpid $pid, 0;
    die $res if $res =~ /^ERROR/m;
    return $res;
}

sub value {
    my ($samples, $name) = @_;
    return $samples =~ /^\Q$name\E (\S+)$/m ? $1 : 'none';
}

# the totals this test looks at, once the scrape shows $ok answers
sub totals {
    my $ok = shift;
    my $s;

    await(sub {
        $s = samples(get("/metrics"));
        value($s, 'agentcore_invocations_total{outcome="ok"}') >= $ok
    }, "$ok answers to be counted");

    return join " ", map { value($s, $_) }
        'agentcore_invocations_total{outcome="ok"}',
        'agentcore_model_calls_total{model="us.anthropic.claude-3-7-sonnet-20250219-v1:0"}',
        'agentcore_tokens_total{model="us.anthropic.claude-3-7-sonnet-20250219-v1:0",type="input"}',
        'agentcore_tool_calls_total{outcome="success",tool="whoami"}',
        'agentcore_invocation_duration_seconds_count';
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

=== TEST 1: the counts of both workers, summed
Twelve invocations, each asking its worker's pid by a tool (two model
calls, 10 input tokens each); the chance that one worker ran them all is
1 in 2048.  Then the scrape, from either worker, counts all twelve.
--- request eval
[(AgentCore::Test::invoke("[[usage in=10 out=1]] [[tool name=whoami input={}]]")) x 12,
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $text = AgentCore::Test::sse_text(shift);

    if ($text =~ /^Tool said: (\d+)$/) {
        push @main::Pids, $1;
        return "Tool said: PID";
    }

    my %workers = map { $_ => 1 } @main::Pids;
    return "workers=" . scalar(keys %workers) . " " . main::totals(12);
}
--- response_body eval
[("Tool said: PID") x 12, "workers=2 12 24 240 12 12"]
--- no_error_log
[error]
[alert]



=== TEST 2: the counts survive nginx -s reload
Three invocations, the totals, a reload (the old workers gone), the
same totals from the new workers; then a fourth invocation adds to them.
--- request eval
[(AgentCore::Test::invoke("[[usage in=10 out=1]] [[tool name=whoami input={}]]")) x 3,
 "GET /metrics",
 AgentCore::Test::invoke("[[usage in=10 out=1]] [[tool name=whoami input={}]]"),
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return "Tool said: PID"
        if AgentCore::Test::sse_text($body) =~ /^Tool said: \d+$/;

    if (!defined $main::Before) {
        $main::Before = main::totals(3);
        my $r = main::reload();
        my $after = main::totals(3);
        return "$main::Before $r $after";
    }

    return main::totals(4);
}
--- response_body eval
["Tool said: PID", "Tool said: PID", "Tool said: PID",
 "3 6 60 3 3 reloaded 3 6 60 3 3",
 "Tool said: PID",
 "4 8 80 4 4"]
--- no_error_log
[error]
[alert]
