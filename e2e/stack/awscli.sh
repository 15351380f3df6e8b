#!/usr/bin/env bash
# Print the path of an aws CLI, installing awscli from PyPI into
# .stack/awscli (a virtualenv) when none is on PATH. The quickstart and
# e2e scenario 16 (real clients) use it against `backbeat s3`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv=$root/.stack/awscli
if [ -x "$venv/bin/aws" ]; then echo "$venv/bin/aws"; exit 0; fi
if command -v aws >/dev/null 2>&1 && aws --version >/dev/null 2>&1; then command -v aws; exit 0; fi
echo "installing awscli from PyPI into $venv" >&2
python3 -m venv "$venv" >&2
"$venv/bin/pip" install --quiet awscli >&2
echo "$venv/bin/aws"
