#!/usr/bin/env bash
# Runs the Wine tests (wine/winetest): wfpsandbox.exe and the WFP emulation DLL under Wine.
# Needs wine (Debian: wine wine64) and mingw-w64 (gcc-mingw-w64-x86-64 mingw-w64-x86-64-dev);
# the tests fail with that message when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go test -tags wine -count=1 -v ./wine/...
