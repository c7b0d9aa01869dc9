#!/usr/bin/env bash
# Download one X-ARES dataset (a Zenodo record) by hand, on any machine with internet.
#
# xares-hydra downloads its datasets itself; use this script when that fails (no internet on the
# compute nodes, a proxy, Zenodo rate limiting) and copy the folder over afterwards. It needs only
# bash, curl and python3 (nothing from this repository).
#
# Usage:
#   scripts/download_manually.sh <record_id> <dest_dir>   download every file of the record into
#                                                         <dest_dir> (resumable: re-run after an
#                                                         interruption), verify md5 checksums,
#                                                         extract zip/tar.gz archives, write the
#                                                         ready marker <dest_dir>/.audio_tar_ready
#   scripts/download_manually.sh --list <record_id>       only print the URLs of the record's files
#
# Where to put the result: xares-hydra looks for task <name> in <data_root>/<name>/, where
# <data_root> is paths.data_root (default ${XARES_DATA_ROOT:-~/.xares-hydra/data}). The record id
# of a task is `zenodo_id` in conf/task/<name>.yaml. For example, for ESC-50:
#   scripts/download_manually.sh 14614287 "${XARES_DATA_ROOT:-$HOME/.xares-hydra/data}/esc50"
# then copy that folder, marker included, to the same place under the data_root of the machine
# that runs the benchmark.
#
# Environment:
#   ZENODO_API   API base URL (default https://zenodo.org/api)
set -euo pipefail

API="${ZENODO_API:-https://zenodo.org/api}"
API="${API%/}"
READY_MARKER=".audio_tar_ready"

usage() {
    cat >&2 <<EOF
usage: $0 <record_id> <dest_dir>   download, verify and extract the record's files into dest_dir
       $0 --list <record_id>       only print the URLs of the record's files
environment: ZENODO_API (default https://zenodo.org/api)
EOF
    exit 2
}

die() {
    echo "error: $*" >&2
    exit 1
}

for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed; please install it"
done

# Print "key<TAB>size<TAB>checksum<TAB>url" for each file of record $1.
list_files() {
    local record_url="$API/records/$1" record_json
    record_json="$(curl --fail --silent --show-error --location --retry 5 --retry-delay 10 "$record_url")" ||
        die "could not read record $1 from $record_url"
    printf '%s' "$record_json" | python3 -c '
import json, sys, urllib.parse
api, record_id = sys.argv[1], sys.argv[2]
try:
    record = json.load(sys.stdin)
except ValueError:
    sys.exit("error: the Zenodo API did not answer with JSON")
entries = record.get("files") or []
if isinstance(entries, dict):
    entries = entries.get("entries") or []
if not entries:
    sys.exit(f"error: record {record_id} lists no files (restricted or deleted?)")
for entry in entries:
    key = entry["key"]
    if "/" in key or "\\" in key or key in (".", ".."):
        sys.exit(f"error: unsafe file name in record: {key!r}")
    links = entry.get("links") or {}
    url = links.get("self") or links.get("content") or f"{api}/records/{record_id}/files/{urllib.parse.quote(key)}/content"
    print(key, entry.get("size", 0), entry.get("checksum", ""), url, sep="\t")
' "$API" "$1"
}

# md5 of file $1 in Zenodo's "md5:<hex>" form.
md5_of() {
    python3 - "$1" <<'PY'
import hashlib, sys
digest = hashlib.md5()
with open(sys.argv[1], "rb") as stream:
    for block in iter(lambda: stream.read(1 << 20), b""):
        digest.update(block)
print("md5:" + digest.hexdigest())
PY
}

file_size() {
    python3 -c 'import os, sys; print(os.path.getsize(sys.argv[1]) if os.path.exists(sys.argv[1]) else 0)' "$1"
}

# Download one file with resume, verify it, give it its final name; one fresh retry on a bad checksum.
fetch_file() {
    local key="$1" size="$2" checksum="$3" url="$4" dest="$5"
    local final="$dest/$key" part="$dest/$key.part" attempt
    if [[ -f "$final" && "$(md5_of "$final")" == "$checksum" ]]; then
        echo "ok        $key (already complete)"
        return
    fi
    for attempt in 1 2; do
        if (($(file_size "$part") > size)); then
            rm -f "$part"
        fi
        if (($(file_size "$part") < size)); then
            echo "download  $key ($size bytes)"
            curl --fail --location --retry 5 --retry-delay 10 --continue-at - --output "$part" "$url" ||
                die "downloading $url failed; run the script again to resume"
        fi
        if [[ -z "$checksum" || "$(md5_of "$part")" == "$checksum" ]]; then
            mv -f "$part" "$final"
            return
        fi
        echo "checksum mismatch for $key; downloading it again" >&2
        rm -f "$part"
    done
    die "$key failed its checksum twice (expected $checksum)"
}

# Extract archive $1 into folder $2, refusing members that would land outside it.
extract_archive() {
    python3 - "$1" "$2" <<'PY'
import os, sys, tarfile, zipfile
archive, dest = sys.argv[1], os.path.realpath(sys.argv[2])

def check(name):
    target = os.path.realpath(os.path.join(dest, name))
    if os.path.isabs(name) or os.path.commonpath([dest, target]) != dest:
        sys.exit(f"error: {archive} holds a path outside its folder ({name}); not extracted")

if archive.lower().endswith(".zip"):
    with zipfile.ZipFile(archive) as bundle:
        for name in bundle.namelist():
            check(name)
        bundle.extractall(dest)
else:
    with tarfile.open(archive, "r:*") as bundle:
        members = bundle.getmembers()
        for member in members:
            check(member.name)
            if member.issym() or member.islnk() or member.isdev():
                sys.exit(f"error: {archive} holds a link or device ({member.name}); not extracted")
        bundle.extractall(dest, members=members)
PY
}

# Write the ready marker (JSON provenance, as xares-hydra writes it) atomically.
write_marker() {
    local record_id="$1" dest="$2" listing="$3" extracted="$4"
    python3 - "$record_id" "$API" "$dest/$READY_MARKER" "$listing" "$extracted" <<'PY'
import json, os, sys
record_id, api, marker, listing, extracted = sys.argv[1:6]
files = []
for line in listing.splitlines():
    key, size, checksum, url = line.split("\t")
    files.append({"key": key, "size": int(size), "checksum": checksum, "url": url})
provenance = {"source": "zenodo", "record_id": record_id, "api_base": api, "files": files,
              "extracted": [name for name in extracted.splitlines() if name]}
with open(marker + ".tmp", "w", encoding="utf-8") as out:
    json.dump(provenance, out, indent=2)
    out.write("\n")
os.replace(marker + ".tmp", marker)
PY
}

main() {
    if [[ "${1:-}" == "--list" ]]; then
        [[ $# -eq 2 ]] || usage
        list_files "$2" | cut -f4
        return
    fi
    [[ $# -eq 2 ]] || usage
    local record_id="$1" dest="$2" listing extracted="" key size checksum url
    mkdir -p "$dest"
    listing="$(list_files "$record_id")" || exit 1
    rm -f "$dest/$READY_MARKER"
    while IFS=$'\t' read -r key size checksum url; do
        fetch_file "$key" "$size" "$checksum" "$url" "$dest"
    done <<<"$listing"
    while IFS=$'\t' read -r key size checksum url; do
        case "$(printf '%s' "$key" | tr '[:upper:]' '[:lower:]')" in
        *.zip | *.tar.gz | *.tgz)
            echo "extract   $key"
            extract_archive "$dest/$key" "$dest" || die "could not extract $dest/$key"
            echo "$checksum" >"$dest/.$key.extracted"
            extracted+="$key"$'\n'
            ;;
        esac
    done <<<"$listing"
    write_marker "$record_id" "$dest" "$listing" "$extracted"
    echo "ready: $dest (record $record_id)"
}

main "$@"
