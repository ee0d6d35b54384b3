#!/usr/bin/env bash
# make test-container: the AgentCore image's content without a container
# engine.  The Dockerfile's configuration template and entrypoint, run on
# this machine against the installed libnginx-mod-http-agentcore package
# and the stock nginx: the module loads through modules-enabled, the
# params come from /etc/nginx, credentials come from the instance
# metadata endpoint (as on AgentCore Runtime: a local IMDS stand-in,
# t/lib/AgentCore/Creds.pm), the model is the emulator; /ping answers,
# /invocations streams, a session remembers, the logs go to stdout and
# stderr.
#
#   PORT  the port (default 21681; the image uses 8080)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PORT=${PORT:-21681}
WORK=$ROOT/build/container-test
rm -rf "$WORK" && mkdir -p "$WORK"
pass=0
ok()   { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() { echo "not ok - $*"; [ -f "$WORK/stderr" ] && tail -20 "$WORK/stderr"; exit 1; }

# the answers must come from the nginx started here
if (exec 5<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    fail "port $PORT is in use (set PORT)"
fi
# the Dockerfile installs these two files and runs that entrypoint
grep -q '^COPY conf/agentcore-runtime.conf /etc/nginx/agentcore-runtime.conf.template$' Dockerfile \
    || fail "Dockerfile does not install conf/agentcore-runtime.conf"
grep -q '^COPY conf/docker-entrypoint.sh /usr/local/bin/agentcore-entrypoint$' Dockerfile \
    || fail "Dockerfile does not install conf/docker-entrypoint.sh"
grep -q '^ENTRYPOINT \["/usr/local/bin/agentcore-entrypoint"\]$' Dockerfile \
    || fail "Dockerfile's ENTRYPOINT"
grep -q '^EXPOSE 8080$' Dockerfile || fail "Dockerfile does not expose 8080"
grep -q '^FROM debian:bookworm-slim' Dockerfile || fail "Dockerfile's base"
ok "Dockerfile: bookworm-slim, the template, the entrypoint, port 8080"

dpkg-query -W -f='${Status}' libnginx-mod-http-agentcore 2>/dev/null \
    | grep -q 'install ok installed' \
    || fail "libnginx-mod-http-agentcore is not installed (make test-deb)"
[ -L /etc/nginx/modules-enabled/50-mod-http-agentcore.conf ] \
    || fail "the package's modules-enabled symlink"
ok "libnginx-mod-http-agentcore $(dpkg-query -W -f='${Version}' libnginx-mod-http-agentcore) installed, enabled"

# no keys in the environment: the chain ends at IMDS, as on AgentCore
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
      AWS_BEARER_TOKEN_BEDROCK AWS_PROFILE AWS_WEB_IDENTITY_TOKEN_FILE \
      AWS_ROLE_ARN AWS_CONTAINER_CREDENTIALS_FULL_URI \
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI NGINX
export HOME=$WORK      # no ~/.aws
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

exec 3< <(exec perl -It/lib -MAgentCore::Creds -e '$| = 1;
    my $cs = AgentCore::Creds->start(dir => $ARGV[0]);
    print "READY ", $cs->port, "\n"; $SIG{TERM} = sub { exit 0 };
    sleep 1 while 1;' "$WORK/imds")
pids+=($!)
read -r ready imds_port <&3
[ "$ready" = READY ] || fail "IMDS stand-in did not start"
read -r akid secret token < <(perl -It/lib -MAgentCore::Creds \
    -e 'print "@{$AgentCore::Creds::DEFAULT_KEYS[0]}\n"')

exec 4< <(exec perl emulator/bedrock-emulator.pl --listen 127.0.0.1:0 \
    --quiet --key "$akid:$secret:$token" --log "$WORK/emulator.log")
pids+=($!)
read -r ready emu_port <&4
[ "$ready" = READY ] || fail "emulator did not start"

# the image's environment, plus where this machine keeps things
AWS_REGION=us-west-2 \
AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$imds_port \
AGENTCORE_PORT=$PORT AGENTCORE_BEDROCK_URL=http://127.0.0.1:$emu_port \
AGENTCORE_LOG_LEVEL=info \
AGENTCORE_TEMPLATE=$ROOT/conf/agentcore-runtime.conf \
AGENTCORE_CONF=$WORK/run/nginx.conf \
    conf/docker-entrypoint.sh > "$WORK/stdout" 2> "$WORK/stderr" &
ngx=$!
pids+=($ngx)

for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/ping" > "$WORK/ping" 2>/dev/null && break
    kill -0 "$ngx" 2>/dev/null || fail "the entrypoint exited"
    sleep 0.1
done
grep -q '"status":"Healthy"' "$WORK/ping" || fail "ping: $(cat "$WORK/ping")"
# exec: the entrypoint's pid is nginx's master now
[ "$(readlink /proc/$ngx/exe)" = /usr/sbin/nginx ] \
    || fail "the entrypoint did not exec nginx"
grep -q "listen  $PORT;" "$WORK/run/nginx.conf" || fail "port not set"
grep -q 'load_module modules/ngx_http_agentcore_module.so;' \
    /usr/share/nginx/modules-available/mod-http-agentcore.conf \
    || fail "the package's load_module line"
ok "entrypoint: nginx (pid $ngx, the entrypoint's own) answers GET /ping"

S=container-test-session-000000000000000001
curl -sN "http://127.0.0.1:$PORT/invocations" -D "$WORK/head" \
    -H "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $S" \
    -d '{"prompt":"My name is Ada"}' > "$WORK/body"
grep -qi '^content-type: text/event-stream' "$WORK/head" \
    || fail "head: $(cat "$WORK/head")"
grep -q '^data: "' "$WORK/body" || fail "body: $(cat "$WORK/body")"
ok "POST /invocations streams with the role's credentials (IMDS)"

curl -sN "http://127.0.0.1:$PORT/invocations" \
    -H "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id: $S" \
    -d '{"prompt":"[[echo]]"}' > "$WORK/body2"
grep -q 'My name is Ada' "$WORK/body2" || fail "session: $(cat "$WORK/body2")"
ok "the session remembers (agentcore_session_zone)"

grep -q "GET role-credentials 200 token $akid" "$WORK/imds/log" \
    || fail "no IMDS fetch: $(cat "$WORK/imds/log")"
grep -q "$akid" "$WORK/emulator.log" 2>/dev/null \
    || fail "the emulator did not see the IMDS key"
ok "the credentials came from IMDS ($akid)"

grep -q '"POST /invocations HTTP/1.1" 200' "$WORK/stdout" \
    || fail "access log not on stdout: $(cat "$WORK/stdout")"
grep -q 'agentcore: nginx on port' "$WORK/stderr" \
    || fail "stderr: $(cat "$WORK/stderr")"
grep -q '\[notice\].*start worker process' "$WORK/stderr" \
    || fail "error_log not on stderr: $(cat "$WORK/stderr")"
! grep -q "$secret\|$token" "$WORK/stdout" "$WORK/stderr" \
    || fail "a secret reached the logs"
ok "access log on stdout, error log on stderr, no secret in either"

kill -QUIT "$ngx"; wait "$ngx" || true
echo "1..$pass"
