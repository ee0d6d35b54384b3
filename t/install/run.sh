#!/usr/bin/env bash
# make test-install: `make install DESTDIR=...`, then the README's
# "Minimal nginx.conf", taken from README.md as it is, with only its
# paths moved into the DESTDIR, its listen port and its upstream pointed
# at the emulator (plain HTTP): the stock nginx checks it (-t), runs
# it, answers /ping and streams an answer; then `make uninstall` leaves
# no file behind.
#
#   NGINX_BIN  the nginx (default /usr/sbin/nginx)
#   PORT       the port the config listens on (default 21680)
#   DESTDIR    where to install (default a fresh build/install-test/)
#   INSTALLED  =1: skip make install/uninstall, test the files in place
#              (DESTDIR empty: the installed package, see make test-deb)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
NGINX_BIN=${NGINX_BIN:-${NGINX:-/usr/sbin/nginx}}
unset NGINX   # nginx reads inherited sockets from it
PORT=${PORT:-21680}
WORK=$ROOT/build/install-test
INSTALLED=${INSTALLED:-}
if [ -n "$INSTALLED" ]; then D=${DESTDIR:-}; else D=${DESTDIR:-$WORK/root}; fi
pass=0
ok()   { pass=$((pass + 1)); echo "ok $pass - $*"; }
fail() { echo "not ok - $*"; exit 1; }

# the answers must come from the nginx started here
if (exec 5<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    fail "port $PORT is in use (set PORT)"
fi
rm -rf "$WORK/run" && mkdir -p "$WORK/run"
if [ -z "$INSTALLED" ]; then
    rm -rf "$D"
    make -s install DESTDIR="$D" NGINX="$NGINX_BIN" > "$WORK/install.log"
fi

# what `nginx -V` says is where things go
V=$("$NGINX_BIN" -V 2>&1)
opt() { sed -n "s/.*--$1=\([^ ]*\).*/\1/p" <<<"$V"; }
MODDIR=$(opt modules-path); MODDIR=${MODDIR:-/usr/lib/nginx/modules}
CONFPATH=$(opt conf-path); CONFDIR=$(dirname "${CONFPATH:-/etc/nginx/x}")

for f in "$MODDIR/ngx_http_agentcore_module.so" \
         "$CONFDIR/agentcore_bedrock_params" \
         /usr/share/nginx/modules-available/mod-http-agentcore.conf \
         /usr/share/doc/libnginx-mod-http-agentcore/README.md; do
    [ -e "$D$f" ] || [ -e "$D$f.gz" ] || fail "installed: $D$f"
done
link=$(readlink "$D$CONFDIR/modules-enabled/50-mod-http-agentcore.conf") \
    || fail "modules-enabled/50-mod-http-agentcore.conf is no symlink"
[ "$link" = /usr/share/nginx/modules-available/mod-http-agentcore.conf ] \
    || fail "the symlink points to $link"
grep -qx "load_module \(modules\|$MODDIR\)/ngx_http_agentcore_module.so;" \
    "$D/usr/share/nginx/modules-available/mod-http-agentcore.conf" \
    || fail "mod-http-agentcore.conf: $(cat "$D/usr/share/nginx/modules-available/mod-http-agentcore.conf")"
ok "installed: module in $MODDIR, params in $CONFDIR, modules-available + enabled symlink, docs"

# the module loads through the enabled snippet, as Debian's nginx.conf
# includes it ("modules/..." is relative to nginx's prefix)
snippet=$(sed "s|load_module $MODDIR/|load_module $D$MODDIR/|" \
    "$D/usr/share/nginx/modules-available/mod-http-agentcore.conf")
[ -n "$D" ] || snippet=$(cat "$D/usr/share/nginx/modules-available/mod-http-agentcore.conf")
printf '%s\nevents {}\n' "$snippet" > "$WORK/run/snippet.conf"
"$NGINX_BIN" -t -q -c "$WORK/run/snippet.conf" \
    -g "error_log stderr; pid $WORK/run/t.pid;" \
    || fail "nginx -t with modules-enabled/50-mod-http-agentcore.conf"
ok "nginx -t loads the module through modules-enabled/50-mod-http-agentcore.conf"

# the README's config, as written between the fence after the heading
awk '/^## Minimal nginx.conf/ {s = 1; next}
     s == 1 && /^```nginx/ {s = 2; next}
     s == 2 && /^```/ {exit}
     s == 2 {print}' README.md > "$WORK/run/readme.conf"
[ -s "$WORK/run/readme.conf" ] || fail "no Minimal nginx.conf in README.md"
grep -q 'load_module /usr/lib/nginx/modules/ngx_http_agentcore_module.so;' \
    "$WORK/run/readme.conf" || fail "README's load_module line changed"
grep -q 'include /etc/nginx/agentcore_bedrock_params;' \
    "$WORK/run/readme.conf" || fail "README's include line changed"

# the emulator, signed with AWS's example key (the env lines pass it)
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
unset AWS_SESSION_TOKEN AWS_BEARER_TOKEN_BEDROCK AWS_PROFILE \
      AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN \
      AWS_CONTAINER_CREDENTIALS_FULL_URI \
      AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
emu_pid= ngx_pid=
cleanup() {
    [ -n "$ngx_pid" ] && kill -QUIT "$ngx_pid" 2>/dev/null || true
    [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null || true
}
trap cleanup EXIT
exec 3< <(exec perl emulator/bedrock-emulator.pl --listen 127.0.0.1:0 \
    --quiet --log "$WORK/run/emulator.log")
emu_pid=$!
read -r ready emu_port <&3
[ "$ready" = READY ] || fail "emulator did not start"

# paths into the DESTDIR, the port, the upstream to the emulator
sed -e "s|/usr/lib/nginx/modules/|$D$MODDIR/|" \
    -e "s|include $CONFDIR/|include $D$CONFDIR/|" \
    -e "s|include /etc/nginx/|include $D/etc/nginx/|" \
    -e "s|listen 8080;|listen 127.0.0.1:$PORT;|" \
    -e "s|server bedrock-runtime\.[a-z0-9-]*\.amazonaws\.com:443;|server 127.0.0.1:$emu_port;|" \
    -e "s|proxy_pass https://bedrock|proxy_pass http://bedrock|" \
    "$WORK/run/readme.conf" > "$WORK/run/nginx.conf"
diff -u "$WORK/run/readme.conf" "$WORK/run/nginx.conf" > "$WORK/run/rewrite.diff" || true
# the rewrite touched only those lines
changed=$(grep -c '^+[^+]' "$WORK/run/rewrite.diff" || true)
[ "$changed" -le 6 ] || fail "rewrote $changed lines: $(cat "$WORK/run/rewrite.diff")"
grep -q "listen 127.0.0.1:$PORT;" "$WORK/run/nginx.conf" \
    || fail "README's listen line changed"

# -p: the pid file and temporary files out of /run and /var/lib
ARGS=(-p "$WORK/run/" -c "$WORK/run/nginx.conf"
      -g "pid $WORK/run/nginx.pid; error_log $WORK/run/error.log info;")
"$NGINX_BIN" "${ARGS[@]}" -t 2> "$WORK/run/t.log" \
    || fail "nginx -t: $(cat "$WORK/run/t.log")"
ok "$NGINX_BIN -t with README's Minimal nginx.conf"

"$NGINX_BIN" "${ARGS[@]}" -g 'daemon off;' 2> "$WORK/run/stderr.log" &
ngx_pid=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/ping" > "$WORK/run/ping" 2>/dev/null && break
    kill -0 "$ngx_pid" 2>/dev/null || fail "nginx exited: $(cat "$WORK/run/stderr.log" "$WORK/run/error.log")"
    sleep 0.1
done
grep -q '"status":"Healthy"' "$WORK/run/ping" || fail "ping: $(cat "$WORK/run/ping")"
ok "GET /ping: $(cat "$WORK/run/ping")"

curl -sN "http://127.0.0.1:$PORT/invocations" -d '{"prompt":"Hello"}' \
    -D "$WORK/run/head" > "$WORK/run/body"
grep -qi '^content-type: text/event-stream' "$WORK/run/head" \
    || fail "head: $(cat "$WORK/run/head")"
grep -q '^data: "Hello' "$WORK/run/body" || fail "body: $(cat "$WORK/run/body")"
ok "POST /invocations streams: $(head -c 60 "$WORK/run/body" | tr '\n' ' ')"

curl -sN "http://127.0.0.1:$PORT/invocations" \
    -d '{"prompt":"How much is 2+1"}' > "$WORK/run/body2"
sed -n 's/^data: "\(.*\)"$/\1/p' "$WORK/run/body2" | tr -d '\n' \
    | grep -q 'Result: 3\.' || fail "tool answer: $(cat "$WORK/run/body2")"
ok "a tool call (calculator) through the README's config"

# the installed client, as the README shows it
CLI_BIN=$D/usr/bin/agentcore-invoke
[ -n "$INSTALLED" ] && CLI_BIN=/usr/bin/agentcore-invoke
if [ -z "$INSTALLED" ] || [ -x "$CLI_BIN" ]; then
    "$CLI_BIN" --url "http://127.0.0.1:$PORT/invocations" "Hello" \
        > "$WORK/run/cli.out" 2> "$WORK/run/cli.err" \
        || fail "agentcore-invoke: $(cat "$WORK/run/cli.err")"
    grep -q '^Hello! You said: Hello' "$WORK/run/cli.out" \
        || fail "agentcore-invoke printed: $(cat "$WORK/run/cli.out")"
    ok "installed agentcore-invoke streams: $(head -c 60 "$WORK/run/cli.out")"
fi

kill -QUIT "$ngx_pid"; wait "$ngx_pid" || true; ngx_pid=

if [ -z "$INSTALLED" ]; then
    make -s uninstall DESTDIR="$D" NGINX="$NGINX_BIN"
    left=$(find "$D" ! -type d)
    [ -z "$left" ] || fail "make uninstall left: $left"
    ok "make uninstall removes every file"
fi
echo "1..$pass"
