# agentcore_runtime_pass: nginx in front of a deployed AgentCore Runtime.
# POST /invocations is relayed to the emulator's InvokeAgentRuntime side
# (emulator/bedrock-emulator.pl), which verifies SigV4 for
# "bedrock-agentcore" in the ARN's region, the ARN's encoding in the
# path and the session id: streaming SSE, JSON answers, AWS's errors as
# they are, sessions (passed on, generated when absent), custom headers,
# bearer tokens, no credentials, a bad ARN, a client that goes away.
#
# "--- probe" runs a raw client instead of Test::Nginx's (which reads
# the whole response first): "stream PATH PROMPT" says whether the
# events arrived spread over time; "abort PATH PROMPT" reads the first
# event and closes the connection.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use IO::Select;
use Time::HiRes ();

our $Arn = 'arn:aws:bedrock-agentcore:us-east-1:123456789012:'
           . 'runtime/hosted_agent-AbC123';
our $Sid = 'relay-session-0123456789abcdef0123456789';

our $Config = <<"_EOC_";
agentcore_runtime_location /_agentcore/runtime;

location = /invocations {
    agentcore_runtime_pass $Arn;
}

location = /prod {
    agentcore_runtime_pass $Arn qualifier=prod_v2;
}

location = /jwt {
    agentcore_runtime_pass $Arn auth=bearer;
}

location = /file {
    client_body_in_file_only clean;
    agentcore_runtime_pass $Arn;
}

location = /_agentcore/runtime {
    internal;
    include \$TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_runtime_params;
    proxy_pass http://bedrock\$agentcore_runtime_path;
    # what nginx still knows of the client's headers after the relay
    add_header X-Client-Cookie \$http_cookie;
    add_header X-Client-Forwarded \$http_x_forwarded_for;
}

location = /probe {
    return 200 "probe\\n";
}
_EOC_

our $HttpConfig = $AgentCore::Test::HttpConfig . <<'_EOC_';
log_format relay '$status session=$agentcore_runtime_session_id';
access_log logs/relay.log relay;
_EOC_

sub probe {
    my ($block) = @_;
    my ($mode, $path, $prompt) = split ' ', $block->probe, 3;
    my ($s, $sel, $buf, $t0, $first, $last, $n, $body);

    $body = JSON::PP->new->encode({ prompt => $prompt });
    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => Test::Nginx::Util::server_port(),
                               Proto => 'tcp')
        or return "connect: $!\n";
    print $s "POST $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

    $sel = IO::Select->new($s);
    $buf = '';
    $n = 0;
    $t0 = Time::HiRes::time();

    while ($sel->can_read(5)) {
        my $r = sysread($s, $buf, 65536, length $buf);
        last unless $r;

        my $events = () = $buf =~ /data: /g;
        if ($events > $n) {
            $n = $events;
            $first //= Time::HiRes::time();
            $last = Time::HiRes::time();
        }

        if ($mode eq 'abort' && $n) {
            close $s;
            return "first event before the end: "
                   . ($buf =~ /data: "Hello"/ ? 'yes' : 'no') . "\n";
        }
    }

    return "timed out after " . ($n // 0) . " events\n" if $mode eq 'abort';

    return "$n events, "
           . (defined $first && $last - $first > 0.5 ? 'spread over time'
              : sprintf('together (%.2fs)', ($last // 0) - ($first // 0)))
           . "\n";
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", $main::HttpConfig)
        unless defined $block->http_config;
    $block->set_value("config", $main::Config)
        unless defined $block->config;

    AgentCore::Test::defaults($block);

    if (defined $block->probe) {
        $block->set_value("request", "GET /probe");
        $block->set_value("response_body_filters",
                          sub { main::probe($block) });
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the runtime's SSE answer, relayed
--- request eval
AgentCore::Test::invoke('How much is 2+1')
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- response_body eval
qq{data: "Hello!"\n\ndata: " You"\n\ndata: " said:"\n\ndata: " How"\n\n}
. qq{data: " much"\n\ndata: " is"\n\ndata: " 2+1"\n\n}
--- no_error_log
[error]
[warn]



=== TEST 2: events leave as they arrive, not buffered
--- probe
stream /invocations [[slow ms=400 n=3]]
--- response_body
3 events, spread over time
--- no_error_log
[error]



=== TEST 3: a JSON answer, as it is; the default qualifier
--- request eval
AgentCore::Test::invoke('[[json]] hi')
--- response_headers
Content-Type: application/json
--- response_body chomp
{"result":"Hello! You said: hi","qualifier":"DEFAULT"}



=== TEST 4: qualifier=: sent in the query, and signed
--- request eval
AgentCore::Test::invoke('[[json]] hi', '/prod')
--- response_body chomp
{"result":"Hello! You said: hi","qualifier":"prod_v2"}



=== TEST 5: a body nginx keeps in a file: signed over its bytes, sent whole
--- request eval
AgentCore::Test::invoke('[[json]] ' . ('x' x 20000), '/file')
--- response_body eval
'{"result":"Hello! You said: ' . ('x' x 20000) . '","qualifier":"DEFAULT"}'
--- no_error_log
[error]



=== TEST 6: what reaches the data plane: the encoded ARN, SigV4 for bedrock-agentcore in the ARN's region, only the headers it accepts, signed
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid
X-Amzn-Bedrock-AgentCore-Runtime-Custom-Team: blue
X-Amzn-Bedrock-AgentCore-Runtime-User-Id: alice
Cookie: secret=1
Authorization: Basic dXNlcjpwYXNz
Accept-Encoding: gzip
X-Forwarded-For: 10.0.0.1
Accept: text/event-stream"
--- response_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid
X-Client-Cookie: secret=1
X-Client-Forwarded: 10.0.0.1"
--- response_body eval
":method: POST
:path: /runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fhosted_agent-AbC123/invocations?qualifier=DEFAULT
accept: text/event-stream
authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/" . POSIX::strftime('%Y%m%d', gmtime) . "/us-east-1/bedrock-agentcore/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-custom-team;x-amzn-bedrock-agentcore-runtime-session-id;x-amzn-bedrock-agentcore-runtime-user-id
content-length: 29
content-type: application/json
host: bedrock-agentcore.us-east-1.amazonaws.com
x-amz-date: " . POSIX::strftime('%Y%m%d', gmtime) . "T
x-amzn-bedrock-agentcore-runtime-custom-team: blue
x-amzn-bedrock-agentcore-runtime-session-id: $main::Sid
x-amzn-bedrock-agentcore-runtime-user-id: alice
"
--- response_body_filters eval
sub { $_[0] =~ s/^(x-amz-date: \d{8}T)\d{6}Z$/$1/mr }
--- no_error_log
[error]



=== TEST 7: no session id from the client: one generated (a UUID v4, as botocore does), passed on, signed
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_headers_like
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}
--- response_body_like eval
qr{SignedHeaders=content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-session-id\n(?s:.*)x-amzn-bedrock-agentcore-runtime-session-id: [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n}
--- no_error_log
[error]



=== TEST 8: AWS's errors reach the client as they are: ResourceNotFoundException
--- request eval
AgentCore::Test::invoke('[[http status=404]]')
--- error_code: 404
--- response_headers
Content-Type: application/json
x-amzn-ErrorType: ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.bedrockagentcore/
--- response_body chomp
{"message":"An error occurred."}



=== TEST 9: ThrottlingException and RuntimeClientError, as they are
--- request eval
[AgentCore::Test::invoke('[[http status=429]]'),
 AgentCore::Test::invoke('[[http status=424]]')]
--- error_code eval
[429, 424]
--- response_body eval
['{"message":"Rate exceeded"}',
 '{"message":"Received error (500) from runtime. Please check your CloudWatch logs for more information."}']



=== TEST 10: a wrong secret: the data plane's 403 (a signature mismatch), as it is
--- main_config
env AWS_ACCESS_KEY_ID=AKIDEXAMPLE;
env AWS_SECRET_ACCESS_KEY=not-the-secret;
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: InvalidSignatureException:.*
--- response_body_like eval
qr{The request signature we calculated does not match}



=== TEST 11: auth=bearer: the client's token (a JWT authorizer's) passed on instead of SigV4
--- request eval
AgentCore::Test::invoke('[[echo-headers]]', '/jwt')
--- more_headers
Authorization: Bearer emulator-test-token
--- response_body_like eval
qr{\A:method: POST\n(?s:.*)\nauthorization: Bearer \[redacted\]\n(?!(?s:.*)x-amz-date)}
--- no_error_log
[error]



=== TEST 12: auth=bearer with a token the runtime refuses: its 403
--- request eval
AgentCore::Test::invoke('hi', '/jwt')
--- more_headers
Authorization: Bearer not-a-token
--- error_code: 403
--- response_headers_like
x-amzn-ErrorType: AccessDeniedException:.*



=== TEST 13: no credentials: 500 in the runtime's JSON error shape, nothing sent
--- main_config
env AWS_ACCESS_KEY_ID=;
env AWS_SECRET_ACCESS_KEY=;
env AWS_EC2_METADATA_DISABLED=true;
--- request eval
AgentCore::Test::invoke('hi')
--- error_code: 500
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"No AWS credentials","details":"the server has no credentials to call the agent runtime; tried: environment, shared files (profile default); IMDS is disabled (AWS_EC2_METADATA_DISABLED) (the causes are in the error log)"}
--- error_log
agentcore: no AWS credentials



=== TEST 14: auth=bearer needs no credentials
--- main_config
env AWS_ACCESS_KEY_ID=;
env AWS_SECRET_ACCESS_KEY=;
env AWS_EC2_METADATA_DISABLED=true;
--- request eval
AgentCore::Test::invoke('[[json]] hi', '/jwt')
--- more_headers
Authorization: Bearer emulator-test-token
--- response_body chomp
{"result":"Hello! You said: hi","qualifier":"DEFAULT"}



=== TEST 15: the client goes away mid-stream: the upstream connection is closed
--- probe
abort /invocations [[hang]]
--- response_body
first event before the end: yes
--- wait: 0.3
--- error_log
client prematurely closed connection
close http upstream connection



=== TEST 16: only POST
--- request
GET /invocations
--- error_code: 405
--- response_headers
Allow: POST



=== TEST 17: a malformed ARN fails nginx -t, saying what is wrong
--- config
agentcore_runtime_location /r;
location = /invocations {
    agentcore_runtime_pass arn:aws:bedrock-agentcore:us-east-1:1234:runtime/x;
}
--- must_die
--- error_log
agentcore_runtime_pass: "arn:aws:bedrock-agentcore:us-east-1:1234:runtime/x" has no account (12 digits): want arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID



=== TEST 18: a bad qualifier, an unknown option, no location: nginx -t errors
--- config
agentcore_runtime_location /r;
location = /invocations {
    agentcore_runtime_pass arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x qualifier=a&b;
}
--- must_die
--- error_log
a qualifier is 1 to 128 letters



=== TEST 19: agentcore_runtime_pass requires agentcore_runtime_location
--- config
location = /invocations {
    agentcore_runtime_pass arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x;
}
--- must_die
--- error_log
"agentcore_runtime_pass" requires "agentcore_runtime_location"



=== TEST 20: a session token: sent and signed; no secret reaches the log, even at debug level
--- main_config
env AWS_SESSION_TOKEN=relay-session-token-SECRET;
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_like eval
qr{SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amzn-bedrock-agentcore-runtime-session-id\n(?s:.*)\nx-amz-security-token: \[redacted sha256:}
--- no_error_log eval
[qr/relay-session-token-SECRET/, qr/wJalrXUtnFEMI/, qr/Signature=/]
--- error_log
agentcore runtime: debug logging paused while the request is built
agentcore runtime: debug logging resumed
--- log_level: debug



=== TEST 21: auth=bearer: the client's token does not reach the log through the relay (nginx itself logs the client's request headers at debug level)
--- request eval
AgentCore::Test::invoke('hi', '/jwt')
--- more_headers
Authorization: Bearer emulator-test-token
--- no_error_log eval
[qr/http script var: "Bearer/, qr/http proxy header:(?s:.*)Bearer/]
--- error_log
agentcore runtime: debug logging paused while the request is built
--- log_level: debug



=== TEST 22: many headers (the lists of several parts): every custom header passed and signed, the others dropped
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- more_headers eval
CORE::join("\n", map({ sprintf("X-Other-%02d: o", $_) } 1 .. 12),
           map({ sprintf("X-Amzn-Bedrock-AgentCore-Runtime-Custom-H%02d: v%d", $_, $_) } 1 .. 20))
--- response_body_like eval
my $c = CORE::join(';', map { sprintf("x-amzn-bedrock-agentcore-runtime-custom-h%02d", $_) } 1 .. 20);
my $v = CORE::join('', map { sprintf("x-amzn-bedrock-agentcore-runtime-custom-h%02d: v%d\n", $_, $_) } 1 .. 20);
qr{\A(?!(?s:.*)x-other)(?s:.*)SignedHeaders=content-type;host;x-amz-date;\Q$c\E;x-amzn-bedrock-agentcore-runtime-session-id\n(?s:.*)\n\Q$v\E}
--- no_error_log
[error]
