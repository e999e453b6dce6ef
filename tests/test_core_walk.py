"""Issue 24's reading budget: (lin(x) * lin(x)).mean().backward() enters at most 30
distinct tinygan functions in at most 4 files (bench/core_walk.py counts them)."""
import pytest

import bench_programs

core_walk = bench_programs.load("core_walk")


def test_a_small_backward_walks_few_functions_in_few_files():
    result = core_walk.walk()
    walked = "\n".join(f"{f['file']}:{f['line']} {f['name']}" for f in result["functions"])
    assert len(result["functions"]) <= 30, f"{len(result['functions'])} functions:\n{walked}"
    assert len(result["files"]) <= 4, f"{len(result['files'])} files: {list(result['files'])}"


def test_the_walk_sees_the_backward_pass():
    # The profiler sees tinygan's frames, and only over backward: the forward's Linear is
    # not among them, Tensor.backward is the first.
    result = core_walk.walk()
    assert result["functions"][0]["name"].endswith("backward")
    assert not any(f["file"].startswith("nn") for f in result["functions"])
    assert core_walk.main(["--json", "--max-functions", "100000", "--max-files", "1000"]) == 0
    assert core_walk.main(["--json", "--max-functions", "1"]) == 1
