#!/usr/bin/env bash
# Cold end-to-end runs of X-ARES 0.1.3 and xares-hydra on the same tars, alternating; wall time and peak
# memory (RSS summed over the whole process tree, sampled every 50 ms) for both, medians and ratios.
#
#   scripts/benchmark_vs_xares.sh [RUNS]        (default 3; run it with the xares-hydra environment active)
#
# X-ARES 0.1.3 is installed from the package index into its own virtual environment under
# ${XARES_BENCH_VENV:-${XDG_CACHE_HOME:-~/.cache}/xares-hydra/xares-0.1.3}, which sees this environment's
# packages (the same torch build for both) and holds only what X-ARES needs besides them. A
# sitecustomize.py there replaces torchaudio.load (which needs torchcodec) by a soundfile reader.
# Tasks: the demo clip tasks (demo/sounds, demo/timbre, demo/mixtures), written as X-ARES task files;
# encoder: an X-ARES encoder file computing the same log-mel features as encoder=mel, used by both.
# X-ARES runs single-process (--max-jobs 0, its leanest and fastest setting for one encoder).
set -euo pipefail

RUNS=${1:-3}
PYTHON=${PYTHON:-python}
XARES_HYDRA=$(dirname "$(command -v "$PYTHON")")/xares
VENV=${XARES_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/xares-hydra/xares-0.1.3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TASKS=(demo_sounds demo_timbre demo_mixtures)

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import xares.run" 2>/dev/null; then
    echo "installing xares==0.1.3 into $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    "$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$site/xares_hydra_env.pth"
    cat > "$site/sitecustomize.py" <<'EOF'
"""torchaudio.load needs torchcodec; X-ARES (webdataset's torch_audio decoder) gets a soundfile reader."""
import soundfile
import torch
import torchaudio


def _load(source, *args, **kwargs):
    samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
    return torch.from_numpy(samples.T.copy()), rate


torchaudio.load = _load
EOF
    "$VENV/bin/python" -m pip install --quiet "xares==0.1.3" >&2
fi

# the tars: the demo clip tasks as xares-hydra generates them
DATA=$WORK/data
XARES_ROOT=$WORK/hydra XARES_DATA_ROOT=$DATA "$XARES_HYDRA" -m task=demo/sounds,demo/timbre,demo/mixtures \
    stage=download "hydra.sweep.dir=$WORK/download" > /dev/null 2>&1

cat > "$WORK/mel_encoder.py" <<'EOF'
import torch
import torchaudio


class MelEncoder(torch.nn.Module):
    """The features of xares-hydra's encoder=mel: 64 log-mel bands, 25 ms windows, 10 ms hop."""

    def __init__(self):
        super().__init__()
        self.sampling_rate, self.output_dim, self.hop_size_in_ms = 16000, 64, 10.0
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64
        )

    def forward(self, audio):
        return torch.log(self.melspec(audio.float()) + 1e-6).transpose(1, 2)
EOF

mkdir -p "$WORK/tasks"
cat > "$WORK/tasks/demo_sounds_task.py" <<'EOF'
import os

from xares.task import TaskConfig


def demo_sounds_config(encoder) -> TaskConfig:
    config = TaskConfig(
        encoder=encoder, name="demo_sounds", formal_name="Demo sounds", env_root=os.environ["XARES_ENV"],
        k_fold_splits=[1, 2, 3, 4, 5], label_processor=lambda x: x["label"], output_dim=6,
        learning_rate=0.01, epochs=20, eval_weight=180,
    )
    config.audio_tar_name_of_split = {fold: f"demo_sounds_fold{fold}_*.tar" for fold in config.k_fold_splits}
    config.encoded_tar_name_of_split = {fold: f"wds-encoded-fold-{fold}-*.tar" for fold in config.k_fold_splits}
    return config
EOF
cat > "$WORK/tasks/demo_timbre_task.py" <<'EOF'
import os

from xares.task import TaskConfig

CLASSES = ["sine", "square", "sawtooth", "bell", "reed"]


def demo_timbre_config(encoder) -> TaskConfig:
    return TaskConfig(
        encoder=encoder, name="demo_timbre", formal_name="Demo timbre", env_root=os.environ["XARES_ENV"],
        train_split="demo_timbre_train", valid_split="demo_timbre_valid", test_split="demo_timbre_test",
        label_processor=lambda x: CLASSES.index(x["instrument"]), output_dim=5,
        learning_rate=0.01, epochs=20, eval_weight=60,
    )
EOF
cat > "$WORK/tasks/demo_mixtures_task.py" <<'EOF'
import os

from xares.task import TaskConfig

CLASSES = ["beep", "hum", "hiss", "knock", "whistle"]


def demo_mixtures_config(encoder) -> TaskConfig:
    def many_hot(x):
        events = set(x["events"].split(";"))
        return [float(name in events) for name in CLASSES]

    return TaskConfig(
        encoder=encoder, name="demo_mixtures", formal_name="Demo mixtures", env_root=os.environ["XARES_ENV"],
        train_split="demo_mixtures_train", valid_split="demo_mixtures_valid", test_split="demo_mixtures_test",
        label_processor=many_hot, output_dim=5, criterion="BCEWithLogitsLoss", metric="mAP", do_knn=False,
        learning_rate=0.01, epochs=20, eval_weight=80,
    )
EOF

# runs a command; prints "<wall seconds> <peak MB of RSS summed over its process tree>"
cat > "$WORK/measure.py" <<'EOF'
import os, subprocess, sys, time


def tree_rss(root):
    children, rss = {}, {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/statm") as statm:
                rss[int(pid)] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(pid))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


started = time.perf_counter()
with open(sys.argv[1], "w") as log:
    process = subprocess.Popen(sys.argv[2:], stdout=log, stderr=subprocess.STDOUT)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.05)
wall = time.perf_counter() - started
if process.returncode != 0:
    sys.exit(f"{sys.argv[2:]} failed ({process.returncode}); see {sys.argv[1]}")
print(f"{wall:.2f} {peak / 2**20:.0f}")
EOF

run_xares() {
    local env=$WORK/xares_env_$1
    for task in "${TASKS[@]}"; do
        mkdir -p "$env/$task"
        ln -s "$DATA/$task"/*.tar "$env/$task/"
        touch "$env/$task/.audio_tar_ready"
    done
    (cd "$WORK" && XARES_ENV=$env "$PYTHON" "$WORK/measure.py" "$WORK/xares_$1.log" \
        "$VENV/bin/python" -m xares.run --max-jobs 0 mel_encoder.py tasks/*.py)  # X-ARES imports relative paths
    # X-ARES logs a failed stage and exits 0: only a run that printed its scores counts
    if ! grep -q "Weighted Average MLP Score for All" "$WORK/xares_$1.log"; then
        tail -n 30 "$WORK/xares_$1.log" >&2
        echo "X-ARES did not finish (log above)" >&2
        exit 1
    fi
}

run_hydra() {
    XARES_ROOT=$WORK/hydra_$1 XARES_DATA_ROOT=$DATA "$PYTHON" "$WORK/measure.py" "$WORK/hydra_$1.log" \
        "$XARES_HYDRA" -m task=demo/sounds,demo/timbre,demo/mixtures encoder=xares_file \
        "encoder.path=$WORK/mel_encoder.py" "hydra.sweep.dir=$WORK/hydra_$1/sweep"
    if [ "$(ls "$WORK/hydra_$1"/sweep/*/result.json | wc -l)" -ne 3 ]; then
        tail -n 30 "$WORK/hydra_$1.log" >&2
        echo "xares-hydra did not finish (log above)" >&2
        exit 1
    fi
}

: > "$WORK/times"
for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) -eq 1 ]; then order="xares hydra"; else order="hydra xares"; fi
    for who in $order; do
        figures=$("run_$who" "$run")
        echo "run $run $who: $figures s MB" >&2
        echo "$who $figures" >> "$WORK/times"
    done
done
grep -h "Weighted Average MLP Score for All" "$WORK/xares_1.log" | sed 's/^/X-ARES: /' >&2

"$PYTHON" - "$WORK/times" "$RUNS" "$(nproc)" <<'EOF'
import statistics, sys

rows = [line.split() for line in open(sys.argv[1])]
median = {
    (who, what): statistics.median(float(row[1 + index]) for row in rows if row[0] == who)
    for who in ("xares", "hydra") for index, what in enumerate(("wall", "rss"))
}
print(f"\ndemo clip tasks (sounds, timbre, mixtures), mel encoder file, cold, {sys.argv[3]} CPU cores, "
      f"median of {sys.argv[2]} alternating runs")
print("| | X-ARES 0.1.3 | xares-hydra | ratio |\n|:--|--:|--:|--:|")
print(f"| wall time (s) | {median['xares', 'wall']:.1f} | {median['hydra', 'wall']:.1f} | "
      f"{median['xares', 'wall'] / median['hydra', 'wall']:.1f}x faster |")
print(f"| peak RSS, process tree (MB) | {median['xares', 'rss']:.0f} | {median['hydra', 'rss']:.0f} | "
      f"{median['hydra', 'rss'] / median['xares', 'rss']:.2f} |")
EOF
