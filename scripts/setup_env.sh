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

# a line every 5 s while a long step runs (PyTorch's wheels take a minute to unpack)
ticking() {
  local started=$SECONDS ticker status=0
  (while sleep 5; do echo "  ... still installing ($((SECONDS - started)) s)"; done) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  return "$status"
}

# pip decides what is installed: every index, wheel folder and constraint it is configured with (pip.conf, PIP_*
# variables), and where indexes list different files of one version, the wheel that fits this machine (uv would take
# the first index's). uv then downloads and unpacks exactly those files in parallel, where pip unpacks PyTorch's 5 GB
# of wheels one file at a time. The package itself is installed editable by pip.
install() {
  local report="$venv/.xares-install-report.json" plan="$venv/.xares-install-plan.txt"
  quiet_pip install --dry-run --report "$report" "$@" || return
  "$venv/bin/python" - "$report" >"$plan" <<'PYTHON' || return
import json, sys
for item in json.load(open(sys.argv[1]))["install"]:
    if not item["download_info"].get("dir_info", {}).get("editable"):
        print(f"{item['metadata']['name']} @ {item['download_info']['url']}")
PYTHON
  [ -x "$venv/bin/uv" ] || quiet_pip install uv || return
  # its summary lines (prepared, installed), not the list of every package
  if [ -s "$plan" ]; then
    "$venv/bin/uv" pip install --python "$venv/bin/python" --no-deps -r "$plan" 2>&1 \
      | { grep -v -E '^ ([+-] |Down)|^Download|^Using Python' || true; }
    [ "${PIPESTATUS[0]}" = 0 ] || return
  fi
  quiet_pip install --no-deps -e "$repo"
}

# pip without its progress, and without its warning for each configured index that lacks a package
quiet_pip() {
  "$venv/bin/python" -m pip --quiet "$@" --progress-bar off 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
  return "${PIPESTATUS[0]}"
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
  ticking install ${torch[@]+"${torch[@]}"} -e "$repo${extras:+[$extras]}"
  echo "Byte-compiling the installed packages on every core"
  ticking compile_installed
  echo "$wanted" > "$stamp"
fi

export PATH="$venv/bin:$PATH"
