#!/usr/bin/env bash
# Mutation testing of the numerical core with mutmut 3 (configuration: [tool.mutmut] in
# pyproject.toml). One worker: the machine is shared. Arguments are mutant name globs, e.g.
#   tools/mutation.sh 'fastnn.nn.losses*'      # one module
#   tools/mutation.sh                          # everything configured: 5,486 mutants
# Results: `mutmut results`, `mutmut show NAME`; record the numbers in reports/MUTATION.md.
# Needs mutmut in the environment: pip install 'mutmut>=3.8,<4'.
set -euo pipefail
cd "$(dirname "$0")/.."
# mutants/ keeps the verdicts: a second call resumes (and retests what changed); delete it
# for a fresh run
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-/tmp/numba-cache-mutmut}"
exec "${PYTHON:-python}" -m mutmut run --max-children 1 "$@"
