# docs/security.md's examples, run as written there (issue 10, item 14):
# each fenced block after "<!-- example: NAME -->" is read from the doc;
# only the password file's path and the upstream addresses are replaced.
# Sessions bound to the caller: two users sending the same session id
# have two conversations.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';
use MIME::Base64 ();
use JSON::PP ();

our $S = "sess-0123456789abcdef0123456789abcdef";
our $H = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id";

our %Auth = (
    alice => "Authorization: Basic "
             . MIME::Base64::encode_base64("alice:secret-a", ""),
    bob   => "Authorization: Basic "
             . MIME::Base64::encode_base64("bob:secret-b", ""),
);

# the model location, as every suite has it; no /invocations of its own
our $Model = "agentcore_model_location /_agentcore/bedrock;\n"
             . "agentcore_region us-east-1;\n"
             . $AgentCore::Test::ModelLocation;

# (http level, server level) of an example of docs/security.md
sub example {
    my $name = shift;
    my ($fh, $md, $conf, $server);

    open($fh, '<', "$AgentCore::Test::Root/docs/security.md")
        or die "docs/security.md: $!\n";
    $md = do { local $/; <$fh> };
    close $fh;

    $md =~ /^<!-- example: \Q$name\E -->\n```nginx\n(.*?)^```/ms
        or die "docs/security.md: no example \"$name\"\n";
    $conf = $1;

    $conf =~ s/\Ahttp \{\n(.*)^\}\n\z/$1/ms
        or die "example \"$name\": not one http block\n";
    $conf =~ s/^( *)server \{\n(.*?)^\1\}\n//ms
        or die "example \"$name\": no server block\n";
    $server = $2;

    for ($conf, $server) {
        s{/etc/nginx/agent\.htpasswd}{../html/agent.htpasswd}g;
        s{http://(jwt-verifier|orders-api)/}
         {http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/}g;
    }

    return ($conf, $server);
}

our ($UserHttp, $UserServer) = example("remote_user");
our ($JwtHttp, $JwtServer) = example("jwt");
our ($ToolHttp, $ToolServer) = example("tool_identity");

# the echoed model request as "role: text | role: text"
sub hist {
    my $t = AgentCore::Test::sse_text(shift);
    my ($req) = eval { JSON::PP->new->utf8->decode_prefix($t) };

    return $t if ref $req ne 'HASH';

    return join ' | ', map {
        "$_->{role}: " . join ' + ', map { $_->{text} // '?' }
                                     @{ $_->{content} }
    } @{ $req->{messages} };
}

add_block_preprocessor(sub {
    my $block = shift;

    if (!defined $block->response_body_filters) {
        $block->set_value("response_body_filters", \&main::hist);
    }

    AgentCore::Test::defaults($block);
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: keyed on $remote_user: the same session id, two conversations
--- http_config eval: $AgentCore::Test::HttpConfig . $main::UserHttp
--- config eval: $main::UserServer . $main::Model
--- user_files
>>> agent.htpasswd
alice:{PLAIN}secret-a
bob:{PLAIN}secret-b
--- more_headers eval
["$main::Auth{alice}\n$main::H: $main::S",
 "$main::Auth{bob}\n$main::H: $main::S",
 "$main::Auth{alice}\n$main::H: $main::S",
 "$main::Auth{bob}\n$main::H: $main::S",
 "$main::Auth{alice}"]
--- request eval
[AgentCore::Test::invoke("I am Alice"),
 AgentCore::Test::invoke("I am Bob"),
 AgentCore::Test::invoke("[[echo]]"),
 AgentCore::Test::invoke("[[echo]]"),
 AgentCore::Test::invoke("[[echo]]")]
--- response_headers eval
["$main::H: alice:$main::S", "$main::H: bob:$main::S",
 "$main::H: alice:$main::S", "$main::H: bob:$main::S", "!$main::H"]
--- response_body eval
["Hello! You said: I am Alice",
 "Hello! You said: I am Bob",
 "user: I am Alice | assistant: Hello! You said: I am Alice | user: [[echo]]",
 "user: I am Bob | assistant: Hello! You said: I am Bob | user: [[echo]]",
 "user: [[echo]]"]
--- no_error_log
[error]



=== TEST 2: keyed on $remote_user: no password, no invocation
--- http_config eval: $AgentCore::Test::HttpConfig . $main::UserHttp
--- config eval: $main::UserServer . $main::Model
--- user_files
>>> agent.htpasswd
alice:{PLAIN}secret-a
--- more_headers eval
["$main::H: $main::S",
 "Authorization: Basic " . MIME::Base64::encode_base64("alice:wrong", "")
 . "\n$main::H: $main::S"]
--- request eval
[AgentCore::Test::invoke("[[echo]]"), AgentCore::Test::invoke("[[echo]]")]
--- error_code eval
[401, 401]
--- response_body_like eval
[qr/401 Authorization Required/, qr/401 Authorization Required/]



=== TEST 3: unbound (the default), the id alone picks the conversation
What security.md warns of: bob continues alice's conversation.
--- http_config eval
$AgentCore::Test::HttpConfig . "agentcore_session_zone s:1m;\n"
--- config eval
"agentcore_session s;\n" . $AgentCore::Test::Config
--- more_headers eval
["$main::Auth{alice}\n$main::H: $main::S",
 "$main::Auth{bob}\n$main::H: $main::S"]
--- request eval
[AgentCore::Test::invoke("I am Alice"), AgentCore::Test::invoke("[[echo]]")]
--- response_body eval
["Hello! You said: I am Alice",
 "user: I am Alice | assistant: Hello! You said: I am Alice | user: [[echo]]"]



=== TEST 4: keyed on a claim from auth_request: two conversations
The verifier stands in for a JWT check: it maps two tokens to their
"sub" and refuses anything else.
--- http_config eval
$AgentCore::Test::HttpConfig . $main::JwtHttp . q{
map $http_authorization $test_sub {
    "Bearer token-of-alice"  alice;
    "Bearer token-of-bob"    bob;
    default                  "";
}
}
--- config eval
$main::JwtServer . $main::Model . q{
location = /verify {
    if ($test_sub = "") {
        return 401;
    }
    add_header X-JWT-Sub $test_sub;
    return 204;
}
}
--- more_headers eval
["Authorization: Bearer token-of-alice\n$main::H: $main::S",
 "Authorization: Bearer token-of-bob\n$main::H: $main::S",
 "Authorization: Bearer token-of-alice\n$main::H: $main::S",
 "Authorization: Bearer token-of-bob\n$main::H: $main::S",
 "Authorization: Bearer forged\n$main::H: $main::S",
 "X-JWT-Sub: alice\n$main::H: $main::S"]
--- request eval
[AgentCore::Test::invoke("I am Alice"),
 AgentCore::Test::invoke("I am Bob"),
 AgentCore::Test::invoke("[[echo]]"),
 AgentCore::Test::invoke("[[echo]]"),
 AgentCore::Test::invoke("[[echo]]"),
 AgentCore::Test::invoke("[[echo]]")]
--- error_code eval
[200, 200, 200, 200, 401, 401]
--- response_headers eval
["$main::H: alice:$main::S", "$main::H: bob:$main::S",
 "$main::H: alice:$main::S", "$main::H: bob:$main::S", "!$main::H",
 "!$main::H"]
--- response_body_like eval
[qr/\AHello! You said: I am Alice\z/,
 qr/\AHello! You said: I am Bob\z/,
 qr/\Auser: I am Alice \| assistant: Hello! You said: I am Alice \| user: \[\[echo\]\]\z/,
 qr/\Auser: I am Bob \| assistant: Hello! You said: I am Bob \| user: \[\[echo\]\]\z/,
 qr/401 Authorization Required/,
 qr/401 Authorization Required/]



=== TEST 5: a tool learns the caller from nginx, not from the model
--- http_config eval: $AgentCore::Test::HttpConfig . $main::ToolHttp
--- config eval
$main::ToolServer . $main::Model . q{
location = /orders {
    return 200 "orders of $http_x_user";
}
}
--- user_files
>>> agent.htpasswd
alice:{PLAIN}secret-a
bob:{PLAIN}secret-b
--- more_headers eval
[$main::Auth{alice}, $main::Auth{bob}]
--- request eval
[AgentCore::Test::invoke('[[tool name=orders input={"user":"bob"}]]'),
 AgentCore::Test::invoke('[[tool name=orders input={}]]')]
--- response_body eval
["Tool said: orders of alice", "Tool said: orders of bob"]
--- no_error_log
[error]
