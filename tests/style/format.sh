#!/bin/bash
# Fails when a C source file differs from what clang-format makes of it,
# and prints the difference.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
status=0
while IFS= read -r f; do
    if ! clang-format --style=file "$f" | diff -u "$f" - >/tmp/format.$$; then
        cat /tmp/format.$$
        status=1
    fi
done < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find src include tests provider -name '*.[ch]')
rm -f /tmp/format.$$
[ $status = 0 ] && echo "all C sources formatted"
exit $status
