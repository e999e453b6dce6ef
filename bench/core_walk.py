"""How much of tinygan does one small backward pass walk through?

    python bench/core_walk.py                     # the total, the files, the functions
    python bench/core_walk.py --json              # the same, machine-readable
    python bench/core_walk.py --max-functions 30 --max-files 4    # exit 1 when over

Builds ``lin = nn.Linear(4, 3)``, ``x = tg.randn(5, 4)`` and ``loss = (lin(x) * lin(x)).mean()``
(after ``tg.manual_seed(0)``), then records with ``sys.setprofile``, over ``loss.backward()``
only, every distinct tinygan function entered: keyed by its file (relative to the tinygan
package), its name and its first line, so two functions of one name stay two. Every Python
frame counts, as a reader stepping through would meet it: comprehensions, generator
expressions, properties, ``__init__``s. A generator counts once however often it resumes.
This is the reading cost of the backward walk (issue 24's budget: 30 functions, 4 files);
``tests/test_core_walk.py`` holds the engine to it.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys


def walk():
    """The tinygan functions entered by the example's ``loss.backward()``: a dict with
    ``functions`` (a list of {file, name, line, calls}, in order of first entry) and
    ``files`` ({file: number of distinct functions}, in order of first entry)."""
    import tinygan as tg
    from tinygan import nn

    package = os.path.dirname(os.path.abspath(tg.__file__))
    tg.manual_seed(0)
    lin = nn.Linear(4, 3)
    x = tg.randn(5, 4)
    loss = (lin(x) * lin(x)).mean()

    calls = collections.Counter()          # insertion-ordered: first entry first
    relative = {}                          # co_filename -> path in the package, or None

    def profiler(frame, event, arg):
        if event != "call":                # Python frames only; "c_call" are builtins
            return
        code = frame.f_code
        path = relative.get(code.co_filename, ...)
        if path is ...:
            full = os.path.abspath(code.co_filename)
            path = (os.path.relpath(full, package)
                    if full.startswith(package + os.sep) else None)
            relative[code.co_filename] = path
        if path is not None:
            calls[(path, getattr(code, "co_qualname", code.co_name), code.co_firstlineno)] += 1

    sys.setprofile(profiler)
    try:
        loss.backward()
    finally:
        sys.setprofile(None)

    functions = [{"file": f, "name": n, "line": line, "calls": c}
                 for (f, n, line), c in calls.items()]
    files = collections.Counter(f["file"] for f in functions)
    return {"functions": functions, "files": dict(files), "python": sys.version.split()[0]}


def report(result):
    functions, files = result["functions"], result["files"]
    print(f"loss.backward() entered {len(functions)} distinct tinygan functions "
          f"in {len(files)} files (Python {result['python']})")
    print("\nfiles (distinct functions):")
    for name, count in files.items():
        print(f"  {count:3d}  {name}")
    print("\nfunctions (file:line name, calls), in order of first entry:")
    for f in functions:
        print(f"  {f['file']}:{f['line']}  {f['name']}  x{f['calls']}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--max-functions", type=int, default=None,
                   help="exit 1 when more distinct functions are entered")
    p.add_argument("--max-files", type=int, default=None,
                   help="exit 1 when they lie in more files")
    args = p.parse_args(argv)
    result = walk()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        report(result)
    over = []
    if args.max_functions is not None and len(result["functions"]) > args.max_functions:
        over.append(f"{len(result['functions'])} functions > {args.max_functions}")
    if args.max_files is not None and len(result["files"]) > args.max_files:
        over.append(f"{len(result['files'])} files > {args.max_files}")
    if over:
        print("over budget: " + ", ".join(over), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
