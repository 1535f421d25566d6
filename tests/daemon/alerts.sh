#!/bin/bash
# Anomaly alerts against a real daemon on a real SoftHSM2 token. An
# ordinary workload raises none; then each kind is triggered on purpose
# and must raise exactly one alert record, a log line and a count in the
# metrics: a new executable, a new cgroup (when cgroup v2 can be written
# here), a new key, repeated refusals, a burst far above the identity's
# mean, use after the identity went stale. An identity with
# on_alert = "suspend" is suspended by its first alert, which refuses the
# request that raised it, until an operator resumes it.
# Usage: alerts.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
set -euo pipefail
daemon=$1 ctl=$2 sign=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid= cg=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$cg" ] && rmdir "$cg" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}

softhsm_token "$work/token" custodian-test
mkdir -p "$work/bin" "$work/files"
cp "$sign" "$work/bin/bot-sign"
cp "$sign" "$work/bin/other-sign"
cp "$sign" "$work/bin/guarded-sign"
for i in $(seq 200); do echo "artifact $i" >"$work/files/f$i"; done
write_conf() { # write_conf STALE_AFTER
    cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "a"; type = "ecdsa-p256"; },
         { name = "b"; type = "ecdsa-p256"; },
         { name = "c"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = (
  { name = "guarded"; match = { exe = "$work/bin/guarded-sign"; };
    on_alert = "suspend"; grants = ( { keys = [ "a", "b" ]; } ); },
  { name = "bot"; match = { uid = $(id -u); };
    grants = ( { keys = [ "a", "b" ]; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
suspended = "$work/suspended";
inventory = { stale_after = "$1"; };
alerts = { rate_factor = 2; rate_min = 40; rate_after = "0s"; denials = 5; };
CONF
}
start_daemon() {
    : >"$work/daemon.log"
    "$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 600); do
        grep -q "serving on" "$work/daemon.log" && return 0
        kill -0 "$pid" 2>/dev/null || fail "custodiand exited"
        sleep 0.05
    done
    fail "custodiand did not start"
}
stop_daemon() {
    kill -TERM "$pid"
    wait "$pid" || fail "custodiand exited with status $?"
    pid=
}
# Until the inventory has read the log, no alert is judged.
wait_ready() {
    for _ in $(seq 200); do
        "$ctl" identities --json | jq -e '.rebuild.done == true' >/dev/null &&
            return 0
        sleep 0.05
    done
    fail "the inventory never finished reading the log"
}
alerts() { # alerts KIND IDENTITY: how many alert records of that kind
    grep -c "\"event\":\"alert\",\"kind\":\"$1\",.*\"identity\":\"$2\"" \
        "$work/audit.log" || true
}
expect_alerts() { # expect_alerts KIND IDENTITY N WHAT
    [ "$(alerts "$1" "$2")" = "$3" ] ||
        fail "$4: $(alerts "$1" "$2") $1 alerts for $2, expected $3"
}
signs() { # signs PROGRAM KEY FILE...
    local prog=$1 key=$2
    shift 2
    "$prog" sign --key "$key" --output-dir "$work/out" "$@" >/dev/null
}

export CUSTODIAN_SOCKET=$work/sign.sock CUSTODIAN_ADMIN_SOCKET=$work/admin.sock
mkdir "$work/out"
write_conf 30d
start_daemon
for k in a b c; do "$ctl" key create $k >/dev/null; done
wait_ready

# An ordinary workload: the first requests are each identity's baseline.
signs "$work/bin/bot-sign" a "$work"/files/f{1..10} || fail "bot signing"
signs "$work/bin/guarded-sign" a "$work"/files/f{1..5} || fail "guarded signing"
signs "$work/bin/bot-sign" a "$work"/files/f{11..20} || fail "bot signing"
! grep -q '"event":"alert"' "$work/audit.log" ||
    fail "an ordinary workload raised $(grep '"event":"alert"' "$work/audit.log")"
"$ctl" metrics | grep -q '^custodian_alerts_total{' &&
    fail "alerts counted for an ordinary workload"
echo "ok: an ordinary workload raises no alert"

# A new executable, once for a burst from it.
signs "$work/bin/other-sign" a "$work"/files/f{1..3} || fail "other-sign"
expect_alerts new-exe bot 1 "a new executable"
grep -q "\"event\":\"alert\",\"kind\":\"new-exe\",.*\"exe\":\"$work/bin/other-sign\".*\"action\":\"record\"" \
    "$work/audit.log" || fail "the new-exe record: $(grep new-exe "$work/audit.log")"
grep -q "alert: identity \"bot\": new-exe: a request from executable $work/bin/other-sign, not seen before" \
    "$work/daemon.log" || fail "no log line for the new executable"
echo "ok: a new executable raises one alert, recorded and logged"

# A new cgroup, where this machine lets root make one.
if [ -w /sys/fs/cgroup/unified ] || [ -w /sys/fs/cgroup/cgroup.procs ]; then
    base=/sys/fs/cgroup/unified
    [ -d "$base" ] || base=/sys/fs/cgroup
    cg=$base/custodian-alerts-$$
    mkdir "$cg"
    sh -c "echo \$\$ >$cg/cgroup.procs && exec \"$work/bin/bot-sign\" sign \
        --key a --output-dir $work/out $work/files/f1" >/dev/null ||
        fail "signing from a new cgroup"
    expect_alerts new-cgroup bot 1 "a new cgroup"
    echo "ok: a new cgroup raises an alert"
else
    echo "skipped: no writable cgroup v2 here for the new-cgroup alert"
fi

# A new key: allowed, and alerted once.
signs "$work/bin/bot-sign" b "$work"/files/f{1..3} || fail "bot signing b"
expect_alerts new-key bot 1 "a new key"

# Repeated refusals: five within five minutes make one alert; the first
# asks for a key the identity never used, which is a new-key alert too.
for i in 1 2 3 4 5 6 7; do
    ! signs "$work/bin/bot-sign" c "$work/files/f1" 2>/dev/null ||
        fail "key c was granted"
done
expect_alerts denials bot 1 "repeated refusals"
expect_alerts new-key bot 2 "a request for a key never granted"
echo "ok: a new key and repeated refusals raise one alert each"

# A burst far above the mean: one alert however long it lasts.
signs "$work/bin/bot-sign" a "$work"/files/f{1..150} || fail "the burst"
expect_alerts rate bot 1 "a burst"
grep -q '"kind":"rate",.*"detail":"[0-9]* requests this minute, against a mean of' \
    "$work/audit.log" || fail "the rate alert's detail"
echo "ok: a burst raises one rate alert"

# on_alert = "suspend": the alert suspends the identity and refuses the
# request that raised it; the others are refused until it is resumed.
rc=0
signs "$work/bin/guarded-sign" b "$work/files/f1" 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q 'CUST_ERR_SUSPENDED.*identity "guarded" is suspended since .* by alert: new-key' \
    "$work/err" || fail "the alerting request: exit $rc $(cat "$work/err")"
grep -q '"event":"alert","kind":"new-key",.*"identity":"guarded",.*"action":"suspend"' \
    "$work/audit.log" || fail "the suspending alert's record"
rc=0
signs "$work/bin/guarded-sign" a "$work/files/f1" 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q CUST_ERR_SUSPENDED "$work/err" ||
    fail "a suspended identity signed: exit $rc $(cat "$work/err")"
"$ctl" identities --json | jq -e '.identities[] | select(.identity == "guarded")
    | .suspended != null' >/dev/null ||
    fail "the inventory does not show guarded suspended"
"$ctl" identity resume guarded | grep -qx "identity guarded: resumed" ||
    fail "resume"
signs "$work/bin/guarded-sign" a "$work/files/f1" || fail "resumed, still refused"
echo "ok: on_alert = suspend suspends at the alert, until resumed"

"$ctl" metrics >"$work/metrics"
for want in 'identity="bot",kind="new-exe"} 1' 'identity="bot",kind="new-key"} 2' \
    'identity="bot",kind="denials"} 1' 'identity="bot",kind="rate"} 1' \
    'identity="guarded",kind="new-key"} 1'; do
    grep -qF "custodian_alerts_total{$want" "$work/metrics" ||
        fail "metrics lack $want: $(grep alerts_total "$work/metrics")"
done
echo "ok: every alert is counted in custodian_alerts_total"

# Stale: restarted with stale_after = 2s, an identity unused that long
# raises one alert at its next request.
stop_daemon
write_conf 2s
start_daemon
wait_ready
sleep 3
signs "$work/bin/bot-sign" a "$work/files/f1" || fail "bot after the restart"
signs "$work/bin/bot-sign" a "$work/files/f2" || fail "bot after the restart"
expect_alerts stale-use bot 1 "use after going stale"
echo "ok: use after going stale raises an alert"
stop_daemon
"$ctl" audit verify "$work/audit.log" >/dev/null || fail "audit chain broken"
echo "ok: anomaly alerts"
