#!/usr/bin/env bash
# The test command: lint, type-check, then pytest. pytest's exit code 5 ("no tests
# collected") is treated as a failure on purpose: a suite that ran nothing proved nothing.
set -uo pipefail
BIN=${VENV:-.venv}/bin
echo "== ruff";  "$BIN/ruff" check . || exit 1
echo "== mypy";  "$BIN/mypy" || exit 1
echo "== import layers (core <- edge <- cli)"; "$BIN/lint-imports" --no-cache >/dev/null || { "$BIN/lint-imports" --no-cache; exit 1; }
echo "== pytest"
# --durations: every log shows the slowest tests (the suite must stay well under 15 min)
"$BIN/python" -m pytest --durations=25 "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit $rc
