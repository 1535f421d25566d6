#!/bin/bash
# The systemd unit as shipped (conf/custodiand.service): it names the
# programs where `cmake --install` puts them; systemd-analyze verify finds
# nothing wrong in it once those names point at the programs just built;
# the sandbox the daemon relies on is all there; and systemd-analyze
# security leaves open exactly the settings the unit explains, and no
# others. Exits 77 (skipped) where systemd-analyze is missing.
# Usage: systemd.sh SOURCE_DIR CUSTODIAND CUSTODIANCTL SBINDIR BINDIR
set -euo pipefail
src=$1 daemon=$2 ctl=$3 sbindir=$4 bindir=$5
unit=$src/conf/custodiand.service

command -v systemd-analyze >/dev/null || {
    echo "skipped: no systemd-analyze (Debian package systemd)"
    exit 77
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# The unit starts what an install put in place (an install prefix other
# than /usr/local needs the unit edited to match).
grep -qx "ExecStart=$sbindir/custodiand -c /etc/custodian/custodiand.conf" \
    "$unit" || fail "ExecStart does not name $sbindir/custodiand"
grep -qx "ExecStartPre=$bindir/custodianctl policy check /etc/custodian/custodiand.conf" \
    "$unit" || fail "ExecStartPre does not name $bindir/custodianctl"
echo "ok: the unit runs $sbindir/custodiand and $bindir/custodianctl"

# verify resolves every command: point them at this build. Any line it
# prints (an unknown setting is only a warning) is a failure.
analyze_verify() { # analyze_verify UNITFILE: prints what verify says
    local rc=0
    systemd-analyze verify --man=no "$1" >"$work/verify.out" 2>&1 || rc=$?
    [ $rc = 0 ] || echo "exit status $rc" >>"$work/verify.out"
    cat "$work/verify.out"
}
mkdir "$work/a" "$work/b"
sed -e "s|$sbindir/custodiand|$daemon|" -e "s|$bindir/custodianctl|$ctl|" \
    "$unit" >"$work/a/custodiand.service"
! grep -q /usr/local "$work/a/custodiand.service" ||
    fail "a program path left unresolved: $(grep /usr/local "$work/a/custodiand.service")"
out=$(analyze_verify "$work/a/custodiand.service")
[ -z "$out" ] || fail "systemd-analyze verify: $out"
# The same check sees a misspelt setting and a missing program.
sed -e 's/^NoNewPrivileges=/NoNewPrivilege=/' -e "s|$daemon|$work/nothing|" \
    "$work/a/custodiand.service" >"$work/b/custodiand.service"
out=$(analyze_verify "$work/b/custodiand.service")
grep -q "Unknown key.*NoNewPrivilege" <<<"$out" &&
    grep -q "$work/nothing is not executable" <<<"$out" ||
    fail "verify missed a broken unit: $out"
echo "ok: systemd-analyze verify finds nothing wrong with the unit"

# What the daemon's safety rests on, setting by setting.
for line in \
    'LoadCredential=token-pin:/etc/custodian/token.pin' \
    'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' \
    'RestrictAddressFamilies=AF_UNIX' 'SystemCallFilter=@system-service' \
    'SystemCallFilter=~ptrace process_vm_readv process_vm_writev' \
    'PrivateDevices=yes' 'PrivateNetwork=yes' 'ProtectHome=yes' \
    'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_CHOWN CAP_DAC_OVERRIDE CAP_SYS_PTRACE' \
    'RestartPreventExitStatus=3' 'UMask=0077'; do
    grep -qxF "$line" "$unit" || fail "the unit lacks $line"
done
# The credential's name is the one the example configuration gives.
grep -q 'pin_credential = "token-pin"' "$src/conf/custodiand.conf" ||
    fail "conf/custodiand.conf does not name the credential token-pin"
echo "ok: PIN credential, read-only system, private /tmp and devices, no new privileges, Unix sockets only, system call filter"

# Exposure: exactly the settings the unit explains leaving open. A new
# exposure, or one closed without updating this list, fails.
systemd-analyze security --offline=yes --json=short "$unit" \
    >"$work/security.json" || fail "systemd-analyze security failed"
jq -r '.[] | select(.set == false) | .name' "$work/security.json" |
    sort >"$work/open"
sort >"$work/expected" <<'LIST'
CapabilityBoundingSet=~CAP_(CHOWN|FSETID|SETFCAP)
CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)
CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)
CapabilityBoundingSet=~CAP_SYS_PTRACE
DeviceAllow=
MemoryDenyWriteExecute=
PrivateUsers=
ProcSubset=
ProtectProc=
RestrictAddressFamilies=~AF_UNIX
RootDirectory=/RootImage=
SystemCallFilter=~@privileged
SystemCallFilter=~@resources
User=/DynamicUser=
LIST
diff -u "$work/expected" "$work/open" >"$work/diff" ||
    fail "exposed settings differ from those the unit explains: $(cat "$work/diff")"
score=$(systemd-analyze security --offline=yes "$unit" 2>&1 |
    sed -n 's/^→ Overall exposure level for custodiand.service: //p')
systemd-analyze security --offline=yes --threshold=20 "$unit" >/dev/null 2>&1 ||
    fail "exposure above 2.0: $score"
echo "ok: systemd-analyze security: $score"
