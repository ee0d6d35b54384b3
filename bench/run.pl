#!/usr/bin/perl

# The benchmark (make bench / make bench-quick): starts a stand-in model
# (a second nginx serving pre-encoded bodies) and, for each measurement,
# a fresh nginx under test (worker_processes 1, pinned to CPU 0), once as
# a plain proxy_pass relay of the SSE body (the ceiling) and once with
# the module; the load generator runs on CPU 1 with the stand-in.
# Everything is on loopback and every step is bounded.
#
#   perl bench/run.pl [--quick] [--only NAME,...] [--results DIR]
#
# Writes DIR/latest.json, DIR/latest.md and DIR/latency.png (default
# DIR: bench/results).  Exits nonzero if a stream arrived wrong.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use Getopt::Long;
use IO::Socket::INET;
use JSON::PP;
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(time sleep);

my $ROOT = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)), '..'));

my %o = (
    nginx   => $ENV{NGINX_BIN} // '/usr/sbin/nginx',
    module  => "$ROOT/build/ngx_http_agentcore_module.so",
    loadgen => "$ROOT/build/bench/loadgen",
    floor   => "$ROOT/build/bench/floor",
    work    => "$ROOT/build/bench",
    results => "$ROOT/bench/results",
    quick   => 0,
    only    => '',
    serve   => 0,
);

GetOptions(\%o, 'nginx=s', 'module=s', 'loadgen=s', 'floor=s', 'work=s',
           'results=s', 'quick!', 'only=s', 'serve=i')
    or die "usage: $0 [--quick] [--only latency,s1,s2,s2s,s3,s4]\n";

$o{$_} = File::Spec->rel2abs($o{$_})
    for qw(module loadgen floor work results);

delete $ENV{NGINX};     # nginx would read inherited sockets from it

# ahead of other work on the machine (root only; children inherit it)
my $NICE = setpriority(0, 0, -15) ? -15 : getpriority(0, 0);

# SigV4 with AWS's published example key: the stand-in ignores auth
$ENV{AWS_ACCESS_KEY_ID} = 'AKIDEXAMPLE';
$ENV{AWS_SECRET_ACCESS_KEY} = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
delete $ENV{AWS_SESSION_TOKEN};
delete $ENV{AWS_BEARER_TOKEN_BEDROCK};

my $Q = $o{quick};

# what every client sends
my $BODY = '{"prompt": "How much is 2+1?"}';

# a worker holds two sockets per stream (client, stand-in): the open
# files limit decides how many streams one worker can hold
chomp(my $NOFILE = `sh -c 'ulimit -Hn'`);
$NOFILE = 1048576 if $NOFILE eq 'unlimited';
$NOFILE = 65536 if $NOFILE > 65536;
my %ONLY = map { $_ => 1 } grep { length } split /,/, $o{only};

# the plan: sizes for the full run and the quick one
my %P = $Q ? (
    latency_c   => [1, 10, 100],
    latency_n   => sub { $_[0] == 1 ? 10 : 4 * $_[0] },
    paced_ms    => 200,
    s1_c        => 100, s1_n => 10_000, s1_rss_at => [1_000, 10_000],
    s1_rounds   => 1,
    s2_c        => 10, s2_n => 200,
    s2s_c       => 10, s2s_n => 10,
    s3_n        => 1_000, s3_ms => 3_000, s3_ramp => 1_000,
    s4_c        => 100, s4_n => 3_000,
) : (
    latency_c   => [1, 10, 100, 300, 1000],
    # p99 over at least 3,000 first events below saturation: a stall of
    # the machine for a few ms then moves it less
    latency_n   => sub { $_[0] == 1 ? 40 : $_[0] <= 300 ? 30 * $_[0]
                                                        : 10 * $_[0] },
    paced_ms    => 200,
    s1_c        => 200, s1_n => 100_000, s1_rss_at => [1_000, 100_000],
    s1_rounds   => 3,
    s2_c        => 20, s2_n => 2_000,
    s2s_c       => 20, s2s_n => 100,
    s3_n        => 10_000, s3_ms => 25_000, s3_ramp => 1_000,
    s4_c        => 100, s4_n => 20_000,
);

my $work = $o{work};
my @ANSWERS = qw(short long tool paced-short slow-short steady-long
                 calibrate);
my $bodies = "$work/bodies";
my (@cleanup, %standin);

$SIG{INT} = $SIG{TERM} = sub { stop_all(); exit 130 };
END { stop_all() }

-x $o{loadgen} or die "$o{loadgen} is missing: run make bench\n";
-f $o{module} or die "$o{module} is missing: run make module\n";

make_path($work, $o{results});

system($^X, "$ROOT/bench/gen-bodies.pl", $bodies) == 0
    or die "generating the bodies failed\n";

my $manifest = decode_json(slurp("$bodies/manifest.json"));

# ---------------------------------------------------------------------------
# processes

sub slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or die "$path: $!\n";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($path, $data) = @_;
    open(my $fh, '>:raw', $path) or die "$path: $!\n";
    print $fh $data;
    close $fh or die "$path: $!\n";
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_port {
    my ($port) = @_;

    for (1 .. 100) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Timeout => 1);
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

# children of a pid, from /proc
sub children {
    my ($ppid) = @_;
    my @kids;

    opendir(my $d, '/proc') or return ();
    for my $pid (grep { /^\d+$/ } readdir $d) {
        open(my $fh, '<', "/proc/$pid/stat") or next;
        my $stat = <$fh> // next;
        push @kids, $pid if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }
    closedir $d;
    return @kids;
}

# nginx in the foreground (daemon off) on the given CPU; returns
# {pid, worker, port, prefix}
sub start_nginx {
    my (%a) = @_;
    my ($prefix, $pid, @workers);

    $prefix = "$work/$a{name}";
    remove_tree($prefix);
    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");
    spew("$prefix/conf/nginx.conf", $a{conf});

    system('taskset', '-c', $a{cpu}, $o{nginx}, '-p', $prefix, '-c',
           'conf/nginx.conf', '-t', '-q') == 0
        or die "nginx -t failed for $a{name} (see $prefix/conf)\n";

    $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        open(STDOUT, '>', "$prefix/logs/stdout");
        open(STDERR, '>&', \*STDOUT);
        exec('taskset', '-c', $a{cpu}, $o{nginx}, '-p', $prefix, '-c',
             'conf/nginx.conf', '-g', 'daemon off;');
        exit 127;
    }

    my $n = { pid => $pid, port => $a{port}, prefix => $prefix,
              name => $a{name} };
    push @cleanup, $n;

    wait_port($a{port}) or die "nginx $a{name} did not start (see "
                               . "$prefix/logs)\n";

    for (1 .. 100) {
        @workers = children($pid);
        last if @workers >= ($a{workers} // 1);
        sleep 0.02;
    }
    die "nginx $a{name}: no worker process\n" unless @workers;

    $n->{worker} = $workers[0];
    $n->{workers} = \@workers;
    return $n;
}

sub stop_nginx {
    my ($n) = @_;

    return unless $n->{pid};
    kill 'QUIT', $n->{pid};

    for (1 .. 200) {
        last if waitpid($n->{pid}, WNOHANG) != 0;
        sleep 0.05;
    }

    if (waitpid($n->{pid}, WNOHANG) == 0) {
        kill 'KILL', $n->{pid};
        waitpid($n->{pid}, 0);
    }

    $n->{pid} = 0;
}

sub stop_all {
    stop_nginx($_) for reverse @cleanup;
    @cleanup = ();
}

# ---------------------------------------------------------------------------
# configurations

sub common_main {
    my ($module, $workers) = @_;

    $workers //= 1;

    return ($module ? "load_module $o{module};\n" : '') . <<"EOC";
worker_processes      $workers;
worker_rlimit_nofile  $NOFILE;
error_log             logs/error.log warn;
pid                   logs/nginx.pid;

env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;

events {
    worker_connections  $NOFILE;
}
EOC
}

sub temp_paths {
    return join '', map { "    ${_}_temp_path tmp/$_;\n" }
        qw(client_body proxy fastcgi uwsgi scgi);
}

# the stand-in: POSTs become GETs of a file by an error_page redirect;
# the module's calls are /model/NAME/converse-stream, the plain proxy's
# /sse/NAME; "paced" files trickle out after the first text event
# (sendfile off: sendfile rounds each piece up to a page)
sub standin_conf {
    my ($port) = @_;
    my ($paced, $conf) = ('');

    for my $p (['paced-short', 'short', $P{paced_ms}],
               ['slow-short', 'short', $P{s3_ms}])
    {
        my ($name, $file, $ms) = @$p;
        my $m = $manifest->{$file};

        for my $ext ('bin', 'sse') {
            # the head and the first text event leave at once, as one
            # piece (the cap on a piece applies to them too: smaller
            # pieces would delay the first event by a loop turn each),
            # the rest in pieces of that size spread over $ms
            my $size = $m->{"${ext}_bytes"};
            my $first = $m->{"first_$ext"} + $standin{"head_$ext"};
            my $rest = $size - $m->{"first_$ext"};
            my $rate = int($rest * 1000 / $ms) || 1;
            my $chunk = $first;

            $paced .= <<"EOC";
        location = /files/$name.$ext {
            internal;
            alias               $bodies/$file.$ext;
            sendfile            off;
            limit_rate          $rate;
            limit_rate_after    $first;
            sendfile_max_chunk  $chunk;
        }
EOC
        }
    }

    # one frame (or SSE event) per millisecond: one per read
    my $steady = '';
    my $m = $manifest->{steady};

    for my $ext ('bin', 'sse') {
        my $f = $m->{"frame_$ext"};

        $steady .= <<"EOC";
        location = /files/steady-long.$ext {
            internal;
            alias               $bodies/steady.$ext;
            sendfile            off;
            limit_rate          @{[ $f * 1000 ]};
            limit_rate_after    $standin{"head_$ext"};
            sendfile_max_chunk  $f;
        }
EOC
    }

    $conf = common_main(0) . <<"EOC";

http {
    access_log          off;
    keepalive_requests  1000000;
    keepalive_timeout   300s;
    sendfile            on;
    etag                off;
    server_tokens       off;
    open_file_cache     max=64;
    default_type        application/octet-stream;

    types {
        application/vnd.amazon.eventstream  bin;
        text/event-stream                   sse;
    }

@{[ temp_paths() ]}
    log_format  calibrate  '\$content_length';

    server {
        listen  127.0.0.1:$port backlog=4096;

        # the size of the module's request body, once
        location = /model/calibrate/converse-stream {
            access_log  logs/calibrate.log calibrate;
            return      200;
        }

        location = /model/tool/converse-stream {
            return      405;
            error_page  405 =200 /files/tool\$http_x_agentcore_cycle.bin;
        }

        location ~ ^/model/(?<name>[a-z0-9-]+)/converse-stream\$ {
            return      405;
            error_page  405 =200 /files/\$name.bin;
        }

        location ~ ^/sse/(?<name>[a-z0-9-]+)\$ {
            return      405;
            error_page  405 =200 /files/\$name.sse;
        }

        location /files/ {
            internal;
            alias  $bodies/;
        }

$paced
$steady    }
}
EOC

    return $conf;
}

sub under_test_conf {
    my ($port, $sport, $module, $workers) = @_;
    my $agent = '';
    my $reuse = ($workers // 1) > 1 ? ' reuseport' : '';

    if ($module) {
        $agent = <<"EOC";
        agentcore_region          us-east-1;
        agentcore_system_prompt   "You're a helpful assistant. You can do simple math calculations, tell the weather, and provide the current time.";
        agentcore_model_location  /_agentcore/bedrock;
        agentcore_tools           calculator weather get_time;

@{[ join '', map { <<"EOL" } @ANSWERS ]}
        location = /invocations/$_ {
            agentcore;
            agentcore_model  $_;
        }

        location = /invocations-coalesce/$_ {
            agentcore;
            agentcore_model         $_;
            agentcore_sse_coalesce  on;
        }
EOL

        location = /_agentcore/bedrock {
            internal;
            include           $ROOT/conf/agentcore_bedrock_params;
            proxy_set_header  X-Agentcore-Cycle \$agentcore_cycles;
            proxy_pass        http://standin\$agentcore_bedrock_path;
        }
EOC
    }

    return common_main($module, $workers) . <<"EOC";

http {
    access_log          off;
    keepalive_requests  1000000;
    keepalive_timeout   300s;

@{[ temp_paths() ]}
    upstream standin {
        server              127.0.0.1:$sport;
        keepalive           1024;
        keepalive_requests  1000000;
    }

    server {
        listen  127.0.0.1:$port backlog=4096$reuse;

$agent
        location /plain/ {
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
            proxy_buffering     off;
            proxy_pass          http://standin/sse/;
        }

        # the same relay of the event-stream bytes the module reads
        location /raw/ {
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
            proxy_buffering     off;
            proxy_pass          http://standin/model/;
        }
    }
}
EOC
}

# ---------------------------------------------------------------------------
# measurements

my (%R, @failures);

sub loadgen {
    my (%a) = @_;
    my ($n, $w, $out, @cmd, $rc, $res);

    $n = start_nginx(name => 'under-test', cpu => 0, port => $a{port},
                     workers => $a{workers},
                     conf => under_test_conf($a{port}, $standin{port},
                                             $a{module}, $a{workers}));

    # warm-up: connections to the stand-in in the keepalive cache (one
    # request each: nginx sets TCP_NODELAY on them then), the worker's
    # pools and caches touched; then the measurement
    $w = $a{c} < 1000 ? $a{c} : 1000;
    $w = 0 if $a{no_warmup};

    if ($w) {
        system('taskset', '-c', 1, $o{loadgen}, '-u',
               "http://127.0.0.1:$a{port}"
               . ($a{module} ? '/invocations/short' : '/plain/short'),
               '-e', "$bodies/short.sse", '-c', $w, '-n', $w, '-t', 60,
               '-o', "$work/warmup.json") == 0
            or push @failures, "$a{label}: the warm-up failed";
    }

    $out = "$work/$a{label}.json";
    unlink $out;

    @cmd = ('taskset', '-c', 1, $o{loadgen},
            '-u', "http://127.0.0.1:$a{port}$a{path}",
            '-e', "$bodies/$a{expect}." . ($a{raw} ? 'bin' : 'sse'),
            '-c', $a{c}, '-n', $a{n},
            (map { ('-p', $_) } @{ $n->{workers} }), '-l', $a{label},
            '-o', $out, '-t', $a{timeout} // 600);
    push @cmd, '-r', $a{ramp} if $a{ramp};
    push @cmd, '--raw' if $a{raw};
    push @cmd, '-B', $a{body_file} if $a{body_file};
    push @cmd, '-b', $BODY unless $a{body_file};
    push @cmd, '--rss-at', join(',', @{ $a{rss_at} }) if $a{rss_at};

    printf STDERR "%-28s c=%-5d n=%-7d ", $a{label}, $a{c}, $a{n};
    $rc = system(@cmd);

    stop_nginx($n);
    pop @cleanup;

    $res = -f $out ? decode_json(slurp($out)) : { ok => 0, failed => $a{n} };

    if ($rc != 0 || $res->{failed}) {
        push @failures, "$a{label}: $res->{failed} of $a{n} streams failed";
    }

    printf STDERR "%9.0f inv/s %11.0f ev/s  ttfb p50 %7.0f us p99 %7.0f us"
                  . "  cpu %5.1f%%  ok %d/%d\n",
        $res->{invocations_per_s} // 0, $res->{events_per_s} // 0,
        $res->{ttfb_us}{p50} // 0, $res->{ttfb_us}{p99} // 0,
        100 * ($res->{worker}{cpu_util} // 0), $res->{ok} // 0, $a{n};

    return $res;
}

sub both {
    my (%a) = @_;
    my %r;

    # "coalesce": the module with agentcore_sse_coalesce on
    for my $target ('plain', 'module', $a{coalesce} ? 'coalesce' : ()) {
        my $path = $target eq 'plain' ? "/plain/$a{answer}"
                   : $target eq 'module' ? "/invocations/$a{answer}"
                   : "/invocations-coalesce/$a{answer}";
        $r{$target} = loadgen(%a, module => $target ne 'plain',
                              path => $path, port => $a{port},
                              label => "$a{name}-$target");
    }

    return \%r;
}

sub run_standin {
    my $sport = free_port();

    # the paced locations start after the response head: measure it
    %standin = (port => $sport, head_bin => 0, head_sse => 0);
    my $s = start_nginx(name => 'standin', cpu => 1, port => $sport,
                        conf => standin_conf($sport));

    for my $ext ('bin', 'sse') {
        my $path = $ext eq 'bin' ? '/model/short/converse-stream'
                                 : '/sse/short';
        my $head = `curl -s -o /dev/null -w '%{size_header}' -X POST -d x http://127.0.0.1:$sport$path`;
        $head =~ /^(\d+)$/ or die "stand-in did not answer $path\n";
        $standin{"head_$ext"} = $1;
    }

    stop_nginx($s);
    pop @cleanup;

    $s = start_nginx(name => 'standin', cpu => 1, port => $sport,
                     conf => standin_conf($sport));
    $standin{nginx} = $s;
}

sub want { return !%ONLY || $ONLY{$_[0]} }

# the module's request body for the short answer: the byte relay sends
# one as large
sub calibrate {
    my ($port) = @_;
    my ($n, $len, $log);

    $n = start_nginx(name => 'under-test', cpu => 0, port => $port,
                     conf => under_test_conf($port, $standin{port}, 1));

    system('curl', '-s', '-o', '/dev/null', '-X', 'POST', '-d', $BODY,
           "http://127.0.0.1:$port/invocations/calibrate");

    stop_nginx($n);
    pop @cleanup;

    $log = "$standin{nginx}{prefix}/logs/calibrate.log";
    ($len) = -f $log ? slurp($log) =~ /(\d+)\s*\z/ : ();
    die "calibration failed: no request size in $log\n" unless $len;

    # {"prompt": "xxx..."} of that size
    spew("$work/relay-body.json", '{"prompt": "'
                                  . ('x' x ($len - 14)) . '"}');
    return $len;
}

run_standin();

my $port = free_port();
my $t0 = time;
my $LOAD0 = slurp('/proc/loadavg') =~ s/\s+\z//r;
my $request_bytes = calibrate($port);

if ($o{serve}) {
    # for profiling by hand: the stand-in and one nginx under test
    my $n = start_nginx(name => 'under-test', cpu => 0, port => $port,
                        conf => under_test_conf($port, $standin{port}, 1));
    print STDERR "stand-in 127.0.0.1:$standin{port}, under test "
                 . "127.0.0.1:$port (worker $n->{worker}): /invocations/"
                 . "{@{[ join ',', @ANSWERS ]}}, /plain/NAME; "
                 . "$o{serve} s\n";
    sleep $o{serve};
    stop_all();
    exit 0;
}

if (want('latency')) {
    for my $c (@{ $P{latency_c} }) {
        # the streams start spread over one answer's time, so that
        # they do not arrive in bursts of c at once
        $R{latency}{$c} = both(name => "latency-c$c", answer => 'paced-short',
                               expect => 'short', c => $c,
                               n => $P{latency_n}->($c), port => $port,
                               ramp => $c * 1000 / $P{paced_ms});
    }
}

if (want('s1')) {
    my @rounds;

    # the ceiling drifts with the machine between runs (plain s1 has
    # ranged from 9,500 to 17,000 invocations/s here): several rounds,
    # plain and module back to back, and the round with the median ratio
    for my $i (1 .. $P{s1_rounds}) {
        my $r = both(name => "s1-short" . ($P{s1_rounds} > 1 ? "-r$i" : ''),
                     answer => 'short', expect => 'short', c => $P{s1_c},
                     n => $P{s1_n}, rss_at => $P{s1_rss_at}, port => $port,
                     coalesce => 1);

        $r->{ratio} = $r->{plain}{invocations_per_s}
                      ? $r->{module}{invocations_per_s}
                        / $r->{plain}{invocations_per_s} : 0;
        push @rounds, $r;
    }

    @rounds = sort { $a->{ratio} <=> $b->{ratio} } @rounds;
    $R{s1} = $rounds[$#rounds / 2];
    $R{s1}{rounds} = [ map { { ratio => $_->{ratio},
                               plain => $_->{plain}{invocations_per_s},
                               module => $_->{module}{invocations_per_s},
                               plain_cpu_us => $_->{plain}{worker}
                                               {cpu_us_per_invocation},
                               module_cpu_us => $_->{module}{worker}
                                                {cpu_us_per_invocation},
                               coalesce => $_->{coalesce}{invocations_per_s},
                               coalesce_cpu_us => $_->{coalesce}{worker}
                                                  {cpu_us_per_invocation} } }
                       @rounds ];

    # plain nginx moving the bytes the module moves, unread: the
    # module's request body up, the event stream down
    $R{s1}{relay} = loadgen(module => 0, path => '/raw/short/converse-stream',
                            port => $port, label => 's1-short-relay',
                            expect => 'short', raw => 1,
                            body_file => "$work/relay-body.json",
                            c => $P{s1_c}, n => $P{s1_n});
}

if (want('s2')) {
    $R{s2} = both(name => 's2-long', answer => 'long', expect => 'long',
                  c => $P{s2_c}, n => $P{s2_n}, port => $port,
                  coalesce => 1);
}

# the floor of s2 at full speed: the protocol code alone on the same
# body, in the same 8 KiB reads, on CPU 0 without nginx (bench/floor.c)
if (want('s2') && -x $o{floor}) {
    my $out = `taskset -c 0 $o{floor} $bodies/long.bin @{[ $Q ? 50 : 200 ]}`;

    if ($? == 0 && $out =~ /^\{/) {
        $R{s2}{floor} = decode_json($out);
        printf STDERR "%-28s %.0f ns per event (CRC-32 alone %.0f ns)\n",
            's2-floor', $R{s2}{floor}{ns_per_event},
            $R{s2}{floor}{crc_ns_per_event};

    } else {
        push @failures, 's2-floor: bench/floor failed';
    }
}

if (want('s2s')) {
    $R{s2s} = both(name => 's2s-steady', answer => 'steady-long',
                   expect => 'steady', c => $P{s2s_c}, n => $P{s2s_n},
                   port => $port);
}

if (want('s4')) {
    # the ceiling relays the same SSE bytes the client gets
    $R{s4} = both(name => 's4-tool', answer => 'tool', expect => 'tool',
                  c => $P{s4_c}, n => $P{s4_n}, port => $port);
}

my $s3_workers = int((2 * $P{s3_n} + 200 + $NOFILE - 201) / ($NOFILE - 200));

if (want('s3')) {
    $R{s3} = both(name => 's3-slow', answer => 'slow-short',
                  expect => 'short', c => $P{s3_n}, n => $P{s3_n},
                  ramp => $P{s3_ramp}, port => $port,
                  workers => $s3_workers, no_warmup => 1,
                  timeout => $P{s3_ms} / 1000 + 120);
}

stop_all();

# ---------------------------------------------------------------------------
# the report

sub ratio { my ($a, $b) = @_; return $b ? $a / $b : undef }

sub kib_per_stream {
    my ($w) = @_;
    return undef unless $w->{peak_open};
    return ($w->{rss_kib_at_peak_open} - $w->{rss_kib_start})
           / $w->{peak_open};
}

my (@targets, $doc);

if ($R{s1}) {
    my ($p, $m) = @{ $R{s1} }{qw(plain module)};
    my $r = ratio($m->{invocations_per_s}, $p->{invocations_per_s});

    push @targets, { name => 'throughput, short answers (s1)',
                     target => '>= 0.8 of the plain proxy',
                     value => sprintf('%.2f', $r), met => $r >= 0.8 };

    my @at = @{ $m->{worker}{rss_at} };
    if (@at >= 2) {
        my $growth = $at[-1]{rss_kib} - $at[0]{rss_kib};
        push @targets, { name => "no heap growth ($at[0]{completed} vs "
                                 . "$at[-1]{completed} invocations)",
                         target => 'equal within noise (<= 1 MiB)',
                         value => sprintf('%+d KiB', $growth),
                         met => $growth <= 1024 };
    }
}

if ($R{latency} && $R{latency}{100}) {
    my ($p, $m) = @{ $R{latency}{100} }{qw(plain module)};
    my $d50 = $m->{ttfb_us}{p50} - $p->{ttfb_us}{p50};
    my $d99 = $m->{ttfb_us}{p99} - $p->{ttfb_us}{p99};

    push @targets, { name => 'added TTFB at 100 streams, p50',
                     target => '< 1 ms', value => sprintf('%.3f ms',
                                                          $d50 / 1000),
                     met => $d50 < 1000 };
    push @targets, { name => 'added TTFB at 100 streams, p99',
                     target => '< 5 ms', value => sprintf('%.3f ms',
                                                          $d99 / 1000),
                     met => $d99 < 5000 };
}

for my $k ('s2s', 's2') {
    next unless $R{$k};

    my ($p, $m) = @{ $R{$k} }{qw(plain module)};
    my $r = ratio($m->{worker}{cpu_ns_per_event},
                  $p->{worker}{cpu_ns_per_event});

    push @targets, { name => $k eq 's2s'
                             ? 'CPU per event, 2,000 deltas one per read '
                               . '(s2, per chunk)'
                             : 'CPU per event, 2,000 deltas at full speed '
                               . '(s2, bulk reads)',
                     target => '<= 1.5x the plain proxy',
                     value => sprintf('%.2fx (%.0f vs %.0f ns)', $r,
                                      $m->{worker}{cpu_ns_per_event},
                                      $p->{worker}{cpu_ns_per_event}),
                     met => $r <= 1.5 };
}

if ($R{s3}) {
    my $m = $R{s3}{module};
    my $k = kib_per_stream($m->{worker});

    push @targets, { name => "all $P{s3_n} slow streams complete (s3)",
                     target => "$P{s3_n} of $P{s3_n}",
                     value => "$m->{ok} of $P{s3_n}",
                     met => $m->{ok} == $P{s3_n} };
    push @targets, { name => 'worker memory per open stream (s3)',
                     target => '< 48 KiB',
                     value => sprintf('%.1f KiB (%d open)', $k // -1,
                                      $m->{worker}{peak_open}),
                     met => defined $k && $k < 48
                            && $m->{worker}{peak_open} == $P{s3_n} };
}

chomp(my $kernel = `uname -r`);
chomp(my $nginx_v = `$o{nginx} -v 2>&1`);
chomp(my $commit = `git -C $ROOT describe --always --dirty 2>/dev/null` || '');
my ($cpu_model) = slurp('/proc/cpuinfo') =~ /model name\s*:\s*(.+)/;

$doc = {
    generated => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime),
    quick     => $Q ? JSON::PP::true : JSON::PP::false,
    commit    => $commit,
    machine   => { cpu => $cpu_model // '', cpus => scalar(() =
                       slurp('/proc/cpuinfo') =~ /^processor/mg),
                   kernel => $kernel, nginx => $nginx_v },
    seconds   => sprintf('%.1f', time - $t0) + 0,
    load      => { start => $LOAD0, end => slurp('/proc/loadavg') =~ s/\s+\z//r,
                   nice => $NICE, nofile => $NOFILE + 0,
                   s3_workers => $s3_workers },
    plan      => { map { $_ => $P{$_} } grep { !ref $P{$_} || ref $P{$_}
                                             eq 'ARRAY' } keys %P },
    bodies    => $manifest,
    results   => \%R,
    targets   => \@targets,
    failures  => \@failures,
};

my $json = JSON::PP->new->canonical->pretty;
spew("$o{results}/latest.json", $json->encode($doc));

# the latency plot
my $plotted = 0;

if ($R{latency}) {
    my $dat = "$work/latency.dat";
    my @cs = sort { $a <=> $b } keys %{ $R{latency} };

    spew($dat, join '', map {
        my $r = $R{latency}{$_};
        sprintf("%d %.3f %.3f %.3f %.3f\n", $_,
                $r->{plain}{ttfb_us}{p50} / 1000,
                $r->{plain}{ttfb_us}{p99} / 1000,
                $r->{module}{ttfb_us}{p50} / 1000,
                $r->{module}{ttfb_us}{p99} / 1000)
    } @cs);

    spew("$work/latency.gp", <<"EOG");
set terminal pngcairo size 900,560 font "sans,11"
set output "$o{results}/latency.png"
set title "Time to first event vs concurrent streams (paced $P{paced_ms} ms answers, 1 worker)"
set xlabel "concurrent streams"
set ylabel "TTFB (ms)"
set logscale x
set logscale y
set grid
set key top left
plot "$dat" using 1:2 with linespoints lw 2 pt 7 title "plain proxy p50", \\
     "$dat" using 1:3 with linespoints lw 2 pt 5 dt 2 title "plain proxy p99", \\
     "$dat" using 1:4 with linespoints lw 2 pt 7 title "agentcore p50", \\
     "$dat" using 1:5 with linespoints lw 2 pt 5 dt 2 title "agentcore p99"
EOG

    $plotted = system('gnuplot', "$work/latency.gp") == 0;
    warn "gnuplot failed: no latency.png\n" unless $plotted;
}

# the table
my $md = "# Benchmark results\n\n"
    . "Generated $doc->{generated} by `make bench"
    . ($Q ? '-quick' : '') . "` at commit `$commit` on "
    . "$doc->{machine}{cpus} × $doc->{machine}{cpu}, Linux $kernel, "
    . "$nginx_v. Each result of the module is shown with the ceiling "
    . "measured in the same run: plain nginx `proxy_pass` "
    . "(`proxy_buffering off`) relaying the same SSE events from the same "
    . "stand-in. One nginx worker on CPU 0; the load generator and the "
    . "stand-in on CPU 1. Every stream was checked event by event. "
    . "Load average at the start: $LOAD0 (other work on the machine "
    . "shows as noise; the bench runs at nice $NICE).\n\n";

sub row {
    my ($name, $p, $m, $fmt, $inverse) = @_;
    my $r = ratio($m, $p);
    return sprintf("| %s | $fmt | $fmt | %s |\n", $name, $p, $m,
                   defined $r ? sprintf('%.2f', $r) : '-');
}

sub scenario_table {
    my ($title, $r) = @_;
    my ($p, $m) = @{ $r }{qw(plain module)};
    my $s = "### $title\n\n| | plain proxy | agentcore | ratio |\n"
            . "|---|---:|---:|---:|\n";

    $s .= row('streams (ok / total)', $p->{ok}, $m->{ok}, '%d');
    $s .= row('concurrency', $p->{concurrency}, $m->{concurrency}, '%d');
    $s .= row('invocations/s', $p->{invocations_per_s},
              $m->{invocations_per_s}, '%.0f');
    $s .= row('events/s', $p->{events_per_s}, $m->{events_per_s}, '%.0f');
    $s .= row('TTFB p50 (µs)', $p->{ttfb_us}{p50}, $m->{ttfb_us}{p50},
              '%.0f');
    $s .= row('TTFB p99 (µs)', $p->{ttfb_us}{p99}, $m->{ttfb_us}{p99},
              '%.0f');
    $s .= row('inter-event p50 (µs)', $p->{gap_us}{p50}, $m->{gap_us}{p50},
              '%.1f');
    $s .= row('inter-event p99 (µs)', $p->{gap_us}{p99}, $m->{gap_us}{p99},
              '%.1f');
    $s .= row('completion p50 (µs)', $p->{total_us}{p50},
              $m->{total_us}{p50}, '%.0f');
    $s .= row('worker CPU busy', 100 * $p->{worker}{cpu_util},
              100 * $m->{worker}{cpu_util}, '%.0f%%');
    $s .= row('worker CPU µs per invocation',
              $p->{worker}{cpu_us_per_invocation},
              $m->{worker}{cpu_us_per_invocation}, '%.1f');
    $s .= row('worker CPU ns per event', $p->{worker}{cpu_ns_per_event},
              $m->{worker}{cpu_ns_per_event}, '%.0f');
    $s .= row('worker RSS peak (KiB)', $p->{worker}{rss_kib_peak},
              $m->{worker}{rss_kib_peak}, '%d');

    return "$s\n";
}

$md .= "## Targets\n\n| target | goal | measured | met |\n|---|---|---|---|\n"
    . join('', map {
        "| $_->{name} | $_->{target} | $_->{value} | "
        . ($_->{met} ? 'yes' : '**no**') . " |\n" } @targets)
    . "\n";

$md .= "Stream failures: " . join('; ', @failures) . "\n\n" if @failures;

if ($R{latency}) {
    $md .= "## Latency against concurrency\n\n"
        . ($plotted ? "![TTFB against concurrency](latency.png)\n\n" : '')
        . "Paced answers (the head and the first event at once, the other "
        . "19 deltas over $P{paced_ms} ms), "
        . "so the worker is not saturated and TTFB is the path's own "
        . "latency.\n\n"
        . "| streams | plain p50 (µs) | plain p99 (µs) | agentcore p50 (µs) "
        . "| agentcore p99 (µs) | added p50 (µs) | added p99 (µs) | "
        . "agentcore CPU busy |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n";

    for my $c (sort { $a <=> $b } keys %{ $R{latency} }) {
        my ($p, $m) = @{ $R{latency}{$c} }{qw(plain module)};
        $md .= sprintf("| %d | %.0f | %.0f | %.0f | %.0f | %+.0f | %+.0f "
                       . "| %.0f%% |\n", $c, $p->{ttfb_us}{p50},
                       $p->{ttfb_us}{p99}, $m->{ttfb_us}{p50},
                       $m->{ttfb_us}{p99},
                       $m->{ttfb_us}{p50} - $p->{ttfb_us}{p50},
                       $m->{ttfb_us}{p99} - $p->{ttfb_us}{p99},
                       100 * $m->{worker}{cpu_util});
    }
    $md .= "\n";
}

$md .= "## Scenarios\n\n";
$md .= scenario_table('1. Short answers (20 deltas), full speed', $R{s1})
    if $R{s1};

if ($R{s1} && @{ $R{s1}{rounds} } > 1) {
    $md .= "The table is the round with the median ratio of "
        . scalar(@{ $R{s1}{rounds} }) . " (plain, then agentcore, each "
        . "on a fresh nginx), lowest ratio first:\n\n"
        . "| round | plain inv/s | agentcore inv/s | ratio | plain µs/inv "
        . "| agentcore µs/inv |\n|---:|---:|---:|---:|---:|---:|\n";
    my $i = 0;
    for my $r (@{ $R{s1}{rounds} }) {
        $md .= sprintf("| %d | %.0f | %.0f | %.2f | %.1f | %.1f |\n", ++$i,
                       $r->{plain}, $r->{module}, $r->{ratio},
                       $r->{plain_cpu_us}, $r->{module_cpu_us});
    }
    $md .= "\n";
}
$md .= scenario_table('2. Long answers (2,000 deltas), full speed: '
                      . 'bulk reads', $R{s2})
    if $R{s2};
if ($R{s2} && $R{s2}{floor}) {
    my ($f, $p) = ($R{s2}{floor}, $R{s2}{plain}{worker});

    $md .= "The floor under this row: the module's protocol code alone "
        . "(bench/floor.c: the decoder with both CRC-32s, the turn "
        . "assembler, the SSE encoder) on the same body in the same 8 KiB "
        . "reads, without nginx, takes "
        . sprintf("%.0f ns per event, %.2fx the plain proxy's whole cost "
                  . "per event (%.0f ns); checking the two CRC-32s of each "
                  . "frame alone takes %.0f ns (%.2fx).",
                  $f->{ns_per_event},
                  ratio($f->{ns_per_event}, $p->{cpu_ns_per_event}) // 0,
                  $p->{cpu_ns_per_event}, $f->{crc_ns_per_event},
                  ratio($f->{crc_ns_per_event}, $p->{cpu_ns_per_event})
                  // 0)
        . " The plain proxy does no work per event: it moves reads of "
        . "SSE bytes, about a tenth of the event-stream bytes the module "
        . "must read, check and decode for the same events.\n\n";
}

$md .= scenario_table('2. Long answers (2,000 deltas), one event per read '
                      . '(1 ms apart)', $R{s2s})
    if $R{s2s};

if ($R{s3}) {
    $md .= scenario_table("3. $P{s3_n} slow streams held open "
                          . "($P{s3_ms} ms each)", $R{s3});
    $md .= "This scenario ran with $s3_workers workers (both on CPU 0, "
        . "`reuseport`): a worker holds two sockets per stream and the "
        . "hard limit of open files here is $NOFILE.\n\n"
        if $s3_workers > 1;
    my ($p, $m) = @{ $R{s3} }{qw(plain module)};
    $md .= sprintf("Worker memory per open stream: plain proxy %.1f KiB, "
                   . "agentcore %.1f KiB (RSS growth at the peak of "
                   . "%d / %d open streams).\n\n",
                   kib_per_stream($p->{worker}) // -1,
                   kib_per_stream($m->{worker}) // -1,
                   $p->{worker}{peak_open}, $m->{worker}{peak_open});
}

if ($R{s4}) {
    $md .= scenario_table('4. A calculator tool cycle per invocation '
                          . '(two model calls)', $R{s4});
    if ($R{s1}) {
        $md .= sprintf("Cost of the loop: %.1f µs of worker CPU per "
                       . "invocation over the one-call answer of "
                       . "scenario 1 (%.1f vs %.1f µs).\n\n",
                       $R{s4}{module}{worker}{cpu_us_per_invocation}
                       - $R{s1}{module}{worker}{cpu_us_per_invocation},
                       $R{s4}{module}{worker}{cpu_us_per_invocation},
                       $R{s1}{module}{worker}{cpu_us_per_invocation});
    }
}

if (($R{s1} && $R{s1}{coalesce}) || ($R{s2} && $R{s2}{coalesce})) {
    $md .= "### With `agentcore_sse_coalesce on`\n\n"
        . "The same answers from a location with the directive on (the "
        . "events of a loop turn as one chunk, the head with the first of "
        . "them), measured right after the default in each round:\n\n"
        . "| | plain proxy | agentcore | agentcore, coalesce on | ratio "
        . "(coalesce / plain) |\n|---|---:|---:|---:|---:|\n";

    for my $k (grep { $R{$_} && $R{$_}{coalesce} } 's1', 's2') {
        my ($p, $m, $c) = @{ $R{$k} }{qw(plain module coalesce)};
        my $what = $k eq 's1' ? 's1' : 's2 bulk';

        $md .= sprintf("| %s invocations/s | %.0f | %.0f | %.0f | %.2f |\n",
                       $what, $p->{invocations_per_s},
                       $m->{invocations_per_s}, $c->{invocations_per_s},
                       ratio($c->{invocations_per_s},
                             $p->{invocations_per_s}) // 0);
        $md .= sprintf("| %s worker CPU µs per invocation | %.1f | %.1f "
                       . "| %.1f | %.2f |\n", $what,
                       $p->{worker}{cpu_us_per_invocation},
                       $m->{worker}{cpu_us_per_invocation},
                       $c->{worker}{cpu_us_per_invocation},
                       ratio($c->{worker}{cpu_us_per_invocation},
                             $p->{worker}{cpu_us_per_invocation}) // 0);
        $md .= sprintf("| %s worker CPU ns per event | %.0f | %.0f | %.0f "
                       . "| %.2f |\n", $what,
                       $p->{worker}{cpu_ns_per_event},
                       $m->{worker}{cpu_ns_per_event},
                       $c->{worker}{cpu_ns_per_event},
                       ratio($c->{worker}{cpu_ns_per_event},
                             $p->{worker}{cpu_ns_per_event}) // 0)
            if $k eq 's2';
    }

    if ($R{s1} && @{ $R{s1}{rounds} } > 1) {
        $md .= "\ns1 rounds, agentcore with coalescing: "
            . join(', ', map { sprintf("%.0f inv/s (%.2f of plain), "
                                       . "%.1f µs/inv", $_->{coalesce},
                                       ratio($_->{coalesce}, $_->{plain})
                                       // 0, $_->{coalesce_cpu_us}) }
                   @{ $R{s1}{rounds} })
            . ".\n";
    }

    $md .= "\n";
}

if ($R{s1} && $R{s1}{relay}) {
    my ($p, $m, $r) = @{ $R{s1} }{qw(plain module relay)};

    $md .= "### What moving the bytes costs (scenario 1)\n\n"
        . "The module reads a $manifest->{short}{bin_bytes}-byte event "
        . "stream and sends a $request_bytes-byte signed request for each "
        . "answer; the plain proxy moves a $manifest->{short}{sse_bytes}-byte "
        . "SSE body. Plain nginx relaying the module's bytes (a "
        . "$request_bytes-byte body up, the event stream down, unread):\n\n"
        . "| | plain proxy (SSE) | byte relay | agentcore |\n"
        . "|---|---:|---:|---:|\n"
        . sprintf("| invocations/s | %.0f | %.0f | %.0f |\n",
                  $p->{invocations_per_s}, $r->{invocations_per_s},
                  $m->{invocations_per_s})
        . sprintf("| worker CPU busy | %.0f%% | %.0f%% | %.0f%% |\n",
                  100 * $p->{worker}{cpu_util}, 100 * $r->{worker}{cpu_util},
                  100 * $m->{worker}{cpu_util})
        . sprintf("| worker CPU µs per invocation | %.1f | %.1f | %.1f |\n\n",
                  $p->{worker}{cpu_us_per_invocation},
                  $r->{worker}{cpu_us_per_invocation},
                  $m->{worker}{cpu_us_per_invocation});
}

if ($R{s1} && @{ $R{s1}{module}{worker}{rss_at} }) {
    $md .= "### Memory against invocations (scenario 1, agentcore)\n\n"
        . "| invocations completed | worker RSS (KiB) |\n|---:|---:|\n"
        . join('', map { "| $_->{completed} | $_->{rss_kib} |\n" }
               @{ $R{s1}{module}{worker}{rss_at} }) . "\n";
}

spew("$o{results}/latest.md", $md);

print STDERR "\n", $md;
print STDERR "results in $o{results}/latest.{json,md}"
             . ($plotted ? ", latency.png" : '') . "\n";

exit(@failures ? 1 : 0);
