#!/bin/bash
# custodiand end to end: a throwaway SoftHSM2 token, a configuration,
# the real daemon on a real socket, clients through libcustodian, every
# signature checked by OpenSSL and the openssl command, the audit chain
# checked by custodianctl.
# Usage: daemon.sh CUSTODIAND CUSTODIANCTL TEST_DAEMON CUSTODIAN_SIGN
# CUSTODIAN_TEST_WRAPPER, when set, is a command the serving daemon runs
# under (valgrind: see tests/CMakeLists.txt).
set -euo pipefail
daemon=$1 ctl=$2 test=$3 sign=$4
read -ra wrap <<<"${CUSTODIAN_TEST_WRAPPER:-}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # other users' test callers must reach the socket
softhsm_token "$work/token" custodian-test
# Started as root, the daemon runs as nobody: what it uses after the
# change (token store, socket and log directories) belongs to nobody;
# the PIN file stays root's.
mkdir "$work/run" "$work/log" "$work/lib"
chown -R nobody "$work/token/tokens" "$work/run" "$work/log" "$work/lib"

fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/daemon.log" ] && sed 's/^/  daemon: /' "$work/daemon.log" >&2
    exit 1
}

cat >"$work/custodiand.conf" <<CONF
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
user = "nobody";
keys = ( { name = "release"; type = "ecdsa-p256"; },
         { name = "ed"; type = "ed25519"; },
         { name = "limited"; type = "ecdsa-p256"; },
         { name = "secret"; type = "ecdsa-p384"; },
         { name = "rsa"; type = "rsa-2048"; } );
listeners = {
  sign = { path = "$work/run/sign.sock"; mode = "0660"; group = "nogroup"; };
  admin = { path = "$work/run/admin.sock"; mode = "0660"; group = "nogroup"; };
};
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = (
  { name = "expired"; match = { uid = 65534; }; expires = "2020-01-01";
    grants = ( { keys = "release"; } ); },
  { name = "root"; match = { uid = 0; };
    grants = ( { keys = [ "release", "ed", "rsa" ]; },
               { keys = "limited"; rate = "1/h"; burst = 2; } ); }
);
audit = { path = "$work/log/audit.log"; };
state = "$work/lib/keys.state";
keyring = "$work/lib/keyring";
suspended = "$work/lib/suspended";
limits = { idle_timeout = "3s"; };
CONF
"$ctl" policy check "$work/custodiand.conf" >/dev/null

# Started as root without a user to become, it refuses to serve.
grep -v '^user = ' "$work/custodiand.conf" >"$work/rootless.conf"
rc=0
"$daemon" -c "$work/rootless.conf" 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q 'started as root: set user = "NAME"' "$work/err" ||
    fail "no user as root: exit $rc $(cat "$work/err")"
[ ! -e "$work/run/sign.sock" ] || fail "socket left by a refused start"
echo "ok: started as root with no user, custodiand refuses"

# A refused PIN has its own exit status, which the unit does not restart
# on: each start would present the wrong PIN again.
echo 999999 >"$work/wrong.pin"
chmod 600 "$work/wrong.pin"
sed "s|pin_file = \"$SOFTHSM_PIN_FILE\"|pin_file = \"$work/wrong.pin\"|" \
    "$work/custodiand.conf" >"$work/wrongpin.conf"
rc=0
"$daemon" -c "$work/wrongpin.conf" 2>"$work/err" || rc=$?
[ $rc = 3 ] && grep -q CKR_PIN_INCORRECT "$work/err" ||
    fail "wrong PIN: exit $rc $(cat "$work/err")"
grep -q '^RestartPreventExitStatus=3$' "$here/../../conf/custodiand.service" ||
    fail "the unit restarts after a refused PIN"
echo "ok: a refused PIN stops custodiand with status 3"

"${wrap[@]}" "$daemon" -c "$work/custodiand.conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    [ -S "$work/run/sign.sock" ] && grep -q "serving on" "$work/daemon.log" &&
        break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
[ -S "$work/run/sign.sock" ] || fail "no socket after 30 seconds"
[ "$(stat -c %a "$work/run/sign.sock")" = 660 ] || fail "socket mode not 0660"
[ "$(stat -c %U:%G "$work/run/sign.sock")" = root:nogroup ] ||
    fail "socket owner: $(stat -c %U:%G "$work/run/sign.sock")"
# Every thread runs as nobody, with CAP_SYS_PTRACE alone and nothing to
# regain: an empty bounding set. (Bit 19 is CAP_SYS_PTRACE.)
for t in /proc/$pid/task/*; do
    grep -Eq '^Uid:\s+65534\s+65534\s+65534\s+65534$' "$t/status" ||
        fail "thread $t: $(grep Uid "$t/status")"
    grep -Eq '^CapBnd:\s+0+$' "$t/status" || fail "thread $t keeps a bounding set"
    grep -Eq '^CapEff:\s+0+80000$' "$t/status" &&
        grep -Eq '^CapPrm:\s+0+80000$' "$t/status" ||
        fail "thread $t capabilities: $(grep Cap "$t/status")"
done
[ "$(stat -c %U "$work/log/audit.log")" = nobody ] || fail "audit log not nobody's"
echo "ok: custodiand runs as nobody with CAP_SYS_PTRACE only"

# Keys are made by an admin, not by the start: until then, none signs.
export CUSTODIAN_ADMIN_SOCKET=$work/run/admin.sock
"$ctl" keys | grep -q '^release .* -  (no active version' ||
    fail "a key exists before it was created: $("$ctl" keys)"
rc=0
CUSTODIAN_SOCKET=$work/run/sign.sock "$sign" pubkey --key release \
    >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_KEY_NOT_FOUND "$work/err" ||
    fail "an absent key served: exit $rc $(cat "$work/err")"
for key in release ed limited secret rsa; do
    "$ctl" key create $key >"$work/created" || fail "key create $key"
    grep -Eq "^created: $key version 1 \([a-z0-9-]+\) SHA256:" \
        "$work/created" || fail "key create printed $(cat "$work/created")"
done
rc=0
"$ctl" key create release >/dev/null 2>"$work/err" || rc=$?
[ $rc = 4 ] && grep -q CUST_ERR_KEY_EXISTS "$work/err" ||
    fail "second key create: exit $rc $(cat "$work/err")"
rc=0
"$ctl" key create nosuch >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_KEY_NOT_FOUND "$work/err" ||
    fail "key create of an unconfigured key: exit $rc $(cat "$work/err")"
"$ctl" pubkey release >"$work/admin-release.pem"
openssl pkey -pubin -in "$work/admin-release.pem" -noout ||
    fail "custodianctl pubkey printed no public key"
"$ctl" pubkey ed --ssh | grep -q '^ssh-ed25519 [A-Za-z0-9+/=]* ed$' ||
    fail "custodianctl pubkey --ssh"
echo "ok: custodianctl key create and pubkey"

# No core dumps, and no ptrace by its own user: the kernel then gives the
# process's /proc files to root, though it runs as nobody.
grep -Eq '^Max core file size +0 +0 ' "/proc/$pid/limits" ||
    fail "core dumps allowed: $(grep core "/proc/$pid/limits")"
[ "$(stat -c %U "/proc/$pid/mem")" = root ] &&
    [ "$(stat -c %U "/proc/$pid/status")" = root ] ||
    fail "custodiand is dumpable: /proc/$pid/mem owned by $(stat -c %U "/proc/$pid/mem")"
grep -q "^Uid:.*65534" "/proc/$pid/status" || fail "not running as nobody"

# A second daemon on the same sockets stops before touching them.
rc=0
"$daemon" -c "$work/custodiand.conf" 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "another custodiand is serving on it" "$work/err" ||
    fail "second daemon: exit $rc $(cat "$work/err")"
"$ctl" status >/dev/null || fail "the first daemon lost its socket"
echo "ok: a second custodiand leaves the first one's sockets alone"

mkdir "$work/out"
CUSTODIAN_SOCKET=$work/run/sign.sock CUST_TEST_AUDIT=$work/log/audit.log \
    CUST_TEST_OUT=$work/out CK_FORK=no CK_RUN_CASE=daemon "$test" ||
    fail "test_daemon failed"

# The signature a client received verifies with the openssl command.
openssl dgst -sha256 -verify <(openssl pkey -pubin -inform DER \
    -in "$work/out/release.der") -signature "$work/out/message.sig" \
    "$work/out/message" >/dev/null || fail "openssl rejects the signature"
echo "ok: signature verified by openssl"

# custodian-sign, as a build agent runs it.
export CUSTODIAN_SOCKET=$work/run/sign.sock
head -c 3000000 /dev/urandom >"$work/app.tar.gz"
head -c 1000 /dev/urandom >"$work/app2.tar.gz"
"$sign" sign --key release --context job=77 "$work/app.tar.gz" \
    "$work/app2.tar.gz" >/dev/null || fail "custodian-sign sign"
"$sign" pubkey --key release >"$work/release.pem"
cmp -s "$work/release.pem" "$work/admin-release.pem" ||
    fail "custodianctl and custodian-sign disagree on the public key"
for f in app.tar.gz app2.tar.gz; do
    openssl dgst -sha256 -verify "$work/release.pem" \
        -signature "$work/$f.sig" "$work/$f" >/dev/null ||
        fail "openssl rejects $f.sig"
done
"$sign" verify --pubkey "$work/release.pem" --signature \
    "$work/app.tar.gz.sig" "$work/app.tar.gz" >/dev/null ||
    fail "custodian-sign verify rejects a good signature"
! "$sign" verify --pubkey "$work/release.pem" --signature \
    "$work/app.tar.gz.sig" "$work/app2.tar.gz" >/dev/null 2>&1 ||
    fail "custodian-sign verify accepts a wrong file"
echo "ok: custodian-sign der signatures verified by openssl"

for key in release ed rsa; do
    "$sign" sign --key $key --format sshsig --output-dir "$work/out" \
        "$work/app.tar.gz" >/dev/null || fail "sshsig with $key"
    "$sign" pubkey --key $key --format ssh |
        awk '{print "agent@ci " $1 " " $2}' >"$work/allowed_signers"
    ssh-keygen -Y verify -f "$work/allowed_signers" -I agent@ci -n file \
        -s "$work/out/app.tar.gz.sshsig" <"$work/app.tar.gz" >/dev/null ||
        fail "ssh-keygen rejects the $key SSH signature"
    ! ssh-keygen -Y verify -f "$work/allowed_signers" -I agent@ci -n git \
        -s "$work/out/app.tar.gz.sshsig" <"$work/app.tar.gz" >/dev/null 2>&1 ||
        fail "an SSH signature for file verifies as git"
done
echo "ok: custodian-sign SSH signatures (ECDSA, Ed25519, RSA) verified by ssh-keygen"

# A client's string cannot break the record's line or add a field.
"$sign" sign --key release --context "note=a
\"b\":1,\\ü" "$work/app.tar.gz" >/dev/null || fail "sign with a hostile note"
grep -q '"context":{"note":"a\\\\x0a\\"b\\":1,\\\\x5c\\\\xc3\\\\xbc"}' \
    "$work/log/audit.log" || fail "context value not escaped: $(tail -1 "$work/log/audit.log")"
echo "ok: client strings escaped in the audit record"

"$sign" sign --key release --format json "$work/app.tar.gz" >/dev/null
grep -q '"key":"release","version":1,"fingerprint":"SHA256:' \
    "$work/app.tar.gz.sig.json" || fail "json bundle: $(cat "$work/app.tar.gz.sig.json")"
rc=0
"$sign" sign --key secret "$work/app.tar.gz" 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_DENIED "$work/err" ||
    fail "denied signing: exit $rc, $(cat "$work/err")"
echo "ok: custodian-sign json bundle and refusal"

# The admin socket: state and keys for an admin, nothing for others.
"$ctl" status >"$work/status" || fail "custodianctl status"
grep -q '^state: *ok$' "$work/status" && grep -q '^keys: *5$' "$work/status" ||
    fail "status: $(cat "$work/status")"
"$ctl" keys | grep -Eq '^release +ecdsa-p256 +1  SHA256:' ||
    fail "custodianctl keys"
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" status \
    >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "not an admin identity" "$work/err" ||
    fail "a non-admin reached the admin socket: exit $rc $(cat "$work/err")"
echo "ok: admin socket: status and keys for admins only"

# SIGHUP: a configuration with an error is refused and the policy in
# force stays; a good one takes effect at once.
wait_for_record() { # wait_for_record PATTERN
    for _ in $(seq 100); do
        grep -q "$1" "$work/log/audit.log" && return 0
        sleep 0.05
    done
    fail "no audit record matching $1"
}
cp "$work/custodiand.conf" "$work/good.conf"
# The bad file would also take the ed grant away: had any of it been
# applied, ed would be refused below.
sed 's/keys = \[ "release", "ed", "rsa" \]/keys = [ "release", "rsa" ]/' \
    "$work/good.conf" >"$work/custodiand.conf"
printf 'colour = "blue";\n' >>"$work/custodiand.conf"
kill -HUP "$pid"
wait_for_record '"event":"reload","result":"refused"'
"$sign" sign --key ed --format sshsig --output-dir "$work/out" \
    "$work/app2.tar.gz" >/dev/null || fail "old policy lost after a bad reload"
sed 's/keys = \[ "release", "ed", "rsa" \]/keys = [ "release", "rsa" ]/' \
    "$work/good.conf" >"$work/custodiand.conf"
kill -HUP "$pid"
wait_for_record '"event":"reload","result":"applied"'
rc=0
"$sign" sign --key ed --format sshsig --output-dir "$work/out" \
    "$work/app2.tar.gz" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_DENIED "$work/err" ||
    fail "grant still in force after reload: exit $rc $(cat "$work/err")"
"$sign" sign --key release "$work/app2.tar.gz" >/dev/null ||
    fail "release refused after reload"
echo "ok: SIGHUP reload refuses a bad configuration, applies a good one"

printf 'colour = "blue";\n' >>"$work/custodiand.conf"
rc=0
"$ctl" reload >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "the configuration has errors" "$work/err" ||
    fail "custodianctl reload of a bad file: exit $rc $(cat "$work/err")"
rc=0
"$sign" sign --key ed --format sshsig --output-dir "$work/out" \
    "$work/app2.tar.gz" >/dev/null 2>&1 || rc=$?
[ $rc = 1 ] || fail "a refused reload changed the policy in force"
cp "$work/good.conf" "$work/custodiand.conf"
"$ctl" reload | grep -q "reload: applied" || fail "custodianctl reload"
# A socket's mode or group was set at start: a reload cannot apply a new
# one, so it must not say it did.
sed 's/sign = { path = "\([^"]*\)"; mode = "0660"; group = "nogroup"; }/sign = { path = "\1"; mode = "0660"; group = "root"; }/' \
    "$work/good.conf" >"$work/custodiand.conf"
! cmp -s "$work/custodiand.conf" "$work/good.conf" || fail "the group edit did nothing"
rc=0
"$ctl" reload >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "a listener's path, mode, owner or group changed; restart for that" "$work/err" ||
    fail "reload of a new socket group: exit $rc $(cat "$work/err")"
[ "$(stat -c %G "$work/run/sign.sock")" = nogroup ] || fail "socket group changed"
cp "$work/good.conf" "$work/custodiand.conf"
"$sign" sign --key ed --format sshsig --output-dir "$work/out" \
    "$work/app2.tar.gz" >/dev/null || fail "grant not back after reload"
echo "ok: custodianctl reload"

# Suspending an identity: from its next request on, open connections
# included, until it is resumed; the refusal says why.
CUSTODIAN_SOCKET=$work/run/sign.sock CK_FORK=no CK_RUN_CASE=suspend "$test" ||
    fail "suspension"
"$ctl" identity suspend root --reason "key compromise drill" |
    grep -qx "identity root: suspended" || fail "custodianctl identity suspend"
rc=0
"$sign" sign --key release "$work/app2.tar.gz" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q 'CUST_ERR_SUSPENDED.*identity "root" is suspended since .* by ops: key compromise drill' \
    "$work/err" || fail "suspended identity signed: exit $rc $(cat "$work/err")"
rc=0
"$ctl" identity suspend nosuch >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_ARG.*no such identity in the policy" "$work/err" ||
    fail "suspending an unknown identity: exit $rc $(cat "$work/err")"
rc=0
"$ctl" identity resume root --reason x >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "identity resume --reason: exit $rc"
"$ctl" identity resume root | grep -qx "identity root: resumed" ||
    fail "custodianctl identity resume"
"$sign" sign --key release "$work/app2.tar.gz" >/dev/null ||
    fail "resumed identity refused"
echo "ok: identity suspend and resume, on open connections too"

# SIGTERM: requests finish and their answers go out, the log closes with
# a record, the socket goes.
CUSTODIAN_SOCKET=$work/run/sign.sock CUST_TEST_AUDIT=$work/log/audit.log \
    CUST_TEST_DAEMON_PID=$pid CK_FORK=no CK_RUN_CASE=stop "$test" ||
    fail "answers lost at the stop"
wait "$pid" || fail "custodiand exited with status $?"
pid=
[ ! -e "$work/run/sign.sock" ] || fail "socket left behind"
tail -n1 "$work/log/audit.log" | grep -q '"event":"stop"' || fail "no stop record"

"$ctl" audit verify "$work/log/audit.log" || fail "audit chain broken"
grep -q '"caller":{"uid":65533.*"identity":null.*"decision":"deny","error":"CUST_ERR_DENIED"' \
    "$work/log/audit.log" || fail "stranger's denial not audited"
grep -q '"identity":"expired".*"error":"CUST_ERR_EXPIRED"' \
    "$work/log/audit.log" || fail "expired identity's refusal not audited"
grep -q '"error":"CUST_ERR_RATE_LIMITED"' "$work/log/audit.log" ||
    fail "rate limit not audited"
grep -q '"context":{"artifact":"app.tar.gz","job":"7"}' "$work/log/audit.log" ||
    fail "context not audited"
grep -q '"event":"refused".*"frame_type":66.*"error":"CUST_ERR_UNKNOWN_MESSAGE"' \
    "$work/log/audit.log" || fail "unknown frame not audited"
grep -q '"event":"refused".*"error":"CUST_ERR_TOO_BIG"' "$work/log/audit.log" ||
    fail "oversized frame not audited"
grep -q '"event":"admin","action":"status","caller":{"uid":0.*"identity":"ops"' \
    "$work/log/audit.log" || fail "admin status not audited"
grep -q '"event":"refused","caller":{"uid":65534.*"error":"CUST_ERR_DENIED","reason":"not an admin identity"' \
    "$work/log/audit.log" || fail "admin refusal not audited"
grep -q '"event":"admin","action":"key-create","caller":{"uid":0.*"identity":"ops","result":"created","key":"release","version":1,"type":"ecdsa-p256","fingerprint":"SHA256:' \
    "$work/log/audit.log" || fail "key creation not audited"
grep -q '"action":"key-create".*"result":"refused","key":"release","error":"CUST_ERR_KEY_EXISTS"' \
    "$work/log/audit.log" || fail "refused key creation not audited"
grep -q '"event":"admin","action":"identity-suspend",.*"identity":"ops","result":"suspended","target":"root","reason":"leaked CI token"' \
    "$work/log/audit.log" || fail "suspension not audited"
grep -q '"event":"sign",.*"identity":"root",.*"decision":"deny","error":"CUST_ERR_SUSPENDED","reason":"identity \\"root\\" is suspended since' \
    "$work/log/audit.log" || fail "suspended identity's refusal not audited"
grep -q '"event":"admin","action":"identity-resume",.*"result":"resumed","target":"root"' \
    "$work/log/audit.log" || fail "resumption not audited"

# A forged record in the daemon's own log: caught at the next record.
n=$(grep -n '"event":"sign".*"key":"release"' "$work/log/audit.log" |
    sed -n 10p | cut -d: -f1)
sed "${n}s/\"digest\":\"\([0-9a-f]\)/\"digest\":\"\1\1/" "$work/log/audit.log" \
    >"$work/forged.log"
! cmp -s "$work/forged.log" "$work/log/audit.log" || fail "forgery did not change the log"
rc=0
"$ctl" audit verify "$work/forged.log" >"$work/verdict" || rc=$?
seq=$(sed -n "$((n + 1))p" "$work/log/audit.log" | grep -o '"seq":[0-9]*' | cut -d: -f2)
[ $rc = 1 ] && grep -qx "$work/forged.log:$((n + 1)): seq $seq: prev does not match the previous record" \
    "$work/verdict" || fail "forged record: exit $rc $(cat "$work/verdict")"
echo "ok: a forged audit record is caught at the record after it"

# A second start finds the keys the first one created, and keeps a
# suspension made before it.
printf '{"format": 1, "suspended": [ {"identity": "root", "since": 1, "by": "ops", "reason": "kept"} ]}\n' \
    >"$work/lib/suspended"
fpr=$(grep -o '"key":"rsa","version":1,"type":"rsa-2048","fingerprint":"[^"]*"' \
    "$work/log/audit.log" | sed 's/.*"fingerprint":"//; s/"$//')
"${wrap[@]}" "$daemon" -c "$work/custodiand.conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    [ -S "$work/run/admin.sock" ] && grep -q "serving on" "$work/daemon.log" &&
        break
    sleep 0.05
done
"$ctl" keys | awk -v f="$fpr" '$1 == "rsa" && $3 == 1 && $4 == f { ok = 1 }
    END { exit !ok }' ||
    fail "restart lost a key: $("$ctl" keys) (expected $fpr)"
rc=0
"$sign" sign --key release "$work/app2.tar.gz" >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "CUST_ERR_SUSPENDED.*by ops: kept" "$work/err" ||
    fail "restart lifted a suspension: exit $rc $(cat "$work/err")"
"$ctl" identity resume root >/dev/null
"$sign" sign --key release "$work/app2.tar.gz" >/dev/null ||
    fail "resumed after restart, still refused"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
echo "ok: custodiand end to end"
