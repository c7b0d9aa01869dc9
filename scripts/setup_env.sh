#!/usr/bin/env bash
# Sourced by test.sh and demo.sh: creates (or refreshes) the virtual environment and installs
# xares-hydra into it. Re-running is cheap: installs happen only when pyproject.toml changed.
#   XARES_VENV    where the environment lives (default: .venv in the repository)
#   PYTHON        interpreter used to create it (default: python3)
#   XARES_EXTRAS  pip extras to install (default: test; empty: the package alone, as demo.sh needs)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${XARES_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
extras="${XARES_EXTRAS-test}"

# a line every 10 s while a long step runs (PyTorch's wheels take a minute to unpack)
ticking() {
  local started=$SECONDS ticker status=0
  (while sleep 10; do echo "  ... still installing ($((SECONDS - started)) s)"; done) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  return "$status"
}

# uv resolves, downloads and unpacks in parallel (pip unpacks PyTorch's 5 GB of wheels one file at a time: its
# install took 95 s against uv's 40 s). pip installs uv, and uv is given the indexes, wheel folders and
# constraints pip is configured with (pip.conf, PIP_* variables), which it does not read itself
pip_options_for_uv() {
  "$venv/bin/python" - <<'PYTHON'
import subprocess, sys
flags = {"index-url": "--default-index", "extra-index-url": "--index", "find-links": "--find-links", "constraint": "--constraints"}
listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
options = []
for line in listed.splitlines():
    key, _, value = line.partition("=")
    flag = flags.get(key.rsplit(".", 1)[-1])
    for item in value.strip("'\"").split() if flag else []:
        if [flag, item] not in options:
            options.append([flag, item])
print("\n".join(part for option in options for part in option))
PYTHON
}

uv_install() {
  [ -x "$venv/bin/uv" ] || "$venv/bin/python" -m pip install --quiet --progress-bar off uv 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  local options
  mapfile -t options < <(pip_options_for_uv)
  # its summary lines (resolved, prepared, installed), not the list of every package
  "$venv/bin/uv" pip install --python "$venv/bin/python" --index-strategy unsafe-best-match \
    ${options[@]+"${options[@]}"} "$@" 2>&1 | { grep -v -E '^ ([+-] |Down)|^Download|^Using Python' || true; }
}

# without the compiled files every run would compile what it imports (each run where PYTHONDONTWRITEBYTECODE
# is set); a file compileall cannot compile (a package's Python 2 fixture) is skipped, as pip skips it
compile_installed() {
  "$venv/bin/python" -m compileall -qq -j 0 "$("$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")" || true
}

if [ ! -x "$venv/bin/python" ]; then
  echo "Creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi

stamp="$venv/.xares-install-stamp"
wanted="$(cat "$repo/pyproject.toml" | sha256sum | cut -c1-16) $extras"
installed="$(cat "$stamp" 2>/dev/null || true)"
# found, not imported: importing PyTorch would add seconds to every demo.sh and test.sh
torch=()
if ! "$venv/bin/python" -c "import importlib.util as u, sys; sys.exit(not (u.find_spec('torch') and u.find_spec('torchaudio')))" >/dev/null 2>&1; then
  torch=("torch==${TORCH_VERSION:-2.14.1}" "torchaudio==${TORCHAUDIO_VERSION:-2.11.0}")
fi
# the package alone is also there when it was installed with extras (test.sh before demo.sh)
if [ ${#torch[@]} -gt 0 ] || { [ "$installed" != "$wanted" ] && { [ -n "$extras" ] || [ "${installed%% *}" != "${wanted%% *}" ]; }; }; then
  echo "Installing xares-hydra${extras:+[$extras]} (editable)${torch[*]:+ with ${torch[*]} (PyTorch takes a minute)}"
  # one resolver run for PyTorch and the package
  ticking uv_install ${torch[@]+"${torch[@]}"} -e "$repo${extras:+[$extras]}"
  echo "Byte-compiling the installed packages on every core"
  ticking compile_installed
  echo "$wanted" > "$stamp"
fi

export PATH="$venv/bin:$PATH"
