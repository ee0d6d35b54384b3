# The MCP client against a server of the official Python SDK (PyPI "mcp"
# 2.x, t/lib/mcp-sdk-server.py): its Streamable HTTP transport, answering
# as SSE (its default) or as JSON.  Skipped when the SDK is not installed
# (pip install mcp).

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket;

if (!AgentCore::Mcp::have_sdk()) {
    plan(skip_all => 'the MCP Python SDK is not installed (pip install mcp)');
} else {
    plan('no_plan');
}

$ENV{TEST_NGINX_MCP_SSE} = AgentCore::Mcp::start(sdk => 1);
$ENV{TEST_NGINX_MCP_JSON} = AgentCore::Mcp::start(sdk => 1, json => 1);

sub conf {
    my ($port) = @_;

    return <<"_EOC_" . $AgentCore::Test::ModelLocation;
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /_mcp/sdk {
    internal;
    proxy_pass http://127.0.0.1:\$$port/mcp;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
}
location = /invocations {
    agentcore;
    agentcore_mcp sdk /_mcp/sdk;
}
_EOC_
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a call answered as SSE
--- config eval
main::conf('TEST_NGINX_MCP_SSE')
--- request eval
AgentCore::Test::invoke('[[tool name=greet input={"name":"nginx"}]]')
--- response_body: Tool said: {"result":"Hello, nginx!"}
--- no_error_log
[error]
[warn]



=== TEST 2: the tools as the SDK declares them reach the model; a plain return value as the SDK's structured content, a json block
--- config eval
main::conf('TEST_NGINX_MCP_SSE')
--- request eval
AgentCore::Test::invoke('[[tool name=add input={"a":2,"b":3} then=echo]]')
--- response_body_like eval
qr/"content":\[\{"json":\{"result":5\}\}\],"status":"success".*"toolSpec":\{"name":"greet","description":"Greet someone by name","inputSchema":\{"json":\{.*"name".*"toolSpec":\{"name":"add"/s
--- no_error_log
[error]



=== TEST 3: a tool that raises is an error result
--- config eval
main::conf('TEST_NGINX_MCP_SSE')
--- request eval
AgentCore::Test::invoke('[[tool name=broken input={} then=echo]]')
--- response_body_like eval
qr/"content":\[\{"text":"Error executing tool broken"\}\],"status":"error"/
--- no_error_log
[error]



=== TEST 4: answers as JSON (json_response=True)
--- config eval
main::conf('TEST_NGINX_MCP_JSON')
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"greet","input":{"name":"json"}},{"name":"add","input":{"a":1,"b":1}}]]]')
--- response_body: Tool said: {"result":"Hello, json!"} | {"result":2}
--- no_error_log
[error]
[warn]
