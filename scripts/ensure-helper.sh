#!/bin/sh
# The pre-compile hook of rebar.config and erlang/rebar.config: makes sure
# the Erlang side will find a helper program, epmd-docker, for this system.
#
#   1. A prebuilt helper for this system, priv/OS-ARCH/epmd-docker (the
#      package carries them; `make dist` writes them): nothing to build, no
#      Go needed. Its checksum is checked against priv/SHA256SUMS.
#   2. Otherwise Go on PATH: `make priv/epmd-docker` builds one.
#   3. Otherwise it stops, saying what is missing and how to get it.
#
# OS-ARCH is Go's GOOS-GOARCH for the Erlang VM that compiles (rebar3 passes
# its architecture in ERLANG_TARGET), mapped as epmd_docker_helper maps
# erlang:system_info(system_architecture) at run time.
set -eu
cd "$(dirname "$0")/.."

# The VM's architecture triple, such as x86_64-pc-linux-gnu or
# aarch64-apple-darwin23.4.0.
triple() {
  if [ -n "${ERLANG_TARGET:-}" ]; then
    # OTPVSN-TRIPLE-WORDSIZE
    t=${ERLANG_TARGET#*-}
    echo "${t%-*}"
  elif command -v erl >/dev/null 2>&1; then
    erl -noshell -eval 'io:put_chars(erlang:system_info(system_architecture)), halt().'
  else
    echo "$(uname -m)-$(uname -s)"
  fi
}

system() {
  t=$(triple | tr 'A-Z' 'a-z')
  case $t in
    x86_64-* | amd64-*) arch=amd64 ;;
    aarch64-* | arm64-*) arch=arm64 ;;
    *) arch=${t%%-*} ;;
  esac
  case $t in
    *linux*) os=linux ;;
    *darwin*) os=darwin ;;
    *freebsd*) os=freebsd ;;
    *openbsd*) os=openbsd ;;
    *netbsd*) os=netbsd ;;
    *) os=$(uname -s | tr 'A-Z' 'a-z') ;;
  esac
  echo "$os-$arch"
}

say() { echo "epmd_docker: $*" >&2; }

sys=$(system)
prebuilt=priv/$sys/epmd-docker
if [ -f "$prebuilt" ]; then
  # A package's files may lose their mode on the way (some unpackers do).
  [ -x "$prebuilt" ] || chmod +x "$prebuilt"
  if [ -f priv/SHA256SUMS ]; then
    if command -v sha256sum >/dev/null 2>&1; then
      sum="sha256sum"
    elif command -v shasum >/dev/null 2>&1; then
      sum="shasum -a 256"
    else
      sum=""
    fi
    if [ -n "$sum" ]; then
      want=$(grep " $sys/epmd-docker\$" priv/SHA256SUMS | cut -d' ' -f1)
      got=$(cd priv && $sum "$sys/epmd-docker" | cut -d' ' -f1)
      if [ "$want" != "$got" ]; then
        say "the prebuilt helper $prebuilt does not match its checksum in priv/SHA256SUMS (got $got, want ${want:-none}); fetch the package again, or delete $prebuilt to build one with Go"
        exit 1
      fi
    fi
  fi
  exit 0
fi

if command -v "${GO:-go}" >/dev/null 2>&1; then
  if ! command -v make >/dev/null 2>&1; then
    say "building the helper priv/epmd-docker needs make, which is not on PATH; install make (Debian: apt-get install make; macOS: xcode-select --install)"
    exit 1
  fi
  exec make priv/epmd-docker
fi

have=$(cd priv 2>/dev/null && ls -d -- *-*/ 2>/dev/null | tr -d / | tr '\n' ' ' || true)
say "no helper program for this system ($sys): there is no prebuilt $prebuilt${have:+ (this copy has prebuilt helpers for: ${have% })}, and Go, needed to build priv/epmd-docker, is not on PATH. Either install Go 1.26 or later (https://go.dev/dl/) and compile again, or depend on the epmd_docker package, which carries prebuilt helpers for linux-amd64, linux-arm64, darwin-amd64 and darwin-arm64 (see Install in README.md)"
exit 1
