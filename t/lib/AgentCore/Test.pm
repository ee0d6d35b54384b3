package AgentCore::Test;

# Shared set-up for the module's Test::Nginx suites: starts the Bedrock
# emulator (AgentCore::Emulator), exports the test credentials and fills
# the sections a block leaves out.  Works under the real Test::Nginx and
# under our runner in t/compat.

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use JSON::PP ();
use AgentCore::Emulator;

our $Root;

BEGIN {
    $Root = File::Spec->rel2abs(dirname(__FILE__) . "/../../..");
    $ENV{TEST_NGINX_AGENTCORE_ROOT} = $Root;
    $ENV{AWS_ACCESS_KEY_ID}     = 'AKIDEXAMPLE';
    $ENV{AWS_SECRET_ACCESS_KEY} = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
    delete $ENV{AWS_SESSION_TOKEN};
    delete $ENV{AWS_BEARER_TOKEN_BEDROCK};
    $ENV{TEST_NGINX_LOAD_MODULES} ||= "$Root/build/ngx_http_agentcore_module.so";

}

# "use AgentCore::Test 'tool_module';" also loads t/module's module,
# after ours: it links against our exported symbols
sub import {
    my ($class, @opts) = @_;

    if (grep { $_ eq 'tool_module' } @opts) {
        my ($ours) = grep { /ngx_http_agentcore_module\.so$/ }
                     split ' ', $ENV{TEST_NGINX_LOAD_MODULES};
        my $dir = dirname($ours // "$Root/build/x");
        $ENV{TEST_NGINX_LOAD_MODULES} .= " $dir/ngx_http_agentcore_test_tool_module.so"
            unless $ENV{TEST_NGINX_LOAD_MODULES} =~ /test_tool_module/;
    }
}

our $MainConfig = <<'_EOC_';
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
env AWS_SESSION_TOKEN;
env AWS_BEARER_TOKEN_BEDROCK;
_EOC_

# one model call per failure, as the suites before agentcore_retries
# expect (t/017-retries.t tests the retries)
our $HttpConfig = <<'_EOC_';
agentcore_retries off;
upstream bedrock {
    server 127.0.0.1:$TEST_NGINX_BEDROCK_PORT;
    keepalive 8;
}
_EOC_

# the model location every invocation test uses
our $ModelLocation = <<'_EOC_';
location = /_agentcore/bedrock {
    internal;
    include $TEST_NGINX_AGENTCORE_ROOT/conf/agentcore_bedrock_params;
    proxy_pass http://bedrock$agentcore_bedrock_path;
}
_EOC_

our $Config = <<'_EOC_' . $ModelLocation;
agentcore_model_location /_agentcore/bedrock;
agentcore_region us-east-1;

location = /invocations {
    agentcore;
}
_EOC_

# "POST /invocations" with {"prompt": $prompt} as the body; byte strings
# stay bytes (UTF-8 in a .t file reaches nginx unchanged)
sub invoke {
    my ($prompt, $uri) = @_;
    my $json = JSON::PP->new->canonical;
    return "POST " . ($uri // "/invocations") . "\n"
           . $json->encode({ prompt => $prompt });
}

# response_body_filters: the text of an SSE stream, events joined, so a
# test can state what the user reads.  Anything that is not an event of
# the contract's shape is kept visibly, and a stream_error shows as
# [stream_error: <message>].
sub sse_text {
    my $body = shift;
    my $json = JSON::PP->new->allow_nonref;
    my $out = '';

    while ($body =~ s/\Adata: ([^\n]*)\n\n//) {
        my $v = eval { $json->decode($1) };

        if (!defined $v) {
            $out .= "[bad event: $1]";
        } elsif (ref $v eq 'HASH') {
            $out .= "[$v->{type}: $v->{error}]";
        } else {
            $out .= $v;
        }
    }

    $out .= "[trailing: $body]" if length $body;

    utf8::encode($out) if utf8::is_utf8($out);
    return $out;
}

# Waiting for events, not time.  An init section drives the client
# itself and writes what it saw to html/report, which the block then
# fetches (location = /report { root html; }).
#
#   my $at = AgentCore::Test::log_size();
#   my $ok = AgentCore::Test::abort_when(invoke('[[hang]]'), qr/data: "Hello"/);
#   my $gone = AgentCore::Test::wait_log($at, qr/close http upstream/);
#   AgentCore::Test::report("...: " . ($ok ? 'yes' : 'no'), ...);

our $Wait = 10;     # seconds: a bound for a broken build, never a delay

sub error_log_file {
    return Test::Nginx::Util::server_root() . '/logs/error.log';
}

sub log_size {
    return -s error_log_file() // 0;
}

# 1 if every pattern matches a line written after offset $at, now
sub log_matches {
    my ($at, @pats) = @_;
    my $text = '';

    if (open my $in, '<', error_log_file()) {
        seek $in, $at, 0;
        local $/;
        $text = <$in> // '';
    }

    return !grep { $text !~ $_ } @pats;
}

# 1 once every pattern matched a line written after offset $at
sub wait_log {
    my ($at, @pats) = @_;
    my $deadline = time + $Wait;

    for (;;) {
        my $text = '';
        if (open my $in, '<', error_log_file()) {
            seek $in, $at, 0;
            local $/;
            $text = <$in> // '';
        }
        my @left = grep { $text !~ $_ } @pats;
        return 1 if !@left;
        return 0 if time > $deadline;
        select undef, undef, undef, 0.02;
    }
}

# sends a request made by invoke() (or "METHOD URI\nbody"), reads the
# answer until it matches $re (or, with a code ref, until it returns),
# then closes the connection: 1 if it matched (0 after $Wait seconds)
sub abort_when {
    my ($req, $re) = @_;
    my ($line, $body) = split /\n/, $req, 2;
    my ($method, $uri) = split ' ', $line;
    my ($sock, $got, $deadline);

    require IO::Socket::INET;
    $sock = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => Test::Nginx::Util::server_port(),
        Proto => 'tcp') or die "connect: $!\n";

    $body //= '';
    print $sock "$method $uri HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: application/json\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";

    if (ref $re eq 'CODE') {
        # an event elsewhere (a log line): the callback waits for it
        $got = $re->();
        close $sock;
        return $got ? 1 : 0;
    }

    $got = '';
    $deadline = time + $Wait;

    while ($got !~ $re && time < $deadline) {
        my $rin = '';
        vec($rin, fileno($sock), 1) = 1;
        next if !select($rin, undef, undef, 0.1);
        last if !sysread($sock, $got, 65536, length $got);
    }

    close $sock;
    return $got =~ $re ? 1 : 0;
}

sub report {
    my $f = Test::Nginx::Util::html_dir() . '/report';
    open my $out, '>', $f or die "$f: $!\n";
    print $out map { "$_\n" } @_;
    close $out;
}

our $ReportLocation = "location = /report { root html; }\n";

# A default check for every block of every suite, under the real
# Test::Nginx and t/compat alike: a worker that crashes ("exited on
# signal", logged by the master) or logs [alert] or [crit] fails the
# block.  Added to the block's no_error_log, unless its error_log expects
# that level (or the block must not start).  Registered last, so that it
# sees what the suite's own preprocessors set.
our @Trouble = ('[alert]', '[crit]', 'exited on signal');

sub no_trouble {
    my $block = shift;
    my ($want, $have, @pats, @add);

    # some Test::Nginx versions take a preprocessor's value as the block
    return $block if defined $block->must_die;

    $want = $block->error_log;
    $want = join "\n", map { ref $_ eq 'ARRAY' ? @$_ : $_ }
                        (ref $want eq 'ARRAY' ? @$want : $want // ());

    @add = grep {
        my $level = $_ =~ /^\[(\w+)\]$/ ? $1 : $_;
        index($want, $level) < 0
    } @Trouble;

    # a block that kills a worker expects the master's [alert] about it:
    # any other [alert] still fails it
    if (index($want, 'exited on signal') >= 0) {
        @add = map { $_ eq '[alert]'
                     ? qr/\[alert\](?!.* exited on signal \d+)/ : $_ } @add;
    }

    return $block if !@add;

    $have = $block->no_error_log;

    if (!defined $have) {
        @pats = ();
    } elsif (ref $have eq 'ARRAY') {
        if (grep { ref $_ eq 'ARRAY' } @$have) {
            # one list per request
            $block->set_value("no_error_log",
                              [map { [@$_, @add] } @$have]);
            return $block;
        }
        @pats = @$have;
    } elsif (ref $have) {
        @pats = ($have);
    } else {
        @pats = grep { length } split /\n/, $have;
    }

    $block->set_value("no_error_log", [@pats, @add]);

    return $block;
}

# (Test::Nginx::Util declares the list without emptying it: pushed to
# before it loads, which must come later, as it reads the environment
# import() sets)
BEGIN {
    push @Test::Nginx::Util::BlockPreprocessors, \&no_trouble;
}

# add_block_preprocessor(\&AgentCore::Test::defaults)
sub defaults {
    my $block = shift;

    if (!defined $block->main_config) {
        $block->set_value("main_config", $MainConfig);
    }

    if (!defined $block->http_config) {
        $block->set_value("http_config", $HttpConfig);
    }

    if (!defined $block->config) {
        $block->set_value("config", $Config);
    }
}

1;
