# agentcore-invoke's documentation: every option --help lists is in the
# man page (docs/agentcore-invoke.1) and the other way round, and the
# page is valid roff (groff -ww prints no warning).

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $root = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $cli = $ENV{AGENTCORE_CLI} // "$root/build/agentcore-invoke";
my $man = "$root/docs/agentcore-invoke.1";

plan skip_all => "no $cli: make cli" unless -x $cli;

my $help = `$cli --help`;
is($? >> 8, 0, '--help exits 0');

open(my $fh, '<', $man) or die "$man: $!";
my $roff = do { local $/; <$fh> };
close $fh;

# the options as roff writes them: \- for -, \fB...\fR around
(my $text = $roff) =~ s/\\f[BIRP]//g;
$text =~ s/\\-/-/g;

my %help = map { $_ => 1 } $help =~ /(--[a-z][a-z-]+)/g;
my %page = map { $_ => 1 } $text =~ /^\.(?:TP\n)?\.?(?:BR|BI|B)\s+(?:-\w,?\s*"?,?\s*"?\s*)?(--[a-z][a-z-]+)/mg;

ok(keys %help >= 17, 'options in --help: ' . join(' ', sort keys %help));

for my $o (sort keys %help) {
    like($text, qr/^\.(?:BR|BI|B)\s.*\Q$o\E\b/m, "$o is in the man page");
}

for my $o (sort keys %page) {
    ok($help{$o}, "$o of the man page is in --help");
}

SKIP: {
    skip 'no groff', 1 unless `which groff 2>/dev/null`;
    my $warn = `groff -man -Tutf8 -ww -z $man 2>&1`;
    is($warn, '', 'groff -ww: no warning');
}

done_testing();
