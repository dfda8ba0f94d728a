package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// The Kubernetes rows (10a-10c) are measured only when EPMD_DOCKER_K8S=1
// and KUBECONFIG names a cluster that runs the image of test/k8s (make
// test-k8s's cluster, cluster.sh up): one StatefulSet pod running erl from
// the host's /usr, with its distribution port named erlang-dist, reached
// through port-forwards (EPMD_DOCKER_KUBE_REACH=forward), so that the bench
// dials only loopback and the API server, never a pod address.

// kubeDistPort is the pod node's distribution port, named erlang-dist.
const kubeDistPort = 9100

// kubeBench measures a warm lookup of a pod name, a connection that opens
// a new port-forward, and one through an open forward; why the rows are
// missing is put in res.kubeSkipped instead.
func kubeBench(ctx context.Context, s *settings, common func(name string) []string, cnt counts, res *results) error {
	admin := os.Getenv("KUBECONFIG")
	if os.Getenv("EPMD_DOCKER_K8S") != "1" || admin == "" {
		res.kubeSkipped = "EPMD_DOCKER_K8S=1 and KUBECONFIG (the test cluster of test/k8s) not set"
		return nil
	}
	kubectl := "/var/cache/epmd-docker-k8s/bin/kubectl"
	if b := os.Getenv("EPMD_DOCKER_K8S_BIN"); b != "" {
		kubectl = filepath.Join(b, "kubectl")
	}
	ns := "bench-" + strings.ToLower(s.runID)
	b, err := os.ReadFile(admin)
	if err != nil {
		return err
	}
	kc := filepath.Join(s.benchDir, "kubeconfig")
	if err := os.WriteFile(kc, b, 0o600); err != nil {
		return err
	}
	k := func(args ...string) (string, error) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, kubectl, append([]string{"--kubeconfig=" + kc}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := k("create", "namespace", ns); err != nil {
		return err
	}
	defer func() {
		_, _ = k("delete", "pods", "--all", "-n", ns, "--grace-period=1", "--wait=true", "--timeout=60s")
		_, _ = k("delete", "namespace", ns, "--wait=true", "--timeout=60s")
	}()
	if _, err := k("label", "namespace", ns, s.labels[0], s.labels[1]); err != nil {
		return err
	}
	if _, err := k("config", "set-context", "--current", "--namespace="+ns); err != nil {
		return err
	}
	tmpl, err := template.ParseFiles(filepath.Join(s.root, "test", "k8s", "erlang.yaml.tmpl"))
	if err != nil {
		return err
	}
	var manifest strings.Builder
	port := strconv.Itoa(kubeDistPort)
	if err := tmpl.Execute(&manifest, map[string]any{
		"Name": "web", "Replicas": 1, "Cookie": s.cookie, "DistPort": kubeDistPort,
		"Args": []string{"-kernel", "inet_dist_listen_min", port, "inet_dist_listen_max", port},
	}); err != nil {
		return err
	}
	mf := filepath.Join(s.benchDir, "kube.yaml")
	if err := os.WriteFile(mf, []byte(manifest.String()), 0o644); err != nil {
		return err
	}
	if _, err := k("apply", "-n", ns, "-f", mf); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := k("wait", "-n", ns, "--for=condition=Ready", "pod/web-0", "--timeout=5s"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod web-0 in namespace %s not ready within 2 minutes", ns)
		}
	}

	env := func(more ...string) []string {
		return erlEnv(append([]string{"KUBECONFIG=" + kc, "EPMD_DOCKER_KUBE_REACH=forward"}, more...)...)
	}
	open, err := startNode(ctx, "kubernetes node", env(), common("bench_kube")...)
	if err != nil {
		return err
	}
	defer open.close()
	// Forwards that close 100 ms after their last connection ended: each
	// connection after a pause of 4 s opens a new one (the end of a
	// connection takes a second or more to come back through the API
	// server on a busy machine; 2 s was seen to be too short).
	// It logs each forward it opens (info), which is how the bench knows.
	fresh, err := startNode(ctx, "kubernetes node, short-lived forwards", env("EPMD_DOCKER_KUBE_FORWARD_IDLE=100ms", "EPMD_DOCKER_LOG=info"), common("bench_kube_fresh")...)
	if err != nil {
		return err
	}
	defer fresh.close()
	target := "app@web-0"
	for _, n := range []*node{open, fresh} {
		for {
			got, err := n.eval(ctx, fmt.Sprintf("net_kernel:connect_node('%s')", target), 30*time.Second)
			if err != nil {
				return err
			}
			if got == "true" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the %s cannot connect to %s: %s\n%s", n.label, target, got, n.output())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	long := 5 * time.Minute
	for _, st := range []struct {
		into *series
		n    *node
		expr string
	}{
		{&res.kubeWarm, open, fmt.Sprintf("epmd_docker_bench:address_please(epmd_docker, \"web-0\", inet, %d)", cnt.warm*cnt.blocks)},
		{&res.kubeNew, fresh, fmt.Sprintf("epmd_docker_bench:connect('%s', %d, 4000)", target, min(cnt.connect, 10))},
		// The same pause, so that only the forward differs.
		{&res.kubeOpen, open, fmt.Sprintf("epmd_docker_bench:connect('%s', %d, 4000)", target, min(cnt.connect, 10))},
	} {
		ds, err := st.n.timings(ctx, st.expr, long)
		if err != nil {
			return err
		}
		*st.into = st.into.add(ds)
	}
	// The first connection above opened one too. Connections that found
	// a forward still open are said in 10b's row, not hidden.
	if n := strings.Count(fresh.output(), "port-forward open") - 1; n < len(res.kubeNew) {
		res.kubeReused = len(res.kubeNew) - max(n, 0)
	}
	return nil
}
