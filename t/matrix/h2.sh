#!/usr/bin/env bash
# An invocation over HTTP/2 (h2c, prior knowledge), for one nginx of the
# matrix: from 1.31.0 nginx refuses hop-by-hop header lines (Connection,
# Keep-Alive, Transfer-Encoding, Upgrade, ...) on HTTP/2 and HTTP/3, so
# the SSE response must carry none, whatever the version; it still
# streams event by event, and a tool subrequest (calculator) and the
# model subrequest work under an HTTP/2 main request.
#
#   h2.sh NGINX_BIN MODULE_SO PORT WORKDIR
#
# MODULE_SO empty: the module is built into NGINX_BIN (make test-asan)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
NGINX_BIN=$1 MODULE_SO=$2 PORT=$3 WORK=$4
cd "$ROOT"
unset NGINX
fail() { echo "not ok - h2: $*"; exit 1; }

rm -rf "$WORK" && mkdir -p "$WORK/logs"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
unset AWS_SESSION_TOKEN AWS_BEARER_TOKEN_BEDROCK
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
exec 3< <(exec perl emulator/bedrock-emulator.pl --listen 127.0.0.1:0 --quiet)
pids+=($!)
read -r ready emu_port <&3
[ "$ready" = READY ] || fail "emulator did not start"

cat > "$WORK/nginx.conf" <<CONF
${MODULE_SO:+load_module $MODULE_SO;}
env AWS_ACCESS_KEY_ID;
env AWS_SECRET_ACCESS_KEY;
daemon off;
master_process off;
error_log logs/error.log info;
pid logs/nginx.pid;
events {}
http {
    access_log off;
    upstream bedrock { server 127.0.0.1:$emu_port; keepalive 4; }
    server {
        listen 127.0.0.1:$PORT http2;
        agentcore_credentials env;
        agentcore_model_location /_agentcore/bedrock;
        agentcore_tools calculator;
        location = /invocations { agentcore; }
        location = /_agentcore/bedrock {
            internal;
            include $ROOT/conf/agentcore_bedrock_params;
            proxy_pass http://bedrock\$agentcore_bedrock_path;
        }
    }
}
CONF
"$NGINX_BIN" -p "$WORK/" -c "$WORK/nginx.conf" 2> "$WORK/stderr" &
pids+=($!)
for _ in $(seq 100); do
    curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$PORT/" \
        && break
    sleep 0.1
done

for prompt in Hello 'How much is 2+1'; do
    curl -sN --http2-prior-knowledge -D "$WORK/head" \
        "http://127.0.0.1:$PORT/invocations" \
        -H 'Content-Type: application/json' \
        -d "{\"prompt\":\"$prompt\"}" > "$WORK/body" \
        || fail "curl: $(cat "$WORK/stderr" "$WORK/logs/error.log")"
    head -1 "$WORK/head" | grep -q '^HTTP/2 200' || fail "$(cat "$WORK/head")"
    grep -qi '^content-type: text/event-stream' "$WORK/head" \
        || fail "$(cat "$WORK/head")"
    if grep -Ei '^(connection|keep-alive|proxy-connection|transfer-encoding|upgrade|te):' \
        "$WORK/head"; then
        fail "a hop-by-hop header on HTTP/2"
    fi
    text=$(sed -n 's/^data: "\(.*\)"$/\1/p' "$WORK/body" | tr -d '\n')
    case "$prompt" in
        Hello) [ "$text" = 'Hello! You said: Hello' ] || fail "body: $text" ;;
        *) case "$text" in *'Result: 3.'*) ;; *) fail "body: $text" ;; esac ;;
    esac
done
echo "ok - h2: the SSE response over HTTP/2 streams, no hop-by-hop header, model and tool subrequests"
