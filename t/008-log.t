# Variables for the access log: usage from Bedrock's metadata events,
# summed over the model calls, the stop reason and any stream_error.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $Format = <<'_EOC_';
log_format agentcore 'agentcore-log cycles=$agentcore_cycles in=$agentcore_input_tokens out=$agentcore_output_tokens total=$agentcore_total_tokens stop=$agentcore_stop_reason error="$agentcore_error"';
_EOC_

our $Log = "access_log logs/error.log agentcore;\n";

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", $main::Log . "agentcore_tools weather;\n"
                                    . $AgentCore::Test::Config);
    }

    if (!defined $block->http_config) {
        $block->set_value("http_config", $AgentCore::Test::HttpConfig
                                         . $main::Format);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one model call
--- request eval
AgentCore::Test::invoke('[[usage in=11 out=7]] [[deltas texts=["hi"]]]')
--- response_body eval
qq{data: "hi"\n\n}
--- error_log
agentcore-log cycles=1 in=11 out=7 total=18 stop=end_turn error="-"



=== TEST 2: two model calls around a tool: summed
--- request eval
AgentCore::Test::invoke('[[usage in=100 out=20]] [[tool name=weather input={}]]')
--- response_body_like: Tool
--- error_log
agentcore-log cycles=2 in=200 out=40 total=240 stop=end_turn error="-"



=== TEST 3: a stream_error is in $agentcore_error
--- request eval
AgentCore::Test::invoke('[[exception type=throttlingException message="Slow down"]]')
--- response_body_like: stream_error
--- error_log
agentcore-log cycles=1 in=- out=- total=- stop=- error="An error occurred (throttlingException) when calling the ConverseStream operation: Slow down"



=== TEST 4: not an invocation: the variables are empty
--- request
POST /invocations
not json
--- error_code: 400
--- error_log
agentcore-log cycles=0 in=- out=- total=- stop=- error="-"
