# Positive cases: the compat runner against plain nginx (no module).
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
use Test::Nginx::Socket 'no_plan';

no_shuffle();
run_tests();

__DATA__

=== TEST 1: return with a body
--- config
    location = /hello { return 200 "hi\n"; }
--- request
GET /hello
--- response_body
hi
--- response_headers
Content-Type: text/plain
Content-Length: 3
--- error_code: 200
--- no_error_log
[error]
