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
    # at exit, skip the last collections over every object torch made (half a second; other handlers still run)
    atexit.register(gc.freeze)
    from xares_hydra.main import main as run_xares  # the pipeline: torch, encoders, heads

    run_xares()


if __name__ == "__main__":
    main()
