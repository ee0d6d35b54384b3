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
#   MATRIX_VARIANT   debug (default): as above;
#                    asan (make test-asan): nginx --with-debug built with
#                    -fsanitize=address,undefined and the module built in
#                    (--add-module), every suite and h2 against it; any
#                    sanitizer report fails the version (t/matrix/san.sh);
#                    coverage (make coverage): nginx built with --coverage
#                    and the module built in, the suites against it
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
# MATRIX_NO_H2=1: the suites only, not h2.sh (make coverage)
SUITES_ONLY=${MATRIX_NO_H2:-}
OUT=$ROOT/build/matrix

# the configure arguments; the suites need threads (credentials) and
# auth_request (docs/security.md's examples, t/014-security.t); ssl
# and http_v2 are what a distribution's nginx has as well
COMMON=(--with-compat --with-http_ssl_module --with-http_v2_module
        --with-http_auth_request_module
        --with-threads --with-cc-opt="-Werror -fPIC" --with-ld-opt=-fPIC)
MODULES=(--add-dynamic-module="$ROOT" --add-dynamic-module="$ROOT/t/module")
VARIANT=${MATRIX_VARIANT:-debug}

# asan and coverage: our module built into nginx (--add-module), the
# test suite's tool module dynamic (it links against the symbols the
# binary exports with -Wl,-E).  -fno-sanitize=alignment: nginx reads
# unaligned words on x86 by design (ngx_str4cmp in the request parser,
# NGX_HAVE_NONALIGNED), as Giac's headers do for the .cc shim (the
# Makefile's CAS_SANITIZE).  NGX_DEBUG_PALLOC=1: every pool allocation
# is its own malloc(), so ASan sees an overrun of one, not only of the
# pool's block
case $VARIANT in
debug) ;;
asan)
    COMMON=(--with-compat --with-http_ssl_module --with-http_v2_module
            --with-http_auth_request_module --with-threads
            --with-cc-opt="-Werror -fPIC -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=alignment -DNGX_DEBUG_PALLOC=1"
            --with-ld-opt="-fPIC -fsanitize=address,undefined")
    MODULES=(--add-module="$ROOT" --add-dynamic-module="$ROOT/t/module")
    . "$ROOT/t/matrix/san.sh" ;;
coverage)
    COMMON=(--with-compat --with-http_ssl_module --with-http_v2_module
            --with-http_auth_request_module --with-threads
            --with-cc-opt="-fPIC -g -O0 --coverage"
            --with-ld-opt="-fPIC --coverage")
    MODULES=(--add-module="$ROOT" --add-dynamic-module="$ROOT/t/module") ;;
*) echo "MATRIX_VARIANT: debug, asan or coverage, not $VARIANT"; exit 1 ;;
esac
# ASan and -O0 --coverage builds are slower: the suites' client waits
# 10 s for a response rather than 3 (t/002-stream.t's frames split at
# every byte took longer than 3 s under ASan on a loaded machine)
[ "$VARIANT" = debug ] || export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-10}

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

# the module alone without --with-debug, configured with "$@", for $v
build_nodebug() {
    log "nginx $v: build the module without --with-debug"
    configure "$dir/nodebug" "$src" "$@"
    make -s -j"$JOBS" -f "$dir/nodebug/Makefile" -C "$src" modules \
        > "$dir/nodebug.make.log" 2>&1 \
        || { tail -40 "$dir/nodebug.make.log"; failed+=("$v:build-nodebug")
             return 1; }
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

    if [ "$VARIANT" = debug ]; then
        # the debug build: binary and modules, the suites run against them
        log "nginx $v: build (--with-debug)"
        configure "$dir/debug" "$src" "${COMMON[@]}" --with-debug "${MODULES[@]}"
        make -s -j"$JOBS" -f "$dir/debug/Makefile" -C "$src" \
            > "$dir/debug.make.log" 2>&1 \
            || { tail -40 "$dir/debug.make.log"; failed+=("$v:build-debug"); continue; }
        # and the module alone without --with-debug (every variable used)
        build_nodebug "${COMMON[@]}" "${MODULES[@]}" || continue
        bin=$dir/debug/nginx
        mods=$dir/debug/ngx_http_agentcore_module.so
        ours=$mods
    else
        log "nginx $v: build ($VARIANT, --with-debug, the module built in)"
        configure "$dir/$VARIANT" "$src" "${COMMON[@]}" --with-debug "${MODULES[@]}"
        make -s -j"$JOBS" -f "$dir/$VARIANT/Makefile" -C "$src" \
            > "$dir/$VARIANT.make.log" 2>&1 \
            || { tail -40 "$dir/$VARIANT.make.log"; failed+=("$v:build-$VARIANT"); continue; }
        bin=$dir/$VARIANT/nginx
        mods=$dir/$VARIANT/ngx_http_agentcore_test_tool_module.so
        ours=
        # make test-asan stands in for the matrix's leg of its versions
        # in CI (.ci/run): the module without --with-debug as well
        if [ "$VARIANT" = asan ]; then
            build_nodebug "${COMMON[@]:0:${#COMMON[@]}-2}" \
                --with-cc-opt="-Werror -fPIC" --with-ld-opt=-fPIC \
                --add-dynamic-module="$ROOT" \
                --add-dynamic-module="$ROOT/t/module" || continue
        fi
    fi
    t1=$(date +%s)

    if [ -n "${MATRIX_BUILD_ONLY:-}" ]; then
        results+=("$v: built in $((t1 - t0))s")
        continue
    fi
    log "nginx $v: suites on port $PORT ($VARIANT)"
    export TEST_NGINX_SERVROOT=$dir/servroot-$VARIANT
    rm -rf "$dir/h2-$VARIANT"
    # make coverage counts this run's suites only
    [ "$VARIANT" != coverage ] || find "$dir/coverage" -name '*.gcda' -delete
    if [ "$VARIANT" = asan ]; then
        san_canary "$bin" "$mods" "$dir/canary" \
            || { failed+=("$v:canary"); continue; }
        san_begin "$dir/asan-reports"
    fi
    ok=1
    TEST_NGINX_PORT=$PORT TEST_NGINX_BINARY=$bin \
        TEST_NGINX_LOAD_MODULES=$mods AGENTCORE_ROOT=$ROOT \
        t/prove.sh $SUITES 2>&1 | tee "$dir/prove-$VARIANT.log" || ok=
    if [ -n "$ok" ] && [ -z "$SUITES_ONLY" ]; then
        t/matrix/h2.sh "$bin" "$ours" $((PORT + 10)) "$dir/h2-$VARIANT" \
            2>&1 | tee -a "$dir/prove-$VARIANT.log" || ok=
    fi
    if [ "$VARIANT" = asan ] && ! san_check "$dir/asan-reports" \
        "$dir/prove-$VARIANT.log" "$TEST_NGINX_SERVROOT" "$dir/h2-$VARIANT"
    then
        ok=
        results+=("$v: SANITIZER REPORTS (see $dir/asan-reports/)")
    fi
    if [ -n "$ok" ]; then
        results+=("$v: ok (build $((t1 - t0))s, suites and h2 $(( $(date +%s) - t1 ))s)")
    else
        results+=("$v: FAILED (see $dir/prove-$VARIANT.log, $dir/h2-$VARIANT/)")
        failed+=("$v:suites")
    fi
    PORT=$((PORT + 1))
done

log "matrix"
# a failed leg's failing tests again, here at the end: CI keeps the
# last lines of a run only, and the prove output scrolled past long ago
for f in "${failed[@]}"; do
    case $f in *:suites) ;; *) continue ;; esac
    plog=$OUT/${f%%:*}/prove-$VARIANT.log
    [ -f "$plog" ] || continue
    echo "== ${f%%:*}: what failed ($plog)"
    grep -E -A3 '^not ok|^#   Failed test|Dubious|^t/.* \(Wstat|^Failed [0-9]|^ *Failed tests?:|^== sanitizer|^not ok - h2' \
        "$plog" | head -60
done
printf '   %s\n' "${results[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "failed: ${failed[*]}"
    exit 1
fi
