#!/bin/bash
# custodiand --syslog: its lines reach syslog with the daemon facility and
# the right priority, and nothing goes to standard error. Runs in a mount
# namespace of its own, with a stand-in syslog daemon on a private /dev/log.
# Usage: syslog.sh CUSTODIAND LOG_SINK
set -euo pipefail
daemon=$1 sink=$2

if [ "${CUST_IN_NS:-}" != 1 ]; then
    CUST_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

mount -t tmpfs -o size=64k tmpfs /dev
"$sink" /dev/log 1 >"$work/log" &
sink_pid=$!
for _ in $(seq 50); do
    grep -q ready "$work/log" 2>/dev/null && break
    sleep 0.05
done

rc=0
"$daemon" --syslog -c "$work/missing.conf" 2>"$work/err" || rc=$?
wait "$sink_pid"
[ $rc = 1 ] || fail "custodiand exited $rc"
[ ! -s "$work/err" ] || fail "standard error used: $(cat "$work/err")"
# <27> is facility daemon (3 << 3) with priority err (3).
grep -Eq "^<27>.* custodiand\[[0-9]+\]: load_conf: $work/missing.conf: cannot read: No such file or directory$" \
    "$work/log" || fail "syslog got: $(cat "$work/log")"
echo "ok: custodiand logs to syslog"
