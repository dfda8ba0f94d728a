#!/usr/bin/env bash
# Brings a fresh machine to the point where epmd_docker builds and its tests
# run: Debian packages, a running dockerd, and the local test image.
# Safe to run again: each step checks first and does only what is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log() { echo "setup: $*" >&2; }

# Debian packages. Each command is checked on its own so that a machine that
# has everything never touches apt.
need=()
command -v erl    >/dev/null 2>&1 || need+=(erlang-nox)
[ -f /usr/lib/erlang/usr/include/erl_nif.h ] || need+=(erlang-dev)
command -v rebar3 >/dev/null 2>&1 || need+=(rebar3)
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
command -v tmux   >/dev/null 2>&1 || need+=(tmux)
command -v ip     >/dev/null 2>&1 || need+=(iproute2)
command -v git    >/dev/null 2>&1 || need+=(git)
command -v elixir >/dev/null 2>&1 || need+=(elixir)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
# Observer from the host (test/e2e/observer_test.go): a virtual display,
# a way to click, a way to take a screenshot.
ls -d /usr/lib/erlang/lib/observer-* >/dev/null 2>&1 || need+=(erlang-observer)
command -v Xvfb    >/dev/null 2>&1 || need+=(xvfb)
command -v xdotool >/dev/null 2>&1 || need+=(xdotool)
command -v import  >/dev/null 2>&1 || need+=(imagemagick)
# RabbitMQ from the host (test/e2e/rabbitmq_test.go): installed without
# starting its service (see below).
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
# Runs the linux/arm64 helper of `make dist` in the packaging test.
command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
# The SSH test runs an sshd of its own on loopback (test/e2e/ssh_test.go).
command -v ssh    >/dev/null 2>&1 || need+=(openssh-client)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing packages: ${need[*]}; run as root, or: sudo apt-get install ${need[*]}"
    exit 1
  fi
  log "installing ${need[*]}"
  apt-get update -qq
  # No service may start from the install: rabbitmq-server's would run a
  # broker on the host, openssh-server's would listen on every interface
  # (the tests run their own). policy-rc.d, Debian's switch for that, is
  # put in place for the install unless one is there already.
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=/usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$policy" ] || rm -f "$policy"
fi

# dockerd: start one only if nothing answers on DOCKER_HOST or the default socket.
if ! timeout 10 docker info >/dev/null 2>&1; then
  if [ -n "${DOCKER_HOST:-}" ]; then
    log "DOCKER_HOST=$DOCKER_HOST does not answer; not starting a local daemon"
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "no Docker daemon answers and starting one needs root"
    exit 1
  fi
  log "starting dockerd (log: /var/log/epmd-docker-dockerd.log)"
  nohup dockerd >/var/log/epmd-docker-dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    timeout 5 docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! timeout 10 docker info >/dev/null 2>&1; then
    log "dockerd did not come up; last lines of its log:"
    tail -n 20 /var/log/epmd-docker-dockerd.log >&2
    exit 1
  fi
fi

"$here/image.sh"
