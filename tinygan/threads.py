"""The library's threads on the CPU: NumPy's BLAS, and a small pool for elementwise work.

NumPy's matrix products run on its BLAS's threads; its ufuncs run on the calling thread
only, but let go of the GIL while they loop. So a large fused function (``backend.fuse``)
can run on contiguous pieces of its arrays on two threads at once: the caller takes one
piece, the pool's threads the others. :func:`run` is that one step, for any list of pieces.

The pool is made to share the cores with other programs without harm, unlike BLAS's
threads, which spin while they wait:

- its threads sleep on a queue between calls and the caller sleeps on a lock, so nothing
  spins;
- pieces are claimed, not assigned: the caller takes pieces until none is left, so a pool
  thread that another program keeps off the CPU until then costs the call nothing (the
  caller does its piece too, as if alone); one preempted inside its piece is waited for;
- each piece runs in a copy of the caller's context, so ``np.errstate`` reaches it.

``set_num_threads(n)`` (re-exported as ``tg.set_num_threads``) sets both, as
``torch.set_num_threads`` sets PyTorch's: BLAS's thread count, and the pool's size with the
caller counted (1: no pool, everything on the calling thread). On import tinygan takes half
the cores for both (:func:`default_threads`), unless the environment already chose BLAS's
threads: with one BLAS thread per core, two programs on the same cores slow each other down
many times over (README, "Another program running?").
"""
from __future__ import annotations

import contextvars
import itertools
import os
import queue
import threading

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                         "BLIS_NUM_THREADS", "GOTO_NUM_THREADS")

_size = 1          # threads that run pieces, the caller counted; 1: no pool
_workers = []      # the pool's threads, started on first use
_jobs = queue.SimpleQueue()
_start_lock = threading.Lock()


def default_threads():
    """Half the cores, at least one: what tinygan and the example programs take by default.

    BLAS threads spin between calls, so two runs with a thread per core take the cores in
    turn; half the cores leaves a second run the other half (README, "Another program
    running?").
    """
    return max(1, (os.cpu_count() or 1) // 2)


def set_num_threads(n):
    """Let the CPU's matrix products (NumPy's BLAS) and tinygan's elementwise pool use ``n``
    threads, as torch.set_num_threads; 1 runs every elementwise op on the calling thread.

    BLAS starts one thread per core and keeps them spinning between calls. Alone that is the
    fastest; beside another busy program on the same cores the spinning threads take turns
    with the other program's work, and both slow down many times over (see the README).
    Set at run time through threadpoolctl: environment variables such as
    OPENBLAS_NUM_THREADS are read once, when NumPy loads.
    """
    global _size
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive integer, got {n!r}")
    from threadpoolctl import threadpool_limits   # here: import tinygan works without it
    threadpool_limits(limits=n, user_api="blas")
    _size = n


def get_num_threads():
    """The threads NumPy's BLAS may use now (the smallest, if NumPy loaded several BLAS)."""
    from threadpoolctl import threadpool_info
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return min(counts) if counts else 1


def pool_size():
    """How many threads a call to :func:`run` spreads its pieces over (the caller counted)."""
    return _size


def use_default_threads():
    """What ``import tinygan`` does: :func:`set_num_threads` with :func:`default_threads`,
    unless one of ``BLAS_THREAD_VARIABLES`` is set (the user chose: BLAS read it, and the
    pool takes the same number)."""
    global _size
    chosen = [os.environ[name] for name in BLAS_THREAD_VARIABLES if os.environ.get(name)]
    if not chosen:
        try:
            set_num_threads(default_threads())
        except ImportError:   # no threadpoolctl: BLAS as NumPy set it, no pool; tinygan works
            pass
        return
    try:
        _size = max(1, int(chosen[0]))
    except ValueError:                       # not a number: BLAS ignored it, and so do we
        _size = 1


class _Job:
    """Pieces 0..count-1 of one call, claimed one at a time by whoever is free."""

    __slots__ = ("piece", "count", "claim", "left", "lock", "done", "error", "context")

    def __init__(self, piece, count):
        self.piece, self.count = piece, count
        self.claim = itertools.count().__next__      # atomic under the GIL
        self.left = count
        self.lock = threading.Lock()
        self.done = threading.Lock()
        self.done.acquire()                          # released when the last piece ends
        self.error = None
        self.context = contextvars.copy_context()

    def work(self, context=None):
        while True:
            i = self.claim()
            if i >= self.count:
                return
            try:
                if context is None:
                    self.piece(i)
                else:
                    context.run(self.piece, i)
            except BaseException as exc:   # handed to the caller, which raises it
                if self.error is None:
                    self.error = exc
            with self.lock:
                self.left -= 1
                last = self.left == 0
            if last:
                self.done.release()


def _worker():
    while True:
        job = _jobs.get()
        if job is None:
            return
        job.work(job.context.copy())   # a copy each: one context cannot be entered twice


def _ensure_workers(count):
    with _start_lock:
        while len(_workers) < count:
            thread = threading.Thread(target=_worker, name=f"tinygan-pool-{len(_workers)}",
                                      daemon=True)
            thread.start()
            _workers.append(thread)


def run(piece, count):
    """Call ``piece(i)`` for i in range(count), spread over the pool and the caller; return
    when all are done, raising the first exception a piece raised. With a pool size of 1,
    or one piece, every call runs here, in order."""
    if _size <= 1 or count <= 1:
        for i in range(count):
            piece(i)
        return
    helpers = min(_size, count) - 1
    _ensure_workers(helpers)
    job = _Job(piece, count)
    for _ in range(helpers):
        _jobs.put(job)
    job.work()
    job.done.acquire()
    if job.error is not None:
        raise job.error


def _forget_workers():
    """In a forked child the pool's threads do not exist: start new ones when needed."""
    global _jobs
    _workers.clear()
    _jobs = queue.SimpleQueue()


os.register_at_fork(after_in_child=_forget_workers)
