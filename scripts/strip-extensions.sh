#!/bin/sh
# Strip the symbol tables that some wheels leave in their extension modules (SQLAlchemy's Cython
# modules: 8 MB of the worker image), then import every module it stripped, so that a broken one
# fails the image build rather than a worker. Run by the Dockerfile after each `pip install`;
# modules already stripped (no .symtab) are left alone.
#   strip-extensions.sh PYTHON      (needs binutils' strip and readelf)
set -eu
python=$1
site=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
modules=$(mktemp)
stripped=$(mktemp)
trap 'rm -f "$modules" "$stripped"' EXIT
find "$site" -type f \( -name '*.cpython-*.so' -o -name '*.abi3.so' \) | sort >"$modules"
while read -r so; do
  if readelf -S "$so" | grep -q '\.symtab'; then
    strip --strip-unneeded "$so"
    echo "$so" >>"$stripped"
  fi
done <"$modules"
"$python" -B -c '
import importlib, sys
site = sys.argv[1]
for path in sys.stdin.read().split():
    name = path[len(site) + 1 :].split(".")[0].replace("/", ".")
    importlib.import_module(name)
    print("strip-extensions: stripped", name)
' "$site" <"$stripped"
