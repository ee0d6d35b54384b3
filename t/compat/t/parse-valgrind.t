# The compat runner's reading of valgrind logs (no valgrind needed).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use SelfTestEnv;
use Test::Nginx::Socket;
use File::Path qw(make_path);

make_path($Test::Nginx::Util::ServRoot);
my $log = $Test::Nginx::Util::ValgrindLog;

sub errors_for {
    my $text = shift;
    open my $o, '>', $log or die "$log: $!";
    print $o $text;
    close $o;
    return Test::Nginx::Util::valgrind_errors();
}

my $clean = <<'_EOL_';
==1== Memcheck, a memory error detector
==1== HEAP SUMMARY:
==1==     in use at exit: 100 bytes in 2 blocks
==1== LEAK SUMMARY:
==1==    definitely lost: 0 bytes in 0 blocks
==1==    indirectly lost: 0 bytes in 0 blocks
==1==         suppressed: 15,384 bytes in 2 blocks
==1== ERROR SUMMARY: 1 errors from 1 contexts (suppressed: 2 from 2)
_EOL_

is(errors_for($clean), '', 'a clean log gives no report');

my $invalid = <<'_EOL_';
==1== Memcheck, a memory error detector
==1== Invalid read of size 1
==1==    at 0x4C3: ac_parse (ngx_http_agentcore_json.c:42)
==1==    by 0x4C4: main
==1==  Address 0x5 is 0 bytes after a block of size 5 alloc'd
_EOL_
like(errors_for($invalid), qr/Invalid read of size 1\n.*ac_parse/s,
     'an invalid read is reported with its stack');

like(errors_for("==1== Conditional jump or move depends on uninitialised value(s)\n"),
     qr/uninitialised/, 'uninitialised values are reported');

like(errors_for("==1== Syscall param write(buf) points to uninitialised byte(s)\n"),
     qr/Syscall param/, 'syscall params are reported');

like(errors_for("==1== 10 bytes in 1 blocks are definitely lost in loss record 1 of 1\n"
                . "==1==    at 0x1: malloc\n"),
     qr/definitely lost in loss record/, 'a definite leak is reported');

like(errors_for("==1== LEAK SUMMARY:\n==1==    definitely lost: 1,024 bytes in 1 blocks\n"),
     qr/LEAK SUMMARY/, 'a non-zero leak summary is reported');

is(errors_for(''), '', 'no log, no report');

Test::More::done_testing();
