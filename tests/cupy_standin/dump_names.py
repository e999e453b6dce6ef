"""Write cupy_names.json: the names real CuPy exports, which the stand-in mirrors.

Run it by hand where real CuPy is installed (no GPU needed: it only reads names),
and commit the JSON next to the stand-in:

    python tests/cupy_standin/dump_names.py            # rewrite cupy_names.json
    python tests/cupy_standin/dump_names.py --stdout   # print it instead

tests/test_cupy_standin.py runs this script with --stdout when CuPy is importable
and fails if the result differs from the committed file, so a CuPy upgrade that
adds or removes names is noticed.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# Run as a script, this folder is sys.path[0]; its random.py would then shadow the
# standard library's random module for CuPy. Only real modules are wanted here.
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]


def public(obj):
    return sorted(name for name in dir(obj) if not name.startswith("_"))


def cupy_build():
    """The installed distribution: cupy-cuda12x and cupy-cuda13x export slightly different
    names from cupy.cuda."""
    from importlib import metadata
    names = sorted(d.metadata["Name"] for d in metadata.distributions()
                   if (d.metadata["Name"] or "").lower().startswith("cupy"))
    return names[0] if names else "unknown"


def collect_names():
    import cupy
    import cupy.random

    return {
        "cupy_version": cupy.__version__,
        "cupy_build": cupy_build(),
        # Top-level names: functions, ufuncs, dtypes, constants, submodules.
        "module": public(cupy),
        # cupy.random loads Generator lazily through a module __getattr__, so dir() omits it.
        "random": sorted(set(public(cupy.random)) | {"Generator"}),
        "generator": public(cupy.random.Generator),
        # Dunders are kept for ndarray: which operators exist matters (no __index__, no __imatmul__).
        "ndarray": sorted(dir(cupy.ndarray)),
        "cuda": public(cupy.cuda),
        # Which top-level names are real ufuncs (with .at/.reduce/...), and the ufunc attributes.
        "ufuncs": sorted(n for n in public(cupy) if isinstance(getattr(cupy, n), cupy.ufunc)),
        "ufunc": public(cupy.ufunc),
        "linalg": public(cupy.linalg),
        "fft": public(cupy.fft),
    }


def main(argv):
    text = json.dumps(collect_names(), indent=1, sort_keys=True) + "\n"
    if "--stdout" in argv:
        sys.stdout.write(text)
        return
    path = os.path.join(HERE, "cupy_names.json")
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
