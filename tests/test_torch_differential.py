"""Differential tests against PyTorch: random small programs, run in both, everything compared.

Per-op gradchecks cannot see bugs that live between ops: aliasing, views, in-place
writes, dtype promotion, graph reuse. Here hypothesis draws whole programs over the
Tensor API (``tests/programs.py`` says what they contain, and how exactness and the
tolerances are decided) and runs each statement in tinygan (on the ``device``
fixture) and in PyTorch (on its CPU). After every statement both must raise or
neither, and every variable must agree: type, shape, dtype, requires_grad, values
and ``.grad``. A second test trains random small models with SGD and Adam in both,
comparing the loss, every parameter, gradient, buffer and optimizer state after each
statement, and round-trips the state_dicts of model and optimizer into fresh objects
that then continue alike.

A failure prints the program in tinygan's spelling: paste it to reproduce.

Run many programs (per test and device; by default the hypothesis profile's count)::

    TINYGAN_DIFFERENTIAL_EXAMPLES=2000 python -m pytest -q tests/test_torch_differential.py

How many programs actually ran is written at the end of the run.

Without PyTorch (not a tinygan dependency) the whole file is skipped.
"""
import collections
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch", reason="PyTorch is optional: the differential tests need it")

import programs  # noqa: E402

_EXAMPLES = os.environ.get("TINYGAN_DIFFERENTIAL_EXAMPLES")
# The profile's settings (tests/conftest.py: CI is derandomised and bounded), and the number of
# programs from the environment when given. A program makes hundreds of choices and takes a few
# milliseconds: the size and speed health checks would only stop a long run.
differential = settings(
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
    **({"max_examples": int(_EXAMPLES)} if _EXAMPLES else {}),
)

RUNS = collections.Counter()      # (test, device) -> programs run to their end
STATEMENTS = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def report_counts(request):
    """At the very end of the run, write how many programs ran to their end (hypothesis may
    stop early at a failure; the count includes the replays it makes to shrink one)."""
    def report():
        for (test, device), runs in sorted(RUNS.items()):
            print(f"differential: {runs} programs ({STATEMENTS[test, device]} statements) ran "
                  f"to their end in {test}[{device}]")
    request.config.add_cleanup(report)     # after pytest's summary: output is no longer captured
    yield


@differential
@given(data=st.data())
def test_random_programs_match_pytorch(device, data):
    """Leaves of every dtype, arithmetic, elementwise ops, reductions, views, indexing,
    matmul, cat/stack, in-place writes (through views too), backward (again, with a
    gradient), .grad edits, losses, batch_norm: the op table is in tests/programs.py."""
    session = programs.run_program(data, device)
    RUNS[("test_random_programs_match_pytorch", device)] += 1
    STATEMENTS[("test_random_programs_match_pytorch", device)] += session.steps


@differential
@given(data=st.data())
def test_training_matches_pytorch(device, data):
    """A random small model, SGD or Adam, a frozen parameter, state_dict round trips."""
    session = programs.run_model_program(data, device)
    RUNS[("test_training_matches_pytorch", device)] += 1
    STATEMENTS[("test_training_matches_pytorch", device)] += session.steps
