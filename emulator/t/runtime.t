#!/usr/bin/perl
# Tests of the emulator's InvokeAgentRuntime side
# (POST /runtimes/{url-encoded ARN}/invocations): SigV4 for
# bedrock-agentcore, the ARN's encoding, the session id, SSE and JSON
# answers, AWS's errors.  Run: prove emulator/t/

use strict;
use warnings;

use FindBin qw($Bin);
use lib "$Bin/../../t/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use Time::HiRes qw(time);
use AgentCore::Emulator qw(-nostart start_emulator stop_emulator sigv4_sign
                           emulator_script);

my $JSON = JSON::PP->new->utf8->canonical;
my $ARN = 'arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/agent-AbC123';
my $OTHER = 'arn:aws:bedrock-agentcore:us-west-2:123456789012:runtime/gone';
my $HOST = 'bedrock-agentcore.us-west-2.amazonaws.com';
my $SID = 'emulator-session-0123456789abcdef0123456789';

require(emulator_script());

$SIG{PIPE} = 'IGNORE';

sub enc { return BedrockEmulator::uri_encode($_[0]) }

sub path_of { return '/runtimes/' . enc($_[0] // $ARN) . '/invocations' }

# one request, Connection: close; {status, headers, body, times}
sub request {
    my ($port, %a) = @_;
    my ($s, $req, $buf, $sel, @times, %h, $status, $body);

    $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                               Proto => 'tcp') or die "connect: $!";
    $req = "POST $a{path}" . (defined $a{query} ? "?$a{query}" : '')
           . " HTTP/1.1\r\nConnection: close\r\n";
    for (my $i = 0; $i < @{ $a{headers} }; $i += 2) {
        $req .= "$a{headers}[$i]: $a{headers}[$i + 1]\r\n";
    }
    $req .= 'Content-Length: ' . length($a{body}) . "\r\n\r\n$a{body}";
    print $s $req;

    $buf = '';
    $sel = IO::Select->new($s);
    while ($sel->can_read(5)) {
        my $n = sysread($s, $buf, 65536, length $buf);
        last unless $n;
        push @times, time;
    }
    close $s;

    my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
    ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    $body = $rest // '';
    if (($h{'transfer-encoding'} // '') eq 'chunked') {
        my $d = '';
        while ($body =~ s/\A([0-9a-f]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $d .= substr($body, 0, $n, '');
            $body =~ s/\A\r\n//;
        }
        $body = $d;
    }

    return { status => $status, headers => \%h, body => $body,
             times => \@times };
}

# a SigV4-signed invocation (the AWS example key unless %o says)
sub invoke {
    my ($port, $prompt, %o) = @_;
    my ($body, $path, $query, $h);

    $body = $JSON->encode({ prompt => $prompt });
    $path = path_of($o{arn});
    $query = exists $o{query} ? $o{query} : 'qualifier=DEFAULT';
    $h = $o{headers} // sigv4_sign(
        path => $path, query => $query, body => $body,
        service => $o{service} // 'bedrock-agentcore',
        region => $o{region} // 'us-west-2',
        headers => ['host' => $HOST, 'content-type' => 'application/json',
                    'x-amzn-bedrock-agentcore-runtime-session-id',
                    $o{sid} // $SID, @{ $o{extra} // [] }]);

    return request($port, path => $path, query => $query, body => $body,
                   headers => $h);
}

my ($port, $pid) = start_emulator(args => ['--runtime', $ARN,
                                           '--bearer', 'a-jwt']);

# --- answers
{
    my $r = invoke($port, 'hi there');
    is($r->{status}, 200, 'SSE: 200');
    is($r->{headers}{'content-type'}, 'text/event-stream; charset=utf-8',
       'SSE: content type');
    is($r->{headers}{'x-amzn-bedrock-agentcore-runtime-session-id'}, $SID,
       'the session id echoed');
    is($r->{body}, qq{data: "Hello!"\n\ndata: " You"\n\ndata: " said:"\n\n}
                   . qq{data: " hi"\n\ndata: " there"\n\n},
       'SSE: one event per word');

    $r = invoke($port, '[[slow ms=300 n=3]]');
    is($r->{body}, qq{data: "tok1 "\n\ndata: "tok2 "\n\ndata: "tok3 "\n\n},
       'slow: the events');
    ok($r->{times}[-1] - $r->{times}[0] > 0.5, 'slow: spread over time');

    $r = invoke($port, '[[json]] hi', query => 'qualifier=prod');
    is($r->{headers}{'content-type'}, 'application/json', 'json: type');
    is($r->{body}, '{"result":"Hello! You said: hi","qualifier":"prod"}',
       'json: the body, the qualifier');

    $r = invoke($port, '[[echo-headers]]',
                extra => ['x-amzn-bedrock-agentcore-runtime-custom-team',
                          'blue']);
    like($r->{body}, qr{^:path: /runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-west-2%3A123456789012%3Aruntime%2Fagent-AbC123/invocations\?qualifier=DEFAULT$}m,
         'echo-headers: the path as received');
    like($r->{body}, qr{^x-amzn-bedrock-agentcore-runtime-custom-team: blue$}m,
         'echo-headers: a custom header');
    like($r->{body}, qr{^authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-west-2/bedrock-agentcore/aws4_request, SignedHeaders=[a-z;-]+$}m,
         'echo-headers: the signature cut away');
}

# --- errors
{
    my $r = invoke($port, '[[http status=404]]');
    is($r->{status}, 404, 'http 404');
    like($r->{headers}{'x-amzn-errortype'}, qr/^ResourceNotFoundException:/,
         '404: ResourceNotFoundException');

    $r = invoke($port, '[[http status=429]]');
    is($r->{status} . ' ' . $r->{headers}{'x-amzn-errortype'} . ' '
       . $r->{body}, '429 ThrottlingException:http://internal.amazon.com/'
       . 'coral/com.amazonaws.bedrockagentcore/ {"message":"Rate exceeded"}',
       '429: ThrottlingException, AWS shape');

    $r = invoke($port, '[[http status=424]]');
    like($r->{headers}{'x-amzn-errortype'}, qr/^RuntimeClientError:/,
         '424: RuntimeClientError');

    $r = invoke($port, 'hi', arn => $OTHER);
    is($r->{status}, 404, 'an unknown runtime: 404');
    like($r->{body}, qr/No endpoint or agent found with qualifier 'DEFAULT'/,
         'an unknown runtime: the message');

    $r = invoke($port, 'hi', service => 'bedrock');
    like($r->{body}, qr/scoped to correct service: 'bedrock-agentcore'/,
         'SigV4 for bedrock: refused');

    $r = invoke($port, 'hi', region => 'eu-west-1');
    like($r->{body}, qr/scoped to a valid region, not 'eu-west-1'/,
         'another region: refused');

    $r = invoke($port, 'hi', query => 'qualifier=other',
                headers => sigv4_sign(
                    path => path_of(), query => 'qualifier=DEFAULT',
                    body => '{"prompt":"hi"}', service => 'bedrock-agentcore',
                    region => 'us-west-2',
                    headers => ['host' => $HOST,
                                'x-amzn-bedrock-agentcore-runtime-session-id',
                                $SID]));
    like($r->{headers}{'x-amzn-errortype'}, qr/^InvalidSignatureException/,
         'the query is signed');

    $r = invoke($port, 'hi', sid => 'short');
    is($r->{status}, 400, 'a session id under 33 characters: 400');

    my $body = '{"prompt":"hi"}';
    $r = request($port, path => "/runtimes/$ARN/invocations",
                 query => 'qualifier=DEFAULT', body => $body,
                 headers => ['Host', $HOST]);
    like($r->{body}, qr/Unknown operation/,
         'an ARN not %-encoded: its "/" splits the path, not routed');

    $r = request($port, path => '/runtimes/' . enc('arn:aws:s3:::bucket')
                                . '/invocations', body => $body,
                 headers => ['Host', $HOST]);
    like($r->{body}, qr/Invalid agent runtime ARN/,
         'not a runtime ARN: 400');

    $r = request($port, path => path_of(), query => 'qualifier=DEFAULT',
                 body => $body,
                 headers => ['Host', $HOST, 'Authorization', 'Bearer a-jwt',
                             'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id',
                             $SID]);
    is($r->{status}, 200, 'a bearer token (JWT authorizer): 200');

    $r = request($port, path => path_of(), query => 'qualifier=DEFAULT',
                 body => $body,
                 headers => ['Host', $HOST, 'Authorization', 'Bearer nope',
                             'X-Amzn-Bedrock-AgentCore-Runtime-Session-Id',
                             $SID]);
    is($r->{status}, 403, 'another bearer token: 403');
}

stop_emulator($pid);
done_testing();
