# The access log of docs/operating.md: its log_format (escape=json),
# taken from the document as written, writes one JSON object per
# invocation with what a bill is reconciled against; the lines are
# parsed as JSON.  And $agentcore_request_id: the runtime's header, or a
# UUID made once per request.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();

# the log_format statement of docs/operating.md
our $Format;
{
    open my $in, '<', "$AgentCore::Test::Root/docs/operating.md" or die $!;
    local $/;
    my $doc = <$in>;
    ($Format) = $doc =~ /^(log_format agentcore_json escape=json\n.*?';)$/ms
        or die "no log_format agentcore_json in docs/operating.md";
}

our $Sid = 'sess-log-json-0123456789abcdef0123456789';

our $HttpConfig = $AgentCore::Test::HttpConfig . $Format . "\n" . <<'_EOC_';
agentcore_session_zone s:1m;
log_format ids '$agentcore_request_id $agentcore_request_id';
_EOC_

our $Config = <<'_EOC_' . $AgentCore::Test::ModelLocation;
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
agentcore_session s;
agentcore_tools weather;

location = /invocations {
    agentcore;
    access_log logs/access.json agentcore_json;
    access_log logs/ids.log ids;
}

location = /log {
    return 200 "log";
}
_EOC_

sub read_log {
    my $f = ($Test::Nginx::Util::ServRoot // $ENV{TEST_NGINX_SERVROOT})
            . "/logs/" . shift;
    open my $in, '<', $f or die "$f: $!";
    return <$in>;
}

# each line parsed, then the fields that matter in a fixed order; the
# time, ttfb and request_time reduced to their shape
sub json_lines {
    my $json = JSON::PP->new->utf8;
    my @out;

    for my $line (read_log("access.json")) {
        my $v = eval { $json->decode($line) };
        return "not JSON: $line" if !$v;

        $v->{time} = $v->{time} =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/
                     ? "T" : "bad time $v->{time}";
        $v->{ttfb_ms} = "N" if $v->{ttfb_ms} =~ /^\d+$/;
        $v->{request_time} = "N" if $v->{request_time} =~ /^\d+\.\d{3}$/;
        $v->{error} = JSON::PP->new->encode([$v->{error}]);

        push @out, join " ", map { "$_=$v->{$_}" }
            qw(time request_id session_id status outcome model cycles
               retries input_tokens output_tokens cache_read_tokens
               cache_write_tokens tools ttfb_ms request_time stop_reason
               error_type error);
    }

    return join "\n", @out;
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

=== TEST 1: a JSON line per invocation: tokens, cache tokens, tools, errors
A tool call over two model calls (usage in=11 out=7, 5 cache reads, 3
cache writes each), a throttlingException whose message holds a quote
and a backslash, a 400; each with a request id of its own.
--- more_headers eval
["X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-0001\n"
 . "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid",
 "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-0002\n"
 . "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid",
 "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-0003",
 ""]
--- request eval
[AgentCore::Test::invoke('[[usage in=11 out=7 cache-read=5 cache-write=3]] [[tool name=weather input={}]]'),
 AgentCore::Test::invoke('[[exception type=throttlingException message="Slow \"down\" \\\\ now"]]'),
 "POST /invocations\nnot json",
 "GET /log"]
--- error_code eval
[200, 200, 400, 200]
--- response_body_filters eval
sub {
    my $body = shift;
    return $body eq "log" ? main::json_lines() : "-";
}
--- response_body eval
["-", "-", "-",
 'time=T request_id=req-0001 session_id=sess-log-json-0123456789abcdef0123456789 status=200 outcome=ok model=us.anthropic.claude-3-7-sonnet-20250219-v1:0 cycles=2 retries=0 input_tokens=22 output_tokens=14 cache_read_tokens=10 cache_write_tokens=6 tools=weather ttfb_ms=N request_time=N stop_reason=end_turn error_type= error=[""]
time=T request_id=req-0002 session_id=sess-log-json-0123456789abcdef0123456789 status=200 outcome=stream_error model=us.anthropic.claude-3-7-sonnet-20250219-v1:0 cycles=1 retries=0 input_tokens= output_tokens= cache_read_tokens= cache_write_tokens= tools= ttfb_ms=N request_time=N stop_reason= error_type=ThrottlingException error=["An error occurred (throttlingException) when calling the ConverseStream operation: Slow \"down\" \\\\ now"]
time=T request_id=req-0003 session_id= status=400 outcome=4xx model=us.anthropic.claude-3-7-sonnet-20250219-v1:0 cycles=0 retries=0 input_tokens= output_tokens= cache_read_tokens= cache_write_tokens= tools= ttfb_ms= request_time=N stop_reason= error_type= error=[""]']
--- no_error_log
[alert]
[crit]



=== TEST 2: no request id header, or one that is not visible ASCII: a UUID, the same wherever it is read
--- more_headers eval
["", "", "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: has space", ""]
--- request eval
[AgentCore::Test::invoke('hi'), AgentCore::Test::invoke('hi'),
 AgentCore::Test::invoke('hi'), "GET /log"]
--- response_body_filters eval
sub {
    my $body = shift;
    return "-" if $body ne "log";

    my (@ids, %seen);
    for (main::read_log("ids.log")) {
        my ($a, $b) = split;
        return "differs: $_" if $a ne $b;
        return "not a UUID: $a"
            if $a !~ /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
        $seen{$a}++;
        push @ids, $a;
    }
    return scalar(@ids) . " uuids, " . scalar(keys %seen) . " distinct";
}
--- response_body eval
["-", "-", "-", "3 uuids, 3 distinct"]



=== TEST 3: $agentcore_tool_names holds two calls of a 64-character tool
Two calls of a tool whose name has the most characters a name may have:
the list grows from 64 bytes to the 129 it needs (it grew to 128 before,
one byte short; an ASan build of nginx would see the write past the end).
--- config eval
<<'_EOC_' . $AgentCore::Test::ModelLocation
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
agentcore_tool tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt /t "a tool with a long name";

location = /invocations {
    agentcore;
    access_log logs/tools.log tools;
}

location = /t {
    return 200 "ok";
}

location = /log {
    return 200 "log";
}
_EOC_
--- http_config eval
$AgentCore::Test::HttpConfig . "log_format tools '\$agentcore_tool_names';\n"
--- request eval
[AgentCore::Test::invoke('[[tools calls=[{"name":"tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt","input":{}},{"name":"tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt","input":{}}]]]'),
 "GET /log"]
--- response_body_filters eval
sub {
    my $body = shift;
    return CORE::join("", main::read_log("tools.log")) if $body eq "log";
    return CORE::join("", $body =~ /^data: "(.*)"$/mg);
}
--- response_body eval
["Tool said: ok | ok", "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt,tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt\n"]
