"""How a program's refusal looks from a test: exit code 2 and one error line, no traceback."""
import pytest


def one_line_exit_2(capsys, main, argv, alone=False):
    """Run ``main(argv)``, which must stop with exit code 2 and end stderr (where the progress
    bars are too) with its only error line, never a traceback; returns that line. ``alone``:
    stderr holds nothing else."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert [line for line in lines if "error" in line.lower()] == lines[-1:], err
    if alone:
        assert len(lines) == 1, err
    return lines[-1]
