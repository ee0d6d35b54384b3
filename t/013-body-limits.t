# Request sizes (issue 10, item 3).  The model request carries the whole
# history, so the model location must accept what Bedrock accepts
# (conf/agentcore_bedrock_params: client_max_body_size 25000000); a
# history the model location still refuses loses its oldest messages,
# and a turn that cannot be sent at all is not kept, so the session goes
# on.  A body over the agentcore location's own client_max_body_size gets
# the runtime's JSON error, not nginx's HTML page.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();

our $Sid = 'sess-limits-0123456789abcdef0123456789';
our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $Sid";

# Test::Nginx's server sets client_max_body_size 30M: the invocations run
# in a second server that keeps nginx's defaults, behind a proxy that
# passes bodies on as they come (chunked stays chunked)
sub inner_server {
    my ($model_location, $extra) = @_;

    return $AgentCore::Test::HttpConfig . <<'_EOC_'
agentcore_session_zone s:16m;

server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

    agentcore_model_location /_agentcore/bedrock;
    agentcore_region us-east-1;
    agentcore_session s;

    location = /other { return 200; }
_EOC_
    . ($extra // "location = /invocations { agentcore; }\n")
    . $model_location . "}\n";
}

our $Config = <<'_EOC_';
location / {
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    proxy_http_version 1.1;
    proxy_request_buffering off;
    proxy_buffering off;
}
_EOC_

# the model location with nginx's default client_max_body_size (1m), as
# it was before the parameters file set one: its lines, that one left out
sub params_without_limit {
    my $file = "$AgentCore::Test::Root/conf/agentcore_bedrock_params";
    open(my $fh, '<', $file) or die "$file: $!";
    my $p = do { local $/; <$fh> };
    $p =~ s/^client_max_body_size\s[^;]*;\n//m;
    return $p;
}

our $SmallModelLocation = "location = /_agentcore/bedrock {\n"
    . "    internal;\n"
    . params_without_limit()
    . "    proxy_pass http://bedrock\$agentcore_bedrock_path;\n"
    . "}\n";

our $HttpConfig = inner_server($AgentCore::Test::ModelLocation);
our $SmallHttpConfig = inner_server($SmallModelLocation);

# a prompt of about $n bytes whose answer is "ok"
sub big {
    my ($n, $tag) = @_;
    return '[[deltas texts=["ok"]]] ' . $tag . ('a' x $n);
}

# an echoed request as "role:bytes" per message, the first text's start
sub summary {
    my $text = AgentCore::Test::sse_text(shift);

    return $text if $text !~ /\A\{"messages"/;

    my $req = JSON::PP->new->utf8->decode($text);

    return join ' | ', map {
        my $t = join '', map { $_->{text} // '' } @{ $_->{content} };
        "$_->{role}:" . substr($t, 0, 30) . ':' . length($t)
    } @{ $req->{messages} };
}

# what the error log holds by now: "name=1" for each pattern that matches
sub logged {
    my (%re) = @_;
    my $file = $Test::Nginx::Util::ErrLogFile
               // "$ENV{TEST_NGINX_SERVROOT}/logs/error.log";
    open(my $fh, '<', $file) or die "$file: $!";
    my $log = do { local $/; <$fh> };

    return join ' ', map { "$_=" . ($log =~ $re{$_} ? 1 : 0) } sort keys %re;
}

# a chunked body, in chunks of 64k
sub chunked {
    my $body = shift;
    my $out = '';

    while (length $body) {
        my $c = substr($body, 0, 65536, '');
        $out .= sprintf("%x\r\n", length $c) . $c . "\r\n";
    }

    return $out . "0\r\n\r\n";
}

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

check_accum_error_log();
no_root_location();
no_long_string();
no_shuffle();

run_tests();

__DATA__

=== TEST 1: two 600 KB prompts in one session, then "hi" and the history
The second model request holds both prompts (1.2 MB): over nginx's
default limit, within the parameters file's.
--- more_headers eval: $main::SidHeader
--- request eval
[AgentCore::Test::invoke(main::big(600_000, 'one')),
 AgentCore::Test::invoke(main::big(600_000, 'two')),
 AgentCore::Test::invoke('hi'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
\&main::summary
--- response_body eval
["ok", "ok", "Hello! You said: hi",
 "user:[[deltas texts=[\"ok\"]]] oneaaa:600027 | assistant:ok:2"
 . " | user:[[deltas texts=[\"ok\"]]] twoaaa:600027 | assistant:ok:2"
 . " | user:hi:2 | assistant:Hello! You said: hi:19 | user:[[echo]]:8"]
--- no_error_log
[error]
left out



=== TEST 2: a model location that refuses the history: the oldest go
nginx's default 1m in the model location: the second request (1.2 MB)
is refused there before anything is sent; the first exchange is left
out and the call made again, and the session keeps that shorter history.
--- http_config eval: $main::SmallHttpConfig
--- more_headers eval: $main::SidHeader
--- request eval
[AgentCore::Test::invoke(main::big(600_000, 'one')),
 AgentCore::Test::invoke(main::big(600_000, 'two')),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
[\&main::summary, sub {
    $_[0] =~ /^user/
    ? "$_[0] | " . main::logged(
        refused => qr/client intended to send too large body: 12\d{5} bytes/,
        left_out => qr/\[warn\] .*agentcore: the model request is larger than client_max_body_size \(1048576\) of "\/_agentcore\/bedrock": the 2 oldest messages of the history are left out/)
    : $_[0] }]
--- response_body eval
["ok", "ok",
 "user:[[deltas texts=[\"ok\"]]] twoaaa:600027 | assistant:ok:2"
 . " | user:[[echo]]:8 | left_out=1 refused=1"]
--- no_error_log
[alert]
[crit]



=== TEST 3: a prompt the model location refuses on its own: a clear stream_error, and the session goes on
The turn is not stored: the session keeps its history, and the next
prompt is answered on it.
--- http_config eval
main::inner_server($main::SmallModelLocation,
    "location = /invocations { client_max_body_size 4m; agentcore; }\n")
--- more_headers eval: $main::SidHeader
--- request eval
[AgentCore::Test::invoke('first'),
 AgentCore::Test::invoke(main::big(1_500_000, 'huge')),
 AgentCore::Test::invoke('hi'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
[\&main::summary, sub {
    $_[0] =~ /^user/
    ? "$_[0] | " . main::logged(
        refused => qr/client intended to send too large body: 15\d{5} bytes/)
    : $_[0] =~ s/\(\d+ bytes\)/(N bytes)/r }]
--- response_body eval
["Hello! You said: first",
 "[stream_error: The model request (N bytes) is larger than"
 . " client_max_body_size (1048576) of the model location"
 . " \"/_agentcore/bedrock\", even without the older history: this prompt"
 . " is not kept in the session]",
 "Hello! You said: hi",
 "user:first:5 | assistant:Hello! You said: first:22 | user:hi:2"
 . " | assistant:Hello! You said: hi:19 | user:[[echo]]:8 | refused=1"]
--- no_error_log
[alert]
[crit]
HTTP 413



=== TEST 4: a 10 MB prompt with the default limit: 413 in the runtime's JSON shape
--- request eval
AgentCore::Test::invoke('x' x 10_000_000)
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"Request body too large","details":"The request body (10000013 bytes) is larger than the 1048576 bytes this endpoint accepts (client_max_body_size)"}
--- error_log
client intended to send too large body: 10000013 bytes
--- no_error_log
[alert]
[crit]



=== TEST 5: the same, chunked: nginx stops reading at the limit
--- more_headers
Transfer-Encoding: chunked
--- request eval
"POST /invocations\n"
. main::chunked(JSON::PP->new->encode({ prompt => 'x' x 10_000_000 }))
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"Request body too large","details":"The request body is larger than the 1048576 bytes this endpoint accepts (client_max_body_size)"}
--- error_log
client intended to send too large chunked body
--- no_error_log
[alert]
[crit]



=== TEST 6: a location without agentcore keeps nginx's page
--- request eval
"POST /other\n" . ('x' x 2_000_000)
--- error_code: 413
--- response_headers
Content-Type: text/html
--- response_body_like: 413 Request Entity Too Large



=== TEST 7: Bedrock's context overflow: the oldest messages go and the call is made again, as Strands does
--- more_headers eval: $main::SidHeader
--- request eval
[AgentCore::Test::invoke('first'),
 AgentCore::Test::invoke('[[http status=400 type=ValidationException message="Input is too long for requested model." times=1 id=ovf1]] second'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
[\&main::summary, sub {
    $_[0] =~ /^user/
    ? "$_[0] | " . main::logged(
        left_out => qr/\[warn\] .*agentcore: the model's context overflowed \("An error occurred \(ValidationException\) when calling the ConverseStream operation: Input is too long for requested model\."\): the 2 oldest messages of the history are left out/)
    : $_[0] }]
--- response_body eval
["Hello! You said: first",
 "Hello! You said: second",
 "user:[[http status=400 type=Validat:116 | assistant:Hello! You said: second:23"
 . " | user:[[echo]]:8 | left_out=1"]
--- no_error_log
[error]



=== TEST 8: a context overflow with nothing left to cut: the stream_error, and the turn is not kept
Without that, the next prompt joined the failed one and failed the same
way, for good.
--- more_headers eval: $main::SidHeader
--- request eval
[AgentCore::Test::invoke('[[http status=400 type=ValidationException message="Input is too long for requested model."]] big'),
 AgentCore::Test::invoke('hi'),
 AgentCore::Test::invoke('[[echo]]')]
--- response_body_filters eval
\&main::summary
--- response_body eval
["[stream_error: An error occurred (ValidationException) when calling the ConverseStream operation: Input is too long for requested model.]",
 "Hello! You said: hi",
 "user:hi:2 | assistant:Hello! You said: hi:19 | user:[[echo]]:8"]
--- no_error_log
[error]
