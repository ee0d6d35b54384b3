# Affinity without a store (docs/sessions.md): a front nginx pins each
# session to one of two module nodes with
#
#     hash $http_x_amzn_bedrock_agentcore_runtime_session_id consistent;
#
# The test's nginx holds all three: the front is the test's server, the
# nodes are two servers on unix sockets, each with a session zone of its
# own (node_a, node_b), so they share nothing, as two machines would; a
# node tells who it is in X-Node.  A node "goes away" as a stopped one
# does: its socket is moved aside and a dead socket (bound, never
# listening) takes its place, so the front's connect() is refused; then
# the node comes back.  The emulator's [[echo]] answers with the model
# request, so a test reads the history the node sent (hist(), as in
# t/011-sessions.t).

use lib 't/lib';
use AgentCore::Test;
use AgentCore::Creds ();
use Test::Nginx::Socket 'no_plan';
use JSON::PP ();
use IO::Socket::INET;
use IO::Socket::UNIX;
use IO::Select;
use Socket qw(SOCK_STREAM);

our $Sid = 'affinity-0123456789abcdef0123456789abcdef';

sub sock { "$ENV{TEST_NGINX_SERVER_ROOT}/logs/node-$_[0].sock" }

sub node {
    my $n = shift;
    my $s = sock($n);
    return "server {\n    listen unix:$s;\n"
           . "    agentcore_session node_$n;\n"
           . "    add_header X-Node $n always;\n"
           . $AgentCore::Test::Config . "}\n";
}

# max_fails=0: a refused node is tried first again by the next request,
# so the test need not wait out fail_timeout to see it come back
our $HttpConfig = $AgentCore::Test::HttpConfig . <<"_EOC_" . node('a') . node('b');
agentcore_session_zone node_a:1m;
agentcore_session_zone node_b:1m;

upstream nodes {
    hash \$http_x_amzn_bedrock_agentcore_runtime_session_id consistent;
    server unix:${\ sock('a')} max_fails=0;
    server unix:${\ sock('b')} max_fails=0;
}
_EOC_

# nodes answering 20 invocations without a session id: "a b", "a" or "b"
sub spread {
    my %seen;
    for (1 .. 20) {
        my (undef, $n) = turn(undef, "hi");
        $seen{$n}++;
    }
    return join ' ', sort keys %seen;
}

# "Connection: close" to the nodes: a stopped node closes its
# connections, the stand-in for one below (its socket file moved aside)
# cannot, and nginx 1.29.x and later keep upstream connections alive by
# default (keepalive 32 local): the front would go on using the
# "stopped" node's open connection
our $Config = <<'_EOC_' . $AgentCore::Test::ReportLocation;
location = /invocations {
    proxy_pass http://nodes;
    proxy_http_version 1.1;
    proxy_set_header Connection close;
    proxy_buffering off;
}
_EOC_

# the SSE text; an echoed request becomes its history, one message per "|"
sub hist {
    my $body = shift;
    my ($text, $req, $n);

    return $body if $body !~ /\Adata: /;

    $text = AgentCore::Test::sse_text($body);

    return $text if $text !~ /\A\{"messages"/;

    ($req, $n) = JSON::PP->new->utf8->decode_prefix($text);

    return join(' | ', map {
        "$_->{role}: " . join ' + ', map { $_->{text} // '?' }
                                     @{ $_->{content} }
    } @{ $req->{messages} }) . substr($text, $n);
}

# POST /invocations through the front with a session id:
# (status, node, SSE text or history)
sub turn {
    my ($sid, $prompt) = @_;
    my $sock = start($sid, $prompt);
    my $raw = read_until($sock, undef);

    close $sock;
    return parse($raw);
}

sub start {
    my ($sid, $prompt) = @_;
    my $body = JSON::PP->new->encode({ prompt => $prompt });
    my $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1', PeerPort => Test::Nginx::Util::server_port(),
        Proto => 'tcp', Timeout => 5) or die "connect: $!\n";

    print $sock "POST /invocations HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\nContent-Type: application/json\r\n"
        . (defined $sid
           ? "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $sid\r\n" : '')
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    return $sock;
}

# what the socket sends until $re matches (undef: until it closes),
# within $AgentCore::Test::Wait seconds
sub read_until {
    my ($sock, $re) = @_;
    my $got = '';
    my $sel = IO::Select->new($sock);
    my $deadline = time + $AgentCore::Test::Wait;

    while (time < $deadline) {
        last if defined $re && $got =~ $re;
        next if !$sel->can_read(0.1);
        last if !sysread($sock, $got, 65536, length $got);
    }

    return $got;
}

sub parse {
    my $raw = shift;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    my $out = '';

    return (0, '-', "no answer: $raw")
        if !defined $head || $head !~ m{^HTTP/1\.\d (\d+)};

    my $status = $1;
    my $node = $head =~ /^X-Node: (\w+)/mi ? $1 : '-';

    $body //= '';
    if ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        while ($body =~ s/\A([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/\A\r\n//;
        }
        $body = $out;
    }

    return ($status, $node, hist($body));
}

# the node stops: connections to its socket are refused (a socket file
# nobody listens on), until back() puts the node's own socket back
sub away {
    my $n = shift;
    my $s = sock($n);

    rename $s, "$s.away" or die "rename $s: $!\n";
    my $dead = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $s)
        or die "bind $s: $!\n";
    close $dead;
}

sub back {
    my $n = shift;
    my $s = sock($n);

    return if !-e "$s.away";
    unlink $s;
    rename "$s.away", $s or die "rename $s.away: $!\n";
}

sub other { $_[0] eq 'a' ? 'b' : 'a' }

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

=== TEST 1: two turns of a session through the front: one node, its history
The second turn's model request holds the first turn: the node that
answered it is the node that kept it (the other node's zone is not
shared).
--- more_headers eval
"X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $main::Sid"
--- request eval
[AgentCore::Test::invoke("My name is Ada"),
 AgentCore::Test::invoke("[[echo]]")]
--- response_headers_like eval
["X-Node: [ab]", "X-Node: [ab]"]
--- response_body_filters eval: \&main::hist
--- response_body eval
["Hello! You said: My name is Ada",
 "user: My name is Ada | assistant: Hello! You said: My name is Ada"
 . " | user: [[echo]]"]
--- no_error_log
[error]
[warn]



=== TEST 2: pinned; spread; the node goes away: afresh elsewhere; it comes back
Session S lands on node P and stays there.  Among a few other ids, one
lands on the other node Q and stays there.  P stops: S's next turn goes
to Q and starts afresh (only the new turn); the session on Q is not
touched.  P comes back: S goes back to P, whose zone still holds the
history from before, without the turn Q answered.
--- init
my @r;
my ($st, $p, $h) = main::turn($main::Sid, "My name is Ada");
push @r, "S turn 1: $st $h";
my ($st2, $p2, $h2) = main::turn($main::Sid, "I like tea");
push @r, "S turn 2 on the same node: " . ($p2 eq $p ? 'yes' : "no ($p, $p2)"),
         "S turn 2: $st2 $h2";
my ($t, $q);
for my $i (1 .. 40) {
    my $id = sprintf "affinity-other-%02d-0123456789abcdef0123456789", $i;
    my (undef, $n) = main::turn($id, "I am T");
    if ($n eq main::other($p)) {
        ($t, $q) = ($id, $n);
        last;
    }
}
push @r, "another id on the other node: " . ($t ? 'yes' : 'no');
if ($t) {
    my ($st3, $n3, $h3) = main::turn($t, "still T");
    push @r, "T turn 2 stays: " . ($n3 eq $q ? 'yes' : 'no') . ", $st3 $h3";
}
my $at = AgentCore::Test::log_size();
main::away($p);
my @away = eval {
    my ($st4, $n4, $h4) = main::turn($main::Sid, "[[echo]]");
    my @l = ("P gone, S turn 3 on the other node: "
             . ($n4 eq main::other($p) ? 'yes' : "no ($n4)"),
             "S turn 3 (afresh): $st4 $h4");
    if ($t) {
        my ($st5, $n5, $h5) = main::turn($t, "[[echo]]");
        push @l, "T turn 3 stays: " . ($n5 eq $q ? 'yes' : 'no')
                 . ", $st5 $h5";
    }
    @l;
};
my $err = $@;
push @r, "the front logged the refusal: "
         . (AgentCore::Test::log_matches($at,
                qr/connect\(\) to unix:\S+node-$p\.sock failed \(111: /)
            ? 'yes' : 'no');
main::back($p);
die $err if $err;
push @r, @away;
my ($st6, $n6, $h6) = main::turn($main::Sid, "[[echo]]");
push @r, "P back, S turn 4 on P: " . ($n6 eq $p ? 'yes' : "no ($n6)"),
         "S turn 4: $st6 $h6";
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
S turn 1: 200 Hello! You said: My name is Ada
S turn 2 on the same node: yes
S turn 2: 200 Hello! You said: I like tea
another id on the other node: yes
T turn 2 stays: yes, 200 Hello! You said: still T
the front logged the refusal: yes
P gone, S turn 3 on the other node: yes
S turn 3 (afresh): 200 user: [[echo]]
T turn 3 stays: yes, 200 user: I am T | assistant: Hello! You said: I am T | user: still T | assistant: Hello! You said: still T | user: [[echo]]
P back, S turn 4 on P: yes
S turn 4: 200 user: My name is Ada | assistant: Hello! You said: My name is Ada | user: I like tea | assistant: Hello! You said: I like tea | user: [[echo]]
--- error_log
failed (111: Connection refused)
--- no_error_log
[warn]



=== TEST 3: one invocation at a time, per node only
S's first invocation holds at the emulator's gate on its node P.  A
second one through the front reaches P too: the runtime's busy answer.
P stops: a third one goes to the other node, which knows nothing of the
first, and is answered.  The gate opens: the first ends whole.
--- init
my @r;
my $gate = "aff$$" . int(rand 1e9);
my $first = main::start($main::Sid, "[[gate id=$gate]] held");
my $raw = main::read_until($first, qr/data: "Before "/);
my $p = $raw =~ /^X-Node: (\w+)/mi ? $1 : '-';
push @r, "the first holds at the gate: "
         . ($raw =~ /data: "Before "/ ? 'yes' : 'no');
my ($st, $n, $h) = main::turn($main::Sid, "second");
push @r, "second on the same node: " . ($n eq $p ? 'yes' : "no ($p, $n)"),
         "second: $st $h";
main::away($p);
my @third = eval { main::turn($main::Sid, "third") };
my $err = $@;
main::back($p);
die $err if $err;
push @r, "P gone, third on the other node: "
         . ($third[1] eq main::other($p) ? 'yes' : "no ($third[1])"),
         "third: $third[0] $third[2]";
my ($rs, $rb) = AgentCore::Creds::http(port => $ENV{TEST_NGINX_BEDROCK_PORT},
    path => "/_emulator/release?id=$gate", timeout => 5);
push @r, "released: $rs";
$raw .= main::read_until($first, undef);
close $first;
my @f = main::parse($raw);
push @r, "first: $f[0] $f[2]";
AgentCore::Test::report(@r);
--- request
GET /report
--- response_body
the first holds at the gate: yes
second on the same node: yes
second: 200 [stream_error: Agent is already processing a request. Concurrent invocations are not supported.]
P gone, third on the other node: yes
third: 200 Hello! You said: third
released: 200
first: 200 Before the gate, after it.
--- error_log
agentcore: stream_error: "Agent is already processing a request. Concurrent invocations are not supported."
failed (111: Connection refused)



=== TEST 4: invocations without a session id are spread over the nodes
nginx's hash falls back to round robin for an empty key.
--- init
AgentCore::Test::report("nodes: " . main::spread());
--- request
GET /report
--- response_body
nodes: a b
--- no_error_log
[error]
[warn]

