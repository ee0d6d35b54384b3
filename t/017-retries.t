# Retries of a failed model call (agentcore_retries): throttling with
# Strands' schedule, 5xx and connection errors as the AWS SDK's standard
# mode, each wait a timer; never once text of the call was sent.
# The waits are made short here (delay=10ms); TEST 7 checks the default
# schedule's first wait and that the client's leaving cancels it.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $Format = <<'_EOC_';
log_format retries 'agentcore-log cycles=$agentcore_cycles retries=$agentcore_retries';
_EOC_

our $Log = "access_log logs/error.log retries;\n";

our $Throttled = 'An error occurred (ThrottlingException) when calling the '
    . 'ConverseStream operation: Too many requests, please wait before '
    . 'trying again.';

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", $main::Log
            . ($block->retries // "agentcore_retries delay=10ms error_delay=10ms;")
            . "\n" . $AgentCore::Test::Config);
    }

    if (!defined $block->http_config) {
        # without the suites' "agentcore_retries off": the defaults
        (my $http = $AgentCore::Test::HttpConfig)
            =~ s/^agentcore_retries off;\n//m;
        $block->set_value("http_config", $http . $main::Format);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: throttled twice, then an answer: one clean stream
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again." times=2 id=t1]] [[deltas texts=["Fine ","now."]]]')
--- response_body eval
qq{data: "Fine "\n\ndata: "now."\n\n}
--- error_log
[warn]
agentcore: model call throttled (ThrottlingException), retry 1 of 5 in 10ms
agentcore: model call throttled (ThrottlingException), retry 2 of 5 in 20ms
agentcore-log cycles=3 retries=2
--- no_error_log
retry 3 of 5
stream_error



=== TEST 2: throttled always: the reference's error after the attempts
--- retries: agentcore_retries throttle=3 delay=10ms;
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again."]]')
--- response_body eval
qq{data: {"error": "$main::Throttled", "type": "stream_error"}\n\n}
--- error_log
retry 1 of 2 in 10ms
retry 2 of 2 in 20ms
agentcore-log cycles=3 retries=2
--- no_error_log
retry 3 of



=== TEST 3: a 500: the SDK's standard mode, 3 attempts
--- request eval
AgentCore::Test::invoke('[[http status=500 message="Internal failure"]]')
--- response_body eval
qq{data: {"error": "An error occurred (InternalServerException) when calling the ConverseStream operation: Internal failure", "type": "stream_error"}\n\n}
--- error_log eval
[qr/agentcore: model call failed \(InternalServerException, HTTP 500\), retry 1 of 2 in (?:[0-9]|10)ms /,
 qr/agentcore: model call failed \(InternalServerException, HTTP 500\), retry 2 of 2 in (?:1?[0-9]|20)ms /,
 qr/agentcore-log cycles=3 retries=2/]



=== TEST 4: a 503 once, then an answer
--- request eval
AgentCore::Test::invoke('[[http status=503 times=1 id=t4]] [[deltas texts=["up"]]]')
--- response_body eval
qq{data: "up"\n\n}
--- error_log
retry 1 of 2 in
agentcore-log cycles=2 retries=1



=== TEST 5: the model location cannot connect (502): retried as well
--- config eval
$main::Log . q{agentcore_retries error_delay=10ms;
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    agentcore;
}
location = /_agentcore/bedrock {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_bedrock_params;
    proxy_pass http://127.0.0.1:9$agentcore_bedrock_path;
}
}
--- request eval
AgentCore::Test::invoke('hi')
--- response_body eval
qq{data: {"error": "The model call failed (HTTP 502 from the model location)", "type": "stream_error"}\n\n}
--- error_log eval
[qr/agentcore: model call failed \(HTTP 502\), retry 2 of 2 in \d+ms/,
 qr/agentcore-log cycles=3 retries=2/]



=== TEST 6: a throttlingException frame before any text: retried
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down" deltas=0 times=1 id=t6]] [[deltas texts=["ok"]]]')
--- response_body eval
qq{data: "ok"\n\n}
--- error_log
agentcore: model call throttled (ThrottlingException), retry 1 of 5 in 10ms
agentcore-log cycles=2 retries=1



=== TEST 7: text already sent, then throttled: no retry, no duplicate text
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]')
--- response_body eval
qq{data: "Partial "\n\ndata: "answer "\n\n}
. qq{data: {"error": "An error occurred (throttlingException) when calling the ConverseStream operation: Slow down", "type": "stream_error"}\n\n}
--- error_log
after its text was sent: not retried
agentcore-log cycles=1 retries=0
--- no_error_log
retry 1 of



=== TEST 8: agentcore_retries off: one call
--- retries: agentcore_retries off;
--- request eval
AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="Too many requests, please wait before trying again."]]')
--- response_body eval
qq{data: {"error": "$main::Throttled", "type": "stream_error"}\n\n}
--- error_log
agentcore-log cycles=1 retries=0
--- no_error_log
retry 1 of



=== TEST 9: the default schedule waits 4 s first; the client leaving cancels it
The client leaves once the first wait is logged; the request's cleanup
deletes the timer, and the access log shows that no second model call
was made.
--- config eval
$main::Log . $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $waited = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[http status=429 type=ThrottlingException message="x"]]'),
    sub { AgentCore::Test::wait_log($at,
              qr/model call throttled \(ThrottlingException\), retry 1 of 5 in 4s/) });
my $cancelled = AgentCore::Test::wait_log($at,
    qr/the retry is cancelled/, qr/agentcore-log cycles=1 retries=1/);
AgentCore::Test::report(
    'the first wait was 4 s: ' . ($waited ? 'yes' : 'no'),
    'cancelled after one call: ' . ($cancelled ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the first wait was 4 s: yes
cancelled after one call: yes
--- no_error_log
retry 2 of 5



=== TEST 10: inherited from the server level, overridden in a location
--- config eval
$main::Log . q{agentcore_retries off;
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    agentcore;
}
location = /retrying {
    agentcore;
    agentcore_retries throttle=2 delay=10ms;
}
} . $AgentCore::Test::ModelLocation
--- request eval
AgentCore::Test::invoke('[[http status=429 message="x" times=1 id=t10]] [[deltas texts=["ok"]]]', '/retrying')
--- response_body eval
qq{data: "ok"\n\n}
--- error_log
retry 1 of 1 in 10ms
agentcore-log cycles=2 retries=1



=== TEST 11: retries in the metrics (agentcore_model_retries_total)
--- config eval
$main::Log . "agentcore_retries delay=10ms;\n" . $AgentCore::Test::Config
. "location = /metrics { agentcore_metrics; }\n"
--- request eval
[AgentCore::Test::invoke('[[http status=429 message="x" times=2 id=t11]] [[deltas texts=["ok"]]]'),
 "GET /metrics"]
--- response_body_like eval
[qr/\Adata: "ok"\n\n\z/,
 qr/^agentcore_model_retries_total\{model="[^"]+"\} 2$/m]



=== TEST 12: each wait twice the last, at most max_delay
--- retries: agentcore_retries throttle=4 delay=10ms max_delay=25ms;
--- request eval
AgentCore::Test::invoke('[[http status=429 message="x"]]')
--- response_body_like: stream_error
--- error_log
retry 1 of 3 in 10ms
retry 2 of 3 in 20ms
retry 3 of 3 in 25ms
agentcore-log cycles=4 retries=3
