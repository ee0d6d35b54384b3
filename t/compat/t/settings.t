# Runner settings and plan counting: repeat_each, master_on + workers,
# worker_connections, log_level, env_to_nginx, TEST_NGINX_LOAD_MODULES, and a
# fixed plan that only holds if every block makes the same number of
# assertions as under Test::Nginx.
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
my $StreamSo;
BEGIN {
    $StreamSo = '/usr/lib/nginx/modules/ngx_stream_module.so';
    $ENV{TEST_NGINX_LOAD_MODULES} = $StreamSo if -f $StreamSo;
    $ENV{COMPAT_SELFTEST_VAR} = 'from-env';
}
use Test::Nginx::Socket;

repeat_each(2);
master_on();
workers(2);
worker_connections(256);
log_level('info');
env_to_nginx('COMPAT_SELFTEST_VAR');

# per repeat: TEST 1 = 3, TEST 2 = 2 x (status + body) + 2 log checks = 6,
# TEST 3 = 3, TEST 4 = 3; plus the checks on the generated nginx.conf below
plan tests => repeat_each() * (3 + 6 + 3 + 3) + 5;

no_shuffle();
run_tests();

my $conf = do {
    local $/;
    open my $in, '<', "$Test::Nginx::Util::ConfFile" or die $!;
    <$in>;
};
like($conf, qr/^master_process on;$/m, 'master_on() in nginx.conf');
like($conf, qr/^worker_processes\s+2;$/m, 'workers(2) in nginx.conf');
like($conf, qr/^\s*worker_connections\s+256;$/m, 'worker_connections');
like($conf, qr/^env COMPAT_SELFTEST_VAR;$/m, 'env_to_nginx');
SKIP: {
    skip 'no ngx_stream_module.so', 1 if !-f $StreamSo;
    # the last block has no main_config: the line follows the env lines
    like($conf, qr/^env COMPAT_SELFTEST_VAR;\s+load_module \Q$StreamSo\E;\s+http \{/m,
         'TEST_NGINX_LOAD_MODULES: load_module in place of main_config');
}

__DATA__

=== TEST 1: served by a worker of a master
--- config
    location = /w { return 200 "worker $pid\n"; }
--- request
GET /w
--- response_body_like: ^worker \d+$
--- no_error_log
[debug]



=== TEST 2: two requests, one log check after each
--- config
    location /r { return 200 "$uri"; }
--- request eval
["GET /r1", "GET /r2"]
--- response_body eval
["/r1", "/r2"]
--- no_error_log
[error]



=== TEST 3: a loaded module's directives work (stream) or plain config
--- main_config
    worker_rlimit_nofile 512;
--- post_main_config eval
-f '/usr/lib/nginx/modules/ngx_stream_module.so'
    ? "stream { server { listen 127.0.0.1:\$TEST_NGINX_RAND_PORT_1; return ok; } }"
    : ""
--- config
    location = /s { return 200 "s"; }
--- request
GET /s
--- response_body: s
--- no_error_log
[emerg]



=== TEST 4: the embedded TCP server is started again for every repeat
--- config
    location = /up {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_2/b;
        proxy_set_header Host m;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_2
--- tcp_query eval
"GET /b HTTP/1.0\r\nHost: m\r\nConnection: close\r\n\r\n"
--- tcp_reply eval
sub { my $q = shift; "HTTP/1.0 200 OK\r\n\r\ngot " . length($q) }
--- request
GET /up
--- response_body: got 47
