#!/bin/bash
# Who may reach custodiand is first the kernel's decision: each socket
# (sign, admin, agent) gets its configured mode, owner and group, and a
# caller without access is refused by the kernel (EACCES) before the
# daemon sees it, while one in the socket's group gets through. What the
# daemon writes under a umask of 077, as under its systemd unit: the
# audit log and state are its own, the keyring is readable by all.
# Usage: sockets.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
set -euo pipefail
daemon=$1 ctl=$2 sign=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

# A build job's uid with no account (setpriv needs none), and groups
# every Debian system has: users (100) for the sign socket, staff (50)
# for the agent socket.
job=4711
as_job() { # as_job GROUPS CMD...: runs CMD as the job, in GROUPS (or -)
    local groups=$1
    shift
    if [ "$groups" = - ]; then
        setpriv --reuid=$job --regid=$job --clear-groups "$@"
    else
        setpriv --reuid=$job --regid=$job --groups="$groups" "$@"
    fi
}

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/daemon.log" ] && sed 's/^/  daemon: /' "$work/daemon.log" >&2
    exit 1
}
chmod 755 "$work"
softhsm_token "$work/token" custodian-test
mkdir "$work/run" "$work/log" "$work/lib"
chown -R nobody "$work/token/tokens" "$work/run" "$work/log" "$work/lib"
cat >"$work/custodiand.conf" <<CONF
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
user = "nobody";
keys = ( { name = "release"; type = "ecdsa-p256"; namespaces = [ "file" ]; } );
listeners = {
  sign = { path = "$work/run/sign.sock"; mode = "0660"; group = "users"; };
  admin = { path = "$work/run/admin.sock"; mode = "0600"; owner = "nobody"; };
  agent = { path = "$work/run/agent.sock"; mode = "0660"; owner = "nobody";
            group = "staff"; };
};
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "job"; match = { uid = $job; };
                 grants = ( { keys = "release"; namespaces = "file"; } ); } );
audit = { path = "$work/log/audit.log"; };
state = "$work/lib/keys.state";
keyring = "$work/lib/keyring";
suspended = "$work/lib/suspended";
CONF
"$ctl" policy check "$work/custodiand.conf" >/dev/null

(umask 077 && exec "$daemon" -c "$work/custodiand.conf") >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    grep -q "serving on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
grep -q "serving on" "$work/daemon.log" || fail "not serving after 30 seconds"
export CUSTODIAN_ADMIN_SOCKET=$work/run/admin.sock
"$ctl" key create release >/dev/null || fail "key create"

sockmode() { stat -c '%a %U:%G' "$work/run/$1.sock"; }
[ "$(sockmode sign)" = "660 root:users" ] || fail "sign socket: $(sockmode sign)"
[ "$(sockmode admin)" = "600 nobody:root" ] || fail "admin socket: $(sockmode admin)"
[ "$(sockmode agent)" = "660 nobody:staff" ] || fail "agent socket: $(sockmode agent)"
echo "ok: sign 0660 root:users, admin 0600 nobody:root, agent 0660 nobody:staff"

records() { wc -l <"$work/log/audit.log"; }
denied() { # denied OUTPUTFILE: the kernel's refusal, in the tool's words
    grep -q "Permission denied" "$1"
}

# The sign socket: the group gets through, everyone else is refused by
# the kernel and leaves no trace in the audit log.
export CUSTODIAN_SOCKET=$work/run/sign.sock
as_job 100 "$sign" pubkey --key release >"$work/job.pem" 2>"$work/err" ||
    fail "job in group users: $(cat "$work/err")"
openssl pkey -pubin -in "$work/job.pem" -noout ||
    fail "job in group users got no public key"
n=$(records)
rc=0
as_job - "$sign" pubkey --key release >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && denied "$work/err" ||
    fail "job outside group users: exit $rc $(cat "$work/err")"
[ "$(records)" = "$n" ] || fail "a connection the kernel refused was audited"
echo "ok: sign socket: group users signs, others get EACCES"

# The agent socket, through the real ssh-add.
SSH_AUTH_SOCK=$work/run/agent.sock as_job 50 ssh-add -L >"$work/keys" \
    2>"$work/err" || fail "job in group staff: $(cat "$work/err")"
grep -q '^ecdsa-sha2-nistp256 ' "$work/keys" || fail "agent listed $(cat "$work/keys")"
rc=0
SSH_AUTH_SOCK=$work/run/agent.sock as_job 100 ssh-add -L >/dev/null \
    2>"$work/err" || rc=$?
[ $rc = 2 ] && denied "$work/err" ||
    fail "job outside group staff: exit $rc $(cat "$work/err")"
echo "ok: agent socket: group staff lists keys, others get EACCES"

# The admin socket: its owner reaches the daemon, which refuses a
# non-admin itself (and audits it); anyone else, the kernel refuses.
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" status \
    >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && grep -q "not an admin identity" "$work/err" ||
    fail "nobody on the admin socket: exit $rc $(cat "$work/err")"
rc=0
as_job 100,50 "$ctl" status >/dev/null 2>"$work/err" || rc=$?
[ $rc = 1 ] && denied "$work/err" ||
    fail "job on the admin socket: exit $rc $(cat "$work/err")"
"$ctl" status >/dev/null || fail "root lost the admin socket"
echo "ok: admin socket: its owner reaches the daemon, others get EACCES"

# Files: the audit log and state are the daemon's; the keyring, public.
[ "$(stat -c '%a %U' "$work/log/audit.log")" = "600 nobody" ] ||
    fail "audit log: $(stat -c '%a %U' "$work/log/audit.log")"
[ "$(stat -c '%a %U' "$work/lib/keys.state")" = "600 nobody" ] ||
    fail "state file: $(stat -c '%a %U' "$work/lib/keys.state")"
! as_job 100,50 cat "$work/log/audit.log" >/dev/null 2>&1 ||
    fail "another user reads the audit log"
for _ in $(seq 100); do
    [ -e "$work/lib/keyring/release@1.pem" ] && break
    sleep 0.05
done
as_job - cat "$work/lib/keyring/release@1.pem" >"$work/ring.pem" ||
    fail "another user cannot read the keyring: $(ls -la "$work/lib/keyring")"
cmp -s "$work/ring.pem" "$work/job.pem" || fail "keyring and daemon disagree"
[ "$(stat -c %a "$work/lib/keyring")" = 755 ] ||
    fail "keyring directory mode $(stat -c %a "$work/lib/keyring")"
echo "ok: under umask 077, audit log and state 0600, the daemon's; the keyring readable by all"

kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=
