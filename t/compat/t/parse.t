# Unit tests of the compat runner's request builder and response parser
# (no nginx involved).  Framing failures are captured instead of reported.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
use Test::Nginx::Socket;   # no plan here: done_testing below

my @fails;
{
    no warnings 'redefine';
    *Test::Nginx::Socket::_framing_fail = sub { push @fails, shift };
}

sub blk {
    my %v = @_;
    my $b = Test::Base::Block->new;
    $b->set_value(name => 'UNIT');
    $b->set_value($_ => $v{$_}) for keys %v;
    return $b;
}

sub parse {
    my ($raw, %o) = @_;
    @fails = ();
    my @r = Test::Nginx::Socket::parse_response(blk(%{ $o{block} || {} }),
                                                $raw, $o{head} || 0);
    return @r;
}

my $H = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

# --- chunked
my ($res, $raw_headers, $left) = parse($H . "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\n\r\n");
ok($res, 'chunked: parsed');
is($res->content, 'hello!', 'chunked: decoded, extension ignored');
is(scalar @fails, 0, 'chunked: no failure');
is($raw_headers, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n",
   'raw headers end with the last header CRLF');
is($res->code, 200, 'status code');

($res, undef, $left) = parse($H . "2\r\nab\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 200");
is($res->content, 'ab', 'chunked with trailer');
is($left, 'HTTP/1.1 200', 'bytes after the last chunk are left over');

($res) = parse($H . "5\r\nhello\r\n");
ok(!$res, 'missing last chunk: no response');
like($fails[0] // '', qr/no last chunk found/, 'missing last chunk fails');

($res) = parse($H . "a\r\nhello\r\n");
like($fails[0] // '', qr/not enough octets/, 'short chunk data fails');

($res) = parse($H . "5\r\nhelloXX0\r\n\r\n");
like($fails[0] // '', qr/expected CRLF/, 'missing CRLF after data fails');

($res) = parse($H . "zz\r\n");
like($fails[0] // '', qr/invalid chunked body/, 'bad chunk size line fails');

($res) = parse($H . "0\r\n");
like($fails[0] // '', qr/incomplete last chunk/, 'last chunk without CRLF');

($res) = parse($H);
like($fails[0] // '', qr/no last chunk found/, 'empty chunked body fails');

# --- content-length
($res, undef, $left) = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef");
is($res->content, 'abc', 'body cut at Content-Length');
is($left, 'def', 'rest left over');
is(scalar @fails, 0, 'no failure for a complete body');

($res) = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
like($fails[0] // '', qr/response body truncated: 10 bytes expected/,
     'truncated Content-Length body fails');
ok($res && $res->code == 200, '... but the status is still known');

($res) = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
               block => { abort => '' });
is(scalar @fails, 0, 'truncation is tolerated with --- abort');

($res, undef, $left) = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
                             head => 1);
is(scalar @fails, 0, 'HEAD response has no body');
is($res->content, '', 'HEAD content empty');

($res) = parse("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n");
is($res->code, 304, '304 parsed');
is($res->header('etag'), 'x', 'header lookup is case-insensitive');

($res) = parse("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n");
is($res->header('Set-Cookie'), 'a=1, b=2', 'repeated headers are joined');

($res) = parse("HTTP/1.0 200 OK\r\n\r\nclose-delimited");
is($res->content, 'close-delimited', 'close-delimited body');

($res) = parse('');
ok(!$res->code, 'empty response: no status code');

($res) = parse("HTTP/2 201 \r\ncontent-type: a/b\r\n\r\nh2");
is($res->code, 201, 'HTTP/2 status line (curl)');
is($res->content, 'h2', 'HTTP/2 body');

# --- request building
my $r = Test::Nginx::Socket::_build_request('UNIT', "GET /x\n", '', 'close');
is($r, "GET /x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
   'GET: version, Host and Connection added');

$r = Test::Nginx::Socket::_build_request('UNIT', "  POST\n  body  \n", '',
                                         'keep-alive');
is($r, "POST / HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n"
       . "Content-Length: 4\r\n\r\nbody", 'POST: URI defaults to /, body trimmed');

$r = Test::Nginx::Socket::_build_request('UNIT', "GET /x HTTP/1.0\n",
        "Host: h\nconnection: keep-alive\n# comment\nX-A:1", 'close');
is($r, "GET /x HTTP/1.0\r\nHost: h\r\nconnection: keep-alive\r\nX-A: 1\r\n\r\n",
   'more_headers override Host/Connection; comments dropped');

$r = Test::Nginx::Socket::_build_request('UNIT', "POST /c\n3\r\nabc\r\n0\r\n\r\n",
        "Transfer-Encoding: chunked", 'close');
like($r, qr/\r\n\r\n3\r\nabc\r\n0\r\n\r\n\z/, 'chunked request body kept as is');
unlike($r, qr/Content-Length/, 'no Content-Length for a chunked body');

$r = Test::Nginx::Socket::_build_request('UNIT', "POST /c\n  x  ",
        "Content-Length: 5", 'close');
like($r, qr/Content-Length: 5\r\n\r\n  x  \z/,
     'explicit Content-Length: body sent untrimmed');

my $p = Test::Nginx::Socket::_build_request_packets('UNIT',
        ["POST /p\nab", { value => "cd", delay_before => 0.5 }], '', 'close');
is(scalar @$p, 2, 'packets kept');
like($p->[0]{value}, qr/^POST \/p HTTP\/1\.1\r\n.*Content-Length: 4\r\n\r\nab\z/s,
     'first packet: head and first body part');
is($p->[1]{value}, 'cd', 'second packet: the rest of the body');
is($p->[1]{delay_before}, 0.5, 'packet delay kept');

$p = Test::Nginx::Socket::_build_request_packets('UNIT', ["GE", "T /q\n"], '',
                                                 'close');
is($p->[0]{value}, 'GE', 'cut inside the method kept');
like($p->[1]{value}, qr/^T \/q HTTP\/1\.1\r\nHost: localhost\r\n/,
     'rest of the request in the second packet');

# --- header spec parsing
my @h = Test::Nginx::Socket::_parse_header_spec("A: 1\n!B\nC:\n  D : x y \n");
is_deeply(\@h, [['A', '1'], ['B', undef], ['C', ''], ['D', 'x y']],
          'response_headers spec');

is(Test::Nginx::Util::parse_time('200ms'), 0.2, 'parse_time ms');
is(Test::Nginx::Util::parse_time('3s'), 3, 'parse_time s');
is(Test::Nginx::Util::parse_time('0.5'), 0.5, 'parse_time plain');

# --- generated nginx.conf
{
    local $Test::Nginx::Util::LoadModules = '/m/a.so  /m/b.so';
    local $ENV{TEST_NGINX_UNIT_X} = 'expanded';
    Test::Nginx::Util::setup_server_root();
    my $b = blk(main_config => "main_a on;",
                post_main_config => "post_a on;",
                http_config => "http_a \$TEST_NGINX_UNIT_X;\nproxy_temp_path /x;",
                config => "location = /c { return 204; }");
    Test::Nginx::Util::write_config_file($b, scalar $b->config, {});
    open my $in, '<', $Test::Nginx::Util::ConfFile or die $!;
    my $c = do { local $/; <$in> };
    my $root = $Test::Nginx::Util::ServRoot;
    my $port = $Test::Nginx::Util::ServerPort;
    like($c, qr/\Aworker_processes\s+1;\ndaemon on;\nmaster_process off;\n/,
         'conf: one process, daemon, no master');
    like($c, qr{^error_log \Q$root\E/logs/error\.log debug;$}m, 'conf: error_log');
    like($c, qr{^pid\s+\Q$root\E/logs/nginx\.pid;$}m, 'conf: pid');
    like($c, qr{main_a on;\s+load_module /m/a\.so;\s+load_module /m/b\.so;\s+http \{}s,
         'conf: main_config, then the load_module lines, then http');
    like($c, qr/http_a expanded;/, 'conf: $TEST_NGINX_ vars expanded');
    like($c, qr{client_body_temp_path \Q$root\E/client_body_temp;}, 'conf: temp path');
    unlike($c, qr{proxy_temp_path \Q$root\E}, 'conf: temp path set by the block kept');
    like($c, qr/listen\s+$port;\n\s+server_name\s+'localhost';/, 'conf: listen, server_name');
    like($c, qr/client_max_body_size 30M;/, 'conf: client_max_body_size');
    like($c, qr{location = /c \{ return 204; \}.*location / \{\s+root \Q$root\E/html;}s,
         'conf: the block config, then location /');
    like($c, qr/\n\}\n\s*post_a on;\s*events \{\s+accept_mutex off;\s+worker_connections\s+64;\s*\}/s,
         'conf: post_main_config after http, then events');
    like($c, qr/^user root;$/m, 'conf: user root when run as root') if $> == 0;
    ok(-f "$Test::Nginx::Util::HtmlDir/index.html", 'server root has index.html');
}

Test::More::done_testing();
