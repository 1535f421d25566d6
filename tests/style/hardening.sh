#!/bin/bash
# Fails unless each binary given is a position-independent executable
# with full RELRO, a non-executable stack and stack protection.
set -uo pipefail
status=0
for bin in "$@"; do
    fail() { echo "$bin: $*"; status=1; }
    header=$(readelf -hW "$bin") dynamic=$(readelf -dW "$bin")
    segments=$(readelf -lW "$bin") symbols=$(readelf -sW "$bin")
    grep -q 'Type: *DYN' <<<"$header" || fail "not PIE"
    grep -q 'BIND_NOW' <<<"$dynamic" || fail "no BIND_NOW (full RELRO)"
    grep -q 'GNU_RELRO' <<<"$segments" || fail "no RELRO segment"
    grep 'GNU_STACK' <<<"$segments" | grep -q 'RWE' && fail "executable stack"
    grep -q '__stack_chk_fail' <<<"$symbols" || fail "no stack protector"
done
[ $status = 0 ] && echo "hardened: $*"
exit $status
