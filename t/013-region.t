# The region and the Bedrock host when the configuration leaves them out:
# the default region (AWS_REGION, AWS_DEFAULT_REGION, else us-west-2)
# must reach the SigV4 scope and the Host intact, also across a reload.
# The emulator recomputes every signature and refuses a scope whose
# region is not the Host's (or is no region name), so a 200 with the
# expected scope and Host proves what real Bedrock would accept.  The
# shared set-up always sets agentcore_region: these blocks do not.

use lib 't/lib';
use AgentCore::Test;
use Test::Nginx::Socket 'no_plan';

master_on();
workers(1);

# "--- region_env": the AWS_REGION / AWS_DEFAULT_REGION nginx starts with
# (NAME=VALUE lines); none unless given
add_block_preprocessor(sub {
    my $block = shift;

    delete @ENV{qw(AWS_REGION AWS_DEFAULT_REGION)};

    for my $line (split /\n/, $block->region_env // '') {
        my ($k, $v) = $line =~ /^(\w+)=(.*)$/ or next;
        $ENV{$k} = $v;
    }

    AgentCore::Test::defaults($block);
});

our $Config = <<'_EOC_' . $AgentCore::Test::ModelLocation;
agentcore_model_location /_agentcore/bedrock;

location = /invocations {
    agentcore;
}
_EOC_

# what reached the emulator, from [[echo-headers]]: the signature's scope
# (the date as DATE) and the Host; anything else is shown as it is
sub scope {
    my $text = AgentCore::Test::sse_text(shift);
    my ($cred) = $text =~ m{Credential=([^,\n\\]*), SignedHeaders=};
    my ($host) = $text =~ m{(?:^|\n)host: ([^\n]*)\n};

    return "unexpected: $text" unless defined $cred && defined $host;

    $cred =~ s{^(AKIDEXAMPLE)/\d{8}/}{$1/DATE/};
    return "$cred $host";
}

sub pid_file {
    return $Test::Nginx::Util::PidFile
           // "$ENV{TEST_NGINX_SERVROOT}/logs/nginx.pid";
}

sub children {
    my $ppid = shift;
    my @kids;

    for my $stat (glob "/proc/[0-9]*/stat") {
        open(my $fh, '<', $stat) or next;
        my $s = <$fh> // '';
        push @kids, $1 if $s =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $ppid;
    }

    return @kids;
}

sub await {
    my ($cond, $what) = @_;
    my $deadline = time + 10;

    until ($cond->()) {
        die "timed out waiting for $what\n" if time > $deadline;
        select(undef, undef, undef, 0.02);
    }
}

# "nginx -s reload", then wait until the old worker is gone
sub reload {
    open(my $fh, '<', pid_file()) or die "pid: $!";
    my $master = (<$fh> // '') =~ /(\d+)/ ? $1 : die "no pid";
    my @old = children($master);

    kill HUP => $master or die "HUP: $!";

    await(sub { !grep { kill 0, $_ } @old }, "the old worker to exit");
    await(sub { children($master) >= 1 }, "the new worker");

    return " reloaded";
}

no_shuffle();
run_tests();

__DATA__

=== TEST 1: no region anywhere: us-west-2 in the scope and the Host
--- config eval: $main::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval: \&main::scope
--- response_body chomp
AKIDEXAMPLE/DATE/us-west-2/bedrock/aws4_request bedrock-runtime.us-west-2.amazonaws.com
--- no_error_log
[error]



=== TEST 2: AWS_REGION in nginx's environment, no env directive
--- region_env
AWS_REGION=eu-central-1
--- config eval: $main::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval: \&main::scope
--- response_body chomp
AKIDEXAMPLE/DATE/eu-central-1/bedrock/aws4_request bedrock-runtime.eu-central-1.amazonaws.com
--- no_error_log
[error]



=== TEST 3: AWS_DEFAULT_REGION when AWS_REGION is unset
--- region_env
AWS_DEFAULT_REGION=ap-southeast-2
--- config eval: $main::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval: \&main::scope
--- response_body chomp
AKIDEXAMPLE/DATE/ap-southeast-2/bedrock/aws4_request bedrock-runtime.ap-southeast-2.amazonaws.com
--- no_error_log
[error]



=== TEST 4: "env AWS_REGION=..." (what the workers see) wins over the master's
--- region_env
AWS_REGION=eu-central-1
--- main_config eval
$AgentCore::Test::MainConfig . "env AWS_REGION=eu-west-3;\n"
--- config eval: $main::Config
--- request eval
AgentCore::Test::invoke('[[echo-headers]]')
--- response_body_filters eval: \&main::scope
--- response_body chomp
AKIDEXAMPLE/DATE/eu-west-3/bedrock/aws4_request bedrock-runtime.eu-west-3.amazonaws.com
--- no_error_log
[error]



=== TEST 5: the default region across nginx -s reload
--- skip_eval: 4: $ENV{TEST_NGINX_USE_VALGRIND}
--- config eval: $main::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[deltas texts=["ok"]]]')]
--- response_body_filters eval
sub {
    my $body = shift;
    return $body if $body =~ /^data: "ok"/;
    return main::scope($body) . main::reload();
}
--- response_body eval
["AKIDEXAMPLE/DATE/us-west-2/bedrock/aws4_request bedrock-runtime.us-west-2.amazonaws.com reloaded",
 "AKIDEXAMPLE/DATE/us-west-2/bedrock/aws4_request bedrock-runtime.us-west-2.amazonaws.com reloaded",
 qq{data: "ok"\n\n}]
--- no_error_log
[error]



=== TEST 6: AWS_REGION across nginx -s reload
--- skip_eval: 4: $ENV{TEST_NGINX_USE_VALGRIND}
--- region_env
AWS_REGION=eu-central-1
--- config eval: $main::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[deltas texts=["ok"]]]')]
--- response_body_filters eval
sub {
    my $body = shift;
    return $body if $body =~ /^data: "ok"/;
    return main::scope($body) . main::reload();
}
--- response_body eval
["AKIDEXAMPLE/DATE/eu-central-1/bedrock/aws4_request bedrock-runtime.eu-central-1.amazonaws.com reloaded",
 "AKIDEXAMPLE/DATE/eu-central-1/bedrock/aws4_request bedrock-runtime.eu-central-1.amazonaws.com reloaded",
 qq{data: "ok"\n\n}]
--- no_error_log
[error]



=== TEST 7: a region that is no region name is refused by nginx -t
--- config eval
"agentcore_region \"us-west-2 \";\n" . $main::Config
--- must_die
--- error_log
"agentcore_region" directive is not a region name



=== TEST 8: so is such an AWS_REGION
--- region_env
AWS_REGION=us-west-2/x
--- config eval: $main::Config
--- must_die
--- error_log
agentcore: AWS_REGION "us-west-2/x" is not a region name



=== TEST 9: a location's own region gets its own host
agentcore_region at the server level, another in one location: each
location signs for its region and sends that region's host.
--- config eval
"agentcore_region us-east-1;\n"
. "location = /eu { agentcore; agentcore_region eu-west-1; }\n"
. "location /nested/ { agentcore_region ap-northeast-1;\n"
. "    location = /nested/in { agentcore; } }\n"
. $main::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[echo-headers]]', '/eu'),
 AgentCore::Test::invoke('[[echo-headers]]', '/nested/in')]
--- response_body_filters eval: \&main::scope
--- response_body eval
["AKIDEXAMPLE/DATE/us-east-1/bedrock/aws4_request bedrock-runtime.us-east-1.amazonaws.com",
 "AKIDEXAMPLE/DATE/eu-west-1/bedrock/aws4_request bedrock-runtime.eu-west-1.amazonaws.com",
 "AKIDEXAMPLE/DATE/ap-northeast-1/bedrock/aws4_request bedrock-runtime.ap-northeast-1.amazonaws.com"]
--- no_error_log
[error]



=== TEST 10: the region from the environment, a location's own region
--- region_env
AWS_REGION=eu-central-1
--- config eval
"location = /us { agentcore; agentcore_region us-east-2; }\n"
. $main::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[echo-headers]]', '/us')]
--- response_body_filters eval: \&main::scope
--- response_body eval
["AKIDEXAMPLE/DATE/eu-central-1/bedrock/aws4_request bedrock-runtime.eu-central-1.amazonaws.com",
 "AKIDEXAMPLE/DATE/us-east-2/bedrock/aws4_request bedrock-runtime.us-east-2.amazonaws.com"]
--- no_error_log
[error]



=== TEST 11: an explicit agentcore_host is inherited as it is
Set at the server level it stays with a location's own region; set in a
location it stays with the inherited region.
--- config eval
"agentcore_region us-east-1;\n"
. "agentcore_host bedrock.vpce.example;\n"
. "location = /eu { agentcore; agentcore_region eu-west-1; }\n"
. "location = /fips { agentcore;\n"
. "    agentcore_host bedrock-runtime-fips.us-east-1.amazonaws.com; }\n"
. $main::Config
--- request eval
[AgentCore::Test::invoke('[[echo-headers]]'),
 AgentCore::Test::invoke('[[echo-headers]]', '/eu'),
 AgentCore::Test::invoke('[[echo-headers]]', '/fips')]
--- response_body_filters eval: \&main::scope
--- response_body eval
["AKIDEXAMPLE/DATE/us-east-1/bedrock/aws4_request bedrock.vpce.example",
 "AKIDEXAMPLE/DATE/eu-west-1/bedrock/aws4_request bedrock.vpce.example",
 "AKIDEXAMPLE/DATE/us-east-1/bedrock/aws4_request bedrock-runtime-fips.us-east-1.amazonaws.com"]
--- no_error_log
[error]
