#!/usr/bin/perl
#
# bedrock-emulator.pl: a local Amazon Bedrock ConverseStream emulator.
#
# Core Perl only. Serves POST /model/{modelId}/converse-stream over
# HTTP/1.1 (fork per connection, keep-alive), checks SigV4 or Bearer auth,
# validates the request JSON and answers with an
# application/vnd.amazon.eventstream body, one HTTP chunk per frame.
# Test scenarios are chosen by [[directive key=value ...]] markers in the
# text of the last user message; see emulator/README.md.
#
# Usage: bedrock-emulator.pl [--listen 127.0.0.1:0] [--key AKID:SECRET[:TOKEN]]
#            [--bearer TOKEN] [--delay-ms N] [--log FILE] [--quiet]
#            [--no-clock-check] [--no-auth] [--state-dir DIR]
# Prints "READY <port>" on stdout once listening.

package BedrockEmulator;

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_SNDBUF);
use POSIX qw(WNOHANG strftime);
use Compress::Zlib qw(crc32);
use JSON::PP;
use B ();
use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use Getopt::Long qw(GetOptionsFromArray);
use File::Spec;
use Fcntl qw(:flock O_RDWR O_CREAT);

our $VERSION = '1.0';

use constant {
    DEFAULT_AKID    => 'AKIDEXAMPLE',
    DEFAULT_SECRET  => 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    MAX_HEADER      => 65536,
    MAX_BODY        => 32 * 1024 * 1024,
    CLOCK_SKEW      => 300,
    CORAL           => 'http://internal.amazon.com/coral/com.amazon.coral.service/',
    BEDROCK         => 'http://internal.amazon.com/coral/com.amazon.bedrock/',
};

my %REASON = (
    100 => 'Continue', 200 => 'OK', 400 => 'Bad Request',
    401 => 'Unauthorized', 402 => 'Payment Required', 403 => 'Forbidden',
    404 => 'Not Found', 409 => 'Conflict',
    405 => 'Method Not Allowed', 408 => 'Request Timeout',
    411 => 'Length Required', 413 => 'Payload Too Large',
    424 => 'Failed Dependency', 429 => 'Too Many Requests',
    431 => 'Request Header Fields Too Large',
    500 => 'Internal Server Error', 501 => 'Not Implemented',
    502 => 'Bad Gateway', 503 => 'Service Unavailable',
    504 => 'Gateway Timeout', 505 => 'HTTP Version Not Supported',
);

my %HTTP_TYPE = (
    400 => 'ValidationException', 403 => 'AccessDeniedException',
    404 => 'ResourceNotFoundException', 408 => 'ModelTimeoutException',
    424 => 'ModelErrorException', 429 => 'ThrottlingException',
    500 => 'InternalServerException', 503 => 'ServiceUnavailableException',
);

my %HTTP_MESSAGE = (
    ThrottlingException =>
        'Too many requests, please wait before trying again.',
    ServiceUnavailableException => 'Service unavailable',
    InternalServerException =>
        'The system encountered an unexpected error during processing. '
        . 'Try your request again.',
    AccessDeniedException =>
        "You don't have access to the model with the specified model ID.",
    ResourceNotFoundException => 'The provided model identifier is invalid.',
    ModelTimeoutException => 'Model has timed out in processing the request.',
    ModelErrorException => 'The model returned an error.',
    ModelNotReadyException => 'Model is not ready for inference.',
    ValidationException => 'Malformed input request.',
);

my %EXC_MESSAGE = (
    throttlingException =>
        'Too many requests, please wait before trying again.',
    modelStreamErrorException =>
        'The model encountered an error while streaming.',
    validationException => 'Input is too long for requested model.',
    internalServerException =>
        'The system encountered an unexpected error during processing. '
        . 'Try your request again.',
    serviceUnavailableException => 'Service unavailable',
);

my $SIG_MISMATCH = 'The request signature we calculated does not match the '
    . 'signature you provided. Check your AWS Secret Access Key and signing '
    . 'method. Consult the service documentation for details.';

my @ALNUM = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');

# JSON codecs: $JIN decodes request bodies (bytes), $JCH encodes values to
# character strings (used by the ordered encoder below), $JASCII escapes
# non-ASCII as \uXXXX.
my $JIN    = JSON::PP->new->utf8->allow_nonref;
my $JCH    = JSON::PP->new->canonical->allow_nonref;
my $JASCII = JSON::PP->new->canonical->allow_nonref->ascii;

# run-time state
my %OPT;
my %KEYS;           # AKID -> [secret, token-or-undef]
my %BEARER;
my %RUNTIMES;       # --runtime ARN: the only ones found (else any)
my $PARENT_PID;
my %KIDS;
my $TOOL_COUNTER = 0;


# ---------------------------------------------------------------------------
# event-stream encoding

sub es_header_string {
    my ($name, $value) = @_;

    return pack('C', length $name) . $name
        . pack('Cn', 7, length $value) . $value;
}

sub es_message {
    my ($headers, $payload) = @_;
    my ($prelude, $msg);

    $prelude = pack('NN', 16 + length($headers) + length($payload),
                    length $headers);
    $msg = $prelude . pack('N', crc32($prelude)) . $headers . $payload;

    return $msg . pack('N', crc32($msg));
}

my %EVENT_HEADERS;

sub es_event_frame {
    my ($type, $payload, $extra) = @_;

    $EVENT_HEADERS{$type} //= es_header_string(':event-type', $type)
        . es_header_string(':content-type', 'application/json')
        . es_header_string(':message-type', 'event');
    return es_message($EVENT_HEADERS{$type} . ($extra // ''), $payload);
}

sub es_exception_frame {
    my ($type, $payload) = @_;

    return es_message(es_header_string(':exception-type', $type)
                      . es_header_string(':content-type', 'application/json')
                      . es_header_string(':message-type', 'exception'),
                      $payload);
}

sub es_error_frame {
    my ($code, $message) = @_;

    return es_message(es_header_string(':error-code', $code)
                      . es_header_string(':error-message', $message)
                      . es_header_string(':message-type', 'error'), '');
}


# ---------------------------------------------------------------------------
# JSON with a chosen key order: obj(k => v, ...) keeps the order given

sub obj { return bless [@_], 'BedrockEmulator::Obj' }

sub jenc {
    my ($v, $js) = @_;
    my ($r, @kv, @parts);

    $js //= $JCH;
    $r = ref $v;

    if ($r eq 'BedrockEmulator::Obj') {
        @kv = @$v;
        while (@kv) {
            my ($k, $x) = splice(@kv, 0, 2);
            push @parts, jstr($k) . ':' . jenc($x, $js);
        }
        return '{' . join(',', @parts) . '}';
    }

    if ($r eq 'BedrockEmulator::Raw') {
        return $$v;
    }

    if ($r eq 'ARRAY') {
        return '[' . join(',', map { jenc($_, $js) } @$v) . ']';
    }

    if (!$r && $js == $JCH && defined $v) {
        no warnings 'numeric';
        my $f = B::svref_2object(\$v)->FLAGS;
        return jstr($v) if $f & B::SVp_POK;
    }

    return $js->encode($v);
}

sub raw_json { my ($s) = @_; return bless \$s, 'BedrockEmulator::Raw' }

# a JSON string literal: the short escapes, \u00XX for other controls,
# everything else raw (the ascii modifier uses JSON::PP instead)
my %ESC = ("\"" => '\\"', "\\" => '\\\\', "\n" => '\\n', "\r" => '\\r',
           "\t" => '\\t', "\b" => '\\b', "\f" => '\\f');

sub jstr {
    my ($s) = @_;

    $s =~ s/(["\\\x00-\x1f])/$ESC{$1} \/\/ sprintf('\\u%04x', ord $1)/ge;
    return qq{"$s"};
}

my $PAD;

# a random-length run of [a-zA-Z0-9] (1..64), cut from a per-process pool
sub padding {
    $PAD //= join('', map { $ALNUM[rand @ALNUM] } 1 .. 1024);
    return substr($PAD, int(rand(960)), 1 + int(rand(64)));
}

sub to_bytes {
    my ($s) = @_;

    utf8::encode($s);
    return $s;
}


# ---------------------------------------------------------------------------
# the response plan: a list of steps executed by the writer
#   ['F', bytes | coderef]   a frame (a coderef is built at write time)
#   ['P', ms]                a pause
#   ['T', bytes]             partial frame, then the chunked terminator
#   ['C', bytes]             partial frame, then close without terminator
#   ['H']                    hang until the client closes
#   ['S', coderef]           coderef->($c) writes (false: stop)

package BedrockEmulator::Plan;

sub new {
    my ($class, %a) = @_;

    return bless { items => [], deltas => 0, delay => 0, ascii => 0,
                   in_tokens => 1, stop => undef, usage => undef,
                   t0 => $a{t0}, %a }, $class;
}

sub push_step { my $self = shift; push @{ $self->{items} }, [@_]; }

sub event {
    my ($self, $type, @pairs) = @_;
    my $json;

    push @pairs, p => BedrockEmulator::padding();
    $json = BedrockEmulator::jenc(BedrockEmulator::obj(@pairs),
                                  $self->{ascii} ? $JASCII : undef);
    $self->push_step('F', BedrockEmulator::es_event_frame(
                              $type, BedrockEmulator::to_bytes($json)));
}

sub pause_between {
    my ($self, $ms) = @_;

    $ms //= $self->{delay};
    if ($self->{deltas} > 0 && $ms > 0) {
        $self->push_step('P', $ms);
    }
    $self->{deltas}++;
}

sub message_start {
    my ($self) = @_;

    $self->event('messageStart', role => 'assistant');
}

sub text_delta {
    my ($self, $idx, $text, $ms) = @_;

    $self->pause_between($ms);
    $self->event('contentBlockDelta', contentBlockIndex => 0 + $idx,
                 delta => BedrockEmulator::obj(text => $text));
}

sub block_stop {
    my ($self, $idx) = @_;

    $self->event('contentBlockStop', contentBlockIndex => 0 + $idx);
}

sub text_block {
    my ($self, $idx, $deltas, $ms) = @_;

    $self->text_delta($idx, $_, $ms) for @$deltas;
    $self->block_stop($idx);
}

sub tool_block {
    my ($self, $idx, $name, $input_text) = @_;
    my ($id, @frags, $n, $a, $b);

    $id = BedrockEmulator::tool_use_id();
    $self->event('contentBlockStart', contentBlockIndex => 0 + $idx,
                 start => BedrockEmulator::obj(
                     toolUse => BedrockEmulator::obj(toolUseId => $id,
                                                     name => $name)));

    $n = length $input_text;
    if ($n >= 3) {
        $a = int($n / 3);
        $b = int(2 * $n / 3);
        @frags = (substr($input_text, 0, $a),
                  substr($input_text, $a, $b - $a), substr($input_text, $b));
    } elsif ($n == 2) {
        @frags = (substr($input_text, 0, 1), substr($input_text, 1));
    } else {
        @frags = ($input_text);
    }

    for my $f ('', @frags) {
        $self->pause_between();
        $self->event('contentBlockDelta', contentBlockIndex => 0 + $idx,
                     delta => BedrockEmulator::obj(
                         toolUse => BedrockEmulator::obj(input => $f)));
    }
    $self->block_stop($idx);
    return $id;
}

sub finish {
    my ($self, $stop) = @_;
    my $plan = $self;

    $stop = $self->{stop} // $stop;
    $self->event('messageStop', stopReason => $stop);

    $self->push_step('F', sub {
        my ($in, $out, $usage, $json, $cr, $cw, @cache);

        $in = $plan->{in_tokens};
        $out = $plan->{deltas} || 1;
        if ($plan->{usage}) {
            ($in, $out, $cr, $cw) = @{ $plan->{usage} };
            push @cache, cacheReadInputTokens => 0 + $cr if $cr >= 0;
            push @cache, cacheWriteInputTokens => 0 + $cw if $cw >= 0;
        }
        $json = BedrockEmulator::jenc(BedrockEmulator::obj(
            usage => BedrockEmulator::obj(inputTokens => 0 + $in,
                                          outputTokens => 0 + $out,
                                          totalTokens => $in + $out,
                                          @cache),
            metrics => BedrockEmulator::obj(
                latencyMs => int((Time::HiRes::time() - $plan->{t0}) * 1000)),
            p => BedrockEmulator::padding()));
        return BedrockEmulator::es_event_frame('metadata',
                                               BedrockEmulator::to_bytes($json));
    });
}

package BedrockEmulator;


# ---------------------------------------------------------------------------
# small helpers

sub tool_use_id {
    $TOOL_COUNTER++;
    return 'tooluse_' . join('', map { $ALNUM[rand @ALNUM] } 1 .. 16)
        . sprintf('%04d', $TOOL_COUNTER % 10000);
}

sub request_id {
    my @r = map { int(rand(65536)) } 1 .. 8;
    return sprintf('%04x%04x-%04x-%04x-%04x-%04x%04x%04x', $r[0], $r[1],
                   $r[2], 0x4000 | ($r[3] & 0x0fff), 0x8000 | ($r[4] & 0x3fff),
                   $r[5], $r[6], $r[7]);
}

sub http_date {
    return strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime);
}

sub uri_encode {
    my ($s, $keep_slash) = @_;
    my $safe = $keep_slash ? 'A-Za-z0-9\-._~/' : 'A-Za-z0-9\-._~';

    utf8::encode($s) if utf8::is_utf8($s);
    $s =~ s/([^$safe])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub uri_decode {
    my ($s) = @_;

    $s =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    return $s;
}

# whitespace split keeping the spaces on the following word, like tokens
sub words {
    my ($text) = @_;

    return () unless length $text;
    return ($text =~ /(\s*\S+|\s+\z)/g);
}

sub logmsg {
    my ($line) = @_;

    print STDERR "bedrock-emulator: $line\n" unless $OPT{quiet};
    if ($OPT{log}) {
        if (open(my $fh, '>>', $OPT{log})) {
            flock($fh, LOCK_EX);
            print $fh strftime('%Y-%m-%dT%H:%M:%SZ', gmtime) . " $line\n";
            close $fh;
        }
    }
}

sub orphan_check {
    if (defined $PARENT_PID && getppid() != $PARENT_PID) {
        POSIX::_exit(0);
    }
}


# ---------------------------------------------------------------------------
# connection I/O

sub fill {
    my ($c) = @_;
    my ($rin, $n, $r);

    for (;;) {
        $rin = '';
        vec($rin, fileno($c->{sock}), 1) = 1;
        $r = select($rin, undef, undef, 1);
        if ($r > 0) {
            $n = sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf});
            return 1 if $n;
            next if !defined $n && $!{EINTR};
            return 0;
        }
        orphan_check();
    }
}

sub write_all {
    my ($c, $data) = @_;
    my ($off, $n, $len, $win);

    return 0 if $c->{dead};
    if (defined $c->{head}) {
        $data = delete($c->{head}) . $data;
    }
    $off = 0;
    $len = length $data;
    while ($off < $len) {
        $n = syswrite($c->{sock}, $data, $len - $off, $off);
        if (!defined $n) {
            if ($!{EINTR}) {
                next;
            }
            if ($!{EAGAIN} || $!{EWOULDBLOCK}) {
                $win = '';
                vec($win, fileno($c->{sock}), 1) = 1;
                select(undef, $win, undef, 1);
                next;
            }
            $c->{dead} = 1;
            return 0;
        }
        $off += $n;
        $c->{sent} += $n;
    }
    return 1;
}

sub write_chunk {
    my ($c, $data) = @_;

    return 1 unless length $data;
    return write_all($c, $c->{chunked}
                         ? sprintf("%x\r\n", length $data) . $data . "\r\n"
                         : $data);
}

sub end_chunks {
    my ($c) = @_;

    return write_all($c, "0\r\n\r\n") if $c->{chunked};
    $c->{close} = 1;
    return 1;
}

# wait until the peer closes (discarding what it sends)
sub hang {
    my ($c) = @_;

    $c->{buf} = '';
    while (fill($c)) {
        $c->{buf} = '';
    }
    $c->{close} = 1;
}

# reads one request; returns a hashref, undef at EOF, or
# {error => status, message => ...} for a malformed request
sub read_request {
    my ($c) = @_;
    my ($head, $req, @lines, $line, $len, $body, $te, $cl);

    for (;;) {
        $c->{buf} =~ s/\A(?:\r?\n)+//;
        if ($c->{buf} =~ /\A(.*?)\r?\n\r?\n/s) {
            $head = $1;
            substr($c->{buf}, 0, $+[0], '');
            last;
        }
        if (length $c->{buf} > MAX_HEADER) {
            return { error => 431, message => 'request header too large' };
        }
        return undef unless fill($c);
    }

    @lines = split /\r?\n/, $head;
    $line = shift @lines;
    if ($line !~ m{^([A-Z]+) (\S+) HTTP/(\d)\.(\d)$}) {
        return { error => 400, message => 'bad request line' };
    }
    $req = { method => $1, target => $2, major => $3, minor => $4,
             headers => [], h => {}, t0 => time };
    if ($req->{major} != 1) {
        # e.g. the h2c prior-knowledge preface "PRI * HTTP/2.0"
        return { error => 505, message => 'only HTTP/1.x is supported' };
    }

    for my $l (@lines) {
        if ($l =~ /^([!#\$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/) {
            my ($n, $v) = (lc $1, $2);
            push @{ $req->{headers} }, [$n, $v];
            $req->{h}{$n} = exists $req->{h}{$n} ? "$req->{h}{$n},$v" : $v;
        } elsif ($l =~ /^[ \t]/ && @{ $req->{headers} }) {
            return { error => 400, message => 'obsolete line folding' };
        } else {
            return { error => 400, message => 'bad header line' };
        }
    }

    $te = lc($req->{h}{'transfer-encoding'} // '');
    $cl = $req->{h}{'content-length'};

    if (($req->{h}{expect} // '') =~ /^100-continue$/i
        && $req->{minor} >= 1 && ($te ne '' || ($cl // 0) > 0)
        && length $c->{buf} == 0)
    {
        write_all($c, "HTTP/1.1 100 Continue\r\n\r\n");
    }

    if ($te ne '') {
        if ($te !~ /(?:^|,)\s*chunked\s*$/) {
            return { error => 501, message => 'unsupported transfer-encoding' };
        }
        $body = '';
        for (;;) {
            my $i;
            until (($i = index($c->{buf}, "\r\n")) >= 0) {
                return undef unless fill($c);
            }
            my $size_line = substr($c->{buf}, 0, $i + 2, '');
            if ($size_line !~ /^([0-9A-Fa-f]+)(?:;[^\r\n]*)?\r\n$/) {
                return { error => 400, message => 'bad chunk size' };
            }
            $len = hex $1;
            if ($len == 0) {
                # trailers up to an empty line
                for (;;) {
                    until (($i = index($c->{buf}, "\r\n")) >= 0) {
                        return undef unless fill($c);
                    }
                    my $t = substr($c->{buf}, 0, $i + 2, '');
                    last if $t eq "\r\n";
                }
                last;
            }
            if (length($body) + $len > MAX_BODY) {
                return { error => 413, message => 'body too large' };
            }
            while (length $c->{buf} < $len + 2) {
                return undef unless fill($c);
            }
            $body .= substr($c->{buf}, 0, $len, '');
            if (substr($c->{buf}, 0, 2, '') ne "\r\n") {
                return { error => 400, message => 'bad chunk data' };
            }
        }
    } elsif (defined $cl) {
        if ($cl !~ /^\d+$/) {
            return { error => 400, message => 'bad content-length' };
        }
        if ($cl > MAX_BODY) {
            return { error => 413, message => 'body too large' };
        }
        while (length $c->{buf} < $cl) {
            return undef unless fill($c);
        }
        $body = substr($c->{buf}, 0, $cl, '');
    } else {
        $body = '';
    }

    $req->{body} = $body;
    ($req->{path}, $req->{query}) = split /\?/, $req->{target}, 2;
    $req->{query} //= '';

    $req->{keepalive} = ($req->{major} == 1 && $req->{minor} >= 1)
        ? (($req->{h}{connection} // '') !~ /\bclose\b/i)
        : (($req->{h}{connection} // '') =~ /\bkeep-alive\b/i);
    $req->{chunked_ok} = ($req->{major} == 1 && $req->{minor} >= 1);

    return $req;
}

sub send_response {
    my ($c, $req, $status, $headers, $body) = @_;
    my $h;

    $body //= '';
    $c->{status} = $status;
    $h = "HTTP/1.1 $status " . ($REASON{$status} // 'Unknown') . "\r\n"
        . 'Date: ' . http_date() . "\r\n";
    for (my $i = 0; $i < @$headers; $i += 2) {
        $h .= "$headers->[$i]: $headers->[$i + 1]\r\n";
    }
    $h .= 'Content-Length: ' . length($body) . "\r\n";
    $h .= 'Connection: ' . ($c->{close} ? 'close' : 'keep-alive') . "\r\n";
    write_all($c, "$h\r\n$body");
}

sub send_aws_error {
    my ($c, $req, $status, $type, $suffix, $message, $extra) = @_;
    my $body;

    if ($c->{anthropic}) {
        $body = to_bytes(jenc(obj(type => 'error', error => obj(
            type => anthropic_error_type($type), message => $message))));
        $c->{note} = "$type: $message";
        send_response($c, $req, $status,
                      ['Content-Type', 'application/json',
                       'request-id', request_id()], $body);
        return;
    }

    if ($c->{openai}) {
        $body = to_bytes(jenc(obj(error => obj(
            message => $message, type => openai_error_type($type),
            param => undef, code => $status))));
        $c->{note} = "$type: $message";
        send_response($c, $req, $status,
                      ['Content-Type', 'application/json'], $body);
        return;
    }

    $body = to_bytes(jenc(obj(message => $message, @{ $extra // [] })));
    $c->{note} = "$type: $message";
    send_response($c, $req, $status,
                  ['Content-Type', 'application/json',
                   'x-amzn-RequestId', request_id(),
                   'x-amzn-ErrorType', "$type:$suffix"], $body);
}


# ---------------------------------------------------------------------------
# authentication

sub fold_ws {
    my ($v) = @_;

    $v =~ s/^[ \t]+|[ \t]+$//g;
    $v =~ s/[ \t]+/ /g;
    return $v;
}

sub canonical_query {
    my ($q) = @_;
    my @p;

    return '' unless length $q;
    for my $kv (split /&/, $q) {
        next unless length $kv;
        my ($k, $v) = split /=/, $kv, 2;
        push @p, [uri_encode(uri_decode($k)), uri_encode(uri_decode($v // ''))];
    }
    return join('&', map { "$_->[0]=$_->[1]" }
                     sort { $a->[0] cmp $b->[0] or $a->[1] cmp $b->[1] } @p);
}

sub signing_key {
    my ($secret, $date8, $region, $service) = @_;
    my $k;

    $k = hmac_sha256($date8, "AWS4$secret");
    $k = hmac_sha256($region, $k);
    $k = hmac_sha256($service, $k);
    return hmac_sha256('aws4_request', $k);
}

sub amz_epoch {
    my ($d) = @_;

    return undef unless $d =~ /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/;
    return eval { timegm($6, $5, $4, $3, $2 - 1, $1) };
}

# returns undef when the request may pass, else
# [status, type, suffix, message]
sub check_auth {
    my ($req, $service, $region) = @_;
    my ($auth, %f, @cred, $akid, $secret, $token, @signed, $chdrs, $creq,
        $sts, $sig, $date, $t, $now, $hash, $hregion);

    $service //= 'bedrock';

    return undef if $OPT{no_auth};

    $auth = $req->{h}{authorization};
    if (!defined $auth || $auth eq '') {
        $req->{auth} = 'none';
        return [403, 'MissingAuthenticationTokenException', CORAL,
                'Missing Authentication Token'];
    }

    if ($auth =~ /^Bearer\s+(\S+)\s*$/i) {
        $req->{auth} = 'bearer';
        return undef if $BEARER{$1};
        return [403, 'AccessDeniedException', BEDROCK,
                'Authentication failed: Please make sure your API Key is '
                . 'valid.'];
    }

    if ($auth !~ /^AWS4-HMAC-SHA256\s+(.*)$/s) {
        $req->{auth} = 'unknown';
        return [403, 'IncompleteSignatureException', CORAL,
                "Authorization header requires 'Credential' parameter. "
                . "Authorization header requires 'Signature' parameter. "
                . "Authorization header requires 'SignedHeaders' parameter. "
                . 'Authorization=' . ($auth =~ s/\s.*//sr)];
    }

    for my $part (split /\s*,\s*/, $1) {
        my ($k, $v) = split /=/, $part, 2;
        $f{$k} = $v if defined $v;
    }
    for my $k (qw(Credential SignedHeaders Signature)) {
        if (!defined $f{$k} || $f{$k} eq '') {
            $req->{auth} = 'sigv4';
            return [403, 'IncompleteSignatureException', CORAL,
                    "Authorization header requires '$k' parameter."];
        }
    }

    @cred = split m{/}, $f{Credential};
    $akid = $cred[0] // '';
    $req->{auth} = "sigv4:$akid";
    if (@cred != 5 || $cred[4] ne 'aws4_request') {
        return [403, 'IncompleteSignatureException', CORAL,
                "Credential should be scoped to a valid region, not "
                . "'" . ($cred[2] // '') . "'. "];
    }
    if (!$KEYS{$akid}) {
        return [403, 'UnrecognizedClientException', CORAL,
                'The security token included in the request is invalid.'];
    }
    ($secret, $token) = @{ $KEYS{$akid} };
    if ($cred[3] ne $service) {
        return [403, 'InvalidSignatureException', CORAL,
                "Credential should be scoped to correct service: "
                . "'$service'. "];
    }
    # the scope's region: a region name, and the one of the endpoint when
    # the Host names one (bedrock-runtime[-fips].REGION.amazonaws.com,
    # bedrock-agentcore.REGION.amazonaws.com), or the runtime ARN's
    $hregion = (($req->{h}{host} // '')
                =~ /^(?:bedrock-runtime(?:-fips)?|bedrock-agentcore)\.([^.]+)\.amazonaws\.com(?:\.cn)?(?::\d+)?$/)
               ? $1 : $region;
    if ($cred[2] !~ /^[a-z]{2}(?:-[a-z]+)+-\d+$/
        || (defined $hregion && $cred[2] ne $hregion))
    {
        return [403, 'InvalidSignatureException', CORAL,
                "Credential should be scoped to a valid region, not "
                . "'$cred[2]'. "];
    }
    if (defined $token
        && ($req->{h}{'x-amz-security-token'} // '') ne $token)
    {
        return [403, 'UnrecognizedClientException', CORAL,
                'The security token included in the request is invalid.'];
    }

    $date = $req->{h}{'x-amz-date'};
    if (!defined $date) {
        return [403, 'IncompleteSignatureException', CORAL,
                "Authorization header requires existence of either a "
                . "'X-Amz-Date' or a 'Date' header."];
    }
    $t = amz_epoch($date);
    if (!defined $t) {
        return [403, 'IncompleteSignatureException', CORAL,
                "Date must be in ISO-8601 'basic format'. Got '$date'. "];
    }
    if (substr($date, 0, 8) ne $cred[1]) {
        return [403, 'InvalidSignatureException', CORAL,
                "Date in Credential scope does not match YYYYMMDD from "
                . "ISO-8601 version of date from HTTP: '$cred[1]' != '"
                . substr($date, 0, 8) . "', from '$date'."];
    }
    if (!$OPT{no_clock_check}) {
        $now = int(time);
        my $fmt = sub { strftime('%Y%m%dT%H%M%SZ', gmtime shift) };
        if ($t < $now - CLOCK_SKEW) {
            return [403, 'InvalidSignatureException', CORAL,
                    "Signature expired: $date is now earlier than "
                    . $fmt->($now - CLOCK_SKEW) . ' (' . $fmt->($now)
                    . ' - 5 min.)'];
        }
        if ($t > $now + CLOCK_SKEW) {
            return [403, 'InvalidSignatureException', CORAL,
                    "Signature not yet current: $date is still later than "
                    . $fmt->($now + CLOCK_SKEW) . ' (' . $fmt->($now)
                    . ' + 5 min.)'];
        }
    }

    @signed = split /;/, $f{SignedHeaders};
    if (!grep { $_ eq 'host' } @signed) {
        return [403, 'InvalidSignatureException', CORAL,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                . 'Authorization.'];
    }

    $hash = sha256_hex($req->{body});
    if (defined $req->{h}{'x-amz-content-sha256'}
        && $req->{h}{'x-amz-content-sha256'} ne $hash
        && $req->{h}{'x-amz-content-sha256'} ne 'UNSIGNED-PAYLOAD')
    {
        return [400, 'ValidationException', CORAL,
                "The provided 'x-amz-content-sha256' header does not match "
                . 'what was computed.'];
    }

    $chdrs = '';
    for my $n (@signed) {
        my @vals = map { fold_ws($_->[1]) }
                   grep { $_->[0] eq lc $n } @{ $req->{headers} };
        $chdrs .= lc($n) . ':' . join(',', @vals) . "\n";
    }

    $creq = join("\n", $req->{method}, uri_encode($req->{path}, 1),
                 canonical_query($req->{query}), $chdrs,
                 $f{SignedHeaders}, $hash);
    $sts = join("\n", 'AWS4-HMAC-SHA256', $date,
                join('/', @cred[1 .. 4]), sha256_hex($creq));
    $sig = hmac_sha256_hex($sts, signing_key($secret, @cred[1 .. 3]));

    if ($sig ne lc $f{Signature}) {
        return [403, 'InvalidSignatureException', CORAL, $SIG_MISMATCH];
    }

    return undef;
}


# ---------------------------------------------------------------------------
# request validation

sub validate_body {
    my ($json) = @_;
    my ($msgs, $prev, $want, $has_tool_blocks);

    return 'Malformed input request, please reformat your input and try '
        . 'again.' if ref $json ne 'HASH';

    $msgs = $json->{messages};
    if (!defined $msgs) {
        return "1 validation error detected: Value null at 'messages' failed "
            . 'to satisfy constraint: Member must not be null';
    }
    if (ref $msgs ne 'ARRAY') {
        return 'Malformed input request: messages must be an array, please '
            . 'reformat your input and try again.';
    }
    if (!@$msgs || ref $msgs->[0] ne 'HASH'
        || ($msgs->[0]{role} // '') ne 'user')
    {
        return 'A conversation must start with a user message. Try again '
            . 'with a conversation that starts with a user message.';
    }

    for my $i (0 .. $#$msgs) {
        my $m = $msgs->[$i];
        my (@uses, @results);

        if (ref $m ne 'HASH' || ($m->{role} // '') !~ /^(user|assistant)$/) {
            return "Malformed input request: messages.$i must have a role of "
                . 'user or assistant, please reformat your input and try '
                . 'again.';
        }
        if (defined $prev && $prev eq $m->{role}) {
            return 'A conversation must alternate between user and assistant '
                . 'roles. Make sure the conversation alternates between user '
                . 'and assistant roles and try again.';
        }
        $prev = $m->{role};

        if (ref $m->{content} ne 'ARRAY' || !@{ $m->{content} }) {
            return "The content field in the Message object at messages.$i "
                . 'is empty. Add a ContentBlock object to the content field '
                . 'and try again.';
        }
        for my $j (0 .. $#{ $m->{content} }) {
            my $b = $m->{content}[$j];

            if (ref $b ne 'HASH' || keys(%$b) != 1) {
                return "Malformed input request: messages.$i.content.$j "
                    . 'must have exactly one member, please reformat your '
                    . 'input and try again.';
            }
            if (exists $b->{text}
                && (ref $b->{text} || $b->{text} !~ /\S/))
            {
                return "The text field in the ContentBlock object at "
                    . "messages.$i.content.$j is blank. Add text to the text "
                    . 'field, and try again.';
            }
            if (ref $b->{toolUse} eq 'HASH') {
                push @uses, $b->{toolUse}{toolUseId} // '';
            }
            if (ref $b->{toolResult} eq 'HASH') {
                push @results, $b->{toolResult}{toolUseId} // '';
            }
        }
        $has_tool_blocks ||= @uses || @results;

        if ($m->{role} eq 'user') {
            my %got = map { $_ => 1 } @results;
            my @missing = grep { !$got{$_} } @{ $want // [] };

            if (@missing) {
                return "Expected toolResult blocks at messages.$i.content for "
                    . 'the following Ids: ' . join(', ', @missing);
            }
            my %w = map { $_ => 1 } @{ $want // [] };
            for my $id (@results) {
                if (!$w{$id}) {
                    return "messages.$i.content: unexpected `tool_use_id` "
                        . "found in `tool_result` blocks: $id. Each "
                        . '`tool_result` block must have a corresponding '
                        . '`tool_use` block in the previous message.';
                }
            }
            $want = undef;
        } else {
            $want = \@uses;
        }
    }

    if ($has_tool_blocks && ref $json->{toolConfig} ne 'HASH') {
        return 'The toolConfig field must be defined when using toolUse and '
            . 'toolResult content blocks.';
    }

    return undef;
}


# ---------------------------------------------------------------------------
# directives: [[name key=value key2="quoted value" key3=[json] key4={json}]]

sub parse_directive_at {
    my ($s, $i) = @_;
    my (%d, $k, $v, $p, $depth, $in_str, $j, $n);

    $n = length $s;
    pos($s) = $i;
    $s =~ /\G\s*/gc;
    $s =~ /\G([A-Za-z][\w-]*)/gc or return;
    %d = (name => lc $1, args => {});

    for (;;) {
        $s =~ /\G\s*/gc;
        if ($s =~ /\G\]\]/gc) {
            return (\%d, pos($s));
        }
        $s =~ /\G([A-Za-z_][\w-]*)=/gc or return;
        $k = lc $1;
        $p = pos($s);
        if ($s =~ /\G"((?:[^"\\]|\\.)*)"/gcs) {
            $v = $1;
            $v =~ s/\\(["\\])/$1/g;
        } elsif ($p < $n && substr($s, $p, 1) =~ /[\[\{]/) {
            ($depth, $in_str) = (0, 0);
            for ($j = $p; $j < $n; $j++) {
                my $ch = substr($s, $j, 1);
                if ($in_str) {
                    if ($ch eq '\\') {
                        $j++;
                    } elsif ($ch eq '"') {
                        $in_str = 0;
                    }
                } elsif ($ch eq '"') {
                    $in_str = 1;
                } elsif ($ch eq '[' || $ch eq '{') {
                    $depth++;
                } elsif ($ch eq ']' || $ch eq '}') {
                    last if --$depth == 0;
                }
            }
            return if $j >= $n;
            $v = substr($s, $p, $j - $p + 1);
            pos($s) = $j + 1;
        } elsif ($s =~ /\G((?:(?!\]\])\S)+)/gc) {
            $v = $1;
        } else {
            $v = '';
        }
        $d{args}{$k} = $v;
    }
}

# returns ([directives], text without them)
sub parse_directives {
    my ($text) = @_;
    my (@d, $clean, $pos, $start, $dir, $end);

    $clean = '';
    $pos = 0;
    while ((my $i = index($text, '[[', $pos)) >= 0) {
        ($dir, $end) = parse_directive_at($text, $i + 2);
        if ($dir) {
            push @d, $dir;
            $clean .= substr($text, $pos, $i - $pos);
            $pos = $end;
        } else {
            $clean .= substr($text, $pos, $i + 2 - $pos);
            $pos = $i + 2;
        }
    }
    $clean .= substr($text, $pos);
    $clean =~ s/^\s+|\s+$//g;
    $clean =~ s/[ \t]{2,}/ /g;
    return (\@d, $clean);
}

# shared counters for times=N id=X (the directive applies to the first N
# requests carrying that id, across connections)
sub bump_counter {
    my ($name) = @_;
    my ($fh, $n);

    $name =~ s/[^A-Za-z0-9_.-]/_/g;
    mkdir($OPT{state_dir}, 0700);
    sysopen($fh, "$OPT{state_dir}/$name", O_RDWR | O_CREAT) or return 1;
    flock($fh, LOCK_EX);
    $n = <$fh> // 0;
    $n = 0 + ($n =~ /(\d+)/ ? $1 : 0);
    $n++;
    seek($fh, 0, 0);
    truncate($fh, 0);
    syswrite($fh, "$n\n");
    close $fh;
    return $n;
}


# ---------------------------------------------------------------------------
# scenarios

my %MODIFIER = map { $_ => 1 }
    qw(usage stop-reason max-tokens split batch delay ascii);

sub need_json {
    my ($d, $key, $type) = @_;
    my $v = $d->{args}{$key};
    my $x;

    die "[[$d->{name}]] needs $key=\n" unless defined $v;
    $x = eval { $JCH->decode($v) };
    die "[[$d->{name}]] $key= is not valid JSON: $v\n" unless defined $x || $v eq 'null';
    die "[[$d->{name}]] $key= must be a JSON $type\n"
        if $type && ref($x) ne $type;
    return $x;
}

sub arg_int {
    my ($d, $key, $def) = @_;
    my $v = $d->{args}{$key};

    return $def unless defined $v && length $v;
    die "[[$d->{name}]] $key= must be an integer\n" unless $v =~ /^\d+$/;
    return 0 + $v;
}

sub tool_results_text {
    my ($ctx) = @_;
    my @t;

    for my $r (@{ $ctx->{tool_results} }) {
        for my $item (@{ ref $r->{content} eq 'ARRAY' ? $r->{content} : [] }) {
            if (exists $item->{text}) {
                push @t, $item->{text};
            } elsif (exists $item->{json}) {
                push @t, $JCH->encode($item->{json});
            } else {
                push @t, '[' . join(',', sort keys %$item) . ']';
            }
        }
    }
    return join(' | ', @t);
}

sub input_text {
    my ($d, $default) = @_;
    my $v = $d->{args}{input};

    # input_raw= is sent as written, valid JSON or not (a model that
    # produces malformed tool input)
    return $d->{args}{input_raw} if defined $d->{args}{input_raw};
    return $default unless defined $v;
    need_json($d, 'input', 'HASH');
    return $v;
}

# answers "Tool said: ..." after a toolResult turn; returns true if it did
# then=echo on tool/tools: after the tool results, stream back the raw
# request body, so a test can read the toolResult message that was sent
sub echo_after_tools {
    my ($ctx, $plan, $d) = @_;
    my $body;

    return 0 unless $ctx->{tool_results} && ($d->{args}{then} // '') eq 'echo';
    $body = $ctx->{req}{body};
    utf8::decode($body);
    $plan->message_start();
    $plan->text_block(0, [$body]);
    $plan->finish('end_turn');
    return 1;
}

sub tool_result_answer {
    my ($ctx, $plan, $prefix) = @_;

    return 0 unless $ctx->{tool_results};
    $plan->message_start();
    $plan->text_block(0, [words(($prefix // 'Tool said: ')
                                . tool_results_text($ctx))]);
    $plan->finish('end_turn');
    return 1;
}

sub sc_default {
    my ($ctx, $plan) = @_;
    my $text;

    $text = length $ctx->{prompt}
        ? "Hello! You said: $ctx->{prompt}" : 'Hello! You said nothing.';
    $plan->message_start();
    $plan->text_block(0, [words($text)]);
    $plan->finish('end_turn');
}

sub sc_heuristic {
    my ($ctx, $plan) = @_;
    my ($p, $tool, $input);

    if ($ctx->{tool_results}) {
        $plan->message_start();
        $plan->text_block(0, [words('The answer is '
                                    . tool_results_text($ctx) . '.')]);
        $plan->finish('end_turn');
        return 1;
    }

    $p = $ctx->{prompt};
    if ($ctx->{tools}{calculator}
        && $p =~ /([(\d.][\d.\s()]*(?:[-+*\/^]\s*[(\d.][\d.\s()]*)+)/)
    {
        my $e = $1;
        $e =~ s/\s+$//;
        ($tool, $input) = ('calculator', jenc(obj(expression => $e)));
    } elsif ($ctx->{tools}{weather} && $p =~ /weather/i) {
        ($tool, $input) = ('weather', '{}');
    } elsif ($ctx->{tools}{get_time} && $p =~ /\btime\b/i) {
        ($tool, $input) = ('get_time', '{}');
    } else {
        return 0;
    }

    $plan->message_start();
    $plan->text_block(0, [words("Let me use the $tool tool.")]);
    $plan->tool_block(1, $tool, $input);
    $plan->finish('tool_use');
    return 1;
}

my %SCENARIO;

%SCENARIO = (
    deltas => sub {
        my ($ctx, $plan, $d) = @_;
        my $texts = need_json($d, 'texts', 'ARRAY');

        for (@$texts) {
            die "[[deltas]] texts= must hold strings\n" if ref $_;
        }
        $plan->message_start();
        $plan->text_block(0, $texts);
        $plan->finish('end_turn');
    },

    slow => sub {
        my ($ctx, $plan, $d) = @_;
        my $ms = arg_int($d, 'ms', 100);
        my $n = arg_int($d, 'n', 5);

        $plan->message_start();
        $plan->text_block(0, [map { "tok$_ " } 1 .. $n], $ms);
        $plan->finish('end_turn');
    },

    many => sub {
        my ($ctx, $plan, $d) = @_;
        my $n = arg_int($d, 'n', 100);

        $plan->{delay} = 0;
        $plan->message_start();
        $plan->text_block(0, [map { "w$_ " } 1 .. $n]);
        $plan->finish('end_turn');
    },

    flood => sub {
        my ($ctx, $plan, $d) = @_;
        my $total = arg_int($d, 'bytes', 16 * 1024 * 1024);
        my $size = arg_int($d, 'size', 1000);
        my $id = $d->{args}{id} // 'default';

        die "[[flood]] size= must be 16 or more\n" if $size < 16;
        $plan->message_start();
        $plan->push_step('S', sub { flood($_[0], $total, $size, $id) });
        $plan->{deltas} = int(($total + $size - 1) / $size);
        $plan->block_stop(0);
        $plan->finish('end_turn');
    },

    exception => sub {
        my ($ctx, $plan, $d) = @_;
        my $type = $d->{args}{type} // 'throttlingException';
        my $msg = $d->{args}{message} // $EXC_MESSAGE{$type}
                  // 'An error occurred.';
        my $n = arg_int($d, 'deltas', 2);
        my @extra;

        if ($type eq 'modelStreamErrorException') {
            @extra = (originalStatusCode => 0 + arg_int($d, 'original-status',
                                                        500),
                      originalMessage => $d->{args}{'original-message'}
                                         // 'Internal error');
        }
        $plan->message_start();
        $plan->text_delta(0, $_) for (('Partial ', 'answer ') x $n)[0 .. $n - 1];
        $plan->push_step('F', es_exception_frame($type,
                              to_bytes(jenc(obj(message => $msg, @extra)))));
    },

    'error-frame' => sub {
        my ($ctx, $plan, $d) = @_;
        my $n = arg_int($d, 'deltas', 2);

        $plan->message_start();
        $plan->text_delta(0, $_) for (('Partial ', 'answer ') x $n)[0 .. $n - 1];
        $plan->push_step('F', es_error_frame(
                              $d->{args}{code} // 'InternalFailure',
                              $d->{args}{message}
                              // 'An internal error occurred.'));
    },

    gate => sub {
        my ($ctx, $plan, $d) = @_;
        my $id = $d->{args}{id} // 'default';

        $plan->message_start();
        $plan->text_delta(0, 'Before ');
        $plan->push_step('S', sub { gate($_[0], $id) });
        $plan->text_delta(0, 'the gate, after it.');
        $plan->block_stop(0);
        $plan->finish('end_turn');
    },

    hang => sub {
        my ($ctx, $plan) = @_;

        $plan->message_start();
        $plan->text_delta(0, 'Hello');
        $plan->push_step('H');
    },

    truncate => sub { partial_scenario(@_, 'T') },
    close    => sub { partial_scenario(@_, 'C') },

    corrupt => sub {
        my ($ctx, $plan, $d) = @_;
        my ($bad, $where);

        $where = $d->{args}{where} // 'message';
        $plan->message_start();
        $plan->text_delta(0, 'Good ');
        $plan->text_delta(0, 'bad ');
        $bad = $plan->{items}[-1][1];
        if ($where eq 'prelude') {
            substr($bad, 8, 4) = pack('N', unpack('N', substr($bad, 8, 4))
                                           ^ 0xdeadbeef);
        } else {
            substr($bad, -4) = pack('N', unpack('N', substr($bad, -4))
                                         ^ 0xdeadbeef);
        }
        $plan->{items}[-1][1] = $bad;
        $plan->text_delta(0, 'rest.');
        $plan->block_stop(0);
        $plan->finish('end_turn');
    },

    unknown => sub { unknown_scenario(@_, 1, 1) },
    'unknown-event' => sub { unknown_scenario(@_, 1, 0) },
    'unknown-header' => sub { unknown_scenario(@_, 0, 1) },

    reasoning => sub {
        my ($ctx, $plan, $d) = @_;

        $plan->message_start();
        for my $t ('Let me think', ' about this.') {
            $plan->pause_between();
            $plan->event('contentBlockDelta', contentBlockIndex => 0,
                         delta => obj(reasoningContent => obj(text => $t)));
        }
        $plan->event('contentBlockDelta', contentBlockIndex => 0,
                     delta => obj(reasoningContent => obj(
                         signature => 'EqoBCkgIARABGAIiQExampleSig==')));
        $plan->block_stop(0);
        $plan->text_block(1, [words($d->{args}{text}
                                    // 'Here is my answer.')]);
        $plan->finish('end_turn');
    },

    echo => sub {
        my ($ctx, $plan) = @_;
        my $body = $ctx->{req}{body};

        utf8::decode($body);
        $plan->message_start();
        $plan->text_block(0, [$body]);
        $plan->finish('end_turn');
    },

    'echo-headers' => sub {
        my ($ctx, $plan) = @_;
        my ($req, @lines, $text);

        $req = $ctx->{req};
        push @lines, [':method', $req->{method}], [':path', $req->{target}];
        for my $h (@{ $req->{headers} }) {
            my ($n, $v) = @$h;
            if ($n eq 'authorization') {
                if ($v =~ /^AWS4-HMAC-SHA256\s/) {
                    my @keep = ($v =~ /((?:Credential|SignedHeaders)=[^,\s]*)/g);
                    $v = 'AWS4-HMAC-SHA256 ' . join(', ', @keep);
                } elsif ($v =~ /^Bearer\s/i) {
                    $v = 'Bearer [redacted]';
                } else {
                    $v = '[redacted]';
                }
            } elsif ($n eq 'x-amz-security-token') {
                $v = '[redacted sha256:' . substr(sha256_hex($v), 0, 16) . ']';
            } elsif ($n eq 'x-api-key') {
                $v = '[redacted]';
            }
            push @lines, [$n, $v];
        }
        $text = join('', map { "$_->[0]: $_->[1]\n" }
                         sort { $a->[0] cmp $b->[0] } @lines);
        $plan->message_start();
        $plan->text_block(0, [$text]);
        $plan->finish('end_turn');
    },

    tool => sub {
        my ($ctx, $plan, $d) = @_;
        my $name = $d->{args}{name} // 'calculator';
        my $input = input_text($d, '{}');
        my $idx = 0;

        return if echo_after_tools($ctx, $plan, $d)
                  || tool_result_answer($ctx, $plan);
        $plan->message_start();
        if (defined $d->{args}{text}) {
            $plan->text_block($idx++, [words($d->{args}{text})]);
        }
        $plan->tool_block($idx, $name, $input);
        $plan->finish('tool_use');
    },

    tools => sub {
        my ($ctx, $plan, $d) = @_;
        my $calls = need_json($d, 'calls', 'ARRAY');
        my $idx = 0;

        return if echo_after_tools($ctx, $plan, $d)
                  || tool_result_answer($ctx, $plan);
        $plan->message_start();
        if (defined $d->{args}{text}) {
            $plan->text_block($idx++, [words($d->{args}{text})]);
        }
        for my $call (@$calls) {
            die "[[tools]] each call needs a name\n"
                unless ref $call eq 'HASH' && defined $call->{name};
            $plan->tool_block($idx++, $call->{name},
                              $JCH->encode($call->{input} // {}));
        }
        $plan->finish('tool_use');
    },

    'tool-loop' => sub {
        my ($ctx, $plan, $d) = @_;
        my ($name, $input, $cycle);

        $name = $d->{args}{name};
        if (!defined $name) {
            $name = (!%{ $ctx->{tools} } || $ctx->{tools}{calculator})
                ? 'calculator' : $ctx->{tool_order}[0];
        }
        $input = input_text($d, $name eq 'calculator'
                                ? '{"expression":"1+1"}' : '{}');
        $cycle = 1 + grep { ($_->{role} // '') eq 'assistant' }
                      @{ $ctx->{json}{messages} };
        $plan->message_start();
        $plan->text_block(0, [words(($d->{args}{text} // 'Cycle') . " $cycle. ")]);
        $plan->tool_block(1, $name, $input);
        $plan->finish('tool_use');
    },

    'text-after' => sub {
        my ($ctx, $plan, $d) = @_;
        my $name = $d->{args}{name} // 'calculator';
        my $input = input_text($d, '{"expression":"2+2"}');

        return if tool_result_answer($ctx, $plan);
        $plan->message_start();
        $plan->text_block(0, [words('Let me check.')]);
        $plan->tool_block(1, $name, $input);
        $plan->text_block(2, [words(' One moment.')]);
        $plan->finish('tool_use');
    },
);

# [[flood]]: $total bytes of text in deltas of $size bytes, each
# "[<8-digit sequence number>]" then "x"s, written as fast as the peer
# takes them, through a small send buffer.  The progress file
# (GET /_emulator/progress?id=ID) holds "<text bytes written> <state>":
# writing, blocked (the peer took nothing for 200 ms), done, closed.
sub flood {
    my ($c, $total, $size, $id) = @_;
    my ($sent, $seq, $n, $text, $frame, $data, $off, $w, $state, $last);

    setsockopt($c->{sock}, SOL_SOCKET, SO_SNDBUF, 16384);
    $c->{sock}->blocking(0);

    ($sent, $seq, $last, $state) = (0, 0, -1, '');
    my $report = sub {
        my ($st) = @_;
        return if $st eq $state && $sent - $last < 262144;
        ($state, $last) = ($st, $sent);
        progress($id, "$sent $st");
    };

    $report->('writing');

    while ($sent < $total) {
        $n = $total - $sent < $size ? $total - $sent : $size;
        $text = sprintf('[%08d]', $seq++);
        $text = substr($text . ('x' x $n), 0, $n);
        $frame = es_event_frame('contentBlockDelta', to_bytes(jenc(obj(
            contentBlockIndex => 0, delta => obj(text => $text),
            p => padding()))));
        $data = $c->{chunked}
                ? sprintf("%x\r\n", length $frame) . $frame . "\r\n" : $frame;
        $off = 0;

        while ($off < length $data) {
            my $k = syswrite($c->{sock}, $data, length($data) - $off, $off);

            if (defined $k) {
                $off += $k;
                $c->{sent} += $k;
                next;
            }

            if (!$!{EAGAIN} && !$!{EWOULDBLOCK} && !$!{EINTR}) {
                $c->{dead} = 1;
                $report->('closed');
                return 0;
            }

            $w = '';
            vec($w, fileno($c->{sock}), 1) = 1;
            if (!select(undef, $w, undef, 0.2)) {
                $report->('blocked');
                orphan_check();
            }
        }

        $sent += $n;
        $report->('writing');
    }

    $c->{sock}->blocking(1);
    $state = '';
    $report->('done');
    return 1;
}

sub progress {
    my ($id, $line) = @_;
    my $fh;

    $id =~ s/[^A-Za-z0-9_.-]/_/g;
    mkdir($OPT{state_dir}, 0700);
    sysopen($fh, "$OPT{state_dir}/progress-$id", O_RDWR | O_CREAT)
        or return;
    flock($fh, LOCK_EX);
    truncate($fh, 0);
    syswrite($fh, "$line\n");
    close $fh;
}

# [[gate]]: waits, after its first delta, until GET /_emulator/release?id=ID
# (a file in the state directory); false if the peer went away meanwhile
sub gate {
    my ($c, $id) = @_;
    my ($rin, $n);

    $id =~ s/[^A-Za-z0-9_.-]/_/g;

    until (-e "$OPT{state_dir}/gate-$id") {
        $rin = '';
        vec($rin, fileno($c->{sock}), 1) = 1;
        next if !select($rin, undef, undef, 0.01);
        $n = sysread($c->{sock}, $c->{buf}, 65536, length $c->{buf});
        if (!$n) {
            $c->{close} = 1;
            return 0;
        }
    }
    return 1;
}

sub partial_scenario {
    my ($ctx, $plan, $d, $how) = @_;
    my $f;

    $plan->message_start();
    $plan->text_delta(0, 'Partial ');
    $plan->text_delta(0, 'answer ');
    $plan->text_delta(0, 'lost');
    $f = pop @{ $plan->{items} };
    $plan->push_step($how, substr($f->[1], 0, int(length($f->[1]) / 2)));
}

sub unknown_scenario {
    my ($ctx, $plan, $d, $event, $header) = @_;
    my ($json, $extra);

    $plan->message_start();
    $plan->text_delta(0, 'Before');
    if ($event) {
        $plan->event('someFutureEvent', foo => 1);
    }
    if ($header) {
        # a header of unknown type 13 after the three standard ones
        $extra = pack('C', 14) . 'x-future-thing' . pack('C', 13)
            . pack('n', 6) . 'future';
        $json = jenc(obj(contentBlockIndex => 0,
                         delta => obj(text => ' middle'), p => padding()));
        $plan->pause_between();
        $plan->push_step('F', es_event_frame('contentBlockDelta',
                                             to_bytes($json), $extra));
    }
    $plan->text_delta(0, ' after.');
    $plan->block_stop(0);
    $plan->finish('end_turn');
}

# builds the plan for a validated request; dies with a message on a bad
# directive
sub build_plan {
    my ($ctx, $plan) = @_;
    my ($dirs, $primary, %mod);

    $dirs = $ctx->{directives};

    for my $d (@$dirs) {
        if ($MODIFIER{ $d->{name} }) {
            $mod{ $d->{name} } = $d;
            next;
        }
        die "unknown directive [[$d->{name}]]\n"
            unless $d->{name} eq 'http' || $d->{name} eq 'hang-headers'
                   || $d->{name} eq 'hang-accept' || $SCENARIO{ $d->{name} };
        if (defined $d->{args}{times}) {
            my $id = $d->{args}{id} // 'default';
            next if bump_counter("$d->{name}-$id") > arg_int($d, 'times', 0);
        }
        $primary //= $d;
    }

    if (my $m = $mod{delay}) {
        $plan->{delay} = arg_int($m, 'ms', 0);
    }
    if ($mod{ascii}) {
        $plan->{ascii} = 1;
    }
    if (my $m = $mod{usage}) {
        $plan->{usage} = [arg_int($m, 'in', 10), arg_int($m, 'out', 20),
                          arg_int($m, 'cache-read', -1),
                          arg_int($m, 'cache-write', -1)];
    }
    if ($mod{'max-tokens'}) {
        $plan->{stop} = 'max_tokens';
    }
    if (my $m = $mod{'stop-reason'}) {
        $plan->{stop} = $m->{args}{value} // 'end_turn';
    }
    if (my $m = $mod{split}) {
        $plan->{split} = arg_int($m, 'bytes', 7) || 1;
        $plan->{split_ms} = arg_int($m, 'ms', 2);
    }
    if ($mod{batch}) {
        $plan->{batch} = 1;
    }

    $ctx->{scenario} = join(',', ($primary ? $primary->{name} : ()),
                                 sort keys %mod) || 'default';

    if ($primary) {
        return $primary if $primary->{name} =~ /^(?:http|hang-headers|hang-accept)$/;
        $SCENARIO{ $primary->{name} }->($ctx, $plan, $primary);
        return undef;
    }

    if (%{ $ctx->{tools} } && !$ctx->{has_directives}) {
        if (sc_heuristic($ctx, $plan)) {
            $ctx->{scenario} = 'heuristic';
            return undef;
        }
    }

    sc_default($ctx, $plan);
    return undef;
}


# ---------------------------------------------------------------------------
# OpenAI Chat Completions (POST /v1/chat/completions): the request read as
# a Converse one, the plan's frames written as chat.completion.chunk events

sub openai_check_auth {
    my ($req) = @_;
    my $h = { map { ($_->[0] => $_->[1]) } @{ $req->{headers} } };

    for my $n ('x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256') {
        return "SigV4 header $n sent to an OpenAI-compatible endpoint"
            if defined $h->{$n};
    }
    return undef if $OPT{no_auth} || !%BEARER;
    my $a = $h->{authorization} // '';
    return 'Incorrect API key provided.'
        unless $a =~ /^Bearer (\S+)$/ && $BEARER{$1};
    return undef;
}

my %OAI_TYPE = (
    throttlingException => 'rate_limit_exceeded',
    ThrottlingException => 'rate_limit_exceeded',
    internalServerException => 'server_error',
    InternalServerException => 'server_error',
    serviceUnavailableException => 'service_unavailable',
    ServiceUnavailableException => 'service_unavailable',
    validationException => 'invalid_request_error',
    ValidationException => 'invalid_request_error',
);

sub openai_error_type { return $OAI_TYPE{ $_[0] } // $_[0] }

sub openai_to_converse {
    my ($o) = @_;
    my (@msgs, @system, @tools, %r);

    return $o unless ref $o eq 'HASH' && ref $o->{messages} eq 'ARRAY';

    for my $m (@{ $o->{messages} }) {
        next unless ref $m eq 'HASH';
        my $role = $m->{role} // '';
        my $text = $m->{content};
        if ($role eq 'system') {
            push @system, { text => $text };
        } elsif ($role eq 'tool') {
            my $block = { toolResult => { toolUseId => $m->{tool_call_id},
                                          content => [{ text => $text }],
                                          status => 'success' } };
            if (@msgs && $msgs[-1]{role} eq 'user'
                && grep { $_->{toolResult} } @{ $msgs[-1]{content} })
            {
                push @{ $msgs[-1]{content} }, $block;
            } else {
                push @msgs, { role => 'user', content => [$block] };
            }
        } elsif ($role eq 'assistant') {
            my @c;
            push @c, { text => $text } if defined $text && length $text;
            for my $tc (@{ $m->{tool_calls} // [] }) {
                my $in = eval { $JIN->decode($tc->{function}{arguments}) };
                push @c, { toolUse => { toolUseId => $tc->{id},
                                        name => $tc->{function}{name},
                                        input => $in // {} } };
            }
            push @msgs, { role => 'assistant', content => \@c };
        } else {
            push @msgs, { role => $role, content => [{ text => $text }] };
        }
    }
    for my $t (@{ $o->{tools} // [] }) {
        my $f = $t->{function} // {};
        push @tools, { toolSpec => { name => $f->{name},
                                     description => $f->{description},
                                     inputSchema => { json => $f->{parameters} } } };
    }
    %r = (messages => \@msgs);
    $r{system} = \@system if @system;
    $r{inferenceConfig} = defined $o->{max_tokens}
                          ? { maxTokens => $o->{max_tokens} } : {};
    $r{toolConfig} = { tools => \@tools, toolChoice => { auto => {} } }
        if @tools;
    return \%r;
}

# one event-stream frame: (headers hashref, payload)
sub es_parse {
    my ($f) = @_;
    my ($total, $hlen) = unpack('NN', $f);
    my (%h, $p, $end);

    return undef unless defined $hlen && length($f) >= $total;
    $p = 12;
    $end = 12 + $hlen;
    while ($p < $end) {
        my $nl = ord(substr($f, $p, 1));
        my $name = substr($f, $p + 1, $nl);
        my $type = ord(substr($f, $p + 1 + $nl, 1));
        $p += 2 + $nl;
        if ($type == 6 || $type == 7) {
            my $vl = unpack('n', substr($f, $p, 2));
            $h{$name} = substr($f, $p + 2, $vl);
            $p += 2 + $vl;
        } else {
            $p += { 0 => 0, 1 => 0, 2 => 1, 3 => 2, 4 => 4, 5 => 8,
                    8 => 8, 9 => 16 }->{$type} // 0;
        }
    }
    return (\%h, substr($f, $end, $total - $end - 4));
}

sub oai_chunk {
    my ($c, @choice) = @_;
    my $o = obj(id => 'chatcmpl-emulator', object => 'chat.completion.chunk',
                created => time() | 0, model => 'emulator',
                @choice ? (choices => [obj(index => 0, @choice)]) : ());
    return 'data: ' . to_bytes(jenc($o)) . "\n\n";
}

# a plan's frame (or several, batched) as OpenAI stream events
sub openai_frames {
    my ($c, $bytes) = @_;
    my $out = '';
    my $st = $c->{openai};

    while (length $bytes >= 12) {
        my $total = unpack('N', $bytes);
        last if $total > length $bytes;
        my ($h, $payload) = es_parse(substr($bytes, 0, $total));
        $bytes = substr($bytes, $total);
        my $mt = $h->{':message-type'} // '';
        my $j = eval { $JIN->decode($payload) } // {};

        if ($mt eq 'exception' || $mt eq 'error') {
            my $type = $h->{':exception-type'} // $h->{':error-code'};
            my $msg = $mt eq 'error' ? $h->{':error-message'}
                                     : $j->{message} // $payload;
            $out .= 'data: ' . to_bytes(jenc(obj(error => obj(
                        message => $msg, type => openai_error_type($type),
                        param => undef, code => undef)))) . "\n\n";
            next;
        }
        my $et = $h->{':event-type'} // '';
        if ($et eq 'messageStart') {
            $out .= oai_chunk($c, delta => obj(role => 'assistant',
                                               content => ''),
                              finish_reason => undef);
        } elsif ($et eq 'contentBlockStart' && $j->{start}{toolUse}) {
            my $k = $st->{tools}{ $j->{contentBlockIndex} } = $st->{n}++;
            $out .= oai_chunk($c, delta => obj(tool_calls => [obj(
                        index => $k, id => $j->{start}{toolUse}{toolUseId},
                        type => 'function',
                        function => obj(name => $j->{start}{toolUse}{name},
                                        arguments => ''))]),
                              finish_reason => undef);
        } elsif ($et eq 'contentBlockDelta' && defined $j->{delta}{text}) {
            $out .= oai_chunk($c, delta => obj(content => $j->{delta}{text}),
                              finish_reason => undef);
        } elsif ($et eq 'contentBlockDelta' && $j->{delta}{toolUse}) {
            my $f = $j->{delta}{toolUse}{input} // '';
            next unless length $f;
            $out .= oai_chunk($c, delta => obj(tool_calls => [obj(
                        index => $st->{tools}{ $j->{contentBlockIndex} } // 0,
                        function => obj(arguments => $f))]),
                              finish_reason => undef);
        } elsif ($et eq 'messageStop') {
            my $r = $j->{stopReason} // 'end_turn';
            $r = { end_turn => 'stop', tool_use => 'tool_calls',
                   max_tokens => 'length' }->{$r} // $r;
            $out .= oai_chunk($c, delta => obj(), finish_reason => $r);
        } elsif ($et eq 'metadata') {
            my $u = $j->{usage} // {};
            $out .= 'data: ' . to_bytes(jenc(obj(
                        id => 'chatcmpl-emulator',
                        object => 'chat.completion.chunk',
                        created => time() | 0, model => 'emulator',
                        choices => [],
                        usage => obj(prompt_tokens => $u->{inputTokens} // 0,
                                     completion_tokens => $u->{outputTokens} // 0,
                                     total_tokens => $u->{totalTokens} // 0))))
                . "\n\ndata: [DONE]\n\n";
        }
    }
    return $out;
}

sub step_bytes {
    my ($c, $step) = @_;
    my $b = ref $step->[1] ? $step->[1]->() : $step->[1];

    return $c->{anthropic} ? anthropic_frames($c, $b)
         : $c->{openai} ? openai_frames($c, $b) : $b;
}

# a frame cut short: an event cut short
sub partial_bytes {
    my ($c, $b) = @_;

    return "event: content_block_delta\ndata: {\"type\":\"content_block_"
           . 'delta","index":0,"delta":{"type":"text_delta","text":"cut'
        if $c->{anthropic};
    return $b unless $c->{openai};
    return 'data: {"id":"chatcmpl-emulator","choices":[{"index":0,"delta":'
           . '{"content":"cut';
}


# ---------------------------------------------------------------------------
# the Anthropic Messages API (POST /v1/messages): the request read as a
# Converse one, the plan's frames written as Messages stream events

sub anthropic_check_auth {
    my ($req) = @_;
    my $h = { map { ($_->[0] => $_->[1]) } @{ $req->{headers} } };

    for my $n ('x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256',
               'authorization')
    {
        return "header $n sent to the Messages API" if defined $h->{$n};
    }
    return 'anthropic-version: header is required'
        unless defined $h->{'anthropic-version'};
    return undef if $OPT{no_auth} || !%BEARER;
    return 'invalid x-api-key'
        unless defined $h->{'x-api-key'} && $BEARER{ $h->{'x-api-key'} };
    return undef;
}

my %ANT_TYPE = (
    throttlingException => 'rate_limit_error',
    ThrottlingException => 'rate_limit_error',
    serviceUnavailableException => 'overloaded_error',
    ServiceUnavailableException => 'overloaded_error',
    internalServerException => 'api_error',
    InternalServerException => 'api_error',
    validationException => 'invalid_request_error',
    ValidationException => 'invalid_request_error',
    AccessDeniedException => 'permission_error',
    ResourceNotFoundException => 'not_found_error',
);

sub anthropic_error_type { return $ANT_TYPE{ $_[0] } // $_[0] }

sub anthropic_to_converse {
    my ($o) = @_;
    my (@msgs, @tools, %r);

    return $o unless ref $o eq 'HASH' && ref $o->{messages} eq 'ARRAY';

    for my $m (@{ $o->{messages} }) {
        next unless ref $m eq 'HASH';
        my $content = $m->{content};
        $content = [{ type => 'text', text => $content }] unless ref $content;
        my @c;
        for my $b (@$content) {
            my $t = $b->{type} // '';
            if ($t eq 'text') {
                push @c, { text => $b->{text} };
            } elsif ($t eq 'tool_use') {
                push @c, { toolUse => { toolUseId => $b->{id},
                                        name => $b->{name},
                                        input => $b->{input} } };
            } elsif ($t eq 'tool_result') {
                my $rc = $b->{content};
                $rc = [{ type => 'text', text => $rc }] unless ref $rc;
                push @c, { toolResult => {
                    toolUseId => $b->{tool_use_id},
                    content => [map { { text => $_->{text} } } @$rc],
                    status => $b->{is_error} ? 'error' : 'success' } };
            }
        }
        push @msgs, { role => $m->{role}, content => \@c };
    }
    for my $t (@{ $o->{tools} // [] }) {
        push @tools, { toolSpec => { name => $t->{name},
                                     description => $t->{description},
                                     inputSchema => { json => $t->{input_schema} } } };
    }
    %r = (messages => \@msgs);
    $r{system} = [{ text => $o->{system} }] if defined $o->{system};
    $r{inferenceConfig} = { maxTokens => $o->{max_tokens} };
    $r{toolConfig} = { tools => \@tools, toolChoice => { auto => {} } }
        if @tools;
    return \%r;
}

sub ant_event {
    my ($type, @pairs) = @_;

    return "event: $type\ndata: "
           . to_bytes(jenc(obj(type => $type, @pairs))) . "\n\n";
}

sub anthropic_frames {
    my ($c, $bytes) = @_;
    my $out = '';
    my $st = $c->{anthropic};

    while (length $bytes >= 12) {
        my $total = unpack('N', $bytes);
        last if $total > length $bytes;
        my ($h, $payload) = es_parse(substr($bytes, 0, $total));
        $bytes = substr($bytes, $total);
        my $mt = $h->{':message-type'} // '';
        my $j = eval { $JIN->decode($payload) } // {};

        if ($mt eq 'exception' || $mt eq 'error') {
            my $type = $h->{':exception-type'} // $h->{':error-code'};
            my $msg = $mt eq 'error' ? $h->{':error-message'}
                                     : $j->{message} // $payload;
            $out .= ant_event('error', error => obj(
                        type => anthropic_error_type($type),
                        message => $msg));
            next;
        }
        my $et = $h->{':event-type'} // '';
        my $i = $j->{contentBlockIndex};
        if ($et eq 'messageStart') {
            $out .= ant_event('message_start', message => obj(
                        id => 'msg_emulator', type => 'message',
                        role => 'assistant', model => 'emulator',
                        content => [], stop_reason => undef,
                        stop_sequence => undef,
                        usage => obj(input_tokens => 0, output_tokens => 1)))
                . "event: ping\ndata: {\"type\": \"ping\"}\n\n";
        } elsif ($et eq 'contentBlockStart' && $j->{start}{toolUse}) {
            $st->{started}{$i} = 1;
            $out .= ant_event('content_block_start', index => 0 + $i,
                        content_block => obj(type => 'tool_use',
                            id => $j->{start}{toolUse}{toolUseId},
                            name => $j->{start}{toolUse}{name},
                            input => obj()));
        } elsif ($et eq 'contentBlockDelta') {
            my $d = $j->{delta} // {};
            my ($kind, @delta);
            if (defined $d->{text}) {
                $kind = 'text';
                @delta = (type => 'text_delta', text => $d->{text});
            } elsif ($d->{toolUse}) {
                @delta = (type => 'input_json_delta',
                          partial_json => $d->{toolUse}{input} // '');
            } elsif ($d->{reasoningContent}) {
                $kind = 'thinking';
                @delta = defined $d->{reasoningContent}{signature}
                    ? (type => 'signature_delta',
                       signature => $d->{reasoningContent}{signature})
                    : (type => 'thinking_delta',
                       thinking => $d->{reasoningContent}{text} // '');
            } else {
                next;
            }
            if ($kind && !$st->{started}{$i}++) {
                $out .= ant_event('content_block_start', index => 0 + $i,
                            content_block => $kind eq 'text'
                                ? obj(type => 'text', text => '')
                                : obj(type => 'thinking', thinking => ''));
            }
            $out .= ant_event('content_block_delta', index => 0 + $i,
                              delta => obj(@delta));
        } elsif ($et eq 'contentBlockStop') {
            $out .= ant_event('content_block_stop', index => 0 + $i);
        } elsif ($et eq 'messageStop') {
            $st->{stop} = $j->{stopReason} // 'end_turn';
        } elsif ($et eq 'metadata') {
            my $u = $j->{usage} // {};
            $out .= ant_event('message_delta',
                        delta => obj(stop_reason => $st->{stop} // 'end_turn',
                                     stop_sequence => undef),
                        usage => obj(input_tokens => $u->{inputTokens} // 0,
                                     output_tokens => $u->{outputTokens} // 0))
                . ant_event('message_stop');
        }
    }
    return $out;
}


# ---------------------------------------------------------------------------
# writing a plan

sub run_plan {
    my ($c, $plan) = @_;
    my ($items, $buf, $step, $n, $i);

    $items = $plan->{items};

    if ($plan->{batch} || $plan->{split}) {
        $buf = '';
        for $step (@$items) {
            next if $step->[0] eq 'P';
            last unless $step->[0] eq 'F';
            $buf .= step_bytes($c, $step);
        }
        $step = $items->[-1];
        if ($step->[0] eq 'T' || $step->[0] eq 'C') {
            $buf .= partial_bytes($c, $step->[1]);
        }

        if ($plan->{batch}) {
            if ($step->[0] eq 'C' || $step->[0] eq 'H' || !$c->{chunked}) {
                write_chunk($c, $buf) or return;
            } else {
                write_all($c, sprintf("%x\r\n", length $buf) . $buf
                              . "\r\n0\r\n\r\n") or return;
                return;
            }
        } else {
            $n = $plan->{split};
            for ($i = 0; $i < length $buf; $i += $n) {
                sleep($plan->{split_ms} / 1000) if $i && $plan->{split_ms};
                write_chunk($c, substr($buf, $i, $n)) or return;
            }
        }

        if ($step->[0] eq 'C') {
            $c->{close} = 1;
        } elsif ($step->[0] eq 'H') {
            hang($c);
        } else {
            end_chunks($c);
        }
        return;
    }

    for $step (@$items) {
        my $kind = $step->[0];

        if ($kind eq 'F') {
            write_chunk($c, step_bytes($c, $step)) or return;
        } elsif ($kind eq 'P') {
            sleep($step->[1] / 1000);
        } elsif ($kind eq 'T') {
            write_chunk($c, partial_bytes($c, $step->[1])) or return;
            end_chunks($c);
            return;
        } elsif ($kind eq 'C') {
            write_chunk($c, partial_bytes($c, $step->[1]));
            $c->{close} = 1;
            return;
        } elsif ($kind eq 'H') {
            hang($c);
            return;
        } elsif ($kind eq 'S') {
            $step->[1]->($c) or return;
        }
    }
    end_chunks($c);
}

sub stream_headers {
    my ($c) = @_;
    my $h;

    $c->{status} = 200;
    $h = "HTTP/1.1 200 OK\r\n"
        . 'Date: ' . http_date() . "\r\n"
        . ($c->{openai} || $c->{anthropic}
           ? "Content-Type: text/event-stream\r\n"
                        : "Content-Type: application/vnd.amazon.eventstream\r\n"
                          . 'x-amzn-RequestId: ' . request_id() . "\r\n");
    if ($c->{chunked}) {
        $h .= "Transfer-Encoding: chunked\r\n";
        $h .= 'Connection: ' . ($c->{close} ? 'close' : 'keep-alive') . "\r\n";
    } else {
        $h .= "Connection: close\r\n";
    }
    # batch: the head goes out with the frames, in their one write
    if ($c->{hold_head}) {
        $c->{head} = "$h\r\n";
        return 1;
    }
    return write_all($c, "$h\r\n");
}


# ---------------------------------------------------------------------------
# request dispatch

sub last_text_message {
    my ($msgs) = @_;

    for my $m (reverse @$msgs) {
        next unless ref $m eq 'HASH' && ($m->{role} // '') eq 'user';
        my @t = map { $_->{text} }
                grep { ref $_ eq 'HASH' && defined $_->{text} && !ref $_->{text} }
                @{ ref $m->{content} eq 'ARRAY' ? $m->{content} : [] };
        return join("\n", @t) if @t;
    }
    return '';
}

sub handle_request {
    my ($c, $req) = @_;
    my ($json, $err, $ctx, $plan, $special, $model);

    $c->{close} = !$req->{keepalive};
    $c->{chunked} = $req->{chunked_ok};
    $c->{note} = '';
    delete $c->{openai};
    delete $c->{anthropic};

    if ($req->{path} eq '/_emulator/health') {
        send_response($c, $req, 200, ['Content-Type', 'text/plain'], 'ok');
        return;
    }

    if ($req->{path} eq '/_emulator/progress') {
        my ($id, $fh, $line);

        ($id) = ($req->{target} =~ /[?&]id=([A-Za-z0-9_.-]+)/);
        $id //= 'default';
        $line = open($fh, '<', "$OPT{state_dir}/progress-$id")
                ? (<$fh> // '') : "none\n";
        send_response($c, $req, 200, ['Content-Type', 'text/plain'], $line);
        return;
    }

    if ($req->{path} eq '/_emulator/release') {
        my ($id, $fh);

        ($id) = ($req->{target} =~ /[?&]id=([A-Za-z0-9_.-]+)/);
        $id //= 'default';
        mkdir($OPT{state_dir}, 0700);
        open($fh, '>', "$OPT{state_dir}/gate-$id") and close $fh;
        send_response($c, $req, 200, ['Content-Type', 'text/plain'],
                      "released\n");
        return;
    }

    if ($req->{path} =~ m{^/runtimes/([^/]+)/invocations$}) {
        handle_runtime($c, $req, $1);
        return;
    }

    if ($req->{path} eq '/_emulator/memory') {
        memory_dump($c, $req);
        return;
    }

    if ($req->{path} =~ m{^/memories/}) {
        handle_memory($c, $req);
        return;
    }

    if ($req->{path} =~ m{^(?:/v1)?/messages$}) {
        # the Anthropic Messages API: the same scenarios, another format
        $c->{anthropic} = { started => {}, stop => undef };
        if ($req->{method} ne 'POST') {
            send_aws_error($c, $req, 404, 'not_found_error', CORAL,
                           "Unknown operation: $req->{method} $req->{path}");
            return;
        }
        if (my $e = anthropic_check_auth($req)) {
            send_aws_error($c, $req, 401, 'authentication_error', CORAL, $e);
            return;
        }
        $json = eval { $JIN->decode($req->{body}) };
        if (ref $json eq 'HASH' && !defined $json->{max_tokens}) {
            send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                           'max_tokens: Field required');
            return;
        }
        $model = ref $json eq 'HASH' ? $json->{model} // '' : '';
        $json = anthropic_to_converse($json) if defined $json;
    } elsif ($req->{path} =~ m{^(?:/v1)?/chat/completions$}) {
        # OpenAI Chat Completions: the same scenarios, another format
        $c->{openai} = { tools => {}, n => 0 };
        if ($req->{method} ne 'POST') {
            send_aws_error($c, $req, 404, 'NotFound', CORAL,
                           "Unknown operation: $req->{method} $req->{path}");
            return;
        }
        if (my $e = openai_check_auth($req)) {
            send_aws_error($c, $req, 401, 'invalid_api_key', CORAL, $e);
            return;
        }
        $json = eval { $JIN->decode($req->{body}) };
        $model = ref $json eq 'HASH' ? $json->{model} // '' : '';
        $json = openai_to_converse($json) if defined $json;
    } elsif ($req->{path} !~ m{^/model/([^/]+)/converse-stream$}) {
        send_aws_error($c, $req, 404, 'UnknownOperationException', CORAL,
                       'Unknown operation: ' . $req->{method} . ' '
                       . $req->{path});
        return;
    } else {
        $model = uri_decode($1);

        if ($req->{method} ne 'POST') {
            send_aws_error($c, $req, 404, 'UnknownOperationException',
                           CORAL,
                           "Unknown operation: $req->{method} $req->{path}");
            return;
        }

        if (my $e = check_auth($req)) {
            send_aws_error($c, $req, @$e);
            return;
        }

        $json = eval { $JIN->decode($req->{body}) };
    }
    $err = defined $json
        ? validate_body($json)
        : 'Malformed input request, please reformat your input and try '
          . 'again.';
    if ($err) {
        send_aws_error($c, $req, 400, 'ValidationException', BEDROCK, $err);
        return;
    }

    my ($dirs, $prompt) = parse_directives(last_text_message($json->{messages}));
    $ctx = { req => $req, json => $json, model => $model,
             directives => $dirs, has_directives => scalar @$dirs,
             prompt => $prompt, tools => {}, tool_order => [] };

    if (ref $json->{toolConfig} eq 'HASH'
        && ref $json->{toolConfig}{tools} eq 'ARRAY')
    {
        for my $t (@{ $json->{toolConfig}{tools} }) {
            my $n = ref $t eq 'HASH' && ref $t->{toolSpec} eq 'HASH'
                    ? $t->{toolSpec}{name} : undef;
            next unless defined $n;
            $ctx->{tools}{$n} = 1;
            push @{ $ctx->{tool_order} }, $n;
        }
    }

    {
        my $last = $json->{messages}[-1];
        my @r = grep { ref $_ eq 'HASH' && ref $_->{toolResult} eq 'HASH' }
                @{ $last->{content} };
        if ($last->{role} eq 'user' && @r) {
            $ctx->{tool_results} = [map { $_->{toolResult} } @r];
        }
    }

    $plan = BedrockEmulator::Plan->new(t0 => $req->{t0},
                                       delay => $OPT{delay_ms} // 0,
                                       in_tokens => 1 + int(length($req->{body}) / 4));

    $special = eval { build_plan($ctx, $plan) };
    if ($@) {
        my $e = $@;
        chomp $e;
        send_aws_error($c, $req, 400, 'ValidationException', BEDROCK,
                       "emulator: $e");
        return;
    }
    $c->{note} = "scenario=$ctx->{scenario}";

    if ($special) {
        my $name = $special->{name};

        if ($name eq 'http') {
            my $status = arg_int($special, 'status', 429);
            my $type = $special->{args}{type} // $HTTP_TYPE{$status}
                       // 'InternalServerException';
            my $msg = $special->{args}{message} // $HTTP_MESSAGE{$type}
                      // 'An error occurred.';
            send_aws_error($c, $req, $status, $type, BEDROCK, $msg);
            $c->{note} = "scenario=http $type";
        } elsif ($name eq 'hang-headers') {
            stream_headers($c) and hang($c);
        } else {
            hang($c);
        }
        return;
    }

    $c->{hold_head} = $plan->{batch};
    stream_headers($c) or return;
    delete $c->{hold_head};
    run_plan($c, $plan);
}

# ---------------------------------------------------------------------------
# InvokeAgentRuntime: POST /runtimes/{url-encoded ARN}/invocations

my %RT_TYPE = (
    400 => 'ValidationException', 402 => 'ServiceQuotaExceededException',
    403 => 'AccessDeniedException', 404 => 'ResourceNotFoundException',
    409 => 'RetryableConflictException', 424 => 'RuntimeClientError',
    429 => 'ThrottlingException', 500 => 'InternalServerException',
);

my %RT_MESSAGE = (
    ThrottlingException => 'Rate exceeded',
    RuntimeClientError => 'Received error (500) from runtime. Please '
                          . 'check your CloudWatch logs for more information.',
    ServiceQuotaExceededException => 'Service quota exceeded',
    RetryableConflictException => 'The session is busy, retry',
    InternalServerException => 'Internal server error',
    AccessDeniedException => 'Access denied',
    ValidationException => 'Invalid request',
);

use constant AGENTCORE => 'http://internal.amazon.com/coral/com.amazonaws.bedrockagentcore/';

sub rt_headers {
    my ($req, $sid, $type) = @_;

    return ['Content-Type', $type, 'x-amzn-RequestId', request_id(),
            defined $sid
            ? ('X-Amzn-Bedrock-AgentCore-Runtime-Session-Id', $sid) : ()];
}

sub rt_stream {
    my ($c, $req, $sid, $events, $ms, $hang) = @_;
    my $h;

    $c->{status} = 200;
    $h = "HTTP/1.1 200 OK\r\nDate: " . http_date() . "\r\n";
    for (my $i = 0, my $l = rt_headers($req, $sid,
                                       'text/event-stream; charset=utf-8');
         $i < @$l; $i += 2)
    {
        $h .= "$l->[$i]: $l->[$i + 1]\r\n";
    }
    $h .= $c->{chunked} ? "Transfer-Encoding: chunked\r\nConnection: "
                          . ($c->{close} ? 'close' : 'keep-alive') . "\r\n"
                        : "Connection: close\r\n";
    write_all($c, "$h\r\n") or return;

    for my $i (0 .. $#$events) {
        sleep($ms / 1000) if $i && $ms;
        write_chunk($c, 'data: ' . $JCH->encode($events->[$i]) . "\n\n")
            or return;
    }

    return hang($c) if $hang;
    end_chunks($c);
}

# ---------------------------------------------------------------------------
# AgentCore Memory's data plane (botocore bedrock-agentcore 2024-02-28):
# CreateEvent and ListEvents, SigV4 (service bedrock-agentcore) checked.
# Events live in files of the state dir (the emulator forks per
# connection), one per memory, actor and session, oldest first;
# ListEvents answers newest first, maxResults per page, nextToken an
# offset.  Faults by the memory id: "fail500" in it, every request is a
# 500; "throttleN" (N a digit), the first N requests of that memory a
# 429 ThrottlingException; "garbage", ListEvents answers 200 with a body
# that is not JSON; "failcreate", CreateEvent is a 500; "slowN", every
# answer comes N tenths of a second late.

sub memory_file {
    my ($mem, $actor, $sid) = @_;
    my $name = join "\0", $mem, $actor, $sid;

    mkdir($OPT{state_dir}, 0700);
    return "$OPT{state_dir}/memory-" . unpack('H*', $name);
}

sub memory_events {
    my ($fh) = @_;
    my $text = do { local $/; <$fh> } // '';

    return length $text ? $JIN->decode($text) : [];
}

sub handle_memory {
    my ($c, $req) = @_;
    my ($mem, $actor, $sid, $op, $json, $fh, $events, $n);

    if ($req->{method} eq 'POST'
        && $req->{path} =~ m{^/memories/([^/]+)/events$})
    {
        ($mem, $op) = (uri_decode($1), 'CreateEvent');
    } elsif ($req->{method} eq 'POST'
             && $req->{path} =~ m{^/memories/([^/]+)/actor/([^/]+)/sessions/([^/]+)$})
    {
        ($mem, $actor, $sid, $op) = (uri_decode($1), uri_decode($2),
                                     uri_decode($3), 'ListEvents');
    } else {
        send_aws_error($c, $req, 404, 'UnknownOperationException', CORAL,
                       "Unknown operation: $req->{method} $req->{path}");
        return;
    }
    $c->{note} = "memory=$op";

    if (my $e = check_auth($req, 'bedrock-agentcore')) {
        send_aws_error($c, $req, @$e);
        return;
    }

    if ($mem =~ /fail500/
        || ($mem =~ /failcreate/ && $op eq 'CreateEvent'))
    {
        send_aws_error($c, $req, 500, 'InternalServerException', CORAL,
                       'emulator: fail500');
        return;
    }
    if ($mem =~ /slow(\d)/) {
        sleep($1 / 10);
    }
    if ($mem =~ /throttle(\d)/ && bump_counter("memory-$mem") <= $1) {
        send_aws_error($c, $req, 429, 'ThrottlingException', CORAL,
                       'Rate exceeded');
        return;
    }

    $json = eval { $JIN->decode($req->{body}) };
    if (ref $json ne 'HASH') {
        send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                       'emulator: the body is not a JSON object');
        return;
    }

    if ($op eq 'ListEvents') {
        my ($max, $from, @page, $next, $body);

        if ($mem =~ /garbage/) {
            send_response($c, $req, 200, ['Content-Type', 'application/json'],
                          '{"events": [ not json');
            return;
        }
        $max = $json->{maxResults} // 20;
        if ($max !~ /^\d+$/ || $max < 1 || $max > 100) {
            send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                           'emulator: maxResults out of range');
            return;
        }
        $from = 0;
        if (defined $json->{nextToken}) {
            if ($json->{nextToken} !~ /^tok-(\d+)$/) {
                send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                               'emulator: invalid nextToken');
                return;
            }
            $from = $1;
        }
        $events = [];
        if (open($fh, '<', memory_file($mem, $actor, $sid))) {
            flock($fh, LOCK_SH);
            $events = memory_events($fh);
            close $fh;
        }
        $events = [reverse @$events];
        @page = grep { defined } @$events[$from .. $from + $max - 1];
        $next = $from + $max < @$events ? 'tok-' . ($from + $max) : undef;
        @page = map { my %e = %$_; delete $e{clientToken};
                      delete $e{payload} if !($json->{includePayloads} // 0);
                      \%e } @page;
        $body = jenc(obj(events => \@page,
                         defined $next ? (nextToken => $next) : ()));
        send_response($c, $req, 200, ['Content-Type', 'application/json'],
                      to_bytes($body));
        $c->{note} .= ' events=' . scalar(@page)
                      . (defined $next ? ' next' : '');
        return;
    }

    # CreateEvent
    for my $k (qw(actorId sessionId eventTimestamp payload)) {
        if (!defined $json->{$k}) {
            send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                           "emulator: $k is missing");
            return;
        }
    }
    if (ref $json->{payload} ne 'ARRAY' || !@{ $json->{payload} }
        || @{ $json->{payload} } > 100)
    {
        send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                       'emulator: payload wants 1 to 100 items');
        return;
    }
    for my $item (@{ $json->{payload} }) {
        my $conv = ref $item eq 'HASH' ? $item->{conversational} : undef;
        next if ref $item eq 'HASH' && defined $item->{blob};
        if (ref $conv ne 'HASH'
            || ($conv->{role} // '') !~ /^(?:USER|ASSISTANT|TOOL|OTHER)$/
            || ref $conv->{content} ne 'HASH'
            || !defined $conv->{content}{text}
            || length($conv->{content}{text}) < 1
            || length($conv->{content}{text}) > 100000)
        {
            send_aws_error($c, $req, 400, 'ValidationException', CORAL,
                           'emulator: invalid payload item');
            return;
        }
    }
    sysopen($fh, memory_file($mem, $json->{actorId}, $json->{sessionId}),
            O_RDWR | O_CREAT) or do {
        send_aws_error($c, $req, 500, 'InternalServerException', CORAL,
                       "emulator: $!");
        return;
    };
    flock($fh, LOCK_EX);
    $events = memory_events($fh);
    my ($dup) = defined $json->{clientToken}
                ? grep { ($_->{clientToken} // '') eq $json->{clientToken} }
                  @$events : ();
    if (!$dup) {
        $n = @$events;
        $dup = { memoryId => $mem, actorId => $json->{actorId},
                 sessionId => $json->{sessionId},
                 eventId => sprintf('%013d#%08x', $n, $n),
                 eventTimestamp => $json->{eventTimestamp},
                 payload => $json->{payload},
                 defined $json->{clientToken}
                     ? (clientToken => $json->{clientToken}) : () };
        push @$events, $dup;
        seek($fh, 0, 0);
        truncate($fh, 0);
        print $fh $JIN->encode($events);
    }
    close $fh;
    my %out = %$dup;
    delete $out{clientToken};
    send_response($c, $req, 201, ['Content-Type', 'application/json'],
                  to_bytes(jenc(obj(event => \%out))));
}

# GET /_emulator/memory?m=MEM&a=ACTOR&s=SID: the stored events, as JSON
sub memory_dump {
    my ($c, $req) = @_;
    my (%q, $fh, $text);

    for my $kv (split /&/, $req->{query} // '') {
        my ($k, $v) = split /=/, $kv, 2;
        $q{uri_decode($k)} = uri_decode($v // '');
    }
    $text = '[]';
    if (open($fh, '<', memory_file($q{m} // '', $q{a} // '', $q{s} // ''))) {
        flock($fh, LOCK_SH);
        $text = do { local $/; <$fh> } || '[]';
        close $fh;
    }
    send_response($c, $req, 200, ['Content-Type', 'application/json'], $text);
}

sub handle_runtime {
    my ($c, $req, $seg) = @_;
    my ($arn, $region, $sid, %q, $json, $prompt, $dirs, $d, $body, @ev);

    if ($req->{method} ne 'POST') {
        send_aws_error($c, $req, 404, 'UnknownOperationException', CORAL,
                       "Unknown operation: $req->{method} $req->{path}");
        return;
    }

    # the ARN is one path segment, every reserved byte %-encoded
    $arn = uri_decode($seg);
    if (uri_encode($arn) ne $seg
        || $arn !~ m{^arn:[a-z-]+:bedrock-agentcore:([a-z0-9-]+):\d{12}:runtime/[A-Za-z0-9_-]+$})
    {
        send_aws_error($c, $req, 400, 'ValidationException', AGENTCORE,
                       "Invalid agent runtime ARN: $seg");
        return;
    }
    $region = $1;
    $c->{note} = "runtime=$arn";

    if (my $e = check_auth($req, 'bedrock-agentcore', $region)) {
        $e->[2] = AGENTCORE if $e->[2] eq BEDROCK;
        send_aws_error($c, $req, @$e);
        return;
    }

    for my $kv (split /&/, $req->{query}) {
        my ($k, $v) = split /=/, $kv, 2;
        $q{uri_decode($k)} = uri_decode($v // '');
    }

    $sid = $req->{h}{'x-amzn-bedrock-agentcore-runtime-session-id'};
    if (!defined $sid || length $sid < 33 || length $sid > 256) {
        send_aws_error($c, $req, 400, 'ValidationException', AGENTCORE,
                       '1 validation error detected: Value at '
                       . "'runtimeSessionId' failed to satisfy constraint: "
                       . 'Member must have length between 33 and 256');
        return;
    }

    if (%RUNTIMES && !$RUNTIMES{$arn}) {
        send_aws_error($c, $req, 404, 'ResourceNotFoundException', AGENTCORE,
                       "No endpoint or agent found with qualifier '"
                       . ($q{qualifier} // 'DEFAULT') . "' for agent '$arn'");
        return;
    }

    $json = eval { $JIN->decode($req->{body}) };
    $prompt = ref $json eq 'HASH' && defined $json->{prompt}
              && !ref $json->{prompt} ? $json->{prompt} : '';
    ($dirs, $prompt) = parse_directives($prompt);
    $d = $dirs->[0] // { name => '', args => {} };
    $c->{note} .= " session=$sid scenario=" . ($d->{name} || 'default');

    if ($d->{name} eq 'http') {
        my $status = 0 + ($d->{args}{status} // 429);
        my $type = $d->{args}{type} // $RT_TYPE{$status}
                   // 'InternalServerException';
        send_aws_error($c, $req, $status, $type, AGENTCORE,
                       $d->{args}{message} // $RT_MESSAGE{$type}
                       // 'An error occurred.');
        return;
    }

    if ($d->{name} eq 'json') {
        $body = to_bytes(jenc(obj(result => "Hello! You said: $prompt",
                                  qualifier => $q{qualifier} // '')));
        send_response($c, $req, 200, rt_headers($req, $sid,
                                                'application/json'), $body);
        return;
    }

    if ($d->{name} eq 'echo-headers') {
        my @lines = ([':method', $req->{method}],
                     [':path', $req->{target}]);
        for my $h (@{ $req->{headers} }) {
            my ($n, $v) = @$h;
            if ($n eq 'authorization') {
                $v = $v =~ /^AWS4-HMAC-SHA256\s/
                     ? 'AWS4-HMAC-SHA256 ' . join(', ',
                           $v =~ /((?:Credential|SignedHeaders)=[^,\s]*)/g)
                     : $v =~ /^Bearer\s/i ? 'Bearer [redacted]'
                     : '[redacted]';
            } elsif ($n eq 'x-amz-security-token') {
                $v = '[redacted sha256:' . substr(sha256_hex($v), 0, 16)
                     . ']';
            }
            push @lines, [$n, $v];
        }
        $body = join('', map { "$_->[0]: $_->[1]\n" }
                         sort { $a->[0] cmp $b->[0] } @lines);
        send_response($c, $req, 200, rt_headers($req, $sid,
                                                'text/plain'), $body);
        return;
    }

    if ($d->{name} eq 'slow') {
        my $n = 0 + ($d->{args}{n} // 5);
        rt_stream($c, $req, $sid, [map { "tok$_ " } 1 .. $n],
                  0 + ($d->{args}{ms} // 100));
        return;
    }

    if ($d->{name} eq 'hang') {
        rt_stream($c, $req, $sid, ['Hello'], 0, 1);
        return;
    }

    if ($d->{name} ne '') {
        send_aws_error($c, $req, 400, 'ValidationException', AGENTCORE,
                       "emulator: unknown runtime directive [[$d->{name}]]");
        return;
    }

    rt_stream($c, $req, $sid, [words("Hello! You said: $prompt")],
              $OPT{delay_ms} // 0);
}

sub serve_connection {
    my ($sock) = @_;
    my ($c, $req, $t0);

    $c = { sock => $sock, buf => '', sent => 0 };
    binmode $sock;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);

    for (;;) {
        $req = read_request($c);
        last unless $req;
        $c->{sent} = 0;
        $c->{status} = 0;

        if ($req->{error}) {
            $c->{close} = 1;
            send_response($c, $req, $req->{error},
                          ['Content-Type', 'text/plain'],
                          "$req->{message}\n");
            logmsg("pid=$$ - - $req->{error} $req->{message}");
            last;
        }

        handle_request($c, $req);
        logmsg(sprintf('pid=%d %s %s %d auth=%s %s ms=%d bytes=%d', $$,
                       $req->{method}, $req->{target}, $c->{status},
                       $req->{auth} // '-', $c->{note} // '',
                       (time - $req->{t0}) * 1000, $c->{sent}));
        last if $c->{close} || $c->{dead};
    }
    close $sock;
}


# ---------------------------------------------------------------------------
# main

sub usage {
    print STDERR <<'EOT';
usage: bedrock-emulator.pl [options]
  --listen HOST:PORT     address to listen on (default 127.0.0.1:0, 0 = any free port)
  --key AKID:SECRET[:SESSION_TOKEN]
                         accepted SigV4 credentials (repeatable; default the AWS
                         example key AKIDEXAMPLE)
  --bearer TOKEN         accepted Bearer API key (repeatable); also a
                         runtime's JWT (InvokeAgentRuntime)
  --runtime ARN          an agent runtime InvokeAgentRuntime finds
                         (repeatable; default: any well-formed ARN)
  --delay-ms N           pause between deltas (default 0)
  --log FILE             append one line per request (no secrets)
  --no-clock-check       do not reject x-amz-date more than 5 minutes off
  --no-auth              accept any request without checking auth
  --state-dir DIR        where times=N counters live (default: a temp dir)
  --parent PID           exit when process PID is gone (for test harnesses)
  --quiet                no diagnostics on stderr
Prints "READY <port>" on stdout once listening. Scenarios: emulator/README.md.
EOT
    exit 2;
}

sub main {
    my (@argv) = @_;
    my (@keys, @bearer, $listen, $srv, $host, $port, $sock, $pid, $tmp, $sel);

    $listen = '127.0.0.1:0';
    GetOptionsFromArray(\@argv,
        'listen=s'       => \$listen,
        'key=s'          => \@keys,
        'bearer=s'       => \@bearer,
        'runtime=s'      => sub { $RUNTIMES{$_[1]} = 1 },
        'delay-ms=i'     => \$OPT{delay_ms},
        'log=s'          => \$OPT{log},
        'quiet'          => \$OPT{quiet},
        'no-clock-check' => \$OPT{no_clock_check},
        'no-auth'        => \$OPT{no_auth},
        'state-dir=s'    => \$OPT{state_dir},
        'parent=i'       => \$OPT{parent},
        'help'           => \&usage,
    ) or usage();
    usage() if @argv;

    @keys = (DEFAULT_AKID . ':' . DEFAULT_SECRET) unless @keys;
    for my $k (@keys) {
        my ($id, $rest) = split /:/, $k, 2;
        die "bad --key '$id:...': want AKID:SECRET[:TOKEN]\n"
            unless defined $rest && length $id;
        # secrets never contain ':'; a third part is a session token
        my ($secret, $token) = split /:/, $rest, 2;
        $KEYS{$id} = [$secret, $token];
    }
    $BEARER{$_} = 1 for @bearer;

    ($host, $port) = $listen =~ /^(?:\[?([^\]]*)\]?:)?(\d+)$/
        or die "bad --listen '$listen': want HOST:PORT\n";
    $host = '127.0.0.1' unless defined $host && length $host;

    if (!$OPT{state_dir}) {
        # created on first use (by a child), removed by the parent on exit
        $tmp = File::Spec->catdir(File::Spec->tmpdir,
                                  "bedrock-emulator-$$-state");
        $OPT{state_dir} = $tmp;
    }

    $srv = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port,
                                 Listen => 128, ReuseAddr => 1,
                                 Proto => 'tcp')
        or die "cannot listen on $host:$port: $@\n";

    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = sub {
        while ((my $p = waitpid(-1, WNOHANG)) > 0) {
            delete $KIDS{$p};
        }
    };
    my $stop = sub {
        kill 'TERM', keys %KIDS;
        if ($tmp && -d $tmp) {
            unlink glob("$tmp/*");
            rmdir $tmp;
        }
        POSIX::_exit(0);
    };
    $SIG{TERM} = $stop;
    $SIG{INT} = $stop;
    $SIG{HUP} = $stop;

    $PARENT_PID = $$;
    $| = 1;
    print 'READY ' . $srv->sockport . "\n";
    logmsg('listening on ' . $srv->sockhost . ':' . $srv->sockport);

    $sel = IO::Select->new($srv);
    for (;;) {
        if (!$sel->can_read(1)) {
            $stop->() if $OPT{parent} && !kill(0, $OPT{parent});
            next;
        }
        $sock = $srv->accept;
        next unless $sock;
        $pid = fork;
        if (!defined $pid) {
            close $sock;
            next;
        }
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            $SIG{INT} = 'DEFAULT';
            $SIG{HUP} = 'DEFAULT';
            $SIG{CHLD} = 'DEFAULT';
            close $srv;
            srand();
            $PAD = undef;
            serve_connection($sock);
            POSIX::_exit(0);
        }
        $KIDS{$pid} = 1;
        close $sock;
    }
}

main(@ARGV) unless caller;

1;
