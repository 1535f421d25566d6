#!/bin/bash
# custodianctl audit tail on the log of a real custodiand: the last
# records exactly as written, records printed as the daemon writes them,
# a rotation followed without a break, a partial line held back until its
# line feed, and a broken link reported with its seq and exit status 1.
# Usage: audit_tail.sh CUSTODIAND CUSTODIANCTL
set -euo pipefail
daemon=$1 ctl=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid= tailpid=
cleanup() {
    [ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in daemon.log err; do
        [ -f "$work/$f" ] && sed "s/^/  $f: /" "$work/$f" >&2
    done
    exit 1
}

# The daemon and its callers run as one ordinary user, nobody when the
# test runs as root: so the daemon needs no user to change to, and it
# sees its callers' executables without privileges.
softhsm_token "$work/token" custodian-test
uid=$(id -u)
as_user=()
if [ "$uid" = 0 ]; then
    uid=65534
    as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chown -R nobody "$work"
fi
log=$work/audit.log
cat >"$work/custodiand.conf" <<CONF
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
# Every request on the admin socket is audited: it makes the records.
admins = ( { name = "ops"; match = { uid = $uid; }; } );
identities = ( { name = "agent"; match = { uid = $uid; };
                 grants = ( { keys = "release"; } ); } );
audit = { path = "$log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
"${as_user[@]}" "$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 100); do
    [ -S "$work/admin.sock" ] && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
export CUSTODIAN_ADMIN_SOCKET=$work/admin.sock
for _ in 1 2 3; do
    "${as_user[@]}" "$ctl" status >/dev/null || fail "custodianctl status"
done

wait_for() { # wait_for FILE PATTERN: until a line of FILE matches
    for _ in $(seq 100); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "nothing matching $2 in $1: $(cat "$1")"
}
run() { # run STATUS ARGS...: runs custodianctl, expects STATUS
    local want=$1 rc=0
    shift
    "$ctl" "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$want" ] ||
        fail "custodianctl $* exited $rc, expected $want: $(cat "$work/out")"
}
record() { # record SEQ PREV: a record line, as the audit module writes one
    printf '{"seq":%s,"time":"%s","prev":"%s","event":"test"}' "$1" \
        "$(date -u +%Y-%m-%dT%H:%M:%S.000000Z)" "$2"
}
next_record() { # next_record FILE: a record that follows FILE's last line
    local last
    last=$(tail -n 1 "$1")
    record $(($(jq .seq <<<"$last") + 1)) \
        "$(printf '%s' "$last" | sha256sum | cut -c1-64)"
}

# The last two records, byte for byte, and nothing else; each is JSON.
run 0 audit tail -n 2 --no-follow "$log"
tail -n 2 "$log" | cmp -s - "$work/out" ||
    fail "-n 2 printed: $(cat "$work/out")"
jq -e '.seq > 0' "$work/out" >/dev/null || fail "output is not JSON records"
run 0 audit tail -n 2 --no-follow --config "$work/custodiand.conf"
tail -n 2 "$log" | cmp -s - "$work/out" || fail "--config: $(cat "$work/out")"
run 0 audit tail -n 0 --no-follow "$log"
[ ! -s "$work/out" ] || fail "-n 0 printed: $(cat "$work/out")"
run 1 audit tail --no-follow "$work/missing.log"
grep -q "$work/missing.log: cannot open" "$work/err" ||
    fail "missing log: $(cat "$work/err")"
run 2 audit tail -n two "$log"
run 2 audit tail --config "$work/custodiand.conf" "$log"
echo "ok: audit tail -n prints the last records as written"

# Following: a request made after tail started is printed as the daemon
# wrote its record, then the daemon's stop record.
first=$(wc -l <"$log")
"$ctl" audit tail -n 1 "$log" >"$work/follow" 2>"$work/err" &
tailpid=$!
wait_for "$work/follow" "\"seq\":$first,"
"${as_user[@]}" "$ctl" status >/dev/null || fail "custodianctl status"
wait_for "$work/follow" "\"seq\":$((first + 1)),\".*\"action\":\"status\""
tail -n 2 "$log" | cmp -s - "$work/follow" ||
    fail "the new record differs: $(cat "$work/follow")"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
wait_for "$work/follow" '"event":"stop"'
echo "ok: audit tail prints records as the daemon writes them"

# A rotation as the daemon makes one: the file is renamed, its last record
# comes in after the rename, and a new file starts the chain where the
# archive ends. A line is printed only once its line feed is written.
mv "$log" "$log.1"
next_record "$log.1" >>"$log.1"
echo >>"$log.1"
line=$(next_record "$log.1")
printf '%s' "${line:0:40}" >"$log"
sleep 0.5
[ "$(wc -l <"$work/follow")" = $(($(wc -l <"$log.1") - first + 1)) ] ||
    fail "a partial line or the new file came first: $(cat "$work/follow")"
printf '%s\n' "${line:40}" >>"$log"
wait_for "$work/follow" "^$line\$"
kill -TERM "$tailpid"
rc=0
wait "$tailpid" || rc=$?
tailpid=
[ $rc = 0 ] || fail "tail of an unbroken chain exited $rc"
[ ! -s "$work/err" ] || fail "warnings on an unbroken chain"
cat "$log.1" "$log" | tail -n +"$first" | cmp -s - "$work/follow" ||
    fail "followed records differ from the log: $(cat "$work/follow")"
echo "ok: audit tail follows a rotation; partial lines wait"

# A record whose prev does not link: a warning naming its seq, the records
# after it still printed, and exit status 1 once stopped.
"$ctl" audit tail -n 1 "$log" >"$work/follow" 2>"$work/err" &
tailpid=$!
seq=$(($(tail -n 1 "$log" | jq .seq) + 1))
wait_for "$work/follow" "\"seq\":$((seq - 1)),"
record $seq "$(printf '%064d' 0)" >>"$log"
echo >>"$log"
next_record "$log" >>"$log"
echo >>"$log"
wait_for "$work/err" "seq $seq: chain broken: prev does not match"
wait_for "$work/follow" "\"seq\":$((seq + 1)),"
kill -TERM "$tailpid"
rc=0
wait "$tailpid" || rc=$?
tailpid=
[ $rc = 1 ] || fail "tail of a broken chain exited $rc"
[ "$(wc -l <"$work/err")" = 1 ] || fail "one break, warnings: $(cat "$work/err")"
tail -n 3 "$log" | cmp -s - "$work/follow" ||
    fail "records around the break: $(cat "$work/follow")"
echo "ok: audit tail warns of a broken link, keeps going, exits 1"
