#!/usr/bin/env bash
# make test-matrix: builds nginx from each release tarball (cached under
# build/matrix/<version>/) with the module as a dynamic module, -Werror,
# with and without --with-debug, and runs every suite in t/ against the
# debug build's binary and module, then an invocation over HTTP/2
# (t/matrix/h2.sh, on port MATRIX_PORT + 10 + n).
#
#   NGINX_TARBALLS   where nginx-<v>.tar.gz are (default ../shared/nginx)
#   MATRIX_VERSIONS  the versions (default: all in t/matrix/SHA256SUMS)
#   MATRIX_PORT      TEST_NGINX_PORT of the first version, +1 per version
#   MATRIX_BUILD_ONLY=1  build, do not run the suites
#   MATRIX_SUITES    the suites (default t/)
#   MATRIX_SUMS      the digests (default t/matrix/SHA256SUMS)
#
# The tarballs are checked against t/matrix/SHA256SUMS (the digests are
# part of this repository; a tarball that differs is refused).  They are
# `git archive`s of nginx's release tags (auto/configure); nginx.org's
# release tarballs (./configure) work too, with their own MATRIX_SUMS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
SUMS=${MATRIX_SUMS:-$ROOT/t/matrix/SHA256SUMS}
TARBALLS=${NGINX_TARBALLS:-$ROOT/../shared/nginx}
VERSIONS=${MATRIX_VERSIONS:-$(sed -n 's/.*nginx-\(.*\)\.tar\.gz$/\1/p' "$SUMS")}
PORT=${MATRIX_PORT:-${TEST_NGINX_PORT:-21600}}
SUITES=${MATRIX_SUITES:-t/}
JOBS=${MATRIX_MAKE_JOBS:-$(nproc)}
OUT=$ROOT/build/matrix

# the configure arguments; the suites need threads (credentials) and
# auth_request (docs/security.md's examples, t/014-security.t); ssl
# and http_v2 are what a distribution's nginx has as well
COMMON=(--with-compat --with-http_ssl_module --with-http_v2_module
        --with-http_auth_request_module
        --with-threads --with-cc-opt="-Werror -fPIC" --with-ld-opt=-fPIC)
MODULES=(--add-dynamic-module="$ROOT" --add-dynamic-module="$ROOT/t/module")

log() { printf '== %s\n' "$*"; }

# (re)configures $1 (build dir) from source $2 when the module's config
# files or the arguments changed
configure() {
    local bdir=$1 src=$2; shift 2
    local args="$*"
    if [ -f "$bdir/Makefile" ] && [ "$(cat "$bdir/.args" 2>/dev/null)" = "$args" ] \
        && [ ! config -nt "$bdir/Makefile" ] \
        && [ ! t/module/config -nt "$bdir/Makefile" ]; then
        return 0
    fi
    mkdir -p "$bdir"
    local conf=auto/configure
    [ -x "$src/configure" ] && conf=./configure
    (cd "$src" && $conf --builddir="$bdir" "$@") \
        > "$bdir.configure.log" 2>&1 \
        || { tail -30 "$bdir.configure.log"; return 1; }
    printf '%s' "$args" > "$bdir/.args"
}

failed=()
results=()
for v in $VERSIONS; do
    t0=$(date +%s)
    tgz=$TARBALLS/nginx-$v.tar.gz
    dir=$OUT/$v
    src=$dir/nginx-$v
    if [ ! -d "$src" ]; then
        if [ ! -f "$tgz" ]; then
            echo "missing $tgz: set NGINX_TARBALLS to a directory with" \
                 "nginx-<version>.tar.gz, MATRIX_VERSIONS to fewer versions"
            exit 1
        fi
        want=$(awk -v f="nginx-$v.tar.gz" '$2 == f {print $1}' "$SUMS")
        got=$(sha256sum "$tgz" | cut -d' ' -f1)
        if [ -z "$want" ] || [ "$want" != "$got" ]; then
            echo "nginx-$v.tar.gz: SHA256 $got is not the one in $SUMS"
            exit 1
        fi
        rm -rf "$dir.tmp" && mkdir -p "$dir" "$dir.tmp"
        tar xzf "$tgz" -C "$dir.tmp"
        mv "$dir.tmp/nginx-$v" "$src" && rmdir "$dir.tmp"
    fi

    # the debug build: binary and modules, the suites run against them
    log "nginx $v: build (--with-debug)"
    configure "$dir/debug" "$src" "${COMMON[@]}" --with-debug "${MODULES[@]}"
    make -s -j"$JOBS" -f "$dir/debug/Makefile" -C "$src" \
        > "$dir/debug.make.log" 2>&1 \
        || { tail -40 "$dir/debug.make.log"; failed+=("$v:build-debug"); continue; }
    # and the module alone without --with-debug (every variable used)
    log "nginx $v: build the module without --with-debug"
    configure "$dir/nodebug" "$src" "${COMMON[@]}" "${MODULES[@]}"
    make -s -j"$JOBS" -f "$dir/nodebug/Makefile" -C "$src" modules \
        > "$dir/nodebug.make.log" 2>&1 \
        || { tail -40 "$dir/nodebug.make.log"; failed+=("$v:build-nodebug"); continue; }
    t1=$(date +%s)

    if [ -n "${MATRIX_BUILD_ONLY:-}" ]; then
        results+=("$v: built in $((t1 - t0))s")
        continue
    fi
    log "nginx $v: suites on port $PORT"
    export TEST_NGINX_SERVROOT=$dir/servroot
    if TEST_NGINX_PORT=$PORT TEST_NGINX_BINARY=$dir/debug/nginx \
        TEST_NGINX_LOAD_MODULES=$dir/debug/ngx_http_agentcore_module.so \
        AGENTCORE_ROOT=$ROOT \
        t/prove.sh $SUITES 2>&1 | tee "$dir/prove.log" \
        && t/matrix/h2.sh "$dir/debug/nginx" \
            "$dir/debug/ngx_http_agentcore_module.so" $((PORT + 10)) \
            "$dir/h2"
    then
        results+=("$v: ok (build $((t1 - t0))s, suites and h2 $(( $(date +%s) - t1 ))s)")
    else
        results+=("$v: FAILED (see $dir/prove.log, $dir/h2/)")
        failed+=("$v:suites")
    fi
    PORT=$((PORT + 1))
done

log "matrix"
printf '   %s\n' "${results[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
