#!/usr/bin/perl
# The emulator's other APIs: POST /v1/chat/completions (OpenAI's
# streaming format) and POST /v1/messages (Anthropic's), from the same
# scenarios as ConverseStream; their auth checks; and a keep-alive
# connection that changes API between requests.
# Run: prove emulator/t/

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../../t/lib";

use Test::More;
use IO::Socket::INET;
use JSON::PP;
use AgentCore::Emulator qw(-nostart start_emulator stop_emulator
                           es_decode_stream);

my $JSON = JSON::PP->new->utf8->canonical;
my ($port, $pid) = start_emulator(bearer => ['k1']);

$SIG{PIPE} = 'IGNORE';

# one request on $s (HTTP/1.1, keep-alive): (status, headers, body)
sub request {
    my ($s, $path, $body, @headers) = @_;
    my ($head, $buf, %h, $out);

    print $s "POST $path HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        . join('', map { "$_\r\n" } @headers)
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";

    $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        sysread($s, $buf, 65536, length $buf) or last;
    }
    ($head, $buf) = split /\r\n\r\n/, $buf, 2;
    my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    for (split /\r\n/, $head) {
        $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/;
    }
    if (($h{'transfer-encoding'} // '') =~ /chunked/) {
        $out = '';
        for (;;) {
            if ($buf =~ s/\A([0-9a-f]+)\r\n//) {
                my $n = hex $1;
                while (length $buf < $n + 2) {
                    sysread($s, $buf, 65536, length $buf) or last;
                }
                last if $n == 0;
                $out .= substr($buf, 0, $n);
                $buf = substr($buf, $n + 2);
                next;
            }
            sysread($s, $buf, 65536, length $buf) or last;
        }
    } else {
        while (length $buf < ($h{'content-length'} // 0)) {
            sysread($s, $buf, 65536, length $buf) or last;
        }
        $out = $buf;
    }
    return ($status, \%h, $out);
}

sub conn {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                 Proto => 'tcp', Timeout => 5)
        || die "connect: $!";
}

# the data of each SSE event, decoded ([DONE] as a string)
sub events {
    my ($body) = @_;
    return map { $_ eq '[DONE]' ? $_ : $JSON->decode($_) }
           $body =~ /^data: (.*)$/mg;
}

my @oai = ('Authorization: Bearer k1');
my @ant = ('x-api-key: k1', 'anthropic-version: 2023-06-01');
my $s = conn();

# --------------------------------------------------------------- OpenAI

my ($st, $h, $b) = request($s, '/v1/chat/completions',
    $JSON->encode({ model => 'm', stream => JSON::PP::true,
                    messages => [{ role => 'user',
                                   content => '[[deltas texts=["Hi"," you"]]]' }] }),
    @oai);
is($st, 200, 'openai: 200');
like($h->{'content-type'}, qr{^text/event-stream}, '... an event stream');
my @e = events($b);
is(join('', map { ref $_ ? $_->{choices}[0]{delta}{content} // '' : '' } @e),
   'Hi you', '... the text in delta.content');
is((grep { ref $_ && @{ $_->{choices} } && $_->{choices}[0]{finish_reason} } @e)[0]
       ->{choices}[0]{finish_reason}, 'stop', '... finish_reason stop');
ok((grep { ref $_ && $_->{usage} } @e), '... a usage chunk');
is($e[-1], '[DONE]', '... then [DONE]');

# the same connection, now ConverseStream: the event stream again
($st, $h, $b) = request($s, '/model/m/converse-stream',
    $JSON->encode({ messages => [{ role => 'user',
                                   content => [{ text => 'hello' }] }] }),
    'Authorization: Bearer k1');
is($st, 200, 'bedrock on the same connection: 200');
like($h->{'content-type'}, qr{^application/vnd\.amazon\.eventstream},
     '... an event stream of AWS, not SSE');
ok(eval { es_decode_stream($b); 1 }, '... that decodes');

($st, $h, $b) = request($s, '/v1/chat/completions',
    $JSON->encode({ model => 'm', messages => [{ role => 'user',
        content => '[[tools calls=[{"name":"calc","input":{"x":1}},{"name":"w","input":{}}]]]' }],
        tools => [{ type => 'function', function => { name => 'calc' } },
                  { type => 'function', function => { name => 'w' } }] }),
    @oai);
my (%args, %name);
for my $ev (events($b)) {
    next unless ref $ev && @{ $ev->{choices} // [] };
    for my $tc (@{ $ev->{choices}[0]{delta}{tool_calls} // [] }) {
        $name{ $tc->{index} } //= $tc->{function}{name};
        $args{ $tc->{index} } .= $tc->{function}{arguments} // '';
    }
}
is_deeply([map { $name{$_} } sort keys %name], ['calc', 'w'],
          'openai tools: two calls, index 0 and 1, names in the first chunk');
is_deeply($JSON->decode($args{0}), { x => 1 },
          '... arguments JSON once joined');

($st, $h, $b) = request($s, '/v1/chat/completions',
    $JSON->encode({ model => 'm', messages => [{ role => 'user',
        content => '[[exception type=throttlingException message="slow"]]' }] }),
    @oai);
my ($err) = grep { ref $_ && $_->{error} } events($b);
is($err->{error}{type}, 'rate_limit_exceeded', 'an exception: an error object');
is($err->{error}{message}, 'slow', '... its message');

($st, $h, $b) = request($s, '/v1/chat/completions', '{}',
                        'Authorization: Bearer nope');
is($st, 401, 'a wrong bearer key: 401');
like($b, qr/"message":"Incorrect API key provided\."/, '... OpenAI\'s body');
($st) = request($s, '/v1/chat/completions', '{}', @oai,
                'X-Amz-Date: 20260101T000000Z');
is($st, 401, 'SigV4 headers: 401');

# ------------------------------------------------------------ Anthropic

($st, $h, $b) = request($s, '/v1/messages',
    $JSON->encode({ model => 'm', max_tokens => 100,
        messages => [{ role => 'user',
                       content => '[[tool name=calc input={"x":2} text="Hm."]]' }],
        tools => [{ name => 'calc', input_schema => { type => 'object' } }] }),
    @ant);
is($st, 200, 'anthropic: 200');
my @types = $b =~ /^event: (\S+)$/mg;
is($types[0], 'message_start', '... message_start first');
is($types[-1], 'message_stop', '... message_stop last');
@e = events($b);
my ($tu) = grep { $_->{type} eq 'content_block_start'
                  && $_->{content_block}{type} eq 'tool_use' } @e;
is($tu->{content_block}{name}, 'calc', '... a tool_use block');
my $json = join '', map { $_->{delta}{partial_json} }
    grep { $_->{type} eq 'content_block_delta'
           && $_->{delta}{type} eq 'input_json_delta' } @e;
is_deeply($JSON->decode($json), { x => 2 }, '... its input once joined');
my ($md) = grep { $_->{type} eq 'message_delta' } @e;
is($md->{delta}{stop_reason}, 'tool_use', '... stop_reason tool_use');

($st, $h, $b) = request($s, '/v1/messages',
    $JSON->encode({ model => 'm', messages => [] }), @ant);
is($st, 400, 'no max_tokens: 400');
like($b, qr/"type":"invalid_request_error"/, '... invalid_request_error');
($st) = request($s, '/v1/messages', '{}', 'x-api-key: k1');
is($st, 401, 'no anthropic-version: refused');
($st) = request($s, '/v1/messages', '{}', @ant, 'Authorization: Bearer k1');
is($st, 401, 'an Authorization header: refused');
($st) = request($s, '/v1/messages', '{}', 'x-api-key: nope',
                'anthropic-version: 2023-06-01');
is($st, 401, 'a wrong x-api-key: refused');

stop_emulator($pid);
done_testing();
