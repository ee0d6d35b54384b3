# `make run` with AGENTCORE_MEMORY_ID (issue 18, item 2): sessions in
# AgentCore Memory.  Two runs share one store (the first run's emulator,
# named to the second by AGENTCORE_MEMORY_URL): a turn on the first, the
# next on the second carries the first's history.  A malformed id is
# refused.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use IO::Socket::INET;
use lib dirname(abs_path(__FILE__)) . '/lib';
use RunScript qw(free_port start_run wait_ready stop_run slurp $ROOT);

my $dir = tempdir('agentcore-run-memory-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $sid = 'run-memory-0123456789abcdef0123456789abcdef';

sub invoke {
    my ($port, $prompt) = @_;
    my $body = qq{{"prompt":"$prompt"}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return '';
    print $s "POST /invocations HTTP/1.0\r\nHost: localhost\r\n"
        . "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $sid\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    return <$s> // '';
}

my ($p1, $p2) = (free_port(), free_port());

my $a = start_run("$dir/a.out", AGENTCORE_PORT => $p1,
                  AGENTCORE_MEMORY_ID => 'mem-run');
ok(wait_ready($a, "$dir/a.out", '127.0.0.1', $p1), "run A on $p1 is up")
    or diag(slurp("$dir/a.out"));
my ($emu) = slurp("$dir/a.out") =~ /Bedrock emulator on (127\.0\.0\.1:\d+)/;
like(slurp("$dir/a.out"),
     qr{sessions in AgentCore Memory mem-run at http://\Q$emu\E \(actor default\)},
     '... the memory: its emulator by default');
like(slurp("$ROOT/build/run-$p1/conf/nginx.conf"),
     qr{agentcore_memory\s+mem-run\ uri=/_agentcore/memory\ actor=default;.*
        location\ /_agentcore/memory/\ \{.*proxy_pass\ http://\Q$emu\E/;.*
        proxy_set_header\ Authorization\ \$agentcore_memory_authorization;}sx,
     '... in its nginx.conf');

my $b = start_run("$dir/b.out", AGENTCORE_PORT => $p2,
                  AGENTCORE_MEMORY_ID => 'mem-run',
                  AGENTCORE_MEMORY_URL => "http://$emu");
ok(wait_ready($b, "$dir/b.out", '127.0.0.1', $p2), "run B on $p2 is up")
    or diag(slurp("$dir/b.out"));

like(invoke($p1, 'My name is Ada'), qr{data: " Ada"\n\n\z},
     'a turn on A');
like(invoke($p2, '[[echo]]'),
     qr{My name is Ada.*Hello! You said: My name is Ada.*\[\[echo\]\]}s,
     'the next turn, on B, carries it');

is(stop_run($a, 30), 0, 'A stops on TERM');
is(stop_run($b, 30), 0, 'B stops on TERM');

my $p3 = free_port();
my $c = start_run("$dir/c.out", AGENTCORE_PORT => $p3,
                  AGENTCORE_MEMORY_ID => 'mem/run');
isnt(stop_run($c, 30, 'wait'), 0, 'a malformed id: refused');
like(slurp("$dir/c.out"), qr/AGENTCORE_MEMORY_ID=mem\/run .*want letters/,
     '... saying what it wants');

done_testing();
