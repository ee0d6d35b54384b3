# Sourced by t/matrix/run.sh for MATRIX_VARIANT=asan (make test-asan).
#
# The sanitizer options every nginx of the run gets (its workers are
# fork()ed, so they keep them; nginx clears the environment only of
# what it exec()s):
#
#   ASAN_OPTIONS
#     log_path=DIR/asan      each process's report goes to DIR/asan.PID
#                            (nginx points stderr at its error log, and
#                            the suites' servroot is rewritten per block:
#                            a file per process is not lost)
#     detect_odr_violation=0 the test suite's tool module is a dynamic
#                            module linked against symbols of the binary
#                            (nginx's own advice for dynamic modules)
#     detect_leaks=1         LeakSanitizer at each process's exit
#     abort_on_error=0, exitcode=1  (ASan's default: halt on the first
#                            error of a process)
#     quarantine_size_mb=16  (256 by default) freed memory kept poisoned:
#                            less RSS for the suites that measure it
#   UBSAN_OPTIONS  print_stacktrace=1, suppressions=t/matrix/ubsan.supp
#                  (nginx's own code only, see the file); UBSan goes on
#                  after a report ("runtime error:"), the report fails
#                  the run
#   LSAN_OPTIONS   suppressions=t/matrix/lsan.supp: Giac's
#                  process-lifetime tables (unit/lsan.supp's) and
#                  nginx's own exit-time ones, see the file
#
# san_check also reads the prove output (nginx's stderr before it opens
# its error log, `nginx -t` runs of the suites), the last block's error
# logs and h2.sh's: any "runtime error:" or "ERROR: ...Sanitizer" line
# fails the run.

SAN_PATTERN='runtime error:|ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer'

# san_begin DIR: empties DIR and points the sanitizers' reports into it
san_begin() {
    rm -rf "$1" && mkdir -p "$1"
    export ASAN_OPTIONS="log_path=$1/asan:detect_odr_violation=0:detect_leaks=1:abort_on_error=0:exitcode=1:quarantine_size_mb=16"
    export LSAN_OPTIONS="suppressions=$ROOT/t/matrix/lsan.supp:print_suppressions=0"
    export UBSAN_OPTIONS="print_stacktrace=1:suppressions=$ROOT/t/matrix/ubsan.supp"
    # UBSan's reports go to stderr (GCC's libubsan takes no log_path of
    # ours), i.e. the error log: t/compat keeps those lines of each block
    # here (Test::Nginx::Util's _keep_sanitizer_lines)
    export TEST_NGINX_SANITIZER_LOG=$1/stderr-lines
    # t/014-backpressure.t's bound on a stalled worker's growth (8 MB):
    # ASan's redzones around every allocation (NGX_DEBUG_PALLOC), its
    # shadow memory and quarantine took it to 10.1-10.4 MB (measured,
    # 3.2 MB of text read); without backpressure it holds all 32 MB
    export AGENTCORE_T_RSS_BOUND_KB=16384
}

# san_check DIR FILE-OR-DIR...: fails, and prints them, if DIR holds a
# report or a file/dir given has a sanitizer line
san_check() {
    local dir=$1 rc=0 f; shift
    for f in "$dir"/asan.* "$dir"/stderr-lines; do
        case $f in *.left) continue ;; esac
        [ -s "$f" ] || continue
        # nginx's own leak of its initial pool when a configuration
        # fails, and UBSan's suppressions, as t/compat's hook drops them
        # (Test::Nginx::Util::_drop_init_pool_leak, _drop_suppressed)
        perl -I"$ROOT/t/compat" -MTest::Nginx::Util -e '
            print Test::Nginx::Util::_drop_suppressed(
                Test::Nginx::Util::_drop_init_pool_leak(<STDIN>))' \
            < "$f" > "$f.left"
        grep -Eq "$SAN_PATTERN" "$f.left" || continue
        echo "== sanitizer report $f:"
        head -60 "$f.left"
        rc=1
    done
    for f in "$@"; do
        [ -e "$f" ] || continue
        if grep -rEn "$SAN_PATTERN" "$f" | head -20 | grep .; then
            echo "== sanitizer lines in $f (above)"
            rc=1
        fi
    done
    return $rc
}

# san_canary BIN MODS WORKDIR: proves that san_check fails the run: the
# test suite's tool module (t/module, never the module itself) commits
# a heap overrun (ASan, seen in the log_path file) and a signed overflow
# (UBSan, seen on stderr) at configuration time when
# AGENTCORE_TEST_SANITIZER_CANARY says so.  Fails if either goes unseen.
san_canary() {
    local bin=$1 mods=$2 work=$3 kind m
    rm -rf "$work" && mkdir -p "$work/logs"
    {
        for m in $mods; do echo "load_module $m;"; done
        echo "error_log logs/error.log; events {} http {}"
    } > "$work/nginx.conf"
    for kind in asan ubsan; do
        (
            san_begin "$work/reports-$kind"
            AGENTCORE_TEST_SANITIZER_CANARY=$kind \
                "$bin" -t -q -p "$work" -c nginx.conf \
                > "$work/stderr-$kind" 2>&1 || true
            if san_check "$work/reports-$kind" "$work/stderr-$kind" \
                > "$work/check-$kind" 2>&1
            then
                echo "san_canary: the $kind canary went unseen:"
                cat "$work/stderr-$kind" "$work/check-$kind"
                exit 1
            fi
            echo "san_canary: the $kind canary fails the run, as it must:"
            grep -Eh "$SAN_PATTERN" "$work/check-$kind" | head -2 \
                | sed 's/^/    /'
        ) || return 1
    done
}
