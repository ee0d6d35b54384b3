# A client that goes away mid-stream: the model call is cancelled (the
# upstream connection closes: nothing keeps paying for tokens).

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

add_block_preprocessor(\&AgentCore::Test::defaults);

no_shuffle();
run_tests();

__DATA__

=== TEST 1: abort while the model streams closes the upstream connection
The client leaves once it has the first event (the model streams, then
hangs), and the init waits for nginx to log the upstream's close.
--- config eval
$AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my $streaming = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[hang]]'), qr/data: "Hello"\n\n/);
my $closed = AgentCore::Test::wait_log($at,
    qr/client prematurely closed connection/,
    qr/close http upstream connection/);
AgentCore::Test::report(
    'the model streamed when the client left: ' . ($streaming ? 'yes' : 'no'),
    'the upstream connection closed: ' . ($closed ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the model streamed when the client left: yes
the upstream connection closed: yes
--- error_log
client prematurely closed connection
close http upstream connection
--- no_error_log
[alert]
[crit]



=== TEST 2: abort while a location tool runs closes its connection too
The client leaves once the tool's request is sent (its stand-in never
answers), and the init waits for nginx to close that connection (the
model's went back to the keepalive pool before the tool started).
--- config eval
q{agentcore_tool slow /internal/slow "Slow";
location = /internal/slow {
    proxy_pass http://bedrock/model/x/converse-stream;
    proxy_set_header Authorization "Bearer $TEST_NGINX_BEDROCK_BEARER";
    proxy_set_body '{"messages":[{"role":"user","content":[{"text":"[[hang-accept]]"}]}]}';
}
} . $AgentCore::Test::Config . $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
# the client leaves once the tool's request is with the stand-in
my $sent = AgentCore::Test::abort_when(
    AgentCore::Test::invoke('[[tool name=slow input={}]]'),
    sub { AgentCore::Test::wait_log($at,
              qr{http upstream request: "/internal/slow\?"}) });
my $closed = AgentCore::Test::wait_log($at,
    qr/client prematurely closed connection/,
    qr{close http upstream connection});
AgentCore::Test::report(
    'the tool ran when the client left: ' . ($sent ? 'yes' : 'no'),
    "the tool's connection closed: " . ($closed ? 'yes' : 'no'));
--- request
GET /report
--- response_body
the tool ran when the client left: yes
the tool's connection closed: yes
--- error_log
client prematurely closed connection
close http upstream connection
--- no_error_log
[alert]
[crit]
