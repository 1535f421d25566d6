#!/bin/bash
# Fails unless each binary given is a position-independent executable
# with full RELRO, a non-executable stack and stack protection.
set -euo pipefail
status=0
for bin in "$@"; do
    fail() { echo "$bin: $*"; status=1; }
    readelf -h "$bin" | grep -q 'Type: *DYN' || fail "not PIE"
    readelf -d "$bin" | grep -q 'BIND_NOW' || fail "no BIND_NOW (full RELRO)"
    readelf -l "$bin" | grep -q 'GNU_RELRO' || fail "no RELRO segment"
    readelf -lW "$bin" | grep 'GNU_STACK' | grep -q 'RWE' && fail "executable stack"
    readelf -sW "$bin" | grep -q '__stack_chk_fail' || fail "no stack protector"
done
[ $status = 0 ] && echo "hardened: $*"
exit $status
