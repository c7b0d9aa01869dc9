"""The ``xares`` console script: a bare ``xares --help`` is answered from the config files without
importing torch or composing a config; everything else goes to the Hydra app in ``main``."""

from __future__ import annotations

import atexit
import gc
import sys


def main() -> None:
    if sys.argv[1:] in (["--help"], ["-h"]):
        from xares_hydra.config.choices import quick_help

        print(quick_help())
        return
    # When the process exits (the other exit handlers still run: log flushing, experiment loggers), the
    # interpreter's last collections would walk every object torch and the run created, half a second, only
    # to free memory the process is about to return.
    atexit.register(gc.freeze)
    from xares_hydra.main import main as run_xares  # the pipeline: torch, encoders, heads

    run_xares()


if __name__ == "__main__":
    main()
