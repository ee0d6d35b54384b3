# The invocation's request id (issue 12 items 4 and 5): the
# X-Amzn-Bedrock-AgentCore-Runtime-Request-Id the client sent (1 to 256
# visible ASCII characters), else a UUID made for the request, comes
# back in the response header of that name, ends every error-log line
# about the invocation (with the CRC-32 of the session id), and reaches tool
# locations in that header, with the client's
# X-Amzn-Bedrock-AgentCore-Runtime-Custom-* headers and the session id
# the module used.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use Compress::Zlib ();

our $Uuid = '[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}';

# what a tool location sees of the invocation, by variables
our $Ids = <<'_EOC_';
location = /internal/ids {
    internal;
    return 200 "$http_x_amzn_bedrock_agentcore_runtime_request_id|$http_x_amzn_bedrock_agentcore_runtime_custom_foo|$http_x_amzn_bedrock_agentcore_runtime_session_id|$agentcore_request_id";
}
location = /internal/proxied {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/ids;
}
location = /internal/down {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/nothing-listens;
}
_EOC_

# the same over the wire, in a server of its own
our $HttpConfig = <<'_EOC_' . $AgentCore::Test::HttpConfig;
agentcore_session_zone s:1m;
server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    location = /ids {
        return 200 "$http_x_amzn_bedrock_agentcore_runtime_request_id|$http_x_amzn_bedrock_agentcore_runtime_custom_foo|$http_x_amzn_bedrock_agentcore_runtime_session_id";
    }
}
_EOC_

our $Tools = qq{agentcore_tool ids /internal/ids "Ids";\n}
             . qq{agentcore_tool proxied /internal/proxied "Ids";\n}
             . qq{agentcore_tool down /internal/down "Down";\n}
             . $Ids;

our $Sid = 'session-' . 'a' x 32;

# the error log names a session by the CRC-32 of its id, never the id
our $SidCrc = sprintf '%08x', Compress::Zlib::crc32($Sid);
our $KeyCrc = sprintf '%08x', Compress::Zlib::crc32('chat-from-key');

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $main::HttpConfig);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the client's request id comes back on the SSE response
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-given-1
--- request eval
AgentCore::Test::invoke('hello')
--- response_headers
Content-Type: text/event-stream; charset=utf-8
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-given-1
--- no_error_log
[error]



=== TEST 2: without one, a UUID (version 4) made for the request
--- request eval
AgentCore::Test::invoke('hello')
--- response_headers_like eval
"X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: ^$main::Uuid\$"
--- no_error_log
[error]



=== TEST 3: an id longer than 256 characters is replaced by a UUID
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: " . ('x' x 257) . "\n"
--- request eval
AgentCore::Test::invoke('hello')
--- response_headers_like eval
"X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: ^$main::Uuid\$"



=== TEST 4: on a JSON error before streaming too
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-bad-payload
--- request
POST /invocations
{"nope": 1}
--- error_code: 400
--- response_headers
Content-Type: application/json
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-bad-payload



=== TEST 5: a model connection cut while the model subrequest runs
nginx's own error line about it ends with the request id and the
session's CRC-32, and so does the module's stream_error line; the
session id itself is never in the error log.
--- config eval
"agentcore_session s;\n" . $AgentCore::Test::Config
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-log-5\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid\n"
--- request eval
AgentCore::Test::invoke('[[close]]')
--- no_error_log eval
[qr/\[(?:error|warn|notice|info)\].*session-aaaa/]
--- error_log eval
[qr/\[error\] .*upstream prematurely closed connection.*subrequest: "\/_agentcore\/bedrock".*, request_id: "req-log-5", session: $main::SidCrc$/m,
 qr/\[warn\] .*agentcore: stream_error: .*, request_id: "req-log-5", session: $main::SidCrc$/m]



=== TEST 6: a tool location that fails: its error line names the invocation
--- config eval
$main::Tools . $AgentCore::Test::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-tool-6
--- request eval
AgentCore::Test::invoke('[[tool name=down input={}]]')
--- response_body_like: Tool said: Error: HTTP 502 from the tool location
--- error_log eval
qr/\[error\] .*connect\(\) failed .*subrequest: "\/internal\/down".*, request_id: "req-tool-6"$/m



=== TEST 7: a generated id, with the custom headers, reaches tool locations
The tool gets the id the module uses (its $agentcore_request_id agrees),
and the client's X-Amzn-Bedrock-AgentCore-Runtime-Custom-* headers.
--- config eval
$main::Tools . $AgentCore::Test::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo: bar
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"ids","input":{}},{"name":"proxied","input":{}}]]]')
--- response_body_like eval
qr/Tool said: ($main::Uuid)\|bar\|\|\1 \| \1\|bar\|\z/
--- no_error_log
[error]



=== TEST 8: a given id reaches tool locations as it came
--- config eval
$main::Tools . $AgentCore::Test::Config
--- more_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-tool-8
X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo: bar
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"ids","input":{}},{"name":"proxied","input":{}}]]]')
--- response_body_like: Tool said: req-tool-8\|bar\|\|req-tool-8 \| req-tool-8\|bar\|$
--- no_error_log
[error]



=== TEST 9: an id the module replaced by a UUID does not reach the tool
--- config eval
$main::Tools . $AgentCore::Test::Config
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: " . ('x' x 257) . "\n"
--- request eval
AgentCore::Test::invoke('[[tool name=ids input={}]]')
--- response_body_like eval
qr/Tool said: ($main::Uuid)\|\|\|\1\z/



=== TEST 10: the session id a tool gets is the one the module used
With agentcore_session_key, that is the key, not the client's header.
--- config eval
"agentcore_session s;\nagentcore_session_key \$http_x_chat;\n"
. $main::Tools . $AgentCore::Test::Config
--- more_headers eval
"X-Chat: chat-from-key\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-tool-10\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"ids","input":{}},{"name":"proxied","input":{}}]]]')
--- response_body_like: Tool said: req-tool-10\|\|chat-from-key\|req-tool-10 \| req-tool-10\|\|chat-from-key$
--- response_headers
X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: chat-from-key
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-tool-10



=== TEST 11: without a session zone, the client's session header passes as it is
--- config eval
$main::Tools . $AgentCore::Test::Config
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid\n"
--- request eval
AgentCore::Test::invoke('[[tool name=ids input={}]]')
--- response_body_like eval
qr/Tool said: $main::Uuid\|\|session-a{32}\|$main::Uuid\z/



=== TEST 12: over HTTP/2 too (lower-case header names)
--- http2
--- config eval
"agentcore_session s;\nagentcore_session_key \$http_x_chat;\n"
. $main::Tools . $AgentCore::Test::Config
--- more_headers eval
"X-Chat: chat-from-key\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-h2\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Custom-Foo: bar\n"
. "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"ids","input":{}},{"name":"proxied","input":{}},{"name":"down","input":{}}]]]')
--- response_body_like: Tool said: req-h2\|bar\|chat-from-key\|req-h2 \| req-h2\|bar\|chat-from-key \| Error: HTTP 502 from the tool location$
--- response_headers
X-Amzn-Bedrock-AgentCore-Runtime-Request-Id: req-h2
--- error_log eval
qr/\[error\] .*connect\(\) failed .*subrequest: "\/internal\/down".*, request_id: "req-h2", session: $main::KeyCrc$/m
