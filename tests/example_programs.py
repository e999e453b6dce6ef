"""Helpers for tests that run the example programs in-process."""
import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """examples/<name>.py as a module, so a test can call its main(argv) in this process
    (where conftest's device set-up, e.g. the CuPy stand-in, applies)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
