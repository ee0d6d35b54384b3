package RunScript;

# Starts and stops `make run`'s script (conf/run.sh) for t/selftest/*.t,
# with the environment `make run` gives it.  Core Perl only.

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use File::Path ();
use IO::Socket::INET ();
use POSIX qw(setsid WNOHANG);
use Time::HiRes ();

our @EXPORT_OK = qw(free_port start_run wait_ready stop_run http_get slurp
                    $ROOT);

our $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../../..');
my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my %Out;

sub slurp {
    my ($f) = @_;
    open my $in, '<', $f or return '';
    local $/;
    return scalar <$in>;
}

# a port nothing listens on, on any address, below the ephemeral range;
# the prefix make run makes for it (build/run-PORT) is removed at the end
my (%Fresh, $Parent);
sub free_port {
    for (1 .. 500) {
        my $p = 10000 + int rand 22000;
        next if -e "$ROOT/build/run-$p";
        my $s = IO::Socket::INET->new(LocalAddr => '0.0.0.0', LocalPort => $p,
                                      Listen => 1, ReuseAddr => 1,
                                      Proto => 'tcp')
            or next;
        $Fresh{$p} = 1;
        $Parent //= $$;
        return $p;
    }
    die "no free port\n";
}

END {
    if (defined $Parent && $$ == $Parent) {
        File::Path::remove_tree(map { "$ROOT/build/run-$_" } keys %Fresh);
    }
}

# conf/run.sh in a session of its own, output into $out; returns its pid
sub start_run {
    my ($out, %env) = @_;
    die "start_run: no AGENTCORE_PORT (it would be 8080)\n"
        if !$env{AGENTCORE_PORT};
    my $pid = fork() // die "fork: $!\n";
    if ($pid == 0) {
        setsid();
        delete @ENV{grep { /^AGENTCORE_|^AWS_/ } keys %ENV};
        %ENV = (%ENV, NGINX_BIN => $NGINX, ROOT => $ROOT,
                MODULE_SO => "$ROOT/build/ngx_http_agentcore_module.so",
                AGENTCORE_EMULATOR_DELAY_MS => 0, %env);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or die "$out: $!\n";
        open STDERR, '>&', \*STDOUT or die "dup: $!\n";
        exec "$ROOT/conf/run.sh" or die "exec: $!\n";
    }
    $Out{$pid} = $out;
    return $pid;
}

# a plain HTTP/1.0 GET: the response, or '' when nothing answers
sub http_get {
    my ($addr, $port, $path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => $addr, PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return '';
    print $s "GET $path HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    return <$s> // '';
}

# until the script has started nginx and nginx answers /ping on addr:port
# (false if the script exits first, or after 60 s)
sub wait_ready {
    my ($pid, $out, $addr, $port) = @_;
    my $deadline = time + 60;
    while (time < $deadline) {
        return 0 if waitpid($pid, WNOHANG) == $pid;
        return 1 if slurp($out) =~ /^Logs: /m
                    && http_get($addr, $port, '/ping') =~ /^HTTP\/1\.1 200/;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

# the pid of the nginx master the script started
sub nginx_pid {
    my ($pid) = @_;
    for my $task (glob "/proc/$pid/task/*/children") {
        for my $child (split ' ', slurp($task)) {
            my $cmd = slurp("/proc/$child/cmdline");
            return $child if $cmd =~ /^nginx: master|\bnginx\0/;
        }
    }
    return '';
}

# TERM to the script (unless $how is 'wait'), then its exit status, or
# undef after $secs (its whole session is KILLed then)
sub stop_run {
    my ($pid, $secs, $how) = @_;
    kill 'TERM', $pid if ($how // '') ne 'wait';
    my $deadline = time + $secs;
    while (time < $deadline) {
        return $? >> 8 if waitpid($pid, WNOHANG) == $pid;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$pid;
    waitpid($pid, 0);
    return undef;
}

1;
