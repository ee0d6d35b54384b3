package AgentCore::Creds;

# Local stand-ins for the AWS credential sources, in core Perl: the
# container credentials endpoint (ECS, EKS Pod Identity), IMDSv2 with its
# token flow, and STS AssumeRoleWithWebIdentity.  One server answers all
# three; a state directory steers it, so a test can change its answers
# while it runs:
#
#   use AgentCore::Creds;
#   my $cs = AgentCore::Creds->start;        # forks the server, waits READY
#   $cs->port; $cs->dir;
#   $cs->set(keys => [[AKID, SECRET, TOKEN], ...],  # one per fetch, the
#                                                   # last one repeats
#            mode => 'ok' | 'hang' | 'garbage' | 'status 503'
#                    | 'expired' | 'imds-v1',
#            then => '1 status 503',           # a mode from the Nth
#                                              # answer given on ('' : off)
#            expires_in => 3600,               # Expiration - now, seconds
#            auth => 'container-token',        # Authorization expected
#            web_token => 'jwt',               # WebIdentityToken expected
#            role_arn => 'arn:aws:iam::1:role/x');
#   $cs->fetches;        # credential answers given (all kinds)
#   $cs->fetches('/creds/x');   # ... by the container endpoint at a path
#   (any method on /slow?ms=N answers "done" after N ms: a slow tool)
#   $cs->log;            # one line per request, no secrets
#   $cs->reset;          # counters and log cleared, default answers
#
# As a program (the server itself):
#   perl -It/lib -MAgentCore::Creds -e AgentCore::Creds::main -- \
#       --dir DIR [--listen 127.0.0.1:0] [--parent PID]
# prints "READY <port>" once listening; one forked child per connection.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Spec;
use File::Temp qw(tempdir);
use Fcntl qw(:flock O_RDWR O_CREAT);
use Getopt::Long qw(GetOptionsFromArray);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(strftime WNOHANG);
use Time::HiRes ();

our @DEFAULT_KEYS = (
    ['ASIASTANDIN000000001', 'standinSecret0001/abcdefghijklmnopqrstuv',
     'standin-session-token-0001'],
);

our $ROLE = 'agentcore-test-role';

my %RUNNING;

# ---------------------------------------------------------------------------
# the test side

sub start {
    my ($class, %o) = @_;
    my ($dir, $fh, $pid, $line, $ok, $lib);

    $dir = $o{dir} // tempdir('agentcore-creds-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
    $lib = abs_path(dirname(__FILE__) . '/..');

    $pid = open($fh, '-|', $^X, "-I$lib", '-MAgentCore::Creds', '-e',
                'AgentCore::Creds::main(@ARGV)', '--', '--dir', $dir,
                '--listen', '127.0.0.1:0', '--parent', $$)
        or die "AgentCore::Creds: cannot start the stand-in: $!\n";

    $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm(15);
        $line = <$fh>;
        alarm(0);
        1;
    };
    alarm(0);

    if (!$ok || !defined $line || $line !~ /^READY (\d+)$/) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
        die "AgentCore::Creds: the stand-in did not become ready\n";
    }

    my $self = bless { port => $1 + 0, pid => $pid, fh => $fh, dir => $dir,
                       owner => $$ }, $class;
    $RUNNING{$pid} = $self;
    $self->reset;

    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }

sub _write {
    my ($path, $text) = @_;
    my $tmp = "$path.tmp.$$";

    open(my $fh, '>', $tmp) or die "$tmp: $!\n";
    print $fh $text;
    close $fh;
    rename $tmp, $path or die "rename $tmp: $!\n";
}

sub set {
    my ($self, %o) = @_;

    for my $k (sort keys %o) {
        my $v = $o{$k};
        $v = join('', map { join(' ', @$_) . "\n" } @$v) if $k eq 'keys';
        _write("$self->{dir}/$k", "$v\n");
    }
}

sub reset {
    my ($self) = @_;

    unlink glob("$self->{dir}/*");
    _write("$self->{dir}/log", '');
    chmod 0644, "$self->{dir}/log";
    $self->set(keys => \@DEFAULT_KEYS, mode => 'ok', expires_in => 3600);
}

# fetches in all, or of one path (of the container endpoint)
sub fetches {
    my ($self, $path) = @_;
    return _read_num("$self->{dir}/count"
                     . (defined $path ? _path_name($path) : ''));
}

sub log {
    my ($self) = @_;
    open(my $fh, '<', "$self->{dir}/log") or return '';
    local $/;
    return scalar <$fh>;
}

sub stop {
    my ($self) = @_;

    return unless delete $RUNNING{$self->{pid}};
    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
    close $self->{fh};
}

END {
    my $status = $?;

    for my $s (values %RUNNING) {
        $s->stop if $s->{owner} == $$;
    }
    $? = $status;
}

sub _read_num {
    my ($path) = @_;

    open(my $fh, '<', $path) or return 0;
    my $n = <$fh>;
    return ($n // 0) + 0;
}

# ---------------------------------------------------------------------------
# a small HTTP/1.1 client for the tests that measure: one request per
# connection; returns (status, body (de-chunked), seconds); status 0 on a
# network error or a timeout

sub http {
    my (%o) = @_;
    my ($sock, $req, $raw, $t0, $head, $body, $status);

    $t0 = Time::HiRes::time();
    $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $o{port}, Timeout => 5)
        or return (0, "connect: $!", Time::HiRes::time() - $t0);

    $body = $o{body} // '';
    $req = ($o{method} // 'GET') . " $o{path} HTTP/1.1\r\n"
           . "Host: localhost\r\nConnection: close\r\n"
           . (length $body ? 'Content-Length: ' . length($body) . "\r\n"
                             . "Content-Type: application/json\r\n" : '')
           . "\r\n" . $body;
    print $sock $req;

    $raw = '';
    my $sel = IO::Select->new($sock);
    my $deadline = $t0 + ($o{timeout} // 30);

    while (Time::HiRes::time() < $deadline) {
        last unless $sel->can_read($deadline - Time::HiRes::time());
        my $n = sysread($sock, my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $sock;

    ($head, $body) = split /\r\n\r\n/, $raw, 2;
    return (0, 'no answer', Time::HiRes::time() - $t0)
        unless defined $head && $head =~ m{^HTTP/1\.\d (\d+)};
    $status = $1;
    $body //= '';

    if ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        my $out = '';
        while ($body =~ s/\A([0-9a-fA-F]+)\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/\A\r\n//;
        }
        $body = $out;
    }

    return ($status, $body, Time::HiRes::time() - $t0);
}

# ready credentials in nginx: waits until a request gets its answer
sub wait_ready {
    my (%o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 10);

    while (Time::HiRes::time() < $deadline) {
        my ($st) = http(%o);
        return 1 if $st == 200;
        Time::HiRes::sleep(0.1);
    }

    return 0;
}

# ---------------------------------------------------------------------------
# the server

my ($DIR, $PARENT);

sub _state {
    my ($name, $default) = @_;

    open(my $fh, '<', "$DIR/$name") or return $default;
    local $/;
    my $v = <$fh>;
    $v =~ s/\s+\z//;
    return $v;
}

sub _logline {
    my ($line) = @_;

    open(my $fh, '>>', "$DIR/log") or return;
    flock($fh, LOCK_EX);
    print $fh strftime('%H:%M:%S ', localtime), $line, "\n";
    close $fh;
}

sub _count {
    my ($name) = @_;
    my ($fh, $n);

    sysopen($fh, "$DIR/$name", O_RDWR | O_CREAT) or die "$name: $!\n";
    flock($fh, LOCK_EX);
    $n = <$fh> // 0;
    $n += 0;
    seek($fh, 0, 0);
    truncate($fh, 0);
    print $fh $n + 1, "\n";
    close $fh;

    return $n;
}

# the next credentials: one line of "keys" per fetch, the last repeats;
# fetches are counted in all and per path
sub _next_keys {
    my ($path) = @_;
    my ($n, @keys);

    $n = _count('count');
    _count('count' . _path_name($path)) if defined $path;

    @keys = map { [split ' '] } grep { /\S/ } split /\n/, _state('keys', '');
    die "no keys\n" unless @keys;

    return @{ $keys[$n < @keys ? $n : $#keys] };
}

sub _path_name {
    my ($path) = @_;
    (my $name = $path) =~ s/[^A-Za-z0-9]/_/g;
    return $name;
}

sub _expiration {
    my $in = _state('expires_in', 3600);

    $in = -60 if _state('mode', 'ok') eq 'expired';
    return strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + $in));
}

sub _send {
    my ($c, $status, $type, $body, @headers) = @_;
    my %reason = (200 => 'OK', 400 => 'Bad Request', 401 => 'Unauthorized',
                  403 => 'Forbidden', 404 => 'Not Found',
                  405 => 'Method Not Allowed', 500 => 'Internal Server Error',
                  503 => 'Service Unavailable');

    print $c "HTTP/1.1 $status " . ($reason{$status} // 'Status') . "\r\n"
        . "Content-Type: $type\r\nContent-Length: " . length($body) . "\r\n"
        . join('', map { "$_\r\n" } @headers) . "\r\n" . $body;
}

# one request: (method, path, {headers}, body), or () at the end
sub _read_request {
    my ($c) = @_;
    my ($line, %h, $body, $len);

    $line = <$c>;
    return () unless defined $line;
    $line =~ s/\r?\n\z//;
    my ($method, $path) = split ' ', $line;
    return () unless defined $path;

    while (defined(my $l = <$c>)) {
        $l =~ s/\r?\n\z//;
        last if $l eq '';
        my ($k, $v) = split /:\s*/, $l, 2;
        $h{lc $k} = $v // '';
    }

    $body = '';
    $len = $h{'content-length'} // 0;
    read($c, $body, $len) if $len > 0;

    return ($method, $path, \%h, $body);
}

# what the mode says for a credentials answer: 1 if it answered already
sub _mode {
    my ($c, $what) = @_;
    my $mode = _state('mode', 'ok');

    # "then" => "N MODE": MODE once N credentials were given (an event,
    # not a time: "1 status 503" fails every fetch after the first)
    if ($mode eq 'ok' && _state('then', '') =~ /^(\d+) (.+)$/
        && _state('count', 0) >= $1)
    {
        $mode = $2;
    }

    if ($mode eq 'hang') {
        _logline("$what hang");
        my $sel = IO::Select->new($c);
        # until the client gives up (or a minute)
        for (1 .. 600) {
            last if $sel->can_read(0.1) && !sysread($c, my $x, 1);
        }
        POSIX::_exit(0);
    }

    if ($mode eq 'garbage') {
        _logline("$what garbage");
        _send($c, 200, 'text/html', "<html><body>It works!</body></html>\n");
        return 1;
    }

    if ($mode =~ /^status (\d+)$/) {
        _logline("$what $1");
        _send($c, $1, 'application/json',
              qq({"Code":"StandInError","Message":"the stand-in answers $1"}));
        return 1;
    }

    return 0;
}

sub _container {
    my ($c, $h, $path) = @_;
    my $want = _state('auth', undef);

    if (defined $want && ($h->{authorization} // '') ne $want) {
        _logline('GET container 401 (wrong Authorization)');
        _send($c, 401, 'application/json',
              '{"Code":"AccessDeniedException","Message":"bad token"}');
        return;
    }

    return if _mode($c, 'GET container');

    my ($akid, $secret, $token) = _next_keys($path);
    _logline("GET container 200 $akid");
    _send($c, 200, 'application/json',
          qq({"AccessKeyId":"$akid","SecretAccessKey":"$secret",)
          . qq("Token":"$token","AccountId":"123456789012",)
          . qq("Expiration":") . _expiration() . '"}');
}

sub _imds {
    my ($c, $method, $path, $h) = @_;
    my $mode = _state('mode', 'ok');
    my $token = $h->{'x-aws-ec2-metadata-token'};

    if ($method eq 'PUT' && $path eq '/latest/api/token') {
        if ($mode eq 'imds-v1') {
            _logline('PUT token 403 (v1 only)');
            _send($c, 403, 'text/plain', 'Forbidden');
            return;
        }
        if (($h->{'x-aws-ec2-metadata-token-ttl-seconds'} // '') !~ /^\d+$/) {
            _logline('PUT token 400 (no ttl)');
            _send($c, 400, 'text/plain', 'Bad Request');
            return;
        }
        _logline('PUT token 200');
        _send($c, 200, 'text/plain', "IMDSTOKEN-$$-" . int(rand(1e9)));
        return;
    }

    if ($method ne 'GET') {
        _send($c, 405, 'text/plain', 'Method Not Allowed');
        return;
    }

    if ($mode ne 'imds-v1' && !(defined $token && $token =~ /^IMDSTOKEN-/)) {
        _logline("GET $path 401 (no token)");
        _send($c, 401, 'text/plain', 'Unauthorized');
        return;
    }

    my $how = defined $token ? 'token' : 'v1';

    if ($path eq '/latest/meta-data/iam/security-credentials/') {
        _logline("GET role 200 $how");
        _send($c, 200, 'text/plain', "$ROLE\n");
        return;
    }

    if ($path eq "/latest/meta-data/iam/security-credentials/$ROLE") {
        return if _mode($c, "GET role-credentials $how");

        my ($akid, $secret, $stoken) = _next_keys();
        _logline("GET role-credentials 200 $how $akid");
        _send($c, 200, 'text/plain',
              qq({\n  "Code" : "Success",\n  "LastUpdated" : ")
              . strftime('%Y-%m-%dT%H:%M:%SZ', gmtime)
              . qq(",\n  "Type" : "AWS-HMAC",\n  "AccessKeyId" : "$akid",\n)
              . qq(  "SecretAccessKey" : "$secret",\n  "Token" : "$stoken",\n)
              . qq(  "Expiration" : ") . _expiration() . qq("\n}));
        return;
    }

    _logline("GET $path 404");
    _send($c, 404, 'text/plain', 'Not Found');
}

sub _unform {
    my ($s) = @_;
    $s =~ tr/+/ /;
    $s =~ s/%([0-9A-Fa-f]{2})/chr(hex $1)/ge;
    return $s;
}

sub _sts {
    my ($c, $body) = @_;
    my %f = map { my ($k, $v) = split /=/, $_, 2; ($k, _unform($v // '')) }
            split /&/, $body;
    my $want = _state('web_token', undef);
    my $arn = _state('role_arn', undef);

    my $err = sub {
        my ($code, $msg) = @_;
        _logline("POST sts 400 $code");
        _send($c, 400, 'text/xml',
              '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/'
              . '2011-06-15/"><Error><Type>Sender</Type><Code>' . $code
              . "</Code><Message>$msg</Message></Error><RequestId>"
              . 'c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>'
              . '</ErrorResponse>');
    };

    return $err->('InvalidAction', 'not AssumeRoleWithWebIdentity')
        unless ($f{Action} // '') eq 'AssumeRoleWithWebIdentity'
               && ($f{Version} // '') eq '2011-06-15';
    return $err->('InvalidIdentityToken', 'Invalid token')
        if defined $want && ($f{WebIdentityToken} // '') ne $want;
    return $err->('AccessDenied', 'Not authorized to perform '
                  . 'sts:AssumeRoleWithWebIdentity')
        if defined $arn && ($f{RoleArn} // '') ne $arn;
    return $err->('ValidationError', 'bad RoleSessionName')
        unless ($f{RoleSessionName} // '') =~ /^[\w+=,.@-]{2,64}$/;

    return if _mode($c, 'POST sts');

    my ($akid, $secret, $token) = _next_keys();
    _logline("POST sts 200 $akid session=$f{RoleSessionName}");
    _send($c, 200, 'text/xml',
          '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.'
          . "com/doc/2011-06-15/\">\n  <AssumeRoleWithWebIdentityResult>\n"
          . "    <SubjectFromWebIdentityToken>system:serviceaccount:default:"
          . "agent</SubjectFromWebIdentityToken>\n    <Credentials>\n"
          . "      <SessionToken>$token</SessionToken>\n"
          . "      <SecretAccessKey>$secret</SecretAccessKey>\n"
          . '      <Expiration>' . _expiration() . "</Expiration>\n"
          . "      <AccessKeyId>$akid</AccessKeyId>\n    </Credentials>\n"
          . "    <AssumedRoleUser><Arn>$f{RoleArn}/$f{RoleSessionName}</Arn>"
          . "<AssumedRoleId>AROA:x</AssumedRoleId></AssumedRoleUser>\n"
          . "  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>"
          . '<RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>'
          . "</ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n");
}

sub _serve {
    my ($c) = @_;

    binmode $c;
    $c->autoflush(1);

    while (my ($method, $path, $h, $body) = _read_request($c)) {
        if ($path =~ m{^/slow(?:\?ms=(\d+))?}) {
            # a slow tool for the agent: answers after ms milliseconds
            select(undef, undef, undef, ($1 // 1000) / 1000);
            _logline("$method /slow 200");
            _send($c, 200, 'text/plain', 'done');
        } elsif ($method eq 'GET' && $path =~ m{^/creds}) {
            _container($c, $h, $path);
        } elsif ($path =~ m{^/latest/}) {
            _imds($c, $method, $path, $h);
        } elsif ($method eq 'POST' && $path eq '/') {
            _sts($c, $body);
        } else {
            _logline("$method $path 404");
            _send($c, 404, 'text/plain', 'Not Found');
        }
        last if lc($h->{connection} // '') eq 'close';
    }
}

sub main {
    my (@argv) = @_;
    my ($listen, $srv, $sel, %kids) = ('127.0.0.1:0');

    GetOptionsFromArray(\@argv, 'dir=s' => \$DIR, 'listen=s' => \$listen,
                        'parent=i' => \$PARENT)
        or die "usage: --dir DIR [--listen HOST:PORT] [--parent PID]\n";
    die "--dir is required\n" unless $DIR;
    make_path($DIR);

    my ($host, $port) = $listen =~ /^(.*):(\d+)$/
        or die "bad --listen $listen\n";
    $srv = IO::Socket::INET->new(LocalAddr => $host, LocalPort => $port,
                                 Listen => 128, ReuseAddr => 1)
        or die "cannot listen on $listen: $@\n";

    $SIG{PIPE} = 'IGNORE';
    $SIG{CHLD} = sub {
        while ((my $p = waitpid(-1, WNOHANG)) > 0) { delete $kids{$p} }
    };
    my $stop = sub { kill 'TERM', keys %kids; POSIX::_exit(0) };
    $SIG{TERM} = $stop;
    $SIG{INT} = $stop;

    $| = 1;
    print 'READY ' . $srv->sockport . "\n";

    $sel = IO::Select->new($srv);
    for (;;) {
        if (!$sel->can_read(1)) {
            $stop->() if $PARENT && !kill(0, $PARENT);
            next;
        }
        my $c = $srv->accept or next;
        my $pid = fork;
        if (!defined $pid) {
            close $c;
            next;
        }
        if ($pid == 0) {
            $SIG{TERM} = 'DEFAULT';
            close $srv;
            _serve($c);
            POSIX::_exit(0);
        }
        $kids{$pid} = 1;
        close $c;
    }
}

1;
