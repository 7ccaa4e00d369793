#!/usr/bin/env bash
# The whole wfpsandbox test suite, as the README's test command and CI run it.
#
# On a fresh Debian machine, run as root: it installs what it needs (wine64 and the
# mingw-w64 cross compilers) with apt-get. It never skips a part because a tool is
# missing: it fails and says which package to install.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH (Go 1.26 is needed: https://go.dev/dl/)"

need=()
command -v wine >/dev/null || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v i686-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-i686)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: ${need[*]} — run this script as root to install them, or: apt-get install ${need[*]}"
  fi
  step "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
for tool in wine x86_64-w64-mingw32-gcc i686-w64-mingw32-gcc; do
  command -v "$tool" >/dev/null || die "$tool is still missing after installing; the Wine and ABI tests cannot run"
done

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
[ -z "$unformatted" ] || die "gofmt would change: $unformatted"

step "go.mod and go.sum are tidy"
# -diff changes nothing and fails when tidying would change either file. It loads the
# tests of every dependency too, so it reads their modules from the module cache (or
# GOPROXY when they are not cached yet).
go mod tidy -diff || die "go.mod/go.sum are not tidy (the diff above): run go mod tidy"

step "go vet (linux, windows amd64/arm64/386, with and without the integration tag)"
go vet ./...
go vet -tags wine ./wine/...
for arch in amd64 arm64 386; do
  GOOS=windows GOARCH=$arch go vet ./...
  GOOS=windows GOARCH=$arch go vet -tags wfpintegration ./...
  GOOS=windows GOARCH=$arch go build -o /dev/null ./cmd/wfpsandbox
done

step "staticcheck (linux and windows)"
# `GOOS=windows go tool staticcheck` would build staticcheck itself for Windows: build it
# for this machine once, then point it at the Windows build of the code.
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
go build -o "$tools/staticcheck" honnef.co/go/tools/cmd/staticcheck
staticcheck="$tools/staticcheck"
"$staticcheck" ./...
"$staticcheck" -tags wine ./wine/...
GOOS=windows "$staticcheck" ./...
GOOS=windows "$staticcheck" -tags wfpintegration ./...

step "go test (linux/amd64)"
go test -count=1 ./...

step "go test (linux/386: the 32-bit ABI of the Windows mirrors)"
GOARCH=386 go test -count=1 ./wfp/... ./account/... ./policy/...

step "fuzz smoke (10s per parser)"
for target in "FuzzParseSID ./account" "FuzzParseSD ./account" "FuzzParseSDDL ./account" \
  "FuzzParseFile ./policy" "FuzzDecodeState ./wfp/memengine" "FuzzParseConfig ./setup" \
  "FuzzCheck ./internal/tomlguard" "FuzzDecodeRecord ./state" "FuzzParseRequest ./service" \
  "FuzzDecodeJournal ./selftest"; do
  set -- $target
  listed=$(go test -list "^$1\$" "$2")
  if grep -qx "$1" <<<"$listed"; then
    # -fuzzminimizetime bounds the minimizing of each new input (default 60s, longer than
    # the whole smoke): FuzzDecodeState's 1.5 KB seed took the 10s to minimize (execs: 6).
    out=$(go test -run '^$' -fuzz "^$1\$" -fuzztime 10s -fuzzminimizetime 200x "$2" 2>&1) ||
      { printf '%s\n' "$out"; die "fuzz target $1 failed"; }
    printf '%s\n' "$out"
    execs=$(grep -o 'execs: [0-9]*' <<<"$out" | tail -n 1 | grep -o '[0-9]*$' || true)
    [ "${execs:-0}" -ge 1000 ] || die "fuzz target $1 ran only ${execs:-0} inputs in 10s: the smoke did not fuzz"
  else
    die "fuzz target $1 is missing from $2"
  fi
done

step "Wine: the real wfpsandbox.exe against the WFP emulation DLL"
./wine/run-tests.sh

step "all passed"
