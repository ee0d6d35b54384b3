#!/usr/bin/perl

# Writes the stand-in's response bodies for the benchmark:
#
#   NAME.bin   a ConverseStream answer as Bedrock frames it (AWS
#              event-stream, "p" padding in every event, messageStop,
#              metadata), served to the module
#   NAME.sse   the SSE body the module makes of it, byte for byte
#              (data: "<json.dumps(text, ensure_ascii=False)>"\n\n),
#              served to the plain proxy and used by the load generator
#              to check every stream
#
# and manifest.json: sizes, event counts and the byte offset where the
# first text event ends (the stand-in paces slow streams after it).
#
#   perl bench/gen-bodies.pl OUTDIR
#
# Deterministic (fixed seed): the same bytes on every run.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

use lib File::Spec->catdir(dirname(abs_path(__FILE__)), '..', 't', 'lib');
use AgentCore::Emulator qw(-nostart es_frame);

my $out = shift // die "usage: $0 OUTDIR\n";

mkdir $out or die "mkdir $out: $!\n" unless -d $out;

srand(20250101);

my @ALNUM = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
my @WORDS = qw(the model streams each token as it is decoded so the client
               sees text while the answer is still being written and nginx
               relays every delta without holding it back);

# JSON as the emulator writes it: short escapes, \u00xx for other controls
my %ESC = ('"' => '\\"', '\\' => '\\\\', "\n" => '\\n', "\r" => '\\r',
           "\t" => '\\t', "\b" => '\\b', "\f" => '\\f');

sub jstr {
    my ($s) = @_;

    $s =~ s/(["\\\x00-\x1f])/$ESC{$1} \/\/ sprintf('\\u%04x', ord $1)/ge;
    return qq{"$s"};
}

sub pad {
    my ($len) = @_;

    $len //= 1 + int(rand 64);
    return jstr(join '', map { $ALNUM[rand @ALNUM] } 1 .. $len);
}

# the i-th delta: a word with its number (order is checked), now and then
# a paragraph break, a quote or non-ASCII text, as real answers have
sub delta {
    my ($i) = @_;
    my $t = ' ' . $WORDS[$i % @WORDS] . $i;

    $t = "\n\n" . substr($t, 1) if $i % 10 == 9;
    $t .= ' "quoted"' if $i % 13 == 12;
    $t .= " caf\x{e9} \x{2192} \x{1F600}" if $i % 17 == 16;
    utf8::encode($t);
    return $t;
}

sub sse_event {
    my ($bytes) = @_;

    # json.dumps(ensure_ascii=False) of the UTF-8 text: the same bytes,
    # escaped as above
    return 'data: ' . jstr($bytes) . "\n\n";
}

my $TOOL_ID = 'tooluse_bench0000000000000001';

# a turn: list of [kind, ...] => (bin, sse, events, first text end offsets)
sub turn {
    my (%a) = @_;
    my ($bin, $sse, $n, $first_bin, $first_sse, $idx) = ('', '', 0);
    my ($frame_bin, $frame_sse) = (0, 0);

    my $frame = sub {
        my ($type, $json) = @_;
        $bin .= es_frame($type, $json);
    };

    $frame->('messageStart', '{"role":"assistant","p":' . pad() . '}');
    $idx = 0;

    for my $block (@{ $a{blocks} }) {
        if ($block->[0] eq 'text') {
            for my $t (@{ $block->[1] }) {
                my $before = length $bin;

                $frame->('contentBlockDelta',
                         '{"contentBlockIndex":' . $idx
                         . ',"delta":{"text":' . jstr($t) . '},"p":'
                         . pad($a{fixed_pad}) . '}');
                $frame_bin = length($bin) - $before;
                $sse .= sse_event($t);
                $frame_sse = length sse_event($t);
                $n++;
                if (!defined $first_bin) {
                    ($first_bin, $first_sse) = (length $bin, length $sse);
                }
            }

        } else {
            my ($name, @frags) = @{ $block }[1 .. $#$block];

            $frame->('contentBlockStart',
                     '{"contentBlockIndex":' . $idx . ',"start":{"toolUse":'
                     . '{"toolUseId":"' . $TOOL_ID . '","name":"' . $name
                     . '"}},"p":' . pad() . '}');
            for my $f ('', @frags) {
                $frame->('contentBlockDelta',
                         '{"contentBlockIndex":' . $idx
                         . ',"delta":{"toolUse":{"input":' . jstr($f)
                         . '}},"p":' . pad() . '}');
            }
        }

        $frame->('contentBlockStop',
                 '{"contentBlockIndex":' . $idx . ',"p":' . pad() . '}');
        $idx++;
    }

    $frame->('messageStop', '{"stopReason":"' . $a{stop} . '","p":'
                            . pad() . '}');
    $frame->('metadata', '{"usage":{"inputTokens":' . $a{in}
             . ',"outputTokens":' . ($n || 1) . ',"totalTokens":'
             . ($a{in} + ($n || 1)) . '},"metrics":{"latencyMs":'
             . (100 + $n) . '},"p":' . pad() . '}');

    return { bin => $bin, sse => $sse, events => $n,
             frame_bin => $frame_bin, frame_sse => $frame_sse,
             first_bin => $first_bin // length $bin,
             first_sse => $first_sse // 0 };
}

sub spew {
    my ($name, $data) = @_;
    my $path = File::Spec->catfile($out, $name);

    open(my $fh, '>:raw', "$path.tmp") or die "$path: $!\n";
    print $fh $data;
    close $fh or die "$path: $!\n";
    rename "$path.tmp", $path or die "$path: $!\n";
}

my %bodies;

$bodies{short} = turn(blocks => [['text', [map { delta($_) } 0 .. 19]]],
                      stop => 'end_turn', in => 420);
$bodies{long} = turn(blocks => [['text', [map { delta($_) } 0 .. 1999]]],
                     stop => 'end_turn', in => 420);

# a long answer that streams one event per read: every delta frame and
# every SSE event has the same size, so the stand-in, sending one frame
# (or event) per millisecond, hands out exactly one per read
$bodies{steady} = turn(blocks => [['text', [map { sprintf(' t%04d', $_) }
                                            0 .. 1999]]],
                       stop => 'end_turn', in => 420, fixed_pad => 32);

# the tool cycle: first call a toolUse for the calculator (after a little
# text, as Claude does), second call the short answer
$bodies{tool1} = turn(blocks => [['text', [' Let me', ' calculate',
                                           ' that.']],
                                 ['tool', 'calculator', '{"expressi',
                                  'on": "2', '+1"}']],
                      stop => 'tool_use', in => 420);

my %manifest;

for my $name (sort keys %bodies) {
    my $b = $bodies{$name};

    spew("$name.bin", $b->{bin});
    spew("$name.sse", $b->{sse});
    $manifest{$name} = $b;
}

# what the client of a tool-cycle invocation gets: both turns' text
spew('tool.sse', $bodies{tool1}{sse} . $bodies{short}{sse});
spew('tool2.bin', $bodies{short}{bin});

open(my $fh, '>', File::Spec->catfile($out, 'manifest.json'))
    or die "manifest: $!\n";
print $fh "{\n", join(",\n", map {
    my $b = $manifest{$_};
    sprintf('  "%s": {"bin_bytes": %d, "sse_bytes": %d, "events": %d, '
            . '"first_bin": %d, "first_sse": %d, "frame_bin": %d, '
            . '"frame_sse": %d}', $_, length $b->{bin},
            length $b->{sse}, $b->{events}, $b->{first_bin},
            $b->{first_sse}, $b->{frame_bin}, $b->{frame_sse})
} sort keys %manifest), ",\n", sprintf('  "tool": {"sse_bytes": %d, '
    . '"events": %d}', length($bodies{tool1}{sse} . $bodies{short}{sse}),
    $bodies{tool1}{events} + $bodies{short}{events}), "\n}\n";
close $fh;
