#!/usr/bin/env python
"""How long ``scripts/demo.sh`` takes from a fresh clone, and its longest stretch without a line of output.

The repository is cloned into a temporary folder; there, ``scripts/setup_env.sh`` (the set-up demo.sh
sources) is timed, then ``scripts/demo.sh`` itself (its set-up is then a no-op check, so this is the demo
sweep: the seven demo tasks x the mel and noise encoders). Every output line is timestamped as it arrives.
Printed: set-up, sweep and total seconds, the longest silence and the line that ended it, and each job's
head seconds.

    python scripts/benchmark_demo.py [--venv DIR] [--cores 0,1]

``--venv`` points ``XARES_VENV`` at an environment to use, and the clone is installed into it (default: a
new one in the temporary folder, which downloads PyTorch: the set-up a new user has); ``--cores`` runs
everything on those CPU cores only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed_lines(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``command``; its wall seconds, the longest gap between output lines and the line after that gap."""
    started = time.monotonic()
    last, longest, after = started, 0.0, ""
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        assert p.stdout is not None
        for line in p.stdout:
            now = time.monotonic()
            if now - last > longest:
                longest, after = now - last, line.strip()
            last = now
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({p.returncode})")
    return time.monotonic() - started, max(longest, time.monotonic() - last), after


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venv", type=Path, help="XARES_VENV to use (default: a new one)")
    parser.add_argument("--cores", help="CPU cores to run on, e.g. 0,1 (default: all this process may use)")
    args = parser.parse_args()
    pinned = ["taskset", "-c", args.cores] if args.cores else []
    cores = args.cores or ",".join(map(str, sorted(os.sched_getaffinity(0))))
    with tempfile.TemporaryDirectory() as folder:
        clone, root = Path(folder) / "clone", Path(folder) / "root"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        venv = args.venv or Path(folder) / "venv"
        (venv / ".xares-install-stamp").unlink(missing_ok=True)  # install this clone into it (set-up included)
        env = dict(os.environ, XARES_ROOT=str(root), XARES_VENV=str(venv))
        env.pop("VIRTUAL_ENV", None)
        setup_as_demo = 'XARES_EXTRAS="${XARES_EXTRAS-}" source scripts/setup_env.sh'  # demo.sh's own set-up line
        setup, setup_gap, _ = timed_lines([*pinned, "bash", "-c", setup_as_demo], clone, env)
        sweep, gap, after = timed_lines([*pinned, "bash", "scripts/demo.sh"], clone, env)
        records = [json.loads(path.read_text()) for path in (root / "results").rglob("*.json")]
        print(f"scripts/demo.sh from a fresh clone on cores {cores}:")
        print(f"  set-up {setup:.1f} s, demo sweep {sweep:.1f} s, total {setup + sweep:.1f} s")
        print(f"  longest stretch without output: {max(gap, setup_gap):.1f} s (sweep: {gap:.1f} s, ended by: {after})")
        for record in sorted(records, key=lambda r: -r["timings"].get("heads", 0.0)):
            heads, total = record["timings"].get("heads", 0.0), record["timings"].get("total", 0.0)
            job = f"{record['task']['name']:>14} {record['encoder']['name']:>5}"
            print(f"  {job}: heads {heads:5.1f} s, total {total:5.1f} s")


if __name__ == "__main__":
    main()
