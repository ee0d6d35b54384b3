# Messages that say what happened (issue 10, item 13): a session zone
# full of sessions in use is not a history too large for it, and a
# prompt holding a lone surrogate is refused up front, naming it.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $SidHeader = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: "
                 . "sess-0123456789abcdef0123456789abcdef";

our $SessionConfig = "agentcore_session s;\n" . $AgentCore::Test::Config;

sub invoke { AgentCore::Test::invoke(@_) }

# the stream as text; long runs of one letter shortened to "a*"
sub text {
    my $t = AgentCore::Test::sse_text(shift);
    utf8::decode($t);
    $t =~ s/(\w)\1{999,}/$1*/g;
    $t
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $AgentCore::Test::HttpConfig
                          . "agentcore_session_zone s:1m;\n");
    }

    AgentCore::Test::defaults($block);
});

# the lines of every request of a block count
check_accum_error_log();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a zone full of sessions in use says so, not "larger than"
Session b holds 24 KB of history in a 64k zone; its tool invokes session
"a" (crc32 e8b7be43) with a 20,000-character prompt while b is in use:
a's history (about 40 KB) finds no room, and b cannot be evicted.  The
same history alone (session a2) fits.  (The error log line is the
stream_error's text; it is checked through a's stream, which b's tool
result carries: the log is checked after each request.)
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:64k;\n"
--- config eval
q{agentcore_session_key $arg_sid;
agentcore_tool toa /internal/toa "Ask agent a";
location = /internal/toa {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/invocations?sid=a;
}
} . $main::SessionConfig
--- request eval
[main::invoke('[[deltas texts=["ok"]]] ' . ("b" x 24000), "/invocations?sid=b"),
 main::invoke('[[tool name=toa input={"prompt":"' . ("a" x 20000) . '"}]]',
              "/invocations?sid=b"),
 main::invoke("a" x 20000, "/invocations?sid=a2")]
--- response_body_filters eval
\&main::text
--- response_body_like eval
[qr/\Aok\z/,
 qr/\ATool said: data: "Hello!"\n\ndata: " You"\n\ndata: " said:"\n\n(?s:.*)data: \{"error": "The session history \(\d+ bytes\) was not stored: agentcore_session_zone \\"s\\" is full of sessions in use \(1 besides this one\); the session keeps its earlier history", "type": "stream_error"\}\n\n/,
 qr/\AHello! You said: a\*\z/]
--- no_error_log eval
[qr/session e8b7be43: .*is larger than/, "[alert]", "[crit]"]



=== TEST 2: a lone surrogate escape in the prompt: 400, naming it
--- request eval
"POST /invocations\n" . '{"prompt": "\ud800"}'
--- error_code: 400
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":"Invalid encoding","details":"'utf-8' codec can't encode character '\\ud800' in position 0: surrogates not allowed (a lone surrogate in \"prompt\")"}
--- error_log
agentcore: Invalid encoding: 'utf-8' codec can't encode character '\ud800' in position 0



=== TEST 3: raw surrogate bytes, positions in code points
ED B0 80 is U+DC00 as "surrogatepass" reads it; "é" is one character.
--- request eval
["POST /invocations\n" . qq{{"prompt": "ab\xed\xb0\x80"}},
 "POST /invocations\n" . '{"prompt": "\u00e9x\udbff"}']
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/character '\\\\udc00' in position 2: surrogates not allowed/,
 qr/character '\\\\udbff' in position 2: surrogates not allowed/]



=== TEST 4: a surrogate pair is one character; other keys are not checked
--- request eval
["POST /invocations\n" . '{"prompt": "\ud83d\ude00"}',
 "POST /invocations\n" . '{"prompt": "hi", "other": "\ud800"}']
--- response_body_filters eval
\&main::text
--- response_body eval
["Hello! You said: \xf0\x9f\x98\x80", "Hello! You said: hi"]
--- no_error_log
[error]



=== TEST 5: the refused prompt never reaches the session's history
--- config eval: $main::SessionConfig
--- more_headers eval: $main::SidHeader
--- request eval
[main::invoke("I am Ada"),
 "POST /invocations\n" . '{"prompt": "\ud800 again"}',
 main::invoke("[[echo]]")]
--- error_code eval
[200, 400, 200]
--- response_body_filters eval
\&main::text
--- response_body_like eval
[qr/\AHello! You said: I am Ada\z/,
 qr/surrogates not allowed/,
 qr/\A\{"messages":\[\{"role":"user","content":\[\{"text":"I am Ada"\}\]\},\{"role":"assistant","content":\[\{"text":"Hello! You said: I am Ada"\}\]\},\{"role":"user","content":\[\{"text":"\[\[echo\]\]"\}\]\}\]/]
--- no_error_log
[error]
