"""Judge a finished mutmut run: every mutant not killed must be listed as equivalent.

    python tools/mutation_check.py ['fastnn.nn.losses*' ...]

Reads ``mutmut results --all true`` (run it in the checkout after ``tools/mutation.sh``), keeps
the mutants whose names match the globs (all when none are given), and fails (exit 1) when one
of them survived, had no tests, timed out or was otherwise not killed, unless
``reports/mutation/equivalent-*.md`` lists it with its reason. It also fails when a glob
matched no checked mutant (a run that tested nothing is not a pass), and prints the score:
killed over mutants that are not listed as equivalent.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^\s*(fastnn\.\S+__mutmut_\d+): (.+?)\s*$")


def equivalents() -> set[str]:
    """Mutant names listed in reports/mutation/equivalent-*.md (lines ``- NAME | reason``)."""
    names = set()
    for path in sorted((ROOT / "reports" / "mutation").glob("equivalent-*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("- fastnn."):
                names.add(line[2:].split("|")[0].strip())
    return names


def main(argv: list[str]) -> int:
    globs = argv or ["*"]
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    status = {m[1]: m[2] for m in map(LINE.match, out.splitlines()) if m}
    picked = {n: s for n, s in status.items() if any(fnmatch.fnmatchcase(n, g) for g in globs)}
    checked = {n: s for n, s in picked.items() if s != "not checked"}
    if not checked:
        print(f"mutation check: no checked mutant matches {' '.join(globs)}")
        return 1
    listed = equivalents()
    killed = sum(s == "killed" for s in checked.values())
    alive = sorted(n for n, s in checked.items() if s != "killed" and n not in listed)
    equivalent = sum(s != "killed" and n in listed for n, s in checked.items())
    unchecked = len(picked) - len(checked)
    scored = len(checked) - equivalent
    print(f"mutation check: {len(checked)} mutants checked ({unchecked} not checked), "
          f"{killed} killed, {equivalent} listed as equivalent, {len(alive)} alive: "
          f"score {killed}/{scored} = {100 * killed / max(scored, 1):.1f} %")
    for name in alive:
        print(f"  {name}: {checked[name]}")
    return 1 if alive else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
