"""The import graph keeps the layers apart (read from the source with ast, nothing imported).

- Nothing in tinygan outside ``tinygan.utils`` imports it: the engine, nn, optim and the
  models read without the infrastructure. (The facade may keep ``tinygan.data``, the old
  path of ``tinygan.utils.data``, as an alias.)
- The models (gan, vae, toy) and ``tinygan.utils`` reach the engine only through its stable
  modules (tensor, functional, backend, nn, optim), with relative imports, never through
  ``tinygan.autograd``, a file inside ``tinygan/functional/`` or the package facade.
- Examples, bench and tests use neither those internals nor the paths that moved to utils.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinygan"
STABLE_ENGINE = {"tinygan.tensor", "tinygan.functional", "tinygan.backend", "tinygan.nn",
                 "tinygan.nn.functional", "tinygan.optim"}
MODELS = {"tinygan.gan", "tinygan.vae", "tinygan.toy"}
MOVED = {"tinygan.data", "tinygan.fileio", "tinygan.checkpoint", "tinygan.metrics",
         "tinygan.cli", "tinygan.viz", "tinygan.tensorboard", "tinygan.init"}


def module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(path):
    """[(line, module imported, whether the statement was relative)] of a file, with
    ``from package import submodule`` counted as importing the submodule."""
    name = module_name(path)
    package = (name if path.name == "__init__.py" else name.rpartition(".")[0]).split(".")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # level 1 is the file's own package, each level more goes one package up
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{module}.{a.name}" for a in node.names
                    if f"{module}.{a.name}" in MODULES.keys() | MOVED]
            # "from .. import backend" imports a module; "from .. import Tensor" the facade
            found += [(node.lineno, sub, node.level > 0) for sub in subs]
            if len(subs) < len(node.names):
                found.append((node.lineno, module, node.level > 0))
    return found


def is_under(module, package):
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not is_under(n, "tinygan.utils")))
def test_nothing_outside_utils_imports_utils(name):
    alias = {"tinygan.utils", "tinygan.utils.data"} if name == "tinygan" else set()
    bad = [(line, m) for line, m, _ in imports(MODULES[name])
           if is_under(m, "tinygan.utils") and m not in alias]
    assert bad == [], f"{name} imports tinygan.utils"


@pytest.mark.parametrize("name", sorted(n for n in MODULES
                                        if n in MODELS or is_under(n, "tinygan.utils")))
def test_models_and_utils_reach_the_engine_only_by_its_stable_modules(name):
    allowed = STABLE_ENGINE | MODELS | {n for n in MODULES if is_under(n, "tinygan.utils")}
    bad = []
    for line, module, relative in imports(MODULES[name]):
        if not is_under(module, "tinygan"):
            continue
        if not (relative and module in allowed):
            bad.append((line, module, "relative" if relative else "absolute"))
    assert bad == [], f"{name}: use relative imports of {sorted(STABLE_ENGINE)}"


PROGRAMS = sorted([*ROOT.glob("examples/*.py"), *ROOT.glob("bench/*.py"),
                   *ROOT.glob("tests/*.py")])


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: str(p.relative_to(ROOT)))
def test_programs_use_neither_engine_internals_nor_moved_paths(path):
    bad = [(line, m) for line, m, _ in imports(path)
           if m == "tinygan.autograd" or m.startswith("tinygan.functional.") or m in MOVED]
    assert bad == []
