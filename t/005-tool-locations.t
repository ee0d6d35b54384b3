# Locations as tools (agentcore_tool): what of the client's request the
# tool subrequest sees (issue 10 item 4), GET tools with the input as
# query arguments (item 5), and oversized responses that stop at
# agentcore_tool_max_size without being read through (item 12).

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

# echoes what a tool location receives, by variables and over the wire
our $Echo = <<'_EOC_';
location = /internal/echo {
    internal;
    return 200 "a=$http_authorization|c=$http_cookie|p=$http_proxy_authorization|x=$http_x_request_id|t=$content_type|ae=$http_accept_encoding|r=$http_range";
}
location = /internal/proxied {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/echo;
}
_EOC_

our $Client = <<'_EOC_';
Authorization: Bearer client-secret
Cookie: sid=client-cookie
Proxy-Authorization: Basic cHJveHk6c2VjcmV0
X-Request-Id: req-7
Accept-Encoding: gzip
Range: bytes=0-3
_EOC_

our $GetApi = <<'_EOC_';
location = /api/search {
    internal;
    return 200 "$args|cl=$http_content_length|ct=$content_type|te=$http_transfer_encoding|b=$request_body";
}
location = /api/proxied {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/search;
}
_EOC_

# the APIs behind proxied tools, in a server of their own (HTTP/1.1 when
# the test server speaks HTTP/2)
our $Upstreams = <<'_EOC_' . $AgentCore::Test::HttpConfig;
log_format big "big $status $body_bytes_sent c=$request_completion";
server {
    listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    location = /mid.txt {
        root html;
        access_log logs/access.log big;
    }
    location = /big.bin {
        root html;
        access_log logs/access.log big;
    }
    location = /stream.bin {
        # big.bin without a Content-Length (SSI clears it: the length is
        # known only at the end), unbuffered: nothing spooled here either
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/big.bin;
        proxy_buffering off;
        ssi on;
        ssi_types *;
        access_log logs/access.log big;
    }
    location = /echo {
        return 200 "$request_method a=$http_authorization|c=$http_cookie|p=$http_proxy_authorization|x=$http_x_request_id|t=$content_type|ae=$http_accept_encoding|r=$http_range";
    }
    location = /search {
        return 200 "$request_method $args|cl=$http_content_length|ct=$content_type|te=$http_transfer_encoding";
    }
}
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->http_config) {
        $block->set_value("http_config", $main::Upstreams);
    }

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the client's credentials do not reach a location tool
Authorization, Cookie and Proxy-Authorization are left out; X-Request-Id
still arrives, Content-Type is the module's; Accept-Encoding and Range,
meant for the client's own response, are left out too.
--- config eval
qq{agentcore_tool echo /internal/echo "Echo";\n}
. $main::Echo . $AgentCore::Test::Config
--- more_headers eval
$main::Client
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={}]]')
--- response_body: Tool said: a=|c=|p=|x=req-7|t=application/json|ae=|r=
--- no_error_log
[error]



=== TEST 2: nor the upstream of a proxied location tool
--- config eval
qq{agentcore_tool echo /internal/proxied "Echo";\n}
. $main::Echo . $AgentCore::Test::Config
--- more_headers eval
$main::Client
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={}]]')
--- response_body: Tool said: POST a=|c=|p=|x=req-7|t=application/json|ae=|r=
--- no_error_log
[error]



=== TEST 3: over HTTP/2 too (cookies arrive as separate fields)
--- http2
--- config eval
qq{agentcore_tool echo /internal/proxied "Echo";\n}
. qq{agentcore_tool local /internal/echo "Echo";\n}
. $main::Echo . $AgentCore::Test::Config
--- more_headers eval
$main::Client . "Cookie: second=cookie\n"
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{}},{"name":"local","input":{}}]]]')
--- response_body: Tool said: POST a=|c=|p=|x=req-7|t=application/json|ae=|r= | a=|c=|p=|x=req-7|t=application/json|ae=|r=
--- no_error_log
[error]



=== TEST 4: pass_credentials passes them, for that tool only
--- config eval
qq{agentcore_tool echo /internal/proxied "Echo" pass_credentials;\n}
. qq{agentcore_tool local /internal/echo "Echo" '{"type":"object"}' pass_credentials;\n}
. qq{agentcore_tool other /internal/echo "Echo";\n}
. $main::Echo . $AgentCore::Test::Config
--- more_headers eval
$main::Client
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{}},{"name":"local","input":{}},{"name":"other","input":{}}]]]')
--- response_body: Tool said: POST a=Bearer client-secret|c=sid=client-cookie|p=Basic cHJveHk6c2VjcmV0|x=req-7|t=application/json|ae=|r= | a=Bearer client-secret|c=sid=client-cookie|p=Basic cHJveHk6c2VjcmV0|x=req-7|t=application/json|ae=|r= | a=|c=|p=|x=req-7|t=application/json|ae=|r=
--- no_error_log
[error]



=== TEST 5: pass_credentials over HTTP/2, several cookies
--- http2
--- config eval
qq{agentcore_tool echo /internal/proxied "Echo" pass_credentials;\n}
. $main::Echo . $AgentCore::Test::Config
--- more_headers eval
$main::Client . "Cookie: second=cookie\n"
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={}]]')
--- response_body: Tool said: POST a=Bearer client-secret|c=sid=client-cookie; second=cookie|p=Basic cHJveHk6c2VjcmV0|x=req-7|t=application/json|ae=|r=
--- no_error_log
[error]



=== TEST 5a: nor through values the invocation has evaluated
Subrequests share their parent's cache of variable values: $http_* and
$cookie_* read in the invocation's location must not reach the tool.
--- config eval
qq{agentcore_tool echo /internal/vars "Echo";\n}
. qq{agentcore_tool pass /internal/vars "Echo" pass_credentials;\n}
. q{location = /internal/vars { internal; return 200 "a=$http_authorization|c=$cookie_sid|u=$remote_user|x=$http_x_request_id"; }
} . $AgentCore::Test::ModelLocation . q{
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    set $seen "$http_authorization $cookie_sid $remote_user $http_x_request_id";
    agentcore;
}
}
--- more_headers
Authorization: Basic dXNlcjpwYXNz
Cookie: sid=client-cookie
X-Request-Id: req-7
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{}},{"name":"pass","input":{}}]]]')
--- response_body: Tool said: a=|c=|u=|x=req-7 | a=Basic dXNlcjpwYXNz|c=client-cookie|u=user|x=req-7
--- no_error_log
[error]



=== TEST 6: an unknown option fails the configuration
--- config eval
qq{agentcore_tool echo /internal/echo "Echo" '{"type":"object"}' pass_cookies;\n}
. $main::Echo . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore tool "echo": unknown option "pass_cookies"



=== TEST 7: a static JSON file as a GET tool
--- config eval
qq{agentcore_tool catalog /data/catalog.json "The catalog" method=GET;\n}
. qq{location /data/ { internal; root html; }\n}
. $AgentCore::Test::Config
--- user_files
>>> data/catalog.json
{"items":["tea","cake"]}
--- request eval
AgentCore::Test::invoke('[[tool name=catalog input={"ignored":1}]]')
--- response_body
Tool said: {"items":["tea","cake"]}
--- no_error_log
[error]



=== TEST 8: a GET tool gets its input as query arguments
Strings percent-encoded (RFC 3986 unreserved characters as they are, UTF-8
bytes escaped), numbers and booleans as JSON writes them, null left out,
arrays and objects as compact JSON text; keys escaped alike; the
arguments of the tool's URI first. No body, Content-Type or -Length.
--- config eval
qq{agentcore_tool search "/api/search?format=json" "Search" method=GET;\n}
. $main::GetApi . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tool name=search input={"q":"tea & cake=1/2 caf\u00e9~","limit":5,"exact":true,"none":null,"pi":-1.5,"tags":["x y","z"],"filter":{"k":"v"},"a b":"","e":0}]]')
--- response_body: Tool said: format=json&q=tea%20%26%20cake%3D1%2F2%20caf%C3%A9~&limit=5&exact=true&pi=-1.5&tags=%5B%22x%20y%22%2C%22z%22%5D&filter=%7B%22k%22%3A%22v%22%7D&a%20b=&e=0|cl=|ct=|te=|b=
--- no_error_log
[error]



=== TEST 9: a proxied GET API, empty input, method=POST explicit elsewhere
--- config eval
qq{agentcore_tool search /api/proxied "Search" method=GET;\n}
. qq{agentcore_tool find /api/proxied "Search" '{"type":"object"}' method=GET;\n}
. qq{agentcore_tool post /api/proxied "Search" method=POST;\n}
. $main::GetApi . $AgentCore::Test::Config
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"search","input":{"q":"x"}},{"name":"find","input":{}},{"name":"post","input":{"q":"x"}}]]]')
--- response_body: Tool said: GET q=x|cl=|ct=|te= | GET |cl=|ct=|te= | POST |cl=9|ct=application/json|te=
--- no_error_log
[error]



=== TEST 10: a bad method fails the configuration
--- config eval
qq{agentcore_tool echo /internal/echo "Echo" method=PUT;\n}
. $main::Echo . $AgentCore::Test::Config
--- must_die
--- error_log
agentcore tool "echo": method must be GET or POST, not "PUT"



=== TEST 11: a proxied tool response above proxy_buffers is not spooled to disk
59,999 bytes through 4 x 4k proxy buffers arrive whole, in memory.
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{location = /internal/big { proxy_method GET; proxy_buffers 4 4k; proxy_buffer_size 4k; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/mid.txt; }\n}
. $AgentCore::Test::Config
--- user_files eval
">>> mid.txt\n" . ("x" x 59999)
--- request eval
AgentCore::Test::invoke('[[tool name=big input={}]]')
--- response_body eval
"Tool said: " . ("x" x 59999)
--- access_log
big 200 59999 c=OK
--- no_error_log
an upstream response is buffered to a temporary file
[error]



=== TEST 12: a 100 MB tool response with a Content-Length is not read
Refused on its header: nothing is written to a temporary file, the
upstream connection is closed (the serving side logs an incomplete
response), and the model gets the error result.
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{location = /internal/big { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/big.bin; }\n}
. $AgentCore::Test::Config
--- user_files
>>> big.bin
x
--- init
truncate(Test::Nginx::Util::html_dir() . "/big.bin", 100 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
AgentCore::Test::invoke('[[tool name=big input={}]]')
--- response_body: Tool said: Error: the tool's response is larger than agentcore_tool_max_size
--- access_log eval
qr/^big 200 \d{1,8} c=$/
--- error_log
agentcore tool "big": the response (104857600 bytes) is larger than agentcore_tool_max_size (65536), not read
--- no_error_log
an upstream response is buffered to a temporary file
[error]



=== TEST 13: a 100 MB tool response of unknown length stops at the limit
Read as it comes (not buffered to disk, as a buffered background
subrequest's response would be), and the upstream connection is closed
once the limit is passed.
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{location = /internal/big { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/stream.bin; }\n}
. $AgentCore::Test::Config
--- user_files
>>> big.bin
x
--- init
truncate(Test::Nginx::Util::html_dir() . "/big.bin", 100 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
AgentCore::Test::invoke('[[tool name=big input={}]]')
--- response_body: Tool said: Error: the tool's response is larger than agentcore_tool_max_size
--- access_log eval
qr/^big 200 \d{1,8} c=$/
--- error_log
agentcore tool "big": the response is larger than agentcore_tool_max_size (65536), its upstream connection is closed
--- no_error_log
an upstream response is buffered to a temporary file
[error]



=== TEST 14: the same from a proxy_buffering off location
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{location = /internal/big { proxy_buffering off; proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/stream.bin; }\n}
. $AgentCore::Test::Config
--- user_files
>>> big.bin
x
--- init
truncate(Test::Nginx::Util::html_dir() . "/big.bin", 100 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
AgentCore::Test::invoke('[[tool name=big input={}]]')
--- response_body: Tool said: Error: the tool's response is larger than agentcore_tool_max_size
--- access_log eval
qr/^big 200 \d{1,8} c=$/
--- error_log
its upstream connection is closed
--- no_error_log
[error]



=== TEST 15: over HTTP/2, from a keepalive upstream
The connection is closed, not kept: the next call opens a new one and
gets the whole of a small response.
--- http2
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{agentcore_tool stream /internal/stream "Big";\n}
. qq{agentcore_tool mid /internal/mid "Mid";\n}
. qq{location = /internal/big { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_method GET; proxy_pass http://files/big.bin; }\n}
. qq{location = /internal/stream { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_method GET; proxy_pass http://files/stream.bin; }\n}
. qq{location = /internal/mid { proxy_http_version 1.1; proxy_set_header Connection ""; proxy_method GET; proxy_pass http://files/mid.txt; }\n}
. $AgentCore::Test::Config
--- http_config eval
"upstream files { server 127.0.0.1:\$TEST_NGINX_RAND_PORT_1; keepalive 4; }\n" . $main::Upstreams
--- user_files eval
">>> big.bin\nx\n>>> mid.txt\n" . ("y" x 1000)
--- init
truncate(Test::Nginx::Util::html_dir() . "/big.bin", 100 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
[AgentCore::Test::invoke('[[tool name=big input={}]]'),
 AgentCore::Test::invoke('[[tool name=stream input={}]]'),
 AgentCore::Test::invoke('[[tool name=mid input={}]]')]
--- response_body eval
["Tool said: Error: the tool's response is larger than agentcore_tool_max_size",
 "Tool said: Error: the tool's response is larger than agentcore_tool_max_size",
 "Tool said: " . ("y" x 1000)]
--- no_error_log
an upstream response is buffered to a temporary file
[error]



=== TEST 16: a static file past the limit, as a GET tool, is not read
--- config eval
qq{agentcore_tool_max_size 1k;\n}
. qq{agentcore_tool file /data/big.json "Big" method=GET;\n}
. qq{location /data/ { internal; root html; }\n}
. $AgentCore::Test::Config
--- user_files
>>> data/big.json
x
--- init
truncate(Test::Nginx::Util::html_dir() . "/data/big.json", 20 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
AgentCore::Test::invoke('[[tool name=file input={}]]')
--- response_body: Tool said: Error: the tool's response is larger than agentcore_tool_max_size
--- error_log
agentcore tool "file": the response (20971520 bytes) is larger than agentcore_tool_max_size (1024), not read
--- no_error_log
[error]



=== TEST 17: oversized tools of both kinds and a small one in one turn
--- config eval
qq{agentcore_tool big /internal/big "Big";\n}
. qq{agentcore_tool stream /internal/stream "Big";\n}
. qq{agentcore_tool mid /internal/mid "Mid";\n}
. qq{location = /internal/big { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/big.bin; }\n}
. qq{location = /internal/stream { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/stream.bin; }\n}
. qq{location = /internal/mid { proxy_method GET; proxy_pass http://127.0.0.1:\$TEST_NGINX_RAND_PORT_1/mid.txt; }\n}
. $AgentCore::Test::Config
--- user_files eval
">>> big.bin\nx\n>>> mid.txt\n" . ("y" x 100)
--- init
truncate(Test::Nginx::Util::html_dir() . "/big.bin", 100 * 1024 * 1024)
    or die "truncate: $!";
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"stream","input":{}},{"name":"mid","input":{}},{"name":"big","input":{}}]]]')
--- response_body eval
"Tool said: Error: the tool's response is larger than agentcore_tool_max_size | "
. ("y" x 100)
. " | Error: the tool's response is larger than agentcore_tool_max_size"
--- error_log
agentcore tool "big": the response (104857600 bytes) is larger
agentcore tool "stream": the response is larger than agentcore_tool_max_size (65536), its upstream connection is closed
--- no_error_log
[error]
