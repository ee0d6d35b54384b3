# TEST_NGINX_USE_VALGRIND=1: nginx runs under memcheck in the foreground, is
# stopped after every block, and stock nginx must not produce a report
# (t/compat/valgrind.suppress covers its own never-freed memory).  That a
# report does fail a block is checked on sample logs in parse-valgrind.t.
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
BEGIN {
    if (system('valgrind --version >/dev/null 2>&1') != 0) {
        print "1..0 # SKIP valgrind is not installed\n";
        exit 0;
    }
    $ENV{TEST_NGINX_USE_VALGRIND} = 1;
}
use Test::Nginx::Socket;

repeat_each(2);
plan tests => repeat_each() * (3 * blocks());

no_shuffle();
run_tests();

__DATA__

=== TEST 1: a request under valgrind
--- config
    location = /v { return 200 "valgrind\n"; }
--- request
GET /v
--- response_body
valgrind
--- no_error_log
[error]



=== TEST 2: proxied, chunked, under valgrind
--- config
    location = /p {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/v;
        proxy_buffering off;
        proxy_http_version 1.1;
    }
    location = /v { ssi on; ssi_types text/plain; return 200 "v"; }
--- request
GET /p
--- response_body: v
--- no_error_log
[error]
