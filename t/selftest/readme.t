# The README and the docs as a reader gets them (`make selftest`):
#
# - every Markdown code fence closes where it is meant to: a line inside a
#   fenced block that starts like a fence (``` plus text, or ```lang) but
#   cannot close the block is the mistake that once turned half the README
#   into one code block; a block still open at the end of a file is too;
# - every relative link of README.md, docs/*.md and bench/README.md names a
#   file of the repository;
# - the README's "Minimal nginx.conf" passes `nginx -t` as written, except
#   for three rewrites: the installed paths of the module
#   (/usr/lib/nginx/modules/X.so -> build/X.so) and of the included files
#   (/etc/nginx/X -> conf/X, what `make install` copies there), and the
#   Bedrock host of its upstream (-> 127.0.0.1:443, since nginx resolves
#   it while reading the configuration and the tests stay on loopback).
#
#   prove t/selftest/readme.t       (the module must be built: make module)

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Find ();
use File::Path qw(make_path);
use Cwd qw(abs_path);

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $BUILD = "$ROOT/build";
my $NGINX = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';

sub slurp {
    my ($f) = @_;
    open my $in, '<', $f or die "$f: $!\n";
    local $/;
    return scalar <$in>;
}

# CommonMark's fences: up to three spaces, then three or more ` or ~; a
# closing fence has the opening's character, at least as many, and nothing
# but spaces after it.  Returns a list of problems ("line N: ...").
sub fence_problems {
    my ($text) = @_;
    my (@problems, $open, $char, $len);
    my $n = 0;

    for my $line (split /\n/, $text, -1) {
        $n++;
        my ($fence, $rest) = $line =~ /^ {0,3}(`{3,}|~{3,})(.*)$/ or next;

        if (!defined $open) {
            next if substr($fence, 0, 1) eq '`' && $rest =~ /`/;
            ($open, $char, $len) = ($n, substr($fence, 0, 1), length $fence);
            next;
        }

        next if substr($fence, 0, 1) ne $char || length $fence < $len;

        if ($rest =~ /^\s*$/) {
            undef $open;
            next;
        }

        push @problems, "line $n: \"$line\" looks like a fence but does not"
                        . " close the code block opened at line $open"
                        . " (a closing fence stands alone on its line)";
    }

    push @problems, "the code block opened at line $open is never closed"
        if defined $open;

    return @problems;
}

# the Markdown files of the repository (not build/ nor a server root)
my @md;
File::Find::find({
    no_chdir => 1,
    preprocess => sub {
        return grep { !/^(?:build|servroot.*|\.git)$/ } @_;
    },
    wanted => sub { push @md, $_ if /\.md$/ && -f $_ },
}, $ROOT);
@md = sort map { substr($_, length($ROOT) + 1) } @md;

ok((grep { $_ eq 'README.md' } @md), 'README.md found');

# the checker itself, on the mistake it exists for
is_deeply([map { /^(line \d+)/ ? $1 : $_ }
           fence_problems("```sh\ncurl x\n``` Then\ntext\n```nginx\n"
                          . "events {}\n```\n")],
          ['line 3', 'line 5'], 'fence checker: finds a fence with text');
is_deeply([fence_problems("````md\n```sh\nx\n```\n````\n~~~\n```\n~~~\n")],
          [], 'fence checker: longer fences and ~~~ hold shorter ones');
is_deeply([fence_problems("text\n```c\nint x;\n")],
          ['the code block opened at line 2 is never closed'],
          'fence checker: a block left open');

for my $f (@md) {
    my @p = fence_problems(slurp("$ROOT/$f"));
    ok(!@p, "$f: code fences pair up") or diag(join "\n", @p);
}

# relative links: [text](path) and [text](path#anchor), outside code
for my $f ('README.md', 'bench/README.md', grep { m{^docs/} } @md) {
    my $text = slurp("$ROOT/$f");
    $text =~ s/^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1\s*$//msg;
    $text =~ s/`[^`\n]*`//g;
    my @missing;
    while ($text =~ /\]\(([^)\s]+)\)/g) {
        my $target = $1;
        next if $target =~ m{^(?:[a-z]+:|#)};
        $target =~ s/#.*//;
        push @missing, $target if !-e dirname("$ROOT/$f") . "/$target";
    }
    ok(!@missing, "$f: relative links name existing files")
        or diag('missing: ' . join ', ', @missing);
}

# ------------------------------------------- the README's minimal nginx.conf

my $readme = slurp("$ROOT/README.md");
my ($conf) = $readme =~ /^\#+[ \t]*Minimal[ \t]+nginx\.conf[ \t]*\n.*?
                         ^```nginx[ \t]*\n(.*?)^```[ \t]*$/msx;

if (!ok(defined $conf,
        'README: a ```nginx block under "Minimal nginx.conf"')) {
    done_testing();
    exit;
}

my (%rewrites, @missing_files);

$conf =~ s{(load_module\s+)/usr/lib/nginx/modules/([\w.-]+\.so)\s*;}{
    $rewrites{module}++;
    push @missing_files, "build/$2 (make module)" if !-f "$BUILD/$2";
    "$1$BUILD/$2;"
}ge;

$conf =~ s{(include\s+)/etc/nginx/([\w.\-/*]+)\s*;}{
    $rewrites{include}++;
    push @missing_files, "conf/$2" if !glob("$ROOT/conf/$2");
    "$1$ROOT/conf/$2;"
}ge;

$conf =~ s{(\bserver\s+)bedrock-runtime\.[\w-]+\.amazonaws\.com(:\d+)?}{
    $rewrites{host}++;
    "${1}127.0.0.1" . ($2 // '')
}ge;

ok($rewrites{module}, 'README: the module loaded from '
                      . '/usr/lib/nginx/modules/ (rewritten to build/)');
ok($rewrites{include}, 'README: agentcore_bedrock_params included from '
                       . '/etc/nginx/ (rewritten to conf/)');
ok(!@missing_files, 'the rewritten paths exist')
    or diag('missing: ' . join ', ', @missing_files);

my $prefix = "$BUILD/selftest/readme";
make_path("$prefix/conf", "$prefix/logs");
{
    open my $out, '>', "$prefix/conf/nginx.conf" or die "$prefix: $!\n";
    print $out $conf;
    close $out or die "$prefix/conf/nginx.conf: $!\n";
}

my $output = `$NGINX -p $prefix/ -e $prefix/logs/error.log -c conf/nginx.conf -t 2>&1`;
is($?, 0, "nginx -t accepts the README's minimal nginx.conf "
          . "($prefix/conf/nginx.conf)")
    or diag($output);

done_testing();
