# `make run` with credentials from where the AWS SDKs find them, and no
# "env" line in its nginx.conf: the module passes the variables its
# credential chain reads to the workers itself (issue: the IMDS override
# documented in docs/credentials.md never worked from make run).  Here the
# instance metadata service is a local stand-in (AgentCore::Creds) named
# by AWS_EC2_METADATA_SERVICE_ENDPOINT, HOME has no ~/.aws, no AWS_* key
# is set, and the emulator accepts only the stand-in's temporary key:
# a streamed answer proves that the chain reached IMDS from the workers.

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
use AgentCore::Creds;

my $dir = tempdir('agentcore-run-imds-XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$dir/home";
# the workers (nobody) look for ~/.aws there: an empty home they may read
chmod 0755, $dir, "$dir/home";

my $cs = AgentCore::Creds->start;
my ($akid, $secret, $token) = @{ $AgentCore::Creds::DEFAULT_KEYS[0] };
my ($eport, $epid) = start_emulator(keys => ["$akid:$secret:$token"],
                                    log => "$dir/emulator.log");

sub invoke {
    my ($port, $prompt) = @_;
    my $body = qq{{"prompt":"$prompt"}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 10)
        or return '';
    print $s "POST /invocations HTTP/1.0\r\nHost: localhost\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    return <$s> // '';
}

my $p = free_port();
my $run = start_run("$dir/run.out", AGENTCORE_PORT => $p,
                    AGENTCORE_BEDROCK_URL => "http://127.0.0.1:$eport",
                    AWS_EC2_METADATA_SERVICE_ENDPOINT =>
                        'http://127.0.0.1:' . $cs->port,
                    HOME => "$dir/home");
ok(wait_ready($run, "$dir/run.out", '127.0.0.1', $p), "make run on $p is up")
    or diag(slurp("$dir/run.out"));

my $conf = slurp("$ROOT/build/run-$p/conf/nginx.conf");
ok(length $conf, 'its nginx.conf is there');
unlike($conf, qr/^\s*env\s+AWS_/m, '... with no env line for AWS_*');

my $r = invoke($p, 'Hello');
like($r, qr{\AHTTP/1\.1 200 }, 'an invocation: 200') or diag($r);
like($r, qr{data: "Hello!"\n\n}, '... streamed, signed with the key from IMDS');
like(slurp("$dir/emulator.log"), qr/\Q$akid\E/,
     '... the emulator saw the stand-in\'s key');
cmp_ok($cs->fetches, '>=', 1, 'the IMDS stand-in was asked');
like(slurp("$ROOT/build/run-$p/logs/error.log"),
     qr/AWS credentials \(auto\) from IMDS/, 'nginx logged the source');

is(stop_run($run, 30), 0, 'stops on TERM');
stop_emulator($epid);

done_testing();
