# `make run` with AGENTCORE_RUNTIME_ARN: /invocations relays to that
# deployed runtime (agentcore_runtime_pass), here the bundled emulator's
# InvokeAgentRuntime side, or any endpoint AGENTCORE_BEDROCK_URL names
# that speaks the AgentCore data plane; a malformed ARN is refused.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use IO::Socket::INET;
use lib dirname(abs_path(__FILE__)) . '/lib';
use lib dirname(abs_path(__FILE__)) . '/../lib';
use RunScript qw(free_port start_run wait_ready stop_run slurp $ROOT);
use AgentCore::Emulator qw(-nostart start_emulator stop_emulator);

my $dir = tempdir('agentcore-run-relay-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $arn = 'arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/demo-AbC123';

sub invoke {
    my ($port, $prompt) = @_;
    my $body = qq{{"prompt":"$prompt"}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return '';
    print $s "POST /invocations HTTP/1.0\r\nHost: localhost\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    return <$s> // '';
}

# the bundled emulator
my $p = free_port();
my $a = start_run("$dir/a.out", AGENTCORE_PORT => $p,
                  AGENTCORE_RUNTIME_ARN => $arn);
ok(wait_ready($a, "$dir/a.out", '127.0.0.1', $p), "relaying run on $p is up")
    or diag(slurp("$dir/a.out"));
like(slurp("$dir/a.out"), qr{relaying to \Q$arn\E}, '... says it relays');
my $r = invoke($p, 'Hello relay');
like($r, qr{\AHTTP/1\.1 200 .*\r\nContent-Type: text/event-stream; charset=utf-8\r\n}s,
     'an SSE answer from the runtime');
like($r, qr{\r\nX-Amzn-Bedrock-AgentCore-Runtime-Session-Id: [0-9a-f-]{36}\r\n},
     '... with the session id nginx generated');
like($r, qr{data: " relay"\n\n\z}, '... the text');
like(invoke($p, '[[http status=404]]'),
     qr{\AHTTP/1\.1 404 .*x-amzn-ErrorType: ResourceNotFoundException:}s,
     'an AWS error as it is');
is(stop_run($a, 30), 0, 'stops on TERM');

# AGENTCORE_BEDROCK_URL: another endpoint that speaks the data plane
my ($eport, $epid) = start_emulator(args => ['--runtime', $arn]);
$p = free_port();
my $b = start_run("$dir/b.out", AGENTCORE_PORT => $p,
                  AGENTCORE_RUNTIME_ARN => $arn,
                  AGENTCORE_BEDROCK_URL => "http://127.0.0.1:$eport",
                  AWS_ACCESS_KEY_ID => 'AKIDEXAMPLE',
                  AWS_SECRET_ACCESS_KEY =>
                      'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
ok(wait_ready($b, "$dir/b.out", '127.0.0.1', $p),
   'relaying to AGENTCORE_BEDROCK_URL: up')
    or diag(slurp("$dir/b.out"));
like(invoke($p, '[[json]] hi'),
     qr{\r\n\r\n\{"result":"Hello! You said: hi","qualifier":"DEFAULT"\}\z},
     '... a JSON answer from it');
is(stop_run($b, 30), 0, '... stops on TERM');
stop_emulator($epid);

# a malformed ARN
$p = free_port();
my $c = start_run("$dir/c.out", AGENTCORE_PORT => $p,
                  AGENTCORE_RUNTIME_ARN => 'arn:aws:bedrock:us-west-2:1:x');
isnt(stop_run($c, 30, 'wait'), 0, 'a malformed ARN: refused');
like(slurp("$dir/c.out"), qr/AGENTCORE_RUNTIME_ARN=.*: want arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime\/ID/,
     '... saying what it wants');

done_testing();
