"""Work handed to processes forked from this one: they start at once with everything already imported (a new
Python would import torch again, seconds on a small machine). The speed tricks that use it: the demo data generated
ahead of a sweep's jobs (``demo/prefetch.py``) and the diagnostic figures drawn beside the other reports
(``report/reports.py``)."""

from __future__ import annotations

import multiprocessing
import signal
from multiprocessing.pool import Pool


def forked_pool(processes: int) -> Pool:
    """``processes`` forked workers (where the system forks; elsewhere its default start method). Unlike
    ``concurrent.futures``' pool, a ``Pool`` still at work when the process exits (an error, Ctrl-C) is terminated,
    not waited for: a worker takes SIGTERM's default (it has no work to save), not the ``xares`` handler it was
    forked with."""
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
    default_sigterm = (signal.SIGTERM, signal.SIG_DFL)
    return multiprocessing.get_context(method).Pool(processes, initializer=signal.signal, initargs=default_sigterm)
