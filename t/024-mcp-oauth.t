# agentcore_mcp auth=oauth (issue 19): the module fetches an access token
# by OAuth 2.0 client credentials (RFC 6749 4.4, as from Amazon Cognito,
# the IdP of AgentCore Gateway's tutorials) through an internal location,
# keeps it per worker until it nears its expires_in, fetches another on
# a 401 of the MCP server (once), and never logs the secret or the
# token.  The server is emulator/mcp-test-server.py --oauth: a token
# endpoint at /token and an MCP endpoint that wants the tokens it issued.

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Mcp;
use Test::Nginx::Socket 'no_plan';

our $Secret = 'client-SECRET-1';
# base64 of "mcp-client:client-SECRET-1", the Basic credentials
our $Basic = 'bWNwLWNsaWVudDpjbGllbnQtU0VDUkVULTE=';

$ENV{TEST_NGINX_MCP_O} = AgentCore::Mcp::start(
    name => 'o', page_size => 100, oauth => "mcp-client:$Secret");

our $Mcp = <<'_EOC_';
location = /_mcp/o {
    internal;
    proxy_set_header Authorization $agentcore_mcp_authorization;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_O/mcp;
}
location = /_mcp_token/o {
    internal;
    proxy_pass http://127.0.0.1:$TEST_NGINX_MCP_O/token;
}
location = /local { internal; return 200 local; }
_EOC_

sub conf {
    my ($directives) = @_;

    return $main::Mcp . $AgentCore::Test::ModelLocation . <<"_EOC_";
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;
location = /invocations {
    agentcore;
$directives
}
_EOC_
}

# the server o with auth=oauth and more options
sub oauth {
    my ($more) = @_;
    return "agentcore_mcp o /_mcp/o auth=oauth token_uri=/_mcp_token/o "
           . "client_id=mcp-client $more;";
}

# an invocation sent now, its answer's text (for a block's --- init)
sub ask {
    my ($req) = @_;
    my ($line, $body) = split /\n/, $req, 2;
    my (undef, $uri) = split ' ', $line;
    my $got = '';

    require IO::Socket::INET;
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => Test::Nginx::Util::server_port(),
        Proto => 'tcp') or die "connect: $!\n";

    $body //= '';
    print $sock "POST $uri HTTP/1.0\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $deadline = time + $AgentCore::Test::Wait;

    while (time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next if !select($rin, undef, undef, 0.1);
        last if !sysread($sock, $got, 65536, length $got);
    }

    $got =~ s/\A.*?\r\n\r\n//s;
    return AgentCore::Test::sse_text($got);
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&AgentCore::Test::sse_text);
    }

    if (!defined $block->user_files) {
        $block->set_value("user_files", ">>> client.secret\n$main::Secret\n"
                                        . ">>> wrong.secret\nnot-the-secret\n");
    }

    AgentCore::Test::defaults($block);
});

# a block of several requests: its log lines from all of them
check_accum_error_log();

no_shuffle();
run_tests();

__DATA__

=== TEST 1: one token for the listing and every call of two invocations (client_secret_basic, a secret file)
The server sees the token the module fetched; it counts the tokens it
issued for the scope.
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret scope=s1'))
--- request eval
[AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"echo_sse","input":{"text":"2"}},{"name":"headers","input":{}}]]]'),
 AgentCore::Test::invoke('[[tool name=tokens input={"scope":"s1"}]]')]
--- response_body_like eval
[qr/^Tool said: o echo: 1 \[version 2025-06-18\] \| o echo: 2 \[version 2025-06-18\] \| auth=Bearer tok-[0-9a-f]{32} cookie=None x=None$/,
 qr/^Tool said: tokens for s1: 1 \(basic\)$/]
--- error_log
agentcore mcp "o": an OAuth token (expires in 3600 s)
agentcore mcp "o": 13 tools listed
--- no_error_log
[error]



=== TEST 2: client_auth=post, a secret of a variable, a scope form-encoded
--- config eval
main::conf(qq{set \$mcp_secret $main::Secret;\n}
           . main::oauth(q{client_secret=$mcp_secret client_auth=post "scope=s2 gw/invoke"}))
--- request eval
AgentCore::Test::invoke('[[tool name=tokens input={"scope":"s2 gw/invoke"}]]')
--- response_body: Tool said: tokens for s2 gw/invoke: 1 (post)
--- no_error_log
[error]



=== TEST 3: a token near its expiry is fetched again
The token lives 1 s (the server's scope expires-in-1), used until 100 ms
are left; the second invocation's call takes 1.1 s (the server's), the
third needs another token.
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret scope=expires-in-1'))
. $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my @said = map { main::ask(AgentCore::Test::invoke($_)) }
    ('[[tool name=echo input={"text":"1"}]]',
     '[[tool name=slow input={"ms":1100}]]',
     '[[tool name=tokens input={"scope":"expires-in-1"}]]');
AgentCore::Test::report(@said, 'logged: ' . (AgentCore::Test::log_matches($at,
    qr/agentcore mcp "o": the OAuth token expires, fetching another/) ? 'yes' : 'no'));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
Tool said: o echo: 1 [version 2025-06-18]
Tool said: slept 1100
Tool said: tokens for expires-in-1: 2 (basic)
logged: yes
--- no_error_log
[error]



=== TEST 4: a token the server refuses (401): another one, and the request again, once
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret scope=s4'))
. $AgentCore::Test::ReportLocation
--- init
my $at = AgentCore::Test::log_size();
my @said = map { main::ask(AgentCore::Test::invoke($_)) }
    ('[[tool name=revoke input={}]]',
     '[[tool name=echo input={"text":"again"}]]',
     '[[tool name=tokens input={"scope":"s4"}]]');
AgentCore::Test::report(@said, 'logged: ' . (AgentCore::Test::log_matches($at,
    qr/agentcore mcp "o": the server refused the OAuth token \(401\), fetching another/) ? 'yes' : 'no'));
--- request
GET /report
--- response_body_filters eval
sub { $_[0] }
--- response_body
Tool said: revoked
Tool said: o echo: again [version 2025-06-18]
Tool said: tokens for s4: 2 (basic)
logged: yes
--- no_error_log
[error]



=== TEST 5: two calls refused together (401) wait for one new token
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret scope=s10'))
--- request eval
[AgentCore::Test::invoke('[[tool name=revoke input={}]]'),
 AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"echo_sse","input":{"text":"2"}},{"name":"slow","input":{"ms":10}}]]]'),
 AgentCore::Test::invoke('[[tool name=tokens input={"scope":"s10"}]]')]
--- response_body eval
["Tool said: revoked",
 "Tool said: o echo: 1 [version 2025-06-18] | o echo: 2 [version 2025-06-18] | slept 10",
 "Tool said: tokens for s10: 2 (basic)"]
--- no_error_log
[error]



=== TEST 6: a wrong secret: no token, the server is left out, the invocation answers
--- config eval
main::conf(qq{agentcore_tool local /local "Local";\n}
           . main::oauth('client_secret=../html/wrong.secret scope=s5'))
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"x"}},{"name":"local","input":{}}]]]')
--- response_body: Tool said: Unknown tool: echo | local
--- error_log
agentcore mcp "o": no OAuth token: the token endpoint answered HTTP 401 (invalid_client)
agentcore mcp "o": the tools cannot be listed, the invocation goes on without them: no OAuth token: the token endpoint answered HTTP 401 (invalid_client)
--- no_error_log eval
[qr/not-the-secret/, qr/client-SECRET/]



=== TEST 7: no secret and no token in the debug log (client_secret_basic)
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret scope=s6'))
--- request eval
AgentCore::Test::invoke('[[tools calls=[{"name":"echo","input":{"text":"1"}},{"name":"echo_sse","input":{"text":"2"}}]]]')
--- response_body: Tool said: o echo: 1 [version 2025-06-18] | o echo: 2 [version 2025-06-18]
--- no_error_log eval
[qr/client-SECRET/, qr/\Q$main::Basic\E/, qr/tok-[0-9a-f]{8}/, qr/\[error\]/]
--- error_log
agentcore mcp "o": fetching an OAuth token
agentcore mcp "o": debug logging paused while the request is sent
agentcore mcp "o": debug logging resumed
--- log_level: debug



=== TEST 8: no secret and no token in the debug log (client_auth=post)
--- config eval
main::conf(main::oauth('client_secret=../html/client.secret client_auth=post scope=s7'))
--- request eval
AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]')
--- response_body: Tool said: o echo: 1 [version 2025-06-18]
--- no_error_log eval
[qr/client-SECRET/, qr/\Q$main::Basic\E/, qr/tok-[0-9a-f]{8}/, qr/\[error\]/]
--- error_log
agentcore mcp "o": fetching an OAuth token
--- log_level: debug



=== TEST 9: configuration errors: auth=oauth needs the client
--- config eval
main::conf("agentcore_mcp o /_mcp/o auth=oauth token_uri=/_mcp_token/o client_id=x;")
--- must_die
--- error_log
agentcore_mcp "o": auth=oauth needs token_uri=



=== TEST 10: configuration errors: the client's options go with auth=oauth
--- config eval
main::conf("agentcore_mcp o /_mcp/o client_id=x;")
--- must_die
--- error_log
agentcore_mcp "o": token_uri=, client_id=, client_secret=, scope= and client_auth= go with auth=oauth



=== TEST 11: a call whose token cannot be fetched is an error result; client_secret=$VAR is read at each fetch
The token lives 1 s; the third invocation's secret (its query's) is
wrong when the token is fetched again.
--- config eval
main::conf(main::oauth('client_secret=$arg_secret scope=expires-in-1'))
--- request eval
[AgentCore::Test::invoke('[[tool name=echo input={"text":"1"}]]', "/invocations?secret=$main::Secret"),
 AgentCore::Test::invoke('[[tool name=slow input={"ms":1100}]]', "/invocations?secret=$main::Secret"),
 AgentCore::Test::invoke('[[tool name=echo input={"text":"3"}]]', '/invocations?secret=wrong')]
--- response_body eval
["Tool said: o echo: 1 [version 2025-06-18]",
 "Tool said: slept 1100",
 'Tool said: Error: MCP server "o": no OAuth token: the token endpoint answered HTTP 401 (invalid_client)']
