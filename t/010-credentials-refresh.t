# Credentials over time, with two workers sharing them: a source that
# hangs, refresh under load with rotation seen in the emulator's verified
# signatures, a failing refresh that keeps the old credentials, expiry,
# and secrets kept out of core dumps and logs.  Each block's init drives
# the scenario from Perl and writes what it saw to /report, which the
# block then reads.

use lib 't/lib';
use AgentCore::CredsSuite;
use POSIX ();
use Time::HiRes ();
use IO::Socket::INET;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(2);

add_block_preprocessor(\&AgentCore::CredsSuite::preprocess);

our $CS = $AgentCore::CredsSuite::CS;
our $Ok = '{"prompt":"[[deltas texts=[\"ok\"]]]"}';

sub invoke {
    my ($path, $body) = @_;
    return AgentCore::Creds::http(port => server_port(), method => 'POST',
                                  path => $path // '/invocations',
                                  body => $body // $Ok, timeout => 20);
}

sub ready {
    AgentCore::Creds::wait_ready(port => server_port(), method => 'POST',
                                 path => '/invocations', body => $Ok)
        or die "no credentials in nginx after 10 s\n";
}

# $n clients send invocations for $seconds; returns (requests, failed,
# slowest) over all of them
sub load {
    my ($n, $seconds, $during) = @_;
    my $dir = $AgentCore::CredsSuite::Files;
    my (@pids, $total, $failed, $slowest);

    for my $i (1 .. $n) {
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            my $end = Time::HiRes::time() + $seconds;
            my ($c, $f, $s) = (0, 0, 0);
            while (Time::HiRes::time() < $end) {
                my ($st, $body, $t) = invoke();
                $c++;
                $f++ unless $st == 200 && $body eq qq{data: "ok"\n\n};
                $s = $t if $t > $s;
            }
            open(my $fh, '>', "$dir/load.$i") or POSIX::_exit(1);
            print $fh "$c $f $s\n";
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }

    $during->() if $during;
    waitpid($_, 0) for @pids;

    ($total, $failed, $slowest) = (0, 0, 0);

    for my $i (1 .. $n) {
        open(my $fh, '<', "$dir/load.$i") or die "load.$i: $!\n";
        my ($c, $f, $s) = split ' ', scalar <$fh>;
        $total += $c;
        $failed += $f;
        $slowest = $s if $s > $slowest;
        unlink "$dir/load.$i";
    }

    return ($total, $failed, $slowest);
}

# kill -HUP, then wait until the old workers are gone and new ones run
sub reload {
    my ($master, @old, $deadline);

    open(my $pf, '<', server_root() . '/logs/nginx.pid') or die "pid: $!";
    $master = <$pf> + 0;
    @old = workers_of($master);
    kill HUP => $master or die "HUP: $!";

    $deadline = Time::HiRes::time() + 10;
    while (grep({ kill 0, $_ } @old) || workers_of($master) < 2) {
        die "no reload in 10 s\n" if Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

sub read_proc {
    my ($f) = @_;
    open(my $fh, '<', $f) or return '';
    local $/;
    return <$fh> // '';
}

sub workers_of {
    my ($master) = @_;
    my @pids;

    for my $stat (glob '/proc/[0-9]*/stat') {
        open(my $fh, '<', $stat) or next;
        my $s = <$fh> // '';
        push @pids, $1 if $s =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $master;
    }

    return @pids;
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a source that hangs: the request waits, others do not
The first fetch starts with nginx and hangs: three attempts of 1 s. An
invocation waits for it and gets a 500; meanwhile /ping and a location
with static keys answer at once.
--- creds_setup
$CS->set(mode => 'hang');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- config eval
"agentcore_credentials container;\n"
. "location = /ping { agentcore_ping; }\n"
. "location = /static { agentcore; agentcore_credentials static "
. "$AgentCore::CredsSuite::S[0] $AgentCore::CredsSuite::S[1] "
. "$AgentCore::CredsSuite::S[2]; }\n"
. $AgentCore::CredsSuite::Config
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
# one process, slowed down: not for valgrind
return 1 if $ENV{TEST_NGINX_USE_VALGRIND};
my $out = "$AgentCore::CredsSuite::Files/waiter";
my $at = AgentCore::Test::log_size();
my $pid = fork // die;
if ($pid == 0) {
    my ($st, $body, $t) = main::invoke('/invocations', '{"prompt":"hi"}');
    open(my $fh, '>', $out); print $fh "$st $t\n"; close $fh;
    POSIX::_exit(0);
}
# the invocation waits for the fetch (logged) before the others go
AgentCore::Test::wait_log($at, qr/agentcore credentials "[^"]+": waiting for a fetch/)
    or die "the invocation did not wait for the fetch\n";
my ($pst, undef, $pt) = AgentCore::Creds::http(port => server_port(),
                                               path => '/ping');
my ($sst, $sbody, $stt) = main::invoke('/static');
waitpid($pid, 0);
open(my $fh, '<', $out) or die; my ($st, $t) = split ' ', <$fh>;
my $hung = () = $main::CS->log =~ /GET container hang/g;
AgentCore::CredsSuite::report(
    "invocation: $st",
    'it waited at least 2 s: ' . ($t >= 2 ? 'yes' : "no ($t)"),
    "ping while it waited: $pst, under 0.5 s: "
        . ($pt < 0.5 ? 'yes' : "no ($pt)"),
    "static keys while it waited: $sst, "
        . ($sbody eq qq{data: "ok"\n\n} ? 'the text' : "[$sbody]")
        . ', under 1 s: ' . ($stt < 1 ? 'yes' : "no ($stt)"),
    'attempts that hung: ' . ($hung >= 3 ? 'at least 3' : $hung));
--- request
GET /report
--- response_body
invocation: 500
it waited at least 2 s: yes
ping while it waited: 200, under 0.5 s: yes
static keys while it waited: 200, the text, under 1 s: yes
attempts that hung: at least 3
--- error_log eval
qr{\[error\] .*agentcore: no AWS credentials: container: GET http://127\.0\.0\.1:\d+ timed out after 1000 ms$}
--- timeout: 30



=== TEST 2: refresh under load: one fetch per refresh, rotation in the signatures
Expiration 303 s away: a refresh is due 5 s later (not before).  Four
clients keep two workers busy for 7 s; no request waits or fails, the
stand-in sees two fetches, and the emulator verified both keys.
--- creds_setup
$CS->set(keys => \@AgentCore::CredsSuite::K, expires_in => 303);
AgentCore::CredsSuite::mark();
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds/load")
--- init
main::ready();
my ($n, $failed, $slowest) = main::load(4, 7);
AgentCore::CredsSuite::report(
    'requests: ' . ($n >= 200 ? 'at least 200' : $n),
    "failed: $failed",
    'the slowest under 0.5 s: ' . ($slowest < 0.5 ? 'yes' : "no ($slowest)"),
    'signed with: ' . join(' ', AgentCore::CredsSuite::signers()),
    'fetches: ' . $main::CS->fetches('/creds/load'));
--- request
GET /report
--- response_body
requests: at least 200
failed: 0
the slowest under 0.5 s: yes
signed with: ASIASTANDIN000000001 ASIASTANDIN000000002
fetches: 2
--- no_error_log
[error]
[alert]
--- timeout: 30



=== TEST 3: a failing refresh: the old credentials stay, one log line, backoff, recovery
The source answers 503 from the first refresh on (5 s after the start;
the stand-in counts its answers, whenever nginx's first fetch came):
attempts at +5, +6, +8 s fail; it answers again 8.5 s after the first
request got its answer, and a later attempt gets the next keys.
--- creds_setup
$CS->set(keys => \@AgentCore::CredsSuite::K, expires_in => 303,
         then => '1 status 503');
AgentCore::CredsSuite::mark();
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- init
main::ready();
my $t0 = Time::HiRes::time();
my ($n, $failed) = main::load(2, 8.5);
$main::CS->set(then => '');
my @signers;
while (Time::HiRes::time() < $t0 + 25) {
    my ($st) = main::invoke();
    $n++; $failed++ if $st != 200;
    @signers = AgentCore::CredsSuite::signers();
    last if @signers > 1;
    Time::HiRes::sleep(0.2);
}
my $errors = () = $main::CS->log =~ /GET container 503/g;
AgentCore::CredsSuite::report(
    "failed requests: $failed",
    'signed with: ' . join(' ', @signers),
    'failed refresh attempts: '
        . ($errors >= 6 && $errors % 3 == 0 ? 'at least 2, 3 tries each'
                                            : $errors));
--- request
GET /report
--- response_body
failed requests: 0
signed with: ASIASTANDIN000000001 ASIASTANDIN000000002
failed refresh attempts: at least 2, 3 tries each
--- grep_error_log eval
qr/agentcore: refreshing the AWS credentials \(auto\) failed, the current ones stay in use until they expire: GET http:\/\/127\.0\.0\.1:\d+ answered HTTP 503/
--- grep_error_log_out eval
qr/\A[^\n]+\n\z/
--- error_log eval
qr/\[notice\] .*agentcore: AWS credentials \(auto\) fetched from container endpoint after [2-9] failed attempts/
--- timeout: 40



=== TEST 4: expired credentials: the next request waits for a fetch
Expiration 2 s away (the refresh would come 5 s later).  Invocations
follow one another until the stand-in has seen the second fetch: the
request that found the credentials expired started it and waited for
it, and every request got its answer.
--- creds_setup
$CS->set(keys => \@AgentCore::CredsSuite::K, expires_in => 2);
AgentCore::CredsSuite::mark();
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds/expiry")
--- init
main::ready();
my ($st, $body) = (0, '');
my $deadline = Time::HiRes::time() + 10;
while ($main::CS->fetches('/creds/expiry') < 2
       && Time::HiRes::time() < $deadline)
{
    ($st, $body) = main::invoke();
    last if $st != 200 || $body ne qq{data: "ok"\n\n};
    Time::HiRes::sleep(0.05);
}
AgentCore::CredsSuite::report(
    "after the expiry: $st " . ($body eq qq{data: "ok"\n\n} ? 'the text' : $body),
    'signed with: ' . join(' ', AgentCore::CredsSuite::signers()),
    'fetches: ' . $main::CS->fetches('/creds/expiry'));
--- request
GET /report
--- response_body
after the expiry: 200 the text
signed with: ASIASTANDIN000000001 ASIASTANDIN000000002
fetches: 2
--- no_error_log
[error]
--- timeout: 20



=== TEST 5: credentials expire during a slow tool: the next model call waits for a fetch
The tool takes 3 s, the credentials last 2 s: the second model call of
the invocation finds none, starts a fetch and waits for it.
--- creds_setup
$CS->set(keys => \@AgentCore::CredsSuite::K, expires_in => 2);
AgentCore::CredsSuite::mark();
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds/tool")
--- config eval
qq{agentcore_tool slow /slowtool "A slow tool";\n}
. qq{location = /slowtool { proxy_pass http://127.0.0.1:\$TEST_NGINX_CREDS_PORT/slow?ms=3000; }\n}
. $AgentCore::CredsSuite::Config
--- init
main::ready();
my ($st, $body) = main::invoke('/invocations',
                               '{"prompt":"[[tool name=slow input={}]]"}');
AgentCore::CredsSuite::report(
    "status: $st",
    'text: ' . AgentCore::Test::sse_text($body),
    'signed with: ' . join(' ', AgentCore::CredsSuite::signers()),
    'fetches: ' . $main::CS->fetches('/creds/tool'));
--- request
GET /report
--- response_body
status: 200
text: Tool said: done
signed with: ASIASTANDIN000000001 ASIASTANDIN000000002
fetches: 2
--- no_error_log
[error]
--- timeout: 20



=== TEST 6: ... and when that fetch fails, the stream ends with a stream_error
--- creds_setup
$CS->set(keys => \@AgentCore::CredsSuite::K, expires_in => 2);
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- config eval
qq{agentcore_tool slow /slowtool "A slow tool";\n}
. qq{location = /slowtool { proxy_pass http://127.0.0.1:\$TEST_NGINX_CREDS_PORT/slow?ms=3000; }\n}
. $AgentCore::CredsSuite::Config
--- init
main::ready();
# from now on every fetch fails: the credentials in nginx last 2 s, the
# tool 3 s, and no refresh is due before 5 s
$main::CS->set(mode => 'status 503');
my ($st, $body) = main::invoke('/invocations',
                               '{"prompt":"[[tool name=slow input={}]]"}');
AgentCore::CredsSuite::report("invocation: $st "
                              . AgentCore::Test::sse_text($body));
--- request
GET /report
--- response_body
invocation: 200 [stream_error: No AWS credentials to call the model (see the error log)]
--- error_log eval
[qr{\[error\] .*agentcore: no AWS credentials: auto: GET http://127\.0\.0\.1:\d+ answered HTTP 503$},
 qr{\[warn\] .*agentcore: stream_error: "No AWS credentials to call the model \(see the error log\)"}]
--- timeout: 20



=== TEST 7: a client that leaves while it waits
It goes away during a hanging fetch; the fetch ends later and nginx
carries on.
--- creds_setup
$CS->set(mode => 'hang');
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- config eval
"location = /ping { agentcore_ping; }\n" . $AgentCore::CredsSuite::Config
--- init
# each client leaves once nginx logged that its request waits
my $at = AgentCore::Test::log_size();
my $left = 0;
for my $i (1 .. 4) {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port()) or die;
    print $sock "POST /invocations HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 15\r\n\r\n{\"prompt\":\"hi\"}";
    $left++ if AgentCore::Test::wait_log($at,
                   qr/(?:waiting for a fetch[\s\S]*){$i}/);
    close $sock;
}
# the fetch fails after its three attempts of 1 s
my $failed = AgentCore::Test::wait_log($at,
                 qr/\[error\] .*agentcore: no AWS credentials: /);
my ($st) = AgentCore::Creds::http(port => server_port(), path => '/ping');
AgentCore::CredsSuite::report(
    "clients that left while waiting: $left",
    'the fetch failed: ' . ($failed ? 'yes' : 'no'),
    "ping after the fetch failed: $st");
--- request
GET /report
--- response_body
clients that left while waiting: 4
the fetch failed: yes
ping after the fetch failed: 200
--- no_error_log
[alert]
[crit]
exited on signal
--- timeout: 20



=== TEST 8: a reload keeps the credentials: the new workers fetch nothing
The new configuration has the same source and the same variables: the
new workers use the credentials in the zone.  A reload that changes a
variable the source reads fetches again.
--- creds_setup
AgentCore::CredsSuite::mark();
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds/reload")
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
# one process, slowed down: not for valgrind
return 1 if $ENV{TEST_NGINX_USE_VALGRIND};
main::ready();
my $before = $main::CS->fetches('/creds/reload');
main::reload();
my ($st, $body) = main::invoke();
my $after = $main::CS->fetches('/creds/reload');
# another value of a variable the source reads: a new slot, a fetch
my $conf = server_root() . '/conf/nginx.conf';
open(my $in, '<', $conf) or die; local $/; my $text = <$in>; close $in;
$text =~ s{FULL_URI=http://127\.0\.0\.1:}{FULL_URI=http://localhost:} or die;
open(my $out, '>', $conf) or die; print $out $text; close $out;
main::reload();
my ($st2) = main::invoke();
AgentCore::CredsSuite::report(
    "fetches before the reload: $before",
    "after it: $st " . ($body eq qq{data: "ok"\n\n} ? 'the text' : $body)
    . ", fetches: $after",
    "after a reload with another endpoint: $st2, fetches: "
    . $main::CS->fetches('/creds/reload'));
--- request
GET /report
--- response_body
fetches before the reload: 1
after it: 200 the text, fetches: 1
after a reload with another endpoint: 200, fetches: 2
--- no_error_log
[error]
[alert]
--- timeout: 20



=== TEST 9: the zone and the workers' copies are left out of core dumps
/proc/PID/smaps of both workers: the shared zone and a private mapping
are flagged "dd" (MADV_DONTDUMP).
--- main_config eval
AgentCore::CredsSuite::env_lines(
    AWS_CONTAINER_CREDENTIALS_FULL_URI =>
        "http://127.0.0.1:$ENV{TEST_NGINX_CREDS_PORT}/creds")
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- init
# one process, slowed down: not for valgrind
return 1 if $ENV{TEST_NGINX_USE_VALGRIND};
main::ready();
open(my $pf, '<', server_root() . '/logs/nginx.pid') or die "pid: $!";
my $master = <$pf> + 0;
# every worker of this master (named so: a process just forked is not
# one yet), each scanned until its copy is there: a worker that is
# still starting has not made it (bounded, for a build that never does)
my %seen;
my $deadline = Time::HiRes::time() + 10;
for (;;) {
    my @workers = grep { main::read_proc("/proc/$_/cmdline")
                             =~ /worker process/ }
                  main::workers_of($master);
    for my $worker (@workers) {
        open(my $sm, '<', "/proc/$worker/smaps") or next;
        my ($shared, $private, $perms, $path) = (0, 0, '', '');
        while (<$sm>) {
            if (/^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/) {
                ($perms, $path) = ($1, $2);
            } elsif (/^VmFlags:.* dd\b/) {
                $shared++ if $perms =~ /s/;
                $private++ if $perms =~ /p/ && $path eq '';
            }
        }
        $seen{$worker} = [$shared, $private];
    }
    last if @workers == 2
            && !grep { !$seen{$_}[0] || !$seen{$_}[1] } @workers;
    last if Time::HiRes::time() > $deadline;
    Time::HiRes::sleep(0.05);
}
my @w = values %seen;
AgentCore::CredsSuite::report(
    'workers scanned: ' . scalar(@w),
    'the zone: ' . ((grep { !$_->[0] } @w) || !@w ? 'dumped' : 'left out'),
    "the workers' copies: "
    . ((grep { !$_->[1] } @w) || !@w ? 'dumped' : 'left out'));
--- request
GET /report
--- response_body
workers scanned: 2
the zone: left out
the workers' copies: left out



=== TEST 10: no secret in the stand-in's, the emulator's or nginx's access log
Every block's error log is checked by the preprocessor; this looks at
the other logs the suites wrote.
--- init
my %logs = (
    "the stand-in's log" => do {
        open(my $f, '<', "$AgentCore::CredsSuite::Files/standin-all.log");
        local $/; (<$f> // '') . $main::CS->log
    },
    "the emulator's log" => do {
        open(my $f, '<', $AgentCore::CredsSuite::EmuLog); local $/; <$f> // ''
    },
    "nginx's access log" => do {
        open(my $f, '<', server_root() . '/logs/access.log'); local $/;
        <$f> // ''
    });
AgentCore::CredsSuite::report(map {
    my $log = $logs{$_};
    my @found = grep { index($log, $_) >= 0 } @AgentCore::CredsSuite::Secrets;
    "$_: " . (@found ? "@found" : 'no secret');
} sort keys %logs);
--- request
GET /report
--- response_body
nginx's access log: no secret
the emulator's log: no secret
the stand-in's log: no secret
