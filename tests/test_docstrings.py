"""The examples in tinygan's docstrings run, and print what they say."""
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import tinygan

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(tinygan.__path__, "tinygan."))


@pytest.mark.parametrize("name", ["tinygan"] + MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_every_module_of_the_package_is_searched():
    # Subpackages too (tinygan.utils.*, tinygan.nn.*): a module missed here would have
    # its docstring examples silently never run.
    root = Path(tinygan.__file__).parent
    files = {".".join(("tinygan", *path.relative_to(root).with_suffix("").parts))
             for path in root.rglob("*.py")}
    assert {name.removesuffix(".__init__") for name in files} == {"tinygan", *MODULES}
    assert "tinygan.utils.training" in MODULES


def test_some_docstrings_have_examples():
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for name in MODULES
                   for t in finder.find(importlib.import_module(name)))
    assert examples >= 5
