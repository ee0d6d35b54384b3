# Negative cases: each case is a tiny .t file in the Test::Nginx format,
# written to a temporary directory and run in a sub-process with our runner;
# the case must FAIL the way given (TAP "not ok" lines, messages, exit code).
# A control case checks that the harness itself sees a passing file pass,
# and one case goes through `prove` to check its verdict.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
use Test::More;

my $header = <<"_EOC_";
use lib '$SelfTestEnv::CompatDir';
use Test::Nginx::Socket 'no_plan';
no_shuffle();
run_tests();
__DATA__
_EOC_

my $n = 0;

sub run_case {
    my ($blocks, %env) = @_;
    my $head = delete $env{HEADER} // $header;
    $n++;
    my $file = "$SelfTestEnv::TmpDir/case$n.t";
    open my $out, '>', $file or die "$file: $!";
    print $out $head, $blocks;
    close $out;

    local $ENV{TEST_NGINX_SERVROOT} = "$SelfTestEnv::TmpDir/servroot$n";
    local $ENV{TEST_NGINX_SERVER_PORT} = SelfTestEnv::free_port();
    local @ENV{keys %env} = values %env;

    my ($so, $se) = ("$file.out", "$file.err");
    system("$^X $file >$so 2>$se");
    my $rc = $? >> 8;
    return { rc => $rc, out => slurp($so), err => slurp($se), file => $file };
}

sub slurp {
    open my $in, '<', shift or return '';
    local $/;
    my $d = <$in>;
    return $d // '';
}

sub expect_fail {
    my ($title, $blocks, $patterns, %opt) = @_;
    my $r = run_case($blocks, %{ $opt{env} || {} });
    subtest $title => sub {
        isnt($r->{rc}, 0, 'the test file fails (non-zero exit)')
            or diag("TAP:\n$r->{out}\nSTDERR:\n$r->{err}");
        for my $p (@$patterns) {
            my ($where, $re) = @$p;
            like($r->{$where}, $re, "$where matches $re")
                or diag("TAP:\n$r->{out}\nSTDERR:\n$r->{err}");
        }
        for my $re (@{ $opt{unlike} || [] }) {
            unlike($r->{out}, $re, "TAP does not match $re");
        }
    };
}

# ---------------------------------------------------------------- control

{
    my $r = run_case(<<'_EOB_');
=== TEST 1: passes
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- no_error_log
[error]
_EOB_
    subtest 'control: a correct block passes' => sub {
        is($r->{rc}, 0, 'exit code 0') or diag("$r->{out}\n$r->{err}");
        like($r->{out}, qr/^ok 1 - .*TEST 1: passes - status code ok$/m,
             'status check ran');
        like($r->{out}, qr/^ok 2 - .*response_body - response is expected/m,
             'body check ran');
        like($r->{out}, qr/^1\.\.3$/m, 'three assertions');
        unlike($r->{out}, qr/^not ok/m, 'nothing failed');
    };
}

# ------------------------------------------------------------ wrong results

expect_fail('wrong response_body fails, with a diff', <<'_EOB_',
=== TEST 1: wrong body
--- config
    location = /t { return 200 "line1\nline2\nline3\n"; }
--- request
GET /t
--- response_body
line1
CHANGED
line3
_EOB_
    [[out => qr/^not ok 2 - .*TEST 1: wrong body - response_body - response is expected/m],
     [out => qr/^ok 1 - .*status code ok$/m],
     [err => qr/strings begin to differ/],
     [err => qr/^#\s+-CHANGED\n#\s+\+line2$/m]]);

expect_fail('wrong status fails', <<'_EOB_',
=== TEST 1: wrong status
--- config
    location = /t { return 404; }
--- request
GET /t
--- error_code: 200
_EOB_
    [[out => qr/^not ok 1 - .*TEST 1: wrong status - status code ok$/m],
     [err => qr/got: '404'\n#\s+expected: '200'/]]);

expect_fail('default expected status is 200', <<'_EOB_',
=== TEST 1: 500 without error_code
--- config
    location = /t { return 500; }
--- request
GET /t
_EOB_
    [[out => qr/^not ok 1 - .*status code ok$/m]]);

expect_fail('missing error_log line fails', <<'_EOB_',
=== TEST 1: missing log line
--- config
    location = /t { return 200; }
--- request
GET /t
--- error_log
this line is never logged
_EOB_
    [[out => qr/^not ok \d+ - .*pattern "this line is never logged" should match a line in error\.log/m]]);

expect_fail('no_error_log hit fails', <<'_EOB_',
=== TEST 1: forbidden log line
--- config
--- request
GET /missing.html
--- error_code: 404
--- no_error_log
[error]
_EOB_
    [[out => qr/^not ok \d+ - .*pattern "\[error\]" should not match any line in error\.log but matches line ".*No such file or directory/m]]);

expect_fail('error log lines of an earlier block are not seen', <<'_EOB_',
=== TEST 1: logs an error
--- config
--- request
GET /missing.html
--- error_code: 404
--- error_log
No such file or directory

=== TEST 2: same nginx, no new error
--- request
GET /index.html
--- error_log
No such file or directory
_EOB_
    [[out => qr/^ok \d+ - .*TEST 1: logs an error - pattern "No such file/m],
     [out => qr/^not ok \d+ - .*TEST 2: same nginx, no new error - pattern "No such file or directory" should match/m]]);

expect_fail('wrong header, present forbidden header', <<'_EOB_',
=== TEST 1: headers
--- config
    location = /t { add_header X-A one; return 200; }
--- request
GET /t
--- response_headers
X-A: two
!Content-Type
_EOB_
    [[out => qr/^not ok \d+ - .*header X-A ok$/m],
     [out => qr/^not ok \d+ - .*header Content-Type not present in the raw headers$/m]]);

expect_fail('response_body_like and raw header mismatches', <<'_EOB_',
=== TEST 1: patterns
--- config
    location = /t { return 200 "abc"; }
--- request
GET /t
--- response_body_like: ^xyz
--- raw_response_headers_like: X-Missing
_EOB_
    [[out => qr/^not ok \d+ - .*response_body_like - response is expected \(abc\)/m],
     [out => qr/^not ok \d+ - .*raw resp headers like$/m]]);

expect_fail('grep_error_log_out mismatch', <<'_EOB_',
=== TEST 1: grep
--- config
--- request
GET /missing.html
--- error_code: 404
--- grep_error_log: No such file or directory
--- grep_error_log_out
something else
_EOB_
    [[out => qr/^not ok \d+ - .*grep_error_log_out \(req 0\)/m]]);

expect_fail('one request of several wrong', <<'_EOB_',
=== TEST 1: two requests
--- config
    location /r { return 200 "$uri"; }
--- request eval
["GET /r1", "GET /r2"]
--- response_body eval
["/r1", "/rX"]
_EOB_
    [[out => qr/^ok \d+ - .*response is expected \(repeated req 0, req 0\)/m],
     [out => qr/^not ok \d+ - .*response is expected \(repeated req 0, req 1\)/m]]);

# ------------------------------------------------ broken response framing

expect_fail('truncated chunked body fails', <<'_EOB_',
=== TEST 1: upstream dies mid-stream
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_buffering off;
        proxy_http_version 1.1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
--- request
GET /t
--- response_body: hello
_EOB_
    [[out => qr/^not ok 1 - .*TEST 1: upstream dies mid-stream - no last chunk found/m],
     [out => qr/^not ok \d+ - .*response_body - response is expected/m]]);

expect_fail('truncated Content-Length body fails', <<'_EOB_',
=== TEST 1: upstream sends half the body
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
        proxy_buffering off;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply eval
"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nhello"
--- request
GET /t
--- response_body: hello
_EOB_
    [[out => qr/^not ok \d+ - .*response body truncated: 10 bytes expected/m]]);

expect_fail('client timeout without abort fails', <<'_EOB_',
=== TEST 1: hanging upstream
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1;
    }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_reply:
--- tcp_no_close
--- request
GET /t
--- timeout: 0.3
--- ignore_response
_EOB_
    [[out => qr/^not ok 1 - ERROR: client socket timed out - .*TEST 1: hanging upstream$/m]]);

expect_fail('tcp_query mismatch fails', <<'_EOB_',
=== TEST 1: upstream request
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/x; }
--- tcp_listen: $TEST_NGINX_RAND_PORT_1
--- tcp_query_len: 3
--- tcp_reply eval
"HTTP/1.0 200 OK\r\n\r\nok"
--- request
GET /t
--- response_body: ok
_EOB_
    [[out => qr/^not ok \d+ - .*TCP query length ok$/m]]);

# ----------------------------------------------------------- nginx itself

expect_fail('nginx that cannot start fails the block', <<'_EOB_',
=== TEST 1: bad config
--- config
    location = /t { bogus_directive; }
--- request
GET /t
_EOB_
    [[out => qr/^not ok 1 - .*TEST 1: bad config - nginx failed to start/m],
     [err => qr/unknown directive "bogus_directive"/]]);

expect_fail('must_die when nginx starts fails', <<'_EOB_',
=== TEST 1: good config
--- config
    location = /t { return 200; }
--- must_die
_EOB_
    [[out => qr/^not ok 1 - .*die as expected$/m],
     [err => qr/nginx must die but it does not/]]);

# ------------------------------------------------ mistakes in the test file

expect_fail('a misspelled section stops the run', <<'_EOB_',
=== TEST 1: typo
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- respone_body
y
_EOB_
    [[err => qr/unknown section "--- respone_body" \(a typo\?/]]);

expect_fail('a failing eval section stops the run', <<'_EOB_',
=== TEST 1: bad eval
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- response_body eval
"unterminated
_EOB_
    [[err => qr/block "TEST 1: bad eval": an "eval" section failed/]],
    unlike => [qr/^ok/m]);

expect_fail('an unsupported section stops the run', <<'_EOB_',
=== TEST 1: udp
--- config
    location = /t { return 200; }
--- request
GET /t
--- udp_listen: 12345
_EOB_
    [[err => qr/"--- udp_listen" is not supported by the compat runner/]],
    unlike => [qr/^ok/m]);

expect_fail('sections that Test::Nginx would silently ignore are refused',
            <<'_EOB_',
=== TEST 1: both
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- response_body: x
--- response_body_like: y
_EOB_
    [[err => qr/"--- response_body" and "--- response_body_like" cannot be combined/]],
    unlike => [qr/^ok/m]);

expect_fail('a plan that does not match the assertions fails', <<'_EOB_',
=== TEST 1: counts
--- config
    location = /t { return 200 "x"; }
--- request
GET /t
--- response_body: x
_EOB_
    [[err => qr/planned 5 tests but ran 2/]],
    env => { HEADER => ($header =~ s/'no_plan'/tests => 5/r) });

# ONLY and LAST (Test::Base) select blocks
{
    my $r = run_case(<<'_EOB_');
=== TEST 1: not run
--- config
    location = /t { return 500; }
--- request
GET /t

=== TEST 2: the only one
--- config
    location = /t { return 200; }
--- request
GET /t
--- ONLY

=== TEST 3: not run either
--- config
    location = /t { return 500; }
--- request
GET /t
_EOB_
    my $l = run_case(<<'_EOB_');
=== TEST 1: run
--- config
    location = /t { return 200; }
--- request
GET /t
--- LAST

=== TEST 2: after LAST
--- config
    location = /t { return 500; }
--- request
GET /t
_EOB_
    subtest 'ONLY and LAST' => sub {
        is($r->{rc}, 0, 'ONLY: passes') or diag("$r->{out}\n$r->{err}");
        like($r->{out}, qr/\A(?:ok 1 - .*TEST 2: the only one[^\n]*\n)1\.\.1\n\z/,
             'ONLY: just that block ran');
        is($l->{rc}, 0, 'LAST: passes') or diag("$l->{out}\n$l->{err}");
        unlike($l->{out}, qr/TEST 2/, 'LAST: later blocks do not run');
    };
}

# the same file format through prove: its verdict must be FAIL
{
    my $r = run_case(<<'_EOB_');
=== TEST 1: wrong body for prove
--- config
    location = /t { return 200 "a"; }
--- request
GET /t
--- response_body: b
_EOB_
    my $out = `prove $r->{file} 2>&1`;
    my $rc = $? >> 8;
    subtest 'prove reports the failure' => sub {
        isnt($rc, 0, 'prove exits non-zero');
        like($out, qr/^Result: FAIL$/m, 'prove says Result: FAIL')
            or diag($out);
        like($out, qr/Failed test:\s+2/, 'the body assertion is the failed one');
    };
}

done_testing();
