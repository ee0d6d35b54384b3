#!/usr/bin/env bash
# `make t`: prove over the Test::Nginx suites, with a port and a server root
# of this run's own, so that two runs on one machine, or in one checkout,
# do not collide.
#
#   t/prove.sh [prove options] [files or directories]      (default: t/)
#
#   TEST_NGINX_PORT      the port nginx listens on; default: a free one
#                        (refused at once if something listens on it)
#   TEST_NGINX_SERVROOT  nginx's prefix; default t/servroot, or
#                        t/servroot-PORT while another run in this checkout
#                        holds t/servroot (removed again if the run passes);
#                        refused while another run uses it
#
# The real Test::Nginx is used when installed, else t/compat (our runner).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
me=${AGENTCORE_T_NAME:-t/prove.sh}

# a port nobody listens on, on any address (nginx binds *:PORT with
# SO_REUSEADDR); chosen below the ephemeral range, so that no socket the
# suites open (emulators, upstream connections) can take it meanwhile
port_free() {
    perl -MIO::Socket::INET -e '
        IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $ARGV[0],
                              Listen => 1, ReuseAddr => 1, Proto => "tcp")
            or exit 1;' "$1"
}

free_port() {
    perl -MIO::Socket::INET -e '
        my $lo = 32768;
        if (open my $f, "<", "/proc/sys/net/ipv4/ip_local_port_range") {
            ($lo) = split " ", scalar <$f>;
        }
        $lo = 32768 if !$lo || $lo <= 11000;
        for (1 .. 500) {
            my $p = 10000 + int rand($lo - 10000);
            IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => $p,
                                  Listen => 1, ReuseAddr => 1, Proto => "tcp")
                or next;
            print "$p\n";
            exit 0;
        }
        exit 1;'
}

port=${TEST_NGINX_SERVER_PORT:-${TEST_NGINX_PORT:-}}
if [ -n "$port" ]; then
    if ! port_free "$port"; then
        echo "$me: port $port (TEST_NGINX_PORT) is in use, by another" \
             "run perhaps; unset TEST_NGINX_PORT to get a free one" >&2
        exit 1
    fi
else
    port=$(free_port) || { echo "$me: no free port found" >&2; exit 1; }
fi
export TEST_NGINX_PORT=$port

# the server root: held with a lock on SERVROOT.lock for the whole run
# (the lock's descriptor is closed for prove, so nginx and the suites'
# helpers never hold it)
exec 9>&-
servroot=${TEST_NGINX_SERVROOT:-}
own=
if [ -n "$servroot" ]; then
    exec 9>>"$servroot.lock"
    if ! flock -n 9; then
        echo "$me: another run uses TEST_NGINX_SERVROOT=$servroot;" \
             "wait for it, or give this run another" >&2
        exit 1
    fi
else
    servroot=$ROOT/t/servroot
    exec 9>>"$servroot.lock"
    if ! flock -n 9; then
        exec 9>&-
        servroot=$ROOT/t/servroot-$port
        own=1
        exec 9>>"$servroot.lock"
        flock -n 9 || { echo "$me: $servroot is in use" >&2; exit 1; }
    fi
fi
export TEST_NGINX_SERVROOT=$servroot

inc=(-I"$ROOT/t/lib")
perl -MTest::Nginx::Socket -e1 2>/dev/null || inc=(-I"$ROOT/t/compat" "${inc[@]}")

[ $# -gt 0 ] || set -- "$ROOT/t/"

echo "$me: nginx on port $port, server root $servroot" >&2
rc=0
prove "${inc[@]}" "$@" 9>&- || rc=$?

if [ -n "$own" ]; then
    if [ $rc -eq 0 ]; then
        rm -rf "$servroot" "$servroot.lock"
    else
        echo "$me: this run's logs are in $servroot/logs" >&2
    fi
fi
exit $rc
