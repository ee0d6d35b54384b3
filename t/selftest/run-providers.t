# `make run` with AGENTCORE_PROVIDER=openai or anthropic: the bundled emulator as an
# OpenAI-compatible server, or the one AGENTCORE_MODEL_URL names (its
# base URL: the module posts to .../chat/completions) with the key of
# OPENAI_API_KEY, which reaches neither nginx.conf nor a log.

use strict;
use warnings;

use Test::More;
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Cwd qw(abs_path);
use IO::Socket::INET;
use lib dirname(abs_path(__FILE__)) . '/lib';
use lib dirname(abs_path(__FILE__)) . '/../lib';
use RunScript qw(free_port start_run wait_ready stop_run slurp $ROOT);
use AgentCore::Emulator qw(-nostart start_emulator stop_emulator);

my $dir = tempdir('agentcore-run-openai-XXXXXX', TMPDIR => 1, CLEANUP => 1);

delete $ENV{OPENAI_API_KEY};

sub invoke {
    my ($port, $prompt) = @_;
    my $body = qq{{"prompt":"$prompt"}};
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return '';
    print $s "POST /invocations HTTP/1.0\r\nHost: localhost\r\n"
        . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
    local $/;
    return <$s> // '';
}

# the bundled emulator, as an OpenAI-compatible server
my $p = free_port();
my $a = start_run("$dir/a.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'openai');
ok(wait_ready($a, "$dir/a.out", '127.0.0.1', $p), "openai run on $p is up")
    or diag(slurp("$dir/a.out"));
like(slurp("$dir/a.out"), qr/\(model llama3\.2\)/, '... llama3.2 by default');
my $conf = slurp("$ROOT/build/run-$p/conf/nginx.conf");
like($conf, qr/agentcore_provider\s+openai;/, '... agentcore_provider openai');
like($conf, qr{proxy_pass\s+http://bedrock/v1/chat/completions;},
     '... to /v1/chat/completions');
like(invoke($p, 'Hello there'), qr{data: " there"\n\n\z}, 'a text answer');
like(invoke($p, '[[tool name=calculator input={\"expression\":\"6*7\"}]]'),
     qr{data: " 42"\n\n\z}, 'a calculator cycle');
is(stop_run($a, 30), 0, 'stops on TERM');

# AGENTCORE_MODEL_URL (the base URL) and OPENAI_API_KEY
my ($eport, $epid) = start_emulator(bearer => ['sk-selftest-key']);
$p = free_port();
my $b = start_run("$dir/b.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'openai',
                  AGENTCORE_MODEL_URL => "http://127.0.0.1:$eport/v1",
                  AGENTCORE_MODEL => 'qwen2.5',
                  OPENAI_API_KEY => 'sk-selftest-key');
ok(wait_ready($b, "$dir/b.out", '127.0.0.1', $p),
   "run with AGENTCORE_MODEL_URL on $p is up") or diag(slurp("$dir/b.out"));
like(slurp("$dir/b.out"),
     qr{OpenAI-compatible endpoint http://127\.0\.0\.1:$eport/v1/chat/completions, model qwen2\.5},
     '... says where it posts');
like(invoke($p, 'Hello key'), qr{data: " key"\n\n\z},
     'the key is accepted');
is((stat "$ROOT/build/run-$p/conf/model.key")[2] & 0777, 0600,
   '... kept in a 0600 file');
my $all = slurp("$ROOT/build/run-$p/conf/nginx.conf") . slurp("$dir/b.out")
          . join('', map { slurp($_) } glob "$ROOT/build/run-$p/logs/*");
unlike($all, qr/sk-selftest-key/, '... and in no configuration or log');
is(stop_run($b, 30), 0, 'stops on TERM');

# no key: the server's 401 as a stream_error
$p = free_port();
my $c = start_run("$dir/c.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'openai',
                  AGENTCORE_MODEL_URL => "http://127.0.0.1:$eport/v1/");
ok(wait_ready($c, "$dir/c.out", '127.0.0.1', $p), "run without a key is up")
    or diag(slurp("$dir/c.out"));
like(invoke($p, 'Hello'), qr/Incorrect API key provided/,
     'the server refuses it');
is(stop_run($c, 30), 0, 'stops on TERM');
stop_emulator($epid);

# AGENTCORE_PROVIDER=anthropic: the emulator's Messages API, then one
# AGENTCORE_MODEL_URL names with ANTHROPIC_API_KEY (sent as x-api-key)
$p = free_port();
my $f = start_run("$dir/f.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'anthropic');
ok(wait_ready($f, "$dir/f.out", '127.0.0.1', $p), "anthropic run on $p is up")
    or diag(slurp("$dir/f.out"));
like(slurp("$ROOT/build/run-$p/conf/nginx.conf"),
     qr{proxy_pass\s+http://bedrock/v1/messages;}, '... to /v1/messages');
like(invoke($p, '[[tool name=calculator input={\"expression\":\"6*7\"}]]'),
     qr{data: " 42"\n\n\z}, 'a calculator cycle');
is(stop_run($f, 30), 0, 'stops on TERM');

($eport, $epid) = start_emulator(bearer => ['sk-ant-selftest']);
$p = free_port();
my $g = start_run("$dir/g.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'anthropic',
                  AGENTCORE_MODEL_URL => "http://127.0.0.1:$eport",
                  ANTHROPIC_API_KEY => 'sk-ant-selftest');
ok(wait_ready($g, "$dir/g.out", '127.0.0.1', $p),
   "anthropic run with AGENTCORE_MODEL_URL on $p is up")
    or diag(slurp("$dir/g.out"));
like(slurp("$dir/g.out"),
     qr{Anthropic Messages API http://127\.0\.0\.1:$eport/v1/messages, model claude-sonnet-4-5},
     '... says where it posts');
like(invoke($p, 'Hello key'), qr{data: " key"\n\n\z}, 'the key is accepted');
$all = slurp("$ROOT/build/run-$p/conf/nginx.conf") . slurp("$dir/g.out")
       . join('', map { slurp($_) } glob "$ROOT/build/run-$p/logs/*");
unlike($all, qr/sk-ant-selftest/, '... and in no configuration or log');
is(stop_run($g, 30), 0, 'stops on TERM');
stop_emulator($epid);

# refused before anything starts
$p = free_port();
my $d = start_run("$dir/d.out", AGENTCORE_PORT => $p,
                  AGENTCORE_PROVIDER => 'gemini');
isnt(stop_run($d, 30, 'wait'), 0, 'an unknown provider is refused');
like(slurp("$dir/d.out"), qr/AGENTCORE_PROVIDER=gemini: want bedrock, openai or anthropic/,
     '... saying why');
$d = start_run("$dir/e.out", AGENTCORE_PORT => $p,
               AGENTCORE_PROVIDER => 'openai',
               AGENTCORE_MODEL_URL => 'ftp://x');
isnt(stop_run($d, 30, 'wait'), 0, 'a bad AGENTCORE_MODEL_URL is refused');

done_testing();
