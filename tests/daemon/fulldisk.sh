#!/bin/bash
# custodiand with its audit log on a full disk (a small tmpfs): signing
# fails closed with CUST_ERR_AUDIT and no signature, the daemon says it is
# degraded, and it recovers by itself when space returns; the chain holds.
# Needs root (to mount the tmpfs).
# Usage: fulldisk.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
set -euo pipefail
daemon=$1 ctl=$2 sign=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    umount "$work/log" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}

mkdir "$work/log"
mount -t tmpfs -o size=64k,mode=0755 tmpfs "$work/log" ||
    fail "cannot mount a tmpfs (this test needs root)"
softhsm_token "$work/token" custodian-test
cat >"$work/custodiand.conf" <<CONF
user = "root"; # stays root, so the test can fill and free the disk
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = "release"; } ); } );
audit = { path = "$work/log/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
"$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 100); do
    [ -S "$work/sign.sock" ] && break
    sleep 0.05
done
export CUSTODIAN_SOCKET=$work/sign.sock
"$ctl" key create release --admin-socket "$work/admin.sock" >/dev/null ||
    fail "key create"
echo artifact >"$work/a"
"$sign" sign --key release "$work/a" >/dev/null || fail "first signature"

# Fill the disk. Records still fit in the log's last page for a moment;
# within a few requests signing must fail closed.
dd if=/dev/zero of="$work/log/filler" bs=1k 2>/dev/null || true
rc=0
for _ in $(seq 30); do
    rm -f "$work/a.sig"
    "$sign" sign --key release "$work/a" >/dev/null 2>"$work/err" || rc=$?
    [ $rc != 0 ] && break
done
[ $rc = 1 ] && grep -q CUST_ERR_AUDIT "$work/err" ||
    fail "signing on a full disk: exit $rc, $(cat "$work/err")"
[ ! -e "$work/a.sig" ] || fail "a signature was released without its record"
grep -q "degraded" "$work/daemon.log" || fail "daemon did not report degraded"

# Space returns: the daemon recovers by itself.
rm -f "$work/log/filler"
"$sign" sign --key release "$work/a" >/dev/null || fail "no recovery"
grep -q "no longer degraded" "$work/daemon.log" || fail "recovery not reported"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
"$ctl" audit verify "$work/log/audit.log" >/dev/null ||
    fail "the chain is broken after the full disk"
echo "ok: full audit disk fails closed, is reported, and recovers"
