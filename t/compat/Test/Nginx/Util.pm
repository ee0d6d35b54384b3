package Test::Nginx::Util;

# Server-side half of the project's compat runner for the Test::Nginx::Socket
# file format: settings, nginx.conf generation, the server root, starting and
# stopping nginx (optionally under valgrind), the embedded TCP mock server and
# error-log access.  Written for this project; used only when openresty's
# Test::Nginx is not installed (see t/compat/README).

use strict;
use warnings;

use Exporter 'import';
use Carp qw(croak);
use Cwd ();
use File::Basename ();
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Socket::INET ();
use List::Util qw(first);
use POSIX qw(:sys_wait_h SIGQUIT SIGKILL SIGTERM);
use Scalar::Util qw(looks_like_number);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(
    bail_out is_running parse_time trim expand_env_in_text use_http2
    repeat_each worker_connections workers master_on master_off
    master_process_enabled log_level no_shuffle no_root_location
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout env_to_nginx no_long_string
    add_block_preprocessor add_cleanup_handler check_accum_error_log
    config_preamble use_hup no_nginx_manager
    $ServerPort $ServerPortForClient $ServerAddr $ServerName $ServRoot
    $HtmlDir $LogDir $ErrLogFile $AccLogFile $ConfFile $PidFile
    $RepeatEach $NoLongString $NoShuffle $UseValgrind $Timeout
    $NginxVersion $NginxBinary @BlockPreprocessors $CheckAccumErrLog
);

# ---------------------------------------------------------------- settings

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules = $ENV{TEST_NGINX_LOAD_MODULES} // '';
our $ServerAddr = '127.0.0.1';
our $ServerName = 'localhost';
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT}
                  || 1984;
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
our $LogLevel = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $Workers = 1;
our $WorkerConnections = 64;
our $MasterProcessEnabled = _on_off($ENV{TEST_NGINX_MASTER_PROCESS});
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $RepeatEach = 1;
our $NoShuffle = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $NoRootLocation = 0;
our $NoLongString;
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
our $CheckAccumErrLog = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $EventType = $ENV{TEST_NGINX_EVENT_TYPE};
our $PostponeOutput = $ENV{TEST_NGINX_POSTPONE_OUTPUT};
our $ConfigPreamble = '';
our $NginxVersion;
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT}
                                    || 't/servroot');
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;

our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";
our $StderrFile = "$ServRoot/nginx.stderr";
our $ValgrindLog = "$ServRoot/valgrind.log";

my @TempPaths = qw(client_body proxy fastcgi uwsgi scgi);

# suppressions for stock nginx's own never-freed memory (t/compat/)
our $CoreSuppressions = File::Spec->rel2abs(
    File::Spec->catfile(File::Basename::dirname(__FILE__), '..', '..',
                        'valgrind.suppress'));

sub _on_off {
    my $v = shift;
    return 'off' if !defined $v || $v eq '' || $v eq '0' || lc $v eq 'off';
    return 'on';
}

# ------------------------------------------------------- settings (public)

sub repeat_each (@) { $RepeatEach = shift if @_; return $RepeatEach }
sub worker_connections (@) {
    $WorkerConnections = shift if @_;
    return $WorkerConnections;
}
sub workers (@) { $Workers = shift if @_; return $Workers }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    $MasterProcessEnabled = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcessEnabled;
}
sub log_level (@) { $LogLevel = shift if @_; return $LogLevel }
sub no_shuffle () { $NoShuffle = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub server_name (@) { $ServerName = shift if @_; return $ServerName }
sub server_addr (@) { $ServerAddr = shift if @_; return $ServerAddr }
sub server_root () { return $ServRoot }
sub html_dir () { return $HtmlDir }
sub server_port (@) { $ServerPort = shift if @_; return $ServerPort }
sub server_port_for_client (@) {
    $ServerPortForClient = shift if @_;
    return $ServerPortForClient;
}
sub timeout (@) { $Timeout = shift if @_; return $Timeout }
sub no_long_string () { $NoLongString = 1 }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub config_preamble ($) { $ConfigPreamble = shift }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }

sub use_hup () {
    warn "WARNING: use_hup() is not supported by the compat runner; "
         . "nginx is restarted for every block\n";
}

sub no_nginx_manager () {
    croak "no_nginx_manager() is not supported by the compat runner";
}

sub env_to_nginx (@) {
    croak "env_to_nginx: no arguments specified" if !@_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v;
    }
}

# ------------------------------------------------------------ small helpers

our $UseHttp2 = $ENV{TEST_NGINX_USE_HTTP2};

# --- http2 in a block, or TEST_NGINX_USE_HTTP2=1 for every block that can
# (not raw or pipelined requests, not an explicit HTTP/1.0 request)
sub use_http2 ($) {
    my $block = shift;
    my $name = $block->name;
    if (defined $block->http2) {
        bail_out("$name - cannot use --- http2 with --- raw_request")
            if defined $block->raw_request;
        bail_out("$name - cannot use --- http2 with --- pipelined_requests")
            if defined $block->pipelined_requests;
        return 1;
    }
    return 0 if !$UseHttp2;
    return 0 if defined $block->raw_request
                || defined $block->pipelined_requests;
    my $req = $block->request;
    return 0 if !defined $req;
    return 0 if !ref $req && $req =~ m{HTTP/1\.0};
    return 1;
}

sub parse_time ($) {
    my $t = shift;
    return undef if !defined $t;
    $t =~ s/^\s+|\s+$//g;
    if ($t =~ /^([\d.]+)ms$/) {
        return $1 / 1000;
    }
    if ($t =~ /^([\d.]+)s?$/) {
        return $1 + 0;
    }
    croak "bad time value \"$t\"";
}

sub trim ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\s+/ /g;
    return $s;
}

# true when the process exists and is not a zombie
sub is_running ($) {
    my $pid = shift;
    return 0 if !$pid || !kill(0, $pid);
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh> // '';
        close $fh;
        return 0 if $stat =~ /^\d+ \(.*\) Z/s;
    }
    return 1;
}

sub cleanup {
    for my $h (@CleanupHandlers) {
        $h->();
    }
    stop_tcp_server();
}

sub bail_out (@) {
    cleanup();
    stop_nginx('bail out') if !$ENV{TEST_NGINX_NO_CLEAN};
    Test::More::BAIL_OUT(join '', @_);
}

sub get_nginx_version () {
    my $out = `$NginxBinary -v 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("cannot run \"$NginxBinary -v\" (set TEST_NGINX_BINARY): "
                 . ($out // $!));
    }
    if ($out =~ m{/(\d+)\.(\d+)\.(\d+)}) {
        return sprintf "%d.%03d%03d", $1, $2, $3;
    }
    bail_out("cannot parse the output of \"$NginxBinary -v\": $out");
}

# ------------------------------------------------------------ random ports

sub _port_is_free {
    my $port = shift;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port, Proto => 'tcp',
                                  Listen => 1, ReuseAddr => 1);
    return 0 if !$s;
    close $s;
    return 1;
}

sub gen_rand_port {
    my $used = shift;
    for (1 .. 1000) {
        my $port = 1985 + int rand(65535 - 1985);
        next if $used->{$port};
        return $port if _port_is_free($port);
    }
    return undef;
}

# Replaces every $TEST_NGINX_XXX in $text: $TEST_NGINX_RAND_PORT_N by a free
# port chosen once per block (kept in %$rand_ports), anything else by the
# environment variable of that name (a missing one is an error).
sub expand_env_in_text ($$$) {
    my ($text, $name, $rand_ports) = @_;
    return undef if !defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        my $val;
        if ($var =~ /^TEST_NGINX_RAND_PORT_\d+$/) {
            if (!defined $rand_ports->{$var}) {
                my %used = ($ServerPort => 1,
                            map { $_ => 1 } values %$rand_ports);
                my $p = gen_rand_port(\%used);
                bail_out("$name - no free port found for \$$var") if !$p;
                $rand_ports->{$var} = $p;
            }
            $val = $rand_ports->{$var};
        } else {
            bail_out("$name - No environment $var defined.")
                if !defined $ENV{$var};
            $val = $ENV{$var};
        }
        $val;
    }ge;
    return $text;
}

# ------------------------------------------------------------- server root

# make test-asan (t/matrix/san.sh): UBSan writes its reports to stderr,
# which is nginx's error log once that is open, and the next block
# removes the logs: TEST_NGINX_SANITIZER_LOG collects the sanitizer
# lines of each block's error log and stderr before they go
sub _keep_sanitizer_lines () {
    my $keep = $ENV{TEST_NGINX_SANITIZER_LOG} or return;
    my @found;
    for my $f ($ErrLogFile, $StderrFile) {
        open my $in, '<', $f or next;
        my $n = 0;      # the report's lines after its first (its stack)
        while (my $l = <$in>) {
            if ($l =~ /runtime error:|(?:Address|Leak|UndefinedBehavior)Sanitizer/) {
                $n = 40;
            } elsif ($n == 0 || $l !~ /^\s*(?:#\d|Direct|Indirect|$)/) {
                $n = 0;
                next;
            }
            $n--;
            push @found, "$f: $l";
        }
    }
    @found = _drop_suppressed(_drop_init_pool_leak(@found));
    return if !@found;
    open my $out, '>>', $keep or bail_out("cannot append to $keep: $!");
    print $out "$0:\n", @found;
}

# nginx's own: when its configuration fails (--- must_die, "nginx -t"
# blocks) main() exits without destroying the pool it made for the
# initial cycle (ngx_create_pool called from main, 1 KB).  A LeakSanitizer
# report of that leak and no other is dropped; any other leak keeps it
sub _drop_init_pool_leak {
    my (@lines, @out, @report);
    @lines = @_;
    while (@lines) {
        my $l = shift @lines;
        if ($l !~ /ERROR: LeakSanitizer/) {
            push @out, $l;
            next;
        }
        @report = ($l);
        while (@lines && $report[-1] !~ /SUMMARY:/) {
            push @report, shift @lines;
        }
        my $text = join '', @report;
        my @leaks = split /(?:Direct|Indirect) leak/, $text;
        shift @leaks;
        my $ours = grep { !/#2 \S+ in ngx_create_pool .*\n.*#3 \S+ in main src\/core\/nginx\.c/ }
                   @leaks;
        push @out, @report if $ours || !@leaks;
    }
    return @out;
}

# UBSan's suppressions (t/matrix/ubsan.supp, "nonnull-attribute:FILE")
# applied again to the lines kept: a process that lost UBSAN_OPTIONS
# (seen in t/010-credentials-refresh.t on 1.31.4: its reports come
# without the stack print_stacktrace=1 gives) reports them all the same
sub _drop_suppressed {
    my @lines = @_;
    my ($supp) = ($ENV{UBSAN_OPTIONS} // '') =~ /suppressions=([^:]+)/;
    return @lines if !$supp || !open(my $in, '<', $supp);
    my %files = map { /^nonnull-attribute:(\S+)/ ? ($1 => 1) : () } <$in>;
    return grep {
        !(/(?:^|\/)([^\/\s]+):\d+:\d+: runtime error: null pointer passed as argument/
          && $files{$1})
    } @lines;
}

sub setup_server_root () {
    if (-d $ServRoot) {
        _keep_sanitizer_lines();
        remove_tree($ConfDir, $HtmlDir, $LogDir, $StderrFile, $ValgrindLog,
                    glob("$ServRoot/*_temp"), glob("$ServRoot/*_cache"));
    }
    for my $d ($ServRoot, $LogDir, $HtmlDir, $ConfDir) {
        next if -d $d;
        make_path($d) or bail_out("cannot create directory $d: $!");
    }
    open my $out, '>', "$HtmlDir/index.html"
        or bail_out("cannot write $HtmlDir/index.html: $!");
    print $out '<html><head><title>It works!</title></head>'
               . '<body>It works!</body></html>';
    close $out;
}

sub write_user_files ($$) {
    my ($block, $rand_ports) = @_;
    my $name = $block->name;
    my $files = $block->user_files;
    return if !$files;

    if (!ref $files) {
        my @list;
        my $cur;
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                $cur = [$1, '', $2];
                push @list, $cur;
            } elsif ($cur) {
                $cur->[1] .= $line;
            } elsif ($line =~ /\S/) {
                bail_out("$name - user_files: content before the first "
                         . "\">>> file\" line");
            }
        }
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - user_files: bad value type " . ref($files));
    }

    for my $f (@$files) {
        my ($fname, $body, $date) = @$f;
        $body //= '';
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{^(.*)/}) {
            make_path($1) if !-d $1;
        }
        $body = expand_env_in_text($body, $name, $rand_ports);
        open my $out, '>', $path
            or bail_out("$name - cannot write $path: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - cannot set the date of $path");
        }
    }
}

# ---------------------------------------------------------------- nginx.conf

sub write_config_file ($$$) {
    my ($block, $config, $rand_ports) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config, $name,
                                         $rand_ports) // '';
    my $main_config = expand_env_in_text($block->main_config, $name,
                                         $rand_ports) // '';
    my $post_main = expand_env_in_text($block->post_main_config, $name,
                                       $rand_ports) // '';
    $config //= '';

    my $server_name = $block->server_name // $ServerName;
    (my $quoted_name = $server_name) =~ s/(['\\])/\\$1/g;

    # under valgrind nginx stays in the foreground, one process; not for
    # --- must_die blocks, which never run under valgrind
    my $vg = $UseValgrind && !defined $block->must_die;
    my $daemon = $vg ? 'off' : 'on';
    my $master = $vg ? 'off' : $MasterProcessEnabled;
    my $level = $block->log_level || $LogLevel;

    my $listen_opts = use_http2($block) ? ' http2' : '';

    # as in Test::Nginx, TEST_NGINX_LOAD_MODULES comes after main_config
    for my $m (grep { length } split /\s+/, $LoadModules) {
        $main_config .= "\nload_module $m;";
    }

    my $conf = <<"_EOC_";
worker_processes  $Workers;
daemon $daemon;
master_process $master;
error_log $ErrLogFile $level;
pid       $PidFile;
env ASAN_OPTIONS;
env UBSAN_OPTIONS;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
_EOC_

    for my $v (@EnvToNginx) {
        my $e = $v =~ /\s/ ? "'$v'" : $v;
        $conf .= "env $e;\n";
    }

    my $temp = '';
    for my $t (@TempPaths) {
        next if $http_config =~ /\b${t}_temp_path\b/;
        $temp .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }

    my $postpone = '';
    if (defined $PostponeOutput && $http_config !~ /\bpostpone_output\b/) {
        $postpone = "    postpone_output $PostponeOutput;\n";
    }

    $conf .= <<"_EOC_";

$main_config

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;

$temp$postpone
$http_config

    server {
        listen          $ServerPort$listen_opts;
        server_name     '$quoted_name';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

_EOC_

    if (!$NoRootLocation) {
        $conf .= <<"_EOC_";
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }

    $conf .= <<"_EOC_";
    }
}

$post_main

events {
    accept_mutex off;

    worker_connections  $WorkerConnections;
_EOC_
    $conf .= "    use $EventType;\n" if $EventType;
    $conf .= "}\n";

    if ($> == 0) {
        $conf .= "user root;\n";
    }

    open my $out, '>', $ConfFile or bail_out("cannot write $ConfFile: $!");
    print $out $conf;
    close $out;
}

# ------------------------------------------------------------ nginx process

our $ChildPid;          # nginx (or valgrind) when it is our direct child
our $NginxRunning = 0;  # an nginx started by us is (believed to be) up

sub read_pid_file () {
    open my $in, '<', $PidFile or return undef;
    my $pid = <$in>;
    close $in;
    return undef if !defined $pid;
    chomp $pid;
    return $pid =~ /^\d+$/ ? $pid : undef;
}

sub _read_file {
    my $f = shift;
    open my $in, '<', $f or return '';
    local $/;
    my $d = <$in>;
    close $in;
    return $d // '';
}

sub nginx_stderr () { return _read_file($StderrFile) }

sub _spawn {
    my ($cmd, $new_group) = @_;
    my $pid = fork();
    bail_out("fork() failed: $!") if !defined $pid;
    if ($pid == 0) {
        setpgrp(0, 0) if $new_group;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $StderrFile;
        { no warnings 'exec'; exec { $cmd->[0] } @$cmd; }
        POSIX::_exit(127);
    }
    return $pid;
}

sub _nginx_cmd {
    return [$NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile];
}

sub _valgrind_cmd {
    my @opts;
    if ($UseValgrind =~ /^\d+$/) {
        @opts = ('--tool=memcheck', '--leak-check=full',
                 '--show-possibly-lost=no', '--num-callers=30',
                 '--gen-suppressions=all');
        push @opts, "--suppressions=$CoreSuppressions"
            if -f $CoreSuppressions;
        for my $s ('t/valgrind.suppress', 'valgrind.suppress') {
            if (-f $s) {
                push @opts, '--suppressions=' . File::Spec->rel2abs($s);
                last;
            }
        }
    } else {
        @opts = split ' ', $UseValgrind;
    }
    return ['valgrind', "--log-file=$ValgrindLog", @opts, @{ _nginx_cmd() }];
}

# Is something listening on TCP $port?  Reads /proc/net/tcp{,6} so that no
# connection (and no "client closed connection" log line) is made.
sub port_listening ($) {
    my $port = shift;
    my $hex = sprintf ':%04X', $port;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        while (my $l = <$in>) {
            my @c = split ' ', $l;
            next if @c < 4;
            if ($c[1] =~ /\Q$hex\E$/ && $c[3] eq '0A') {
                close $in;
                return 1;
            }
        }
        close $in;
    }
    return 0;
}

# Starts nginx for the configuration already written.  Returns a hash:
# { ok => 1 } or { ok => 0, status => $?, exit => N, stderr => "..." }.
# With $must_die, nginx is expected to fail and no retry is made.
sub start_nginx ($$) {
    my ($name, $must_die) = @_;

    unlink $StderrFile;

    if ($UseValgrind && !$must_die) {
        $ChildPid = _spawn(_valgrind_cmd(), 1);
        my $deadline = time + 60;
        while (time < $deadline) {
            if (waitpid($ChildPid, WNOHANG) == $ChildPid) {
                my $st = $?;
                undef $ChildPid;
                return { ok => 0, status => $st, exit => $st >> 8,
                         stderr => nginx_stderr()
                                   . _read_file($ValgrindLog) };
            }
            if (port_listening($ServerPort)) {
                $NginxRunning = 1;
                return { ok => 1 };
            }
            sleep 0.02;
        }
        stop_nginx($name);
        return { ok => 0, status => -1, exit => -1,
                 stderr => "nginx under valgrind did not listen on port "
                           . "$ServerPort within 60 s\n" . nginx_stderr() };
    }

    my $deadline = time + 5;
    my $delay = 0.05;
    while (1) {
        my $pid = _spawn(_nginx_cmd(), 0);
        my $status = _wait_child($pid, 30);
        if (!defined $status) {
            kill SIGKILL, $pid;
            waitpid($pid, 0);
            return { ok => 0, status => -1, exit => -1, signal => 0,
                     stderr => "nginx did not return within 30 s (it should "
                               . "daemonize or exit)\n" . nginx_stderr() };
        }
        my $res = { status => $status, exit => $status >> 8,
                    signal => $status & 127, stderr => nginx_stderr() };
        if ($status == 0) {
            # "daemon on": the parent exits once the listening sockets are
            # open; the pid file appears a moment later, in the daemon.
            $NginxRunning = 1;
            $res->{ok} = 1;
            return $res;
        }
        $res->{ok} = 0;
        return $res if $must_die;
        # only a port still held by a dying nginx is worth a retry
        if ($res->{stderr} =~ /Address already in use/ && time < $deadline) {
            sleep $delay;
            $delay *= 2 if $delay < 0.5;
            unlink $StderrFile;
            next;
        }
        return $res;
    }
}

# waitpid with a deadline: the status, or undef if still running
sub _wait_child {
    my ($pid, $secs) = @_;
    my $deadline = time + $secs;
    my $delay = 0.001;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        return $? if $r == $pid;
        return -1 if $r == -1;
        return undef if time > $deadline;
        sleep $delay;
        $delay *= 2 if $delay < 0.02;
    }
}

# Stops the nginx we started: QUIT, then wait for the process to be gone
# (waitpid for our own child, else polling the pid), KILL after a deadline.
sub stop_nginx ($) {
    my ($name) = @_;
    my $pid = $ChildPid;
    my $own = defined $pid;

    if (!$own) {
        $pid = read_pid_file();
        if (!$pid && $NginxRunning) {
            # the daemon may not have written its pid file yet
            my $deadline = time + 2;
            while (!$pid && time < $deadline) {
                sleep 0.01;
                $pid = read_pid_file();
            }
        }
    }

    $NginxRunning = 0;
    return if !$pid;

    if ($own ? waitpid($pid, WNOHANG) == 0 : is_running($pid)) {
        kill SIGQUIT, $pid;
        my $deadline = time + ($own && $UseValgrind ? 120 : $Timeout);
        while (time < $deadline) {
            if ($own) {
                last if waitpid($pid, WNOHANG) == $pid;
            } else {
                last if !is_running($pid);
            }
            sleep 0.01;
        }
        if ($own ? kill(0, $pid) && waitpid($pid, WNOHANG) == 0
                 : is_running($pid))
        {
            warn "$name - nginx (pid $pid) did not exit after SIGQUIT, "
                 . "killing it\n";
            kill SIGKILL, ($own ? -$pid : $pid);
            if ($own) {
                waitpid($pid, 0);
            } else {
                my $d2 = time + 5;
                sleep 0.01 while is_running($pid) && time < $d2;
            }
        }
    }

    undef $ChildPid;
    unlink $PidFile if -f $PidFile && !is_running($pid);
}

# Returns the interesting part of the valgrind log, '' when it is clean.
sub valgrind_errors () {
    my $log = _read_file($ValgrindLog);
    return '' if $log eq '';
    my @lines = split /\n/, $log;
    my $bad = qr/Invalid\ (?:read|write|free)|uninitialised|Syscall\ param
                 |are\ definitely\ lost|Mismatched\ free
                 |Source\ and\ destination\ overlap
                 |Process\ terminating|Jump\ to\ the\ invalid/x;
    my $start = first { $lines[$_] =~ $bad } 0 .. $#lines;
    if (!defined $start) {
        my ($lost) = $log =~ /definitely lost: ([\d,]+) bytes/;
        if (defined $lost && $lost =~ /[1-9]/) {
            $start = first { $lines[$_] =~ /LEAK SUMMARY/ } 0 .. $#lines;
            $start //= 0;
        }
    }
    return '' if !defined $start;
    my $end = $start + 80 > $#lines ? $#lines : $start + 80;
    return join "\n", @lines[$start .. $end];
}

# ------------------------------------------------------------- error log

our $ErrLogPos = 0;
our $BlockErrLogPos = 0;

sub mark_error_log_start () {
    $BlockErrLogPos = (-s $ErrLogFile) || 0;
    $ErrLogPos = $BlockErrLogPos;
}

# Waits (bounded) until nginx stops appending to the error log, so lines
# written by the log phase or by connection teardown are seen.
sub _settle_log {
    my $file = shift;
    my $size = (-s $file) || 0;
    my $stable_since = time;
    my $deadline = time + 0.3;
    while (time < $deadline) {
        sleep 0.005;
        my $s = (-s $file) || 0;
        if ($s != $size) {
            $size = $s;
            $stable_since = time;
        } elsif (time - $stable_since >= 0.03) {
            last;
        }
    }
}

# The error-log lines not yet seen by this block (all of this block's lines
# with check_accum_error_log).
sub error_log_data () {
    _settle_log($ErrLogFile);
    open my $in, '<', $ErrLogFile or return [];
    my $from = $CheckAccumErrLog ? $BlockErrLogPos : $ErrLogPos;
    seek $in, $from, 0 if $from > 0;
    my @lines = <$in>;
    $ErrLogPos = tell $in if !$CheckAccumErrLog;
    close $in;
    return \@lines;
}

sub access_log_data () {
    _settle_log($AccLogFile);
    open my $in, '<', $AccLogFile or return [];
    my @lines = <$in>;
    close $in;
    return \@lines;
}

# ------------------------------------------------------ embedded TCP server

our $TcpServerPid;
our $TcpQueryFile;

sub start_tcp_server ($$) {
    my ($block, $target) = @_;
    my $name = $block->name;

    my $reply = $block->tcp_reply;
    if (!defined $reply && !defined $block->tcp_shutdown) {
        bail_out("$name - --- tcp_listen without --- tcp_reply");
    }

    my $sock;
    if ($target =~ /^\d+$/) {
        my $deadline = time + 5;
        while (1) {
            $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => $target,
                                          Proto => 'tcp', ReuseAddr => 1,
                                          Listen => 16);
            last if $sock || time > $deadline;
            sleep 0.05;
        }
    } elsif ($target =~ m{\S+\.sock$}) {
        require IO::Socket::UNIX;
        unlink $target;
        $sock = IO::Socket::UNIX->new(Local => $target, Listen => 16,
                                      Type => Socket::SOCK_STREAM());
    } else {
        bail_out("$name - bad --- tcp_listen target: $target");
    }
    bail_out("$name - cannot listen on $target: $!") if !$sock;

    my $req_len = $block->tcp_query_len;
    $req_len = length $block->tcp_query
        if !defined $req_len && defined $block->tcp_query;
    $TcpQueryFile = "$ServRoot/tcp_query.bin";
    unlink $TcpQueryFile;

    my $pid = fork();
    bail_out("fork() failed: $!") if !defined $pid;
    if ($pid) {
        close $sock;
        $TcpServerPid = $pid;
        return;
    }

    # child: serve one connection, then exit
    Test::More->builder->no_ending(1);
    $SIG{PIPE} = 'IGNORE';
    my $client = $sock->accept;
    POSIX::_exit(1) if !$client;

    my ($no_read, $no_write);
    if (defined $block->tcp_shutdown) {
        my $how = $block->tcp_shutdown;
        my $d = parse_time($block->tcp_shutdown_delay);
        sleep $d if $d;
        shutdown $client, $how;
        $no_read = 1 if $how == 0 || $how == 2;
        $no_write = 1 if $how == 1 || $how == 2;
    }

    my $buf = '';
    if (!$no_read) {
        while (1) {
            my $n = sysread $client, my $chunk, 65536;
            last if !$n;
            $buf .= $chunk;
            if (open my $o, '>', $TcpQueryFile) {
                binmode $o;
                print $o $buf;
                close $o;
            }
            last if !$req_len || length $buf >= $req_len;
        }
    }

    my $delay = parse_time($block->tcp_reply_delay);
    sleep $delay if $delay;

    if (!$no_write && defined $reply) {
        $reply = $reply->($buf) if ref $reply eq 'CODE';
        for my $r (ref $reply eq 'ARRAY' ? @$reply : ($reply)) {
            my $off = 0;
            while ($off < length $r) {
                my $n = syswrite $client, $r, length($r) - $off, $off;
                last if !$n;
                $off += $n;
            }
        }
    }

    if (defined $block->tcp_no_close) {
        sleep 3600 while 1;
    }
    close $client;
    POSIX::_exit(0);
}

sub tcp_query_data () {
    return _read_file($TcpQueryFile);
}

sub stop_tcp_server () {
    return if !$TcpServerPid;
    kill SIGTERM, $TcpServerPid;
    waitpid($TcpServerPid, 0);
    undef $TcpServerPid;
}

our $MainPid = $$;

END {
    # not in processes a test forked (mock servers, helpers)
    return if $$ != $MainPid;
    my $status = $?;
    cleanup();
    stop_nginx('END') if !$ENV{TEST_NGINX_NO_CLEAN} || $ChildPid;
    $? = $status;
}

1;
