# `make run` listens on 127.0.0.1 unless AGENTCORE_LISTEN says otherwise
# (issue 10, item 15); its emulator, whose credentials are AWS's published
# example key, listens on 127.0.0.1 always.  The listening sockets are read
# from /proc/net/tcp{,6}; 127.0.0.2 and 127.0.0.3 are loopback addresses
# other than 127.0.0.1.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use lib dirname(abs_path(__FILE__)) . '/lib';
use RunScript qw(free_port start_run wait_ready stop_run http_get slurp
                 $ROOT);

my $dir = tempdir('agentcore-listen-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# the addresses listening on TCP $port ("127.0.0.1", "0.0.0.0", "::", ...)
sub listeners {
    my ($port) = @_;
    my @addrs;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        <$in>;
        while (<$in>) {
            my ($local, $state) = (split ' ')[1, 3];
            next if $state ne '0A';
            my ($hex, $p) = split /:/, $local;
            next if hex($p) != $port;
            if (length $hex == 8) {
                push @addrs, join '.', reverse map { hex } $hex =~ /(..)/g;
            } else {
                my @w = map { join '', reverse /(..)/g } $hex =~ /(.{8})/g;
                my $a = join ':', map { /(....)(....)/ } @w;
                $a =~ s/\b0+(?=[0-9a-f])//g;
                $a =~ s/(?:^|:)(?:0:)+0?(?:$|:)?/::/;
                push @addrs, $a;
            }
        }
    }
    return join ' ', sort @addrs;
}

sub run_ok {
    my ($name, $addr, $port, %env) = @_;
    my $pid = start_run("$dir/$name.out", %env);
    my $ok = ok(wait_ready($pid, "$dir/$name.out", $addr, $port),
                "$name: up, /ping answers on $addr:$port");
    diag(slurp("$dir/$name.out")) if !$ok;
    return $pid;
}

# ------------------------------------------------------------ the default

my $p = free_port();
my $run = run_ok('default', '127.0.0.1', $p, AGENTCORE_PORT => $p);
is(listeners($p), '127.0.0.1', "default: listening on 127.0.0.1:$p only");
like(slurp("$ROOT/build/run-$p/conf/nginx.conf"),
     qr/^\s*listen\s+127\.0\.0\.1:$p;/m, 'default: nginx.conf says so');
is(http_get('127.0.0.2', $p, '/ping'), '',
   'default: nothing answers on 127.0.0.2');
like(slurp("$dir/default.out"), qr{curl -N http://127\.0\.0\.1:$p/},
     'default: the curl lines printed name that address');

my ($emu) = slurp("$dir/default.out") =~ /Bedrock emulator on [\d.]+:(\d+)/;
ok($emu, 'the emulator started');
is(listeners($emu // 0), '127.0.0.1', 'the emulator listens on 127.0.0.1');
is(stop_run($run, 30), 0, 'default: stopped');

# -------------------------------------------------------- AGENTCORE_LISTEN

$p = free_port();
$run = run_ok('address', '127.0.0.2', $p, AGENTCORE_LISTEN => '127.0.0.2',
              AGENTCORE_PORT => $p);
is(listeners($p), '127.0.0.2',
   'AGENTCORE_LISTEN=ADDR: that address, port AGENTCORE_PORT');
is(http_get('127.0.0.1', $p, '/ping'), '',
   'AGENTCORE_LISTEN=ADDR: nothing answers on 127.0.0.1');
is(stop_run($run, 30), 0, 'AGENTCORE_LISTEN=ADDR: stopped');

$p = free_port();
$run = run_ok('address-port', '127.0.0.3', $p,
              AGENTCORE_LISTEN => "127.0.0.3:$p",
              AGENTCORE_PORT => free_port());
is(listeners($p), '127.0.0.3', 'AGENTCORE_LISTEN=ADDR:PORT: there');
like(slurp("$dir/address-port.out"), qr{Logs: \Q$ROOT\E/build/run-$p/},
     'AGENTCORE_LISTEN=ADDR:PORT: the prefix of that port');
is(stop_run($run, 30), 0, 'AGENTCORE_LISTEN=ADDR:PORT: stopped');

$p = free_port();
$run = run_ok('any', '127.0.0.2', $p, AGENTCORE_LISTEN => "0.0.0.0:$p",
              AGENTCORE_PORT => $p);
is(listeners($p), '0.0.0.0', 'AGENTCORE_LISTEN=0.0.0.0:PORT: every address');
like(slurp("$dir/any.out"), qr/listens on every address/,
     'AGENTCORE_LISTEN=0.0.0.0:PORT: a warning');
is(stop_run($run, 30), 0, 'AGENTCORE_LISTEN=0.0.0.0:PORT: stopped');

for my $bad ('8081', '127.0.0.1:http', 'a b') {
    $run = start_run("$dir/bad.out", AGENTCORE_LISTEN => $bad,
                     AGENTCORE_PORT => free_port());
    isnt(stop_run($run, 30, 'wait'), 0, "AGENTCORE_LISTEN=$bad: refused");
    like(slurp("$dir/bad.out"), qr/AGENTCORE_LISTEN/, '... naming it')
        or diag(slurp("$dir/bad.out"));
}

done_testing();
