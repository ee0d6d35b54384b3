# Two `make t` runs at once in one checkout (issue 10, item 8): t/prove.sh,
# what `make t` runs, gives each run a port and a server root of its own.
# t/selftest/fixtures/overlap.t is the suite: each of its two runs waits,
# with its nginx up, until the other is there too.  Then what t/prove.sh
# refuses: a TEST_NGINX_PORT something listens on, a TEST_NGINX_SERVROOT
# another run holds.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use Fcntl qw(:flock);
use IO::Select ();
use IO::Socket::INET ();
use IO::Socket::UNIX ();
use POSIX qw(WNOHANG);
use Time::HiRes ();

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $PROVE = "$ROOT/t/prove.sh";
my $SUITE = "$ROOT/t/selftest/fixtures/overlap.t";
my $dir = tempdir('agentcore-concurrent-XXXXXX', TMPDIR => 1, CLEANUP => 1);

$ENV{TEST_NGINX_BINARY} ||= '/usr/sbin/nginx';
delete @ENV{qw(TEST_NGINX_PORT TEST_NGINX_SERVER_PORT TEST_NGINX_SERVROOT
               TEST_NGINX_LOAD_MODULES TEST_NGINX_USE_VALGRIND)};

sub slurp {
    my ($f) = @_;
    open my $in, '<', $f or return '';
    local $/;
    return scalar <$in>;
}

# runs t/prove.sh with %env added; returns its pid, output in $dir/$name.out
sub start {
    my ($name, %env) = @_;
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        @ENV{keys %env} = values %env;
        open STDOUT, '>', "$dir/$name.out" or die "$dir: $!\n";
        open STDERR, '>&', \*STDOUT or die "dup: $!\n";
        exec $PROVE, $SUITE or die "exec $PROVE: $!\n";
    }
    return $pid;
}

# waits for a child; its exit status, or undef (then killed) after $secs
sub finish {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'TERM', -$pid, $pid;
    waitpid($pid, 0);
    return undef;
}

# ------------------------------------------------------------- both at once

my $sock = "$dir/meet.sock";
my $listener = IO::Socket::UNIX->new(Local => $sock, Listen => 2)
    or die "$sock: $!\n";

my %pid;
$pid{$_} = start($_, OVERLAP_SOCKET => $sock, TEST_NGINX_OVERLAP_ID => $_)
    for qw(A B);

# each run connects once its nginx is up and says "ID SERVROOT"; both are
# answered with the other's server root once both are there
my (%conn, %root);
my $sel = IO::Select->new($listener);
my $deadline = time + 90;
while (keys %root < 2 && time < $deadline) {
    for my $fh ($sel->can_read(1)) {
        if ($fh == $listener) {
            $sel->add($listener->accept);
            next;
        }
        my $line = <$fh>;
        $sel->remove($fh);
        next if !defined $line || $line !~ /^([AB]) (\S+)$/;
        ($conn{$1}, $root{$1}) = ($fh, $2);
    }
}
ok(keys %root == 2, 'both runs had their nginx up at the same time');
print { $conn{A} } "$root{B}\n" if $conn{A} && $root{B};
print { $conn{B} } "$root{A}\n" if $conn{B} && $root{A};
close $_ for values %conn;

my %port;
for my $id (qw(A B)) {
    my $rc = finish($pid{$id}, 60);
    my $out = slurp("$dir/$id.out");
    is($rc, 0, "run $id passed") or diag($out);
    ($port{$id}) = $out =~ /nginx on port (\d+),/;
}
ok($port{A} && $port{B} && $port{A} != $port{B}, 'two ports')
    or diag("ports: " . join ' ', map { $_ // '?' } @port{qw(A B)});
ok($root{A} && $root{B} && $root{A} ne $root{B}, 'two server roots')
    or diag("server roots: " . join ' ', map { $_ // '?' } @root{qw(A B)});
ok(!grep({ -e $_ } grep { $_ && m{/t/servroot-\d+$} } values %root),
   'the second server root is removed after the run passed');

# ------------------------------------------------------------------ refused

{
    my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                     Listen => 1, Proto => 'tcp')
        or die "listen: $!\n";
    my $p = $busy->sockport;
    my $rc = finish(start('busy', TEST_NGINX_PORT => $p), 30);
    my $out = slurp("$dir/busy.out");
    isnt($rc, 0, 'a TEST_NGINX_PORT in use is refused');
    like($out, qr/port $p \(TEST_NGINX_PORT\) is in use/, '... saying so')
        or diag($out);
    unlike($out, qr/Result:|\.t \.\./, '... before prove runs');
}

{
    my $root = "$dir/servroot";
    open my $lock, '>>', "$root.lock" or die "$root.lock: $!\n";
    flock($lock, LOCK_EX | LOCK_NB) or die "flock: $!\n";
    my $rc = finish(start('held', TEST_NGINX_SERVROOT => $root), 30);
    my $out = slurp("$dir/held.out");
    isnt($rc, 0, 'a TEST_NGINX_SERVROOT another run holds is refused');
    like($out, qr/another run uses TEST_NGINX_SERVROOT=\Q$root\E/,
         '... saying so')
        or diag($out);
    ok(!-e "$root/conf", '... before anything is written there');
}

done_testing();
