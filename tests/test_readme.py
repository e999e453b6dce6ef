"""The README's Python examples are run here, so the tour cannot drift from the code.

Every ```python block with ``>>>`` lines is a doctest; the blocks share one namespace,
in README order, as a reader typing them into one session would. A block fenced
```python torch needs PyTorch (the hand-over to it): it runs when torch is installed and
is skipped without it, so no later block may rely on its names.
"""
import doctest
import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def readme_blocks(with_torch=True):
    """(line number, code) of each ```python block holding doctest examples; the
    ```python torch blocks only ``with_torch``."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"^```python( torch)?\n(.*?)^```", text, re.S | re.M):
        if ">>>" in match.group(2) and (with_torch or not match.group(1)):
            blocks.append((text[:match.start()].count("\n") + 2, match.group(2)))
    return blocks


HAVE_TORCH = importlib.util.find_spec("torch") is not None


def test_the_torch_blocks_are_the_ones_skipped_without_torch():
    # Without torch (CI) the hand-over blocks are left out, and only they are.
    assert len(readme_blocks(with_torch=False)) == len(readme_blocks()) - 2


def test_readme_has_examples():
    assert len(readme_blocks()) >= 5


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write here
    parser, globs = doctest.DocTestParser(), {}
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for lineno, code in readme_blocks(with_torch=HAVE_TORCH):
        test = parser.get_doctest(code, globs, f"README.md block at line {lineno}",
                                  str(README), lineno - 1)
        runner.run(test, clear_globs=False)
        globs.update(test.globs)  # DocTest works on a copy; pass names on to the next block
    result = runner.summarize(verbose=False)
    if result.failed:
        pytest.fail(f"{result.failed} of {result.attempted} README examples failed (see output "
                    "above: each failure names its README line)")
