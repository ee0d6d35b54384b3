# agentcore_invocation_timeout before the stream starts: the only wait
# there is for credentials, and the cap answers it with a 504 in the
# runtime's JSON error shape (no SSE head was sent, no heartbeat).

use lib 't/lib';
use AgentCore::CredsSuite;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::CredsSuite::preprocess);

our $CS = $AgentCore::CredsSuite::CS;

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the cap while the invocation waits for credentials: a 504 JSON error
The container source hangs (three attempts of 1 s); the cap comes first.
--- creds_setup
$CS->set(mode => 'hang');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- config eval
"agentcore_invocation_timeout 300ms;\nagentcore_heartbeat 100ms;\n"
. $AgentCore::CredsSuite::Config
--- request
POST /invocations
{"prompt":"hi"}
--- error_code: 504
--- response_headers
Content-Type: application/json
--- response_body: {"error":"Invocation timed out","details":"The invocation timed out after 300ms (agentcore_invocation_timeout)"}
--- error_log
waiting for a fetch
agentcore: The invocation timed out after 300ms (agentcore_invocation_timeout), before the stream started (waiting for AWS credentials)
--- timeout: 10
