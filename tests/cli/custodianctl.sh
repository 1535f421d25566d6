#!/bin/bash
# custodianctl's offline commands as an operator runs them: exit statuses
# and the lines they print.
# Usage: custodianctl.sh CUSTODIANCTL SOURCE_DIR
set -euo pipefail
ctl=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

run() { # run STATUS ARGS...: runs custodianctl, expects STATUS
    local want=$1 rc=0
    shift
    "$ctl" "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$want" ] ||
        fail "custodianctl $* exited $rc, expected $want: $(cat "$work/out" "$work/err")"
}

# The shipped example is valid.
run 0 policy check "$src/conf/custodiand.conf"
grep -q "valid: 1 token, 3 keys, 3 identities, 1 admin" "$work/out" ||
    fail "check printed: $(cat "$work/out")"

# A broken file: every error, each with its line, exit 1.
cat >"$work/bad.conf" <<'CONF'
tokens = ( { name = "hsm"; module = "/m.so"; uri = "pkcs11:token=t";
             pin_file = "/p"; } );
keys = ( { name = "k"; type = "ecdsa-p999"; } );
identities = ( { name = "x"; match = { uid = 5; };
                 grants = ( { keys = "k"; digests = "sha1"; } ); } );
CONF
run 1 policy check "$work/bad.conf"
grep -qx "$work/bad.conf:3: unknown key type \"ecdsa-p999\" (ecdsa-p256, ecdsa-p384, ed25519, rsa-2048, rsa-3072, rsa-4096)" "$work/err" ||
    fail "key type error missing: $(cat "$work/err")"
grep -qx "$work/bad.conf:5: digests: unknown or refused \"sha1\"" "$work/err" ||
    fail "sha1 error missing: $(cat "$work/err")"
[ "$(wc -l <"$work/err")" = 2 ] || fail "expected 2 errors: $(cat "$work/err")"

# Explain: allowed is 0, denied is 1, and the steps are shown.
conf=$src/conf/custodiand.conf
run 0 policy explain -c "$conf" --uid 1001 \
    --cgroup /system.slice/gitlab-runner.service sign release -n file
grep -q '^  identity "ci-runner" (line [0-9]*) matches$' "$work/out" ||
    fail "explain did not show the match: $(cat "$work/out")"
grep -q '^decision: allow: allowed by ci-runner grant 1' "$work/out" ||
    fail "explain did not allow: $(cat "$work/out")"

run 1 policy explain -c "$conf" --uid 1001 \
    --cgroup /system.slice/gitlab-runner.service sign release -d sha512 \
    -n file
grep -q 'decision: CUST_ERR_DENIED: .*digest not allowed' "$work/out" ||
    fail "sha512 not denied by digest: $(cat "$work/out")"

run 1 policy explain -c "$conf" --uid 4321 list release
grep -q 'decision: CUST_ERR_DENIED: no identity matches the caller' \
    "$work/out" || fail "stranger not denied: $(cat "$work/out")"

run 1 policy explain -c "$conf" --uid 1001 \
    --cgroup /system.slice/gitlab-runner.service --at 2028-01-01 \
    sign release -n file
grep -q 'CUST_ERR_EXPIRED' "$work/out" || fail "expiry not applied"

# What the daemon refuses before asking its policy, explain refuses too.
run 1 policy explain -c "$conf" --uid 0 sign no-such-key
grep -q 'decision: CUST_ERR_KEY_NOT_FOUND' "$work/out" ||
    fail "unknown key allowed: $(cat "$work/out")"
run 1 policy explain -c "$conf" --uid 1001 \
    --cgroup /system.slice/gitlab-runner.service sign release -s ed25519
grep -q 'decision: CUST_ERR_SCHEME' "$work/out" ||
    fail "ill-fitting scheme allowed: $(cat "$work/out")"

# Usage errors and an invalid configuration have their own statuses.
run 2 policy explain -c "$conf" sign release
run 2 policy explain -c "$conf" --uid 1 frobnicate release
run 2 policy explain -c "$conf" --uid 1 sign release -d sha1
run 2 nonsense
run 3 policy explain -c "$work/bad.conf" --uid 5 sign k
# Audit verify, on a log made here by the documented rule: each record's
# "prev" is the SHA-256 of the line before it, line feed excluded.
prev=$(printf '0%.0s' $(seq 64))
: >"$work/audit.log"
for i in 1 2 3 4; do
    line="{\"seq\":$i,\"time\":\"2026-12-03T19:40:0${i}.000000Z\",\"prev\":\"$prev\",\"event\":\"sign\",\"key\":\"release\"}"
    printf '%s\n' "$line" >>"$work/audit.log"
    prev=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
done
run 0 audit verify "$work/audit.log"
grep -qx "valid: 4 records, seq 1 to 4, in 1 file" "$work/out" ||
    fail "verify printed: $(cat "$work/out")"
cp "$work/audit.log" "$work/tampered.log"
sed -i '2s/"key":"release"/"key":"forged"/' "$work/tampered.log"
run 1 audit verify "$work/tampered.log"
grep -qx "$work/tampered.log:3: seq 3: prev does not match the previous record" \
    "$work/out" || fail "tampering not found at line 3: $(cat "$work/out")"
sed '3d' "$work/audit.log" >"$work/gap.log"
run 1 audit verify "$work/gap.log"
grep -q ":3: seq 4: seq 4 follows 2" "$work/out" ||
    fail "missing record not found: $(cat "$work/out")"
run 2 audit verify "$work/no-such.log"
run 2 audit verify

run 0 --help
grep -q "policy check" "$work/out" || fail "--help lacks policy check"
echo "ok: custodianctl policy check, explain, audit verify"
