# Backpressure (issue 10, item 10).  A client that stays connected but
# reads nothing: the worker stops reading the model connection (TCP
# pushes back on the model), its memory stays flat, and the stream goes
# on, complete and in order, when the client reads again.  send_timeout
# ends an invocation whose client reads nothing at all, and closes the
# model connection.
#
# The emulator's [[flood]] writes text deltas as fast as it can through a
# small send buffer and tells (GET /_emulator/progress?id=ID) how much it
# has written and whether it is blocked (the peer took nothing for
# 200 ms).

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use Socket qw(PF_INET SOCK_STREAM SOL_SOCKET SO_RCVBUF inet_aton
              pack_sockaddr_in);
use Time::HiRes qw(time sleep);
use JSON::PP ();

our $Sid = 'sess-backpressure-0123456789abcdef01234';
our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $Sid";

our $HttpConfig = $AgentCore::Test::HttpConfig
                  . "agentcore_session_zone s:1m;\n";

our $Config = "agentcore_session s;\n"
              . "location = /t { return 200 'go'; }\n"
              . $AgentCore::Test::Config;

our $Flood = 32 * 1024 * 1024;      # text bytes the model streams
our $Size = 1000;                   # per delta
# the bound on the worker's growth while stalled, in KB (make test-asan
# gives more: t/matrix/san.sh)
our $RssBound = $ENV{AGENTCORE_T_RSS_BOUND_KB} || 8 * 1024;

sub read_file {
    my $f = shift;
    open(my $fh, '<', $f) or return '';
    local $/;
    return scalar <$fh>;
}

sub nginx_pid {
    my $f = $Test::Nginx::Util::PidFile
            // "$ENV{TEST_NGINX_SERVROOT}/logs/nginx.pid";
    return read_file($f) =~ /(\d+)/ ? $1 : die "no nginx pid in $f\n";
}

# the process's resident memory, in KB
sub rss {
    my $pid = shift;
    return read_file("/proc/$pid/status") =~ /^VmRSS:\s+(\d+)/m ? $1 : -1;
}

# one plain HTTP/1.0 GET to the emulator
sub emulator_get {
    my $path = shift;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $ENV{TEST_NGINX_BEDROCK_PORT},
                                  Proto => 'tcp')
        or die "emulator: $!";
    print $s "GET $path HTTP/1.0\r\n\r\n";
    local $/;
    my $r = <$s> // '';
    return $r =~ /\r\n\r\n(.*)\z/s ? $1 : '';
}

# ("bytes", "state") of the flood with this id
sub progress {
    my $id = shift;
    my $p = emulator_get("/_emulator/progress?id=$id");
    return $p =~ /^(\d+) (\w+)/ ? ($1, $2) : (0, 'none');
}

# waits (bounded) until $cond returns true; false on the deadline
sub await {
    my ($cond, $seconds) = @_;
    my $deadline = time + $seconds;

    until ($cond->()) {
        return 0 if time > $deadline;
        sleep 0.05;
    }

    return 1;
}

# a client with a 4 KB receive buffer that sends an invocation and reads
# the response head, then nothing
sub stalled_client {
    my ($prompt, $session, $port) = @_;
    my ($s, $body, $head, $buf);

    socket($s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port // $ENV{TEST_NGINX_SERVER_PORT}
                                 // $ENV{TEST_NGINX_PORT} // 1984,
                                 inet_aton('127.0.0.1')))
        or die "connect: $!";

    $body = JSON::PP->new->encode({ prompt => $prompt });
    syswrite($s, "POST /invocations HTTP/1.1\r\nHost: localhost\r\n"
                 . ($session ? "$SidHeader\r\n" : '')
                 . "Content-Length: " . length($body)
                 . "\r\nConnection: close\r\n\r\n$body");

    $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        select($rin, undef, undef, 30) or die "no response head\n";
        sysread($s, $buf, 1, length $buf) or die "no response head\n";
    }

    return $s;
}

# reads the rest; "complete=1 ordered=1" when every delta came, in order
sub read_all {
    my ($s) = @_;
    my ($raw, $n, $body, $seq, $bytes, $ok, $json);

    # bounded: 60 s without a byte ends it
    $raw = '';
    while (1) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select($rin, undef, undef, 60);
        last unless sysread($s, $raw, 1 << 20, length $raw);
    }

    $body = '';
    while ($raw =~ /\G([0-9a-f]+)\r\n/gc) {
        $n = hex $1;
        last if $n == 0;
        $body .= substr($raw, pos($raw), $n);
        pos($raw) += $n + 2;
    }

    $json = JSON::PP->new->allow_nonref;
    ($seq, $bytes, $ok) = (0, 0, 1);

    while ($body =~ /\Gdata: ([^\n]*)\n\n/gc) {
        my $t = $json->decode($1);
        if (ref $t || $t !~ /^\[(\d{8})\]x*$/ || $1 != $seq) {
            $ok = 0;
            last;
        }
        $seq++;
        $bytes += length $t;
    }

    Test::More::diag("read " . length($raw) . " bytes, "
                     . "$seq deltas, $bytes text bytes; the end: "
                     . substr($raw, -300))
        if $ENV{TEST_VERBOSE} && !($ok && $bytes == $Flood);

    return sprintf "complete=%d ordered=%d",
                   ($bytes == $Flood && pos($body) == length $body) ? 1 : 0,
                   $ok;
}

# the client reads nothing until the model connection stalls, then a
# second more, in which the model gets nothing more written (held: at
# most 64 KB, what TCP windows open up); the worker's memory grows by
# less than 8 MB (the answer's text so far, kept for the history, and
# the buffers; without backpressure it held all of its output); then the
# client reads all
sub stall_and_resume {
    my $id = shift;     # one per block: times=1 counts per id
    my ($pid, $rss0, $s, $stalled, $b1, $b2, $st2, $rss1, $res);

    $pid = nginx_pid();
    $rss0 = rss($pid);

    $s = stalled_client("[[flood bytes=$Flood size=$Size id=$id times=1]]");

    $stalled = await(sub { (progress($id))[1] =~ /^(?:blocked|done)$/ }, 30)
               && (progress($id))[1] eq 'blocked';

    ($b1) = progress($id);
    sleep 1;                   # the client keeps not reading
    ($b2, $st2) = progress($id);
    $rss1 = rss($pid);

    Test::More::diag("model bytes written when stalled: $b1, then $b2 "
                     . "($st2) of $Flood; worker RSS $rss0 KB -> $rss1 KB")
        if $ENV{TEST_VERBOSE};

    $res = read_all($s);

    return sprintf "stalled=%d held=%d flat=%d %s",
                   $stalled ? 1 : 0,
                   ($st2 eq 'blocked' && $b2 - $b1 <= 65536) ? 1 : 0,
                   ($rss1 - $rss0 < $RssBound) ? 1 : 0, $res;
}

# the client never reads: send_timeout ends the invocation
sub stall_forever {
    my $id = 'timeout';
    my ($s, $stalled, $closed);

    # times=1: the next prompt of the session joins this one (the turn
    # the client left is kept), and is answered normally
    $s = stalled_client("[[flood bytes=$Flood size=$Size id=$id times=1]]",
                        1);

    $stalled = await(sub { (progress($id))[1] =~ /^(?:blocked|done)$/ }, 30)
               && (progress($id))[1] eq 'blocked';

    # nginx closes the model connection: the emulator's next write fails
    $closed = await(sub { (progress($id))[1] eq 'closed' }, 30);

    close $s;

    return "stalled=" . ($stalled ? 1 : 0) . " closed=" . ($closed ? 1 : 0);
}

# HTTP/2, by hand (no client library here): a stream with the default
# 64 KB window, no WINDOW_UPDATE until the model connection has stalled
# and a second passed, then windows of 2 GB
sub h2_frame {
    my ($type, $flags, $sid, $payload) = @_;
    my $len = length $payload;

    return pack('CnCCN', $len >> 16, $len & 0xffff, $type, $flags, $sid)
           . $payload;
}

sub h2_literal {
    my ($name, $value) = @_;
    return "\x00" . pack('C', length $name) . $name
           . pack('C', length $value) . $value;
}

sub h2_stall_and_resume {
    my $id = 'h2';
    my ($pid, $rss0, $s, $body, $buf, $data, $stalled, $b1, $b2, $st2,
        $rss1, $end, $deadline, @seq, $ok);

    $pid = nginx_pid();
    $rss0 = rss($pid);

    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                               PeerPort => $ENV{TEST_NGINX_H2_PORT},
                               Proto => 'tcp')
        or die "connect: $!";
    binmode $s;

    $body = JSON::PP->new->encode(
        { prompt => "[[flood bytes=$Flood size=$Size id=$id times=1]]" });

    syswrite($s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        . h2_frame(4, 0, 0, '')
        . h2_frame(1, 4, 1, h2_literal(':method', 'POST')
                            . h2_literal(':scheme', 'http')
                            . h2_literal(':path', '/invocations')
                            . h2_literal(':authority', 'localhost')
                            . h2_literal('content-length', length $body))
        . h2_frame(0, 1, 1, $body));

    my $window = sub {
        syswrite($s, h2_frame(8, 0, 0, pack('N', 0x7fff0000))
                     . h2_frame(8, 0, 1, pack('N', 0x7fff0000)));
    };

    # frames as they come: SETTINGS acknowledged, DATA kept
    ($buf, $data, $end) = ('', '', 0);
    my $read = sub {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        return 0 unless select($rin, undef, undef, 0.05);
        return -1 unless sysread($s, $buf, 1 << 20, length $buf);

        while (length $buf >= 9) {
            my ($l1, $l2, $type, $flags) = unpack('CnCC', $buf);
            my $len = ($l1 << 16) | $l2;
            last if length $buf < 9 + $len;
            my $p = substr($buf, 9, $len);
            substr($buf, 0, 9 + $len, '');
            syswrite($s, h2_frame(4, 1, 0, '')) if $type == 4 && !($flags & 1);
            $data .= $p if $type == 0;
            $end = 1 if ($type == 0 && ($flags & 1)) || $type == 3
                        || $type == 7;
        }
        return 1;
    };

    $stalled = await(sub { $read->();
                           (progress($id))[1] =~ /^(?:blocked|done)$/ }, 30)
               && (progress($id))[1] eq 'blocked';

    ($b1) = progress($id);
    $deadline = time + 1;
    $read->() while time < $deadline;
    ($b2, $st2) = progress($id);
    $rss1 = rss($pid);

    Test::More::diag("HTTP/2: model bytes written when stalled: $b1, then "
                     . "$b2 ($st2); worker RSS $rss0 KB -> $rss1 KB")
        if $ENV{TEST_VERBOSE};

    $window->();
    $deadline = time + 60;
    while (!$end && time < $deadline) {
        last if $read->() < 0;
        # the windows spent are given back as they go
        $window->() if length($data) > 0x3fff0000;
    }

    @seq = ($data =~ /^data: "\[(\d{8})\]x*"\n\n/mg);
    $ok = 1;
    for my $i (0 .. $#seq) {
        if ($seq[$i] != $i) {
            $ok = 0;
            last;
        }
    }

    return sprintf "stalled=%d held=%d flat=%d complete=%d ordered=%d",
                   $stalled ? 1 : 0,
                   ($st2 eq 'blocked' && $b2 - $b1 <= 65536) ? 1 : 0,
                   ($rss1 - $rss0 < $RssBound) ? 1 : 0,
                   ($end && @seq == int(($Flood + $Size - 1) / $Size))
                   ? 1 : 0, $ok;
}

# A slow client (the issue 17 write path): the server of
# $TEST_NGINX_SLOW_PORT sends through a 4 KB socket buffer (listen
# sndbuf=4k) to a client with a 4 KB receive buffer, so a write event
# sends a few KB and the rest of the output stays in the write filter
# (c->buffered) for the next one: the main request's write handler
# re-arms send_timeout each time.  The client reads as fast as the
# windows let it: the stream is complete, in order, and the model call
# ends normally.  Deltas of 64 KB: one event is more than a write
# event can send, whatever the socket's buffers
our $BigSize = 64000;

sub slow_reader {
    my ($id, $bytes) = @_;
    local $Flood = $bytes;
    my ($s, $res, $state);

    $s = stalled_client("[[flood bytes=$bytes size=$BigSize id=$id times=1]]",
                        0, $ENV{TEST_NGINX_SLOW_PORT});
    $res = read_all($s);
    close $s;
    (undef, $state) = progress($id);

    return "$res model=$state";
}

# the same client reads 256 KB that way, then nothing: send_timeout,
# re-armed by the partial writes, ends the invocation ("client timed
# out") and closes the model connection; the session is free again
sub slow_then_stop {
    my $id = 'slow-stop';
    my ($s, $got, $buf, $closed);

    $s = stalled_client("[[flood bytes=$Flood size=$BigSize id=$id times=1]]",
                        1, $ENV{TEST_NGINX_SLOW_PORT});
    $got = 0;
    while ($got < 256 * 1024) {
        my $rin = '';
        vec($rin, fileno($s), 1) = 1;
        last unless select($rin, undef, undef, 30);
        last unless sysread($s, $buf, 4096);
        $got += length $buf;
    }

    $closed = await(sub { (progress($id))[1] eq 'closed' }, 30);
    close $s;

    return "read=" . ($got >= 256 * 1024 ? 1 : 0)
           . " closed=" . ($closed ? 1 : 0);
}

our $SlowServer = q[
server {
    listen 127.0.0.1:$TEST_NGINX_SLOW_PORT sndbuf=4k;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_session s;
    send_timeout 1s;

    location = /invocations { agentcore; }
] . $AgentCore::Test::ModelLocation . "}\n";

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $main::HttpConfig);
    }

    if (!defined $block->config) {
        $block->set_value("config", $main::Config);
    }

    AgentCore::Test::defaults($block);
});

# the HTTP/2 server's port
$ENV{TEST_NGINX_H2_PORT} = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0')
        or die "no free port: $!";
    $l->sockport;
};

# the slow client's server's port
$ENV{TEST_NGINX_SLOW_PORT} = do {
    my $l = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0')
        or die "no free port: $!";
    $l->sockport;
};

log_level('info');
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a client that stops reading stalls the model stream; it completes when the client reads again
--- request
GET /t
--- response_body_filters eval
sub { main::stall_and_resume('resume') }
--- response_body: stalled=1 held=1 flat=1 complete=1 ordered=1
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: send_timeout ends an invocation whose client reads nothing, cancels the model call and frees the session
--- config eval: "send_timeout 1s;\n" . $main::Config
--- more_headers eval: $main::SidHeader
--- request eval
["GET /t", AgentCore::Test::invoke("again")]
--- response_body_filters eval
sub {
    return main::stall_forever() if $_[0] eq 'go';
    my $text = AgentCore::Test::sse_text($_[0]);
    return $text =~ /\AHello! You said: .*again\z/s ? "answered" : $text;
}
--- response_body eval
["stalled=1 closed=1", "answered"]
--- timeout: 60
--- error_log
client timed out
--- no_error_log
[alert]
[crit]



=== TEST 3: the same with agentcore_sse_coalesce on
--- config eval: "agentcore_sse_coalesce on;\n" . $main::Config
--- request
GET /t
--- response_body_filters eval
sub { main::stall_and_resume('coalesce') }
--- response_body: stalled=1 held=1 flat=1 complete=1 ordered=1
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 4: HTTP/2: a stream whose window the client does not open stalls the model stream; it completes when the window opens
--- http_config eval
$main::HttpConfig . q[
server {
    listen 127.0.0.1:$TEST_NGINX_H2_PORT http2;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;

    location = /invocations { agentcore; }
] . $AgentCore::Test::ModelLocation . "}\n"
--- request
GET /t
--- response_body_filters eval
sub { main::h2_stall_and_resume() }
--- response_body: stalled=1 held=1 flat=1 complete=1 ordered=1
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 5: a slow client: every write takes a few KB, the write handler waits for the next write event; the stream completes in order
--- http_config eval: $main::HttpConfig . $main::SlowServer
--- request
GET /t
--- response_body_filters eval
sub { main::slow_reader('slow', 4 * 1024 * 1024) }
--- response_body: complete=1 ordered=1 model=done
--- timeout: 60
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: a slow client that stops reading: send_timeout, re-armed by the partial writes, ends the invocation, cancels the model call and frees the session
--- http_config eval: $main::HttpConfig . $main::SlowServer
--- more_headers eval: $main::SidHeader
--- request eval
["GET /t", AgentCore::Test::invoke("again")]
--- response_body_filters eval
sub {
    return main::slow_then_stop() if $_[0] eq 'go';
    my $text = AgentCore::Test::sse_text($_[0]);
    return $text =~ /\AHello! You said: .*again\z/s ? "answered" : $text;
}
--- response_body eval
["read=1 closed=1", "answered"]
--- timeout: 60
--- error_log
client timed out
--- no_error_log
[alert]
[crit]
