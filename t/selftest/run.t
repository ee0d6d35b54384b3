# `make run`'s script (conf/run.sh), started as `make run` starts it, on
# free ports: each port has a prefix of its own (build/run-PORT), and a
# second run on a port in use is refused with a message saying why
# (issue 10, item 8).

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use lib dirname(abs_path(__FILE__)) . '/lib';
use RunScript qw(free_port start_run wait_ready stop_run http_get slurp
                 $ROOT);

my $dir = tempdir('agentcore-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($p1, $p2) = (free_port(), free_port());

# --------------------------------------------------- two ports, two prefixes

my $a = start_run("$dir/a.out", AGENTCORE_PORT => $p1);
ok(wait_ready($a, "$dir/a.out", '127.0.0.1', $p1), "run on port $p1 is up")
    or diag(slurp("$dir/a.out"));
like(http_get('127.0.0.1', $p1, '/ping'), qr/"Healthy"/, '... /ping');
like(http_get('127.0.0.1', $p1, '/metrics'),
     qr{\A HTTP/1\.1\ 200 .*
        ^Content-Type:\ text/plain;\ version=0\.0\.4;\ charset=utf-8\r$ .*
        ^agentcore_invocations_total\{outcome="ok"\}\ 0$}msx,
     '... /metrics: Prometheus text (docs/operating.md)');
like(slurp("$dir/a.out"), qr{Logs: \Q$ROOT\E/build/run-$p1/logs/},
     '... in build/run-PORT');

my $c = start_run("$dir/c.out", AGENTCORE_PORT => $p2);
ok(wait_ready($c, "$dir/c.out", '127.0.0.1', $p2),
   "a second run, on port $p2, is up beside it")
    or diag(slurp("$dir/c.out"));
like(slurp("$dir/c.out"), qr{Logs: \Q$ROOT\E/build/run-$p2/logs/},
     '... in a prefix of its own');
like(http_get('127.0.0.1', $p1, '/ping'), qr/"Healthy"/,
     'the first still answers');
like(slurp("$ROOT/build/run-$p1/conf/nginx.conf"), qr/listen\s+\S*\b$p1;/,
     "... and its nginx.conf still says port $p1");
is(slurp("$ROOT/build/run-$p1/logs/nginx.pid") =~ s/\s+//r,
   RunScript::nginx_pid($a), '... and its pid file names its own nginx');

# --------------------------------------------------- the same port: refused

my $b = start_run("$dir/b.out", AGENTCORE_PORT => $p1);
my $rc = stop_run($b, 30, 'wait');
isnt($rc, 0, "a second run on port $p1 is refused");
like(slurp("$dir/b.out"),
     qr/another make run is using port $p1 .*AGENTCORE_PORT/,
     '... saying why')
    or diag(slurp("$dir/b.out"));
unlike(slurp("$dir/b.out"), qr/Bedrock emulator on/,
       '... before starting anything');
like(http_get('127.0.0.1', $p1, '/ping'), qr/"Healthy"/,
     'the first still answers');

# ------------------------------------------------------------------ stopped

is(stop_run($a, 30), 0, 'the first run stops on TERM');
is(stop_run($c, 30), 0, 'the second run stops on TERM');
ok(!http_get('127.0.0.1', $p1, '/ping'), "port $p1 is closed");
ok(!http_get('127.0.0.1', $p2, '/ping'), "port $p2 is closed");

done_testing();
