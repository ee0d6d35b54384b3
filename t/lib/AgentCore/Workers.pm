package AgentCore::Workers;

# For the suites that run nginx with two workers (t/011-sessions-workers.t,
# t/015-metrics-workers.t, t/021-token-limit-workers.t): the master's
# children, a reload that waits for the new workers, the backend port of
# the reuseport listener whose client port picks the worker.

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(sleep time);

our @EXPORT = qw(read_file pid_file children await reload backend_port);

sub read_file {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    return scalar <$in>;
}

sub pid_file {
    return $Test::Nginx::Util::PidFile
           // "$ENV{TEST_NGINX_SERVROOT}/logs/nginx.pid";
}

sub children {
    my $ppid = shift;
    my @kids;

    for my $stat (glob "/proc/[0-9]*/stat") {
        my $s = read_file($stat);
        push @kids, $1 if $s =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $ppid;
    }

    return @kids;
}

sub await {
    my ($cond, $what) = @_;
    my $deadline = time + 10;

    until ($cond->()) {
        die "timed out waiting for $what\n" if time > $deadline;
        sleep 0.02;
    }
}

sub reload {
    my $master = read_file(pid_file()) =~ /(\d+)/ ? $1 : die "no pid";
    my @old = children($master);

    kill HUP => $master or die "HUP: $!";

    await(sub { !grep { kill 0, $_ } @old }, "the old workers to exit");
    await(sub { children($master) >= 2 }, "the new workers");

    return "reloaded";
}

sub backend_port {
    my $conf = read_file($Test::Nginx::Util::ConfFile
                         // Test::Nginx::Util::server_root()
                            . '/conf/nginx.conf');
    return $conf =~ /listen 127\.0\.0\.1:(\d+) reuseport/ ? $1 : die "no port";
}

1;
