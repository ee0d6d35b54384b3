package AgentCore::CredsSuite;

# The set-up of the credentials suites (t/010-credentials*.t): the
# stand-in for the credential sources (AgentCore::Creds), an emulator that
# accepts exactly the keys the sources hand out, the shared files, and a
# block preprocessor:
#
#   - "--- creds_setup" (Perl) runs before the block's nginx starts, after
#     the stand-in is reset to its defaults ($CS is the stand-in);
#   - every block gets, unless it names them itself, the variables that
#     keep the "auto" chain on the loopback (no IMDS, no shared files);
#   - every block's error log, debug level included, must hold none of
#     the test secrets.

use strict;
use warnings;

use File::Temp qw(tempdir);
use AgentCore::Test;
use AgentCore::Emulator qw(start_emulator);
use AgentCore::Creds;

our @K = (
    ['ASIASTANDIN000000001', 'standinSecret0001/abcdefghijklmnopqrstuv',
     'standin-session-token-0001'],
    ['ASIASTANDIN000000002', 'standinSecret0002/abcdefghijklmnopqrstuv',
     'standin-session-token-0002'],
    ['ASIASTANDIN000000003', 'standinSecret0003/abcdefghijklmnopqrstuv',
     'standin-session-token-0003'],
);

our @P = ('AKIAPROFILEDEV000001', 'profileSecretDev/abcdefghijklmnopqrstuvw');
our @S = ('AKIASTATICKEY0000001', 'staticSecret/abcdefghijklmnopqrstuvwxyz1',
          'static-session-token-01');

our $ContainerToken = 'container-auth-token-secret-0001';
our $WebToken = 'eyJhbGciOi.webidentity-jwt-secret-0001.sig';
our $Bearer = 'bearer-api-key-secret-0001';
our $RoleArn = 'arn:aws:iam::123456789012:role/agent';

our @Secrets = ((map { @$_[1, 2] } @K), $P[1], @S[1, 2], $ContainerToken,
                $WebToken, $Bearer, 'IMDSTOKEN-');

our ($CS, $Files, $EmuLog);

# the module passes every variable the chain reads to the workers: none
# from the test's own environment (AgentCore::Test's keys, the shell's)
# may reach them, a block sets what it uses with "env NAME=VALUE"
delete $ENV{$_} for grep { /^AWS_/ } keys %ENV;

$Files = tempdir('agentcore-010-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Files;
$ENV{TEST_NGINX_FILES} = $Files;
$EmuLog = "$Files/emulator.log";

$CS = AgentCore::Creds->start;
$ENV{TEST_NGINX_CREDS_PORT} = $CS->port;
$ENV{TEST_NGINX_CREDS_DIR} = $CS->dir;
chmod 0755, $CS->dir;

$ENV{TEST_NGINX_CREDS_BEDROCK_PORT} = start_emulator(
    keys => [(map { join ':', @$_ } @K), join(':', @P), join(':', @S)],
    bearer => [$Bearer], log => $EmuLog);

sub write_file {
    my ($name, $text) = @_;

    open(my $fh, '>', "$Files/$name") or die "$Files/$name: $!\n";
    print $fh $text;
    close $fh;
    chmod 0644, "$Files/$name";
}

write_file('credentials', <<"_EOF_");
# the shared credentials file
[default]
aws_access_key_id = AKIAIGNOREDDEFAULT01
aws_secret_access_key = ignoredDefaultSecret/abcdefghijklmnopqr

[dev]
aws_access_key_id     = $P[0]
aws_secret_access_key = $P[1]
_EOF_

write_file('config', <<"_EOF_");
[default]
region = us-east-1

[profile agent]
region = us-east-1
aws_access_key_id = $P[0]
aws_secret_access_key = $P[1]

[profile proc]
credential_process = /usr/local/bin/get-credentials

[profile irsa]
role_arn = $RoleArn
web_identity_token_file = $Files/web-token
role_session_name = profile-session
_EOF_

write_file('web-token', "$WebToken\n");
write_file('container-token', "$ContainerToken\n");

our $HttpConfig = <<'_EOC_';
upstream bedrock {
    server 127.0.0.1:$TEST_NGINX_CREDS_BEDROCK_PORT;
    keepalive 8;
}
_EOC_

# the invocation location, the model location, and two files to read
our $Config = $AgentCore::Test::Config . <<'_EOC_';
location = /standin-log {
    alias $TEST_NGINX_CREDS_DIR/log;
    default_type text/plain;
}

location = /report {
    alias $TEST_NGINX_FILES/report;
    default_type text/plain;
}
_EOC_

# "env NAME=VALUE;" lines
sub env_lines {
    my (%e) = @_;
    return join '', map { "env $_=$e{$_};\n" } sort keys %e;
}

our %Hermetic = (
    AWS_EC2_METADATA_DISABLED   => 'true',
    AWS_SHARED_CREDENTIALS_FILE => "$Files/no-such-file",
    AWS_CONFIG_FILE             => "$Files/no-such-file",
);

sub preprocess {
    my ($block) = @_;
    my ($main, @pats, $nel);

    # the stand-in's log of the whole suite, for the last look
    if (open(my $all, '>>', "$Files/standin-all.log")) {
        print $all $CS->log;
        close $all;
    }

    # preprocessors run before the runner stops the previous block's
    # nginx: stopped here first, so that none of its fetches (a retry of
    # a hanging source, a refresh) gets an answer of this block's state
    # and takes its first keys
    stop_previous();

    $CS->reset;

    if (defined(my $code = $block->creds_setup)) {
        eval "package main; $code; 1"
            or die $block->name . " - creds_setup failed: $@";
    }

    $main = $block->main_config // '';

    for my $var (sort keys %Hermetic) {
        my $stem = $var =~ /^AWS_EC2_METADATA/ ? 'AWS_EC2_METADATA' : $var;
        $main .= "env $var=$Hermetic{$var};\n" unless $main =~ /\Q$stem\E/;
    }

    $block->set_value('main_config', $main);
    $block->set_value('http_config', $HttpConfig)
        unless defined $block->http_config;
    $block->set_value('config', $Config) unless defined $block->config;

    $nel = $block->no_error_log;
    @pats = !defined $nel ? ()
            : ref $nel eq 'ARRAY' ? @$nel
            : ref $nel ? ($nel)
            : grep { length } split /\n+/, $nel;

    $block->set_value('no_error_log', [@pats, @Secrets]);
}

sub stop_previous {
    my $pidfile = Test::Nginx::Util::server_root() . '/logs/nginx.pid';
    my ($pid, $deadline);

    open(my $fh, '<', $pidfile) or return;
    $pid = (<$fh> // '') =~ /(\d+)/ ? $1 : return;
    close $fh;

    return if !kill 0, $pid;

    kill QUIT => $pid;
    $deadline = time + 30;

    # a master we did not fork is reaped by init: gone when kill 0 fails;
    # the runner's own child (valgrind) is reaped by the runner, later
    while (kill 0, $pid) {
        last if (do { open(my $st, '<', "/proc/$pid/stat"); <$st> // '' })
                =~ /^\d+ \(.*\) Z /;
        if (time > $deadline) {
            kill KILL => $pid;
            last;
        }
        select undef, undef, undef, 0.02;
    }
}

# a report for /report: one line per fact
sub report {
    my (@lines) = @_;
    write_file('report', join('', map { "$_\n" } @lines));
}

# the emulator's log lines from now on: call mark() first
my $emu_pos = 0;

sub mark {
    $emu_pos = -s $EmuLog // 0;
}

sub emulator_lines {
    my $size = -1;

    # the emulator logs a request once it has answered: let it write
    while ($size != (-s $EmuLog // 0)) {
        $size = -s $EmuLog // 0;
        select(undef, undef, undef, 0.2);
    }

    open(my $fh, '<', $EmuLog) or return ();
    seek($fh, $emu_pos, 0);
    local $/;
    my $t = <$fh> // '';
    return split /\n/, $t;
}

# the access key ids that signed the requests the emulator accepted
sub signers {
    my %seen;
    my @order;

    for (emulator_lines()) {
        next unless m{ 200 auth=sigv4:(\S+)};
        push @order, $1 unless $seen{$1}++;
    }

    return @order;
}

1;
