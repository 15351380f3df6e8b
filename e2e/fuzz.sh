#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a bounded time each.
set -euo pipefail
fuzztime=${1:-3s}
cd "$(dirname "$0")/.."
status=0
while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/.*func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  echo "fuzz $pkg $name for $fuzztime"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$pkg" || status=1
done < <(grep -rEn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sed 's#^\./##')
exit $status
