#!/bin/sh
# The container's entrypoint (Dockerfile): writes nginx.conf from
# conf/agentcore-runtime.conf (installed as
# /etc/nginx/agentcore-runtime.conf.template) and runs nginx in the
# foreground, as PID 1's child-less replacement (exec).
#
#   AWS_REGION             the Bedrock region (default us-west-2)
#   AGENTCORE_MODEL        the model id
#   AGENTCORE_PORT         the port (default 8080, as AgentCore requires)
#   AGENTCORE_BEDROCK_URL  aws (default) | http[s]://host[:port]
#   AGENTCORE_LOG_LEVEL    error_log level (default notice)
#   AGENTCORE_TEMPLATE, AGENTCORE_CONF, NGINX_BIN: where things are (tests)
set -eu

TEMPLATE=${AGENTCORE_TEMPLATE:-/etc/nginx/agentcore-runtime.conf.template}
CONF=${AGENTCORE_CONF:-/run/nginx-agentcore/nginx.conf}
NGINX_BIN=${NGINX_BIN:-/usr/sbin/nginx}
unset NGINX   # nginx reads inherited sockets from it
PORT=${AGENTCORE_PORT:-8080}
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-west-2}}
MODEL=${AGENTCORE_MODEL:-us.anthropic.claude-3-7-sonnet-20250219-v1:0}
URL=${AGENTCORE_BEDROCK_URL:-aws}
LOG_LEVEL=${AGENTCORE_LOG_LEVEL:-notice}

case "$URL" in
    aws)        scheme=https
                server=bedrock-runtime.$REGION.amazonaws.com:443 ;;
    https://*)  scheme=https ;;
    http://*)   scheme=http ;;
    *)          echo "AGENTCORE_BEDROCK_URL must be aws, http:// or https://" >&2
                exit 1 ;;
esac
if [ "$URL" != aws ]; then
    server=${URL#*://}
    server=${server%%/*}
    case "$server" in
        *:*) ;;
        *) if [ $scheme = https ]; then server=$server:443
           else server=$server:80; fi ;;
    esac
fi

rundir=$(dirname "$CONF")
mkdir -p "$rundir"
sed -e "s|@PORT@|$PORT|" -e "s|@MODEL@|$MODEL|" -e "s|@REGION@|$REGION|" \
    -e "s|@BEDROCK_SERVER@|$server|" -e "s|@BEDROCK_SCHEME@|$scheme|" \
    -e "s|@RUNDIR@|$rundir|" -e "s|@LOG_LEVEL@|$LOG_LEVEL|" \
    "$TEMPLATE" > "$CONF"

"$NGINX_BIN" -t -q -c "$CONF"
echo "agentcore: nginx on port $PORT, model $MODEL, Bedrock $scheme://$server" >&2
exec "$NGINX_BIN" -c "$CONF" -g 'daemon off;'
