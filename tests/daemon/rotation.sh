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
[ -n "${KEEP:-}" ] && trap stop EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}
softhsm_token "$work/token" custodian-test

day=86400 t0=1700000000
export CUSTODIAN_TEST_CLOCK=$work/clock
echo $t0 >"$CUSTODIAN_TEST_CLOCK"
cat >"$work/custodiand.conf" <<CONF
user = "root";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; namespaces = [ "file" ];
           rotation = { period = "30d"; publish_ahead = "2d";
                        destroy_after = "60d"; }; },
         { name = "manual"; type = "ecdsa-p384"; },
         { name = "ed"; type = "ed25519"; namespaces = [ "file", "git" ]; },
         { name = "rsa"; type = "rsa-2048"; },
         { name = "brief"; type = "ecdsa-p256";
           rotation = { period = "3650d"; verify_for = "1d"; }; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "release", "manual", "brief", "ed", "rsa" ]; } ); } );
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
# Sets the daemon's clock to t0 + S. The new time is renamed into place:
# a daemon that read the file while the shell rewrote it would see it empty.
at() {
    echo $((t0 + $1)) >"$CUSTODIAN_TEST_CLOCK.new"
    mv -f "$CUSTODIAN_TEST_CLOCK.new" "$CUSTODIAN_TEST_CLOCK"
}
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
kr=$work/keyring
# ISO time of epoch second S, and the OpenSSH form.
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
stamp() { date -u -d "@$1" +%Y%m%d%H%M%S; }
# Waits until the keyring shows version V of KEY in STATE.
wait_published() {
    for _ in $(seq 100); do
        jq -e --arg k "$1" --argjson v "$2" --arg s "$3" \
            '.keys[] | select(.name == $k) | .versions[] |
             select(.version == $v and .state == $s)' \
            "$kr/manifest.json" >/dev/null 2>&1 && return
        sleep 0.05
    done
    fail "the keyring never showed $1@$2 $3"
}
# Signs $work/NAME with release three ways: der, json and sshsig.
sign_all() {
    echo "artifact $1 $RANDOM" >"$work/$1"
    "$sign" sign --key release --format json "$work/$1" >/dev/null &&
        "$sign" sign --key release "$work/$1" >/dev/null &&
        "$sign" sign --key release --format sshsig "$work/$1" >/dev/null ||
        fail "signing $1"
}
# The JSON bundle of NAME verifies against the keyring, by KEY@V.
good() {
    "$sign" verify --keyring "$kr" --signature "$work/$1.sig.json" \
        "$work/$1" >"$work/out" || fail "$1: $(cat "$work/out")"
    grep -q "good signature by $2 version $3\$" "$work/out" ||
        fail "$1: $(cat "$work/out")"
}
# The der signature of NAME, dated AT, against the keyring.
verify_der() {
    "$sign" verify --keyring "$kr" --key "${3:-release}" \
        --digest "${4:-sha256}" --at "$2" --signature "$work/$1.sig" "$work/$1"
}
good_der() {
    verify_der "$1" "$2" >"$work/out" && grep -q "version $3\$" "$work/out" ||
        fail "$1 at $2: $(cat "$work/out")"
}
bad_der() {
    local rc=0
    verify_der "$1" "$2" >"$work/out" || rc=$?
    [ $rc = 1 ] && grep -q "$3" "$work/out" ||
        fail "$1 at $2 should fail with $3: rc $rc $(cat "$work/out")"
}
# ssh-keygen checks NAME's SSH signature against allowed_signers at S.
ssh_verify() {
    ssh-keygen -Y verify -f "$kr/allowed_signers" -I release -n file \
        -s "$work/$1.sshsig" -Overify-time="$(stamp "$2")" <"$work/$1"
}
ssh_good() {
    ssh_verify "$1" "$2" >"$work/out" 2>&1 ||
        fail "ssh-keygen rejects $1 at $2: $(cat "$work/out")"
}
ssh_bad() {
    ! ssh_verify "$1" "$2" >/dev/null 2>&1 ||
        fail "ssh-keygen accepts $1 at $2, outside its window"
}
one_active() {
    local n
    n=$("$ctl" key versions "$1" | awk '$2 == "active"' | wc -l)
    [ "$n" = 1 ] || fail "$1 has $n active versions"
}

echo "== months of scheduled rotation, checked against the keyring"
echo data >"$work/data"
start
"$ctl" key create release >/dev/null || fail "key create"
"$ctl" key create manual >/dev/null || fail "key create manual"
wait_published release 1 active
sign_all v1a
at $((28 * day - 1))
sleep 0.3
[ -z "$(state_of release 2)" ] || fail "version 2 made before its time"
at $((28 * day))
wait_state release 2 pending
wait_published release 2 pending # published before it signs
signed_by release 1              # pending signs nothing
at $((30 * day - 1))
sign_all v1z # the last second before the rotation
T=$((t0 + 30 * day))
at $((30 * day))
wait_state release 2 active
[ "$(state_of release 1)" = retired ] || fail "version 1 not retired"
sign_all v2a # the first second after it
wait_published release 1 retired

good v1a release 1
good v1z release 1
good v2a release 2
for f in v1a v1z; do
    openssl dgst -sha256 -verify "$kr/release@1.pem" -signature "$work/$f.sig" \
        "$work/$f" >/dev/null || fail "$f: openssl rejects it"
done
openssl dgst -sha256 -verify "$kr/release@2.pem" -signature "$work/v2a.sig" \
    "$work/v2a" >/dev/null || fail "v2a: openssl rejects it"
# At the boundary second both versions are valid; one second either side,
# only one.
good_der v1z "$(iso $((T - 1)))" 1
good_der v1z "$(iso $T)" 1
bad_der v1z "$(iso $((T + 1)))" CUST_ERR_NOT_VALID
good_der v2a "$(iso $T)" 2
bad_der v2a "$(iso $((T - 1)))" CUST_ERR_NOT_VALID
# SSH signatures verify with ssh-keygen at the time they were made.
ssh_good v1a $t0
ssh_good v1z $((T - 1))
ssh_good v1z $T
ssh_bad v1z $((T + 1))
ssh_good v2a $T
ssh_bad v2a $((T - 1))

# The retired version's private key goes 60 days after retirement; its
# public key stays, and what it signed still verifies.
at $((90 * day))
wait_state release 1 destroyed
grep -q '"transition":"destroy"' "$work/audit.log" ||
    fail "destruction not audited"
wait_published release 1 destroyed
good v1a release 1
ssh_good v1a $t0

echo "== admin commands"
"$ctl" key rotate manual | grep -q "manual version 2" || fail "rotate"
# The keyring holds the new version by the time the command returns.
jq -e '.keys[] | select(.name == "manual") | .versions[1].state == "active"' \
    "$kr/manifest.json" >/dev/null || fail "rotate returned before publishing"
signed_by manual 2
rc=0
"$ctl" key versions nosuch >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_KEY_NOT_FOUND.*no such key in the configuration" \
    "$work/err" || fail "key versions of an unknown key: rc $rc $(cat "$work/err")"
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
# A retired version signs nothing; manual has no schedule, so it has no
# active version until an operator rotates it.
"$ctl" key retire manual@2 >/dev/null || fail "retire manual@2"
rc=0
"$sign" sign --key manual "$work/data" 2>"$work/err" || rc=$?
[ $rc = 1 ] || fail "a retired version signed"
"$ctl" key versions manual | grep -q "active version: none" ||
    fail "manual still has an active version"
rc=0
"$ctl" key retire manual@2 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "cannot be retired" "$work/err" ||
    fail "retiring a retired version: rc $rc $(cat "$work/err")"
"$ctl" key rotate manual | grep -q "manual version 3" || fail "rotate manual"

echo "== revocation"
R=$((t0 + 91 * day))
echo "manual" >"$work/m2"
"$sign" sign --key manual --digest sha384 "$work/m2" >/dev/null ||
    fail "manual@3 signs"
at $((91 * day))
"$ctl" key revoke manual@3 --reason "laptop stolen" >/dev/null ||
    fail "revoke"
rc=0
"$sign" sign --key manual "$work/data" 2>/dev/null || rc=$?
[ $rc != 0 ] || fail "a revoked version signed"
"$ctl" key versions manual | grep -q "revoked .*: laptop stolen" ||
    fail "revocation reason not shown"
wait_published manual 3 revoked
jq -e '.keys[] | select(.name == "manual") | .versions[2] |
    .revocation_reason == "laptop stolen" and .revoked != null' \
    "$kr/manifest.json" >/dev/null || fail "revocation not in the manifest"
verify_der m2 "$(iso $((R - 1)))" manual sha384 >"$work/out" ||
    fail "a signature made before the revocation: $(cat "$work/out")"
rc=0
verify_der m2 "$(iso $R)" manual sha384 >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_REVOKED "$work/out" ||
    fail "a signature dated at the revocation verifies: $(cat "$work/out")"
"$ctl" key destroy manual@1 --confirm manual@1 >/dev/null ||
    fail "destroy of a retired version"
rc=0
"$ctl" key destroy manual@1 --confirm manual@1 >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || fail "a destroyed version destroyed again: rc $rc"
grep -q '"action":"key-change"' "$work/audit.log" ||
    fail "admin change not audited"
# brief verifies for a day after retirement only: then it leaves
# allowed_signers, and custodian-sign (on the real clock, years later)
# refuses what it signed.
"$ctl" key create brief >/dev/null || fail "key create brief"
echo brief >"$work/b1"
"$sign" sign --key brief --format json "$work/b1" >/dev/null || fail "brief"
at $((91 * day + 1))
"$ctl" key rotate brief >/dev/null || fail "rotate brief"
wait_published brief 1 retired
grep -q " brief@1\$" "$kr/allowed_signers" ||
    fail "brief@1 not in allowed_signers while it verifies"
at $((93 * day))
for _ in $(seq 100); do
    grep -q " brief@1\$" "$kr/allowed_signers" || break
    sleep 0.05
done
grep -q " brief@1\$" "$kr/allowed_signers" &&
    fail "brief@1 still in allowed_signers after its verify_for"
rc=0
"$sign" verify --keyring "$kr" --signature "$work/b1.sig.json" "$work/b1" \
    >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_NOT_VALID.*valid for verification until" \
    "$work/out" || fail "brief@1 still verifies: $(cat "$work/out")"

echo "== chain of custody"
"$ctl" key rotate release >/dev/null || fail "rotate release"
"$ctl" key rotate release >/dev/null || fail "rotate release again"
n=$("$ctl" key versions release | awk '$2 == "active" { print $1 }')
sign_all v4a
wait_published release "$n" active
v1fpr=$(jq -r '.keys[0].versions[0].fingerprint' "$kr/manifest.json")
"$sign" verify --keyring "$kr" --anchor "$v1fpr" \
    --signature "$work/v4a.sig.json" "$work/v4a" >/dev/null ||
    fail "no chain from version 1 to version $n"
cp -r "$kr" "$work/forged"
cp "$kr/release@$((n - 2)).statement.sig" \
    "$work/forged/release@$((n - 1)).statement.sig"
rc=0
"$sign" verify --keyring "$work/forged" --signature "$work/v4a.sig.json" \
    "$work/v4a" >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_CHAIN.*version $((n - 1))" "$work/out" ||
    fail "a forged statement went unnoticed: $(cat "$work/out")"
# Trust runs forward only: a later version vouches for no earlier one.
nfpr=$(jq -r --argjson n "$n" '.keys[0].versions[] | select(.version == $n) |
    .fingerprint' "$kr/manifest.json")
rc=0
"$sign" verify --keyring "$kr" --anchor "$nfpr" \
    --signature "$work/v1a.sig.json" "$work/v1a" >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_CHAIN.*does not vouch" "$work/out" ||
    fail "a later anchor vouched for version 1: $(cat "$work/out")"
mfpr=$(jq -r '.keys[1].versions[0].fingerprint' "$kr/manifest.json")
rc=0
"$sign" verify --keyring "$kr" --anchor "$mfpr" \
    --signature "$work/v4a.sig.json" "$work/v4a" >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_CHAIN "$work/out" ||
    fail "another key's anchor accepted: $(cat "$work/out")"
echo tampered >>"$work/v4a"
rc=0
"$sign" verify --keyring "$kr" --signature "$work/v4a.sig.json" \
    "$work/v4a" >"$work/out" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_BAD_SIGNATURE "$work/out" ||
    fail "a changed file verifies: $(cat "$work/out")"

# Ed25519 and RSA versions vouch for their successors too, checked here
# with openssl alone; an Ed25519 SSH signature verifies through the
# keyring's allowed_signers.
for k in ed rsa; do
    "$ctl" key create $k >/dev/null || fail "key create $k"
done
echo ed >"$work/ed1"
"$sign" sign --key ed --format sshsig "$work/ed1" >/dev/null || fail "ed signs"
at $((93 * day + 1))
for k in ed rsa; do
    "$ctl" key rotate $k >/dev/null || fail "rotate $k"
    wait_published $k 2 active
done
openssl pkeyutl -verify -pubin -inkey "$kr/ed@1.pem" -rawin \
    -in "$kr/ed@2.statement" -sigfile "$kr/ed@2.statement.sig" >/dev/null ||
    fail "ed@2's statement does not verify with openssl"
openssl dgst -sha256 -verify "$kr/rsa@1.pem" -signature "$kr/rsa@2.statement.sig" \
    "$kr/rsa@2.statement" >/dev/null ||
    fail "rsa@2's statement does not verify with openssl"
grep -q '^ed namespaces="file,git",valid-after="[0-9]*Z",valid-before="[0-9]*Z" ssh-ed25519 ' \
    "$kr/allowed_signers" || fail "no ed line in allowed_signers"
ssh-keygen -Y verify -f "$kr/allowed_signers" -I ed -n file \
    -s "$work/ed1.sshsig" -Overify-time="$(stamp $((t0 + 93 * day)))" \
    <"$work/ed1" >/dev/null 2>&1 || fail "ed's SSH signature does not verify"

echo "== export keyring"
"$ctl" export keyring "$work/exported" -c "$work/custodiand.conf" \
    >/dev/null || fail "export keyring"
diff -r "$kr" "$work/exported" >&2 || fail "the export differs"
# A directory that is not a keyring is never replaced.
mkdir "$work/precious"
echo keep >"$work/precious/notes.txt"
for dir in "$work/precious" "$work/precious/" .; do
    rc=0
    "$ctl" export keyring "$dir" -c "$work/custodiand.conf" \
        >/dev/null 2>"$work/err" || rc=$?
    [ $rc = 1 ] || fail "export over $dir: exit $rc"
done
grep -q "not a keyring's; refusing" "$work/err" ||
    grep -q "directory of its own" "$work/err" || fail "$(cat "$work/err")"
[ "$(cat "$work/precious/notes.txt")" = keep ] && [ ! -e "$work/precious.new" ] ||
    fail "export harmed a directory that was not a keyring"

echo "== 16 clients sign through 5 rotations"
for i in $(seq 16); do
    (
        mkdir -p "$work/c$i"
        for j in $(seq 30); do
            echo "$i $j" >"$work/c$i/$j"
            "$sign" sign --key release --format json "$work/c$i/$j" \
                >/dev/null 2>>"$work/c.err" ||
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
# Every signature verifies against the keyring, whichever version made it.
n=$("$ctl" key versions release | awk '$2 == "active" { print $1 }')
wait_published release "$n" active
for f in "$work"/c*/*.sig.json; do
    "$sign" verify --keyring "$kr" --signature "$f" "${f%.sig.json}" \
        >>"$work/verified" || fail "$(tail -1 "$work/verified")"
done
[ "$(awk '{ print $NF }' "$work/verified" | sort -u | wc -l)" -gt 1 ] ||
    fail "all signatures came from one version: no rotation under load"
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
    # The keyring shows what the state holds.
    "$ctl" key versions release |
        awk '$1 ~ /^[0-9]+$/ && $2 != "pending" { print $1, $2 }' >"$work/st"
    jq -r '.keys[] | select(.name == "release") | .versions[] |
        select(.state != "pending") | "\(.version) \(.state)"' \
        "$kr/manifest.json" >"$work/kr"
    diff "$work/st" "$work/kr" >&2 ||
        fail "after $point: the keyring does not match the state"
    stop
done
echo "rotation: all checks passed"
