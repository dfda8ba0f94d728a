#!/usr/bin/env bash
# make test-k8s: builds the test cluster (once per machine), brings it up,
# runs the Kubernetes end-to-end tests (test/e2e, TestKube*) against it,
# and stops it, also on failure or interruption.
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
cleanup() {
  local rc=$?
  "$here/cluster.sh" down || true
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

"$here/cluster.sh" up
cd "$root"
KUBECONFIG=$KUBECONFIG_ADMIN EPMD_DOCKER_K8S=1 EPMD_DOCKER_K8S_BIN=$B \
  go test -count=1 -timeout=30m -v -run "${EPMD_DOCKER_K8S_RUN:-^TestKube}" ./test/e2e/
