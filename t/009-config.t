# Configuration errors fail "nginx -t" with a clear message.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: agentcore needs agentcore_model_location
--- config
    location = /invocations { agentcore; }
--- must_die
--- error_log
"agentcore" requires "agentcore_model_location"



=== TEST 2: agentcore_max_tokens must be positive
--- config eval
"agentcore_max_tokens 0;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
value must be between 1 and 1000000000



=== TEST 3: agentcore_max_cycles must be positive
--- config eval
"agentcore_max_cycles 0;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
value must be between 1 and 1000



=== TEST 4: a tool name outside [a-zA-Z0-9_-]
--- config eval
qq{agentcore_tool "bad name" /x "A tool";\n} . $AgentCore::Test::Config
--- must_die
--- error_log
invalid agentcore tool name "bad name"



=== TEST 5: a tool schema that is not a JSON object
--- config eval
qq{agentcore_tool orders /x "A tool" '[1,2]';\n} . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore tool "orders": the input schema must be a JSON object



=== TEST 6: two tools of the same name at one level
--- config eval
qq{agentcore_tools weather;\nagentcore_tool weather /x "Another weather";\n}
. $AgentCore::Test::Config
--- must_die
--- error_log
duplicate agentcore tool "weather"



=== TEST 7: agentcore and another content handler in one location
--- config eval
"location = /both { agentcore; agentcore_ping; }\n" . $AgentCore::Test::Config
--- must_die
--- error_log
is duplicate or conflicts with another content handler



=== TEST 8: a tool URI must be a URI
--- config eval
qq{agentcore_tool orders internal/orders "A tool";\n} . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore tool "orders": "internal/orders" is not a URI



=== TEST 9: a system prompt that is not UTF-8 fails at load, not per request
--- config eval
qq{agentcore_system_prompt "caf\xe9";\n} . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore: the model request could not be serialized



=== TEST 10: agentcore_mcp off and a server at one level
--- config eval
"agentcore_mcp a /_mcp/a;\nagentcore_mcp off;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
"agentcore_mcp off" and servers at one level



=== TEST 11: agentcore_mcp off takes nothing more
--- config eval
"agentcore_mcp off prefix=x;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore_mcp "off": "off" is not a server name
