# Reloads and upgrades under load (docs/operating.md, "Reloads and binary
# upgrades").  A plain Perl suite: it starts its own nginx (2 workers,
# as a daemon, from TEST_NGINX_BINARY's absolute path, so that USR2 can
# run it again) with the emulator, and holds 200 SSE streams open at the
# emulator's [[gate]] while it:
#
#   - reloads (HUP): every stream ends on its old worker with the whole
#     answer; sessions, /ping and the metrics carry on;
#   - upgrades the binary (USR2, WINCH, QUIT): the same for the streams;
#     the session zone is shared by the two binaries (a memfd): a
#     session an old worker holds is busy on the new binary until its
#     stream ends, and goes on with its history after the old master
#     is gone; the other zones start empty (docs/operating.md);
#   - kills a worker (SIGKILL): its streams are cut, its sessions are
#     free again, the in-flight gauge and /ping forget it, the totals
#     count what ended.
#
# Every wait is for an event (a byte on a socket, a line in the log, a
# process appearing or gone), bounded by $Wait seconds for a broken
# build.  Runs as a normal user, and as root ("user root;").

use strict;
use warnings;

BEGIN {
    if ($ENV{TEST_NGINX_USE_VALGRIND}) {
        require Test::More;
        Test::More::plan(skip_all => 'needs worker processes and signals');
    }
}

use lib 't/lib';
use AgentCore::Test 'tool_module';
use AgentCore::Creds;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use File::Path qw(make_path remove_tree);
use File::Spec;
use Time::HiRes qw(time sleep);
use POSIX ();

my $N = $ENV{AGENTCORE_RELOAD_STREAMS} || 200;
my $Wait = 20;

my $Root = $AgentCore::Test::Root;
my $Port = $ENV{TEST_NGINX_PORT} || do {
    # t/prove.sh gives one; else a free one
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!\n";
    $l->sockport;
};
my $Serv = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');

# fetched credentials (the container endpoint's stand-in), which the
# emulator takes: the fetches tell what the zone kept
my $CS = AgentCore::Creds->start;
$CS->reset;
my $CredsPath = '/creds/reload';
$ENV{AWS_CONTAINER_CREDENTIALS_FULL_URI} =
    'http://127.0.0.1:' . $CS->port . $CredsPath;
my $Bedrock = AgentCore::Emulator::start_emulator(
    keys => [join ':', @{ $AgentCore::Creds::DEFAULT_KEYS[0] }]);
my $Log = "$Serv/logs/error.log";
my $PidFile = "$Serv/logs/nginx.pid";
my $Json = JSON::PP->new->canonical;

my $Nginx = $ENV{TEST_NGINX_BINARY} || 'nginx';
if ($Nginx !~ m{/}) {
    ($Nginx) = grep { -x } map { "$_/$Nginx" } split /:/, $ENV{PATH}, -1;
    plan skip_all => 'no nginx binary' if !$Nginx;
}
$Nginx = File::Spec->rel2abs($Nginx);

my $Modules = join '', map { "load_module $_;\n" }
                       split ' ', $ENV{TEST_NGINX_LOAD_MODULES};

my @Masters;        # every master started, stopped at the end
my @Kids;           # processes of ours (impostor()), killed at the end

# ------------------------------------------------------------ processes

sub slurp {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    return scalar(<$in>) // '';
}

sub alive {
    my $pid = shift;
    my $s = slurp("/proc/$pid/stat");
    return $s ne '' && $s !~ /^\d+ \(.*\) [ZX] /s;
}

sub children {
    my $ppid = shift;
    my @kids;

    for my $stat (glob "/proc/[0-9]*/stat") {
        my $s = slurp($stat);
        push @kids, $1
            if $s =~ /^(\d+) \(.*\) [^ZX] (\d+) /s && $2 == $ppid;
    }

    @kids = sort { $a <=> $b } @kids;
    return @kids;
}

sub master {
    my $f = shift // $PidFile;
    my $pid = slurp($f);
    return $pid =~ /^(\d+)/ ? $1 : undef;
}

sub await {
    my ($what, $cond) = @_;
    my $deadline = time + $Wait;

    until ($cond->()) {
        die "timed out waiting for $what\n" if time > $deadline;
        sleep 0.01;
    }
}

sub log_size { return -s $Log // 0 }

sub log_since {
    my $at = shift;
    open my $in, '<', $Log or return '';
    seek $in, $at, 0;
    local $/;
    return scalar(<$in>) // '';
}

# a new binary (USR2) gets only the environment nginx's env directives
# name: under make test-asan the sanitizers' options must reach it too
# (without detect_odr_violation=0 it dies loading the test tool module)
our $SanEnv = join '', map { "env $_;\n" }
    grep { defined $ENV{$_} } qw(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS);

sub start_nginx {
    my $conf = <<"_EOC_";
${Modules}${SanEnv}daemon on;
master_process on;
worker_processes 2;
pid $PidFile;
error_log $Log info;
worker_rlimit_nofile 4096;

events {
    accept_mutex off;
    worker_connections 2048;
}

http {
    access_log off;
    client_body_temp_path $Serv/client_body_temp;
    proxy_temp_path $Serv/proxy_temp;
    fastcgi_temp_path $Serv/fastcgi_temp;
    uwsgi_temp_path $Serv/uwsgi_temp;
    scgi_temp_path $Serv/scgi_temp;

    agentcore_retries off;
    agentcore_credentials container;
    agentcore_session_zone sessions:1m;

    upstream bedrock {
        server 127.0.0.1:$Bedrock;
        keepalive 8;
    }

    server {
        listen 127.0.0.1:$Port;

        agentcore_model_location /_agentcore/bedrock;
        agentcore_region us-east-1;

        location = /invocations {
            agentcore;
            agentcore_session sessions;
            add_header X-Worker \$pid always;
        }

        # a worker that dies with a zone locked (t/module)
        location = /die {
            agentcore;
            agentcore_session sessions;
            agentcore_tools die_locked;
        }

        location = /ping { agentcore_ping; agentcore_ping_busy on; }
        location = /metrics { agentcore_metrics; }

        location = /_agentcore/bedrock {
            internal;
            include $Root/conf/agentcore_bedrock_params;
            proxy_pass http://bedrock\$agentcore_bedrock_path;
        }
    }
}
_EOC_
    $conf .= "user root;\n" if $> == 0;

    remove_tree($Serv);
    make_path("$Serv/logs", "$Serv/conf");
    open my $out, '>', "$Serv/conf/nginx.conf" or die "$!";
    print $out $conf;
    close $out;

    system($Nginx, '-p', "$Serv/", '-c', "$Serv/conf/nginx.conf") == 0
        or die "nginx did not start\n";

    my $m;
    await('the pid file', sub { $m = master() });
    push @Masters, $m;
    await('2 workers', sub { children($m) == 2 });
    return $m;
}

END {
    for my $m (@Masters) {
        kill 'TERM', $m if $m && alive($m);
    }
    kill 'KILL', @Kids if @Kids;
}

# ------------------------------------------------------------ HTTP

sub sid { sprintf 'reload-suite-session-%s-%04d-0123456789', @_ }

sub request {
    my ($method, $uri, $body, $sid) = @_;
    my $h = "$method $uri HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $h .= "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $sid\r\n" if $sid;
    if (defined $body) {
        $h .= "Content-Type: application/json\r\n"
              . 'Content-Length: ' . length($body) . "\r\n";
    }
    return "$h\r\n" . ($body // '');
}

sub connect_to {
    my $port = shift // $Port;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $port, Proto => 'tcp')
        or die "connect to $port: $!\n";
    return $s;
}

# status, headers (lower case), de-chunked body, and whether the chunked
# body ended with its terminating chunk
sub parse {
    my $raw = shift;
    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    my (%h, $body, $done);

    return (0, {}, '', 0) if !defined $rest;

    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }

    if (($h{'transfer-encoding'} // '') !~ /chunked/) {
        return ($status, \%h, $rest, 1);
    }

    $body = '';
    $done = 0;
    while ($rest =~ s/\A([0-9a-fA-F]+)\r\n//) {
        my $n = hex $1;
        if ($n == 0) {
            $done = $rest eq "\r\n";
            last;
        }
        last if length $rest < $n + 2;
        $body .= substr($rest, 0, $n);
        substr($rest, 0, $n + 2, '');
    }

    return ($status, \%h, $body, $done);
}

sub get {
    my ($uri, $port) = @_;
    my $s = connect_to($port);
    print $s request('GET', $uri);
    return read_all($s);
}

# reads the whole answer, for $Wait seconds at most
sub read_all {
    my $s = shift;
    my $raw = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $Wait;

    while (time < $deadline) {
        next if !$sel->can_read(0.1);
        last if !sysread($s, $raw, 65536, length $raw);
    }

    return $raw;
}

sub invoke {
    my ($prompt, $sid, $uri) = @_;
    my $s = connect_to();
    print $s request('POST', $uri // '/invocations',
                     $Json->encode({ prompt => $prompt }), $sid);
    my ($status, $h, $body, $done) = parse(read_all($s));
    return ($status, AgentCore::Test::sse_text($body), $done);
}

sub metric {
    my ($text, $name) = @_;
    my $sum = 0;
    $sum += $1 while $text =~ /^\Q$name\E(?:\{[^}]*\})? (\d+)$/mg;
    return $sum;
}

sub metrics {
    my ($status, $h, $body) = parse(get('/metrics'));
    return ($status == 200 ? $body : '');
}

# the metrics once the totals reach $n: an invocation is counted when
# nginx logs it, which is when the client closes its connection (nginx
# lingers on a connection it closes: lingering_close)
sub settled {
    my $n = shift;
    my $m;
    eval {
        await("$n invocations counted", sub {
            $m = metrics();
            metric($m, 'agentcore_invocations_total') == $n;
        });
    };
    return $m;
}

sub ping {
    my ($status, $h, $body) = parse(get('/ping'));
    return ($status == 200 && $body =~ /"status":"(\w+)"/) ? $1 : "($status)";
}

sub release { get("/_emulator/release?id=$_[0]", $Bedrock) }

# $n streams, each in session sid($tag, i) unless $nosession
sub open_streams {
    my ($tag, $prompt) = @_;
    my @s;

    for my $i (1 .. $N) {
        my $sock = connect_to();
        print $sock request('POST', '/invocations',
                            $Json->encode({ prompt => $prompt }),
                            sid($tag, $i));
        $sock->blocking(0);
        push @s, { i => $i, sock => $sock, raw => '', eof => 0 };
    }

    return @s;
}

# reads every stream until $cond->(stream) holds (or it ends)
sub pump {
    my ($what, $cond, @s) = @_;
    my %by = map { fileno($_->{sock}) => $_ } @s;
    my $sel = IO::Select->new(map { $_->{sock} } @s);
    my $deadline = time + $Wait;

    for (;;) {
        my @left = grep { !$_->{eof} && !$cond->($_) } @s;
        return if !@left;
        die "timed out waiting for $what (" . scalar(@left) . " left)\n"
            if time > $deadline;

        for my $fh ($sel->can_read(0.1)) {
            my $st = $by{fileno $fh};
            my $n = sysread($fh, $st->{raw}, 65536, length $st->{raw});
            next if !defined $n && $!{EAGAIN};
            if (!$n) {
                $st->{eof} = 1;
                $sel->remove($fh);
                close $fh;
            }
        }
    }
}

# as root: a process (sleep) of pid $pid, if ns_last_pid lets us have it
sub impostor {
    my $pid = shift;

    return undef if $> != 0;

    # the last pid given is put back after: the pids that follow stay
    # new ones (else the next processes would take pids just freed)
    my $last = slurp('/proc/sys/kernel/ns_last_pid');
    return undef if $last !~ /^(\d+)/;
    $last = $1;

    my $put = sub {
        my $f;
        open($f, '>', '/proc/sys/kernel/ns_last_pid') or return 0;
        print $f shift;
        return close $f;
    };

    for (1 .. 5) {
        $put->($pid - 1) or return undef;

        my $kid = fork // return undef;
        if ($kid == 0) {
            { no warnings 'exec'; exec { 'sleep' } 'sleep', '60'; }
            POSIX::_exit(1);
        }

        $put->($last > $kid ? $last : $kid);

        if ($kid == $pid) {
            push @Kids, $kid;
            return $kid;
        }

        kill 'KILL', $kid;
        waitpid($kid, 0);
    }

    return undef;
}

sub first_delta { $_[0]->{raw} =~ /data: "Before "\n\n/ }

sub worker_of { $_[0]->{raw} =~ /^X-Worker: (\d+)/mi ? $1 : 0 }

my $Expected = qq{data: "Before "\n\ndata: "the gate, after it."\n\n};

# every stream ended with the whole answer and the terminating chunk
sub complete {
    my $st = shift;
    my ($status, $h, $body, $done) = parse($st->{raw});
    return $status == 200 && $done && $body eq $Expected;
}

# the answer a session's history shows to [[echo]]: its earlier prompts
sub history_of {
    my $sid = shift;
    my ($status, $text) = invoke('[[echo]] history?', $sid);
    return $status == 200 ? $text : "($status) $text";
}

# ------------------------------------------------------------ set-up

my $master = start_nginx();
my @workers = children($master);
my $ok = 0;         # invocations logged, as the metrics count them

is(ping(), 'Healthy', 'ping before any invocation');

# the answer a gate gives when nothing holds it
release('open');
{
    my ($status, $text, $done) = invoke('[[gate id=open]] calibrate');
    $ok++;
    is($text, 'Before the gate, after it.', 'an open gate answers at once');
}
is($CS->fetches($CredsPath), 1, 'credentials: fetched once');

# a client that has read the whole answer and keeps its connection: the
# invocation is over, though nginx lingers on the connection until the
# client closes it (or lingering_timeout)
{
    my $s = connect_to();
    print $s request('POST', '/invocations',
                     $Json->encode({ prompt => '[[deltas texts=["x"]]] a' }));
    my $sel = IO::Select->new($s);
    my $raw = '';
    my $deadline = time + $Wait;
    while ($raw !~ /\r\n0\r\n\r\n\z/ && time < $deadline) {
        next if !$sel->can_read(0.1);
        last if !sysread($s, $raw, 65536, length $raw);
    }
    ok((parse($raw))[3], 'an answer read whole, the connection kept');
    is(ping(), 'Healthy', 'ping: healthy once the answer is whole');
    is(metric(metrics(), 'agentcore_invocations_in_flight'), 0,
       'in flight: 0 once the answer is whole');
    close $s;
    $ok++;
}

# ------------------------------------------------------------ reload

{
    # turn 1 of two sessions, before the reload
    for my $i (1, 2) {
        my ($status) = invoke("[[deltas texts=[\"one\"]]] turn one $i",
                              sid('r', $i));
        $ok++;
    }

    my $t0 = time;
    my @s = open_streams('r', '[[gate id=reload]] turn two');
    pump('the first delta of every stream', \&first_delta, @s);
    my $held = time - $t0;

    is(scalar(grep { first_delta($_) } @s), $N,
       "$N streams hold at the gate");

    my $m = metrics();
    is(metric($m, 'agentcore_invocations_in_flight'), $N,
       "in flight: $N");
    is(ping(), 'HealthyBusy', 'ping: busy');

    my $at = log_size();
    kill 'HUP', $master;

    my @new;
    await('the new workers', sub {
        @new = grep { my $p = $_; !grep { $_ == $p } @workers }
               children($master);
        @new == 2;
    });

    # the old workers stopped listening: they are shutting down
    await('the old workers to shut down gracefully', sub {
        my $t = log_since($at);
        !grep { $t !~ /\b$_#\d+: gracefully shutting down/ } @workers;
    });

    # (a worker the kernel gave no stream to has exited already)
    my %on = map { worker_of($_) => 1 } @s;
    ok(keys(%on) && !grep({ !alive($_) } keys %on),
       'the old workers live on with their streams');

    # what the new workers see: the zones carried on
    $m = metrics();
    is(metric($m, 'agentcore_invocations_in_flight'), $N,
       "after the reload, in flight: $N (the old workers')");
    is(metric($m, 'agentcore_invocations_total'), $ok,
       'after the reload, the totals carried on');
    is(ping(), 'HealthyBusy', 'after the reload, ping: busy');

    # a session held by an old worker is still held
    my ($status, $text) = invoke('[[echo]] meanwhile', sid('r', 1));
    $ok++;
    like($text, qr/already processing a request/i,
         'a session an old worker holds is busy for a new one');

    release('reload');
    pump('the end of every stream', sub { 0 }, @s);
    $ok += $N;

    my @bad = grep { !complete($_) } @s;
    is(scalar(@bad), 0, "all $N streams ended with the whole answer")
        or diag("stream $bad[0]{i}:\n$bad[0]{raw}");

    ok(!grep({ my $p = $_; !grep { $_ == $p } @workers } keys %on),
       'every stream was served by an old worker');

    await('the old workers to exit', sub { !grep { alive($_) } @workers });

    like(history_of(sid('r', 1)), qr/turn one 1.*one.*turn two/s,
         'a session of before the reload goes on after it');
    $ok++;
    like(history_of(sid('r', $N)), qr/turn two/,
         'a session whose turn ran across the reload goes on');
    $ok++;

    $m = settled($ok);
    is(metric($m, 'agentcore_invocations_in_flight'), 0, 'in flight: 0');
    is(metric($m, 'agentcore_invocations_total'), $ok,
       "the totals count every invocation ($ok)");
    is(ping(), 'Healthy', 'ping: healthy again');

    is($CS->fetches($CredsPath), 1, 'credentials: kept, not fetched again');

    @workers = children($master);
    note(sprintf "reload: %d streams held in %.2fs", $N, $held);
}

# ------------------------------------------------------------ SIGKILL

{
    my @s = open_streams('k', '[[gate id=kill]] turn');
    pump('the first delta of every stream', \&first_delta, @s);

    my %count;
    $count{worker_of($_)}++ for @s;

    # the worker with more streams dies; the other's go on
    my ($victim) = sort { $count{$b} <=> $count{$a} } keys %count;
    my @cut = grep { worker_of($_) == $victim } @s;
    my @kept = grep { worker_of($_) != $victim } @s;

    note("kill: $count{$victim} streams on $victim, "
         . scalar(@kept) . ' on the other');

    my $at = log_size();
    kill 'KILL', $victim;

    await('the master to see its worker gone', sub {
        log_since($at) =~ /worker process $victim exited on signal 9/;
    });
    await('a new worker', sub { children($master) == 2 });

    # the worker started in its place frees the dead one's slot (its pid
    # no longer counts as a worker's, whoever gets it next)
    eval {
        await('the dead worker\'s slot freed', sub {
            log_since($at) =~ /slot of process $victim, which is gone, freed/;
        });
    };
    ok(!$@, 'the new worker frees the dead one\'s slot');

    # as root, another program gets the dead worker's pid: with pid_max
    # at 32768, a pid comes back soon on a busy host
    my $impostor = impostor($victim);
    note($impostor ? "pid $victim now runs sleep" : 'no pid reuse');

    my $m = metrics();
    is(metric($m, 'agentcore_invocations_in_flight'), scalar(@kept),
       'in flight: only the live worker\'s streams');

    # the dead worker's sessions are free: a new invocation takes one over
    my ($status, $text) = invoke('[[echo]] after the kill', sid('k', $cut[0]{i}));
    $ok++;
    is($status, 200, 'a session the killed worker held is free');
    unlike($text, qr/stream_error/, 'and answers');

    if (@kept) {
        ($status, $text) = invoke('[[echo]] meanwhile', sid('k', $kept[0]{i}));
        $ok++;
        like($text, qr/already processing a request/i,
             'a session the live worker holds is still busy');
    }

    if ($impostor) {
        kill 'KILL', $impostor;
        waitpid($impostor, 0);
    }

    release('kill');
    pump('the end of every stream', sub { 0 }, @s);
    $ok += @kept;

    is(scalar(grep { !complete($_) } @kept), 0,
       'the live worker\'s streams ended with the whole answer');
    is(scalar(grep { (parse($_->{raw}))[3] } @cut), 0,
       'the killed worker\'s streams were cut');

    $m = settled($ok);
    is(metric($m, 'agentcore_invocations_in_flight'), 0, 'in flight: 0');
    is(metric($m, 'agentcore_invocations_total'), $ok,
       "the totals count what ended ($ok)");
    is(ping(), 'Healthy', 'ping: healthy');
    is($CS->fetches($CredsPath), 1, 'credentials: kept, not fetched again');

    @workers = children($master);
}

# ------------------------------------------------------------ a dead lock

# a worker dies in a critical section, a zone locked: the master unlocks
# every shared zone its dead worker held (nginx does, since 1.1), and the
# sessions, /ping and the metrics go on
for my $zone ('sessions', 'agentcore_module_state') {
    my $at = log_size();
    my $s = connect_to();
    print $s request('POST', '/die', $Json->encode({ prompt =>
              "[[tool name=die_locked input={\"zone\":\"$zone\"}]]" }),
              sid('d', 1));

    my $dead;
    await("a worker to die with \"$zone\" locked", sub {
        log_since($at) =~ /worker process (\d+) exited on signal 9/
            and $dead = $1;
    });
    close $s;

    eval { await('a new worker', sub { children($master) == 2 }) };
    ok(!$@, "$zone: a worker takes the dead one's place");

    my ($status, $text) = invoke('[[echo]] after a dead lock', sid('d', 2));
    $ok++;
    like($text, qr/after a dead lock/, "$zone: an invocation runs");
    like(log_since($at), qr/shared memory zone "$zone" was locked by $dead$/m,
         "$zone: unlocked by the master, logged");
    is(ping(), 'Healthy', "$zone: ping");

    my $m = settled($ok);
    is(metric($m, 'agentcore_invocations_total'), $ok,
       "$zone: the totals ($ok)");

    @workers = children($master);
}

# ------------------------------------------------------------ binary upgrade

{
    # turn 1, on the old binary
    my ($status) = invoke('[[deltas texts=["one"]]] upgrade turn one',
                          sid('u', 1));
    $ok++;

    my @s = open_streams('u', '[[gate id=upgrade]] upgrade turn two');
    pump('the first delta of every stream', \&first_delta, @s);

    # one more stream, in a session of its own, whose old worker dies
    # (SIGKILL) during the overlap
    my $x = { i => 0, sock => connect_to(), raw => '', eof => 0 };
    print { $x->{sock} } request('POST', '/invocations',
        $Json->encode({ prompt => '[[gate id=xkill]] held' }), sid('x', 1));
    $x->{sock}->blocking(0);
    pump('the first delta of the stream to be cut', \&first_delta, $x);
    my $holder = worker_of($x);
    my $newok = 0;      # the new binary's invocations

    my $at = log_size();
    kill 'USR2', $master;

    my $new;
    await('the new master', sub {
        $new = master();
        -e "$PidFile.oldbin" && $new && $new != $master
            && children($new) == 2;
    });
    push @Masters, $new;

    is(master("$PidFile.oldbin"), $master, 'nginx.pid.oldbin: the old master');
    my $tu = log_since($at);
    like($tu, qr/\[notice\] $new#\d+: agentcore: a new binary: agentcore_session_zone "sessions" shared with the old binary/,
         'the new binary shares the old binary\'s session zone');
    unlike($tu, qr/starts empty/,
           'no "starts empty" notice (that is the fallback\'s)');

    # new sessions while both binaries accept: each binary inserts
    # into the rbtree the other made (its insert function is per binary)
    my %by = (new => 0, old => 0);
    for my $k (1 .. 100) {
        my $s = connect_to();
        print $s request('POST', '/invocations',
                         $Json->encode({ prompt => "[[echo]] both $k" }),
                         sid('n', $k));
        my ($status, $h, $body) = parse(read_all($s));
        my $on = $h->{'x-worker'} // 0;
        my $old = grep { $_ == $on } @workers;
        $old ? $ok++ : $newok++;
        # an old worker's insert after a new one's is what matters
        $by{$old ? 'old' : 'new'}++ if $status == 200;
        last if $by{new} && $by{old} && $old;
    }
    SKIP: {
        skip 'the kernel gave no new session to an old worker after a new '
             . 'one\'s', 1 if !($by{new} && $by{old});
        pass("new sessions on both binaries ($by{new} new, $by{old} old)");
    }

    kill 'WINCH', $master;
    await('the old workers to shut down gracefully', sub {
        my $t = log_since($at);
        !grep { $t !~ /\b$_#\d+: gracefully shutting down/ } @workers;
    });

    # new connections reach the new binary only now
    is(ping(), 'Healthy', 'the new binary: ping');

    # a new session on the new binary, and its next turn
    for my $turn (1, 2) {
        my ($st, $text) = invoke("[[echo]] new $turn", sid('n', 0));
        $newok++;
        like($text, $turn == 1 ? qr/new 1/ : qr/new 1.*new 2/s,
             "a new session on the new binary, turn $turn");
    }

    # a session an old worker's stream holds is busy on the new binary
    {
        my $s = connect_to();
        print $s request('POST', '/invocations',
                         $Json->encode({ prompt => '[[echo]] meanwhile' }),
                         sid('u', 2));
        my ($status, $h, $body) = parse(read_all($s));
        $newok++;
        my $on = $h->{'x-worker'} // 0;
        ok(!grep({ $_ == $on } @workers) && alive($on),
           'the new binary\'s worker answers');
        like(AgentCore::Test::sse_text($body), qr/already processing a request/i,
             'a session an old worker holds is busy on the new binary');
    }

    release('upgrade');
    pump('the end of every stream', sub { 0 }, @s);
    $ok += $N;

    my @bad = grep { !complete($_) } @s;
    is(scalar(@bad), 0, "all $N streams ended with the whole answer")
        or diag("stream $bad[0]{i}:\n$bad[0]{raw}");

    my %on = map { worker_of($_) => 1 } @s;
    ok(!grep({ my $p = $_; !grep { $_ == $p } @workers } keys %on),
       'every stream was served by an old worker');

    # the old worker that still holds a session: busy on the new binary
    # while it lives (its slot is the old master's: its pid tells), free
    # once it is gone
    await('the other old worker to exit', sub {
        !grep { $_ != $holder && alive($_) } @workers;
    });
    ok(alive($holder), 'the old worker holding the last stream lives on');

    my ($st, $text) = invoke('[[echo]] while its holder lives', sid('x', 1));
    $newok++;
    like($text, qr/already processing a request/i,
         'its session is busy on the new binary');

    kill 'KILL', $holder;
    await('the old master to see its worker gone', sub {
        log_since($at) =~ /worker process $holder exited on signal 9/;
    });

    ($st, $text) = invoke('[[echo]] after its holder died', sid('x', 1));
    $newok++;
    is($st, 200, 'a session a dead old-binary worker held is free');
    like($text, qr/after its holder died/, 'and answers');
    like(log_since($at),
         qr/\[warn\] \d+#\d+: \*\d+ agentcore: session [0-9a-f]+ was held by process $holder, which is gone: taken over/,
         'the new binary took it over, logged');
    release('xkill');

    await('the old workers to exit', sub { !grep { alive($_) } @workers });

    kill 'QUIT', $master;
    await('the old master to exit', sub { !alive($master) });

    # the new binary's metrics zone is its own: it starts empty (it
    # counts only the invocations above)
    my $m = settled($newok);
    is(metric($m, 'agentcore_invocations_in_flight'), 0, 'in flight: 0');
    is(metric($m, 'agentcore_invocations_total'), $newok,
       'the new binary counts from zero');

    # credentials: the new binary fetches and signs (the module passed
    # AWS_CONTAINER_CREDENTIALS_FULL_URI on to it)
    ($st, $text) = invoke('after the upgrade');
    is($text, 'Hello! You said: after the upgrade',
       'the new binary invokes the model');
    is($CS->fetches($CredsPath), 2,
       'credentials: the new binary fetched its own, once');

    # the session zone outlived the old master: the sessions go on
    like(history_of(sid('u', 1)),
         qr/upgrade turn one.*one.*upgrade turn two/s,
         'a session of before the upgrade goes on after it');
    like(history_of(sid('u', 2)), qr/upgrade turn two/,
         'a session held across the upgrade is usable after the QUIT');

    is(ping(), 'Healthy', 'ping: healthy');

    my $t = log_since(0);
    unlike($t, qr/\[(?:alert|crit|emerg)\](?! .*(?:exited\ on\ signal\ 9
                                               |was\ locked\ by\ \d+$))/mx,
           'no alert, crit or emerg but the kills\'');

    # the fallback: a new binary whose zone has another size starts it
    # empty, and says why
    my $conf = slurp("$Serv/conf/nginx.conf");
    $conf =~ s/sessions:1m/sessions:2m/ or die "no zone in the conf\n";
    open my $out, '>', "$Serv/conf/nginx.conf" or die "$!";
    print $out $conf;
    close $out;

    $at = log_size();
    kill 'USR2', $new;

    my $newer;
    await('a newer master', sub {
        $newer = master();
        $newer && $newer != $new && children($newer) == 2;
    });
    push @Masters, $newer;

    like(log_since($at), qr/\[notice\] $newer#\d+: agentcore: a new binary: agentcore_session_zone "sessions" starts empty \(the zone's size differs\)/,
         'a resized zone: the new binary starts it empty, and says why');

    kill 'QUIT', $new, $newer;
    await('the masters to exit', sub { !alive($new) && !alive($newer) });
}

done_testing();
