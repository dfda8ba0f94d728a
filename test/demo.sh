#!/usr/bin/env bash
# make demo: starts a container running an Erlang node, then opens a remote
# shell into it from this host with -epmd_module epmd_docker. The container
# is removed when the shell exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=${EPMD_DOCKER_TEST_IMAGE:-epmd-docker-test:latest}
cookie=${ERLANG_COOKIE:-demo-cookie}

# erl ignores -remsh unless stdin and stdout are terminals, and opens a
# shell on the local node instead: refuse rather than show the wrong node.
if [ ! -t 0 ] || [ ! -t 1 ]; then
  echo "demo: the remote shell needs a terminal (stdin and stdout); erl would open a local shell instead." >&2
  echo "demo: for a log, run it under script(1): script -c 'make demo' demo.log" >&2
  exit 1
fi

id=$(docker run -d --rm --label epmd-docker-demo=1 -v /usr:/usr:ro "$image" \
  erl -sname demo -setcookie "$cookie" -noshell -noinput)
trap 'docker rm -f "$id" >/dev/null 2>&1 || true' EXIT
host=$(docker inspect -f '{{.Config.Hostname}}' "$id")

for _ in $(seq 1 100); do
  docker exec "$id" epmd -names 2>/dev/null | grep -q '^name demo ' && break
  sleep 0.1
done

cat <<MSG

A container is running an Erlang node named demo@$host.
Opening a remote shell into it from this host:

  erl -pa $root/ebin -start_epmd false -epmd_module epmd_docker \\
      -sname shell\$\$ -setcookie $cookie -remsh demo@$host

Try: node().   os:cmd("hostname").   Quit with Ctrl-G q, or Ctrl-C twice.

MSG
erl -pa "$root/ebin" -start_epmd false -epmd_module epmd_docker \
  -sname "shell$$" -setcookie "$cookie" -remsh "demo@$host"
