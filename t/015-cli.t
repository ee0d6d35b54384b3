# agentcore-invoke (cli/, docs/agentcore-invoke.1), run against the
# module and the emulator, and against a stand-in for the AgentCore data
# plane (InvokeAgentRuntime) that checks what a deployed runtime's front
# checks: the ARN's encoding in the path, the qualifier, the session id
# and the SigV4 signature for "bedrock-agentcore", verified here with the
# emulator's own SigV4 pieces (emulator/bedrock-emulator.pl), not with
# the C signer the CLI links.
#
# A block's "--- cli" holds one invocation per line (shell words; $URL is
# this nginx's /invocations, $STANDIN the stand-in's base URL, $REFUSED a
# URL where nothing listens, $ARN the stand-in's runtime).  Its output is
# stdout, then "[stderr]" and stderr, then "[exit N]", for each line.
# "--- cli_stdin" is the standard input, "--- cli_env" lines NAME=VALUE
# (NAME alone: unset) the environment; "--- cli_streamed" adds whether
# the first bytes reached stdout well before the end.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use IO::Socket::INET;
use IO::Select;
use IPC::Open3 qw(open3);
use Symbol qw(gensym);
use Text::ParseWords qw(shellwords);
use Time::HiRes ();
use POSIX ();
use JSON::PP ();
use Digest::SHA qw(sha256_hex hmac_sha256_hex);

our $Root = $AgentCore::Test::Root;
our $Cli = $ENV{AGENTCORE_CLI} // "$Root/build/agentcore-invoke";
our $Arn = 'arn:aws:bedrock-agentcore:us-west-2:123456789012:'
           . 'runtime/hosted_agent-AbC123';
our $Sid = 'cli-session-0123456789abcdef0123456789';    # 38 characters

# the stand-in's keys: the AWS example key, and one with a session token
our %Keys = (
    AKIDEXAMPLE => ['wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', undef],
    ASIATOKENEXAMPLE => ['c2VjcmV0LWZvci10aGUtdG9rZW4tZXhhbXBsZQ', 'tok/en+1='],
);
our $Jwt = 'eyJ0eXAiOiJKV1QifQ.e30.c2ln';

our $HttpConfig = $AgentCore::Test::HttpConfig
                  . "agentcore_session_zone s:1m;\n";

our $Config = "agentcore_session s;\n"
              . "agentcore_tools calculator weather get_time;\n"
              . $AgentCore::Test::Config
              . "location = /ping { agentcore_ping; }\n";

die "no $Cli: make cli\n" unless -x $Cli;


# ------------------------------------------------------------ the stand-in

require "$Root/emulator/bedrock-emulator.pl";    # package BedrockEmulator

our ($StandinPort, $StandinPid, $StandinOwner);

sub standin_error {
    my ($c, $status, $type, $message) = @_;
    my $body = JSON::PP->new->canonical->encode({ message => $message });

    BedrockEmulator::send_response($c, undef, $status,
        ['Content-Type', 'application/json',
         'x-amzn-ErrorType',
         "$type:http://internal.amazon.com/coral/com.amazonaws.agentcore/"],
        $body);
}

# SigV4 for bedrock-agentcore, checked as AWS does; undef or an error
sub standin_sigv4 {
    my ($req) = @_;
    my ($auth, %f, @cred, $secret, $token, @signed, $chdrs, $creq, $sts,
        $t);

    $auth = $req->{h}{authorization};
    return [403, 'MissingAuthenticationTokenException',
            'Missing Authentication Token'] unless defined $auth;

    return [403, 'IncompleteSignatureException', "bad Authorization: $auth"]
        unless $auth =~ /^AWS4-HMAC-SHA256 (.*)$/;

    for my $part (split /\s*,\s*/, $1) {
        my ($k, $v) = split /=/, $part, 2;
        $f{$k} = $v;
    }

    @cred = split m{/}, $f{Credential} // '';
    return [403, 'IncompleteSignatureException', 'bad Credential']
        unless @cred == 5 && $cred[4] eq 'aws4_request';
    return [403, 'UnrecognizedClientException',
            'The security token included in the request is invalid.']
        unless $Keys{$cred[0]};
    return [403, 'InvalidSignatureException',
            "Credential should be scoped to correct service: "
            . "'bedrock-agentcore'. "] unless $cred[3] eq 'bedrock-agentcore';
    return [403, 'InvalidSignatureException',
            "Credential should be scoped to a valid region: 'us-west-2'. "]
        unless $cred[2] eq 'us-west-2';

    ($secret, $token) = @{ $Keys{$cred[0]} };
    return [403, 'UnrecognizedClientException',
            'The security token included in the request is invalid.']
        if defined $token
           && ($req->{h}{'x-amz-security-token'} // '') ne $token;

    $t = BedrockEmulator::amz_epoch($req->{h}{'x-amz-date'} // '');
    return [403, 'InvalidSignatureException', 'Signature expired']
        unless defined $t && abs($t - time) < 300
               && substr($req->{h}{'x-amz-date'}, 0, 8) eq $cred[1];

    @signed = split /;/, $f{SignedHeaders} // '';
    for my $must (qw(host x-amz-date content-type
                     x-amzn-bedrock-agentcore-runtime-session-id))
    {
        return [403, 'InvalidSignatureException', "$must is not signed"]
            unless grep { $_ eq $must } @signed;
    }
    return [403, 'InvalidSignatureException', 'token not signed']
        if defined $token && !grep { $_ eq 'x-amz-security-token' } @signed;

    $chdrs = '';
    for my $n (@signed) {
        my @vals = map { BedrockEmulator::fold_ws($_->[1]) }
                   grep { $_->[0] eq $n } @{ $req->{headers} };
        return [403, 'InvalidSignatureException', "signed $n not sent"]
            unless @vals;
        $chdrs .= "$n:" . join(',', @vals) . "\n";
    }

    # the wire path is %-encoded once; the canonical URI encodes it again
    $creq = join("\n", $req->{method},
                 BedrockEmulator::uri_encode($req->{path}, 1),
                 BedrockEmulator::canonical_query($req->{query}), $chdrs,
                 $f{SignedHeaders}, sha256_hex($req->{body}));
    $sts = join("\n", 'AWS4-HMAC-SHA256', $req->{h}{'x-amz-date'},
                join('/', @cred[1 .. 4]), sha256_hex($creq));

    return [403, 'InvalidSignatureException',
            'The request signature we calculated does not match the '
            . 'signature you provided. Check your AWS Secret Access Key and '
            . 'signing method. Consult the service documentation for '
            . 'details.']
        if hmac_sha256_hex($sts, BedrockEmulator::signing_key($secret,
                                                               @cred[1 .. 3]))
           ne ($f{Signature} // '');

    $req->{who} = "sigv4:$cred[0] signed=$f{SignedHeaders}";
    return undef;
}

sub standin_serve {
    my ($sock) = @_;
    my ($c, $req, $seg, $arn, %q, $sid, $e, $prompt, @ev);

    $c = { sock => $sock, buf => '', sent => 0, close => 1, chunked => 1 };
    $req = BedrockEmulator::read_request($c) or return;

    if ($req->{error} || $req->{method} ne 'POST'
        || $req->{path} !~ m{^/runtimes/([^/]+)/invocations$})
    {
        return standin_error($c, 404, 'UnknownOperationException',
                             "Unknown operation $req->{method} "
                             . "$req->{path}");
    }

    # the ARN is one path segment, every reserved byte %-encoded
    $seg = $1;
    $arn = BedrockEmulator::uri_decode($seg);
    if (BedrockEmulator::uri_encode($arn) ne $seg) {
        return standin_error($c, 400, 'ValidationException',
                             "the ARN is not encoded as the SDKs do: $seg");
    }

    for my $kv (split /&/, $req->{query}) {
        my ($k, $v) = split /=/, $kv, 2;
        $q{BedrockEmulator::uri_decode($k)}
            = BedrockEmulator::uri_decode($v // '');
    }

    $sid = $req->{h}{'x-amzn-bedrock-agentcore-runtime-session-id'};
    if (!defined $sid || length $sid < 33 || length $sid > 256) {
        return standin_error($c, 400, 'ValidationException',
                             'runtimeSessionId must be 33 to 256 '
                             . 'characters');
    }

    if (($req->{h}{authorization} // '') =~ /^Bearer (.*)$/) {
        return standin_error($c, 403, 'AccessDeniedException',
                             'bad token') unless $1 eq $Jwt;
        $req->{who} = 'bearer';
    } elsif ($e = standin_sigv4($req)) {
        return standin_error($c, @$e);
    }

    if ($arn ne $Arn) {
        return standin_error($c, 404, 'ResourceNotFoundException',
                             "No agent runtime found for $arn");
    }

    $prompt = eval { JSON::PP->new->utf8->decode($req->{body})->{prompt} }
              // '?';

    @ev = ("auth=$req->{who}", " qualifier=" . ($q{qualifier} // '-'),
           " session=$sid",
           " custom=" . ($req->{h}{'x-amzn-bedrock-agentcore-runtime-custom-'
                                   . 'team'} // '-'),
           " prompt=$prompt");

    $c->{close} = 1;
    BedrockEmulator::write_all($c, "HTTP/1.1 200 OK\r\n"
        . "Content-Type: text/event-stream; charset=utf-8\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");

    for my $t (@ev) {
        BedrockEmulator::write_chunk($c, 'data: '
            . JSON::PP->new->allow_nonref->encode($t) . "\n\n");
    }

    if ($prompt =~ /\[\[stream_error\]\]/) {
        BedrockEmulator::write_chunk($c, 'data: {"error": "the runtime '
            . 'failed", "type": "stream_error"}' . "\n\n");
    }

    BedrockEmulator::end_chunks($c);
}

sub standin_start {
    my ($srv, $pid, $owner, $sel);

    $srv = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 16, ReuseAddr => 1,
                                 Proto => 'tcp')
        or die "stand-in: cannot listen: $!\n";
    $owner = $$;

    $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        $SIG{PIPE} = 'IGNORE';
        $sel = IO::Select->new($srv);
        for (;;) {
            POSIX::_exit(0) if getppid() != $owner;
            next unless $sel->can_read(1);
            my $s = $srv->accept or next;
            eval { standin_serve($s) };
            close $s;
        }
    }

    my $port = $srv->sockport;
    close $srv;
    return ($port, $pid, $owner);
}

($StandinPort, $StandinPid, $StandinOwner) = standin_start();

END {
    local $?;    # the exit status stays the tests'

    if ($StandinPid && $$ == $StandinOwner) {
        kill 'TERM', $StandinPid;
        waitpid($StandinPid, 0);
    }
}

# a port nothing listens on
sub refused_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, Proto => 'tcp') or die $!;
    my $p = $s->sockport;
    close $s;
    return $p;
}


# ---------------------------------------------------------------- the CLI

sub run_one {
    my ($args, $stdin, $env, $streamed) = @_;
    my ($pid, $in, $out, $err, $sel, %buf, $t0, $first, $end, $status);

    local %ENV = %ENV;
    delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;
    $ENV{AWS_EC2_METADATA_DISABLED} = 'true';
    $ENV{HOME} = '/nonexistent';
    for my $l (@$env) {
        my ($k, $v) = split /=/, $l, 2;
        if (defined $v) { $ENV{$k} = $v } else { delete $ENV{$k} }
    }

    $err = gensym;
    $t0 = Time::HiRes::time();
    $pid = open3($in, $out, $err, $Cli, @$args);
    print $in $stdin if defined $stdin;
    close $in;

    $sel = IO::Select->new($out, $err);
    %buf = (out => '', err => '');

    local $SIG{ALRM} = sub { kill 'KILL', $pid; die "agentcore-invoke "
                                                    . "hangs\n" };
    alarm 30;
    while ($sel->count) {
        for my $fh ($sel->can_read) {
            my $n = sysread($fh, my $chunk, 65536);
            if (!$n) {
                $sel->remove($fh);
                next;
            }
            my $k = $fh == $out ? 'out' : 'err';
            $first //= Time::HiRes::time() if $k eq 'out';
            $buf{$k} .= $chunk;
        }
    }
    waitpid($pid, 0);
    $status = $? >> 8;
    $status = 'signal ' . ($? & 127) if $? & 127;
    alarm 0;
    $end = Time::HiRes::time();

    my $r = $buf{out} . "[stderr]\n" . $buf{err} . "[exit $status]\n";

    if ($streamed) {
        $r .= defined $first && $end - $first > 0.5
              ? "streamed\n"
              : sprintf("not streamed: first output after %.2fs of %.2fs\n",
                        ($first // $end) - $t0, $end - $t0);
    }

    return $r;
}

sub run_cli {
    my ($block) = @_;
    my ($r, %var, @env);

    %var = (URL => 'http://127.0.0.1:' . server_port() . '/invocations',
            STANDIN => "http://127.0.0.1:$StandinPort",
            REFUSED => 'http://127.0.0.1:' . refused_port() . '/invocations',
            ARN => $Arn, SID => $Sid, TEST_NGINX_PORT => server_port(),
            TEST_NGINX_SERVROOT => server_root());

    @env = split /\n/, $block->cli_env // '';
    s/\$(\w+)/$var{$1} \/\/ "\$$1"/ge for @env;

    $r = '';
    for my $line (split /\n/, $block->cli) {
        my @args = map { s/\$(\w+)/$var{$1} \/\/ "\$$1"/ger }
                   shellwords($line);
        $r .= run_one(\@args, scalar $block->cli_stdin, \@env,
                      defined $block->cli_streamed);
    }

    return $r;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("http_config", $main::HttpConfig)
        unless defined $block->http_config;
    $block->set_value("config", $main::Config)
        unless defined $block->config;

    AgentCore::Test::defaults($block);

    if (defined $block->cli) {
        $block->set_value("request", "GET /ping")
            unless defined $block->request;
        $block->set_value("response_body_filters",
                          sub { main::run_cli($block) });
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the text as it streams, decoded from the events, a newline at the end
--- cli
--url $URL "[[slow ms=300 n=4]] go"
--- cli_streamed
--- response_body
tok1 tok2 tok3 tok4 
[stderr]
[exit 0]
streamed
--- no_error_log
[error]



=== TEST 2: the issue's example: a tool call, then the answer; the prompt from several words
--- cli
--url $URL How much is 2+1
-n --url $URL How much is 2+1
--- response_body
Let me use the calculator tool.The answer is Result: 3.
[stderr]
[exit 0]
Let me use the calculator tool.The answer is Result: 3.[stderr]
[exit 0]



=== TEST 3: escapes and UTF-8 come out as the text they encode
--- cli
--url $URL '[[deltas texts=["a\"b\\c", "\n\u00e9\t", "😀"]]] x'
--- response_body
a"b\c
é	😀
[stderr]
[exit 0]



=== TEST 4: --json: each event's data as sent, one per line
--- cli
--json --url $URL Hello
--- response_body
"Hello!"
" You"
" said:"
" Hello"
[stderr]
[exit 0]



=== TEST 5: the prompt from stdin ("-"), its last line end dropped
--- cli
--url $URL -
--- cli_stdin
two
lines
--- response_body
Hello! You said: two
lines
[stderr]
[exit 0]



=== TEST 6: --session: a second invocation continues the conversation
--- cli
--session $SID --url $URL "My name is Ada"
--session $SID --url $URL "[[echo]]"
--- response_body_like chomp
\AHello! You said: My name is Ada\n\[stderr\]\n\[exit 0\]\n\{"messages":\[\{"role":"user","content":\[\{"text":"My name is Ada"\}\]\},\{"role":"assistant","content":\[\{"text":"Hello! You said: My name is Ada"\}\]\},\{"role":"user","content":\[\{"text":"\[\[echo\]\]"\}\]\}\],.*\n\[stderr\]\n\[exit 0\]\n\z



=== TEST 7: --new-session: a generated id (a UUID), said on stderr, and used
--- cli
--new-session --url $URL hi
--- response_body_like chomp
\AHello! You said: hi\n\[stderr\]\nagentcore-invoke: session ([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\n\[exit 0\]\n\z



=== TEST 8: an HTTP error: the runtime's JSON error body, exit 3
--- cli
--url $URL --data 'not json'
--url $URL --json --data 'not json'
--url $URL --session short hi
--- response_body
[stderr]
agentcore-invoke: HTTP 400 Bad Request: Invalid JSON: Expecting value: line 1 column 1 (char 0)
[exit 3]
{"error":"Invalid JSON","details":"Expecting value: line 1 column 1 (char 0)"}
[stderr]
agentcore-invoke: HTTP 400 Bad Request: Invalid JSON: Expecting value: line 1 column 1 (char 0)
[exit 3]
[stderr]
agentcore-invoke: HTTP 400 Bad Request: Invalid session id: X-Amzn-Bedrock-AgentCore-Runtime-Session-Id must be 33 to 256 characters long
[exit 3]



=== TEST 9: an HTTP error without JSON: nginx's page, by its title
--- cli
--url http://127.0.0.1:$TEST_NGINX_PORT/nowhere hi
--- response_body
[stderr]
agentcore-invoke: HTTP 404 Not Found: 404 Not Found
[exit 3]



=== TEST 10: a stream_error event mid-stream: the text before it, the message, exit 4
--- cli
--url $URL "[[exception type=validationException message=bad]] x"
--json --url $URL "[[exception type=validationException message=bad]] x"
--- response_body
Partial answer 
[stderr]
agentcore-invoke: stream error: An error occurred (validationException) when calling the ConverseStream operation: bad
[exit 4]
"Partial "
"answer "
{"error": "An error occurred (validationException) when calling the ConverseStream operation: bad", "type": "stream_error"}
[stderr]
agentcore-invoke: stream error: An error occurred (validationException) when calling the ConverseStream operation: bad
[exit 4]



=== TEST 11: connection refused: exit 5
--- cli
--url $REFUSED hi
--- response_body_like chomp
\A\[stderr\]\nagentcore-invoke: http://127.0.0.1:\d+/invocations: Failed to connect to 127.0.0.1 port \d+ .*: Couldn't connect to server\n\[exit 5\]\n\z



=== TEST 12: usage errors: exit 2, saying what is wrong
--- cli
--url $URL
--url $URL --arn $ARN hi
--header nocolon hi
--url $URL --data x hi
--bogus hi
--- response_body
[stderr]
agentcore-invoke: no prompt: give it as arguments, or '-' to read stdin
Try 'agentcore-invoke --help'.
[exit 2]
[stderr]
agentcore-invoke: --url and --arn exclude each other
[exit 2]
[stderr]
agentcore-invoke: --header 'nocolon': want 'Name: value'
[exit 2]
[stderr]
agentcore-invoke: --data and a prompt exclude each other
[exit 2]
[stderr]
agentcore-invoke: unrecognized option '--bogus'
Try 'agentcore-invoke --help'.
[exit 2]



=== TEST 13: --help names every option
--- cli
--help
--- response_body_like
(?s)--url.*--arn.*--qualifier.*--region.*--endpoint-url.*--profile.*--session.*--new-session.*--header.*--data.*--json.*--no-newline.*--quiet.*--verbose.*--connect-timeout.*--max-time.*--help.*--version.*Exit status.*\[exit 0\]



=== TEST 14: --arn: SigV4 for bedrock-agentcore (checked by the stand-in), the ARN %-encoded in the path, qualifier DEFAULT, the session id
--- cli_env
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
--- cli
--arn $ARN --endpoint-url $STANDIN --session $SID Hello there
--- response_body
auth=sigv4:AKIDEXAMPLE signed=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-session-id qualifier=DEFAULT session=cli-session-0123456789abcdef0123456789 custom=- prompt=Hello there
[stderr]
[exit 0]



=== TEST 15: --arn without --session: a generated UUID, said on stderr; a qualifier; a custom header, signed
--- cli_env
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
--- cli
--arn $ARN --endpoint-url $STANDIN/ -q prod/v1 -H "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Team:  blue  team" hi
--- response_body_like chomp
\Aauth=sigv4:AKIDEXAMPLE signed=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-custom-team;x-amzn-bedrock-agentcore-runtime-session-id qualifier=prod/v1 session=([0-9a-f-]{36}) custom=blue  team prompt=hi\n\[stderr\]\nagentcore-invoke: session \1\n\[exit 0\]\n\z



=== TEST 16: --arn with temporary credentials from a profile (the module's chain): the token sent and signed
--- user_files
>>> aws/credentials
[ci]
aws_access_key_id = ASIATOKENEXAMPLE
aws_secret_access_key = c2VjcmV0LWZvci10aGUtdG9rZW4tZXhhbXBsZQ
aws_session_token = tok/en+1=
--- cli_env
AWS_SHARED_CREDENTIALS_FILE=$TEST_NGINX_SERVROOT/html/aws/credentials
AWS_ENDPOINT_URL_BEDROCK_AGENTCORE=$STANDIN
--- cli
--arn $ARN --profile ci --session $SID hi
--- response_body
auth=sigv4:ASIATOKENEXAMPLE signed=accept;content-type;host;x-amz-date;x-amz-security-token;x-amzn-bedrock-agentcore-runtime-session-id qualifier=DEFAULT session=cli-session-0123456789abcdef0123456789 custom=- prompt=hi
[stderr]
[exit 0]



=== TEST 17: --arn: a wrong secret is refused by the stand-in's check (exit 3, AWS's error type and message)
--- cli_env
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ
--- cli
--arn $ARN --endpoint-url $STANDIN hi
--- response_body_like chomp
\A\[stderr\]\nagentcore-invoke: session [0-9a-f-]{36}\nagentcore-invoke: HTTP 403 InvalidSignatureException: The request signature we calculated does not match the signature you provided\. .*\n\[exit 3\]\n\z



=== TEST 18: --arn: another region's ARN, an unknown runtime, a JWT bearer token instead of SigV4
--- cli_env
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
--- cli
--quiet --arn arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/hosted_agent-AbC123 --endpoint-url $STANDIN hi
--quiet --arn arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/other --endpoint-url $STANDIN hi
--arn $ARN --endpoint-url $STANDIN --session $SID -H "Authorization: Bearer eyJ0eXAiOiJKV1QifQ.e30.c2ln" hi
--- response_body
[stderr]
agentcore-invoke: HTTP 403 InvalidSignatureException: Credential should be scoped to a valid region: 'us-west-2'. 
[exit 3]
[stderr]
agentcore-invoke: HTTP 404 ResourceNotFoundException: No agent runtime found for arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/other
[exit 3]
auth=bearer qualifier=DEFAULT session=cli-session-0123456789abcdef0123456789 custom=- prompt=hi
[stderr]
[exit 0]



=== TEST 19: --arn: a stream_error from the runtime, exit 4
--- cli_env
AWS_ACCESS_KEY_ID=AKIDEXAMPLE
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
--- cli
--arn $ARN --endpoint-url $STANDIN --session $SID "[[stream_error]]"
--- response_body
auth=sigv4:AKIDEXAMPLE signed=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-session-id qualifier=DEFAULT session=cli-session-0123456789abcdef0123456789 custom=- prompt=[[stream_error]]
[stderr]
agentcore-invoke: stream error: the runtime failed
[exit 4]



=== TEST 20: --arn without credentials: exit 6, saying where it looked
--- cli
--quiet --arn $ARN --endpoint-url $STANDIN hi
--- response_body_like chomp
\A\[stderr\]\nagentcore-invoke: credentials: none found: .*IMDS is disabled.*\n\[exit 6\]\n\z



=== TEST 21: --arn: a malformed ARN is a usage error
--- cli
--arn arn:aws:nothing hi
--- response_body
[stderr]
agentcore-invoke: --arn arn:aws:nothing: want arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID
[exit 2]



=== TEST 22: --verbose: the request and the credentials' source on stderr, never the secret, the token or the signature
--- user_files
>>> aws/credentials
[ci]
aws_access_key_id = ASIATOKENEXAMPLE
aws_secret_access_key = c2VjcmV0LWZvci10aGUtdG9rZW4tZXhhbXBsZQ
aws_session_token = tok/en+1=
--- cli_env
AWS_SHARED_CREDENTIALS_FILE=$TEST_NGINX_SERVROOT/html/aws/credentials
--- cli
--verbose --arn $ARN --endpoint-url $STANDIN --profile ci --session $SID hi
--- response_body_like
\A(?!.*(?:c2VjcmV0|tok/en|Signature=|Authorization|Security-Token)).*\nagentcore-invoke: > signed for us-west-2 with credentials from profile[^\n]*\n(?:agentcore-invoke: > [^\n]*\n)*agentcore-invoke: > X-Amz-Date: \d{8}T\d{6}Z\n.*agentcore-invoke: > POST http://127\.0\.0\.1:\d+/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fhosted_agent-AbC123/invocations\?qualifier=DEFAULT \(15 bytes\)\nagentcore-invoke: < HTTP 200 OK \(text/event-stream; charset=utf-8\)\n\[exit 0\]



=== TEST 23: through nginx's relay (agentcore_runtime_pass) to the stand-in: its SigV4 check passes, the session id (given, or generated by nginx) reaches it, its errors come back as they are
--- http_config eval
$main::HttpConfig . "upstream standin { server 127.0.0.1:$main::StandinPort; }\n"
--- config eval
"agentcore_runtime_location /_agentcore/runtime;
location = /invocations {
    agentcore_runtime_pass $main::Arn;
}
location = /_agentcore/runtime {
    internal;
    include $main::Root/conf/agentcore_runtime_params;
    proxy_pass http://standin\$agentcore_runtime_path;
}
location = /ping { return 200; }
"
--- cli
--quiet --url $URL --session $SID -H "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Team: red" hi
--quiet --url $URL hi
--quiet --url $URL "[[stream_error]]"
--- response_body_like
\Aauth=sigv4:AKIDEXAMPLE signed=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-custom-team;x-amzn-bedrock-agentcore-runtime-session-id qualifier=DEFAULT session=cli-session-0123456789abcdef0123456789 custom=red prompt=hi
\[stderr\]
\[exit 0\]
auth=sigv4:AKIDEXAMPLE signed=accept;content-type;host;x-amz-date;x-amzn-bedrock-agentcore-runtime-session-id qualifier=DEFAULT session=[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12} custom=- prompt=hi
\[stderr\]
\[exit 0\]
auth=sigv4:AKIDEXAMPLE [^\n]* prompt=\[\[stream_error\]\]
\[stderr\]
agentcore-invoke: stream error: the runtime failed
\[exit 4\]



=== TEST 24: against a JSON answer (agentcore_response): --json and the CLI's own Accept keep SSE; Accept: application/json alone gets the JSON body as it is; its error is exit 3
The CLI sends "Accept: text/event-stream, application/json": equal
preferences, so the module streams.  Asked for JSON only, the 200 body
(not SSE) is printed as it came; the JSON error's message goes to stderr.
--- cli
--json --url $URL Hello
-n --url $URL -H "Accept: application/json" Hello
--url $URL -H "Accept: application/json" "[[deltas texts=[\"Partial\"]]] [[max-tokens]]"
--- response_body
"Hello!"
" You"
" said:"
" Hello"
[stderr]
[exit 0]
"Hello! You said: Hello"[stderr]
[exit 0]
[stderr]
agentcore-invoke: HTTP 500 Internal Server Error: Model stopped generating due to maximum token limit. The partial message has been added to the conversation history. You can continue by calling the agent again. For more information see: https://strandsagents.com/docs/user-guide/concepts/agents/agent-loop/#maxtokensreachedexception
[exit 3]
