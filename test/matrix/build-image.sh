#!/usr/bin/env bash
# Builds, when missing, the local images the OTP matrix runs Erlang in:
# epmd-docker-otpN:latest for each N given (default: 23 25 27 29), each a
# Debian root filesystem made by debootstrap from the suite that serves
# OTP N. No registry can be reached, so the root filesystem is turned into an
# image with `docker import`.
#
#   test/matrix/build-image.sh            # every version in the matrix
#   test/matrix/build-image.sh 23 29      # just these
#
# EPMD_DOCKER_DEBIAN_MIRROR overrides the mirror (default deb.debian.org).
# A suite that has moved on to another OTP release is an error that says so:
# the image is named for what it holds, never for what was hoped.
set -euo pipefail

mirror=${EPMD_DOCKER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
log() { echo "matrix: $*" >&2; }

suite_for() {
  case "$1" in
    23) echo bullseye ;;
    25) echo bookworm ;;
    27) echo trixie ;;
    29) echo sid ;;
    *) return 1 ;;
  esac
}

build() {
  local otp=$1 suite image root start got
  image="epmd-docker-otp$otp:latest"
  if docker image inspect "$image" >/dev/null 2>&1; then
    return 0
  fi
  if ! suite=$(suite_for "$otp"); then
    log "no Debian suite is known to serve OTP $otp (known: 23 25 27 29)"
    return 1
  fi
  [ "$(id -u)" -eq 0 ] || { log "debootstrap needs root"; return 1; }
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      debootstrap >/dev/null
  fi

  start=$(date +%s)
  root=$(mktemp -d /tmp/epmd-docker-otp"$otp".XXXXXX)
  # shellcheck disable=SC2064 # expand now: root is local
  trap "rm -rf '$root'" RETURN
  log "building $image from Debian $suite (log: $root.log)"
  # erlang-base has erl, erlc and epmd; erlang-ssl (with crypto, public_key
  # and asn1) is for TLS distribution.
  if ! debootstrap --variant=minbase --include=erlang-base,erlang-ssl \
       "$suite" "$root" "$mirror" >"$root.log" 2>&1; then
    log "debootstrap $suite failed; last lines of $root.log:"
    tail -n 20 "$root.log" >&2
    return 1
  fi
  got=$(chroot "$root" erl -noshell -eval \
        'io:put_chars(erlang:system_info(otp_release)), halt().' 2>/dev/null || true)
  if [ "$got" != "$otp" ]; then
    log "Debian $suite serves OTP '${got:-?}', not $otp: update suite_for in $0"
    return 1
  fi
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import \
    -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin' \
    -c 'ENV HOME=/root' \
    -c 'ENV LANG=C.UTF-8' \
    -c "LABEL epmd-docker-matrix=$otp" \
    -c "LABEL org.opencontainers.image.description=\"epmd_docker OTP matrix: Debian $suite, OTP $otp\"" \
    - "$image" >/dev/null
  rm -f "$root.log"
  log "built $image (Debian $suite, OTP $otp) in $(( $(date +%s) - start )) s"
}

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(23 25 27 29)
for v in "${versions[@]}"; do
  build "$v"
done
