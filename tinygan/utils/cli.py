"""What the example programs share: the --backend choice, checked arguments, one-line
errors, and a Ctrl-C that never ends in a traceback."""
from __future__ import annotations

import argparse
import signal
import sys

from .. import backend

DEVICES = {"numpy": "cpu", "cupy": "cuda"}  # --backend name -> tinygan device


def fail(message):
    """One line on stderr and exit code 2: a problem the user can fix, so no traceback.
    Control characters (from a crafted file's names) are shown escaped, never sent raw."""
    print(f"error: {printable(message, most=None)}", file=sys.stderr)
    raise SystemExit(2)


def choose_device(backend_name):
    """The device for --backend, or a one-line error saying why "cuda" cannot be used."""
    device = DEVICES[backend_name]
    if device == "cuda" and not backend.cuda_available():
        fail(f"--backend cupy: {backend.cuda_unavailable_reason()}")
    return device


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help shows each option's default, and the description and epilog as written. A
    default of None is not shown: that option's help says what None means."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def default_threads():
    """Half the cores, at least one: the threads a training run takes by default, as
    ``import tinygan`` does (backend.default_threads; README, "Another program running?")."""
    return backend.default_threads()


def add_threads_option(parser):
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="BLAS threads for the CPU's matrix products (default: half the "
                             f"cores, here {default_threads()}, so that a second run does not "
                             "slow both down many times over)")


def use_threads(args):
    """Apply --threads (or the default) to NumPy's BLAS."""
    backend.set_num_threads(args.threads or default_threads())


def printable(text, most=200):
    r"""``text`` (from a file) safe to print on a terminal: control characters (escape
    sequences that retitle the terminal or clear the screen, newlines) shown as Python
    escapes, and cut at ``most`` characters (None: never).

    >>> printable("gen\x1b]0;owned\x07.weight")
    'gen\\x1b]0;owned\\x07.weight'
    """
    text = str(text)
    cut = text if most is None else text[:most]
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return shown + ("..." if len(cut) < len(text) else "")


def one_line(message):
    """A multi-line message (a header, then indented items) folded into one line; later
    paragraphs (advice) are dropped.

    >>> one_line("Not found. Looked in:\\n  - /a: no such directory\\n  - $X: not set\\nFix: ...")
    'Not found. Looked in: /a: no such directory; $X: not set'
    """
    lines = str(message).splitlines() or [""]
    items = []
    for line in lines[1:]:
        if not line[:1].isspace():
            break
        items.append(line.strip().lstrip("-").strip())
    return f"{lines[0]} {'; '.join(items)}" if items else lines[0]


# --- argument types: a bad value is argparse's one-line error (exit code 2) -----------------

def positive_int(text):
    """An int ≥ 1 (argparse type).

    >>> positive_int("3")
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a positive integer (1 or more), got 0
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer (1 or more), got {value}")
    return value


def positive_float(text):
    """A finite float > 0 (argparse type).

    >>> positive_float("2e-4")
    0.0002
    >>> positive_float("-1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number > 0, got -1.0
    """
    value = _float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def non_negative_float(text):
    """A finite float ≥ 0 (argparse type).

    >>> non_negative_float("10")
    10.0
    >>> non_negative_float("-1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number ≥ 0, got -1.0
    """
    value = _float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {value}")
    return value


def unit_interval(text):
    """A float in [0, 1), as Adam's betas must be (argparse type).

    >>> unit_interval("0.5")
    0.5
    >>> unit_interval("1")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number in [0, 1), got 1.0
    """
    value = _float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {value}")
    return value


def open_unit_interval(text):
    """A float in (0, 1), as an EMA's decay must be (argparse type).

    >>> open_unit_interval("0.999")
    0.999
    >>> open_unit_interval("nan")
    Traceback (most recent call last):
    argparse.ArgumentTypeError: expected a number in (0, 1), got nan
    """
    value = _float(text)
    if not 0 < value < 1:                      # nan fails too
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1), got {value}")
    return value


def _float(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def given_options(parser, argv=None):
    """The ``dest`` names of the options actually written on the command line (a default
    does not count), seen by parsing ``argv`` again with every default suppressed.

    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--lr", type=float, default=2e-4)
    >>> _ = p.add_argument("--epochs", type=int, default=5)
    >>> sorted(given_options(p, ["--epochs", "5"]))
    ['epochs']
    """
    saved = [(action, action.default) for action in parser._actions]
    try:
        for action, _ in saved:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_args(argv)))
    finally:
        for action, default in saved:
            action.default = default


def check_resume_settings(given, args, saved, settings, may_change):
    """--resume continues a run with the settings saved in its checkpoint. A setting given
    on the command line with another value than the saved one is refused: one line that
    lists each (flag, given value, saved value), exit code 2. ``settings``: the ``dest``
    names that come from the checkpoint; ``may_change``: those that apply to the resumed
    run (--epochs, --out...), never refused."""
    clashes = [f"--{key.replace('_', '-')} {getattr(args, key)!r} (the run has {saved[key]!r})"
               for key in settings if key in given and key not in may_change
               and key in saved and getattr(args, key) != saved[key]]
    if clashes:
        fail("--resume continues the run with its saved settings; these differ from them: "
             + ", ".join(clashes) + ". Drop them, or start a new run in another --out")


def check_saved_settings(parser, saved, keys, path, required=()):
    """The settings a checkpoint's metadata gives for ``keys``, each checked as the command
    line's value would be (its type, its choices): a crafted or damaged file gets one line
    naming the file, the key, what it holds and what was expected, before anything is built.
    ``required``: keys whose None default the program fills in (from a preset), so a saved
    None was never written by a run. Returns them as a dict; a key the file lacks is left out."""
    if not isinstance(saved, dict):
        fail(f"{path}: its metadata has no 'args' section (the run's settings)")
    actions = {action.dest: action for action in parser._actions}
    found = {}
    for key in keys:
        if key not in saved:
            continue
        value, action = saved[key], actions[key]
        found[key] = value
        if value is None and action.default is None and key not in required:
            continue
        if action.nargs == 0:                                  # a flag: on or off
            ok, expected = isinstance(value, bool), "true or false"
        elif action.choices is not None:
            ok, expected = value in action.choices, f"one of {', '.join(map(str, action.choices))}"
        else:
            kind = action.type or str
            numeric = kind is not str
            ok = (isinstance(value, (int, float)) and not isinstance(value, bool)) if numeric \
                else isinstance(value, str)
            if ok:
                try:
                    ok = kind(str(value)) == value
                except (argparse.ArgumentTypeError, ValueError, TypeError):
                    ok = False
            expected = f"a value --{key.replace('_', '-')} accepts"
        if not ok:
            fail(f"{path}: its metadata says {key}: {printable(repr(value), 60)}; "
                 f"expected {expected}")
    return found


# --- Ctrl-C -----------------------------------------------------------------------------------

class CtrlC:
    """SIGINT (Ctrl-C) while an example program runs, as a context manager.

    With ``graceful`` (a training loop that can stop between steps), the first press only
    sets ``requested`` and prints ``message``: the loop stops after the step in progress.
    The next press (the first, without ``graceful``) raises KeyboardInterrupt at once.
    After that every press is ignored: the program is already stopping, and the code that
    handles the stop (the last checkpoint, the one-line message, the interpreter's exit)
    must not be cut by a second KeyboardInterrupt, whose traceback would bury the message.
    Nested CtrlC contexts share that "already raised" state.
    """

    def __init__(self, graceful=False, message=None, write=None):
        self.graceful, self.message = graceful, message
        self.write = write or (lambda text: print(text, file=sys.stderr))
        self.requested = False
        self.presses = 0
        self._writing = self._pending = False

    def __enter__(self):
        self.previous = signal.getsignal(signal.SIGINT)
        outer = getattr(self.previous, "__self__", None)
        self._state = outer._state if isinstance(outer, CtrlC) else {"raised": False}
        signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self.previous)

    @property
    def raised(self):
        """True once a press has raised KeyboardInterrupt (later presses are ignored)."""
        return self._state["raised"]

    def _handle(self, signum, frame):
        self.presses += 1
        if self._state["raised"]:
            return                      # already stopping at once
        if self._writing:               # a press while the first one's message is written:
            self._pending = True        # raise once that is done, not inside the writer
            return                      # (tqdm.write holds locks a raise would leave broken)
        if self.graceful and not self.requested:
            self.requested = True
            if self.message:
                self._writing = True
                try:
                    self.write(self.message)
                finally:
                    self._writing = False
            if not self._pending:
                return
        self._state["raised"] = True
        raise KeyboardInterrupt


def run_in_own_folder(args, given, train):
    """A training program's main: ``train(args, given, lock)`` with --out's lock released at
    the end; a full disk or a read-only --out (OSError), or another run writing in --out,
    is one line, and the data already written stays safe."""
    from .files import FolderBusy, FolderLock, explain_os_error
    lock = FolderLock(args.out)
    try:
        return train(args, given, lock)
    except OSError as exc:
        fail(explain_os_error(exc))
    except FolderBusy as exc:
        fail(f"--out {exc}")
    finally:
        lock.release()


def check_new_run(args, out, lock, written):
    """Before any file is touched: one run per --out (its lock), and a new run never
    replaces another run's checkpoint and metrics unless --overwrite says so; then the old
    run's ``written`` files go first (never an old checkpoint beside new metrics)."""
    if args.resume and args.overwrite:
        fail("--resume continues the run in --out; --overwrite replaces it: choose one")
    if args.dry_run or not out.is_dir():
        return
    lock.acquire()                       # FolderBusy: another run is writing there
    held = [name for name in ("checkpoint.npz", "metrics.jsonl") if (out / name).exists()
            and (name != "metrics.jsonl" or (out / name).stat().st_size)]
    if args.resume or not held:
        return
    if not args.overwrite:
        fail(f"--out {out} holds another run ({', '.join(held)}): continue it with --resume, "
             "replace it with --overwrite, or choose another --out")
    for name in written:
        (out / name).unlink(missing_ok=True)


def ignore_relative_cache_home():
    """A relative $XDG_CACHE_HOME is invalid and to be ignored (the XDG Base Directory
    spec); kept, it would make a cache folder under whatever the current folder is."""
    import os
    cache = os.environ.get("XDG_CACHE_HOME")
    if cache and not os.path.isabs(cache):
        del os.environ["XDG_CACHE_HOME"]


def run_script(main):
    """``sys.exit(main())`` for an example program run as a script, with a quiet Ctrl-C:
    a KeyboardInterrupt that reaches here is one line and exit code 130, a press after the
    first KeyboardInterrupt is ignored, and once main has returned Ctrl-C is ignored, so
    the interpreter's teardown never prints a traceback either."""
    ignore_relative_cache_home()
    with CtrlC() as ctrl_c:
        try:
            code = main()
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            print("\ninterrupted", file=sys.stderr)
            code = 130
        ctrl_c.previous = signal.SIG_IGN    # what __exit__ leaves: teardown ignores Ctrl-C
    sys.exit(code)
