#!/usr/bin/env bash
# The test command: lint, type-check, then pytest. pytest's exit code 5 ("no tests
# collected") is treated as a failure on purpose: a suite that ran nothing proved nothing.
set -uo pipefail
BIN=${VENV:-.venv}/bin
echo "== ruff";  "$BIN/ruff" check . || exit 1
echo "== mypy";  "$BIN/mypy" || exit 1
echo "== import layers (core <- edge <- cli)"; "$BIN/lint-imports" --no-cache >/dev/null || { "$BIN/lint-imports" --no-cache; exit 1; }
echo "== pytest"
# --durations: every log shows the slowest tests (the suite must stay well under 15 min).
# -n: one pytest-xdist worker per core (PYTEST_WORKERS=0 runs in one process); loadgroup
# keeps each module on one worker and the network-namespace modules together (conftest.py).
"$BIN/python" -m pytest --durations=25 -n "${PYTEST_WORKERS:-auto}" --dist loadgroup "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit $rc
