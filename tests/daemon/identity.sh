#!/bin/bash
# Whom custodiand takes a caller for (docs/identity.md), shown on the
# real daemon with callers that change under it: a process that executes
# another program after connecting, before or after the daemon read it;
# one that exits and whose pid goes to a new process, after the daemon
# read it or before; an executable replaced on disk; one started through
# a symbolic link. Each caller is tests/daemon/idcaller, copied under
# several names with a byte added to each so that every copy has its own
# SHA-256; the audit record of each request says whom the daemon saw.
# Usage: identity.sh CUSTODIAND CUSTODIANCTL IDCALLER
set -euo pipefail
daemon=$1 ctl=$2 idcaller=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(realpath "$(mktemp -d)")
pid= newcomer=
cleanup() {
    exec 3>&- 4<&- 2>/dev/null || true
    [ -n "$pid" ] && kill -CONT "$pid" 2>/dev/null
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$newcomer" ] && kill "$newcomer" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $case: $*" >&2
    tail -n 20 "$work/daemon.log" | sed 's/^/  daemon: /' >&2 || true
    sed 's/^/  idcaller: /' "$work/idcaller.err" >&2 || true
    exit 1
}
case=setup

bin=$work/bin
mkdir "$bin"
for name in first second hashed parent replaced target; do
    cp "$idcaller" "$bin/$name"
    printf '%s' "$name" >>"$bin/$name" # its own hash; it still runs
done
cp "$bin/replaced" "$bin/replaced.orig"
ln -s "$bin/target" "$bin/link"
# A newcomer that takes over a pid: sleep, with a hash of its own.
cp "$(command -v sleep)" "$bin/newcomer"
printf newcomer >>"$bin/newcomer"
sha() { sha256sum "$1" | cut -d' ' -f1; }

softhsm_token "$work/token" custodian-test
# The order matters: an identity that needs the executable's hash and
# cannot have it ends the decision, and "anyone" would take any caller.
cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = (
  { name = "first"; match = { exe = "$bin/first"; };
    grants = ( { keys = "release"; } ); },
  { name = "link"; match = { exe = "$bin/link"; };
    grants = ( { keys = "release"; } ); },
  { name = "target"; match = { exe = "$bin/target"; };
    grants = ( { keys = "release"; } ); },
  { name = "replaced-path"; match = { exe = "$bin/replaced"; };
    grants = ( { keys = "release"; } ); },
  { name = "hashed"; match = { exe_sha256 = "$(sha "$bin/hashed")"; };
    grants = ( { keys = "release"; } ); },
  { name = "parent"; match = { exe_sha256 = "$(sha "$bin/parent")"; };
    grants = ( { keys = "release"; } ); },
  { name = "newcomer"; match = { exe_sha256 = "$(sha "$bin/newcomer")"; };
    grants = ( { keys = "release"; } ); },
  { name = "replaced-hash"; match = { exe_sha256 = "$(sha "$bin/replaced")"; };
    grants = ( { keys = "release"; } ); },
  { name = "anyone"; match = { uid = $(id -u); };
    grants = ( { keys = "release"; } ); }
);
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
"$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 600); do
    [ -S "$work/sign.sock" ] && grep -q "serving on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
"$ctl" key create release --admin-socket "$work/admin.sock" >/dev/null ||
    fail "key create"

# Runs idcaller from BIN with STEPS; its lines are read with expect,
# "go" lets a held step continue. $caller is its pid.
call() {
    local exe=$1
    shift
    rm -f "$work/in" "$work/out"
    mkfifo "$work/in" "$work/out"
    IDCALLER_SOCKET=$work/sign.sock "$exe" "$@" <"$work/in" >"$work/out" \
        2>>"$work/idcaller.err" &
    caller=$!
    exec 3>"$work/in" 4<"$work/out"
}
# The rest of the caller's next line, which must begin with PREFIX.
expect() {
    local line
    read -r -t 30 line <&4 || fail "no line from the caller (wanted $1)"
    [ "${line#"$1"}" != "$line" ] || fail "caller said '$line', wanted '$1...'"
    printf '%s\n' "${line#"$1"}"
}
go() { echo go >&3; }
hang_up() {
    exec 3>&- 4<&-
    # Not once reaped: its pid may be another child's now.
    [ -z "$caller" ] || wait "$caller" 2>/dev/null || true
}
# The last audit record about pid $1, and one field of it.
record() { jq -c --argjson p "$1" 'select(.caller.pid == $p)' \
    "$work/audit.log" | tail -n 1; }
field() { record "$1" | jq -r "$2"; }
# Makes the kernel give pid $1, now free, to a new process ($newcomer):
# 0 when it did. Other processes may take it first: the caller retries.
reuse_pid() {
    echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid
    "$bin/newcomer" 60 &
    newcomer=$!
    [ "$newcomer" = "$1" ] && return 0
    kill "$newcomer"
    wait "$newcomer" 2>/dev/null || true
    newcomer=
    return 1
}
end_newcomer() {
    kill "$newcomer"
    wait "$newcomer" 2>/dev/null || true
    newcomer=
}

case="symbolic link"
call "$bin/link" connect hello sign
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
[ "$(expect 'sign ')" = ok ] || fail "sign refused"
hang_up
[ "$(field "$caller" .caller.exe)" = "$bin/target" ] &&
    [ "$(field "$caller" .identity)" = target ] ||
    fail "not attributed to the link's target: $(record "$caller")"
echo "ok: a program run through a symbolic link is its target"

case="exec after the daemon read the caller"
call "$bin/first" connect hello exec "$bin/second" sign hold
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
[ "$(expect 'sign ')" = ok ] || fail "sign refused"
expect 'hold ' >/dev/null
[ "$(readlink "/proc/$caller/exe")" = "$bin/second" ] ||
    fail "the caller did not execute the second program"
# Field 22 of stat; the name in field 2 ("second") holds no space.
start=$(cut -d' ' -f22 "/proc/$caller/stat")
go
hang_up
[ "$(field "$caller" .caller.exe)" = "$bin/first" ] &&
    [ "$(field "$caller" .identity)" = first ] ||
    fail "not attributed to the program that connected: $(record "$caller")"
[ "$(field "$caller" .caller.start_time)" = "$start" ] ||
    fail "start time $start not in the record: $(record "$caller")"
echo "ok: a caller that executes another program after it was read keeps" \
    "the identity read"

case="exec before the daemon read the caller"
kill -STOP "$pid"
call "$bin/first" connect exec "$bin/second" hold hello sign
expect 'hold ' >/dev/null
kill -CONT "$pid"
go
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
[ "$(expect 'sign ')" = ok ] || fail "sign refused"
hang_up
[ "$(field "$caller" .caller.exe)" = "$bin/second" ] &&
    [ "$(field "$caller" .identity)" = anyone ] ||
    fail "not attributed to the program running when read: $(record "$caller")"
echo "ok: a caller that executes another program before it is read is that" \
    "program"

case="an exe_sha256 identity after exec"
call "$bin/hashed" connect hello sign exec "$bin/second" sign
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
[ "$(expect 'sign ')" = ok ] || fail "sign refused before exec"
r=$(expect 'sign ')
hang_up
[ "${r%% *}" = -34 ] && [ "${r#*executed another program}" != "$r" ] ||
    fail "after exec: '$r', not CUST_ERR_PEER"
[ "$(field "$caller" .error)" = CUST_ERR_PEER ] &&
    [ "$(field "$caller" .identity)" = null ] &&
    [ "$(field "$caller" .decision)" = deny ] ||
    fail "record: $(record "$caller")"
[ "$(jq -r --argjson p "$caller" 'select(.caller.pid == $p and .event ==
    "sign") | .identity' "$work/audit.log" | head -n 1)" = hashed ] ||
    fail "the hash identity did not match before exec"
echo "ok: an exe_sha256 identity refuses a caller that executed another" \
    "program (CUST_ERR_PEER), rather than judge it as another identity"

# Forcing a pid takes root: without it, two cases are not checked.
if [ ! -w /proc/sys/kernel/ns_last_pid ]; then
    echo "not root: pid reuse not checked"
else
    case="pid reused after the daemon read the caller"
    for attempt in $(seq 20); do
        call "$bin/parent" connect hello sign fork hold sign
        [ "$(expect 'hello ')" = ok ] || fail "hello refused"
        [ "$(expect 'sign ')" = ok ] || fail "sign refused"
        expect 'forked ' >/dev/null
        expect 'hold ' >/dev/null
        parent=$caller caller=
        wait "$parent" || true
        reuse_pid "$parent" && break
        go
        hang_up
        [ "$attempt" -lt 20 ] || fail "the kernel never gave the pid again"
    done
    [ "$(field "$parent" .identity)" = parent ] || fail "$(record "$parent")"
    go
    r=$(expect 'sign ')
    hang_up
    end_newcomer
    [ "${r%% *}" = -34 ] || fail "the child signed: '$r'"
    [ "$(field "$parent" .caller.exe)" = "$bin/parent" ] &&
        [ "$(field "$parent" .error)" = CUST_ERR_PEER ] ||
        fail "record: $(record "$parent")"
    echo "ok: once the caller's pid is another process's, its connection is" \
        "refused (CUST_ERR_PEER), never judged as the newcomer"

    case="pid reused before the daemon read the caller"
    kill -STOP "$pid"
    for attempt in $(seq 20); do
        call "$bin/parent" connect fork hold hello
        expect 'forked ' >/dev/null
        expect 'hold ' >/dev/null
        parent=$caller caller=
        wait "$parent" || true
        reuse_pid "$parent" && break
        [ "$attempt" -lt 20 ] || fail "the kernel never gave the pid again"
    done
    kill -CONT "$pid"
    go
    r=$(expect 'hello ')
    hang_up
    end_newcomer
    [ "${r%% *}" = -34 ] || fail "a caller that exited before it was read: '$r'"
    [ "$(field "$parent" .event)" = refused ] &&
        [ "$(field "$parent" .error)" = CUST_ERR_PEER ] &&
        [ "$(field "$parent" .caller.exe)" = "" ] ||
        fail "record: $(record "$parent")"
    grep -q "caller refused: pid $parent: .*exited" "$work/daemon.log" ||
        fail "the refusal is not logged with the pid"
    echo "ok: a caller gone before it was read is refused (CUST_ERR_PEER)" \
        "however its pid is used now"
fi

case="executable replaced before connecting"
call "$bin/replaced" hold connect hello sign
expect 'hold ' >/dev/null
cp "$bin/second" "$work/new" && mv "$work/new" "$bin/replaced"
go
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
[ "$(expect 'sign ')" = ok ] || fail "sign refused"
hang_up
[ "$(field "$caller" .caller.exe)" = "$bin/replaced" ] &&
    [ "$(field "$caller" .caller.exe_deleted)" = true ] &&
    [ "$(field "$caller" .identity)" = replaced-hash ] ||
    fail "record: $(record "$caller")"
echo "ok: an executable replaced on disk is marked exe_deleted, matches no" \
    "exe path, and hashes as the file that runs"

case="executable replaced after connecting"
cp "$bin/replaced.orig" "$work/new" && mv "$work/new" "$bin/replaced"
call "$bin/replaced" connect hello hold sign
[ "$(expect 'hello ')" = ok ] || fail "hello refused"
expect 'hold ' >/dev/null
cp "$bin/second" "$work/new" && mv "$work/new" "$bin/replaced"
go
[ "$(expect 'sign ')" = ok ] || fail "sign refused"
hang_up
[ "$(field "$caller" .caller.exe_deleted)" = null ] &&
    [ "$(field "$caller" .identity)" = replaced-path ] ||
    fail "record: $(record "$caller")"
echo "ok: an executable replaced after the daemon read the caller leaves" \
    "the identity read"

case="the end"
kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
"$ctl" audit verify "$work/audit.log" >/dev/null || fail "audit chain broken"
echo "ok: caller identity as docs/identity.md describes it"
