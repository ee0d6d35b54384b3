# Credential sources, each against a local stand-in (t/lib/AgentCore/
# Creds.pm): the container endpoint, IMDSv2, STS web identity, the shared
# files, static keys, the environment and an API key; what "nginx -t"
# checks; answers that are refused, garbage or expired.  The emulator
# accepts only the keys the sources hand out, so a 200 proves the request
# was signed with them.  No block's log may hold a secret (CredsSuite).

use lib 't/lib';
use AgentCore::CredsSuite;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);

add_block_preprocessor(\&AgentCore::CredsSuite::preprocess);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: container endpoint, AWS_CONTAINER_AUTHORIZATION_TOKEN sent raw
--- creds_setup
$CS->set(auth => $AgentCore::CredsSuite::ContainerToken);
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds",
    AWS_CONTAINER_AUTHORIZATION_TOKEN =>
        $AgentCore::CredsSuite::ContainerToken)
--- config eval
"agentcore_credentials container;\n" . $AgentCore::CredsSuite::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'), "GET /standin-log"]
--- response_body_like eval
[qr{Credential=ASIASTANDIN000000001/\d{8}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token\\n.*x-amz-security-token: \[redacted sha256:[0-9a-f]{16}\]},
 qr{\A\S+ GET container 200 ASIASTANDIN000000001\n\z}]
--- no_error_log
[error]



=== TEST 2: the token file wins over the variable, as in the SDKs
--- creds_setup
$CS->set(auth => $AgentCore::CredsSuite::ContainerToken);
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://localhost:$ENV{TEST_NGINX_CREDS_PORT}/creds/v2",
    AWS_CONTAINER_AUTHORIZATION_TOKEN => 'not-this-one',
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE =>
        "$ENV{TEST_NGINX_FILES}/container-token")
--- config eval
"agentcore_credentials container;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('[[deltas texts=["signed"]]]')
--- response_body eval
qq{data: "signed"\n\n}
--- error_log eval
# the stand-in's clock second may end before the module reads it
qr/agentcore: AWS credentials \(container\) from container endpoint, expiring in (3600|3599) s/
--- no_error_log
[error]



=== TEST 3: the endpoint refuses the token: 500, its answer in the log
--- creds_setup
$CS->set(auth => 'another-token');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds",
    AWS_CONTAINER_AUTHORIZATION_TOKEN =>
        $AgentCore::CredsSuite::ContainerToken)
--- config eval
"agentcore_credentials container;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- response_body chomp
{"error":"No AWS credentials","details":"the server has no credentials to call the model; tried: container endpoint (the causes are in the error log)"}
--- error_log eval
qr{\[error\] .*agentcore: no AWS credentials: container: GET http://127\.0\.0\.1:\d+ answered HTTP 401: AccessDeniedException: bad token$}



=== TEST 4: "nginx -t": an http container URL must stay on the host
--- main_config
env AWS_CONTAINER_CREDENTIALS_FULL_URI=http://198.51.100.7/creds;
--- config eval
"agentcore_credentials container;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log
agentcore_credentials container: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to a loopback or container-metadata address



=== TEST 5: "nginx -t": "container" without the variables
--- config eval
"agentcore_credentials container;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log
agentcore_credentials container: neither AWS_CONTAINER_CREDENTIALS_FULL_URI nor _RELATIVE_URI is in the workers' environment



=== TEST 6: "auto" reaches IMDSv2: token PUT, role, credentials with the token
AWS_EC2_METADATA_SERVICE_ENDPOINT moves IMDS to the stand-in.
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_EC2_METADATA_SERVICE_ENDPOINT =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/")
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'), "GET /standin-log"]
--- response_body_like eval
[qr{Credential=ASIASTANDIN000000001/.*x-amz-security-token: \[redacted},
 qr{\A\S+ PUT token 200\n\S+ GET role 200 token\n\S+ GET role-credentials 200 token ASIASTANDIN000000001\n\z}]
--- no_error_log
[error]



=== TEST 7: IMDSv1 when the token PUT is refused
--- creds_setup
$CS->set(mode => 'imds-v1');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_EC2_METADATA_SERVICE_ENDPOINT =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}")
--- config eval
"agentcore_credentials imds;\n" . $AgentCore::CredsSuite::Config
--- request eval
[AgentCore::Test::invoke('[[deltas texts=["v1"]]]'), "GET /standin-log"]
--- response_body eval
[qq{data: "v1"\n\n},
 qr{\A\S+ PUT token 403 \(v1 only\)\n\S+ GET role 200 v1\n\S+ GET role-credentials 200 v1 ASIASTANDIN000000001\n\z}]
--- no_error_log
[error]



=== TEST 8: ... but not when AWS_EC2_METADATA_V1_DISABLED forbids it
--- creds_setup
$CS->set(mode => 'imds-v1');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_EC2_METADATA_SERVICE_ENDPOINT =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}",
    AWS_EC2_METADATA_V1_DISABLED => 'true')
--- config eval
"agentcore_credentials imds;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- error_log eval
qr{agentcore: no AWS credentials: imds: IMDS http://127\.0\.0\.1:\d+: PUT /latest/api/token answered HTTP 403 and AWS_EC2_METADATA_V1_DISABLED is set}



=== TEST 9: "auto" with a web identity: STS AssumeRoleWithWebIdentity
--- creds_setup
$CS->set(web_token => $AgentCore::CredsSuite::WebToken,
         role_arn => $AgentCore::CredsSuite::RoleArn);
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_WEB_IDENTITY_TOKEN_FILE => "$ENV{TEST_NGINX_FILES}/web-token",
    AWS_ROLE_ARN => $AgentCore::CredsSuite::RoleArn,
    AWS_ROLE_SESSION_NAME => 'agentcore-test',
    AWS_ENDPOINT_URL_STS => "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}")
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'), "GET /standin-log"]
--- response_body_like eval
[qr{Credential=ASIASTANDIN000000001/.*x-amz-security-token: \[redacted},
 qr{\A\S+ POST sts 200 ASIASTANDIN000000001 session=agentcore-test\n\z}]
--- no_error_log
[error]



=== TEST 10: STS refuses the token: 500, STS's error in the log
--- creds_setup
$CS->set(web_token => 'some-other-token');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_WEB_IDENTITY_TOKEN_FILE => "$ENV{TEST_NGINX_FILES}/web-token",
    AWS_ROLE_ARN => $AgentCore::CredsSuite::RoleArn,
    AWS_ENDPOINT_URL_STS => "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}")
--- config eval
"agentcore_credentials web_identity;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- error_log eval
qr{agentcore: no AWS credentials: web_identity: STS http://127\.0\.0\.1:\d+ \(HTTP 400\): STS answered an error: InvalidIdentityToken: Invalid token$}



=== TEST 11: a profile with role_arn and web_identity_token_file
--- creds_setup
$CS->set(web_token => $AgentCore::CredsSuite::WebToken,
         role_arn => $AgentCore::CredsSuite::RoleArn);
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONFIG_FILE => "$ENV{TEST_NGINX_FILES}/config",
    AWS_ENDPOINT_URL_STS => "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}")
--- config eval
"agentcore_credentials profile=irsa;\n" . $AgentCore::CredsSuite::Config
--- request eval
[AgentCore::Test::invoke('[[deltas texts=["irsa"]]]'), "GET /standin-log"]
--- response_body eval
[qq{data: "irsa"\n\n},
 qr{\A\S+ POST sts 200 ASIASTANDIN000000001 session=profile-session\n\z}]
--- no_error_log
[error]



=== TEST 12: shared files: profile=dev from the credentials file
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_SHARED_CREDENTIALS_FILE => "$ENV{TEST_NGINX_FILES}/credentials",
    AWS_CONFIG_FILE => "$ENV{TEST_NGINX_FILES}/config")
--- config eval
"agentcore_credentials profile=dev;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIAPROFILEDEV000001/\d{8}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date\\n}
--- error_log
agentcore: AWS credentials (profile=dev) from profile dev
--- no_error_log
[error]



=== TEST 13: "auto" and AWS_PROFILE: a [profile NAME] section of the config file
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_PROFILE => 'agent',
    AWS_SHARED_CREDENTIALS_FILE => "$ENV{TEST_NGINX_FILES}/credentials",
    AWS_CONFIG_FILE => "$ENV{TEST_NGINX_FILES}/config")
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIAPROFILEDEV000001/}
--- error_log
agentcore: AWS credentials (auto) from profile agent
--- no_error_log
[error]



=== TEST 14: "nginx -t": a profile that is in neither file
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_SHARED_CREDENTIALS_FILE => "$ENV{TEST_NGINX_FILES}/credentials",
    AWS_CONFIG_FILE => "$ENV{TEST_NGINX_FILES}/config")
--- config eval
"agentcore_credentials profile=nosuch;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log eval
qr{agentcore_credentials profile=nosuch: profile "nosuch" is in neither "\S+/credentials" nor "\S+/config"}



=== TEST 15: "nginx -t": credential_process is refused, clearly
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONFIG_FILE => "$ENV{TEST_NGINX_FILES}/config")
--- config eval
"agentcore_credentials profile=proc;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log
agentcore_credentials profile=proc: profile "proc": credential_process is not supported



=== TEST 16: static keys with a session token
--- config eval
"agentcore_credentials static $AgentCore::CredsSuite::S[0] "
. "$AgentCore::CredsSuite::S[1] $AgentCore::CredsSuite::S[2];\n"
. $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIASTATICKEY0000001/.*x-amz-security-token: \[redacted}
--- no_error_log
[error]
thread in pool



=== TEST 17: "nginx -t": a malformed static secret, never echoed
--- config eval
"agentcore_credentials static AKIASTATICKEY0000001 \"sec ret\";\n"
. $AgentCore::CredsSuite::Config
--- must_die
--- error_log
"agentcore_credentials" directive static: the secret access key is malformed
--- no_error_log
sec ret



=== TEST 18: "nginx -t": "env" without the variables
--- config eval
"agentcore_credentials env;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log
agentcore_credentials env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not in the workers' environment (set them in nginx's, or with "env NAME=VALUE")



=== TEST 19: "bearer": the API key, no thread
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_BEARER_TOKEN_BEDROCK => $AgentCore::CredsSuite::Bearer)
--- config eval
"agentcore_credentials bearer;\n" . $AgentCore::CredsSuite::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{authorization: Bearer \[redacted\]}
--- no_error_log
[error]
thread in pool



=== TEST 20: "auto": the API key wins over a container endpoint, no thread
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_BEARER_TOKEN_BEDROCK => $AgentCore::CredsSuite::Bearer,
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'), "GET /standin-log"]
--- response_body_like eval
[qr{authorization: Bearer \[redacted\]}, qr{\A\z}]
--- no_error_log
[error]
thread in pool



=== TEST 21: a source that answers garbage: the cause, not the bytes
--- creds_setup
$CS->set(mode => 'garbage');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- error_log eval
qr{agentcore: no AWS credentials: auto: GET http://127\.0\.0\.1:\d+: the answer is not JSON \(error at byte \d+ of \d+\)$}
--- no_error_log
It works



=== TEST 22: credentials that expired already are refused
--- creds_setup
$CS->set(mode => 'expired');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- error_log
agentcore: no AWS credentials: auto: the credentials from container endpoint expired already (Expiration is in the past)



=== TEST 23: an invalid source name
--- config eval
"agentcore_credentials vault;\n" . $AgentCore::CredsSuite::Config
--- must_die
--- error_log
invalid value "vault" in "agentcore_credentials" directive, it must be "auto", "env", "profile", "profile=NAME", "container", "imds", "web_identity", "bearer" or "static"



=== TEST 24: an OpenAI-compatible model with AgentCore Memory: the chain is asked for the store's keys
The model needs no AWS credentials, the store does: the handler asks
the credential chain whenever agentcore_memory is on (it asked only
under Bedrock, and a ListEvents before the workers' first fetch ended
could not be signed: "no AWS credentials at hand").  The fetch a worker
starts at its start usually wins that race, so this block passed
without the fix too: it shows the pair working, not the race.
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- http_config eval
$AgentCore::CredsSuite::HttpConfig . "agentcore_session_zone c24:1m;\n"
--- config eval
"agentcore_credentials container;\n"
. "location = /o/invocations {\n    agentcore;\n"
. "    agentcore_session c24;\n"
. "    agentcore_provider openai;\n"
. "    agentcore_model llama3.2;\n"
. "    agentcore_model_location /_agentcore/openai;\n"
. "    agentcore_model_api_key $AgentCore::CredsSuite::Bearer;\n"
. "    agentcore_memory mem-c24 uri=/_agentcore_memory;\n}\n"
. "location = /_agentcore/openai {\n    internal;\n"
. "    include $ENV{TEST_NGINX_AGENTCORE_ROOT}/conf/agentcore_openai_params;\n"
. "    proxy_pass http://bedrock/v1/chat/completions;\n}\n"
. "location /_agentcore_memory/ {\n    internal;\n"
. "    proxy_set_header Host \$agentcore_memory_host;\n"
. "    proxy_set_header X-Amz-Date \$agentcore_memory_date;\n"
. "    proxy_set_header X-Amz-Security-Token \$agentcore_memory_security_token;\n"
. "    proxy_set_header Authorization \$agentcore_memory_authorization;\n"
. "    proxy_pass http://bedrock/;\n}\n"
. $AgentCore::CredsSuite::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: c24-0123456789abcdef0123456789abcdef
--- request eval
[AgentCore::Test::invoke('My name is Ada', '/o/invocations'), "GET /standin-log"]
--- response_body_like eval
[qr{\Adata: "Hello!"\n\n.*data: " Ada"\n\n\z}s,
 qr{\A\S+ GET container 200 ASIASTANDIN000000001\n\z}]
--- no_error_log
[error]
