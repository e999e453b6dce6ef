"""The house's layers, as the README's "How it is built" states them, read from the code.

Every module of the package is parsed (its ``ast``, imports inside functions too) and
each import of another tinygan module becomes an edge. The test fails on a cycle, and
on an edge that goes up the layers or sideways between neighbours that must not know
each other (the models and the infrastructure beside them).
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "tinygan"

# Layer of each module (by name prefix, longest first). A module may import modules of
# lower layers and of its own group; nothing else.
LAYERS = [
    ("tinygan.threads", -1),            # BLAS's threads and the elementwise pool, under backend
    ("tinygan.backend", 0), ("tinygan.dtypes", 0),
    ("tinygan.core", 1),                # the teaching core: Tensor, Function, the walk, ops
    ("tinygan.cuda", 1),                # tg.cuda.is_available(): the backend, asked as PyTorch
    ("tinygan.accelerator", 1),         # torch.accelerator's questions, the same answers
    ("tinygan.backends", 1),            # torch.backends.cudnn's settings (no-ops here)
    ("tinygan.ops", 2),                 # the ops nn needs beyond the core's, written its way
    ("tinygan.methods", 3),             # the PyTorch layer: checks, promotion, views, writes
    ("tinygan.size", 3),                # tg.Size, the public Tensor's shape (imports nothing)
    ("tinygan.tensor", 4), ("tinygan.autograd", 4),   # the public Tensor; torch.autograd names
    ("tinygan.factories", 5), ("tinygan.functional", 5), ("tinygan.gradcheck", 5),
    ("tinygan.linalg", 5),              # torch.linalg's norms
    ("tinygan.nn", 6), ("tinygan.optim", 6),
    ("tinygan.vae", 7), ("tinygan.toy", 7), ("tinygan.controllable", 7),   # models, training
    ("tinygan.dcgan", 7),               # the convolutional networks, which gan's table builds
    ("tinygan.ema", 7),                 # an EMA of a model's weights, BatchNorm stats of its own
    ("tinygan.gan", 7.1),               # the MLPs, the table of architectures, GANTrainer
    ("tinygan.wgan", 7.2),              # WGAN-GP's trainer, GANTrainer's interface and noise
    ("tinygan.utils", 7),               # infrastructure, beside the models
    ("tinygan.vision", 8),              # torchvision's names, over utils' data and images
]
# Same layer, no imports either way: nn and optim share only the engine; the models
# and the infrastructure never import each other.
APART = [("tinygan.nn", "tinygan.optim"),
         ("tinygan.gan", "tinygan.utils"), ("tinygan.vae", "tinygan.utils"),
         ("tinygan.toy", "tinygan.utils"), ("tinygan.dcgan", "tinygan.utils"),
         ("tinygan.wgan", "tinygan.utils"), ("tinygan.controllable", "tinygan.utils"),
         ("tinygan.ema", "tinygan.utils")]
FACADE = "tinygan"   # tinygan/__init__.py: the public names, above everything


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(importer, node):
    """The tinygan modules an Import/ImportFrom node names (relative ones resolved)."""
    is_package = MODULES[importer].name == "__init__.py"
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "tinygan"]
    base = node.module or ""
    if node.level:
        anchor = importer.split(".")
        anchor = anchor[:len(anchor) - node.level + (1 if is_package else 0)]
        base = ".".join(anchor + ([base] if base else []))
    if base.split(".")[0] != "tinygan":
        return []
    found = []
    for alias in node.names:   # `from .ops import shapes` names a module; `import sum_to` not
        candidate = f"{base}.{alias.name}"
        found.append(candidate if candidate in MODULES else base)
    return found


def imports_of(name):
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    edges = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            edges.update(t for t in resolve(name, node) if t != name)
    return edges


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name):
    for prefix, number in sorted(LAYERS, key=lambda item: -len(item[0])):
        if name == prefix or name.startswith(prefix + "."):
            return prefix, number
    raise AssertionError(f"{name} is in no layer: add it to LAYERS and to the README")


def test_every_module_has_a_layer():
    for name in MODULES:
        if name != FACADE:
            layer(name)


def test_no_import_cycles():
    """Depth-first search for a back edge; the error shows the cycle."""
    state, path = {}, []

    def visit(name):
        state[name] = "open"
        path.append(name)
        for target in sorted(GRAPH.get(name, ())):
            if state.get(target) == "open":
                cycle = path[path.index(target):] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[name] = "done"

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("importer", sorted(n for n in MODULES if n != FACADE))
def test_imports_follow_the_layers(importer):
    group, level = layer(importer)
    for target in sorted(GRAPH[importer]):
        assert target != FACADE, f"{importer} imports the package facade `tinygan`"
        target_group, target_level = layer(target)
        same_group = target_group == group
        assert same_group or target_level < level, (
            f"{importer} (layer {level}, {group}) imports {target} "
            f"(layer {target_level}, {target_group}): imports go down the layers only")
        for a, b in APART:
            assert {group, target_group} != {a, b}, (
                f"{importer} imports {target}: {a} and {b} must not know each other")


def test_the_engine_never_reaches_the_infrastructure():
    engine = [n for n in MODULES if n != FACADE and layer(n)[1] <= 5]
    for name in engine:
        assert not any(t.startswith("tinygan.utils") for t in GRAPH[name]), name


# --- the public modules, and the paths that moved -------------------------------------------
# The models and the infrastructure use the engine as an application would: through
# its public modules, never the ops or the graph machinery behind them.
PUBLIC_ENGINE = {"tinygan.tensor", "tinygan.factories", "tinygan.autograd", "tinygan.functional",
                 "tinygan.backend", "tinygan.dtypes",
                 "tinygan.nn", "tinygan.nn.functional", "tinygan.optim"}
MODELS = {"tinygan.gan", "tinygan.vae", "tinygan.toy", "tinygan.dcgan", "tinygan.wgan",
          "tinygan.controllable"}
# Old paths (before tinygan.utils, tinygan.nn.init and tinygan.ops): the README's
# migration note; the project's own programs use the new ones.
MOVED = {"tinygan.data", "tinygan.fileio", "tinygan.checkpoint", "tinygan.metrics",
         "tinygan.cli", "tinygan.viz", "tinygan.tensorboard", "tinygan.init"}


UTILS = {n for n in MODULES if n == "tinygan.utils" or n.startswith("tinygan.utils.")}
VISION = {n for n in MODULES if n == "tinygan.vision" or n.startswith("tinygan.vision.")}


@pytest.mark.parametrize("importer", sorted(MODELS | UTILS | VISION))
def test_models_and_utils_use_the_engine_by_its_public_modules(importer):
    own = MODELS | UTILS | VISION   # which of them may import which: the layers above
    bad = sorted(GRAPH[importer] - PUBLIC_ENGINE - own)
    assert bad == [], f"{importer} imports {bad}: use {sorted(PUBLIC_ENGINE)}"


PROGRAMS = sorted([*PACKAGE.parent.glob("examples/*.py"), *PACKAGE.parent.glob("bench/*.py"),
                   *PACKAGE.parent.glob("tests/*.py")])


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_programs_use_the_new_paths(path):
    """Examples, bench and tests import what a user should: no moved path."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    bad = [(line, name) for line, name in found if name in MOVED]
    assert bad == [], f"{path.name}: moved modules imported (see the README's migration note)"
