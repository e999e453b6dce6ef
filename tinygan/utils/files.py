"""Atomic file writes: a killed run never leaves a half-written file behind.

When the disk is full (or read-only, or not ours) the error says so in one line, names the
file and says what became of the previous version::

    >>> import errno
    >>> explain_os_error(OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.jsonl"))
    'cannot write runs/x/metrics.jsonl: the disk is full (No space left on device)'
"""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import tempfile
import time
from pathlib import Path

# errno -> what it means for someone writing a run's files
REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a file is in the way",
}


class WriteError(OSError):
    """A file could not be written; the message names it, why, and says that the file
    is as it was before (the temporary file is removed)."""


def explain_os_error(exc, action="write"):
    """One line for an OSError on a file: what could not be done to which path, and why."""
    if isinstance(exc, WriteError):
        return str(exc)
    where = f" {exc.filename}" if exc.filename is not None else ""
    return f"cannot {action}{where}: {_why(exc)}"


def _why(exc):
    reason = REASONS.get(exc.errno)
    detail = exc.strerror or str(exc)
    return f"{reason} ({detail})" if reason and detail else (reason or detail)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    The rename (``os.replace``) is atomic on POSIX and Windows: readers see the
    old file or the new one, never a mix. On any error the temporary file is
    removed and ``path`` is untouched; an OSError (a full disk, a read-only folder)
    becomes a :class:`WriteError` whose message names ``path``, the reason, and that
    the previous file is intact.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temp_files(path.parent, path.name)   # left by a write killed before
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise _write_error(exc, path) from exc
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise _write_error(exc, path) from exc
        raise


# .<file name>.<pid of the writer>.<mkstemp's 8 characters>.tmp (older: without the pid)
_TEMP = re.compile(r"^\.(?P<target>.+?)(?:\.(?P<pid>\d+))?\.[a-z0-9_]{8}\.tmp$")
LEGACY_TEMP_AGE = 3600   # seconds: a temp file without a pid that old is a killed write's


def remove_stale_temp_files(folder, name=None):
    """Remove the temporary files of atomic writes that were killed before their rename
    (kill -9, a power cut): those whose writer process is gone (another's, still running,
    are kept). ``name``: only those of that file. Returns the paths removed."""
    pattern = f".{glob.escape(name) if name else '*'}.*.tmp"
    removed = []
    for tmp in Path(folder).glob(pattern):
        match = _TEMP.match(tmp.name)
        if not match or (name and match["target"] != name) or not tmp.is_file():
            continue
        try:
            if match["pid"] is not None:
                if _alive(int(match["pid"])):
                    continue
            elif time.time() - tmp.stat().st_mtime < LEGACY_TEMP_AGE:
                continue
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            continue          # gone already, or not ours to remove: leave it
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True            # another user's process
    except OverflowError:
        return False
    return True


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock; the message names it."""


class FolderLock:
    """One run per output folder: an exclusive lock (flock) on ``<folder>/.lock``, which
    holds the pid of the run that has it and is removed when the run ends. The system drops
    the lock when that process ends, however it ends (kill -9 included: the file stays, but
    unlocked), so a stale lock never blocks a new run. Where the system has no flock
    (Windows) the lock is a no-op."""

    def __init__(self, folder):
        self.path, self.file = Path(folder) / ".lock", None

    def acquire(self):
        """Take the lock (again: nothing to do); FolderBusy naming the holder otherwise."""
        if self.file is not None:
            return self
        try:
            import fcntl
        except ImportError:
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)   # os-level: no buffering
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip()
                os.close(fd)
                raise FolderBusy(f"{self.path.parent} is in use by another run "
                                 f"({holder or 'a process'}); wait for it to finish, or "
                                 "choose another --out") from None
            try:       # the lock file the folder has now (a run ending removes its own)
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}{_command()}\n".encode())
        self.file = fd
        return self

    def release(self):
        if self.file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)      # still locked: no one else holds this file
            os.close(self.file)           # closing drops the flock
            self.file = None


def _command():
    """', python examples/mnist_gan.py ...' for the lock file, as far as it can be read."""
    import sys
    words = " ".join(sys.argv)[:150]
    return f": {''.join(c if c.isprintable() else '?' for c in words)}" if words else ""


def append_text(path, text):
    """Append ``text`` to ``path`` (a log such as metrics.jsonl); an OSError becomes a
    :class:`WriteError` naming the file and why. A kill or a full disk can leave the last
    line cut short: readers of such logs skip a torn last line (see read_metrics_upto)."""
    path = Path(path)
    try:
        with open(path, "a") as f:
            f.write(text)
    except OSError as exc:
        raise append_error(path, exc) from exc


def append_error(what, exc, kept="the lines before are intact"):
    """``exc`` (an OSError while appending to ``what``, a file or a description) as a
    one-line WriteError that says why and what was kept."""
    error = WriteError(f"cannot append to {what}: {_why(exc)}; {kept}")
    error.errno = exc.errno
    return error


def _write_error(exc, path):
    """``exc`` (an OSError while writing ``path``) as a WriteError with a one-line message."""
    why = _why(exc)
    if exc.filename is not None and Path(exc.filename) not in (path, path.parent) \
            and not str(exc.filename).startswith(str(path.parent / f".{path.name}.")):
        why += f": {exc.filename}"   # e.g. a parent folder that could not be made
    kept = (f"the previous {path} is intact" if path.exists()
            else f"nothing was written to {path}")
    error = WriteError(f"cannot write {path}: {why}; {kept}")
    error.errno = exc.errno
    return error


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
