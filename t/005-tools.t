# The agent loop: the model asks for tools, nginx runs them (module
# callbacks and locations), feeds the results back and streams the
# final answer, in one invocation.

use lib 't/lib';
use AgentCore::Test 'tool_module';
use Test::Nginx::Socket 'no_plan';

our $Tools = <<'_EOC_' . $AgentCore::Test::Config;
agentcore_tools calculator weather get_time current_time;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->config) {
        $block->set_value("config", $main::Tools);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the calculator, as in the contract's worked example
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"2+1"} text="I\'ll calculate that."]]')
--- response_body: I'll calculate that.Tool said: Result: 3
--- no_error_log
[error]
[warn]



=== TEST 2: text deltas of both cycles stream back to back, each an event
--- response_body_filters
--- request eval
AgentCore::Test::invoke('[[tool name=weather input={} text="Checking."]]')
--- response_body eval
qq{data: "Checking."\n\ndata: "Tool"\n\ndata: " said:"\n\ndata: " sunny"\n\n}
--- no_error_log
[error]



=== TEST 3: agentcore_weather sets the weather
--- config eval
"agentcore_weather rainy;\n" . $main::Tools
--- request eval
AgentCore::Test::invoke('[[tool name=weather input={}]]')
--- response_body: Tool said: rainy



=== TEST 4: get_time is naive local time
--- request eval
AgentCore::Test::invoke('[[tool name=get_time input={}]]')
--- response_body_like: ^Tool said: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$



=== TEST 5: current_time in a zone, and in UTC by default
--- request eval
[AgentCore::Test::invoke('[[tool name=current_time input={"timezone":"Asia/Kolkata"}]]'),
 AgentCore::Test::invoke('[[tool name=current_time input={}]]'),
 AgentCore::Test::invoke('[[tool name=current_time input={"timezone":"Mars/Olympus"}]]')]
--- response_body_like eval
[qr/^Tool said: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+05:30$/,
 qr/^Tool said: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$/,
 qr/^Tool said: Error: Error getting current time: 'No time zone found with key Mars\/Olympus'$/]



=== TEST 6: two tools in one turn: results in the order asked
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"weather","input":{}},{"name":"calculator","input":{"expression":"6*7"}},{"name":"weather","input":{}}]]]')
--- response_body: Tool said: sunny | Result: 42 | sunny



=== TEST 7: an unknown tool is an error result, and the loop goes on
--- request eval
AgentCore::Test::invoke('[[tool name=nosuch input={}]]')
--- response_body: Tool said: Unknown tool: nosuch
--- no_error_log
[error]



=== TEST 8: a failing tool is an error result, and the loop goes on
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"15% of 80"}]]')
--- response_body: Tool said: Error: Invalid mathematical expression: invalid syntax



=== TEST 9: malformed tool input JSON becomes {}
--- config eval
"agentcore_tools reverse;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=reverse input_raw="{\"text\": oops"]]')
--- response_body: Tool said: Error: "text" must be a string



=== TEST 10: text before and after the tool use
--- request eval
AgentCore::Test::invoke('[[text-after name=weather]]')
--- response_body: Let me check. One moment.Tool said: sunny



=== TEST 11: a tool in every cycle stops at agentcore_max_cycles
--- config eval
"agentcore_max_cycles 3;\n" . $main::Tools
--- request eval
AgentCore::Test::invoke('[[tool-loop]]')
--- response_body: Cycle 1. Cycle 2. Cycle 3. [stream_error: The agent stopped after 3 model calls (agentcore_max_cycles)]
--- error_log
agentcore: stream_error: "The agent stopped after 3 model calls



=== TEST 12: the default is 20 model calls, within the memory budget
Every subrequest lives in the main request's pool until the end: 20
cycles stay under 400,000 bytes (measured: about 295,000).
--- request eval
AgentCore::Test::invoke('[[tool-loop]]')
--- response_body eval
CORE::join("", map { "Cycle $_. " } 1 .. 20)
. "[stream_error: The agent stopped after 20 model calls (agentcore_max_cycles)]"
--- error_log eval
qr/agentcore invocation done: 20 model calls, request pool (?:\d{1,5}|[1-3]\d{5}) bytes/



=== TEST 13: a location as a tool gets the input as a JSON POST
--- config eval
qq{agentcore_tool orders /internal/orders "Look up an order";\n}
. qq{location = /internal/orders { internal; return 200 "\$request_method \$content_type \$request_body"; }\n}
. $AgentCore::Test::Config
--- more_headers
Content-Type: text/plain
--- request eval
AgentCore::Test::invoke('[[tool name=orders input={"id":42}]]')
--- response_body: Tool said: POST application/json {"id":42}
--- no_error_log
[error]



=== TEST 14: a location tool answering 500 is an error result
--- config eval
qq{agentcore_tool orders /internal/orders "Look up an order";\n}
. qq{location = /internal/orders { return 500 "database down"; }\n}
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=orders input={}]]')
--- response_body: Tool said: Error: database down



=== TEST 15: an unreachable location tool is an error result
--- config eval
qq{agentcore_tool orders /internal/orders "Look up an order";\n}
. qq{location = /internal/orders { proxy_pass http://127.0.0.1:1; }\n}
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=orders input={}]]')
--- response_body: Tool said: Error: HTTP 502 from the tool location
--- error_log
connect() failed (111: Connection refused)



=== TEST 16: an oversized tool response is an error result
--- config eval
qq{agentcore_tool_max_size 16;\n}
. qq{agentcore_tool orders /internal/orders "Look up an order";\n}
. qq{location = /internal/orders { return 200 "a response longer than sixteen bytes"; }\n}
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=orders input={}]]')
--- response_body: Tool said: Error: the tool's response is larger than agentcore_tool_max_size



=== TEST 17: a location tool that times out is an error result
--- config eval
q{agentcore_tool slow /internal/slow "Slow";
location = /internal/slow {
    proxy_pass http://bedrock/model/x/converse-stream;
    proxy_set_header Authorization "Bearer $TEST_NGINX_BEDROCK_BEARER";
    proxy_set_body '{"messages":[{"role":"user","content":[{"text":"[[hang-accept]]"}]}]}';
    proxy_read_timeout 300ms;
}
} . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- response_body: Tool said: Error: HTTP 504 from the tool location
--- error_log
upstream timed out



=== TEST 18: two slow location tools run at the same time
Each response takes a moment (limit_rate holds back what passes the
first 1000 bytes); both start before either ends.
--- config eval
qq{agentcore_tool a /internal/slow "A";\n}
. qq{agentcore_tool b /internal/slow "B";\n}
. qq{location = /internal/slow { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/slow.txt; }\n}
. qq{location = /slow.txt { root html; limit_rate 1000; }\n}
. $AgentCore::Test::Config
--- user_files eval
">>> slow.txt\n" . ("x" x 1200)
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"a","input":{}},{"name":"b","input":{}}]]]')
--- response_body eval
"Tool said: " . ("x" x 1200) . " | " . ("x" x 1200)
--- grep_error_log eval: qr/agentcore tool call (?:start|done)/
--- grep_error_log_out
agentcore tool call start
agentcore tool call start
agentcore tool call done
agentcore tool call done



=== TEST 19: a module's own tools through the public header
--- config eval
"agentcore_tools reverse later;\n" . $AgentCore::Test::Config
--- request eval
[AgentCore::Test::invoke('[[tool name=reverse input={"text":"stressed"}]]'),
 AgentCore::Test::invoke('[[tool name=later input={"ms":50}]]'),
 AgentCore::Test::invoke('[[tools calls=[{"name":"later","input":{"ms":100}},{"name":"reverse","input":{"text":"ab"}}]]]')]
--- response_body eval
["Tool said: desserts", "Tool said: done later", "Tool said: done later | ba"]
--- no_error_log
[error]



=== TEST 20: the toolConfig the reference sends, tools in configured order
--- config eval
"agentcore_tools weather get_time;\n" . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[echo]]')
--- response_body eval
'{"messages":[{"role":"user","content":[{"text":"[[echo]]"}]}],"inferenceConfig":{},'
. '"toolConfig":{"tools":['
. '{"toolSpec":{"name":"weather","description":"Get weather","inputSchema":{"json":{"properties":{},"type":"object","required":[]}}}},'
. '{"toolSpec":{"name":"get_time","description":"Get current time","inputSchema":{"json":{"properties":{},"type":"object","required":[]}}}}'
. '],"toolChoice":{"auto":{}}}}'



=== TEST 21: an unknown tool name fails the configuration
--- config
    agentcore_tools calculator nosuch;
--- must_die
--- error_log
unknown agentcore tool "nosuch" in "agentcore_tools"



=== TEST 22: agentcore_tools off in a location drops inherited tools
--- config eval
"agentcore_tools weather;\n"
. "location = /plain { agentcore; agentcore_tools off; }\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[echo]]', '/plain')
--- response_body eval
'{"messages":[{"role":"user","content":[{"text":"[[echo]]"}]}],"inferenceConfig":{}}'



=== TEST 23: the toolResult message: one user message, results in the order asked
--- response_body_filters
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"weather","input":{}},{"name":"nosuch","input":{"a":1}}] then=echo]]')
--- response_body_like eval
qr/\{\\"role\\":\\"user\\",\\"content\\":\[\{\\"toolResult\\":\{\\"toolUseId\\":\\"tooluse_\w+\\",\\"content\\":\[\{\\"text\\":\\"sunny\\"\}\],\\"status\\":\\"success\\"\}\},\{\\"toolResult\\":\{\\"toolUseId\\":\\"tooluse_\w+\\",\\"content\\":\[\{\\"text\\":\\"Unknown tool: nosuch\\"\}\],\\"status\\":\\"error\\"\}\}\]\}\],\\"inferenceConfig\\":\{\},\\"toolConfig\\"/



=== TEST 24: end_turn with toolUse blocks still runs the tools
--- request eval
AgentCore::Test::invoke('[[tool name=weather input={}]] [[stop-reason value=end_turn]]')
--- response_body: Tool said: sunny



=== TEST 25: the calculator's derive mode through the loop
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"x**3","mode":"derive","wrt":"x"}]]')
--- response_body: Tool said: Result: 3*x**2
--- no_error_log
[error]
[warn]



=== TEST 26: the model receives the derivative as a successful toolResult
--- request eval
AgentCore::Test::invoke('[[tool name=calculator input={"expression":"sin(x)*x","mode":"derive","order":2} then=echo]]')
--- response_body_like eval
qr/\{"toolResult":\{"toolUseId":"tooluse_\w+","content":\[\{"text":"Result: -x\*sin\(x\) \+ 2\*cos\(x\)"\}\],"status":"success"\}\}/



=== TEST 27: solve, series and a symbolic evaluate, each a tool result
--- request eval
[AgentCore::Test::invoke('[[tool name=calculator input={"expression":"x**2 - 4","mode":"solve"}]]'),
 AgentCore::Test::invoke('[[tool name=calculator input={"expression":"exp(x)","mode":"series","order":3}]]'),
 AgentCore::Test::invoke('[[tool name=calculator input={"expression":"x + 1"}]]')]
--- response_body eval
["Tool said: Result: [(-2+0j), (2+0j)]",
 "Tool said: Result: 1 + x + x**2/2 + O(x**3)",
 "Tool said: Result: x + 1"]
--- no_error_log
[error]
