# What a session id may hold (issue 10, item 11).  The id comes back in
# a response header and keys a conversation: the runtime's header takes
# 33 to 256 visible ASCII characters (0x21 to 0x7E); a value of
# agentcore_session_key may also hold spaces and non-ASCII UTF-8, never
# control characters or invalid UTF-8.  Refusals are the runtime's JSON
# error shape, before any streaming.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

our $H = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";

our $HttpConfig = $AgentCore::Test::HttpConfig
                  . "agentcore_session_zone s:1m;\n";

our $Config = "agentcore_session s;\n" . $AgentCore::Test::Config;

# the key from a request header, so a test can send any bytes
our $KeyConfig = "agentcore_session_key \$http_x_chat;\n" . $Config;

our $Id33  = 'a' x 32 . 'Z';                      # the shortest allowed
our $Id256 = join('', map { chr(0x21 + $_ % 94) } 0 .. 255);  # every
                                                  # visible ASCII byte

sub invoke { AgentCore::Test::invoke(@_) }

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

no_shuffle();
run_tests();

__DATA__

=== TEST 1: an ESC sequence in the session header is refused
--- more_headers eval
"$main::H: session-0000000000000000\e[31mred\e[0m-00000000"
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_headers eval
["Content-Type: application/json", "!$main::H"]
--- response_body chomp
{"error":"Invalid session id","details":"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id may hold only visible ASCII characters (letters, digits and punctuation, 0x21 to 0x7E): the byte 0x1B at offset 24 is not allowed"}
--- no_error_log
[error]



=== TEST 2: invalid UTF-8 in the session header is refused
--- more_headers eval
"$main::H: session-\xff\xfe000000000000000000000000000000"
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_headers eval
"!$main::H"
--- response_body chomp
{"error":"Invalid session id","details":"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id may hold only visible ASCII characters (letters, digits and punctuation, 0x21 to 0x7E): the byte 0xFF at offset 8 is not allowed"}



=== TEST 3: valid UTF-8 is not ASCII: refused in the session header
--- more_headers eval
"$main::H: session-h\xc3\xa9llo-000000000000000000000000000"
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_body_like: the byte 0xC3 at offset 9 is not allowed"}$



=== TEST 4: a space inside the session header is refused
(nginx drops leading and trailing blanks of a header value itself)
--- more_headers eval
"$main::H: session 00000000000000000000000000000000"
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_body chomp
{"error":"Invalid session id","details":"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id may hold only visible ASCII characters (letters, digits and punctuation, 0x21 to 0x7E): the byte 0x20 at offset 7 is not allowed"}



=== TEST 5: 33 characters, the shortest id, is a session; it comes back
--- more_headers eval
"$main::H: $main::Id33"
--- request eval
[main::invoke("My name is Ada"), main::invoke("[[echo]]")]
--- response_headers eval
["$main::H: $main::Id33", "$main::H: $main::Id33"]
--- response_body_like eval
[qr/^data: "Hello!"/, qr/My name is Ada.*\[\[echo\]\]/s]
--- no_error_log
[error]
[warn]



=== TEST 6: 256 characters, the longest, every visible ASCII byte
--- more_headers eval
"$main::H: $main::Id256"
--- request eval
[main::invoke("My name is Ada"), main::invoke("[[echo]]")]
--- response_headers eval
["$main::H: $main::Id256", "$main::H: $main::Id256"]
--- response_body_like eval
[qr/^data: "Hello!"/, qr/My name is Ada.*\[\[echo\]\]/s]
--- no_error_log
[error]
[warn]



=== TEST 7: 32 and 257 characters are still refused by length
--- more_headers eval
["$main::H: " . substr($main::Id33, 1), "$main::H: ${main::Id256}x"]
--- request eval
[main::invoke("hi"), main::invoke("hi")]
--- error_code eval
[400, 400]
--- response_body_like eval
[qr/must be 33 to 256 characters long/, qr/must be 33 to 256 characters long/]



=== TEST 8: agentcore_session_key: an ESC byte in its value is refused
--- config eval: $main::KeyConfig
--- more_headers eval
"X-Chat: chat-1\e]0;owned\a"
--- request eval
main::invoke("hi")
--- error_code: 400
--- response_headers eval
"!$main::H"
--- response_body chomp
{"error":"Invalid session id","details":"the session key (agentcore_session_key) may hold only UTF-8 text without control characters: the byte 0x1B at offset 6 is not allowed"}



=== TEST 9: agentcore_session_key: invalid UTF-8 and C1 controls are refused
--- config eval: $main::KeyConfig
--- more_headers eval
["X-Chat: caf\xe9", "X-Chat: chat-\xc2\x9b31m", "X-Chat: \xed\xa0\x80"]
--- request eval
[main::invoke("hi"), main::invoke("hi"), main::invoke("hi")]
--- error_code eval
[400, 400, 400]
--- response_body_like eval
[qr/UTF-8 text without control characters: the byte 0xE9 at offset 3 is not allowed"/,
 qr/the byte 0xC2 at offset 5 is not allowed"/,
 qr/the byte 0xED at offset 0 is not allowed"/]



=== TEST 10: agentcore_session_key: spaces and UTF-8 names are sessions
--- config eval: $main::KeyConfig
--- more_headers eval
["X-Chat: Jos\xc3\xa9 Garc\xc3\xada", "X-Chat: Jos\xc3\xa9 Garc\xc3\xada",
 "X-Chat: Jose Garcia"]
--- request eval
[main::invoke("I am Jos\xc3\xa9"), main::invoke("[[echo]]"),
 main::invoke("[[echo]]")]
--- response_headers eval
["$main::H: Jos\xc3\xa9 Garc\xc3\xada", "$main::H: Jos\xc3\xa9 Garc\xc3\xada",
 "$main::H: Jose Garcia"]
--- response_body_like eval
[qr/^data: "Hello!"/, qr/I am Jos.*\[\[echo\]\]/s,
 qr/\A(?!.*I am Jos).*\[\[echo\]\]/s]
--- no_error_log
[error]
