"""The ``xares`` console script: a bare ``xares --help`` is answered from the config files without
importing torch or composing a config; everything else goes to the Hydra app in ``main``."""

from __future__ import annotations

import gc
import sys


def main() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]):
        from xares_hydra.quick_help import quick_help

        print(quick_help())
        return
    from xares_hydra.main import main as run_xares  # the pipeline: torch, encoders, heads

    try:
        run_xares()
    finally:
        # The interpreter's collections at exit would walk every object torch and the run created, half a
        # second, only to free memory the process is about to return. Exit handlers (log flushing, thread
        # joins, experiment loggers) still run.
        gc.freeze()


if __name__ == "__main__":
    main()
