#!/usr/bin/env bash
# make test-k8s: builds the test cluster (once per machine), brings it up,
# runs the Kubernetes end-to-end tests (test/e2e, TestKube*) against it,
# and stops it, also on failure or interruption. `run.sh bench` (make
# bench-k8s) runs the whole bench instead, Kubernetes rows included. A cluster that is already
# running (`test/k8s/cluster.sh up`, while working on the tests) is used as
# it is and left running.
#
# Pods are on the cluster's own bridge; a REJECT rule for each of the
# cluster's subnets on the default route's interface keeps anything meant
# for them from leaving this machine, and is removed afterwards.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/env.sh"
export PATH=/usr/local/go/bin:$PATH

"$here/build.sh"

dev=$(ip route show default | awk '/default/ {for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
rules=()
ours=1
if [ -f "$R/kube-apiserver.pid" ] && kill -0 "$(cat "$R/kube-apiserver.pid")" 2>/dev/null; then
  phase "using the cluster already running from $S"
  ours=
fi
cleanup() {
  local rc=$?
  [ -z "$ours" ] || "$here/cluster.sh" down || true
  local r
  for r in "${rules[@]}"; do iptables -D OUTPUT -o "$dev" -d "$r" -j REJECT 2>/dev/null || true; done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ -n "$dev" ]; then
  for r in "$POD_SUBNET" "$SVC_SUBNET"; do
    iptables -I OUTPUT -o "$dev" -d "$r" -j REJECT
    rules+=("$r")
  done
fi

[ -z "$ours" ] || "$here/cluster.sh" up
cd "$root"
export KUBECONFIG=$KUBECONFIG_ADMIN EPMD_DOCKER_K8S=1 EPMD_DOCKER_K8S_BIN=$B
case "${1:-test}" in
# make bench-k8s: the whole bench, with its Kubernetes rows (10a-10c).
bench) go run ./test/bench -out BENCHMARKS.md ;;
*) go test -count=1 -timeout=30m -v -run "${EPMD_DOCKER_K8S_RUN:-^TestKube}" ./test/e2e/ ;;
esac
