#!/usr/bin/env bash
# `make run`: the emulator (unless AGENTCORE_BEDROCK_URL says otherwise)
# and nginx with the module, in the foreground.  Ctrl-C stops both.
set -euo pipefail

ROOT=${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
unset NGINX   # nginx reads inherited sockets from it
MODULE_SO=${MODULE_SO:-$ROOT/build/ngx_http_agentcore_module.so}
PORT=${AGENTCORE_PORT:-8080}
# the model API (docs/providers.md): bedrock, openai (an OpenAI-compatible
# server at AGENTCORE_MODEL_URL, its base URL .../v1) or anthropic (the
# Messages API at AGENTCORE_MODEL_URL, e.g. https://api.anthropic.com)
PROVIDER=${AGENTCORE_PROVIDER:-bedrock}
case "$PROVIDER" in
    bedrock) MODEL=${AGENTCORE_MODEL:-us.anthropic.claude-3-7-sonnet-20250219-v1:0} ;;
    openai) MODEL=${AGENTCORE_MODEL:-llama3.2} ;;
    anthropic) MODEL=${AGENTCORE_MODEL:-claude-sonnet-4-5} ;;
    *) echo "make run: AGENTCORE_PROVIDER=$PROVIDER: want bedrock, openai" \
            "or anthropic" >&2
       exit 1 ;;
esac
MODEL_URL=${AGENTCORE_MODEL_URL:-}
if [ "$PROVIDER" = bedrock ] && [ -n "$MODEL_URL" ]; then
    echo "make run: AGENTCORE_MODEL_URL is for AGENTCORE_PROVIDER=openai" \
         "or anthropic" \
         "(Bedrock: AGENTCORE_BEDROCK_URL)" >&2
    exit 1
fi
if [ -n "$MODEL_URL" ] && [[ ! $MODEL_URL =~ ^https?://[A-Za-z0-9.:_-]+(/[A-Za-z0-9._~/%-]*)?$ ]]; then
    echo "make run: AGENTCORE_MODEL_URL=$MODEL_URL: want the server's base" \
         "URL, e.g. http://127.0.0.1:11434/v1" >&2
    exit 1
fi
if [[ $MODEL =~ [\;\{\}\"\'[:space:]|] ]]; then
    echo "make run: AGENTCORE_MODEL=$MODEL: no spaces, quotes, ;, {, } or |" >&2
    exit 1
fi
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-west-2}}
URL=${AGENTCORE_BEDROCK_URL:-}
# an MCP server whose tools the agent gets (agentcore_mcp), as
# http(s)://HOST[:PORT]/PATH
MCP_URL=${AGENTCORE_MCP_URL:-}
if [ -n "$MCP_URL" ] && [[ ! $MCP_URL =~ ^https?://[A-Za-z0-9.:_-]+(/[A-Za-z0-9._~/%-]*)?$ ]]; then
    echo "make run: AGENTCORE_MCP_URL=$MCP_URL: want" \
         "http://HOST:PORT/mcp or https://HOST/PATH" >&2
    exit 1
fi
# AgentCore Memory as the sessions' store (agentcore_memory): its id,
# the endpoint (default: the emulator when it runs, else the regional
# one) and the actor id
MEMORY_ID=${AGENTCORE_MEMORY_ID:-}
MEMORY_URL=${AGENTCORE_MEMORY_URL:-}
MEMORY_ACTOR=${AGENTCORE_MEMORY_ACTOR:-default}
if [ -n "$MEMORY_ID" ]; then
    if [[ ! $MEMORY_ID =~ ^[A-Za-z0-9._:-]+$ ]] \
       || [[ ! $MEMORY_ACTOR =~ ^[A-Za-z0-9._:-]+$ ]]; then
        echo "make run: AGENTCORE_MEMORY_ID=$MEMORY_ID" \
             "AGENTCORE_MEMORY_ACTOR=$MEMORY_ACTOR: want letters, digits" \
             "and -_.: only" >&2
        exit 1
    fi
    if [ -n "$MEMORY_URL" ] && [[ ! $MEMORY_URL =~ ^https?://[A-Za-z0-9.:_-]+/?$ ]]; then
        echo "make run: AGENTCORE_MEMORY_URL=$MEMORY_URL: want" \
             "http://HOST:PORT or https://HOST" >&2
        exit 1
    fi
fi
# a deployed runtime to relay /invocations to (agentcore_runtime_pass)
ARN=${AGENTCORE_RUNTIME_ARN:-}
if [ -n "$ARN" ]; then
    if [[ ! $ARN =~ ^arn:[a-z-]+:bedrock-agentcore:([a-z0-9-]+):[0-9]{12}:runtime/[A-Za-z0-9_-]+$ ]]; then
        echo "make run: AGENTCORE_RUNTIME_ARN=$ARN: want" \
             "arn:aws:bedrock-agentcore:REGION:ACCOUNT:runtime/ID" >&2
        exit 1
    fi
    ARN_REGION=${BASH_REMATCH[1]}
fi

# where nginx listens: 127.0.0.1 unless AGENTCORE_LISTEN=ADDR[:PORT] says
# otherwise (the emulator's credentials are public; it stays on 127.0.0.1)
ADDR=127.0.0.1
LISTEN=${AGENTCORE_LISTEN:-}
case "$LISTEN" in
    '') ;;
    \[*\]:*) ADDR=${LISTEN%:*}; PORT=${LISTEN##*:} ;;
    \[*\]) ADDR=$LISTEN ;;
    *:*:*) ADDR="[$LISTEN]" ;;
    *:*) ADDR=${LISTEN%:*}; PORT=${LISTEN##*:} ;;
    *) ADDR=$LISTEN ;;
esac
if [[ ! $PORT =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ] \
   || [[ ! $ADDR =~ ^([0-9A-Za-z.*-]+|\[[0-9A-Fa-f:.]+\])$ ]] \
   || [[ $ADDR =~ ^[0-9]+$ ]]; then
    echo "make run: AGENTCORE_LISTEN=$LISTEN AGENTCORE_PORT=$PORT: want" \
         "AGENTCORE_LISTEN=ADDRESS or ADDRESS:PORT (127.0.0.1, [::1]:8080," \
         "0.0.0.0 for every address), AGENTCORE_PORT=1..65535" >&2
    exit 1
fi
case "$ADDR" in
    0.0.0.0|'*'|'[::]') host=localhost; everywhere=1 ;;
    *) host=$ADDR; everywhere= ;;
esac

# each port has its own prefix, held by a lock for as long as this script
# or its nginx runs: a second `make run` on the same port is refused
PREFIX=$ROOT/build/run-$PORT
mkdir -p "$PREFIX"/{conf,logs,tmp}
exec 9>>"$PREFIX/run.lock"
if ! flock -n 9; then
    echo "make run: another make run is using port $PORT ($PREFIX);" \
         "stop it, or choose another port with AGENTCORE_PORT" >&2
    exit 1
fi
emu_pid=
html_dir=

cleanup() {
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
    [ -n "$html_dir" ] && rm -rf "$html_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scheme=http
model_path=/v1/chat/completions
[ "$PROVIDER" = anthropic ] && model_path=/v1/messages
if [ "$PROVIDER" != bedrock ] && [ -n "$MODEL_URL" ]; then
    case "$MODEL_URL" in https://*) scheme=https ;; esac
    server=${MODEL_URL#*://}
    model_path=/${server#*/}
    [ "$model_path" = "/$server" ] && model_path=/
    server=${server%%/*}
    case "$server" in *:*) ;; *)
        [ $scheme = https ] && server=$server:443 || server=$server:80 ;;
    esac
    if [ "$PROVIDER" = openai ]; then
        # the base URL: the module posts to .../chat/completions
        model_path=${model_path%/}/chat/completions
        echo "OpenAI-compatible endpoint $scheme://$server$model_path, model $MODEL"
    else
        # the API's root: the module posts to /v1/messages
        model_path=${model_path%/}
        model_path=${model_path%/v1}/v1/messages
        echo "Anthropic Messages API $scheme://$server$model_path, model $MODEL"
    fi
elif [ -z "$URL" ]; then
    # the bundled emulator, signed with AWS's published example key
    export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
    export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
    unset AWS_SESSION_TOKEN AWS_BEARER_TOKEN_BEDROCK
    coproc EMU { exec perl "$ROOT/emulator/bedrock-emulator.pl" \
        --listen 127.0.0.1:0 --delay-ms "${AGENTCORE_EMULATOR_DELAY_MS:-60}"; }
    emu_pid=$EMU_PID
    read -r ready emu_port <&"${EMU[0]}"
    [ "$ready" = READY ] || { echo "emulator did not start" >&2; exit 1; }
    server=127.0.0.1:$emu_port
    echo "Bedrock emulator on $server"
elif [ "$URL" = aws ] && [ -n "$ARN" ]; then
    scheme=https
    server=bedrock-agentcore.$ARN_REGION.amazonaws.com:443
    echo "AgentCore in $ARN_REGION (credentials: the AWS SDKs' chain)"
elif [ "$URL" = aws ]; then
    scheme=https
    server=bedrock-runtime.$REGION.amazonaws.com:443
    echo "Bedrock in $REGION (credentials: the AWS SDKs' chain)"
else
    case "$URL" in
        https://*) scheme=https ;;
        http://*) ;;
        *) echo "AGENTCORE_BEDROCK_URL must be http://, https:// or aws" >&2
           exit 1 ;;
    esac
    server=${URL#*://}
    server=${server%%/*}
    case "$server" in *:*) ;; *)
        [ $scheme = https ] && server=$server:443 || server=$server:80 ;;
    esac
    echo "Bedrock-compatible endpoint $scheme://$server"
fi

# the chat page, where nginx's workers (nobody) can read it: a checkout
# under /root or in a 0700 directory is not theirs to traverse
html_dir=$(mktemp -d "${TMPDIR:-/tmp}/agentcore-html.XXXXXX")
cp "$ROOT/html/agentcore-chat.html" "$html_dir/"
chmod 755 "$html_dir"
chmod 644 "$html_dir/agentcore-chat.html"

sed -e "s|@MODULE@|$MODULE_SO|" -e "s|@LISTEN@|$ADDR:$PORT|" \
    -e "s|@MODEL@|$MODEL|" -e "s|@REGION@|$REGION|" \
    -e "s|@BEDROCK_SERVER@|$server|" -e "s|@BEDROCK_SCHEME@|$scheme|" \
    -e "s|@PARAMS@|$ROOT/conf/agentcore_bedrock_params|" \
    -e "s|@RUNTIME_PARAMS@|$ROOT/conf/agentcore_runtime_params|" \
    -e "s|@HTML@|$html_dir|" \
    "$ROOT/conf/nginx.conf" > "$PREFIX/conf/nginx.conf"

if [ "$PROVIDER" != bedrock ]; then
    # the model location proxies to the API's path; a key from
    # OPENAI_API_KEY or ANTHROPIC_API_KEY in a file only the master
    # reads (never in the configuration or a log)
    key_line=
    rm -f "$PREFIX/conf/model.key"
    if [ "$PROVIDER" = openai ]; then
        key=${OPENAI_API_KEY:-}
    else
        key=${ANTHROPIC_API_KEY:-}
    fi
    if [ -n "$key" ]; then
        (umask 077; printf '%s\n' "$key" > "$PREFIX/conf/model.key")
        key_line="\n        agentcore_model_api_key   file:model.key;"
    fi
    unset key
    [ -z "$MODEL_URL" ] && echo "the emulator answers as the $PROVIDER API"
    sed -i -e "s|^\( *\)agentcore_model_location  /_agentcore/bedrock;|\1agentcore_provider        $PROVIDER;$key_line\n\1agentcore_model_location  /_agentcore/model;|" \
        -e "s|^\( *\)location = /_agentcore/bedrock {|\1location = /_agentcore/model {\n\1    internal;\n\1    include     $ROOT/conf/agentcore_${PROVIDER}_params;\n\1    proxy_set_header  Host ${server%:*};\n\1    proxy_ssl_name    ${server%:*};\n\1    proxy_pass  $scheme://bedrock$model_path;\n\1}\n\n&|" \
        "$PREFIX/conf/nginx.conf"
fi

if [ $scheme = https ]; then
    sed -i "s|include     $ROOT/conf/agentcore_\(bedrock\|runtime\|openai\|anthropic\)_params;|&\n            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;|" \
        "$PREFIX/conf/nginx.conf"
fi

if [ -n "$ARN" ]; then
    # /invocations relays to the runtime instead of running the agent
    sed -i "/location = \/invocations {/,/}/s|^\( *\)agentcore;|\1agentcore_runtime_pass $ARN;|" \
        "$PREFIX/conf/nginx.conf"
    echo "/invocations relays to $ARN"
fi

if [ -n "$MCP_URL" ]; then
    # the server's tools beside the built-in ones, through an internal
    # location that proxies to it
    mcp_ssl=
    case "$MCP_URL" in https://*)
        mcp_ssl="\n            proxy_ssl_server_name on;\n            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" ;;
    esac
    sed -i -e "s|^\( *\)agentcore_tools \(.*\)$|&\n\1agentcore_mcp             mcp /_agentcore/mcp;|" \
        -e "s|^\( *\)location = /_agentcore/bedrock {|\1location = /_agentcore/mcp {\n\1    internal;\n\1    proxy_pass $MCP_URL;\n\1    proxy_http_version 1.1;\n\1    proxy_set_header Connection \"\";$mcp_ssl\n\1}\n\n&|" \
        "$PREFIX/conf/nginx.conf"
    echo "MCP server $MCP_URL: its tools are the agent's (agentcore_mcp mcp)"
fi

if [ -n "$MEMORY_ID" ]; then
    # conversations in AgentCore Memory, read and written through an
    # internal location that signs for bedrock-agentcore
    if [ -z "$MEMORY_URL" ]; then
        if [ -z "$URL" ]; then
            MEMORY_URL=http://$server
        else
            MEMORY_URL=https://bedrock-agentcore.$REGION.amazonaws.com
        fi
    fi
    MEMORY_URL=${MEMORY_URL%/}
    mem_ssl=
    case "$MEMORY_URL" in https://*)
        mem_ssl="\n            proxy_ssl_server_name on;\n            proxy_ssl_verify on;\n            proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates.crt;" ;;
    esac
    sed -i -e "s|^\( *\)agentcore_session  *sessions;|&\n\1agentcore_memory          $MEMORY_ID uri=/_agentcore/memory actor=$MEMORY_ACTOR;|" \
        -e "s|^\( *\)location = /_agentcore/bedrock {|\1location /_agentcore/memory/ {\n\1    internal;\n\1    proxy_pass $MEMORY_URL/;\n\1    proxy_http_version 1.1;\n\1    proxy_set_header Connection \"\";\n\1    proxy_set_header Host \$agentcore_memory_host;\n\1    proxy_set_header X-Amz-Date \$agentcore_memory_date;\n\1    proxy_set_header X-Amz-Security-Token \$agentcore_memory_security_token;\n\1    proxy_set_header Authorization \$agentcore_memory_authorization;$mem_ssl\n\1}\n\n&|" \
        "$PREFIX/conf/nginx.conf"
    echo "sessions in AgentCore Memory $MEMORY_ID at $MEMORY_URL" \
         "(actor $MEMORY_ACTOR)"
fi

"$NGINX_BIN" -p "$PREFIX" -c conf/nginx.conf -t -q

g=
case "$host" in \[*) g='-g ' ;; esac
cat <<MSG
nginx with ngx_http_agentcore_module on $ADDR:$PORT (${ARN:+relaying to }${ARN:-model $MODEL}).
Try:
    curl ${g}-N http://$host:$PORT/invocations -d '{"prompt":"Hello"}'
    curl ${g}http://$host:$PORT/ping
    the chat page: http://$host:$PORT/chat
    curl ${g}http://$host:$PORT/metrics
Logs: $PREFIX/logs/   Stop: Ctrl-C
MSG
if [ -n "$everywhere" ]; then
    echo "Note: nginx listens on every address (AGENTCORE_LISTEN=$LISTEN):" \
         "anyone who reaches port $PORT can use this agent" >&2
fi

"$NGINX_BIN" -p "$PREFIX" -c conf/nginx.conf -g 'daemon off; master_process on;' &
ngx_pid=$!
trap 'kill -QUIT $ngx_pid 2>/dev/null' INT TERM
# until nginx is gone (a signal ends a wait early)
while kill -0 $ngx_pid 2>/dev/null; do
    wait $ngx_pid || true
done
