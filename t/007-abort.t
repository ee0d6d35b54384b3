# A client that goes away mid-stream: the model call is cancelled (the
# upstream connection closes: nothing keeps paying for tokens).

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: abort while the model streams closes the upstream connection
--- request eval
AgentCore::Test::invoke('[[hang]]')
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 0.3
--- error_log
client prematurely closed connection
close http upstream connection
--- no_error_log
[alert]
[crit]



=== TEST 2: abort while a location tool runs closes its connection too
--- config eval
q{agentcore_tool slow /internal/slow "Slow";
location = /internal/slow {
    proxy_pass http://bedrock/model/x/converse-stream;
    proxy_set_header Authorization "Bearer $TEST_NGINX_BEDROCK_BEARER";
    proxy_set_body '{"messages":[{"role":"user","content":[{"text":"[[hang-accept]]"}]}]}';
}
} . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=slow input={}]]')
--- timeout: 0.5
--- abort
--- ignore_response
--- wait: 0.3
--- error_log
client prematurely closed connection
--- no_error_log
[alert]
[crit]
