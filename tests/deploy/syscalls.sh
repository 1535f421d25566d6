#!/bin/bash
# What the systemd unit's filters allow is what custodiand uses. The
# daemon, started as root under strace, runs a day's work on a throwaway
# SoftHSM2 token (start and change of user, key creation and rotation,
# signatures on both sockets, an identity suspended and resumed, a
# reload, a stop), and so does the unit's
# ExecStartPre (custodianctl policy check). Every system call they make
# must be in the unit's SystemCallFilter= (less what ProtectClock=,
# PrivateDevices= and ProtectKernelModules= take out), and every socket
# they open must be AF_UNIX: a call outside the filter would kill the
# daemon under systemd. Exits 77 (skipped) without strace or
# systemd-analyze.
# Usage: syscalls.sh SOURCE_DIR CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
set -euo pipefail
src=$1 daemon=$2 ctl=$3 sign=$4
unit=$src/conf/custodiand.service
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

for tool in strace systemd-analyze; do
    command -v $tool >/dev/null || {
        echo "skipped: no $tool"
        exit 77
    }
done
work=$(mktemp -d)
pid=
cleanup() {
    # $pid is strace's: stop the daemon it traces first, or strace would
    # let it go on running.
    [ -n "$pid" ] && stop_daemon
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
# Sends SIGTERM to the daemon, the child of strace ($pid).
stop_daemon() {
    local child
    for child in $(ps -o pid= --ppid "$pid"); do
        kill -TERM "$child" 2>/dev/null
    done
    return 0
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    [ -f "$work/daemon.log" ] && sed 's/^/  daemon: /' "$work/daemon.log" >&2
    exit 1
}

# The calls a set names, its nested sets expanded.
expand() { # expand @SET...
    local s
    for s in "$@"; do
        systemd-analyze syscall-filter --no-pager "$s" |
            sed -n 's/^ \{4\}\([@a-z0-9_-]*\)$/\1/p' | while read -r m; do
                case $m in
                @*) expand "$m" </dev/null ;;
                *) echo "$m" ;;
                esac
            done
    done
}
# The unit's allow list, then its deny lists, explicit and implied.
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)$/\1/p' "$unit")
deny=$(sed -n 's/^SystemCallFilter=~\(.*\)$/\1/p' "$unit")
for s in $allow; do
    case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
done | sort -u >"$work/allowed"
for s in $deny @clock @raw-io @module; do
    case $s in @*) expand "$s" ;; *) echo "$s" ;; esac
done | sort -u >"$work/denied"
comm -23 "$work/allowed" "$work/denied" >"$work/permitted"
[ "$(wc -l <"$work/permitted")" -gt 100 ] ||
    fail "could not read the filter: $(cat "$work/permitted")"

softhsm_token "$work/token" custodian-test
chmod 755 "$work"
mkdir "$work/run" "$work/log" "$work/lib"
chown -R nobody "$work/token/tokens" "$work/run" "$work/log" "$work/lib"
cat >"$work/custodiand.conf" <<CONF
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_credential = "token-pin"; } );
user = "nobody";
keys = ( { name = "release"; type = "ecdsa-p256"; namespaces = [ "file" ]; },
         { name = "ed"; type = "ed25519"; namespaces = [ "file" ]; } );
listeners = {
  sign = { path = "$work/run/sign.sock"; mode = "0660"; group = "nogroup"; };
  admin = { path = "$work/run/admin.sock"; mode = "0600"; };
  agent = { path = "$work/run/agent.sock"; mode = "0600"; };
};
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "release", "ed" ];
                              namespaces = "file"; } ); } );
audit = { path = "$work/log/audit.log"; };
state = "$work/lib/keys.state";
keyring = "$work/lib/keyring";
suspended = "$work/lib/suspended";
CONF
mkdir -m 0500 "$work/creds"
install -m 0400 "$SOFTHSM_PIN_FILE" "$work/creds/token-pin"

strace -f -qq -o "$work/check.trace" "$ctl" policy check "$work/custodiand.conf" \
    >/dev/null || fail "policy check"
CREDENTIALS_DIRECTORY=$work/creds strace -f -qq -o "$work/daemon.trace" \
    "$daemon" -c "$work/custodiand.conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do
    grep -q "serving on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
grep -q "serving on" "$work/daemon.log" || fail "not serving after 60 seconds"

export CUSTODIAN_ADMIN_SOCKET=$work/run/admin.sock
export CUSTODIAN_SOCKET=$work/run/sign.sock
head -c 100000 /dev/urandom >"$work/artifact"
"$ctl" key create release >/dev/null || fail "key create release"
"$ctl" key create ed >/dev/null || fail "key create ed"
"$sign" sign --key release --namespace file "$work/artifact" >/dev/null ||
    fail "sign"
"$sign" sign --key ed --format sshsig --output-dir "$work" "$work/artifact" \
    >/dev/null || fail "sshsig"
"$ctl" key rotate release >/dev/null || fail "key rotate"
"$sign" sign --key release --namespace file "$work/artifact" >/dev/null ||
    fail "sign after rotation"
"$sign" pubkey --key ed --format ssh | awk '{print "ci " $1 " " $2}' \
    >"$work/allowed_signers"
"$sign" pubkey --key ed --format ssh >"$work/ed.pub"
cp "$work/artifact" "$work/via-agent"
SSH_AUTH_SOCK=$work/run/agent.sock ssh-keygen -q -Y sign -U -n file \
    -f "$work/ed.pub" "$work/via-agent" 2>/dev/null || fail "agent signature"
ssh-keygen -q -Y verify -f "$work/allowed_signers" -I ci -n file \
    -s "$work/via-agent.sig" <"$work/via-agent" >/dev/null ||
    fail "agent signature does not verify"
"$ctl" identity suspend root --reason drill >/dev/null || fail "suspend"
! "$sign" sign --key release --namespace file "$work/artifact" >/dev/null \
    2>&1 || fail "a suspended identity signed"
"$ctl" identity resume root >/dev/null || fail "resume"
"$ctl" reload >/dev/null || fail "reload"
"$ctl" status >/dev/null || fail "status"
stop_daemon
wait "$pid" || fail "custodiand exited with status $?"
pid=
grep -q '"event":"stop"' "$work/log/audit.log" || fail "no stop record"

for t in check daemon; do
    sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' "$work/$t.trace" |
        sort -u >"$work/$t.used"
    [ "$(wc -l <"$work/$t.used")" -gt 20 ] || fail "$t: no calls traced"
    outside=$(comm -23 "$work/$t.used" "$work/permitted" | tr '\n' ' ')
    [ -z "$outside" ] || fail "$t makes calls the unit forbids: $outside"
    families=$(grep -o ' socket(AF_[A-Z0-9]*' "$work/$t.trace" |
        sed 's/.*(//' | sort -u | tr '\n' ' ')
    [ -z "$families" ] || [ "$families" = "AF_UNIX " ] ||
        fail "$t opens sockets of families $families"
done
echo "ok: the daemon's $(wc -l <"$work/daemon.used") and policy check's $(wc -l <"$work/check.used") system calls are all in the unit's filter; sockets AF_UNIX only"
