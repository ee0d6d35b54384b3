# agentcore_mcp auth=sigv4 (issue 19), and auth=bearer: MCP requests signed for
# AgentCore Gateway (service bedrock-agentcore) with the module's
# credentials, each with its own signature, and no secret in the log at
# debug level.  The server is emulator/mcp-test-server.py --sigv4, which
# checks every request's signature as the Gateway would (403 otherwise);
# its checker is first tried on AWS's own SigV4 test cases.

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket 'no_plan';

# the server's checker accepts AWS's signed requests and refuses them
# altered: else a block passing here would prove nothing
for my $case (qw(post-x-www-form-urlencoded post-sts-header-before)) {
    my $dir = "$AgentCore::Test::Root/../shared/vectors/sigv4_official/v4/$case";
    $dir = "/work/shared/vectors/sigv4_official/v4/$case" if !-d $dir;
    next if !-d $dir;
    system('/usr/bin/python3', "$AgentCore::Test::Root/emulator/mcp-test-server.py",
           '--sigv4-self-test', $dir) == 0
        or die "the MCP test server's SigV4 check fails on AWS's case $case\n";
}

our $Token = 'mcp-session-token-SECRET';
our $Keys = "$ENV{AWS_ACCESS_KEY_ID}:$ENV{AWS_SECRET_ACCESS_KEY}";

# as a Gateway in us-west-2 would check
$ENV{TEST_NGINX_MCP_G} = AgentCore::Mcp::start(
    name => 'g', page_size => 100, sigv4 => $Keys,
    sigv4_region => 'us-west-2', sigv4_token => $Token);
# one that knows another secret for the key: it refuses our signatures
$ENV{TEST_NGINX_MCP_X} = AgentCore::Mcp::start(
    name => 'x', page_size => 100,
    sigv4 => "$ENV{AWS_ACCESS_KEY_ID}:not-the-secret",
    sigv4_region => 'us-west-2', sigv4_token => $Token);
# auth=bearer: wants "Authorization: Bearer mcp-bearer-SECRET"
$ENV{TEST_NGINX_MCP_T} = AgentCore::Mcp::start(
    name => 't', page_size => 100, bearer => 'mcp-bearer-SECRET');
# region from agentcore_region (us-east-1), no session token expected
$ENV{TEST_NGINX_MCP_E} = AgentCore::Mcp::start(
    name => 'e', page_size => 100, sigv4 => $Keys);

our $GatewayHost = 'gw-0123456789.gateway.bedrock-agentcore.us-west-2.amazonaws.com';

our $Mcp = <<'_EOC_';
location = /_mcp/g {
    internal;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $agentcore_mcp_host;
    proxy_set_header X-Amz-Date $agentcore_mcp_date;
    proxy_set_header X-Amz-Security-Token $agentcore_mcp_security_token;
    proxy_set_header Authorization $agentcore_mcp_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_G/mcp;
}
location = /_mcp/x {
    internal;
    proxy_set_header Host $agentcore_mcp_host;
    proxy_set_header X-Amz-Date $agentcore_mcp_date;
    proxy_set_header X-Amz-Security-Token $agentcore_mcp_security_token;
    proxy_set_header Authorization $agentcore_mcp_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_X/mcp;
}
location = /_mcp/t {
    internal;
    proxy_set_header Authorization $agentcore_mcp_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_T/mcp;
}
location = /_mcp/e {
    internal;
    proxy_set_header Host $agentcore_mcp_host;
    proxy_set_header X-Amz-Date $agentcore_mcp_date;
    proxy_set_header X-Amz-Security-Token $agentcore_mcp_security_token;
    proxy_set_header Authorization $agentcore_mcp_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_E/mcp;
}
_EOC_

sub conf {
    my ($directives) = @_;

    return $main::Mcp . $AgentCore::Test::ModelLocation . <<"_EOC_";
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    agentcore;
$directives
}
_EOC_
}

our $MainConfig = <<"_EOC_";
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN=$Token;
env AWS_BEARER_TOKEN_BEDROCK;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    if (!defined $block->main_config) {
        $block->set_value("main_config", $main::MainConfig);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a Gateway's tool: every request signed (initialize, initialized, tools/list, tools/call)
The server refuses any request whose signature it cannot check: the
call's answer shows that the list and the call went through.
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4 host=$main::GatewayHost;")
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"hi"}]]')
--- response_body: Tool said: g echo: hi [version 2025-06-18]
--- error_log
agentcore mcp "g": 11 tools listed
--- no_error_log
[error]



=== TEST 2: what the Gateway receives: the scope (the region from the host name, service bedrock-agentcore), X-Amz-Date, the session token
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4 host=$main::GatewayHost;")
--- request eval
AgentCore::Test::invoke('[[tool name=headers input={}]]')
--- response_body_like eval
qr{^Tool said: auth=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/(\d{8})/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64} cookie=None x=None date=\1T\d{6}Z token=mcp-session-token-SECRET$}
--- no_error_log
[error]



=== TEST 3: a host that names no region: agentcore_region's; no session token, none sent
--- main_config
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN;
env AWS_BEARER_TOKEN_BEDROCK;
--- config eval
main::conf("agentcore_mcp e /_mcp/e auth=sigv4 host=mcp.internal.example;")
--- request eval
AgentCore::Test::invoke('[[tool name=headers input={}]]')
--- response_body_like eval
qr{^Tool said: auth=AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64} cookie=None x=None date=\d{8}T\d{6}Z token=None$}
--- no_error_log
[error]



=== TEST 4: a wrong signature is refused by the server: the tools are left out
The model asking for one of its tools gets "Unknown tool" (a location
tool keeps the request's toolConfig).
--- config eval
main::conf(qq{agentcore_tool local /local "Local";\nagentcore_mcp x /_mcp/x auth=sigv4 host=$main::GatewayHost;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"x"}]]')
--- response_body: Tool said: Unknown tool: echo
--- error_log
agentcore mcp "x": the tools cannot be listed, the invocation goes on without them: MCP server "x" answered HTTP 403



=== TEST 5: without auth=sigv4 the Gateway refuses the requests
--- config eval
main::conf(qq{agentcore_tool local /local "Local";\nagentcore_mcp g /_mcp/g;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"x"}]]')
--- response_body: Tool said: Unknown tool: echo
--- error_log
agentcore mcp "g": the tools cannot be listed, the invocation goes on without them: MCP server "g" answered HTTP 403



=== TEST 6: concurrent calls, each with its own signature (their bodies differ)
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4 host=$main::GatewayHost;")
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"add","input":{"a":1,"b":2}},{"name":"echo_sse","input":{"text":"3"}},{"name":"slow","input":{"ms":50}}]]]')
--- response_body: Tool said: g echo: 1 [version 2025-06-18] | {"sum":3} | g echo: 3 [version 2025-06-18] | slept 50
--- no_error_log
[error]



=== TEST 7: no secret reaches the log at debug level: the secret key, the session token, the signature
Nginx's proxy module prints the headers it sends at debug level; the
MCP requests pause it, concurrent ones included, and the model call
still pauses it as before.
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4 host=$main::GatewayHost;")
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"add","input":{"a":1,"b":2}},{"name":"slow","input":{"ms":50}}]]]')
--- response_body: Tool said: g echo: 1 [version 2025-06-18] | {"sum":3} | slept 50
--- no_error_log eval
[qr/mcp-session-token-SECRET/, qr/wJalrXUtnFEMI/, qr/Signature=/, qr/\[error\]/]
--- error_log
agentcore mcp "g": debug logging paused while the request is sent
agentcore mcp "g": debug logging resumed
agentcore: debug logging paused while the model request is sent
agentcore: debug logging resumed
agentcore mcp "g": tools/call "slow"
--- log_level: debug



=== TEST 8: configuration errors
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4;")
--- must_die
--- error_log
agentcore_mcp "g": auth=sigv4 needs host=



=== TEST 9: configuration errors: an unknown auth
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=basic;")
--- must_die
--- error_log
agentcore_mcp "g": invalid auth "basic"



=== TEST 10: a list refreshed while the model answers: both pause the log, the last one to finish resumes it
The second invocation finds the list stale (refresh=1ms): it lists the
server again while its model call runs on the old list.  Which of the
model call and the MCP requests resumes the log last varies.
--- config eval
main::conf("agentcore_mcp g /_mcp/g auth=sigv4 host=$main::GatewayHost refresh=1ms;")
--- request eval
[AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]'),
 AgentCore::Test::invoke('[[tool name=echo input={"text":"2"}]]')]
--- response_body eval
["Tool said: g echo: 1 [version 2025-06-18]", "Tool said: g echo: 2 [version 2025-06-18]"]
--- no_error_log eval
[qr/mcp-session-token-SECRET/, qr/wJalrXUtnFEMI/, qr/Signature=/, qr/\[error\]/]
--- error_log eval
[qr/agentcore mcp "g": 11 tools listed/,
 qr/agentcore(?: mcp "g")?: debug logging resumed/]
--- log_level: debug




=== TEST 11: auth=bearer:$VAR: the token of a variable, evaluated in the invocation; not in the debug log
The module evaluates the value with debug logging paused, the proxy
sends it paused (the "set" of this test logs its own value: not the
module's doing, so not looked for).
--- config eval
main::conf(qq{set \$mcp_token mcp-bearer-SECRET;\nagentcore_mcp t /_mcp/t auth=bearer:\$mcp_token;})
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"headers","input":{}}]]]')
--- response_body_like eval
qr/^Tool said: t echo: 1 \[version 2025-06-18\] \| auth=Bearer mcp-bearer-SECRET cookie=None x=None$/
--- no_error_log eval
[qr/Bearer mcp-bearer-SECRET/, qr/http script var: "mcp-bearer-SECRET/,
 qr/\[error\]/]
--- error_log
agentcore mcp "t": debug logging paused while the request is sent
--- log_level: debug



=== TEST 12: auth=bearer:FILE: the token of a file (white space around it dropped)
--- config eval
main::conf(qq{agentcore_mcp t /_mcp/t auth=bearer:../html/mcp.token;})
--- user_files
>>> mcp.token

  mcp-bearer-SECRET
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"f"}]]')
--- response_body: Tool said: t echo: f [version 2025-06-18]
--- no_error_log
[error]



=== TEST 13: auth=bearer: a wrong token is refused (401), the tools are left out
--- config eval
main::conf(qq{set \$mcp_token wrong-token;\nagentcore_tool local /local "Local";\nagentcore_mcp t /_mcp/t auth=bearer:\$mcp_token;})
. "location = /local { internal; return 200 local; }\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"x"}]]')
--- response_body: Tool said: Unknown tool: echo
--- error_log
agentcore mcp "t": the tools cannot be listed, the invocation goes on without them: MCP server "t" answered HTTP 401



=== TEST 14: auth=bearer:FILE: no such file
--- config eval
main::conf(qq{agentcore_mcp t /_mcp/t auth=bearer:../html/no-such.token;})
--- must_die
--- error_log
no-such.token" failed
