# Credentials: SigV4 keys (with or without a session token) or a Bedrock
# API key, from the worker's environment; the emulator verifies them.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a Bedrock API key is sent as Authorization: Bearer, unsigned
--- main_config
env AWS_BEARER_TOKEN_BEDROCK=emulator-test-token;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{\Adata: ":method: POST\\n:path: /model/[^\\]+\\nauthorization: Bearer \[redacted\]\\ncontent-length: \d+\\ncontent-type: application/json\\nhost: bedrock-runtime\.us-east-1\.amazonaws\.com\\n"\n\n\z}
--- no_error_log
emulator-test-token
[error]



=== TEST 2: the API key wins over SigV4 keys, as in the AWS SDKs
--- main_config
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_BEARER_TOKEN_BEDROCK=emulator-test-token;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{\Adata: ":method: POST\\n:path: /model/[^\\]+\\nauthorization: Bearer \[redacted\]\\ncontent-length: \d+\\ncontent-type: application/json\\nhost: bedrock-runtime\.us-east-1\.amazonaws\.com\\n"\n\n\z}
--- no_error_log
emulator-test-token
[error]



=== TEST 3: a wrong API key is Bedrock's error, as an event
--- main_config
env AWS_BEARER_TOKEN_BEDROCK=not-a-valid-key;
--- request eval
AgentCore::Test::invoke('hi')
--- response_body_like eval
qr/\Adata: \{"error": "An error occurred \(AccessDeniedException\) when calling the ConverseStream operation: [^"]+", "type": "stream_error"\}\n\n\z/
--- no_error_log
not-a-valid-key



=== TEST 4: a session token is sent and signed
--- main_config
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLETOKEN;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{SignedHeaders=content-type;host;x-amz-date;x-amz-security-token\\n.*x-amz-security-token: \[redacted sha256:[0-9a-f]{16}\]\\n}
--- no_error_log
FwoGZXIvYXdzEXAMPLETOKEN



=== TEST 5: an ARN model id: ":" and "/" percent-encoded, signed double-encoded
--- config eval
"agentcore_model arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0;\n"
. $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{:path: /model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus\.anthropic\.claude-3-7-sonnet-20250219-v1%3A0/converse-stream\\n}
--- no_error_log
[error]



=== TEST 6: no credentials: 500 before streaming, and the cause logged
The "auto" chain finds nothing: no keys, no profile, no container
endpoint, and IMDS is off (so nothing leaves the loopback).  The test's
keys are in nginx's environment: "env NAME=;" keeps them from the workers.
--- main_config
env AWS_ACCESS_KEY_ID=;
env AWS_SECRET_ACCESS_KEY=;
env AWS_EC2_METADATA_DISABLED=true;
--- request
POST /invocations
{"prompt":"hi"}
--- error_code: 500
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"No AWS credentials","details":"the server has no credentials to call the model; tried: environment, shared files (profile default); IMDS is disabled (AWS_EC2_METADATA_DISABLED) (the causes are in the error log)"}
--- error_log
agentcore: no AWS credentials: auto: none found: no AWS_ACCESS_KEY_ID, AWS_WEB_IDENTITY_TOKEN_FILE or AWS_CONTAINER_CREDENTIALS_*_URI in the environment, no profile "default" in the shared files, and IMDS is disabled (AWS_EC2_METADATA_DISABLED)



=== TEST 7: secrets never reach the log, even at debug level
The signed request is not in the debug log either: nginx's proxy module
would print its headers there.
--- request eval
AgentCore::Test::invoke('[[deltas texts=["x"]]]')
--- response_body eval
qq{data: "x"\n\n}
--- no_error_log
wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
Signature=
--- error_log
agentcore: debug logging paused while the model request is sent
