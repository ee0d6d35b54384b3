# GET /ping: the runtime contract's health check.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: compact JSON with status and an integer stamp
--- config
    location = /ping { agentcore_ping; }
--- request
GET /ping
--- response_headers
Content-Type: application/json
--- response_body_like: \A\{"status":"Healthy","time_of_last_update":\d{10}\}\z
--- no_error_log
[error]



=== TEST 2: the stamp does not change while the status does not
The invocation in between streams for more than a second, so the second
ping comes in a later second than the first.
--- config eval
$AgentCore::Test::Config . q{
    location = /ping { agentcore_ping; }
}
--- request eval
["GET /ping",
 "POST /invocations\n" . '{"prompt":"[[slow ms=400 n=3]]"}',
 "GET /ping"]
--- response_body_filters eval
sub {
    my $body = shift;
    # the stamp of this repeat's first ping (a repeat may run in a fresh
    # nginx, with a stamp of its own), compared with the ping after the
    # invocation
    if ($body =~ s/"time_of_last_update":(\d+)/"time_of_last_update":STAMP/) {
        if (!$main::after_invocation) {
            $main::stamp = $1;
        } else {
            $main::after_invocation = 0;
            return "changed from $main::stamp to $1" if $1 != $main::stamp;
        }
    } else {
        $main::after_invocation = 1;
    }
    return $body;
}
--- response_body eval
['{"status":"Healthy","time_of_last_update":STAMP}',
 qq{data: "tok1 "\n\ndata: "tok2 "\n\ndata: "tok3 "\n\n},
 '{"status":"Healthy","time_of_last_update":STAMP}']
--- no_error_log
[error]



=== TEST 3: HEAD is allowed and has no body
--- config
    location = /ping { agentcore_ping; }
--- request
HEAD /ping
--- response_headers
Content-Type: application/json
--- response_body
--- no_error_log
[error]



=== TEST 4: POST is 405 with Allow: GET, HEAD
--- config
    location = /ping { agentcore_ping; }
--- request
POST /ping
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: text/plain; charset=utf-8
--- response_body chomp
Method Not Allowed
--- no_error_log
[error]
