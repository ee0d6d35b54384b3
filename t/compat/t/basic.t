# Positive cases: the compat runner against plain nginx (no module).  Every
# block here must pass; t/compat/t/failures.t checks that wrong expectations
# fail.
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
use Test::Nginx::Socket 'no_plan';

no_shuffle();

our $PreprocessorRan = 0;
add_block_preprocessor(sub {
    my $block = shift;
    $PreprocessorRan++;
    if (!defined $block->config && defined $block->want_default_config) {
        $block->set_value('config',
            'location = /pre { return 200 "from preprocessor\n"; }');
    }
});

run_tests();

__DATA__

=== TEST 1: return with a body, headers, status, clean log
--- config
    location = /hello { return 200 "hi\n"; }
--- request
GET /hello
--- response_body
hi
--- response_headers
Content-Type: text/plain
Content-Length: 3
!X-Not-There
X-Also-Not-There:
--- error_code: 200
--- no_error_log
[error]
[alert]



=== TEST 2: header checks (add_header, like, raw)
--- config
    location = /h {
        add_header X-Foo "bar baz";
        add_header X-Port $server_port;
        return 200 "ok";
    }
--- request
GET /h
--- response_headers_like
X-Foo: bar \w+
Server: nginx/[\d.]+
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n.*X-Foo: bar baz\r\n
--- raw_response_headers_unlike: Transfer-Encoding
--- response_body chomp
ok



=== TEST 3: $ServerPort in expected headers and body
--- config
    location = /p {
        add_header X-Port $server_port;
        return 200 "port=$server_port";
    }
--- request
GET /p
--- response_headers
X-Port: $ServerPort
--- response_body chomp
port=$ServerPort



=== TEST 4: chunked body (SSI) is decoded
--- config
    location /ssi/ {
        alias $TEST_NGINX_SERVER_ROOT/html/;
        ssi on;
        ssi_types text/plain;
    }
--- user_files
>>> s.txt
a<!--# echo var="uri" -->b
--- request
GET /ssi/s.txt
--- raw_response_headers_like: Transfer-Encoding: chunked\r\n
--- response_body
a/ssi/s.txtb



=== TEST 5: HTTP/1.0 gets a close-delimited body
--- config
    location /ssi/ {
        alias $TEST_NGINX_SERVER_ROOT/html/;
        ssi on;
        ssi_types text/plain;
    }
--- user_files
>>> s.txt
x<!--# echo var="server_protocol" -->y
--- request
GET /ssi/s.txt HTTP/1.0
--- raw_response_headers_unlike: (?i)Transfer-Encoding|Content-Length
--- response_body
xHTTP/1.0y



=== TEST 6: status codes
--- config
    location = /teapot { return 418; }
--- request
GET /teapot
--- error_code: 418
--- response_body_like: ^$



=== TEST 7: error_code_like, error_log, grep_error_log
--- config
--- request
GET /no-such-file.html
--- error_code_like: ^40[0-9]$
--- error_log eval
["No such file or directory",
 qr/\[error\] \d+#\d+: \*\d+ open\(\) ".*no-such-file\.html" failed/]
--- grep_error_log eval
qr/open\(\) "[^"]*" failed \(2: No such file or directory\)/
--- grep_error_log_out eval
qr{^open\(\) "\S+/html/no-such-file\.html" failed \(2: No such file or directory\)\n$}



=== TEST 8: error_log and no_error_log as lists (start-up lines count)
--- config
    location = /e { return 200 "e"; }
--- request
GET /e
--- error_log eval
["http request line: \"GET /e HTTP/1.1\"", qr/http finalize request: 0, "\/e\?" a:1, c:1/,
 qr/\[notice\] \d+#\d+: using the "epoll" event method/]
--- no_error_log eval
[qr/\[(error|crit|alert|emerg)\]/, "client prematurely closed"]



=== TEST 9: request body gets a Content-Length (trimmed body)
--- config
    location = /len { return 200 "len=$content_length ct=$http_content_type"; }
--- request
POST /len
  hello world  
--- more_headers
Content-Type: text/x-test
--- response_body chomp
len=11 ct=text/x-test



=== TEST 10: more_headers, Host and Connection defaults
--- config
    location = /mh {
        return 200 "foo=$http_x_foo host=$http_host conn=$http_connection";
    }
--- request
GET /mh
--- more_headers
X-Foo: 42
# a comment line
--- response_body chomp
foo=42 host=localhost conn=close



=== TEST 11: several requests with request eval
--- config
    location /r { return 200 "uri=$uri\n"; }
    location = /missing { return 404; }
--- request eval
["GET /r1", "GET /r2", "GET /missing"]
--- error_code eval
[200, 200, 404]
--- response_body_like eval
["uri=/r1", "uri=/r2", "404 Not Found"]



=== TEST 12: pipelined requests on one connection
--- config
    location /pl { return 200 "$uri|$http_connection|$connection_requests\n"; }
--- pipelined_requests eval
["GET /pl1", "GET /pl2", "GET /pl3"]
--- response_body eval
["/pl1|keep-alive|1\n", "/pl2|keep-alive|2\n", "/pl3|close|3\n"]



=== TEST 13: raw_request, sent as packets
--- config
    location = /raw { return 200 "raw $request_method"; }
--- raw_request eval
["PU", "T /raw HTTP/1.1\r\nHost: x\r\n", "Content-Length: 0\r\nConnection: close\r\n\r\n"]
--- raw_request_middle_delay: 0.01
--- response_body: raw PUT



=== TEST 14: a request split into packets keeps its body
--- config
    location = /pk { return 200 "cl=$content_length"; }
--- request eval
[["POST /pk\nab", "cdef"]]
--- response_body: cl=6



=== TEST 15: user_files in sub-directories and HEAD
--- config
--- user_files
>>> dir/sub/f.txt
file body
>>> g.txt
gee
--- request eval
["GET /dir/sub/f.txt", "HEAD /g.txt", "GET /g.txt"]
--- response_headers eval
["Content-Length: 10", "Content-Length: 4", "Content-Type: text/plain"]
--- response_body eval
["file body\n", "", "gee\n"]



=== TEST 16: main_config, http_config, a second server on a random port
--- main_config
    worker_rlimit_nofile 1024;
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        location / { return 200 "backend $server_port\n"; }
    }
--- config
    location = /front {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/x;
    }
--- request
GET /front
--- response_body_unlike: ^backend $ServerPort\n



=== TEST 17: embedded TCP server (mock upstream) and tcp_query
--- config
    location = /up {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/backend;
        proxy_set_header Host mock;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query eval
"GET /backend HTTP/1.0\r\nHost: mock\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Mock: yes\r\n\r\nmock!"
--- request
GET /up
--- response_headers
X-Mock: yes
--- response_body: mock!



=== TEST 18: chunked from a streaming mock upstream (reply in packets)
--- config
    location = /stream {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_buffering off;
        proxy_http_version 1.1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
 "3\r\nabc\r\n", "2\r\nde\r\n", "0\r\n\r\n"]
--- request
GET /stream
--- raw_response_headers_like: Transfer-Encoding: chunked
--- response_body: abcde



=== TEST 19: client abort after a timeout (abort + wait)
--- config
    location = /hang {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_read_timeout 10s;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply:
--- tcp_no_close
--- request
GET /hang
--- timeout: 200ms
--- abort
--- ignore_response
--- wait: 0.2
--- error_log
client prematurely closed connection



=== TEST 20: init runs Perl before the request
--- config
--- init
open my $fh, '>', "$Test::Nginx::Util::HtmlDir/init.txt" or die $!;
print $fh "written by init\n";
close $fh;
--- request
GET /init.txt
--- response_body
written by init



=== TEST 21: a block without config reuses the running nginx
--- request
GET /init.txt
--- response_body
written by init



=== TEST 22: block preprocessor
--- want_default_config
--- request
GET /pre
--- response_body
from preprocessor



=== TEST 23: response_body_filters and eval body
--- config
    location = /f { return 200 "MiXeD"; }
--- request
GET /f
--- response_body_filters
lc
--- response_body eval
"mixed"



=== TEST 24: response_body_filters with a code ref
--- config
    location = /f { return 200 "abc"; }
--- request
GET /f
--- response_body_filters eval
[sub { scalar CORE::reverse $_[0] }, 'uc']
--- response_body: CBA



=== TEST 25: skip_nginx skips the given number of tests
--- config
    location = /s { return 500; }
--- request
GET /s
--- skip_nginx
2: < 999.0.0
--- response_body: never checked



=== TEST 26: skip_nginx that does not apply runs the block
--- config
    location = /s { return 200 "ran"; }
--- request
GET /s
--- skip_nginx
2: > 999.0.0
--- response_body: ran



=== TEST 27: must_die with a bad directive, checked against stderr
--- config
    location = /x { no_such_directive_here on; }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 28: must_die with an exit code
--- config
    location = /x { return abc def ghi; }
--- must_die: 1
--- error_log
invalid number of arguments in "return" directive



=== TEST 29: HTTP/2 via curl
--- config
    location = /h2 { return 200 "proto=$server_protocol\n"; }
--- http2
--- request
GET /h2
--- response_headers
content-type: text/plain
--- response_body
proto=HTTP/2.0



=== TEST 30: shutdown_error_log is checked once nginx has stopped
--- config
    location = /q { return 204; }
--- request
GET /q
--- error_code: 204
--- shutdown_error_log eval
qr/\[notice\] \d+#\d+: exit$/



=== TEST 31: server_name section and no shuffle order
--- config
    location = /sn { return 200 "$server_name"; }
--- server_name: example.test
--- request
GET /sn
--- response_body: example.test



=== TEST 32: access_log checks
--- config
    location = /al { return 200 "a"; }
--- request
GET /al?x=1
--- access_log
"GET /al?x=1 HTTP/1.1" 200
--- no_access_log
"GET /other



=== TEST 33: timeout longer than a slow but complete response
--- config
    location = /slow {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply_delay: 0.3
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nlate"
--- request
GET /slow
--- timeout: 2
--- response_body: late



=== TEST 34: request with a leading comment line and HTTP/1.0 default close
--- config
    location = /c { return 200 "$request"; }
--- request
    # comment
    GET /c?a=b
--- response_body: GET /c?a=b HTTP/1.1



=== TEST 35: skip_eval
--- config
    location = /x { return 500; }
--- request
GET /x
--- skip_eval
2: 1 + 1 == 2
--- response_body: never



=== TEST 36: todo blocks are reported as TODO
--- config
    location = /x { return 500; }
--- request
GET /x
--- todo
2: not there yet
--- response_body: never



=== TEST 37: SKIP blocks are not run
--- config
    location = /x { return 500; }
--- request
GET /x
--- SKIP
--- response_body: never
