#!/bin/bash
#
# Copyright (C) ngx_http_agentcore_module authors
#
# make fuzz-long: resumable libFuzzer campaigns (see fuzz/README.md).
#
#   fuzz/long.sh HOURS TARGET...      (TARGET: build/fuzz/fuzz_xxx)
#
# Each target gets HOURS/number-of-targets of fuzzing, run in slices of
# FUZZ_SLICE seconds (600) on a working corpus under build/fuzz-long/
# that outlives the run: a campaign stopped anywhere loses at most the
# slice it was in, and the next one continues from the corpus it had.
# After each slice, the executions libFuzzer counted
# (stat::number_of_executed_units of -print_final_stats=1) are added to
# fuzz/state.tsv (committed) with the exec/s of that slice.  At the end
# each target's corpus is merged and minimized (-merge=1) into
# fuzz/corpus/<target>/ and the table in fuzz/README.md is written
# again from fuzz/state.tsv.
#
# Environment:
#   FUZZ_JOBS   targets fuzzed at once (1); run under nice -n 19
#   FUZZ_SLICE  seconds per slice (600)
#   FUZZ_GOAL   stop a target once its cumulative executions reach this
#               (none): it leaves its time unused
#   FUZZ_UNTIL  a time (date -d syntax, e.g. 22:45) after which no slice
#               runs: the last ones are cut short to end then
#   FUZZ_ENV    sanitizer options (the Makefile's)
#   FUZZ_OPTS_<target>  extra libFuzzer options (the Makefile's)

set -u

hours=${1:?HOURS}
shift
[ $# -gt 0 ] || { echo "fuzz/long.sh: no targets" >&2; exit 2; }

root=$(cd "$(dirname "$0")/.." && pwd)
work=$root/build/fuzz-long
state=$root/fuzz/state.tsv
lock=$work/state.lock
slice=${FUZZ_SLICE:-600}
jobs=${FUZZ_JOBS:-1}
goal=${FUZZ_GOAL:-}
until_=0
if [ -n "${FUZZ_UNTIL:-}" ]; then
    until_=$(date -d "$FUZZ_UNTIL" +%s) || exit 2
fi
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)

mkdir -p "$work/artifacts" "$work/logs"
[ -f "$state" ] || printf '# target\texecs\texec_per_s\tdate\tcommit\n' \
    > "$state"

total=$(awk -v h="$hours" -v n=$# 'BEGIN { printf "%d", h * 3600 / n }')

execs_of() {
    awk -v t="$1" '$1 == t { print $2; f = 1 } END { if (!f) print 0 }' \
        "$state"
}

# adds $2 executions at $3 exec/s to target $1 (under a lock: targets
# run side by side)
record() {
    (
        flock 9
        tmp=$state.$$
        awk -F'\t' -v OFS='\t' -v t="$1" -v n="$2" -v r="$3" \
            -v d="$(date -u +%Y-%m-%d)" -v c="$commit" '
            $1 == t { $2 += n; $3 = r; $4 = d; $5 = c; f = 1 }
            { print }
            END { if (!f) print t, n, r, d, c }' "$state" > "$tmp" \
        && mv "$tmp" "$state"
    ) 9> "$lock"
}

# one target: slices until its time (or the goal) is used up
campaign() {
    bin=$1
    name=$(basename "$bin")
    corpus=$work/corpus/$name
    mkdir -p "$corpus" "$root/fuzz/corpus/$name"
    optvar=FUZZ_OPTS_$name
    left=$total

    while [ "$left" -gt 0 ]; do
        runs=-1
        if [ -n "$goal" ]; then
            done_=$(execs_of "$name")
            runs=$(awk -v g="$goal" -v d="$done_" \
                'BEGIN { printf "%.0f", g - d }')
            if [ "$runs" -le 0 ]; then
                echo "== $name: $done_ executions, goal $goal reached"
                break
            fi
        fi
        t=$slice
        [ "$t" -le "$left" ] || t=$left
        if [ "$until_" -gt 0 ]; then
            now=$(date +%s)
            if [ "$now" -ge "$until_" ]; then
                echo "== $name: past FUZZ_UNTIL"
                break
            fi
            [ "$t" -le $((until_ - now)) ] || t=$((until_ - now))
        fi
        log=$work/logs/$name.log
        echo "== $name: ${t}s slice ($(execs_of "$name") executions so far)"
        env ${FUZZ_ENV:-} "$bin" -max_total_time="$t" -runs="$runs" \
            -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-" \
            ${!optvar:-} "$corpus" "$root/fuzz/corpus/$name" \
            > "$log" 2>&1
        rc=$?
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        s=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        [ -n "$n" ] && record "$name" "$n" "${s:-0}"
        echo "== $name: +${n:-0} executions at ${s:-?}/s (exit $rc)"
        if [ $rc -eq 72 ]; then
            # libFuzzer's exit on SIGINT (^C): counted, the corpus kept
            # for the next campaign, no merge
            echo "== $name: interrupted" >&2
            return 1
        fi
        if [ $rc -ne 0 ]; then
            echo "== $name: FAILED, see $log and $work/artifacts/" >&2
            tail -30 "$log" >&2
            return 1
        fi
        left=$((left - t))
    done

    # merge and minimize into the committed corpus
    new=$work/merge/$name
    rm -rf "$new"
    mkdir -p "$new"
    env ${FUZZ_ENV:-} "$bin" -merge=1 ${!optvar:-} "$new" \
        "$root/fuzz/corpus/$name" "$corpus" > "$work/logs/$name.merge" 2>&1 \
        || { echo "== $name: merge failed" >&2;
             tail -20 "$work/logs/$name.merge" >&2; return 1; }
    # named inputs (seeds, regressions) stay whether or not they add
    # coverage; the others are libFuzzer's (named by their SHA-1)
    for f in "$root/fuzz/corpus/$name"/*; do
        [ -f "$f" ] || continue
        [[ $(basename "$f") =~ ^[0-9a-f]{40}$ ]] && continue
        cp -p "$f" "$new/"
    done
    rm -rf "$root/fuzz/corpus/$name"
    mv "$new" "$root/fuzz/corpus/$name"
    echo "== $name: corpus $(ls "$root/fuzz/corpus/$name" | wc -l) inputs"
}

export -f campaign execs_of record
export root work state lock slice goal commit total until_

printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'campaign "$1"' _ {}
rc=$?

# the table in fuzz/README.md between its two markers, from the state
readme=$root/fuzz/README.md
if [ -f "$readme" ] && grep -q '^<!-- fuzz-long table -->' "$readme"; then
    awk -F'\t' '
        FNR == NR {
            if ($1 !~ /^#/ && NF >= 5) {
                row[++n] = sprintf("| %s | %.0f | %.0f | %s | %s |",
                                   $1, $2, $3, $4, $5)
            }
            next
        }
        /^<!-- fuzz-long table -->/ {
            print
            print "| target | cumulative executions | exec/s (last slice) " \
                  "| date | commit |"
            print "|---|---:|---:|---|---|"
            for (i = 1; i <= n; i++) print row[i]
            skip = 1
            next
        }
        /^<!-- end of fuzz-long table -->/ { skip = 0 }
        !skip { print }' "$state" "$readme" > "$readme.tmp" \
    && mv "$readme.tmp" "$readme"
fi
exit $rc
