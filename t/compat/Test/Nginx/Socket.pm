package Test::Nginx::Socket;

# The project's own runner for the Test::Nginx::Socket block format, used
# only when openresty's Test::Nginx is not installed (Debian does not package
# it).  The block parsing is Debian's Test::Base; everything else (requests,
# response parsing, checks, nginx management in Test::Nginx::Util) is written
# here from the documented semantics of the format.  See t/compat/README.

use strict;
use warnings;

use Test::Base -base;
use Test::Nginx::Util;
use Test::LongString ();
use Digest::MD5 ();
use Digest::SHA ();
use Encode ();
use IO::Select ();
use IO::Socket::INET ();
use List::Util qw(shuffle);
use POSIX qw(EAGAIN EWOULDBLOCK EINTR);
use Scalar::Util qw(looks_like_number refaddr);
use Time::HiRes qw(sleep time);

our $VERSION = '0.29_compat';

our @EXPORT = qw(
    env_to_nginx is_str plan run_tests run_test repeat_each config_preamble
    worker_connections master_process_enabled no_long_string workers
    master_on master_off log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check
);

# ------------------------------------------------------------------ sections

my %Supported = map { $_ => 1 } qw(
    ONLY SKIP LAST
    main_config post_main_config http_config config server_name log_level
    user_files init
    request request_eval more_headers pipelined_requests raw_request
    raw_request_middle_delay shutdown timeout abort ignore_response wait
    response_body response_body_eval response_body_like
    response_body_unlike response_body_filters charset
    response_headers response_headers_like raw_response_headers_like
    raw_response_headers_unlike error_code error_code_like
    error_log no_error_log grep_error_log grep_error_log_out
    shutdown_error_log no_shutdown_error_log access_log no_access_log
    skip_nginx skip_nginx2 skip_eval todo no_check_leak must_die curl http2
    tcp_listen tcp_reply tcp_query tcp_query_len tcp_no_close
    tcp_reply_delay tcp_shutdown tcp_shutdown_delay
);

my %Unsupported = map { $_ => 1 } qw(
    stap stap_out stap_out_like stap_out_unlike udp_listen udp_reply
    udp_query udp_reply_delay http3 reload_fails http09 error_log_file
    server_addr_for_client skip_openssl skip_slave todo_nginx curl_error
    curl_options curl_protocol quic_max_idle_timeout stream_config
    stream_server_config stream_request stream_response
    response_body_json_filters
);

sub _section_names {
    my $block = shift;
    my $order = $block->{_section_order};
    return @{ ($order && $order->[0]) || [] };
}

# Unsupported or repeated sections stop the script before anything runs.
# Sections this runner does not know may be used by the suite's own block
# preprocessors (or init code): their accessors are wrapped to record use,
# and one that nothing read by the end of its block is reported as a typo.
my %Accessed;

sub _check_sections {
    my $blocks = shift;
    my (@errors, %unknown);
    for my $block (@$blocks) {
        my %seen;
        for my $s (_section_names($block)) {
            if ($seen{$s}++ == 1) {
                push @errors, "block \"" . $block->name . "\": section "
                    . "\"--- $s\" appears more than once";
            }
            next if $Supported{$s};
            if ($Unsupported{$s}) {
                push @errors, "block \"" . $block->name . "\": section "
                    . "\"--- $s\" is not supported by the compat runner "
                    . "(t/compat/Test/Nginx/Socket.pm)";
            } else {
                $unknown{$s} = 1;
            }
        }
    }
    for my $block (@$blocks) {
        eval { _check_conflicts($block); 1 } or push @errors, $@;
    }
    chomp @errors;
    die "$0: " . join("\n$0: ", @errors) . "\n" if @errors;

    no strict 'refs';
    no warnings 'redefine';
    for my $s (keys %unknown) {
        my $orig = \&{"Test::Base::Block::$s"};
        *{"Test::Base::Block::$s"} = sub {
            $Accessed{Scalar::Util::refaddr($_[0])}{$s} = 1;
            goto &$orig;
        };
    }
}

sub _check_unused_sections {
    my $block = shift;
    my $used = $Accessed{Scalar::Util::refaddr($block)} || {};
    my @bad = grep { !$Supported{$_} && !$used->{$_} }
              _section_names($block);
    return if !@bad;
    die "$0: block \"" . $block->name . "\": unknown section"
        . (@bad > 1 ? 's' : '') . " " . join(', ', map { "\"--- $_\"" } @bad)
        . " (a typo? no block preprocessor or init code read it)\n";
}

sub _check_conflicts {
    my $block = shift;
    my $name = $block->name;
    my @pairs = (
        [qw(response_body response_body_like)],
        [qw(response_body response_body_unlike)],
        [qw(response_body_like response_body_unlike)],
        [qw(response_headers response_headers_like)],
        [qw(error_code error_code_like)],
    );
    for my $p (@pairs) {
        if (defined $block->${\$p->[0]} && defined $block->${\$p->[1]}) {
            die "$name: sections \"--- $p->[0]\" and \"--- $p->[1]\" "
                . "cannot be combined (the second would be ignored by "
                . "Test::Nginx)\n";
        }
    }
    if (defined $block->grep_error_log xor defined $block->grep_error_log_out)
    {
        bail_out("$name - --- grep_error_log and --- grep_error_log_out "
                 . "must be used together");
    }
}

# -------------------------------------------------- eval filter that dies

package Test::Nginx::Socket::Filter;

use strict;
use warnings;
require Test::Base::Filter;
our @ISA = ('Test::Base::Filter');

# Like Test::Base's "eval" filter (the code still runs in package
# Test::Base::Filter), but a failing eval aborts the test script instead of
# silently becoming the section's value.
sub eval {
    my $self = shift;
    my $code = join '', @_;
    my $block = $self->current_block;
    my $bname = $block ? $block->name : '?';
    my @ret = CORE::eval("package Test::Base::Filter;\n#line 1 \"eval\"\n"
                         . $code);
    if ($@) {
        die "$0: block \"$bname\": an \"eval\" section failed: $@";
    }
    return @ret;
}

package Test::Nginx::Socket;

# --------------------------------------------------------- public helpers

our @ResponseBodyChecks;
our $PrevConfig;
our $PrevBlock;
our @ExtraLogLines;

sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::like($got, $expected, $desc)
        if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

# --------------------------------------------------------------- main loop

sub run_tests () {
    $NginxVersion = Test::Nginx::Util::get_nginx_version();
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort
        if !defined $ENV{TEST_NGINX_SERVER_PORT};

    my @blocks = Test::Base::blocks();
    _check_sections(\@blocks);
    @blocks = shuffle @blocks if !$NoShuffle;

    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        $block->set_value(name => "$0 " . $block->name);
        run_test($block);
        _check_unused_sections($block);
        $PrevBlock = $block;
    }

    Test::Nginx::Util::cleanup();
    if (!$ENV{TEST_NGINX_NO_CLEAN}) {
        _stop_and_check_prev('end');
    }
}

sub _stop_and_check_prev {
    my $name = shift;
    Test::Nginx::Util::stop_nginx($name);
    my $prev = $PrevBlock;
    if ($prev && (defined $prev->shutdown_error_log
                  || defined $prev->no_shutdown_error_log))
    {
        _check_shutdown_error_log($prev);
    }
    undef $PrevBlock;
}

sub _version_cmp_spec {
    my ($name, $kind, $spec) = @_;
    my $ok = $spec =~ m{^\s*(\d+)\s*:\s*([<>]=?|==?)\s*(\d+)\.(\d+)\.(\d+)
                        (?:\s*:\s*(.*?))?\s*$}x;
    bail_out("$name - Invalid --- $kind spec: $spec") if !$ok;
    my ($n, $op, $reason) = ($1, $2, $6);
    my $ver = sprintf "%d.%03d%03d", $3, $4, $5;
    $op = '==' if $op eq '=';
    my $hit = eval "$NginxVersion $op $ver";
    $reason = "nginx version $op $3.$4.$5" if !$reason;
    return ($n, $hit, $reason);
}

sub _skip_spec {
    my $block = shift;
    my $name = $block->name;
    my ($n, $skip, $reason);

    if (defined(my $s = $block->skip_eval)) {
        $s =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- skip_eval spec: $s");
        $n = $1;
        my $code = $2;
        $skip = eval "package main; $code";
        bail_out("$name - skip_eval - failed to eval \"$code\": $@") if $@;
        $reason = 'skip_eval';
    }
    if (defined(my $s = $block->skip_nginx)) {
        my ($cnt, $hit, $why) = _version_cmp_spec($name, 'skip_nginx', $s);
        ($n, $skip, $reason) = ($cnt, $hit, $why) if $hit || !$skip;
    } elsif (defined(my $s2 = $block->skip_nginx2)) {
        $s2 =~ m{^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*
                 ([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*?))?\s*$}x
            or bail_out("$name - Invalid --- skip_nginx2 spec: $s2");
        my $va = sprintf "%d.%03d%03d", $3, $4, $5;
        my $vb = sprintf "%d.%03d%03d", $8, $9, $10;
        my ($opa, $conj, $opb) = ($2, $6, $7);
        my $a = eval "$NginxVersion $opa $va";
        my $b = eval "$NginxVersion $opb $vb";
        my $hit = $conj eq 'or' ? ($a || $b) : ($a && $b);
        if ($hit || !$skip) {
            ($n, $skip, $reason) = ($1, $hit, $11 || 'nginx version');
        }
    }
    return ($n, $skip, $reason // 'various reasons');
}

sub run_test ($) {
    my $block = shift;
    return if defined $block->SKIP;

    my $name = $block->name;
    _check_conflicts($block);

    my $rand_ports = {};
    my $config = expand_env_in_text($block->config, $name, $rand_ports);

    my ($skip_n, $should_skip, $skip_reason) = _skip_spec($block);

    my ($todo_n, $todo_reason);
    if (defined(my $t = $block->todo)) {
        $t =~ /^\s*(\d+)\s*:\s*(.*)/s
            or bail_out("$name - Invalid --- todo spec: $t");
        ($todo_n, $todo_reason) = ($1, $2);
    }

    my $must_die = $block->must_die;

    if (!$should_skip) {
        if (!defined $config && !$Test::Nginx::Util::NginxRunning) {
            bail_out("$name - this block has no --- config and no earlier "
                     . "block left one to reuse")
                if !defined $PrevConfig;
            $config = $PrevConfig;
        }

        if (defined $config) {
            _stop_and_check_prev($name);
            Test::Nginx::Util::setup_server_root();
            # a fresh log: this block sees nginx's start-up lines too
            Test::Nginx::Util::mark_error_log_start();
            Test::Nginx::Util::write_user_files($block, $rand_ports);
            Test::Nginx::Util::write_config_file($block, $config,
                                                 $rand_ports);
            $PrevConfig = $config;

            if (defined $must_die) {
                _run_must_die($block, $must_die);
                return;
            }

            my $r = Test::Nginx::Util::start_nginx($name, 0);
            if (!$r->{ok}) {
                Test::More::fail("$name - nginx failed to start "
                                 . "(status $r->{status})");
                Test::More::diag("nginx stderr:\n$r->{stderr}")
                    if $r->{stderr} ne '';
                my $log = Test::Nginx::Util::_read_file($ErrLogFile);
                Test::More::diag("error.log:\n" . _tail($log, 20))
                    if $log ne '';
                return;
            }
            if ($r->{stderr} && $r->{stderr} =~ /\S/) {
                warn "$name - nginx stderr: $r->{stderr}";
            }
        } else {
            # the running nginx is reused: only lines from now on count
            Test::Nginx::Util::mark_error_log_start();
        }
    }

    if (defined(my $init = $block->init)) {
        if (ref $init eq 'CODE') {
            $init->();
        } else {
            eval "package main; $init; 1"
                or bail_out("$name - init failed: $@");
        }
    }

    for my $i (0 .. $RepeatEach - 1) {
        if ($should_skip) {
            SKIP: {
                Test::More::skip("$name - $skip_reason", $skip_n);
            }
            next;
        }

        Test::Nginx::Util::write_user_files($block, $rand_ports) if $i > 0;

        my $tcp = $block->tcp_listen;
        if (defined $tcp) {
            $tcp = expand_env_in_text($tcp, $name, $rand_ports);
            Test::Nginx::Util::start_tcp_server($block, $tcp);
        }

        if (defined $todo_n) {
            TODO: {
                Test::More::todo_skip("$name - $todo_reason", $todo_n);
            }
        } else {
            run_test_helper($block, $i);
        }

        if (defined $tcp) {
            my $q = $block->tcp_query;
            my $qlen = $block->tcp_query_len;
            if (defined $q || defined $qlen) {
                # the mock server saves the query before it replies, so it
                # is complete once nginx has had the reply
                my $got = Test::Nginx::Util::tcp_query_data();
                is_str($got, $q, "$name - tcp_query ok") if defined $q;
                Test::More::is(length($got), $qlen,
                               "$name - TCP query length ok")
                    if defined $qlen;
            }
            Test::Nginx::Util::stop_tcp_server();
        }
    }

    if ($UseValgrind && $Test::Nginx::Util::ChildPid) {
        Test::Nginx::Util::stop_nginx($name);
        my $errs = Test::Nginx::Util::valgrind_errors();
        if ($errs ne '') {
            Test::More::fail("$name - valgrind reported memory errors "
                             . "(log: $Test::Nginx::Util::ValgrindLog)");
            Test::More::diag($errs);
        }
    }
}

sub _run_must_die {
    my ($block, $must_die) = @_;
    my $name = $block->name;

    for my $i (0 .. $RepeatEach - 1) {
        Test::Nginx::Util::mark_error_log_start();
        my $r = Test::Nginx::Util::start_nginx($name, 1);
        my $st = $r->{status};
        if ($st == -1) {
            Test::More::fail("$name - failed to execute the nginx command "
                             . "line");
        } elsif ($st & 127) {
            Test::More::fail("$name - nginx was killed by signal "
                             . ($st & 127)
                             . (($st & 128) ? ' (core dumped)' : ''));
        } elsif (looks_like_number($must_die)) {
            Test::More::is($r->{exit}, $must_die,
                           "$name - die with the expected exit code");
        } else {
            Test::More::isnt($st, 0, "$name - die as expected");
        }

        # Debian's nginx logs configuration errors to stderr (its default
        # error log), before logs/error.log is opened: check both.
        local @ExtraLogLines = map { "$_\n" } split /\n/, $r->{stderr};
        check_error_log($block, undef, $i, 0);

        if ($st == 0) {
            warn "WARNING: $name - nginx must die but it does not; "
                 . "killing it (req $i)\n";
            Test::Nginx::Util::stop_nginx($name);
        }
    }
}

sub _tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text;
    @l = @l[-$n .. -1] if @l > $n;
    return join "\n", @l;
}

# ---------------------------------------------------------------- requests

sub _parse_more_headers {
    my $in = shift // '';
    my ($out, $chunked) = ('', 0);
    for my $line (split /\n+/, $in) {
        next if $line =~ /^\s*#/;
        $line =~ s/\r$//;
        my ($k, $v) = split /:\s*/, $line, 2;
        next if !defined $k || $k eq '';
        $v //= '';
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v eq 'chunked';
        $out .= "$k: $v\r\n";
    }
    return ($out, $chunked);
}

# "METHOD [URI [VERSION]]" plus body lines -> the bytes to send
sub _build_request {
    my ($name, $text, $more, $conn) = @_;

    $text //= '';
    $text =~ s/\A\s+//;
    my ($first, $body) = $text =~ /\A([^\n]*)\n?(.*)\z/s;
    bail_out("$name - Request line should be non-empty")
        if $first !~ /\S/;
    my @f = split ' ', $first;
    bail_out("$name - Request line is not valid. Should be 'meth [url "
             . "[version]]' but got \"$first\"") if @f > 3;
    my ($meth, $url, $ver) = ($f[0], $f[1] // '/', $f[2] // 'HTTP/1.1');

    my ($hdrs, $chunked) = _parse_more_headers($more);

    my $len = '';
    if (!$chunked && $body ne '' && $hdrs !~ /(?:^|\n)Content-Length:/) {
        $body =~ s/\A\s+|\s+\z//g;
        $len = "Content-Length: " . length($body) . "\r\n";
    }

    my $h = '';
    $h .= "Host: $ServerName\r\n" if $hdrs !~ /(?:^|\n)Host:/i;
    $h .= "Connection: $conn\r\n" if $hdrs !~ /(?:^|\n)Connection/i;

    return "$meth $url $ver\r\n$h$hdrs$len\r\n$body";
}

# A request given as packets: built as a whole, then cut again where the
# packets were cut (cuts inside the body keep their place in the body).
sub _build_request_packets {
    my ($name, $packets, $more, $conn) = @_;

    my @orig = map {
        ref $_ eq 'HASH' ? {%$_} : ref $_ ? bail_out("$name - Invalid "
            . "syntax. $_ should be a string or hash with value.")
        : { value => $_ }
    } @$packets;
    my @vals = map { $_->{value} // '' } @orig;
    my $full = join '', @vals;
    my $new = _build_request($name, $full, $more, $conn);

    my ($lead) = $full =~ /\A(\s*)/;
    $lead = length $lead;
    my ($first) = substr($full, $lead) =~ /\A([^\n]*\n?)/;
    my $line_end = $lead + length $first;
    my ($new_head) = $new =~ /\A(.*?\r\n\r\n)/s;
    my $new_body = substr $new, length $new_head;
    my $body_orig = substr $full, $line_end;
    my $skip = length $new_body ? index($body_orig, $new_body) : 0;
    $skip = 0 if $skip < 0;

    my @cuts;
    my $pos = 0;
    for my $k (0 .. $#vals - 1) {
        $pos += length $vals[$k];
        my $np;
        if ($pos >= $line_end) {
            my $bp = $pos - $line_end - $skip;
            $bp = 0 if $bp < 0;
            $bp = length $new_body if $bp > length $new_body;
            $np = length($new_head) + $bp;
        } elsif ($pos >= $lead
                 && substr($new, 0, $pos - $lead)
                    eq substr($full, $lead, $pos - $lead))
        {
            $np = $pos - $lead;
        } else {
            bail_out("$name - cannot split the request line across "
                     . "packets at offset $pos");
        }
        push @cuts, $np;
    }

    my @out;
    my $prev = 0;
    for my $k (0 .. $#orig) {
        my $end = $k < $#orig ? $cuts[$k] : length $new;
        my %p = %{ $orig[$k] };
        $p{value} = substr $new, $prev, $end - $prev;
        push @out, \%p;
        $prev = $end;
    }
    return \@out;
}

sub _headers_for {
    my ($name, $more, $i) = @_;
    return $more if ref $more ne 'ARRAY';
    my $h = $more->[$i];
    bail_out("$name - --- more_headers lacks data for request $i")
        if !defined $h;
    return $h;
}

# Returns a list of requests, each a list of packets { value, delay_before }
sub get_req_from_block ($) {
    my $block = shift;
    my $name = $block->name;

    my $raw = $block->raw_request;
    if (defined $raw) {
        if (ref $raw eq 'ARRAY') {
            return [[ map { ref $_ eq 'HASH' ? {%$_} : { value => $_ } }
                      @$raw ]];
        }
        return [[ { value => $raw } ]];
    }

    my $request;
    if (defined $block->request_eval) {
        $request = eval "package main; " . $block->request_eval;
        bail_out("$name - request_eval failed: $@") if $@;
    } else {
        $request = $block->request;
        if (defined $request && !ref $request) {
            1 while $request =~ s/\A\s*#[^\n]*\n|\A\s+//;
        }
    }

    my $more = $block->more_headers // '';

    if (defined(my $pl = $block->pipelined_requests)) {
        bail_out("$name - invalid entries in --- pipelined_requests")
            if ref $pl ne 'ARRAY';
        my $all = '';
        for my $i (0 .. $#$pl) {
            my $conn = $i == $#$pl ? 'close' : 'keep-alive';
            $all .= _build_request($name, $pl->[$i],
                                   _headers_for($name, $more, $i), $conn);
        }
        return [[ { value => $all } ]];
    }

    bail_out("$name - no --- request, --- raw_request or "
             . "--- pipelined_requests section") if !defined $request;

    if (!ref $request) {
        return [[ { value => _build_request($name, $request,
                                  _headers_for($name, $more, 0), 'close') } ]];
    }

    bail_out("$name - invalid --- request: MUST be a string or an array "
             . "of requests") if ref $request ne 'ARRAY';

    my @reqs;
    for my $i (0 .. $#$request) {
        my $one = $request->[$i];
        my $hdr = _headers_for($name, $more, $i);
        if (!ref $one) {
            push @reqs, [ { value => _build_request($name, $one, $hdr,
                                                    'close') } ];
        } elsif (ref $one eq 'ARRAY') {
            push @reqs, _build_request_packets($name, $one, $hdr, 'close');
        } else {
            bail_out("$name - Invalid syntax. $one should be a string or "
                     . "an array of packets.");
        }
    }
    return \@reqs;
}

# ---------------------------------------------------------------- sending

# Sends the packets over one connection and reads until the server closes
# it.  An idle period of $timeout seconds is a failure unless --- abort is
# given, in which case the connection is closed then (a client abort).
sub send_request ($$$$) {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;
    local $SIG{PIPE} = 'IGNORE';

    my $sock;
    my $deadline = time + 1;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPortForClient,
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        my $err = "$!";
        if (time >= $deadline) {
            Test::More::fail("$name - Can't connect to "
                             . "$ServerAddr:$ServerPortForClient: $err");
            my $log = Test::Nginx::Util::_read_file($ErrLogFile);
            Test::More::diag("error.log tail:\n" . _tail($log, 15))
                if $log ne '';
            return undef;
        }
        sleep 0.02;
    }
    $sock->blocking(0);

    my @bits = @$packets;
    my $cur = shift @bits;
    my $wbuf = $cur->{value} // '';
    my $woff = 0;
    my $writing = 1;
    my $resp = '';

    my $rsel = IO::Select->new($sock);
    my $wsel = IO::Select->new($sock);

    while (1) {
        my @ready = IO::Select->select($rsel, $writing ? $wsel : undef,
                                       undef, $timeout);
        if (!@ready) {
            next if $! == EINTR;
            close $sock;
            if (!defined $block->abort) {
                Test::More::fail("ERROR: client socket timed out - $name");
                Test::More::diag("received so far (" . length($resp)
                                 . " bytes): " . _printable($resp, 300));
            }
            last;
        }
        my ($r, $w) = @ready;

        if ($writing && $w && @$w) {
            while (1) {
                if ($woff < length $wbuf) {
                    my $n = syswrite $sock, $wbuf, length($wbuf) - $woff,
                                     $woff;
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        warn "WARNING: $name - write failed: $!\n";
                        $writing = 0;
                        last;
                    }
                    $woff += $n;
                    next;
                }
                my $next = shift @bits;
                if (!$next) {
                    $writing = 0;
                    if (defined(my $how = $block->shutdown)) {
                        $how = 1 if $how !~ /\S/;
                        shutdown $sock, $how;
                    }
                    last;
                }
                my $d = $next->{delay_before} // $middle_delay;
                sleep $d if $d;
                $wbuf = $next->{value} // '';
                $woff = 0;
            }
        }

        if ($r && @$r) {
            my $eof = 0;
            while (1) {
                my $n = sysread $sock, my $buf, 65536;
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    warn "WARNING: $name - HTTP response read failure: $!\n"
                        if !$!{ECONNRESET};
                    $eof = 1;
                    last;
                }
                if ($n == 0) {
                    $eof = 1;
                    last;
                }
                $resp .= $buf;
            }
            if ($eof) {
                close $sock;
                last;
            }
        }
    }

    return $resp;
}

# HTTP/2 (--- http2): the request is sent by curl with prior knowledge.
sub send_http2_request ($$$) {
    my ($packets, $timeout, $block) = @_;
    my $name = $block->name;
    my $req = join '', map { $_->{value} } @$packets;

    my ($line, $hdrs, $body) = $req =~ /\A([^\r\n]*)\r?\n(.*?)\r?\n\r?\n(.*)\z/s
        or bail_out("$name - cannot parse the request for curl: $req");
    my ($meth, $uri) = split ' ', $line;

    my @args = ('curl', '-i', '-sS', '--http2-prior-knowledge',
                '-H', 'User-Agent:', '-H', 'Accept:', '-H', 'Host:');
    push @args, $meth eq 'HEAD' ? ('-I') : ('-X', $meth);
    my $has_ct;
    for my $h (split /\r?\n/, $hdrs) {
        next if $h =~ /^Connection\s*:/i;
        $has_ct = 1 if $h =~ /^Content-Type\s*:/i;
        push @args, '-H', $h;
    }
    my $tmp = "$ServRoot/curl.body";
    if ($body ne '') {
        push @args, '-H', 'Content-Type:' if !$has_ct;
        open my $o, '>', $tmp or bail_out("cannot write $tmp: $!");
        binmode $o;
        print $o $body;
        close $o;
        push @args, '--data-binary', "\@$tmp";
    }
    push @args, '--connect-timeout', $timeout, '--max-time', $timeout,
                "http://$ServerAddr:$ServerPortForClient$uri";

    my ($out, $err) = ("$ServRoot/curl.out", "$ServRoot/curl.err");
    my $pid = fork();
    bail_out("fork() failed: $!") if !defined $pid;
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        { no warnings 'exec'; exec { $args[0] } @args; }
        POSIX::_exit(127);
    }
    waitpid $pid, 0;
    my $rc = $? >> 8;
    my $resp = Test::Nginx::Util::_read_file($out);
    my $stderr = Test::Nginx::Util::_read_file($err);
    if ($rc == 28 && defined $block->abort) {
        return $resp;
    }
    if ($rc != 0) {
        Test::More::fail("$name - curl (HTTP/2) failed with exit code $rc: "
                         . $stderr);
    }
    return $resp;
}

# ---------------------------------------------------------------- responses

package Test::Nginx::Socket::Response;

sub new {
    my ($class, %a) = @_;
    return bless { %a }, $class;
}
sub code { $_[0]{code} }
sub content {
    my $self = shift;
    $self->{content} = shift if @_;
    return $self->{content};
}
sub header {
    my ($self, $key) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $key }
            @{ $self->{headers} };
    return undef if !@v;
    return join ', ', @v;
}

package Test::Nginx::Socket;

sub _printable {
    my ($s, $max) = @_;
    $s //= '';
    my $more = length $s > $max ? '...' : '';
    $s = substr $s, 0, $max;
    $s =~ s/([\0-\037\177-\377])/sprintf('\\x%02x', ord $1)/ge;
    return "\"$s\"$more";
}

# Returns ($res, $raw_headers, $left); $res is undef after a framing error
# (which has been reported as a failure).
sub parse_response ($$$) {
    my ($block, $raw, $head_req) = @_;
    my $name = $block->name;

    $raw //= '';
    my ($raw_headers, $head, $body) = ('', $raw, '');
    if ($raw =~ /\A(.*?\r\n)\r\n/s) {
        $raw_headers = $1;
        $head = $1;
        $body = substr $raw, length($1) + 2;
    } elsif ($raw =~ /\A(.*?\n)\n/s) {
        $head = $1;
        $body = substr $raw, length($1) + 1;
    }

    my @lines = split /\r?\n/, $head;
    my $status = shift(@lines) // '';
    my ($code, $msg);
    if ($status =~ m{^HTTP/[\d.]+\s+(\d+)(?:\s+(.*))?$}) {
        ($code, $msg) = ($1, $2);
    }
    my @headers;
    for my $l (@lines) {
        if ($l =~ /^([^:\s][^:]*?)\s*:\s*(.*?)\s*$/) {
            push @headers, [$1, $2];
        } elsif ($l =~ /^\s+(.*?)\s*$/ && @headers) {
            $headers[-1][1] .= " $1";
        }
    }

    my $res = Test::Nginx::Socket::Response->new(
        code => $code, message => $msg, headers => \@headers,
        content => $body);

    return ($res, $raw_headers, undef)
        if defined $code && ($code == 304 || $code == 101 || $code == 204);

    if ($head_req) {
        $res->content('');
        return ($res, $raw_headers, $body);
    }

    my $te = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');
    my $left;

    if (defined $te && lc $te eq 'chunked') {
        my ($decoded, $pos) = ('', 0);
        while (1) {
            pos($body) = $pos;
            if ($body =~ /\G[ \t]*([0-9A-Fa-f]+)[ \t]*(?:;[^\r\n]*)?\r\n/gc) {
                my $size = hex $1;
                $pos = pos $body;
                if ($size == 0) {
                    if ($body =~ /\G((?:[^\r\n]+\r\n)*)\r\n/gc) {
                        $pos = pos $body;
                        $left = substr $body, $pos if $pos < length $body;
                        last;
                    }
                    _framing_fail("$name - invalid chunked body received: "
                        . "incomplete last chunk (no final CRLF) - "
                        . _printable(substr($body, $pos), 100));
                    return (undef, $raw_headers, undef);
                }
                if (length($body) - $pos < $size) {
                    _framing_fail("$name - invalid chunked data received "
                        . "(not enough octets for the data section: $size "
                        . "announced, " . (length($body) - $pos) . " left)");
                    return (undef, $raw_headers, undef);
                }
                $decoded .= substr $body, $pos, $size;
                $pos += $size;
                if (substr($body, $pos, 2) ne "\r\n") {
                    _framing_fail("$name - invalid chunked data received "
                        . "(expected CRLF after a chunk).");
                    return (undef, $raw_headers, undef);
                }
                $pos += 2;
            } elsif ($pos < length $body) {
                _framing_fail("$name - invalid chunked body received: "
                    . _printable(substr($body, $pos), 100));
                return (undef, $raw_headers, undef);
            } else {
                _framing_fail("$name - no last chunk found - "
                    . _printable($decoded, 200));
                return (undef, $raw_headers, undef);
            }
        }
        $res->content($decoded);

    } elsif (defined $len && $len =~ /^\s*(\d+)\s*$/) {
        $len = $1;
        if (length $body < $len) {
            if (!defined $block->abort) {
                _framing_fail("$name - response body truncated: $len "
                    . "bytes expected (Content-Length), " . length($body)
                    . " received");
            }
        } elsif (length $body > $len) {
            $left = substr $body, $len;
            $res->content(substr $body, 0, $len);
        }
    }

    return ($res, $raw_headers, $left);
}

sub _framing_fail {
    my $msg = shift;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::fail($msg);
}

# ------------------------------------------------------------------ checks

sub _indexed {
    my ($name, $value, $idx, $need_array) = @_;
    if (ref $value eq 'ARRAY') {
        return $value->[$idx] if $need_array;
        bail_out("$name - SHOULD NOT HAPPEN: idx != 0 and don't need array.")
            if $idx != 0;
        return $value->[0];
    }
    if ($need_array) {
        bail_out("$name - You asked for many requests, the expected results "
                 . "should be arrays as well.");
    }
    return $value;
}

sub _subst_port {
    my $s = shift;
    return $s if !defined $s || ref $s;
    $s =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
    $s =~ s/\$ServerPort\b/$ServerPort/g;
    return $s;
}

sub check_error_code {
    my ($block, $res, $idx, $need_array) = @_;
    my $name = $block->name;
    my $got = ($res && $res->code) || '';
    my $ok;
    if (defined $block->error_code_like) {
        my $pat = _indexed($name, scalar($block->error_code_like), $idx,
                           $need_array);
        $ok = Test::More::like($got, qr/$pat/sm, "$name - status code ok");
    } else {
        my $exp = defined $block->error_code
                ? _indexed($name, scalar($block->error_code), $idx,
                           $need_array)
                : 200;
        $ok = Test::More::is($got, $exp, "$name - status code ok");
    }
    if (!$ok) {
        Test::More::diag("response body: "
                         . _printable($res ? $res->content : undef, 400));
        _diag_log_errors();
    }
}

sub _diag_log_errors {
    open my $in, '<', $ErrLogFile or return;
    seek $in, $Test::Nginx::Util::BlockErrLogPos, 0;
    my @bad = grep { /\[(?:error|crit|alert|emerg)\]/ } <$in>;
    close $in;
    return if !@bad;
    @bad = @bad[-10 .. -1] if @bad > 10;
    Test::More::diag("error.log problems in this block:\n" . join '', @bad);
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $pat = _indexed($name, scalar($block->raw_response_headers_like),
                           $idx,
                           $need_array);
        Test::More::like($raw_headers, qr/$pat/s,
                         "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $pat = _indexed($name,
                           scalar($block->raw_response_headers_unlike), $idx,
                           $need_array);
        Test::More::unlike($raw_headers, qr/$pat/s,
                           "$name - raw resp headers unlike");
    }
}

# "Name: value" lines; "!Name" asserts absence; returns [[name, value], ...]
sub _parse_header_spec {
    my $s = shift // '';
    my @out;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        if ($line =~ s/^!\s*//) {
            push @out, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @out, [$k, $v // ''];
        }
    }
    return @out;
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $idx, $need_array) = @_;
    my $name = $block->name;

    if (defined $block->response_headers) {
        my $spec = _indexed($name, scalar($block->response_headers), $idx,
                            $need_array);
        for my $h (_parse_header_spec($spec)) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/msi,
                    "$name - header $key not present in the raw headers");
                next;
            }
            $val = _subst_port($val);
            my $got = $res ? $res->header($key) : undef;
            Test::More::is($got // '', $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $spec = _indexed($name, scalar($block->response_headers_like), $idx,
                            $need_array);
        for my $h (_parse_header_spec($spec)) {
            my ($key, $val) = @$h;
            my $got = $res ? $res->header($key) : undef;
            Test::More::like($got // '', qr/^$val$/,
                             "$name - header $key like ok");
        }
    }
}

sub _run_body_filter {
    my ($name, $f, $content) = @_;
    return $f->($content) if ref $f eq 'CODE';
    bail_out("$name - response_body_filters: only code refs and names are "
             . "supported") if ref $f;
    return Digest::MD5::md5_hex($content) if $f eq 'md5_hex';
    return Digest::SHA::sha1_hex($content) if $f eq 'sha1_hex';
    return uc $content if $f eq 'uc';
    return lc $content if $f eq 'lc';
    return ucfirst $content if $f eq 'ucfirst';
    return lcfirst $content if $f eq 'lcfirst';
    return length $content if $f eq 'length';
    bail_out("$name - unknown filter \"$f\" in --- response_body_filters");
}

sub transform_response_body {
    my ($block, $res, $idx) = @_;
    return if !$res || !defined $res->content;
    my $filters = $block->response_body_filters;
    return if !defined $filters;
    my $name = $block->name;

    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//g;
        $filters = [split /\s+/, $filters];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$idx];
        bail_out("$name - --- response_body_filters has no entry for "
                 . "request $idx") if !defined $filters;
    }
    my $c = $res->content;
    for my $f (ref $filters eq 'ARRAY' ? @$filters : ($filters)) {
        $c = _run_body_filter($name, $f, $c);
    }
    $res->content($c);
}

sub check_response_body {
    my ($block, $res, $idx, $rep, $need_array) = @_;
    my $name = $block->name;
    my $content = $res ? $res->content : undef;

    if (defined $block->response_body || defined $block->response_body_eval)
    {
        my $expected;
        if (defined $block->response_body_eval) {
            $expected = eval "package main; "
                . _indexed($name, scalar($block->response_body_eval), $idx,
                           $need_array);
            bail_out("$name - response_body_eval failed: $@") if $@;
        } else {
            $expected = _indexed($name, scalar($block->response_body), $idx,
                                 $need_array);
        }
        if ($block->charset && defined $expected && !ref $expected) {
            Encode::from_to($expected, 'UTF-8', scalar($block->charset));
        }
        $expected = _subst_port($expected);

        if (ref $expected eq 'Regexp') {
            Test::More::like($content, $expected, "$name - response_body - "
                             . "like (repeated req $rep, req $idx)");
        } else {
            my $desc = "$name - response_body - response is expected "
                       . "(repeated req $rep, req $idx)";
            my $ok = $NoLongString
                   ? Test::More::is($content, $expected, $desc)
                   : Test::LongString::is_string($content, $expected, $desc);
            _diag_diff($expected, $content) if !$ok;
        }

    } elsif (defined $block->response_body_like
             || defined $block->response_body_unlike)
    {
        my $type = defined $block->response_body_like ? 'like' : 'unlike';
        my $pat = _indexed($name, scalar($block->${\"response_body_$type"}),
                           $idx,
                           $need_array);
        $pat = _subst_port($pat);
        my $summary = trim($content) // '';
        my $desc = "$name - response_body_$type - response is expected "
                   . "($summary)";
        if ($type eq 'like') {
            Test::More::like($content, qr/$pat/s, $desc);
        } else {
            Test::More::unlike($content, qr/$pat/s, $desc);
        }
    }

    for my $check (@ResponseBodyChecks) {
        $check->($block, $content, $idx, $rep, 0);
    }
}

sub _diag_diff {
    my ($expected, $got) = @_;
    return if !defined $expected || !defined $got;
    return if $expected !~ /\n./s && $got !~ /\n./s;
    return if !eval { require Text::Diff; 1 };
    my $d = Text::Diff::diff(\$expected, \$got,
                             { STYLE => 'Unified', FILENAME_A => 'expected',
                               FILENAME_B => 'got' });
    Test::More::diag("diff of the response body:\n$d");
}

sub _fmt_str {
    my $s = shift;
    $s = "$s";
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    return $s;
}

sub _pattern_list {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [grep { length } split /\n+/, $pats];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats eq 'ARRAY';
    return [$pats];
}

sub _mentions {
    my ($pats, $str) = @_;
    return 0 if !defined $pats;
    for my $p (@{ _pattern_list($pats) }) {
        return 1 if defined $p && "$p" =~ /\Q$str\E/;
    }
    return 0;
}

sub _line_matches {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _check_log_patterns {
    my ($name, $lines, $want, $dont, $file, $suffix) = @_;

    if (defined $want) {
        my $pats = _pattern_list($want);
        for my $line (@$lines) {
            for my $p (@$pats) {
                next if !defined $p;
                if (_line_matches($line, $p)) {
                    Test::More::pass("$name - pattern \"$p\" matches a line "
                                     . "in $file$suffix");
                    undef $p;
                }
            }
        }
        for my $p (grep { defined } @$pats) {
            Test::More::fail("$name - pattern \"$p\" should match a line in "
                             . "$file$suffix");
        }
    }

    if (defined $dont) {
        my $pats = _pattern_list($dont);
        my %found;
        for my $i (0 .. $#$lines) {
            my $line = $lines->[$i];
            for my $p (@$pats) {
                next if !defined $p || !_line_matches($line, $p);
                $found{$p} = 1;
                my $more = join '', grep { defined }
                    @$lines[$i + 1 .. ($i + 9 < $#$lines ? $i + 9 : $#$lines)];
                Test::More::fail("$name - pattern \"" . _fmt_str($p)
                    . "\" should not match any line in $file but matches "
                    . "line \"" . _fmt_str($line) . "\"$suffix\n$more");
            }
        }
        for my $p (@$pats) {
            next if !defined $p || $found{$p};
            Test::More::pass("$name - pattern \"" . _fmt_str($p)
                             . "\" does not match a line in $file$suffix");
        }
    }
}

sub check_error_log {
    my ($block, $res, $rep, $need_array) = @_;
    my $name = $block->name;
    my $lines = [@ExtraLogLines, @{ Test::Nginx::Util::error_log_data() }];

    if (defined(my $g = $block->grep_error_log)) {
        my $pat = ref $g eq 'ARRAY' ? $g->[$rep] : $g;
        if (defined $pat) {
            my $expected = $block->grep_error_log_out;
            $expected = $expected->[$rep] if ref $expected eq 'ARRAY';
            my $matched = '';
            for my $line (@$lines) {
                my $m;
                if (ref $pat) {
                    $m = $& if $line =~ $pat;
                } elsif (index($line, $pat) >= 0) {
                    $m = $pat;
                }
                $matched .= "$m\n" if defined $m && $m !~ /\n/;
            }
            my $desc = "$name - grep_error_log_out (req $rep)";
            if (ref $expected eq 'Regexp') {
                Test::More::like($matched, $expected, $desc);
            } else {
                is_str($matched, $expected, $desc);
            }
        }
    }

    _check_log_patterns($name, $lines, scalar($block->error_log),
                        scalar($block->no_error_log), 'error.log',
                        " (req $rep)");

    for my $level (qw(alert crit emerg)) {
        next if _mentions(scalar($block->error_log), "[$level")
                || _mentions(scalar($block->no_error_log), "[$level");
        for my $line (@$lines) {
            warn "WARNING: $name - " . _fmt_str($line) . "\n"
                if $line =~ /\[$level\]/;
        }
    }

    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $rep) = @_;
    return if !defined $block->access_log && !defined $block->no_access_log;
    my $lines = Test::Nginx::Util::access_log_data();
    _check_log_patterns($block->name, $lines, scalar($block->access_log),
                        scalar($block->no_access_log), 'access.log',
                        " (req $rep)");
}

sub _check_shutdown_error_log {
    my $block = shift;
    my $lines = Test::Nginx::Util::error_log_data();
    _check_log_patterns($block->name, $lines,
                        scalar($block->shutdown_error_log),
                        scalar($block->no_shutdown_error_log), 'error.log',
                        '');
}

# ---------------------------------------------------- one block, one repeat

sub run_test_helper ($$) {
    my ($block, $rep) = @_;
    my $name = $block->name;

    my $reqs = get_req_from_block($block);
    bail_out("$name - request empty") if !@$reqs;

    if (defined $block->curl) {
        Test::More::note("$name - --- curl is accepted and ignored by the "
                         . "compat runner");
    }

    my $timeout = parse_time($block->timeout) // $Timeout;
    my $pl = $block->pipelined_requests;
    my $n_pipe = $pl ? scalar @$pl : 0;
    my $need_array = $n_pipe ? 1 : @$reqs > 1;
    my $ignore = defined $block->ignore_response;
    my $wait = parse_time($block->wait);
    my $req_idx = 0;
    my $res;

    for my $ri (0 .. $#$reqs) {
        my $packets = $reqs->[$ri];
        my $text = join '', map { $_->{value} // '' } @$packets;
        my $head_req = $text =~ /^\s*HEAD\s+/ ? 1 : 0;

        my $raw = use_http2($block)
                ? send_http2_request($packets, $timeout, $block)
                : send_request($packets, $block->raw_request_middle_delay,
                               $timeout, $block);

        my $left_n = $n_pipe;
        while (1) {
            my ($raw_headers, $left) = ('', undef);
            if (!$ignore) {
                ($res, $raw_headers, $left) =
                    parse_response($block, $raw, $head_req);
            }

            if ($n_pipe) {
                $raw = $left // '';
                $left_n--;
            } elsif (defined $left && length $left) {
                warn "WARNING: $name - unexpected extra bytes after the "
                     . "response: " . _printable($left, 200) . "\n";
            }

            if (!$ignore) {
                check_error_code($block, $res, $req_idx, $need_array);
                check_raw_response_headers($block, $raw_headers, $req_idx,
                                           $need_array);
                check_response_headers($block, $res, $raw_headers, $req_idx,
                                       $need_array);
                transform_response_body($block, $res, $req_idx);
                check_response_body($block, $res, $req_idx, $rep,
                                    $need_array);
            }

            my $more = $n_pipe ? $left_n > 0 : $ri < $#$reqs;
            if ($more) {
                sleep $wait if $wait;
                check_error_log($block, $res, $rep, $need_array);
                check_access_log($block, $rep) if !$ignore;
            }

            $req_idx++;
            last if !$n_pipe || $left_n <= 0;
        }
    }

    sleep $wait if $wait;
    check_error_log($block, $res, $rep, $need_array);
    check_access_log($block, $rep) if !$ignore;
}

1;
