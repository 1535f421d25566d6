#!/bin/bash
# custodiand killed with SIGKILL while clients sign as fast as they can,
# again and again on the same audit log: after each restart the chain
# verifies, and every signature any client received is in the log.
# Usage: crash.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
# CUST_TEST_CRASH_ROUNDS sets the number of kills (default 5).
set -euo pipefail
daemon=$(realpath "$1") ctl=$(realpath "$2") sign=$(realpath "$3")
rounds=${CUST_TEST_CRASH_ROUNDS:-5}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}

softhsm_token "$work/token" custodian-test
cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = ( { name = "ci"; match = { uid = $(id -u); };
                 grants = ( { keys = "release"; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
start_daemon() {
    "$daemon" -c "$work/custodiand.conf" 2>>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 200); do
        "$ctl" status --admin-socket "$work/admin.sock" >/dev/null 2>&1 &&
            return
        sleep 0.05
    done
    fail "custodiand did not start"
}
export CUSTODIAN_SOCKET=$work/sign.sock
start_daemon
"$ctl" key create release --admin-socket "$work/admin.sock" >/dev/null ||
    fail "key create"

clients=4 files=1000
received=0 interrupted=0
for round in $(seq "$rounds"); do
    rm -rf "$work/c"
    for c in $(seq $clients); do
        mkdir -p "$work/c/$c"
        for f in $(seq $files); do echo "round $round client $c file $f" \
            >"$work/c/$c/$f"; done
    done
    for c in $(seq $clients); do
        # Each client signs its files over one connection until the
        # daemon dies under it.
        (cd "$work/c/$c" && "$sign" sign --key release $(seq $files) \
            >/dev/null 2>"$work/c/$c.err" || true) &
    done
    # Kill somewhere between 0.2 and 0.7 seconds into the signing.
    sleep "0.$((RANDOM % 6 + 2))"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    wait
    start_daemon
    "$ctl" audit verify "$work/audit.log" >/dev/null ||
        fail "round $round: the audit chain does not verify after the kill"
    # Every signature a client wrote out came in an answer, and the daemon
    # answers only once the record is on disk.
    grep -o '"signature":"[0-9a-f]*"' "$work/audit.log" | cut -d'"' -f4 |
        sort -u >"$work/recorded"
    # A round killed before any signature leaves no .sig: the glob stays
    # unexpanded, and the loop must not fail the pipeline for it.
    for s in "$work"/c/*/*.sig; do
        [ ! -e "$s" ] || { od -An -v -tx1 "$s" | tr -d ' \n' && echo; }
    done | sort >"$work/got"
    n=$(wc -l <"$work/got")
    missing=$(comm -23 "$work/got" "$work/recorded" | wc -l)
    [ "$missing" = 0 ] ||
        fail "round $round: $missing of $n signatures received have no record"
    echo "round $round: $n signatures received, each with its record"
    received=$((received + n))
    [ "$n" -lt $((clients * files)) ] && interrupted=$((interrupted + 1))
done
[ "$received" -gt 0 ] || fail "no signature was received before any kill"
[ "$interrupted" -gt 0 ] || fail "every kill came after all the signing"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
"$ctl" audit verify "$work/audit.log" >/dev/null || fail "final chain"
echo "ok: $rounds kills during signing; chain intact, $received signatures" \
    "all recorded"
