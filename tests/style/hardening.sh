#!/bin/bash
# Fails unless each binary given is position-independent (an executable
# or a shared library) with full RELRO, a non-executable stack, stack
# protection and, where it calls a fortifiable function, the fortified
# version (_FORTIFY_SOURCE).
# Usage: hardening.sh [--fortify] FILE... (--fortify: check fortification,
# which builds without optimisation cannot have)
set -uo pipefail
status=0 fortify=0
[ "${1:-}" = --fortify ] && fortify=1 && shift
for bin in "$@"; do
    fail() { echo "$bin: $*"; status=1; }
    header=$(readelf -hW "$bin") dynamic=$(readelf -dW "$bin")
    segments=$(readelf -lW "$bin") symbols=$(readelf -sW "$bin")
    grep -q 'Type: *DYN' <<<"$header" || fail "not PIE"
    grep -q 'BIND_NOW' <<<"$dynamic" || fail "no BIND_NOW (full RELRO)"
    grep -q 'GNU_RELRO' <<<"$segments" || fail "no RELRO segment"
    grep 'GNU_STACK' <<<"$segments" | grep -q 'RWE' && fail "executable stack"
    grep -q '__stack_chk_fail' <<<"$symbols" || fail "no stack protector"
    [ $fortify = 1 ] && ! grep -q '_chk@' <<<"$symbols" &&
        fail "not fortified (_FORTIFY_SOURCE)"
done
[ $status = 0 ] && echo "hardened: $*"
exit $status
