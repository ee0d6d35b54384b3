# Token budgets: agentcore_token_limit_zone and agentcore_token_limit.
# A key's model calls are charged the tokens the model reports; a call
# is refused while the key's unleaked tokens exceed the burst: a 429
# with Retry-After before the stream, a stream_error between turns.
#
# The rates are slow (1 token a minute) so that nothing leaks within a
# block: 30 tokens over the burst are 1800 s to wait, and Retry-After
# counts down in real time only after a second (1799 then).

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use Time::HiRes ();
use IO::Socket::INET;
use JSON::PP ();

our $Zone = <<'_EOC_';
agentcore_token_limit_zone $arg_key zone=tokens:1m rate=1/m;
log_format tl 'tl-log status=$status limit=$agentcore_token_limit_status cycles=$agentcore_cycles error="$agentcore_error"';
_EOC_

our $Limit = "access_log logs/error.log tl;\nagentcore_tools weather;\n"
             . "agentcore_token_limit zone=tokens;\n";

# a model call of 30 tokens, answering "ok"
our $Call = '[[usage in=10 out=20]] [[deltas texts=["ok"]]]';

# the 429's body, the seconds left out (they count down after 1 s)
our $Refused = qr/\A\{"error":"Token limit exceeded","details":"The token limit of zone \\"tokens\\" is reached: try again in (\d+) seconds"\}\z/;

sub invoke { AgentCore::Test::invoke(@_) }

# an invocation sent from an init section, before the block's request
# (the block's error_log checks are made after each of its requests)
sub prime {
    my ($uri, $prompt) = @_;
    my $body = JSON::PP->new->canonical->encode({ prompt => $prompt });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Proto => 'tcp')
        or die "connect: $!";
    print $s "POST $uri HTTP/1.0\r\nHost: x\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $r = <$s>;
    die "prime $uri: $r\n" if $r !~ m{^HTTP/1.1 200 };
}

# an invocation with a header X-Key: its status
sub status_with_key {
    my ($key) = @_;
    my $body = JSON::PP->new->canonical->encode({ prompt => $main::Call });
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => server_port(), Proto => 'tcp')
        or die "connect: $!";
    print $s "POST /invocations HTTP/1.0\r\nHost: x\r\nX-Key: $key\r\n"
             . "Content-Length: " . length($body) . "\r\n\r\n$body";
    local $/;
    my $r = <$s> // '';
    return $r =~ m{^HTTP/1.1 (\d+) } ? $1 : "[$r]";
}

# the body of a 429 as the seconds it names, a stream as its text; the
# seconds rounded up to a whole minute (they count down in real time
# from one second after the charge: 1800, then 1799 ...)
sub body {
    my $body = shift;
    return "refused, " . int(($1 + 59) / 60) * 60 . " s"
        if $body =~ $main::Refused;
    return AgentCore::Test::sse_text($body) =~ s/in (17\d\d|1800) seconds/in ~1800 seconds/r;
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $AgentCore::Test::HttpConfig
                                         . $main::Zone);
    }

    if (!defined $block->config) {
        $block->set_value("config", $main::Limit . $AgentCore::Test::Config);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&main::body);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: under the limit: every call passes and is counted
--- config eval
"agentcore_token_limit zone=tokens burst=1000;\n" . $main::Limit =~ s/agentcore_token_limit zone=tokens;\n//r
. $AgentCore::Test::Config
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- response_body eval
["ok", "ok", "ok"]
--- error_log eval
[qr/tl-log status=200 limit=PASSED cycles=1 error="-"/]
--- no_error_log
[error]
token limit of



=== TEST 2: over the limit: the next invocation is a 429 before the stream
30 tokens over a burst of 0 at 1 token a minute: 1800 s to wait.
--- init
main::prime("/invocations?key=a", $main::Call);
--- request eval
main::invoke($main::Call, "/invocations?key=a")
--- error_code: 429
--- raw_response_headers_like eval
qr{\r\nContent-Type: application/json\r\n(.*\r\n)*Retry-After: (1800|17\d\d)\r\n}i
--- response_body: refused, 1800 s
--- error_log eval
[qr/\[error\] .* agentcore: token limit of zone "tokens" reached before the stream, retry in 1[78]\d\d\d\d\d ms/,
 qr/tl-log status=429 limit=REJECTED cycles=0 error="-"/]



=== TEST 3: the exact 429 body
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 429]
--- response_body_filters
--- response_body eval
[qq{data: "ok"\n\n},
 qq/{"error":"Token limit exceeded","details":"The token limit of zone \\"tokens\\" is reached: try again in 1800 seconds"}/]



=== TEST 4: refused between turns: the tools do not run, a stream_error ends the stream
The first model call asks for a tool and reports 30 tokens: the next
model call would be over the limit, so the loop stops before the tools.
--- request eval
main::invoke('[[usage in=10 out=20]] [[tool name=weather input={} text="Checking."]]', "/invocations?key=a")
--- response_body eval
'Checking.[stream_error: The token limit of zone "tokens" is reached: try again in ~1800 seconds]'
--- error_log eval
[qr/\[error\] .* agentcore: token limit of zone "tokens" reached between model calls, retry in 1800000 ms/,
 qr/tl-log status=200 limit=STOPPED cycles=1 error="The token limit of zone \\x22tokens\\x22 is reached: try again in (1800|17\d\d) seconds"/]



=== TEST 4b: a JSON answer refused between turns: a 429, the text so far kept
--- more_headers
Accept: application/json
--- request eval
main::invoke('[[usage in=10 out=20]] [[tool name=weather input={} text="Checking."]]', "/invocations?key=j")
--- error_code: 429
--- response_body_filters eval
sub { $_[0] =~ s/in (17\d\d|1800) seconds/in ~1800 seconds/r }
--- response_body chomp
{"error":"The token limit of zone \"tokens\" is reached: try again in ~1800 seconds","partial":"Checking."}



=== TEST 5: a tool cycle within the burst: both model calls pass and are charged
60 tokens (two calls of 30) within a burst of 40: the second call was
checked at 30.  The next invocation is refused: 60 - 40 = 20 tokens,
1200 s.
--- config eval
"agentcore_token_limit zone=tokens burst=40;\n" . $main::Limit =~ s/agentcore_token_limit zone=tokens;\n//r
. $AgentCore::Test::Config
--- request eval
[main::invoke('[[usage in=10 out=20]] [[tool name=weather input={} text="Checking."]]', "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 429]
--- response_body eval
["Checking.Tool said: sunny", "refused, 1200 s"]



=== TEST 6: the variable of a tool cycle that passed
--- config eval
"agentcore_token_limit zone=tokens burst=40;\n" . $main::Limit =~ s/agentcore_token_limit zone=tokens;\n//r
. $AgentCore::Test::Config
--- request eval
main::invoke('[[usage in=10 out=20]] [[tool name=weather input={} text="Checking."]]', "/invocations?key=a")
--- response_body: Checking.Tool said: sunny
--- error_log eval
qr/tl-log status=200 limit=PASSED cycles=2 error="-"/
--- no_error_log
token limit of



=== TEST 7: burst: calls pass while the unleaked tokens are at most the burst
Burst 50, 30 tokens a call: the first at 0, the second at 30 pass; the
third at 60 is 10 over: 600 s.
--- config eval
"agentcore_token_limit zone=tokens burst=50;\n" . $main::Limit =~ s/agentcore_token_limit zone=tokens;\n//r
. $AgentCore::Test::Config
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok", "ok", "refused, 600 s"]



=== TEST 8: each key has its own bucket
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=b"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=b"),
 main::invoke($main::Call, "/invocations?key=c")]
--- error_code eval
[200, 200, 429, 429, 200]
--- response_body eval
["ok", "ok", "refused, 1800 s", "refused, 1800 s", "ok"]



=== TEST 9: an empty key is not counted
--- request eval
[main::invoke($main::Call, "/invocations"),
 main::invoke($main::Call, "/invocations?key="),
 main::invoke($main::Call, "/invocations")]
--- response_body eval
["ok", "ok", "ok"]
--- error_log eval
[qr/tl-log status=200 limit=- cycles=1 error="-"/]
--- no_error_log
limit=PASSED
token limit of



=== TEST 10: several limits: each is checked and charged; the longest wait is named
Zone "tokens" per key at 1/m; zone "all" (one key for everybody) with a
burst of 40.  a: 30 passes; b: 30 passes ("all" at 60); c is refused by
"all" (60 - 40 = 20 tokens at 1/h: 72000 s); a by both, "all"'s wait
the longer.
--- http_config eval
$AgentCore::Test::HttpConfig . $main::Zone
. "agentcore_token_limit_zone all zone=all:1m rate=1/h;\n"
--- config eval
"agentcore_token_limit zone=all burst=40;\n" . $main::Limit . $AgentCore::Test::Config
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=b"),
 main::invoke($main::Call, "/invocations?key=c"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 200, 429, 429]
--- response_body_filters
--- response_body_like eval
[qr/^data: "ok"\n\n\z/, qr/^data: "ok"\n\n\z/,
 qr/^\{"error":"Token limit exceeded","details":"The token limit of zone \\"all\\" is reached: try again in (72000|71\d\d\d) seconds"\}\z/,
 qr/^\{"error":"Token limit exceeded","details":"The token limit of zone \\"all\\" is reached: try again in (72000|71\d\d\d) seconds"\}\z/]



=== TEST 11: a location's limits replace the inherited ones
--- config eval
$main::Limit . $AgentCore::Test::Config . <<'_EOC_'
location = /free {
    agentcore_token_limit zone=tokens burst=100000;
    agentcore;
}
_EOC_
--- request eval
[main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/free?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok", "ok", "refused, 3600 s"]



=== TEST 12: agentcore_token_limit_status and agentcore_token_limit_log_level
--- config eval
"agentcore_token_limit_status 503;\nagentcore_token_limit_log_level info;\n"
. $main::Limit . $AgentCore::Test::Config
--- init
main::prime("/invocations?key=a", $main::Call);
--- request eval
main::invoke($main::Call, "/invocations?key=a")
--- error_code: 503
--- response_body: refused, 1800 s
--- error_log eval
[qr/\[info\] .* agentcore: token limit of zone "tokens" reached before the stream/,
 qr/tl-log status=503 limit=REJECTED/]
--- no_error_log
[error]



=== TEST 13: cache tokens count; a call without usage is not charged
--- request eval
[main::invoke('[[usage in=1 out=1 cache-read=20 cache-write=8]] [[deltas texts=["ok"]]]', "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke('[[exception type=throttlingException message="Slow down"]]', "/invocations?key=b"),
 main::invoke($main::Call, "/invocations?key=b")]
--- error_code eval
[200, 429, 200, 200]
--- response_body eval
["ok", "refused, 1800 s",
 "Partial answer [stream_error: An error occurred (throttlingException) when calling the ConverseStream operation: Slow down]",
 "ok"]



=== TEST 14: a retried model call is charged once
The first attempt is throttled and retried: only the call that answers
reports usage, 30 tokens, so a burst of 30 lets the next invocation in
and the one after it is 30 over.
--- http_config eval
$AgentCore::Test::HttpConfig =~ s/agentcore_retries off;/agentcore_retries delay=10ms error_delay=10ms;/r
. $main::Zone
--- config eval
"agentcore_token_limit zone=tokens burst=30;\n" . $main::Limit =~ s/agentcore_token_limit zone=tokens;\n//r
. $AgentCore::Test::Config
--- request eval
[main::invoke('[[http status=429 type=ThrottlingException message="Slow down" times=1 id=tl13]] [[usage in=10 out=20]] [[deltas texts=["ok"]]]', "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 200, 429]
--- response_body eval
["ok", "ok", "refused, 1800 s"]



=== TEST 15: recovery: after Retry-After seconds the key may call again
100 tokens a second: the 100 tokens of the first call leak out within
a second.  The second invocation comes sooner (a 429, Retry-After: 1);
the test waits the Retry-After it was given, and the third passes.
--- http_config eval
$AgentCore::Test::HttpConfig . $main::Zone =~ s{rate=1/m}{rate=100/s}r
--- request eval
[main::invoke('[[usage in=50 out=50]] [[deltas texts=["ok"]]]', "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a")]
--- error_code eval
[200, 429, 200]
--- response_body_filters eval
sub {
    my $body = shift;
    if ($body =~ $main::Refused) {
        # what Retry-After says: the wait is the condition
        Time::HiRes::sleep($1);
        return "refused, $1 s";
    }
    return AgentCore::Test::sse_text($body);
}
--- response_body eval
["ok", "refused, 1 s", "ok"]



=== TEST 16: a full zone forgets the least recently used key
Keys of 3000 bytes take a page of the slab each: a zone of 8 pages holds
a few.  Ten keys are charged in turn; then the first (forgotten) passes
again while the last (kept) is refused.
--- http_config eval
$AgentCore::Test::HttpConfig . $main::Zone =~ s/\$arg_key zone=tokens:1m/\$http_x_key zone=tokens:32k/r
. "large_client_header_buffers 4 8k;\n"
--- config eval
$main::Limit . $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my @keys = map { sprintf("%02d", $_) x 1500 } 1 .. 10;
my @first = map { main::status_with_key($_) } @keys;
my $last = main::status_with_key($keys[9]);
my $again = main::status_with_key($keys[0]);
AgentCore::Test::report("first calls: @first",
                        "the last key again: $last",
                        "the first key again: $again");
--- request
GET /report
--- response_body_filters
--- response_body
first calls: 200 200 200 200 200 200 200 200 200 200
the last key again: 429
the first key again: 200
--- error_log
agentcore_token_limit_zone "tokens" is full: the least recently used key is forgotten
--- no_error_log
could not allocate node



=== TEST 17: the metrics: a refusal before the stream is a 4xx, one between calls a stream_error of type token_limit
--- config eval
$main::Limit . $AgentCore::Test::Config . "location = /metrics { agentcore_metrics; }\n"
--- request eval
[main::invoke('[[usage in=10 out=20]] [[tool name=weather input={} text="Checking."]]', "/invocations?key=a"),
 main::invoke($main::Call, "/invocations?key=a"),
 "GET /metrics"]
--- response_body_filters eval
sub {
    my $body = shift;
    return main::body($body) if $body !~ /^# HELP/;
    return CORE::join "\n", grep { /^agentcore_invocations_total|^agentcore_stream_errors_total\{type="token_limit"/ } split /\n/, $body;
}
--- response_body eval
['Checking.[stream_error: The token limit of zone "tokens" is reached: try again in ~1800 seconds]',
 "refused, 1800 s",
 qq{agentcore_invocations_total{outcome="ok"} 0
agentcore_invocations_total{outcome="stream_error"} 1
agentcore_invocations_total{outcome="client_abort"} 0
agentcore_invocations_total{outcome="4xx"} 1
agentcore_invocations_total{outcome="5xx"} 0
agentcore_stream_errors_total{type="token_limit"} 1}]
--- error_code eval
[200, 429, 200]



=== TEST 18: a session stopped between turns keeps its history, as for agentcore_max_cycles
The toolUse is stored; its tool never ran, so the next prompt (its key
empty: not counted) carries "Tool was interrupted." for it.
--- http_config eval
$AgentCore::Test::HttpConfig . $main::Zone . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\n" . $main::Limit . $AgentCore::Test::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: sess-token-limit-0123456789abcdef0123
--- request eval
[main::invoke('[[usage in=10 out=20]] [[tool name=weather input={}]]', "/invocations?key=a"),
 main::invoke('[[echo]]', "/invocations")]
--- response_body_filters eval
sub {
    my $text = main::body(shift);
    return $text if $text !~ /^\{"messages"/;
    my $req = JSON::PP->new->utf8->decode($text);
    return CORE::join ' | ', map {
        my $m = $_;
        "$m->{role}: " . CORE::join ' + ', map {
            exists $_->{text} ? $_->{text}
            : exists $_->{toolUse} ? "toolUse $_->{toolUse}{name}"
            : exists $_->{toolResult}
              ? "toolResult $_->{toolResult}{status} $_->{toolResult}{content}[0]{text}"
            : '?'
        } @{ $m->{content} }
    } @{ $req->{messages} };
}
--- response_body eval
['[stream_error: The token limit of zone "tokens" is reached: try again in ~1800 seconds]',
 "user: [[usage in=10 out=20]] [[tool name=weather input={}]] | assistant: toolUse weather"
 . " | user: toolResult error Tool was interrupted. + [[echo]]"]



=== TEST 19: nginx -t: a zone without a rate
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_token_limit_zone \$arg_key zone=z:1m;\n"
--- must_die
--- error_log
"agentcore_token_limit_zone" must have "rate" parameter



=== TEST 20: nginx -t: a rate that is not tokens per second, minute, hour or day
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_token_limit_zone \$arg_key zone=z:1m rate=10r/s;\n"
--- must_die
--- error_log
invalid rate "rate=10r/s": tokens (1 to 1000000000) per second, minute, hour or day, as "rate=6000/m"



=== TEST 21: nginx -t: a zone without a size
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_token_limit_zone \$arg_key zone=z rate=1/s;\n"
--- must_die
--- error_log
invalid zone size "zone=z"



=== TEST 22: nginx -t: a zone too small
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_token_limit_zone \$arg_key zone=z:1k rate=1/s;\n"
--- must_die
--- error_log
zone "zone=z:1k" is too small



=== TEST 23: nginx -t: a zone name bound to two keys
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_token_limit_zone \$arg_key zone=z:1m rate=1/s;\n"
. "agentcore_token_limit_zone \$arg_other zone=z:1m rate=1/s;\n"
--- must_die
--- error_log
agentcore_token_limit_zone "z" is already bound to key "$arg_key"



=== TEST 24: nginx -t: a limit on a zone nobody defined
--- config eval
"agentcore_token_limit zone=nosuch;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
zero size shared memory zone "nosuch"



=== TEST 25: nginx -t: a bad burst
--- config eval
"agentcore_token_limit zone=tokens burst=-1;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
invalid burst value "burst=-1": tokens, 0 to 1000000000



=== TEST 26: nginx -t: an unknown parameter
--- config eval
"agentcore_token_limit zone=tokens nodelay;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
invalid parameter "nodelay"



=== TEST 27: nginx -t: no zone
--- config eval
"agentcore_token_limit burst=5;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
"agentcore_token_limit" must have "zone" parameter



=== TEST 28: nginx -t: the same zone twice at one level
--- config eval
"agentcore_token_limit zone=tokens;\nagentcore_token_limit zone=tokens burst=5;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
"agentcore_token_limit" directive is duplicate



=== TEST 29: nginx -t: a status outside 400-599
--- config eval
"agentcore_token_limit_status 200;\n" . $AgentCore::Test::Config
--- must_die
--- error_log
value must be between 400 and 599
