#!/bin/bash
# Key versions through the real daemon (custodiand-test, whose clock the
# test sets) on a throwaway SoftHSM2 token: a month of scheduled rotation
# in seconds, each version's signatures checked with openssl; the admin
# commands and their refusals; 16 clients signing through rotations
# without one failure; and SIGKILL at every step of a rotation and of a
# destruction, after which exactly one version is active and no private
# key is lost.
# Usage: rotation.sh CUSTODIAND-TEST CUSTODIANCTL CUSTODIAN_SIGN
set -euo pipefail
daemon=$1 ctl=$2 sign=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
stop() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    pid=
}
cleanup() {
    stop
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}
softhsm_token "$work/token" custodian-test

day=86400 t0=1790000000
export CUSTODIAN_TEST_CLOCK=$work/clock
echo $t0 >"$CUSTODIAN_TEST_CLOCK"
cat >"$work/custodiand.conf" <<CONF
user = "root";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256";
           rotation = { period = "30d"; publish_ahead = "2d";
                        destroy_after = "60d"; }; },
         { name = "manual"; type = "ecdsa-p384"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "release", "manual" ]; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
export CUSTODIAN_SOCKET=$work/sign.sock CUSTODIAN_ADMIN_SOCKET=$work/admin.sock

start() {
    "$daemon" -c "$work/custodiand.conf" 2>>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 200); do
        [ -S "$work/admin.sock" ] && "$ctl" status >/dev/null 2>&1 && return
        kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
        sleep 0.05
    done
    fail "custodiand did not start"
}
at() { echo $((t0 + $1)) >"$CUSTODIAN_TEST_CLOCK"; }
# The state of version V of KEY, as key versions prints it.
state_of() {
    "$ctl" key versions "$1" | awk -v v="$2" '$1 == v { print $2 }'
}
# Waits until version V of KEY is in STATE (the scheduler ticks often).
wait_state() {
    for _ in $(seq 100); do
        [ "$(state_of "$1" "$2")" = "$3" ] && return
        sleep 0.05
    done
    "$ctl" key versions "$1" >&2
    fail "$1@$2 never became $3"
}
# Signs FILE with KEY; checks the answer's version and the signature.
signed_by() {
    local key=$1 want=$2 f=$work/artifact
    echo "artifact $RANDOM" >"$f"
    rm -f "$f.sig.json"
    "$sign" sign --key "$key" --format json "$f" >/dev/null || fail "sign"
    grep -q "\"version\": *$want[,}]" "$f.sig.json" ||
        fail "signed by another version than $want: $(cat "$f.sig.json")"
}
# Whether the token holds a private key labelled LABEL.
token_has() {
    pkcs11-tool --module "$SOFTHSM_MODULE" --token-label custodian-test \
        --login --pin 1234 --list-objects --type privkey 2>/dev/null |
        grep -q "label: *$1\$"
}
one_active() {
    local n
    n=$("$ctl" key versions "$1" | awk '$2 == "active"' | wc -l)
    [ "$n" = 1 ] || fail "$1 has $n active versions"
}

echo "== a month of scheduled rotation"
start
"$ctl" key create release >/dev/null || fail "key create"
"$ctl" key create manual >/dev/null || fail "key create manual"
signed_by release 1
"$sign" pubkey --key release >"$work/v1.pem"
echo data >"$work/data"
"$sign" sign --key release "$work/data" >/dev/null
openssl dgst -sha256 -verify "$work/v1.pem" -signature "$work/data.sig" \
    "$work/data" >/dev/null || fail "v1 signature does not verify"
at $((28 * day - 1))
sleep 0.3
[ -z "$(state_of release 2)" ] || fail "version 2 made before its time"
at $((28 * day))
wait_state release 2 pending
signed_by release 1 # pending signs nothing
at $((30 * day))
wait_state release 2 active
[ "$(state_of release 1)" = retired ] || fail "version 1 not retired"
signed_by release 2
"$sign" pubkey --key release >"$work/v2.pem"
"$sign" sign --key release "$work/data" >/dev/null
openssl dgst -sha256 -verify "$work/v2.pem" -signature "$work/data.sig" \
    "$work/data" >/dev/null || fail "v2 signature does not verify"
# The retired version's private key goes 60 days after retirement.
at $((90 * day))
wait_state release 1 destroyed
grep -q '"transition":"destroy"' "$work/audit.log" ||
    fail "destruction not audited"

echo "== admin commands"
"$ctl" key rotate manual | grep -q "manual version 2" || fail "rotate"
signed_by manual 2
rc=0
"$ctl" key destroy manual@1 2>"$work/err" || rc=$?
[ $rc = 2 ] && grep -q -- "--confirm manual@1" "$work/err" ||
    fail "destroy without --confirm: rc $rc"
rc=0
"$ctl" key destroy manual@2 --confirm manual@2 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "only a retired or revoked version" "$work/err" ||
    fail "destroy of the active version: rc $rc $(cat "$work/err")"
rc=0
"$ctl" key revoke manual@1 2>/dev/null || rc=$?
[ $rc = 2 ] || fail "revoke without --reason: rc $rc"
"$ctl" key revoke manual@2 --reason "laptop stolen" >/dev/null ||
    fail "revoke"
rc=0
"$sign" sign --key manual "$work/data" 2>/dev/null || rc=$?
[ $rc != 0 ] || fail "a revoked version signed"
"$ctl" key versions manual | grep -q "revoked .*: laptop stolen" ||
    fail "revocation reason not shown"
"$ctl" key destroy manual@1 --confirm manual@1 >/dev/null ||
    fail "destroy of a retired version"
grep -q '"action":"key-change"' "$work/audit.log" ||
    fail "admin change not audited"

echo "== 16 clients sign through 5 rotations"
for i in $(seq 16); do
    (
        for j in $(seq 30); do
            echo "$i $j" >"$work/c$i"
            "$sign" sign --key release "$work/c$i" >/dev/null 2>>"$work/c.err" ||
                echo "client $i request $j failed" >>"$work/c.fail"
        done
    ) &
done
for _ in $(seq 5); do
    "$ctl" key rotate release >/dev/null || fail "rotate under load"
    sleep 0.1
done
wait $(jobs -p | grep -v "^$pid\$") 2>/dev/null || true
[ ! -s "$work/c.fail" ] || fail "$(wc -l <"$work/c.fail") requests failed: $(head -3 "$work/c.err")"
one_active release
stop

echo "== SIGKILL at each step"
for point in generate-begun generate-on-token generate-saved activate-saved \
    destroy-begun destroy-on-token; do
    CUSTODIAN_TEST_CRASH=$point start
    before=$("$ctl" key versions release | awk '$2 ~ /active|retired|pending/ { print $1 }' | sort)
    case $point in
    destroy-*)
        victim=$("$ctl" key versions release | awk '$2 == "retired" { print $1; exit }')
        "$ctl" key destroy "release@$victim" --confirm "release@$victim" \
            >/dev/null 2>&1 || true
        ;;
    *)
        # A version left pending by the last crash is activated without
        # generating: the second rotation then reaches the point.
        for _ in 1 2; do
            kill -0 "$pid" 2>/dev/null || break
            "$ctl" key rotate release >/dev/null 2>&1 || true
        done
        ;;
    esac
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$pid" 2>/dev/null && fail "the daemon never reached $point"
    wait "$pid" 2>/dev/null || true
    pid=
    start
    one_active release
    # Every version not destroyed still has its private key on the token.
    for v in $before; do
        [ "$point" != "${point#destroy}" ] && [ "$v" = "$victim" ] && continue
        case $(state_of release "$v") in
        active | retired | pending) ;;
        *) fail "after $point: release@$v is $(state_of release "$v")" ;;
        esac
        token_has "release@$v" ||
            fail "after $point: release@$v lost its private key"
    done
    signed_by release "$("$ctl" key versions release | awk '$2 == "active" { print $1 }')"
    stop
done
echo "rotation: all checks passed"
