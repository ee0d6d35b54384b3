# The variables the credential chain reads reach the workers without any
# "env" directive: the module passes them itself, as "env NAME;" would.
# nginx.conf here has no env line for them; the test only sets nginx's
# own environment (HOME with ~/.aws/credentials, the IMDS endpoint),
# and an invocation signed with what the chain found must succeed.  The
# emulator accepts only the stand-in's keys, so a 200 proves which
# source was used.

use lib 't/lib';
use AgentCore::CredsSuite;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);

our $Files = $AgentCore::CredsSuite::Files;
our @P = @AgentCore::CredsSuite::P;

# a home with ~/.aws/credentials, and one with nothing
mkdir "$Files/home";
mkdir "$Files/home/.aws";
mkdir "$Files/empty-home";
chmod 0755, "$Files/home", "$Files/home/.aws", "$Files/empty-home";

AgentCore::CredsSuite::write_file('home/.aws/credentials', <<"_EOF_");
[default]
aws_access_key_id     = $P[0]
aws_secret_access_key = $P[1]

[other]
aws_access_key_id     = AKIAIGNOREDOTHER0001
aws_secret_access_key = ignoredOtherSecret/abcdefghijklmnopqrs
_EOF_

# "--- creds_setup" as in AgentCore::CredsSuite;
# "--- nginx_env eval": { NAME => VALUE } for nginx's environment; every
# other AWS_ variable is removed (those of AgentCore::Test too) and HOME
# is an empty directory unless given
add_block_preprocessor(sub {
    my $block = shift;

    $AgentCore::CredsSuite::CS->reset;

    # "--- creds_setup": Perl run before nginx starts ($CS: the stand-in)
    if (defined(my $code = $block->creds_setup)) {
        eval "package main; our \$CS = \$AgentCore::CredsSuite::CS; $code; 1"
            or die $block->name . " - creds_setup failed: $@";
    }

    delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
    $ENV{HOME} = "$Files/empty-home";

    my $env = $block->nginx_env // {};
    $ENV{$_} = $env->{$_} for keys %$env;

    $block->set_value('main_config', '') unless defined $block->main_config;
    $block->set_value('http_config', $AgentCore::CredsSuite::HttpConfig);
    $block->set_value('config', $AgentCore::CredsSuite::Config)
        unless defined $block->config;
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: HOME's ~/.aws/credentials, no "env HOME;"
--- nginx_env eval
{ HOME => "$main::Files/home", AWS_EC2_METADATA_DISABLED => 'true' }
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIAPROFILEDEV000001/\d{8}/us-east-1/bedrock/aws4_request}
--- no_error_log
[error]
profileSecretDev



=== TEST 2: AWS_EC2_METADATA_SERVICE_ENDPOINT, no env line: IMDS at the stand-in
--- nginx_env eval
{ AWS_EC2_METADATA_SERVICE_ENDPOINT =>
      "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/" }
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'), "GET /standin-log"]
--- response_body_like eval
[qr{Credential=ASIASTANDIN000000001/.*x-amz-security-token: \[redacted},
 qr{\A\S+ PUT token 200\n\S+ GET role 200 token\n\S+ GET role-credentials 200 token ASIASTANDIN000000001\n\z}]
--- no_error_log
[error]



=== TEST 3: AWS_EC2_METADATA_V1_DISABLED reaches the workers too
The token PUT is refused; with IMDSv1 disabled nothing else is asked.
The worker tries again after its backoff (1 s): a slow run (ASan) sees
that second PUT before it reads the log, so one PUT or more, nothing else.
--- nginx_env eval
{ AWS_EC2_METADATA_SERVICE_ENDPOINT =>
      "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/",
  AWS_EC2_METADATA_V1_DISABLED => 'true' }
--- creds_setup
$CS->set(mode => 'imds-v1');
--- request eval
[AgentCore::Test::invoke('hi'), "GET /standin-log"]
--- error_code eval
[500, 200]
--- response_body_like eval
[qr{^\{"error":"No AWS credentials"},
 qr{\A(?:\S+ PUT token 403 \(v1 only\)\n)+\z}]





=== TEST 4: an explicit "env NAME=VALUE;" before http wins
--- nginx_env eval
{ HOME => "$main::Files/home", AWS_PROFILE => 'other',
  AWS_EC2_METADATA_DISABLED => 'true' }
--- main_config
env AWS_PROFILE=default;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIAPROFILEDEV000001/}
--- no_error_log
[error]



=== TEST 5: so does one after http (the module's entry gives way)
--- nginx_env eval
{ HOME => "$main::Files/home", AWS_PROFILE => 'other',
  AWS_EC2_METADATA_DISABLED => 'true' }
--- post_main_config
env AWS_PROFILE=default;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIAPROFILEDEV000001/}
--- no_error_log
[error]



=== TEST 6: the keys in nginx's environment, no env lines
--- nginx_env eval
{ AWS_ACCESS_KEY_ID => $AgentCore::CredsSuite::S[0],
  AWS_SECRET_ACCESS_KEY => $AgentCore::CredsSuite::S[1],
  AWS_SESSION_TOKEN => $AgentCore::CredsSuite::S[2] }
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{Credential=AKIASTATICKEY0000001/.*x-amz-security-token: \[redacted}
--- no_error_log
[error]
staticSecret



=== TEST 7: no credentials: the 500 names the sources tried, /ping stays Healthy
Nothing in the environment, no shared files, IMDS at the stand-in with
IMDSv1 off and the token refused.  The details name the sources, not the
paths, URLs or values; the causes are in the error log.
--- nginx_env eval
{ AWS_EC2_METADATA_SERVICE_ENDPOINT =>
      "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/",
  AWS_EC2_METADATA_V1_DISABLED => 'true' }
--- creds_setup
$CS->set(mode => 'imds-v1');
--- config eval
"location = /ping { agentcore_ping; }\n" . $AgentCore::CredsSuite::Config
--- request eval
[AgentCore::Test::invoke('hi'), "GET /ping"]
--- error_code eval
[500, 200]
--- response_body_like eval
[qr{\A\{"error":"No AWS credentials","details":"the server has no credentials to call the model; tried: environment, shared files \(profile default\), IMDS \(the causes are in the error log\)"\}\z},
 qr{\A\{"status":"Healthy","time_of_last_update":\d+\}\z}]



=== TEST 8: a profile that is not there stops the chain: the details say so
--- nginx_env eval
{ HOME => "$main::Files/home", AWS_PROFILE => 'nosuch' }
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- response_body chomp
{"error":"No AWS credentials","details":"the server has no credentials to call the model; tried: environment, shared files (profile nosuch) (the causes are in the error log)"}
--- error_log
agentcore: no AWS credentials: auto:



=== TEST 9: keys in the environment that do not work: the details say which
--- nginx_env eval
{ AWS_ACCESS_KEY_ID => 'AKIAONLYKEYID0000001' }
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- response_body chomp
{"error":"No AWS credentials","details":"the server has no credentials to call the model; tried: environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_BEARER_TOKEN_BEDROCK) (the causes are in the error log)"}
--- error_log
AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY
