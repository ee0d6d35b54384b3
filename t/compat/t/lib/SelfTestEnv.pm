package SelfTestEnv;

# Loaded first by the compat runner's self-tests (t/compat/t/*.t): puts
# t/compat first in @INC (so our Test::Nginx::Socket is tested even where the
# real one is installed), runs against plain nginx (no module), and gives each
# test file its own server root and port so it cannot disturb the project's
# suites or another self-test.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec ();
use File::Temp qw(tempdir);
use IO::Socket::INET ();

our $CompatDir;
our $TmpDir;

sub free_port {
    for (1 .. 200) {
        my $p = 20000 + int rand 30000;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Listen => 1,
                                      Proto => 'tcp', ReuseAddr => 1)
            or next;
        close $s;
        return $p;
    }
    die "no free port found\n";
}

BEGIN {
    $CompatDir = File::Spec->rel2abs(dirname(__FILE__) . '/../..');
    unshift @INC, $CompatDir;

    delete $ENV{TEST_NGINX_LOAD_MODULES};
    delete $ENV{TEST_NGINX_USE_VALGRIND} if !$ENV{SELFTEST_KEEP_VALGRIND};
    if (!$ENV{TEST_NGINX_BINARY}) {
        $ENV{TEST_NGINX_BINARY} = -x '/usr/sbin/nginx' ? '/usr/sbin/nginx'
                                                       : 'nginx';
    }
    $TmpDir = tempdir('tn-selftest-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $ENV{TEST_NGINX_SERVROOT} = "$TmpDir/servroot";
    $ENV{TEST_NGINX_SERVER_PORT} = free_port();
    delete $ENV{TEST_NGINX_PORT};
    delete $ENV{TEST_NGINX_CLIENT_PORT};
}

1;
