"""Judge a finished mutmut run: every mutant not killed must be listed as equivalent.

    python tools/mutation_check.py ['fastnn.nn.losses*' ...]
    python tools/mutation_check.py --fingerprint NAME ...   # the line to add to a list

Reads ``mutmut results --all true`` (run it in the checkout after ``tools/mutation.sh``) and
keeps the mutants whose names match the globs (all when none are given). A survivor (or a
mutant no test reaches) passes only when ``reports/mutation/equivalent-*.md`` lists it, as
``- NAME | CHANGE | equivalent: reason``, where CHANGE is the fingerprint of the mutant's
change (the lines it removes and adds in its function): mutmut numbers mutants within a
function, so after the function is edited a name may denote another change, and the listing no
longer applies. A timeout counts as caught, as in mutmut's own score (the tests did not pass),
and is printed. The check fails (exit 1) on any other mutant that is not killed, on a glob
matching no mutant, and on a matched mutant left unchecked (an interrupted run is not a pass).
Listed mutants that were killed are printed as stale (the listing should go).
"""

from __future__ import annotations

import ast
import difflib
import fnmatch
import hashlib
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINE = re.compile(r"^\s*(fastnn\.\S+__mutmut_\d+): (.+?)\s*$")
MUTANT = re.compile(r"^(?P<module>[\w.]+)\.(?P<func>[^.]+)__mutmut_(?P<n>\d+)$")
ACCEPTED = {"survived", "no tests"}  # the statuses an equivalence listing may explain


def equivalents() -> dict[str, str]:
    """NAME -> CHANGE for the lines ``- NAME | CHANGE | reason`` of equivalent-*.md."""
    listed = {}
    for path in sorted((ROOT / "reports" / "mutation").glob("equivalent-*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.startswith("- fastnn."):
                fields = [f.strip() for f in line[2:].split("|", 2)]
                if len(fields) < 3 or not re.fullmatch(r"[0-9a-f]{10}", fields[1]):
                    raise SystemExit(f"{path.name}:{number}: expected '- NAME | CHANGE | reason', "
                                     "CHANGE from --fingerprint")
                listed[fields[0]] = fields[1]
    return listed


@cache
def _functions(module: str) -> dict[str, str]:
    """Source of every function in mutmut's copy of a module, by name."""
    path = ROOT / "mutants" / Path(*module.split(".")).with_suffix(".py")
    text = path.read_text(encoding="utf-8")
    # as ast.get_source_segment (the first line from the def on), which would split the whole
    # file again for every function
    lines = text.splitlines()
    return {node.name: "\n".join([lines[node.lineno - 1][node.col_offset:],
                                  *lines[node.lineno:node.end_lineno]])
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def fingerprint(name: str) -> str:
    """Digest of the lines the mutant changes in its function (stable while they are)."""
    match = MUTANT.match(name)
    if match is None:
        raise SystemExit(f"not a mutmut mutant name: {name}")
    functions = _functions(match["module"])
    head = f"{match['func']}__mutmut_"
    try:
        orig, mutant = functions[head + "orig"], functions[head + match["n"]]
    except KeyError:
        raise SystemExit(f"{name}: not in mutants/ (run tools/mutation.sh first)") from None
    mutant = mutant.replace(f"{head}{match['n']}(", f"{head}orig(", 1)
    orig, mutant = orig.splitlines(), mutant.splitlines()
    changed = [line.strip() for line in difflib.unified_diff(orig, mutant, lineterm="", n=0)
               if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    return hashlib.sha1("\n".join(changed).encode()).hexdigest()[:10]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fingerprint"]:
        for name in argv[1:]:
            print(f"- {name} | {fingerprint(name)} | equivalent: ")
        return 0
    globs = argv or ["*"]
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    status = {m[1]: m[2] for m in map(LINE.match, out.splitlines()) if m}
    picked = {n: s for n, s in status.items() if any(fnmatch.fnmatchcase(n, g) for g in globs)}
    unchecked = sorted(n for n, s in picked.items() if s == "not checked")
    if not picked or unchecked:
        print(f"mutation check: {len(picked)} mutants match {' '.join(globs)}, "
              f"{len(unchecked)} of them not checked: the run did not finish")
        return 1
    listed = equivalents()
    killed = sorted(n for n, s in picked.items() if s == "killed")
    timeouts = sorted(n for n, s in picked.items() if s == "timeout")
    stale = sorted(n for n in killed if n in listed)
    equivalent, alive, moved = [], [], []
    for name, state in sorted(picked.items()):
        if state in ("killed", "timeout"):
            continue
        if state not in ACCEPTED or name not in listed:
            alive.append(name)
        elif fingerprint(name) != listed[name]:
            moved.append(name)
        else:
            equivalent.append(name)
    caught = len(killed) + len(timeouts)
    scored = len(picked) - len(equivalent)
    print(f"mutation check: {len(picked)} mutants, {len(killed)} killed, {len(timeouts)} timed "
          f"out (caught), {len(equivalent)} listed as equivalent, {len(alive) + len(moved)} "
          f"alive: score {caught}/{scored} = {100 * caught / max(scored, 1):.1f} %")
    for name in timeouts:
        print(f"  {name}: timeout (counted as caught)")
    for name in stale:
        print(f"  {name}: listed as equivalent but killed: remove the stale listing")
    for name in alive:
        print(f"  {name}: {picked[name]}")
    for name in moved:
        print(f"  {name}: {picked[name]}, listed for another change (now {fingerprint(name)}): "
              "the function changed since; judge it again")
    return 1 if alive or moved else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
