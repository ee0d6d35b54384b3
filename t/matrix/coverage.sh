#!/usr/bin/env bash
# make coverage's table: line coverage per source file of the module,
# from gcov's counts, for the unit tests and for t/.
#
#   coverage.sh UNIT_OBJDIR NGINX_BUILDDIR
#
# UNIT_OBJDIR: the unit tests' objects (build/coverage/unit);
# NGINX_BUILDDIR: the --coverage nginx's build directory (the module's
# objects are under addon/ngx_http_agentcore_module/).  A file that is
# not in a build (the nginx glue in the unit tests) shows "-".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
UNIT=$1 NGX=$2
MOD=$ROOT/ngx_http_agentcore_module
NGXOBJ=$NGX/addon/ngx_http_agentcore_module

# "covered total" lines of source $1 from the counts in object dir $2
# (nothing if it was not built there or never ran)
count() {
    local src=$1 dir=$2 base
    base=$(basename "${src%.*}")
    [ -f "$dir/$base.gcno" ] || return 0
    [ -f "$dir/$base.gcda" ] || { gcov_total "$src" "$dir"; return 0; }
    (cd "$dir" && gcov -n -o "$dir" "$src" 2>/dev/null) | awk -v f="$src" '
        /^File / { this = (index($0, "\x27" f "\x27") > 0) }
        this && /^Lines executed:/ {
            split($0, a, /[:% ]+/)      # Lines executed:P% of N
            n = $NF; p = a[3]
            printf "%d %d\n", int(p * n / 100 + 0.5), n; exit
        }'
}

# the lines of a file built but never run: 0 of its total (gcov needs
# counts; the .gcno alone gives no summary)
gcov_total() {
    echo "0 -1"
}

pct() {
    if [ "$2" -gt 0 ]; then awk -v c="$1" -v n="$2" \
        'BEGIN { printf "%5.1f%% %5d/%-5d", 100 * c / n, c, n }'
    elif [ "$2" -lt 0 ]; then printf '%6s %11s' "0%" "never run"
    else printf '%6s %11s' "-" ""; fi
}

printf '%-40s %-19s %-19s\n' "file (ngx_http_agentcore_module/)" \
    "unit tests" "t/ (nginx $(basename "$(dirname "$NGX")"))"
ut=0; un=0; tt=0; tn=0
for src in "$MOD"/*.c "$MOD"/*.cc; do
    read -r uc unn <<< "$(count "$src" "$UNIT")" || true
    read -r tc tnn <<< "$(count "$src" "$NGXOBJ")" || true
    uc=${uc:-0}; unn=${unn:-0}; tc=${tc:-0}; tnn=${tnn:-0}
    [ "$unn" -gt 0 ] && { ut=$((ut + uc)); un=$((un + unn)); }
    [ "$tnn" -gt 0 ] && { tt=$((tt + tc)); tn=$((tn + tnn)); }
    printf '%-40s %s  %s\n' "${src#"$MOD"/ngx_http_agentcore_}" \
        "$(pct "$uc" "$unn")" "$(pct "$tc" "$tnn")"
done
printf '%-40s %s  %s\n' "total" "$(pct $ut $un)" "$(pct $tt $tn)"
