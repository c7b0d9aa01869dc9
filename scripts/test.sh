#!/usr/bin/env bash
# Sets up the environment, then runs the linter and the test suite.
#   scripts/test.sh            fast tests (everything not marked slow)
#   scripts/test.sh --all      the type checker (mypy) and every test, slow ones included (what CI runs)
#   scripts/test.sh -k cache   extra arguments go to pytest (-n 0: in this process, one test after another)
# The tests run in one pytest-xdist worker per core, each test module in one worker (its module fixtures run once),
# the longest modules first (tests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
XARES_EXTRAS="${XARES_EXTRAS:-test,encoders}" source scripts/setup_env.sh

marker=(-m "not slow")
typecheck=false
if [ "${1:-}" = "--all" ]; then
  marker=()
  typecheck=true
  shift
fi

ruff check .
ruff format --check .
if [ "$typecheck" = true ]; then
  mypy  # files and settings: [tool.mypy] in pyproject.toml
fi
python -m pytest -n auto --dist loadscope --no-loadscope-reorder "${marker[@]}" "$@"
