#!/bin/bash
# custodiand under abuse (tests/daemon/abuse.c): trickled frames,
# oversized lengths, pipelined garbage, thousands of connections at once
# and more than max_connections, with short idle and frame timeouts so
# that it runs in well under a minute. A well-behaved client signs
# throughout. Afterwards the daemon stops cleanly and the audit chain
# verifies.
# Usage: abuse.sh CUSTODIAND CUSTODIANCTL ABUSE RSS-MIB
# RSS-MIB bounds the daemon's resident memory with the connections open
# (0 in a sanitizer build, whose shadow memory says nothing about ours).
set -euo pipefail
daemon=$1 ctl=$2 abuse=$3 rss_mib=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

# Connections opened at once; the daemon may hold at most as many.
conns=10000 idle=4 frame=2
work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    tail -n 40 "$work/daemon.log" | sed 's/^/  daemon: /' >&2 || true
    exit 1
}

# The test holds every connection, the daemon two open files for each:
# both need the most the hard limit allows. Under a hard limit too low
# for the test's own connections, it opens fewer.
ulimit -n "$(ulimit -Hn)"
files=$(ulimit -n)
if [ "$files" != unlimited ] && [ "$files" -lt $((conns + 256)) ]; then
    conns=$((files - 256))
    echo "open files limited to $files: $conns connections at once"
fi
softhsm_token "$work/token" custodian-test
cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = ( { name = "abuser"; match = { uid = $(id -u); };
                 grants = ( { keys = "release"; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
limits = { max_connections = $conns; idle_timeout = "${idle}s";
           frame_timeout = "${frame}s"; };
CONF
"$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 600); do
    [ -S "$work/sign.sock" ] && grep -q "serving on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
grep -q "serving on" "$work/daemon.log" || fail "custodiand did not start"
"$ctl" key create release --admin-socket "$work/admin.sock" >/dev/null ||
    fail "key create"

"$abuse" "$work/sign.sock" "$pid" "$work/daemon.log" "$work/audit.log" \
    "$idle" "$frame" "$conns" "$rss_mib" || fail "abuse"

"$ctl" status --admin-socket "$work/admin.sock" >/dev/null ||
    fail "no status after the abuse"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
"$ctl" audit verify "$work/audit.log" >/dev/null || fail "audit chain broken"
echo "ok: custodiand served a signer through every abuse and stopped cleanly"
