#!/bin/bash
# The token PIN stays secret. custodiand, started as root and serving as
# nobody, reads a distinctive PIN from a systemd-style credential after a
# start with a wrong PIN; creates, rotates and signs with keys; loses its
# token and logs in again. Then neither PIN is in its log, its audit log,
# any file it wrote, its environment or command line, nor anywhere in its
# memory (read through /proc/PID/mem right after its first login, and
# after the work ended with a second); and it has no child process that
# could hold one.
# Usage: secrets.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN FAULTMOD
# CUSTODIAN_TEST_WRAPPER, when set, is a command the serving daemon runs
# under.
set -euo pipefail
daemon=$1 ctl=$2 sign=$3 faultmod=$4
read -ra wrap <<<"${CUSTODIAN_TEST_WRAPPER:-}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

# Distinctive, so that a match can be nothing but the PIN.
pin='Cu5t0dian-PIN-q7Xv4RzK'
wrong='Wr0ng-PIN-3kT8bZ2mYw'

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
softhsm_token "$work/token" custodian-test "$pin"
mkdir "$work/run" "$work/log" "$work/lib"
chown -R nobody "$work/token/tokens" "$work/run" "$work/log" "$work/lib"
# What LoadCredential= makes: a directory only root can read, holding a
# copy of the PIN file named after the credential.
mkdir -m 0500 "$work/creds"
install -m 0400 "$SOFTHSM_PIN_FILE" "$work/creds/token-pin"
(umask 077 && printf '%s\n' "$wrong" >"$work/wrong.pin")

export CUST_FAULT_TARGET=$SOFTHSM_MODULE CUST_FAULT_CONTROL=$work/fault
fault() {
    echo "$*" >"$work/fault.new"
    mv "$work/fault.new" "$work/fault"
}
fault none
write_conf() { # write_conf FILE PIN_SETTING
    cat >"$1" <<CONF
tokens = ( { name = "hsm"; module = "$faultmod"; uri = "$SOFTHSM_URI";
             $2; } );
user = "nobody";
keys = ( { name = "release"; type = "ecdsa-p256"; },
         { name = "p384"; type = "ecdsa-p384"; } );
listeners = {
  sign = { path = "$work/run/sign.sock"; mode = "0660"; };
  admin = { path = "$work/run/admin.sock"; mode = "0600"; };
};
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "release", "p384" ]; } ); } );
audit = { path = "$work/log/audit.log"; };
state = "$work/lib/keys.state";
keyring = "$work/lib/keyring";
suspended = "$work/lib/suspended";
CONF
}
write_conf "$work/wrong.conf" "pin_file = \"$work/wrong.pin\""
write_conf "$work/custodiand.conf" 'pin_credential = "token-pin"'
"$ctl" policy check "$work/custodiand.conf" >/dev/null

# A wrong PIN first: refused, status 3, and not repeated in the message.
rc=0
"$daemon" -v -c "$work/wrong.conf" >"$work/wrong.log" 2>&1 || rc=$?
[ $rc = 3 ] && grep -q CKR_PIN_INCORRECT "$work/wrong.log" ||
    fail "wrong PIN: exit $rc $(cat "$work/wrong.log")"

# The credential is read from $CREDENTIALS_DIRECTORY and nowhere else.
rc=0
env -u CREDENTIALS_DIRECTORY "$daemon" -c "$work/custodiand.conf" \
    >"$work/nocred.log" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q 'CREDENTIALS_DIRECTORY is not set' "$work/nocred.log" ||
    fail "start without CREDENTIALS_DIRECTORY: exit $rc $(cat "$work/nocred.log")"

# Hits for either PIN, as text or in hex, in the files under DIR.
pin_hex=$(printf '%s' "$pin" | od -An -tx1 | tr -d ' \n')
wrong_hex=$(printf '%s' "$wrong" | od -An -tx1 | tr -d ' \n')
holds_pin() { # holds_pin FILE: true if FILE holds either PIN
    grep -qaF -e "$pin" -e "$wrong" -e "$pin_hex" -e "$wrong_hex" "$1"
}


# Copies the daemon's memory into $work/mem, region after region, as
# root reads it through /proc/PID/mem, with an index of where each region
# starts in the copy. Left out, as the kernel leaves them out of a core
# file: regions not readable, the kernel's own ([vvar], [vsyscall]) and
# those marked not to be dumped (a sanitizer's terabytes of shadow).
snapshot() {
    local first rest range perms path start end off=0 n
    : >"$work/mem"
    : >"$work/mem.index"
    while read -r first rest; do
        if [[ $first =~ ^[0-9a-f]+-[0-9a-f]+$ ]]; then
            range=$first
            read -r perms _ _ _ path <<<"$rest"
            continue
        fi
        [ "$first" = VmFlags: ] && [[ $perms == r* ]] || continue
        [[ " $rest " != *" dd "* ]] || continue
        case $path in "[vvar]" | "[vvar_vclock]" | "[vsyscall]") continue ;; esac
        start=$((16#${range%-*})) end=$((16#${range#*-}))
        ((end - start <= 1 << 30)) || fail "a region of over 1 GiB: $range $path"
        dd if="/proc/$pid/mem" of="$work/region" bs=1M status=none \
            iflag=skip_bytes,count_bytes skip=$start count=$((end - start)) \
            2>/dev/null || true
        n=$(stat -c %s "$work/region")
        cat "$work/region" >>"$work/mem"
        echo "$off $n $start $range ${path:-[anon]}" >>"$work/mem.index"
        off=$((off + n))
    done <"/proc/$pid/smaps"
    rm -f "$work/region"
}

# Names the region that holds each PIN found in the copy.
where() {
    local hit off n start range path
    for hit in $(grep -aboF -e "$pin" -e "$wrong" "$work/mem" | cut -d: -f1); do
        while read -r off n start range path; do
            ((hit >= off && hit < off + n)) &&
                printf '  PIN at %x in %s %s\n' $((start + hit - off)) \
                    "$range" "$path"
        done <"$work/mem.index"
    done
    return 0
}

# The daemon's memory, WHEN, searched whole; its environment and command
# line, every thread's; and it has no child that could hold a PIN.
check_memory() { # check_memory WHEN
    local f children
    children=$(ps -o pid= --ppid "$pid" || true)
    [ -z "$children" ] || fail "custodiand has child processes: $children"
    for f in /proc/$pid/environ /proc/$pid/cmdline /proc/$pid/task/*/environ \
        /proc/$pid/task/*/cmdline; do
        if holds_pin "$f"; then fail "PIN in $f $1"; fi
    done
    snapshot
    # The copy holds what the daemon keeps beside the PIN source: the
    # credential's path, held for messages. Were it missing, the search
    # would prove nothing.
    grep -qaF "$work/creds/token-pin" "$work/mem" ||
        fail "the copy of memory lacks the daemon's own data"
    if holds_pin "$work/mem"; then
        where >&2
        fail "a PIN is in custodiand's memory $1"
    fi
    echo "ok: no PIN in custodiand's memory $1 ($(($(stat -c %s "$work/mem") / 1048576)) MiB in $(wc -l <"$work/mem.index") regions), environment or command line; no child processes"
    rm -f "$work/mem"
}

CREDENTIALS_DIRECTORY=$work/creds "${wrap[@]}" "$daemon" -v \
    -c "$work/custodiand.conf" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
    grep -q "serving on" "$work/daemon.log" && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
grep -q "serving on" "$work/daemon.log" || fail "not serving after 30 seconds"
echo "ok: a wrong PIN refused, the right one read from the credential"
check_memory "right after its login"

export CUSTODIAN_ADMIN_SOCKET=$work/run/admin.sock
export CUSTODIAN_SOCKET=$work/run/sign.sock
head -c 100000 /dev/urandom >"$work/artifact"
"$ctl" key create release >/dev/null || fail "key create release"
"$ctl" key create p384 >/dev/null || fail "key create p384"
"$sign" sign --key release "$work/artifact" >/dev/null || fail "sign"
"$ctl" key rotate release >/dev/null || fail "key rotate"
"$sign" sign --key release "$work/artifact" >/dev/null || fail "sign after rotation"
# Not Ed25519: SoftHSM2 2.6.1 then leaks a little memory when the token
# goes (below), which the sanitizer build cannot tell from custodian's.
"$sign" sign --key p384 --format sshsig --output-dir "$work/lib" \
    "$work/artifact" >/dev/null || fail "sshsig"
# The token goes and comes back: the daemon logs in again, reading the
# PIN a second time through the descriptor it kept.
fault removed
! "$sign" sign --key release "$work/artifact" >/dev/null 2>&1 ||
    fail "signed with the token out of its slot"
fault none
"$sign" sign --key release "$work/artifact" >/dev/null ||
    fail "no signature once the token was back"
grep -q "rebuilding sessions" "$work/daemon.log" ||
    fail "the daemon did not log in again"
check_memory "after the work and a second login"
openssl dgst -sha256 -verify <("$sign" pubkey --key release) \
    -signature "$work/artifact.sig" "$work/artifact" >/dev/null ||
    fail "the last signature does not verify"
echo "ok: keys created, rotated, used; the token lost and logged in again"

kill -TERM "$pid"
wait "$pid" || fail "custodiand exited with status $?"
pid=

# Every file the test and the daemon made, but the PIN files themselves.
found=$(find "$work" -type f ! -path "$work/token/pin" \
    ! -path "$work/creds/token-pin" ! -path "$work/wrong.pin" \
    -exec grep -laF -e "$pin" -e "$wrong" -e "$pin_hex" -e "$wrong_hex" {} + ||
    true)
[ -z "$found" ] || fail "a PIN in $found"
n=$(find "$work" -type f | wc -l)
grep -q '"event":"sign"' "$work/log/audit.log" || fail "no sign records"
"$ctl" audit verify "$work/log/audit.log" >/dev/null || fail "audit chain broken"
echo "ok: no PIN in the logs, the audit log or any other of $n files"
