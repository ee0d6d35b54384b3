package AgentCore::Mcp;

# Starts the MCP test server (emulator/mcp-test-server.py) for a suite.
#
#   use AgentCore::Mcp;
#   my $port = AgentCore::Mcp::start(name => 'a', page_size => 3);
#   my $port = AgentCore::Mcp::start(sdk => 1, json => 1);  # the SDK's
#
# The server stops with the suite (it also watches its parent).

use strict;
use warnings;

use File::Basename qw(dirname);
use File::Spec;
use Cwd qw(abs_path);

my $ROOT = abs_path(File::Spec->catdir(dirname(abs_path(__FILE__)),
                                       File::Spec->updir, File::Spec->updir,
                                       File::Spec->updir));
my $SCRIPT = File::Spec->catfile($ROOT, 'emulator', 'mcp-test-server.py');
my $SDK_SCRIPT = File::Spec->catfile($ROOT, 't', 'lib', 'mcp-sdk-server.py');

# whether the official SDK (PyPI "mcp" 2.x, with uvicorn) is installed
sub have_sdk {
    return system('python3', '-c',
                  'import mcp.server.mcpserver, uvicorn') == 0;
}

my %RUNNING;

sub start {
    my (%o) = @_;
    my ($fh, $pid, $line, $ok, @cmd);

    if ($o{sdk}) {
        # the official SDK's server (t/lib/mcp-sdk-server.py)
        @cmd = ('python3', $SDK_SCRIPT, '--parent', $$);
        push @cmd, '--json' if $o{json};

    } else {
        @cmd = ('/usr/bin/python3', $SCRIPT, '--listen', '127.0.0.1:0',
                '--parent', $$, '--name', $o{name} // 'mcp',
                '--page-size', $o{page_size} // 3);

        push @cmd, '--log', $o{log} if defined $o{log};
        push @cmd, '--list-delay-ms', $o{list_delay_ms}
            if $o{list_delay_ms};
        # as AgentCore Gateway: SigV4 checked (emulator/mcp-test-server.py)
        push @cmd, '--sigv4', $o{sigv4} if defined $o{sigv4};
        push @cmd, '--sigv4-region', $o{sigv4_region}
            if defined $o{sigv4_region};
        push @cmd, '--sigv4-token', $o{sigv4_token}
            if defined $o{sigv4_token};
        push @cmd, '--bearer', $o{bearer} if defined $o{bearer};
        # an OAuth token endpoint too (client credentials)
        push @cmd, '--oauth', $o{oauth} if defined $o{oauth};
    }

    $pid = open($fh, '-|', @cmd) or die "AgentCore::Mcp: cannot run: $!\n";

    $ok = eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm(15);
        while (defined($line = <$fh>) && $line !~ /^READY \d+$/) { }
        alarm(0);
        1;
    };
    alarm(0);

    if (!$ok || !defined $line || $line !~ /^READY (\d+)$/) {
        kill 'TERM', $pid;
        waitpid($pid, 0);
        die "AgentCore::Mcp: the server did not become ready\n";
    }

    $RUNNING{$pid} = [$$, $fh];
    return wantarray ? ($1 + 0, $pid) : $1 + 0;
}

sub stop {
    my ($pid) = @_;
    my $r = delete $RUNNING{$pid} or return;

    kill 'TERM', $pid;
    waitpid($pid, 0);
    close $r->[1];
}

END {
    my $status = $?;

    for my $pid (keys %RUNNING) {
        next unless $RUNNING{$pid}[0] == $$;
        stop($pid);
    }
    $? = $status;
}

1;
