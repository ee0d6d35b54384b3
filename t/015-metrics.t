# agentcore_metrics: Prometheus text from the shared zone, parsed by the
# Prometheus client's own parser (t/lib/prom_samples.py, Debian's
# python3-prometheus-client): counts after known invocations (ok, a
# 400, a 405, stream_errors of each kind, a tool call, a client that
# goes away), tokens from the emulator's usage, the histograms.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use IPC::Open2 qw(open2);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use File::Temp ();

our $Model = 'us.anthropic.claude-3-7-sonnet-20250219-v1:0';

our $Config = $AgentCore::Test::Config . <<'_EOC_';
agentcore_tools weather calculator;

location = /metrics {
    agentcore_metrics;
}
_EOC_

# the samples, as the parser read them: "name{labels} value" lines
sub samples {
    my $text = shift;
    my $pid = open2(my $out, my $in, '/usr/bin/python3',
                    "$AgentCore::Test::Root/t/lib/prom_samples.py");
    print $in $text;
    close $in;
    local $/;
    my $res = <$out>;
    waitpid $pid, 0;
    return $res;
}

# the lines of interest: invocations, nonzero stream_errors, models,
# tokens, tools, the histograms' counts
sub pick {
    my $lines = samples(shift);
    return $lines if $lines =~ /^ERROR/m;
    return CORE::join "\n", grep {
        /^agentcore_invocations_total/
        || (/^agentcore_stream_errors_total/ && !/ 0$/)
        || /^agentcore_(model_calls|model_retries|tokens|tool_calls)_total/
        || /^agentcore_(ttfb|invocation_duration)_seconds_count/
        || /^agentcore_credential/
    } split /\n/, $lines;
}

# a body: the SSE text of an invocation, the picked samples of a scrape
sub filter {
    my $body = shift;
    return pick($body) if $body =~ /^# HELP/;
    return AgentCore::Test::sse_text($body) if $body =~ /^data: /;
    return $body;
}

# GET on this nginx, HTTP/1.0: the body
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

# waits (bounded) until $cond returns true
sub await {
    my ($cond, $what) = @_;
    my $deadline = time + 10;

    until ($cond->()) {
        die "timed out waiting for $what\n" if time > $deadline;
        sleep 0.02;
    }
}

# an invocation that streams slowly: read its first event, go away, and
# wait until the metrics count it
sub abort_one {
    my $req = qq{{"prompt": "[[slow ms=300 n=20]]"}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Proto => 'tcp')
        or die "connect: $!";
    print $s "POST /invocations HTTP/1.1\r\nHost: x\r\n"
             . "Content-Length: " . length($req) . "\r\n\r\n$req";
    my $buf = '';
    until ($buf =~ /data: /) {
        sysread($s, $buf, 4096, length $buf) or die "read: $!";
    }
    close $s;

    await(sub { samples(get("/metrics"))
                =~ /^agentcore_invocations_total\{outcome="client_abort"\} 1$/m },
          "the client_abort to be counted");
    return "aborted";
}

# a shared credentials file: a fetched source (read in the thread pool)
our $Files = File::Temp::tempdir(CLEANUP => 1);
{
    open my $f, '>', "$Files/credentials" or die $!;
    print $f "[metrics]\naws_access_key_id = AKIDEXAMPLE\n"
             . "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n";
    close $f;
    open $f, '>', "$Files/config" or die $!;
    close $f;
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

=== TEST 1: counts after known invocations
An answer (usage in=11 out=7, 5 cache reads, 3 cache writes), a 400, a
405, a throttlingException after two deltas (no usage), a tool call
across two model calls (usage in=100 out=20 each), then the scrape.
--- request eval
[AgentCore::Test::invoke('[[usage in=11 out=7 cache-read=5 cache-write=3]] hi'),
 "POST /invocations\nnot json",
 "GET /invocations",
 AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]'),
 AgentCore::Test::invoke('[[usage in=100 out=20]] [[tool name=weather input={}]]'),
 "GET /metrics"]
--- response_body_filters eval: \&main::filter
--- error_code eval
[200, 400, 405, 200, 200, 200]
--- response_body eval
["Hello! You said: hi",
 '{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}',
 "Method Not Allowed",
 "Partial answer [stream_error: An error occurred (throttlingException) when calling the ConverseStream operation: Slow down]",
 "Tool said: sunny",
 qq{agentcore_invocations_total{outcome="ok"} 2
agentcore_invocations_total{outcome="stream_error"} 1
agentcore_invocations_total{outcome="client_abort"} 0
agentcore_invocations_total{outcome="4xx"} 2
agentcore_invocations_total{outcome="5xx"} 0
agentcore_stream_errors_total{type="ThrottlingException"} 1
agentcore_invocation_duration_seconds_count 5
agentcore_ttfb_seconds_count 3
agentcore_model_calls_total{model="$main::Model"} 4
agentcore_model_retries_total{model="$main::Model"} 0
agentcore_tokens_total{model="$main::Model",type="input"} 211
agentcore_tokens_total{model="$main::Model",type="output"} 47
agentcore_tokens_total{model="$main::Model",type="cache_read"} 5
agentcore_tokens_total{model="$main::Model",type="cache_write"} 3
agentcore_tool_calls_total{outcome="success",tool="weather"} 1
agentcore_tool_calls_total{outcome="error",tool="weather"} 0
agentcore_tool_calls_total{outcome="success",tool="calculator"} 0
agentcore_tool_calls_total{outcome="error",tool="calculator"} 0
agentcore_credential_refreshes_total{result="success"} 0
agentcore_credential_refreshes_total{result="failure"} 0}]
--- no_error_log
[alert]
[crit]



=== TEST 2: the scrape's headers; HEAD; other methods refused
--- request eval
["GET /metrics", "HEAD /metrics", "POST /metrics\nx"]
--- error_code eval
[200, 200, 405]
--- response_headers eval
["Content-Type: text/plain; version=0.0.4; charset=utf-8",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8",
 "Allow: GET, HEAD"]
--- response_body_like eval
["^# HELP agentcore_invocations_total ", "^\$", "Method Not Allowed"]



=== TEST 3: stream_error types: Bedrock's, as HTTP errors or exceptions, and the module's own
--- request eval
[AgentCore::Test::invoke('[[http status=429]]'),
 AgentCore::Test::invoke('[[http status=400 type=ValidationException]]'),
 AgentCore::Test::invoke('[[exception type=modelStreamErrorException]]'),
 AgentCore::Test::invoke('[[error-frame code=InternalFailure]]'),
 AgentCore::Test::invoke('[[exception type=someFutureException]]'),
 AgentCore::Test::invoke('[[truncate]]'),
 AgentCore::Test::invoke('[[corrupt]]'),
 AgentCore::Test::invoke('[[max-tokens]] hi'),
 AgentCore::Test::invoke('[[tool-loop]]'),
 "GET /metrics"]
--- config eval
$main::Config . "agentcore_max_cycles 2;\n"
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) =~ /stream_error/ ? "E" : "-"
        if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /stream_error|stream_errors/ } split /\n/, main::pick($body);
}
--- response_body eval
[("E") x 9,
 qq{agentcore_invocations_total{outcome="stream_error"} 9
agentcore_stream_errors_total{type="stream_corrupt"} 1
agentcore_stream_errors_total{type="stream_truncated"} 1
agentcore_stream_errors_total{type="max_tokens"} 1
agentcore_stream_errors_total{type="max_cycles"} 1
agentcore_stream_errors_total{type="ThrottlingException"} 1
agentcore_stream_errors_total{type="ValidationException"} 1
agentcore_stream_errors_total{type="ModelStreamErrorException"} 1
agentcore_stream_errors_total{type="InternalFailure"} 1
agentcore_stream_errors_total{type="other"} 1}]



=== TEST 4: the model location unreachable or timing out
--- config eval
$main::Config . q{
location = /_agentcore/down {
    internal;
    proxy_pass http://127.0.0.1:1;
}
location = /_agentcore/slow {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_bedrock_params;
    proxy_read_timeout 100ms;
    proxy_pass http://bedrock$agentcore_bedrock_path;
}
location = /down {
    agentcore;
    agentcore_model_location /_agentcore/down;
}
location = /slow {
    agentcore;
    agentcore_model_location /_agentcore/slow;
}
}
--- request eval
[AgentCore::Test::invoke('hi', '/down'),
 AgentCore::Test::invoke('[[hang-accept]]', '/slow'),
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /stream_errors/ } split /\n/, main::pick($body);
}
--- response_body eval
["[stream_error: The model call failed (HTTP 502 from the model location)]",
 "[stream_error: The model endpoint timed out (HTTP 504)]",
 qq{agentcore_stream_errors_total{type="upstream_timeout"} 1
agentcore_stream_errors_total{type="upstream_error"} 1}]



=== TEST 5: a client that goes away mid-stream is a client_abort
--- request eval
["GET /metrics", "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return main::abort_one() if !$main::Aborted++;
    return CORE::join "\n", grep { /invocations_total/ } split /\n/, main::pick($body);
}
--- response_body eval
["aborted",
 qq{agentcore_invocations_total{outcome="ok"} 0
agentcore_invocations_total{outcome="stream_error"} 0
agentcore_invocations_total{outcome="client_abort"} 1
agentcore_invocations_total{outcome="4xx"} 0
agentcore_invocations_total{outcome="5xx"} 0}]



=== TEST 6: label values escaped: a model id with a quote and a backslash
--- config eval
$main::Config . q{
location = /odd {
    agentcore;
    agentcore_model 'odd"model\\id';
}
}
--- request eval
[AgentCore::Test::invoke('[[usage in=1 out=2]] hi', '/odd'),
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) if $body !~ /^# HELP/;
    my ($raw) = $body =~ /^(agentcore_model_calls_total\{model="odd.*)$/m;
    return $raw . "\n" . CORE::join "\n", grep { /model_calls.*odd/ } split /\n/, main::pick($body);
}
--- response_body eval
["Hello! You said: hi",
 qq{agentcore_model_calls_total{model="odd\\"model\\\\id"} 1
agentcore_model_calls_total{model="odd"model\\id"} 1}]



=== TEST 7: a credentials fetch is counted
--- main_config eval
$AgentCore::Test::MainConfig
. "env AWS_SHARED_CREDENTIALS_FILE=$main::Files/credentials;\n"
. "env AWS_CONFIG_FILE=$main::Files/config;\n"
--- config eval
"agentcore_credentials profile=metrics;\n" . $main::Config
--- request eval
[AgentCore::Test::invoke('hi'), "GET /metrics"]
--- response_body_filters eval: \&main::filter
--- response_body_like eval
["Hello! You said: hi",
 qr{agentcore_credential_refreshes_total\{result="success"\} 1\nagentcore_credential_refreshes_total\{result="failure"\} 0\z}]



=== TEST 8: sessions held, and evicted from a full zone
Eight sessions with a 3 KB prompt each in a zone of 8 pages: the first
ones are evicted to make room; what is held and what was evicted add up
to eight.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone small:32k;\n"
--- config eval
"agentcore_session small;\n" . $main::Config
--- more_headers eval
[(map { "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: metrics-session-$_-0123456789abcdef0123456789" } 1 .. 8), ""]
--- request eval
[(AgentCore::Test::invoke('[[deltas texts=["ok"]]] ' . ('x' x 3000))) x 8,
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) if $body !~ /^# HELP/;
    my $s = main::samples($body);
    my ($live) = $s =~ /^agentcore_sessions\{zone="small"\} (\d+)$/m;
    my ($gone) = $s =~ /^agentcore_sessions_evicted_total\{zone="small"\} (\d+)$/m;
    return "held+evicted=" . ($live + $gone) . " evicted=" . ($gone ? "some" : "none");
}
--- response_body eval
[("ok") x 8, "held+evicted=8 evicted=some"]



=== TEST 9: the metrics zone's name is the module's own
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone agentcore_metrics:1m;\n"
--- request
GET /metrics
--- must_die
--- error_log
zone name "agentcore_metrics" is reserved



=== TEST 10: a model request past the model location's client_max_body_size
--- config eval
$main::Config . q{
location = /_agentcore/small {
    internal;
    client_max_body_size 1k;
    proxy_pass http://bedrock$agentcore_bedrock_path;
}
location = /small {
    agentcore;
    agentcore_model_location /_agentcore/small;
}
}
--- request eval
[AgentCore::Test::invoke('x' x 2000, '/small'), "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return AgentCore::Test::sse_text($body) =~ /stream_error: The model request \(\d+ bytes\) is larger/ ? "E" : $body
        if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /stream_errors/ } split /\n/, main::pick($body);
}
--- response_body eval
["E", qq{agentcore_stream_errors_total{type="request_too_large"} 1}]



=== TEST 11: a relayed request (agentcore_runtime_pass) is not an invocation here
--- config eval
$main::Config . q{
agentcore_runtime_location /_agentcore/runtime;

location = /relay {
    agentcore_runtime_pass arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/hosted_agent-AbC123;
}

location = /_agentcore/runtime {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_runtime_params;
    proxy_pass http://127.0.0.1:1$agentcore_runtime_path;
}
}
--- request eval
[AgentCore::Test::invoke('hi', '/relay'), "GET /metrics"]
--- error_code eval
[502, 200]
--- response_body_filters eval
sub {
    my $body = shift;
    return "-" if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /invocations_total|duration_seconds_count/ } split /\n/, main::pick($body);
}
--- response_body eval
["-", qq{agentcore_invocations_total{outcome="ok"} 0
agentcore_invocations_total{outcome="stream_error"} 0
agentcore_invocations_total{outcome="client_abort"} 0
agentcore_invocations_total{outcome="4xx"} 0
agentcore_invocations_total{outcome="5xx"} 0
agentcore_invocation_duration_seconds_count 0}]



=== TEST 12: a failed credentials fetch is counted, and the invocation it fails is a 5xx
--- main_config eval
$AgentCore::Test::MainConfig
. "env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:1/creds;\n"
--- config eval
"agentcore_credentials container;\n" . $main::Config
--- request eval
[AgentCore::Test::invoke('hi'), "GET /metrics"]
--- error_code eval
[500, 200]
--- response_body_filters eval
sub {
    my $body = shift;
    return "-" if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /5xx|credential/ } split /\n/, main::pick($body);
}
--- response_body_like eval
["-", qr{\Aagentcore_invocations_total\{outcome="5xx"\} 1\nagentcore_credential_refreshes_total\{result="success"\} 0\nagentcore_credential_refreshes_total\{result="failure"\} [1-9]\d*\z}]
