#!/usr/bin/perl
# Tests of emulator/bedrock-emulator.pl and t/lib/AgentCore/Emulator.pm.
# Run: prove emulator/t/

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../../t/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);
use File::Temp ();
use AgentCore::Emulator qw(-nostart start_emulator stop_emulator es_frame
                           es_exception_frame es_error_frame es_decode
                           es_decode_stream es_header_string sigv4_sign
                           emulator_script);

my $ROOT = "$Bin/../..";
my $VEC = $ENV{AC_VECTORS} // "$ROOT/../shared/vectors";
my $JSON = JSON::PP->new->utf8->canonical;
my $SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
my $HOST = 'bedrock-runtime.us-east-1.amazonaws.com';
my $PATH = '/model/us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse-stream';

require(emulator_script());

$SIG{PIPE} = 'IGNORE';

sub slurp {
    my ($f) = @_;
    open(my $fh, '<:raw', $f) or die "$f: $!";
    local $/;
    return scalar <$fh>;
}


# ---------------------------------------------------------------------------
# a small raw HTTP client

sub connect_to {
    my ($port) = @_;
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 5)
        || die "connect $port: $!";
}

sub send_request {
    my ($s, %a) = @_;
    my ($req, @h, $body);

    $body = $a{body} // '';
    @h = @{ $a{headers} // [] };
    unshift @h, 'Host', '127.0.0.1' unless grep { lc $_ eq 'host' } @h[grep { !($_ % 2) } 0 .. $#h];
    $req = ($a{method} // 'POST') . ' ' . ($a{path} // $PATH) . ' HTTP/'
        . ($a{version} // '1.1') . "\r\n";
    for (my $i = 0; $i < @h; $i += 2) {
        $req .= "$h[$i]: $h[$i + 1]\r\n";
    }
    if ($a{chunks}) {
        $req .= "Transfer-Encoding: chunked\r\n\r\n";
        $req .= sprintf("%x\r\n%s\r\n", length $_, $_) for @{ $a{chunks} };
        $req .= "0\r\n\r\n";
    } else {
        $req .= 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    }
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
}

# reads one response; {status, headers, body, chunks, reads, complete, eof,
# timeout}
sub read_response {
    my ($s, %o) = @_;
    my ($buf, $r, $sel, $fill, $i);

    $buf = '';
    $r = { chunks => [], reads => 0, headers => {}, complete => 0 };
    $sel = IO::Select->new($s);
    $fill = sub {
        if (!$sel->can_read($o{timeout} // 10)) {
            $r->{timeout} = 1;
            return 0;
        }
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!$n) {
            $r->{eof} = 1;
            return 0;
        }
        $r->{reads}++ if $r->{in_body};
        return 1;
    };

    for (;;) {
        while (($i = index($buf, "\r\n\r\n")) < 0) {
            return $r unless $fill->();
        }
        my $head = substr($buf, 0, $i + 4, '');
        my @lines = split /\r\n/, $head;
        ($r->{status}) = $lines[0] =~ m{^HTTP/1\.\d (\d{3})};
        $r->{status_line} = $lines[0];
        $r->{headers} = {};
        for (@lines[1 .. $#lines]) {
            my ($n, $v) = /^([^:]+):\s*(.*)$/ or next;
            $r->{headers}{lc $n} = $v;
        }
        last unless $r->{status} =~ /^1/;
        $r->{interim} = $r->{status};
    }

    $r->{in_body} = 1;
    $r->{reads} = length $buf ? 1 : 0;

    if (lc($r->{headers}{'transfer-encoding'} // '') eq 'chunked') {
        for (;;) {
            while (($i = index($buf, "\r\n")) < 0) {
                goto DONE unless $fill->();
            }
            my $len = hex substr($buf, 0, $i);
            substr($buf, 0, $i + 2, '');
            if ($len == 0) {
                while (index($buf, "\r\n") < 0) {
                    goto DONE unless $fill->();
                }
                $r->{complete} = 1;
                last;
            }
            while (length $buf < $len + 2) {
                goto DONE unless $fill->();
            }
            push @{ $r->{chunks} }, substr($buf, 0, $len, '');
            substr($buf, 0, 2, '');
        }
    } elsif (defined $r->{headers}{'content-length'}) {
        while (length $buf < $r->{headers}{'content-length'}) {
            goto DONE unless $fill->();
        }
        push @{ $r->{chunks} }, $buf;
        $r->{complete} = 1;
    } else {
        1 while $fill->();
        push @{ $r->{chunks} }, $buf;
        $r->{complete} = $r->{eof} ? 1 : 0;
    }
  DONE:
    if (!$r->{complete} && length $buf
        && !defined $r->{headers}{'content-length'})
    {
        $r->{leftover} = $buf;
    }
    $r->{body} = join('', @{ $r->{chunks} });
    return $r;
}

sub request {
    my ($port, %a) = @_;
    my $s = connect_to($port);

    send_request($s, %a);
    my $r = read_response($s, %a);
    close $s;
    return $r;
}

sub conv_body {
    my ($prompt, %extra) = @_;

    return $JSON->encode({
        messages => [{ role => 'user', content => [{ text => $prompt }] }],
        inferenceConfig => {}, %extra });
}

# signs with the AWS example key (or %o overrides) at the current time
sub signed {
    my ($port, $body, %o) = @_;
    my $h = sigv4_sign(path => $o{path} // $PATH, body => $body,
                       headers => ['host' => $HOST,
                                   'content-type' => 'application/json'],
                       %{ $o{sign} // {} });

    return request($port, path => $o{path} // $PATH, headers => $h,
                   body => $body, %{ $o{req} // {} });
}

# decodes a whole body; a decoding error is a failed test, not a death
sub frames {
    my ($r) = @_;
    my @f = eval { es_decode($r->{body}) };

    fail("body does not decode (HTTP $r->{status}): $@") if $@;
    return @f;
}

sub payloads {
    my (@f) = @_;
    return map { length $_->{payload} ? $JSON->decode($_->{payload}) : {} } @f;
}

sub events {
    my (@f) = @_;
    return join(' ', map { $_->{event_type} // "<$_->{message_type}>" } @f);
}

sub text_of {
    my (@f) = @_;
    my $t = '';

    for my $p (payloads(grep { ($_->{event_type} // '') eq 'contentBlockDelta' } @f)) {
        $t .= $p->{delta}{text} if defined $p->{delta}{text};
    }
    return $t;
}

sub stop_reason {
    my (@f) = @_;
    my ($p) = payloads(grep { ($_->{event_type} // '') eq 'messageStop' } @f);
    return $p ? $p->{stopReason} : undef;
}


# ---------------------------------------------------------------------------
# codec and helper unit checks (no server)

{
    my $v03 = slurp("$VEC/eventstream/frames/03_contentBlockStop.bin");
    my $json = '{"contentBlockIndex":0,"p":"abcdefghijklmnopq"}';

    is(unpack('H*', es_frame('contentBlockStop', $json)), unpack('H*', $v03),
       'es_frame reproduces vector frame 03 byte for byte');
    is(unpack('H*', BedrockEmulator::es_event_frame('contentBlockStop', $json)),
       unpack('H*', $v03), 'emulator encoder reproduces vector frame 03');

    my $v08 = slurp("$VEC/eventstream/frames/08_exception_throttlingException.bin");
    is(unpack('H*', es_exception_frame('throttlingException',
           '{"message":"Too many requests, please wait before trying again."}')),
       unpack('H*', $v08), 'es_exception_frame reproduces vector frame 08');
    my $v13 = slurp("$VEC/eventstream/frames/13_error_unmodeled.bin");
    is(unpack('H*', BedrockEmulator::es_error_frame('InternalFailure',
                                                    'An internal error occurred.')),
       unpack('H*', $v13), 'emulator error frame reproduces vector frame 13');

    my $m = $JSON->decode(slurp("$VEC/eventstream/frames_manifest.json"));
    my $ok = 0;
    for my $f (@{ $m->{frames} }) {
        my ($d) = es_decode(slurp("$VEC/eventstream/$f->{file}"));
        $ok++ if $d->{total_length} == $f->{total_length}
                 && scalar(@{ $d->{header_list} }) == @{ $f->{headers} };
    }
    is($ok, scalar @{ $m->{frames} }, "es_decode decodes all $ok vector frames");

    my $sm = $JSON->decode(slurp("$VEC/eventstream/streams_manifest.json"));
    for my $s (@{ $sm->{streams} }) {
        my @f = es_decode(slurp("$VEC/eventstream/$s->{file}"));
        is(scalar @f, scalar @{ $s->{frames} }, "stream $s->{file}: frame count");
    }

    for my $case (qw(corrupted_length corrupted_header_len corrupted_headers
                     corrupted_payload))
    {
        my $want = slurp("$VEC/eventstream_official/decoded/negative/$case");
        $want =~ s/\s+$//;
        eval { es_decode(slurp("$VEC/eventstream_official/encoded/negative/$case")) };
        like($@, qr/^\Q$want\E/, "official negative $case: $want");
    }

    # the test signer against the Bedrock SigV4 vectors
    my $sv = $JSON->decode(slurp("$VEC/sigv4_bedrock.json"));
    for my $c (@{ $sv->{cases} }) {
        my $in = $c->{inputs};
        my @h = map { ($_ => $in->{headers_before_signing}{$_}) }
                sort keys %{ $in->{headers_before_signing} };
        push @h, 'x-amz-content-sha256', $in->{body_sha256}
            if $in->{add_x_amz_content_sha256_header};
        my ($ih) = $c->{expected}{authorization} =~ /SignedHeaders=([^,]+)/;
        my ($t) = $in->{date} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
        my (undef, $creq) = sigv4_sign(
            path => $in->{path_on_wire}, headers => \@h,
            body => do { my $b = $in->{body}; utf8::encode($b); $b },
            token => $in->{session_token}, region => $in->{region},
            time => Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1),
            sign => [split /;/, $ih]);
        is($creq, $c->{expected}{canonical_request},
           "sigv4_sign canonical request: $c->{name}");
    }

    my ($d, $clean) = BedrockEmulator::parse_directives(
        'Hi [[deltas texts=["a b","c]]"] x=1]] there [[tool name=calc '
        . 'input={"e":"1 + 2"} text="say \"hi\""]] [[not a directive');
    is(scalar @$d, 2, 'two directives parsed');
    is($d->[0]{args}{texts}, '["a b","c]]"]', 'JSON array value with ]] inside a string');
    is($d->[0]{args}{x}, '1', 'bare value');
    is($d->[1]{args}{input}, '{"e":"1 + 2"}', 'JSON object value');
    is($d->[1]{args}{text}, 'say "hi"', 'quoted value with escapes');
    is($clean, 'Hi there [[not a directive', 'directives removed from the prompt');
    is_deeply([BedrockEmulator::words('Hello! You  said')],
              ['Hello!', ' You', '  said'], 'words keep leading spaces');
}
use Time::Local ();


# ---------------------------------------------------------------------------
# servers: A checks the clock (fresh signatures), B does not (frozen vectors)

my (undef, $LOG) = File::Temp::tempfile('bedrock-emulator-test-XXXXXX',
                                         TMPDIR => 1, UNLINK => 1);
my ($A, $A_pid) = start_emulator(
    keys => ["AKIDEXAMPLE:$SECRET", 'AKIDTOKEN:tokensecret:the-session-token'],
    bearer => ['good-bearer'], log => $LOG);
my $B = start_emulator(no_clock_check => 1, delay_ms => 40);
ok($A && $B, "emulators started on ports $A and $B");

{
    my $r = request($A, method => 'GET', path => '/_emulator/health');
    is($r->{status}, 200, 'health 200');
    is($r->{body}, 'ok', 'health body');
}

# --- SigV4 vectors (frozen dates) on B
{
    my $sv = $JSON->decode(slurp("$VEC/sigv4_bedrock.json"));
    for my $c (@{ $sv->{cases} }) {
        my $in = $c->{inputs};
        my $h = $c->{expected}{headers_to_send};
        my $body = $in->{body};
        utf8::encode($body);
        my $t0 = time;
        my $r = request($B, path => $in->{path_on_wire}, body => $body,
                        headers => [map { ($_ => $h->{$_}) } sort keys %$h]);
        my $dt = time - $t0;
        if ($in->{path_on_wire} =~ m{/converse-stream$}) {
            is($r->{status}, 200, "vector $c->{name}: 200");
            my $n = () = $r->{body} =~ /"delta":/g;
            ok($dt >= 0.04 * ($n - 1),
               sprintf('--delay-ms 40: %d deltas took %.3f s', $n, $dt));
            my @f = eval { frames($r) };
            is(@f >= 3 ? events(@f[0, -2, -1]) : "", 'messageStart messageStop metadata',
               "vector $c->{name}: event-stream body decodes");
        } else {
            is($r->{status}, 404, "vector $c->{name} (non-stream): 404");
        }

        if ($c->{name} eq 'converse-stream-basic') {
            my %bad = %$h;
            $bad{authorization} =~ s/Signature=(.)/'Signature=' . ($1 eq '0' ? '1' : '0')/e;
            $r = request($B, path => $in->{path_on_wire}, body => $body,
                         headers => [map { ($_ => $bad{$_}) } sort keys %bad]);
            is($r->{status}, 403, 'bad signature: 403');
            is($r->{headers}{'x-amzn-errortype'},
               'InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/',
               'bad signature: x-amzn-ErrorType');
            is($r->{body}, '{"message":"The request signature we calculated '
               . 'does not match the signature you provided. Check your AWS '
               . 'Secret Access Key and signing method. Consult the service '
               . 'documentation for details."}', 'bad signature: body');

            my $tampered = $body =~ s/Hello/Hellp/r;
            $r = request($B, path => $in->{path_on_wire}, body => $tampered,
                         headers => [map { ($_ => $h->{$_}) } sort keys %$h]);
            is($r->{status}, 403, 'tampered body: 403');

            $r = request($A, path => $in->{path_on_wire}, body => $body,
                         headers => [map { ($_ => $h->{$_}) } sort keys %$h]);
            is($r->{status}, 403, 'frozen date with clock check: 403');
            like($r->{body}, qr/^\{"message":"Signature expired: 20250115T123456Z is now earlier than/,
                 'frozen date with clock check: Signature expired');
        }
    }
}

# --- fresh signatures on A
{
    my $body = conv_body('hi there');
    my $r = signed($A, $body);
    is($r->{status}, 200, 'fresh signature: 200');
    is($r->{headers}{'content-type'}, 'application/vnd.amazon.eventstream',
       'content-type');
    is($r->{headers}{'transfer-encoding'}, 'chunked', 'chunked');
    like($r->{headers}{'x-amzn-requestid'}, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
         'x-amzn-RequestId');
    ok($r->{complete}, 'chunked body complete');

    my @f = frames($r);
    is(events(@f), 'messageStart contentBlockDelta contentBlockDelta '
       . 'contentBlockDelta contentBlockDelta contentBlockDelta '
       . 'contentBlockStop messageStop metadata', 'default event order');
    is(text_of(@f), 'Hello! You said: hi there', 'default answer text');
    is_deeply([map { $_->{delta}{text} } grep { $_->{delta} } payloads(@f)],
              ['Hello!', ' You', ' said:', ' hi', ' there'], 'word deltas');
    is(scalar @{ $r->{chunks} }, scalar @f, 'one HTTP chunk per frame');
    is(scalar(grep { ($_->{p} // '') =~ /^[A-Za-z0-9]+$/ } payloads(@f)),
       scalar @f, 'every payload has a "p" padding member');
    is(scalar(grep { $_->{headers}{':content-type'} eq 'application/json'
                     && $_->{headers}{':message-type'} eq 'event'
                     && join(',', map { $_->[1] } @{ $_->{header_list} }) eq '7,7,7' } @f),
       scalar @f, 'three string headers on every frame');
    my ($meta) = payloads($f[-1]);
    is($meta->{usage}{totalTokens},
       $meta->{usage}{inputTokens} + $meta->{usage}{outputTokens},
       'usage totalTokens = in + out');
    ok(defined $meta->{metrics}{latencyMs}, 'metrics.latencyMs');
    is(stop_reason(@f), 'end_turn', 'end_turn');

    # a session-token key
    $r = signed($A, $body, sign => { akid => 'AKIDTOKEN', secret => 'tokensecret',
                                     token => 'the-session-token' });
    is($r->{status}, 200, 'session token: 200');
    $r = signed($A, $body, sign => { akid => 'AKIDTOKEN', secret => 'tokensecret',
                                     token => 'another-token' });
    is($r->{status}, 403, 'wrong session token: 403');

    $r = signed($A, $body, sign => { akid => 'AKIDUNKNOWN' });
    is($r->{status}, 403, 'unknown AKID: 403');
    like($r->{headers}{'x-amzn-errortype'}, qr/^UnrecognizedClientException:/,
         'unknown AKID: UnrecognizedClientException');

    $r = signed($A, $body, sign => { service => 'bedrock-runtime' });
    is($r->{status}, 403, 'service bedrock-runtime: 403');
    like($r->{body}, qr/correct service: 'bedrock'/, 'service scope message');

    # the scope's region must be the endpoint's (the Host names it)
    $r = signed($A, $body, sign => { region => 'us-west-2' });
    is($r->{status}, 403, 'region us-west-2 for a us-east-1 host: 403');
    like($r->{body}, qr/scoped to a valid region, not 'us-west-2'/,
         'region scope message');
    $r = signed($A, $body, sign => { region => "us-east-1bedrock-runtime" });
    is($r->{status}, 403, 'a region that is no region name: 403');

    $r = signed($A, $body, sign => { secret => 'wrong' });
    like($r->{headers}{'x-amzn-errortype'}, qr/^InvalidSignatureException:/,
         'wrong secret: InvalidSignatureException');

    $r = signed($A, $body, sign => { time => time - 600 });
    like($r->{body}, qr/Signature expired/, 'ten minutes old: expired');

    $r = request($A, body => $body);
    is($r->{status}, 403, 'no Authorization: 403');
    like($r->{headers}{'x-amzn-errortype'}, qr/^MissingAuthenticationTokenException:/,
         'no Authorization: MissingAuthenticationTokenException');

    $r = request($A, body => $body, headers => [Authorization => 'Bearer good-bearer']);
    is($r->{status}, 200, 'bearer ok: 200');
    $r = request($A, body => $body, headers => [Authorization => 'Bearer bad-bearer']);
    is($r->{status}, 403, 'bearer bad: 403');
    $r = request($B, body => $body, headers => [Authorization => 'Bearer good-bearer']);
    is($r->{status}, 403, 'bearer without --bearer: 403');

    # chunked request body, signed over the de-chunked body
    my $eb = conv_body('[[echo]] chunked body');
    my $h = sigv4_sign(path => $PATH, body => $eb,
                       headers => [host => $HOST, 'content-type' => 'application/json']);
    $r = request($A, headers => $h, chunks => [substr($eb, 0, 10), substr($eb, 10)]);
    is($r->{status}, 200, 'chunked request body: 200');
    is(text_of(frames($r)), $eb, 'chunked request body arrives intact');

    # Expect: 100-continue: headers first, the body after the interim 100
    {
        my $s = connect_to($A);
        my $hl = sigv4_sign(path => $PATH, body => $eb, headers => [host => $HOST]);
        my $head = "POST $PATH HTTP/1.1\r\n";
        for (my $i = 0; $i < @$hl; $i += 2) {
            $head .= "$hl->[$i]: $hl->[$i + 1]\r\n";
        }
        $head .= 'Content-Length: ' . length($eb) . "\r\nExpect: 100-continue\r\n\r\n";
        syswrite($s, $head);
        my $got = '';
        while (index($got, "\r\n\r\n") < 0) {
            last unless IO::Select->new($s)->can_read(5);
            last unless sysread($s, $got, 1024, length $got);
        }
        is($got, "HTTP/1.1 100 Continue\r\n\r\n", 'Expect: 100-continue gets 100');
        syswrite($s, $eb);
        $r = read_response($s);
        is($r->{status}, 200, '... then 200 after the body');
        is(text_of(frames($r)), $eb, '... with the body');
        close $s;
    }
}

# --- validation, routing
{
    my $r = signed($A, '{"messages":[]}');
    is($r->{status}, 400, 'empty messages: 400');
    is($r->{headers}{'x-amzn-errortype'},
       'ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/',
       'validation x-amzn-ErrorType');
    is($r->{body}, '{"message":"A conversation must start with a user message. '
       . 'Try again with a conversation that starts with a user message."}',
       'empty messages: message');

    $r = signed($A, $JSON->encode({ messages => [
        { role => 'assistant', content => [{ text => 'x' }] }] }));
    like($r->{body}, qr/must start with a user message/, 'assistant first: 400');

    $r = signed($A, $JSON->encode({ messages => [
        { role => 'user', content => [{ text => 'x' }] },
        { role => 'user', content => [{ text => 'y' }] }] }));
    like($r->{body}, qr/must alternate between user and assistant/,
         'two user messages: 400');

    $r = signed($A, 'not json');
    is($r->{status}, 400, 'not JSON: 400');
    $r = signed($A, '{}');
    like($r->{body}, qr/Value null at 'messages'/, 'no messages: 400');

    $r = signed($A, $JSON->encode({ messages => [
        { role => 'user', content => [{ text => 'x' }] },
        { role => 'assistant', content => [{ toolUse => { toolUseId => 't1',
                                             name => 'a', input => {} } }] },
        { role => 'user', content => [{ toolResult => { toolUseId => 't2',
                                         content => [{ text => 'r' }] } }] }],
        toolConfig => { tools => [{ toolSpec => { name => 'a' } }] } }));
    like($r->{body}, qr/Expected toolResult blocks at messages\.2\.content for the following Ids: t1/,
         'toolResult id mismatch: 400');

    $r = signed($A, conv_body('[[frobnicate]]'));
    is($r->{status}, 400, 'unknown directive: 400');
    like($r->{body}, qr/emulator: unknown directive \[\[frobnicate\]\]/,
         'unknown directive message');

    $r = signed($A, conv_body('hi'), path => '/model/x/invoke');
    is($r->{status}, 404, 'unknown path: 404');
    like($r->{headers}{'x-amzn-errortype'}, qr/^UnknownOperationException:/,
         'unknown path: UnknownOperationException');
}

# --- keep-alive
{
    my $s = connect_to($A);
    my @r;
    for my $i (1, 2) {
        my $b = conv_body("request $i");
        send_request($s, body => $b,
                     headers => sigv4_sign(path => $PATH, body => $b,
                                           headers => [host => $HOST]));
        push @r, read_response($s);
    }
    is_deeply([map { $_->{status} } @r], [200, 200], 'keep-alive: two 200s');
    is(text_of(frames($r[1])), 'Hello! You said: request 2',
       'keep-alive: second answer on the same connection');

    my $b = conv_body('three');
    send_request($s, body => $b,
                 headers => [@{ sigv4_sign(path => $PATH, body => $b,
                                           headers => [host => $HOST]) },
                             Connection => 'close']);
    my $r = read_response($s);
    is($r->{headers}{connection}, 'close', 'Connection: close echoed');
    my $extra = read_response($s, timeout => 5);
    ok($extra->{eof} && !$extra->{timeout}, 'Connection: close honoured');
    close $s;

    $s = connect_to($A);
    syswrite($s, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    $r = read_response($s);
    is($r->{status}, 505, 'HTTP/2 preface: 505');
    close $s;

    $r = signed($A, $b, req => { version => '1.0' });
    is($r->{status}, 200, 'HTTP/1.0: 200');
    ok(!defined $r->{headers}{'transfer-encoding'}, 'HTTP/1.0: not chunked');
    is(text_of(frames($r)), 'Hello! You said: three', 'HTTP/1.0: close-delimited body');
}

# --- scenarios
sub scenario {
    my ($prompt, %o) = @_;
    return signed($A, conv_body($prompt, %{ $o{extra} // {} }), %o);
}

{
    my @texts = ("a\nb", 'q"uote', 'back\\slash', "\x{fc}\x{f1} \x{4e16}\x{754c} \x{1f44b}",
                 "\x01ctl\x1f", '', "tab\there");
    my $r = scenario('[[deltas texts=' . JSON::PP->new->ascii->encode(\@texts) . ']]');
    my @f = frames($r);
    is_deeply([map { $_->{delta}{text} } grep { $_->{delta} } payloads(@f)], \@texts,
              'deltas: exact texts incl. escapes, UTF-8, control chars, empty');
    ok((grep { $_->{payload} =~ /\\u0001ctl\\u001f/ } @f), 'control chars as \u00XX');

    $r = scenario('[[deltas texts=["\u00e9\ud83d\udc4b"]]] [[ascii]]');
    @f = frames($r);
    ok((grep { $_->{payload} =~ /\\u00e9\\ud83d\\udc4b/ } @f), 'ascii: \u escapes with surrogates');
    is(text_of(@f), "\x{e9}\x{1f44b}", 'ascii: decodes back');

    my $t0 = time;
    $r = scenario('[[slow ms=60 n=3]]');
    my $dt = time - $t0;
    is(text_of(frames($r)), 'tok1 tok2 tok3 ', 'slow: texts');
    ok($dt >= 0.12, sprintf('slow: took %.3f s >= 0.12', $dt));

    $r = scenario('[[split bytes=5]] hello');
    @f = frames($r);
    is(text_of(@f), 'Hello! You said: hello', 'split: content intact');
    ok($r->{reads} > 20, "split: body arrived in $r->{reads} reads");
    ok(!(grep { length > 5 } @{ $r->{chunks} }), 'split: chunks of at most 5 bytes');

    $r = scenario('[[batch]] hello');
    is(scalar @{ $r->{chunks} }, 1, 'batch: one chunk');
    is(scalar(() = frames($r)), 8, 'batch: holds all 8 frames');
    $r = scenario('[[batch]] [[slow ms=50 n=3]]');
    is(scalar @{ $r->{chunks} }, 1, 'batch with pauses: still one chunk');
    is(text_of(frames($r)), 'tok1 tok2 tok3 ', 'batch with pauses: all deltas');
    $r = scenario('[[split bytes=64 ms=0]] [[slow ms=1 n=3]]');
    is(text_of(frames($r)), 'tok1 tok2 tok3 ', 'split with pauses: all deltas');

    $r = scenario('[[exception type=throttlingException message="Slow down"]]');
    @f = frames($r);
    is(events(@f), 'messageStart contentBlockDelta contentBlockDelta <exception>',
       'exception: deltas then exception');
    is(($f[-1] // {})->{exception_type}, 'throttlingException', 'exception: :exception-type');
    is(($f[-1] // {})->{payload}, '{"message":"Slow down"}', 'exception: payload');
    ok($r->{complete}, 'exception: body ends properly');

    $r = scenario('[[exception type=modelStreamErrorException deltas=0]]');
    @f = frames($r);
    is(events(@f), 'messageStart <exception>', 'exception deltas=0');
    like(($f[-1] // {})->{payload}, qr/"originalStatusCode":500/, 'modelStreamError fields');

    $r = scenario('[[error-frame code=InternalFailure message="It broke"]]');
    @f = frames($r);
    is(($f[-1] // {})->{message_type}, 'error', 'error-frame: :message-type error');
    is(($f[-1] // {})->{headers}{':error-code'}, 'InternalFailure', 'error-frame: code');
    is(($f[-1] // {})->{headers}{':error-message'}, 'It broke', 'error-frame: message');

    $r = scenario('[[http status=429 message="Rate exceeded"]]');
    is($r->{status}, 429, 'http: 429');
    is($r->{headers}{'x-amzn-errortype'},
       'ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/',
       'http: error type');
    is($r->{body}, '{"message":"Rate exceeded"}', 'http: body');

    $r = scenario('[[http status=503 times=1 id=once]] hi');
    is($r->{status}, 503, 'http times=1: first request fails');
    like($r->{headers}{'x-amzn-errortype'}, qr/^ServiceUnavailableException:/,
         'http 503 default type');
    $r = scenario('[[http status=503 times=1 id=once]] hi');
    is($r->{status}, 200, 'http times=1: second request succeeds');
    is(text_of(frames($r)), 'Hello! You said: hi', 'http times=1: normal answer');

    $r = scenario('[[truncate]]');
    ok($r->{complete}, 'truncate: chunked terminator sent');
    my ($fr, $rest) = eval { es_decode_stream($r->{body}) };
    ($fr, $rest) = ([], '') unless $fr;
    ok(length $rest > 0, 'truncate: body ends inside a frame');
    is(text_of(@$fr), 'Partial answer ', 'truncate: complete frames before');

    $r = scenario('[[close]]');
    ok(!$r->{complete} && $r->{eof}, 'close: EOF without chunked terminator');

    $r = scenario('[[corrupt]]');
    eval { es_decode($r->{body}) };
    like($@, qr/Message checksum mismatch/, 'corrupt: message CRC wrong');
    is(scalar(grep { !eval { es_decode($_); 1 } } @{ $r->{chunks} }), 1,
       'corrupt: exactly one bad frame');
    $r = scenario('[[corrupt where=prelude]]');
    eval { es_decode($r->{body}) };
    like($@, qr/Prelude checksum mismatch/, 'corrupt where=prelude');

    $r = scenario('[[unknown]]');
    my @chunks = @{ $r->{chunks} };
    my @bad = grep { !eval { es_decode($_); 1 } } @chunks;
    is(scalar @bad, 1, 'unknown: one frame has a type-13 header');
    my $std = es_header_string(':event-type', 'contentBlockDelta')
        . es_header_string(':content-type', 'application/json')
        . es_header_string(':message-type', 'event');
    is(substr(($bad[0] // ""), 12, length $std), $std, 'unknown: standard headers first');
    is(ord(substr(($bad[0] // ""), 12 + length($std) + 15, 1)), 13, 'unknown: then type 13');
    ok((grep { eval { (es_decode($_))[0]{event_type} eq 'someFutureEvent' } } @chunks),
       'unknown: someFutureEvent frame');

    $r = scenario('[[max-tokens]] hi');
    is(stop_reason(frames($r)), 'max_tokens', 'max-tokens');
    $r = scenario('[[stop-reason value=guardrail_intervened]]');
    is(stop_reason(frames($r)), 'guardrail_intervened', 'stop-reason');

    $r = scenario('[[usage in=7 out=9]]');
    my ($u) = payloads((frames($r))[-1]);
    is_deeply($u->{usage}, { inputTokens => 7, outputTokens => 9, totalTokens => 16 },
              'usage');
    $r = scenario('[[usage in=7 out=9 cache-read=5 cache-write=3]]');
    ($u) = payloads((frames($r))[-1]);
    is_deeply($u->{usage}, { inputTokens => 7, outputTokens => 9, totalTokens => 16,
                             cacheReadInputTokens => 5,
                             cacheWriteInputTokens => 3 },
              'usage with cache tokens');

    $r = scenario('[[reasoning]]');
    @f = frames($r);
    my @p = payloads(@f);
    is($p[1]{delta}{reasoningContent}{text}, 'Let me think', 'reasoning text');
    ok((grep { $_->{delta}{reasoningContent}{signature} } grep { $_->{delta} } @p),
       'reasoning signature');
    is(text_of(@f), 'Here is my answer.', 'reasoning: text in block 1');
    ok(!(grep { ($_->{event_type} // '') eq 'contentBlockStart' } @f),
       'reasoning: no contentBlockStart');

    $r = scenario('[[many n=500]]');
    is(scalar(grep { ($_->{event_type} // '') eq 'contentBlockDelta' } frames($r)),
       500, 'many n=500');

    my $body = conv_body('[[echo]] please');
    $r = signed($A, $body);
    is(text_of(frames($r)), $body, 'echo: raw request body');

    $r = scenario('[[echo-headers]]');
    my $hd = text_of(frames($r));
    like($hd, qr{^:method: POST\n:path: \Q$PATH\E\n}, 'echo-headers: method and path');
    like($hd, qr{^authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date$}m,
         'echo-headers: authorization reduced');
    unlike($hd, qr/Signature=|\Q$SECRET\E/, 'echo-headers: no signature, no secret');
    my @names = map { /^([^:]*:?[^:]*):/ ? $1 : () } split /\n/, $hd;
    is_deeply(\@names, [sort @names], 'echo-headers: sorted');
    $r = request($A, body => conv_body('[[echo-headers]]'),
                 headers => [Authorization => 'Bearer good-bearer']);
    like(text_of(frames($r)), qr/^authorization: Bearer \[redacted\]$/m,
         'echo-headers: bearer redacted');
}

# --- tools
{
    my $tc = { tools => [map { { toolSpec => { name => $_, inputSchema => { json => {} } } } }
                         qw(calculator weather get_time)],
               toolChoice => { auto => {} } };

    my $prompt = '[[tool name=weather input={"city": "Par\u00eds"} text="Checking."]]';
    my $r = scenario($prompt, extra => { toolConfig => $tc });
    my @f = frames($r);
    is(events(@f), 'messageStart contentBlockDelta contentBlockStop '
       . 'contentBlockStart contentBlockDelta contentBlockDelta contentBlockDelta '
       . 'contentBlockDelta contentBlockStop messageStop metadata', 'tool: event order');
    my @p = payloads(@f);
    is($p[3]{start}{toolUse}{name}, 'weather', 'tool: name');
    my $id = $p[3]{start}{toolUse}{toolUseId};
    like($id, qr/^tooluse_[A-Za-z0-9]+$/, 'tool: toolUseId');
    my @frags = map { $_->{delta}{toolUse}{input} } @p[4 .. 7];
    is($frags[0], '', 'tool: first input fragment empty');
    is(join('', @frags), '{"city": "Par\u00eds"}', 'tool: fragments join to the input JSON');
    is(stop_reason(@f), 'tool_use', 'tool: stopReason tool_use');

    my $hist = [
        { role => 'user', content => [{ text => $prompt }] },
        { role => 'assistant', content => [{ text => 'Checking.' },
            { toolUse => { toolUseId => $id, name => 'weather', input => { city => 'x' } } }] },
        { role => 'user', content => [{ toolResult => { toolUseId => $id, status => 'success',
            content => [{ text => 'sunny' }, { json => { t => 18 } }] } }] },
    ];
    $r = signed($A, $JSON->encode({ messages => $hist, toolConfig => $tc }));
    @f = frames($r);
    is(text_of(@f), 'Tool said: sunny | {"t":18}', 'tool result turn: answer');
    is(stop_reason(@f), 'end_turn', 'tool result turn: end_turn');

    $r = scenario('[[tools calls=[{"name":"weather","input":{}},{"name":"get_time","input":{}}]]]',
                  extra => { toolConfig => $tc });
    @p = grep { $_->{start} } payloads(frames($r));
    is_deeply([map { [$_->{contentBlockIndex}, $_->{start}{toolUse}{name}] } @p],
              [[0, 'weather'], [1, 'get_time']], 'tools: two toolUse blocks');

    $r = scenario('[[tool-loop]]', extra => { toolConfig => $tc });
    @f = frames($r);
    is(text_of(@f), 'Cycle 1. ', 'tool-loop: cycle 1');
    is(stop_reason(@f), 'tool_use', 'tool-loop: tool_use');

    $r = scenario('[[text-after]]', extra => { toolConfig => $tc });
    @p = payloads(frames($r));
    is_deeply([map { $_->{contentBlockIndex} } grep { $_->{delta} && defined $_->{delta}{text} } @p],
              [0, 0, 0, 2, 2], 'text-after: text blocks 0 and 2')
        or diag explain \@p;

    # heuristics without a directive
    $r = scenario('How much is 2+1', extra => { toolConfig => $tc });
    @p = payloads(frames($r));
    my ($start) = grep { $_->{start} } @p;
    is($start->{start}{toolUse}{name}, 'calculator', 'heuristic: calculator');
    is(join('', map { $_->{delta}{toolUse}{input} } grep { $_->{delta} && $_->{delta}{toolUse} } @p),
       '{"expression":"2+1"}', 'heuristic: expression');
    $r = scenario("What's the weather like?", extra => { toolConfig => $tc });
    ($start) = grep { $_->{start} } payloads(frames($r));
    is($start->{start}{toolUse}{name}, 'weather', 'heuristic: weather');
    $r = scenario('What time is it?', extra => { toolConfig => $tc });
    ($start) = grep { $_->{start} } payloads(frames($r));
    is($start->{start}{toolUse}{name}, 'get_time', 'heuristic: get_time');
    $r = scenario('What time is it?');
    is(text_of(frames($r)), 'Hello! You said: What time is it?', 'no toolConfig: no tool');

    $hist = [
        { role => 'user', content => [{ text => 'How much is 2+1' }] },
        { role => 'assistant', content => [
            { toolUse => { toolUseId => 'tooluse_1', name => 'calculator', input => {} } }] },
        { role => 'user', content => [{ toolResult => { toolUseId => 'tooluse_1',
            content => [{ text => 'Result: 3' }] } }] },
    ];
    $r = signed($A, $JSON->encode({ messages => $hist, toolConfig => $tc }));
    is(text_of(frames($r)), 'The answer is Result: 3.', 'heuristic: final answer');
}

# --- a gate: held after its first delta until released
{
    my $s = connect_to($A);
    my $b = conv_body('[[gate id=t-gate]]');
    send_request($s, body => $b, headers => sigv4_sign(path => $PATH, body => $b,
                                                       headers => [host => $HOST]));
    my $r = read_response($s, timeout => 0.3);
    ok($r->{timeout} && !$r->{complete}, 'gate: held');
    my ($fr) = eval { es_decode_stream($r->{body}) };
    $fr //= [];
    is(events(@$fr), 'messageStart contentBlockDelta', 'gate: first delta only');
    close $s;

    $r = request($A, method => 'GET', path => '/_emulator/release?id=t-gate');
    is($r->{body}, "released\n", 'gate: released');
    $r = signed($A, conv_body('[[gate id=t-gate]]'));
    is(text_of(frames($r)), 'Before the gate, after it.', 'gate: open, whole answer');
}

# --- hangs (absence of data needs a bound: 0.3 s)
{
    my $s = connect_to($A);
    my $b = conv_body('[[hang]]');
    send_request($s, body => $b, headers => sigv4_sign(path => $PATH, body => $b,
                                                       headers => [host => $HOST]));
    my $r = read_response($s, timeout => 0.3);
    ok($r->{timeout} && !$r->{complete}, 'hang: body not finished');
    my ($fr) = eval { es_decode_stream($r->{body}) };
    $fr //= [];
    is(events(@$fr), 'messageStart contentBlockDelta', 'hang: first delta only');

    my $s2 = connect_to($A);
    $b = conv_body('[[hang-headers]]');
    send_request($s2, body => $b, headers => sigv4_sign(path => $PATH, body => $b,
                                                        headers => [host => $HOST]));
    $r = read_response($s2, timeout => 0.3);
    is($r->{status}, 200, 'hang-headers: 200 headers');
    is($r->{body}, '', 'hang-headers: no body');

    my $s3 = connect_to($A);
    $b = conv_body('[[hang-accept]]');
    send_request($s3, body => $b, headers => sigv4_sign(path => $PATH, body => $b,
                                                        headers => [host => $HOST]));
    $r = read_response($s3, timeout => 0.3);
    ok($r->{timeout} && !defined $r->{status}, 'hang-accept: no answer');
    close $s3;

    # stopping the emulator ends hung children too
    stop_emulator($A_pid);
    $r = read_response($s, timeout => 5);
    ok($r->{eof} && !$r->{timeout}, 'SIGTERM: hung connection closed');
    $r = read_response($s2, timeout => 5);
    ok($r->{eof} && !$r->{timeout}, 'SIGTERM: hang-headers connection closed');
    ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $A,
                              Proto => 'tcp'), 'SIGTERM: port closed');
}

# --- the request log
{
    my $log = slurp($LOG);
    my @lines = split /\n/, $log;
    ok(@lines > 50, scalar(@lines) . ' log lines');
    unlike($log, qr/\Q$SECRET\E|Signature=|good-bearer|the-session-token/,
           'log holds no secrets');
    like($log, qr{POST /model/\S+ 200 auth=sigv4:AKIDEXAMPLE scenario=many}, 'log line format');
}

done_testing();
