package AgentCore::Emulator;

# Starts the local Bedrock emulator (emulator/bedrock-emulator.pl) for tests
# and offers event-stream and SigV4 helpers. Core Perl only.
#
#   use AgentCore::Emulator;        # starts one emulator with defaults and
#                                   # sets $ENV{TEST_NGINX_BEDROCK_PORT}
#                                   # (unless it is already set)
#   use AgentCore::Emulator ();     # helpers only, nothing started
#   use AgentCore::Emulator qw(-nostart es_frame es_decode);
#
#   my $port = start_emulator(delay_ms => 5, bearer => ['tok'],
#                             args => ['--no-clock-check']);
#   my $bytes = es_frame('contentBlockDelta',
#                        '{"contentBlockIndex":0,"delta":{"text":"hi"}}');
#   my @frames = es_decode($body);    # dies on a CRC or framing error
#
# The auto-started emulator accepts the AWS example key (AKIDEXAMPLE) and the
# bearer token $AgentCore::Emulator::BEARER ('emulator-test-token'), also
# exported as $ENV{TEST_NGINX_BEDROCK_BEARER}. $ENV{TEST_NGINX_BEDROCK_LOG}
# names a request log file for it.

use strict;
use warnings;

use Exporter ();
use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);
use POSIX qw(WNOHANG strftime);
use Compress::Zlib qw(crc32);
use Digest::SHA qw(sha256_hex hmac_sha256 hmac_sha256_hex);

our @EXPORT = qw(start_emulator stop_emulator es_frame es_exception_frame
                 es_error_frame es_message es_header_string es_decode
                 es_decode_stream sigv4_sign emulator_script);
our @EXPORT_OK = (@EXPORT, qw($AKID $SECRET $BEARER));

our $AKID   = 'AKIDEXAMPLE';
our $SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
our $BEARER = 'emulator-test-token';

my $ROOT = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)),
                                       File::Spec->updir, File::Spec->updir,
                                       File::Spec->updir));
my $SCRIPT = File::Spec->catfile($ROOT, 'emulator', 'bedrock-emulator.pl');

my %RUNNING;       # pid -> [owner pid, pipe handle]

# No suite may reach the machine's real instance metadata service
# (169.254.169.254 answers on some hosts): nginx's workers get this
# variable from the module, so an IMDS fetch a suite did not point at
# its stand-in goes to a closed port on loopback instead.
BEGIN {
    $ENV{AWS_EC2_METADATA_SERVICE_ENDPOINT} //= 'http://127.0.0.1:9';
}

sub emulator_script { return $SCRIPT }

sub import {
    my ($class, @args) = @_;
    my $nostart = grep { $_ eq '-nostart' } @args;

    @args = grep { $_ ne '-nostart' } @args;

    if (!$nostart && !defined $ENV{TEST_NGINX_BEDROCK_PORT}) {
        my @extra = ('--bearer', $BEARER);
        push @extra, '--log', $ENV{TEST_NGINX_BEDROCK_LOG}
            if $ENV{TEST_NGINX_BEDROCK_LOG};
        $ENV{TEST_NGINX_BEDROCK_PORT} = start_emulator(args => \@extra);
        $ENV{TEST_NGINX_BEDROCK_BEARER} //= $BEARER;
    }

    local $Exporter::ExportLevel = 1;
    return Exporter::import($class, @args);
}

# Starts an emulator; returns its port (in list context also its pid).
# Options: keys => ['AKID:SECRET', ...], bearer => [...], delay_ms => N,
# log => FILE, no_clock_check => 1, no_auth => 1, quiet => 0,
# timeout => seconds to wait for READY (default 15), args => [...].
sub start_emulator {
    my (%o) = @_;
    my (@cmd, $fh, $pid, $line, $ok);

    @cmd = ($^X, $SCRIPT, '--listen', '127.0.0.1:0', '--parent', $$);
    push @cmd, '--quiet' if $o{quiet} // 1;
    push @cmd, map { ('--key', $_) } @{ $o{keys} // [] };
    push @cmd, map { ('--bearer', $_) } @{ $o{bearer} // [] };
    push @cmd, '--delay-ms', $o{delay_ms} if defined $o{delay_ms};
    push @cmd, '--log', $o{log} if defined $o{log};
    push @cmd, '--no-clock-check' if $o{no_clock_check};
    push @cmd, '--no-auth' if $o{no_auth};
    push @cmd, @{ $o{args} // [] };

    $pid = open($fh, '-|', @cmd)
        or die "AgentCore::Emulator: cannot run $SCRIPT: $!\n";

    $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm($o{timeout} // 15);
        $line = <$fh>;
        alarm(0);
        1;
    };
    alarm(0);

    if (!$ok || !defined $line || $line !~ /^READY (\d+)$/) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
        die 'AgentCore::Emulator: emulator did not become ready ('
            . ($ok ? 'got ' . ($line // 'EOF') : $@) . ")\n";
    }

    # keep the pipe open: the emulator's stdout stays valid
    $RUNNING{$pid} = [$$, $fh];
    return wantarray ? ($1 + 0, $pid) : $1 + 0;
}

sub stop_emulator {
    my ($pid) = @_;
    my $r = delete $RUNNING{$pid} or return;

    kill 'TERM', $pid;
    waitpid($pid, 0);
    close $r->[1];
}

END {
    my $status = $?;

    for my $pid (keys %RUNNING) {
        # only the process that started it stops it (forks run END too)
        next unless $RUNNING{$pid}[0] == $$;
        stop_emulator($pid);
    }
    $? = $status;
}


# ---------------------------------------------------------------------------
# event-stream frames

sub es_header_string {
    my ($name, $value) = @_;

    return pack('C', length $name) . $name
        . pack('Cn', 7, length $value) . $value;
}

# es_message($encoded_headers, $payload_bytes)
sub es_message {
    my ($headers, $payload) = @_;
    my ($prelude, $msg);

    $payload //= '';
    $prelude = pack('NN', 16 + length($headers) + length($payload),
                    length $headers);
    $msg = $prelude . pack('N', crc32($prelude)) . $headers . $payload;
    return $msg . pack('N', crc32($msg));
}

sub _bytes {
    my ($s) = @_;

    utf8::encode($s) if utf8::is_utf8($s);
    return $s;
}

# es_frame($event_type, $json_text): an event message as Bedrock sends it
sub es_frame {
    my ($type, $json) = @_;

    return es_message(es_header_string(':event-type', $type)
                      . es_header_string(':content-type', 'application/json')
                      . es_header_string(':message-type', 'event'),
                      _bytes($json));
}

sub es_exception_frame {
    my ($type, $json) = @_;

    return es_message(es_header_string(':exception-type', $type)
                      . es_header_string(':content-type', 'application/json')
                      . es_header_string(':message-type', 'exception'),
                      _bytes($json));
}

sub es_error_frame {
    my ($code, $message) = @_;

    return es_message(es_header_string(':error-code', $code)
                      . es_header_string(':error-message', $message)
                      . es_header_string(':message-type', 'error'), '');
}

my %FIXED = (2 => ['c', 1], 3 => ['s>', 2], 4 => ['l>', 4], 5 => ['q>', 8],
             8 => ['q>', 8]);

sub _decode_headers {
    my ($h) = @_;
    my (%out, @order, $i, $n, $name, $type, $len, $v);

    $i = 0;
    while ($i < length $h) {
        $n = ord substr($h, $i, 1);
        die "header name overruns headers\n" if $i + 1 + $n + 1 > length $h;
        $name = substr($h, $i + 1, $n);
        $type = ord substr($h, $i + 1 + $n, 1);
        $i += 2 + $n;
        if ($type == 0 || $type == 1) {
            $v = $type == 0 ? 1 : 0;
        } elsif ($FIXED{$type}) {
            my ($fmt, $size) = @{ $FIXED{$type} };
            die "header value overruns headers\n" if $i + $size > length $h;
            $v = unpack($fmt, substr($h, $i, $size));
            $i += $size;
        } elsif ($type == 6 || $type == 7) {
            die "header value overruns headers\n" if $i + 2 > length $h;
            $len = unpack('n', substr($h, $i, 2));
            die "header value overruns headers\n" if $i + 2 + $len > length $h;
            $v = substr($h, $i + 2, $len);
            $i += 2 + $len;
        } elsif ($type == 9) {
            die "header value overruns headers\n" if $i + 16 > length $h;
            $v = unpack('H*', substr($h, $i, 16));
            $i += 16;
        } else {
            die "Unrecognized header type tag $type\n";
        }
        $out{$name} = $v;
        push @order, [$name, $type, $v];
    }
    return (\%out, \@order);
}

# es_decode_stream($bytes): decodes the complete frames at the start of
# $bytes; returns (\@frames, $remainder). Each frame is a hashref
# {headers => {name => value}, header_list => [[name, type, value]],
#  payload => bytes, total_length => N, event_type, message_type,
#  exception_type}. Dies on "Prelude checksum mismatch" or
# "Message checksum mismatch" or a malformed header.
sub es_decode_stream {
    my ($buf) = @_;
    my (@frames, $total, $hlen, $pcrc, $msg);

    while (length $buf >= 12) {
        ($total, $hlen, $pcrc) = unpack('NNN', $buf);
        die "Prelude checksum mismatch\n"
            if crc32(substr($buf, 0, 8)) != $pcrc;
        die "bad total length $total\n"
            if $total < 16 || $hlen > $total - 16 || $total > 24 * 1024 * 1024;
        last if length $buf < $total;
        $msg = substr($buf, 0, $total, '');
        die "Message checksum mismatch\n"
            if crc32(substr($msg, 0, $total - 4))
               != unpack('N', substr($msg, $total - 4));
        my ($h, $order) = _decode_headers(substr($msg, 12, $hlen));
        push @frames, {
            headers        => $h,
            header_list    => $order,
            payload        => substr($msg, 12 + $hlen, $total - $hlen - 16),
            total_length   => $total,
            event_type     => $h->{':event-type'},
            message_type   => $h->{':message-type'},
            exception_type => $h->{':exception-type'},
        };
    }
    return (\@frames, $buf);
}

# es_decode($bytes): all frames; dies if bytes are left over
sub es_decode {
    my ($buf) = @_;
    my ($frames, $rest) = es_decode_stream($buf);

    die 'trailing ' . length($rest) . " bytes (truncated frame)\n"
        if length $rest;
    return @$frames;
}


# ---------------------------------------------------------------------------
# SigV4 for tests

sub _uri_encode {
    my ($s, $keep_slash) = @_;
    my $safe = $keep_slash ? 'A-Za-z0-9\-._~/' : 'A-Za-z0-9\-._~';

    $s = _bytes($s);
    $s =~ s/([^$safe])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# sigv4_sign(method => 'POST', path => wire path (already percent-encoded),
#   headers => [name => value, ...] (host included), body => bytes,
#   akid, secret, token, region (us-east-1), service (bedrock),
#   time => epoch seconds (default now), sign => [names] (default: all
#   given headers + x-amz-date (+ x-amz-security-token)))
# Returns the header list to send, with x-amz-date, the token and
# authorization appended. In list context also (canonical request, string
# to sign).
sub sigv4_sign {
    my (%a) = @_;
    my (@h, $date, $date8, $region, $service, %val, @names, $creq, $scope,
        $sts, $k, $sig, $body);

    $region = $a{region} // 'us-east-1';
    $service = $a{service} // 'bedrock';
    $body = $a{body} // '';
    $date = strftime('%Y%m%dT%H%M%SZ', gmtime($a{time} // time));
    $date8 = substr($date, 0, 8);

    @h = (@{ $a{headers} // [] }, 'x-amz-date', $date);
    push @h, 'x-amz-security-token', $a{token} if defined $a{token};

    for (my $i = 0; $i < @h; $i += 2) {
        my ($n, $v) = (lc $h[$i], $h[$i + 1]);
        $v =~ s/^[ \t]+|[ \t]+$//g;
        $v =~ s/[ \t]+/ /g;
        push @{ $val{$n} }, $v;
    }
    @names = sort map { lc } @{ $a{sign} // [keys %val] };

    $creq = join("\n", $a{method} // 'POST', _uri_encode($a{path}, 1),
                 $a{query} // '',
                 join('', map { "$_:" . join(',', @{ $val{$_} // [] }) . "\n" }
                          @names),
                 join(';', @names), sha256_hex($body));
    $scope = "$date8/$region/$service/aws4_request";
    $sts = join("\n", 'AWS4-HMAC-SHA256', $date, $scope, sha256_hex($creq));

    $k = hmac_sha256($date8, 'AWS4' . ($a{secret} // $SECRET));
    $k = hmac_sha256($region, $k);
    $k = hmac_sha256($service, $k);
    $k = hmac_sha256('aws4_request', $k);
    $sig = hmac_sha256_hex($sts, $k);

    push @h, 'authorization', 'AWS4-HMAC-SHA256 Credential='
        . ($a{akid} // $AKID) . "/$scope, SignedHeaders="
        . join(';', @names) . ", Signature=$sig";

    return wantarray ? (\@h, $creq, $sts) : \@h;
}

1;
