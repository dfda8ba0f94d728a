package e2e

// The Kubernetes tests run against the single-node test cluster that
// test/k8s/run.sh (make test-k8s) builds, starts and stops: real pods
// running the host's erl through a hostPath /usr, a real API server, real
// port-forwards. They are skipped unless EPMD_DOCKER_K8S=1, with KUBECONFIG
// naming the cluster's admin kubeconfig.
//
// Each test works in a namespace of its own, labelled with the run, and
// deletes it when it ends, pass or fail. The host reaches the pods on the
// cluster's own bridge (test/k8s/env.sh); run.sh rejects the cluster's
// subnets on the default route's interface for the whole run.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"
)

// kube is one test's namespace, and a kubeconfig whose current context
// points there.
type kube struct {
	t          *testing.T
	ns         string
	kubeconfig string
}

// kubectlPath is the test cluster's kubectl.
func kubectlPath() string {
	if b := os.Getenv("EPMD_DOCKER_K8S_BIN"); b != "" {
		return filepath.Join(b, "kubectl")
	}
	return "/var/cache/epmd-docker-k8s/bin/kubectl"
}

// kubeTest skips the test unless the cluster is there, and makes the
// test's namespace.
func kubeTest(t *testing.T) *kube {
	t.Helper()
	if os.Getenv("EPMD_DOCKER_K8S") != "1" {
		t.Skip("EPMD_DOCKER_K8S=1 not set: run make test-k8s")
	}
	admin := os.Getenv("KUBECONFIG")
	if admin == "" {
		t.Fatal("EPMD_DOCKER_K8S=1 but KUBECONFIG is not set")
	}
	k := &kube{t: t, ns: "edt-" + strings.ToLower(randHex(4))}
	b, err := os.ReadFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	k.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(k.kubeconfig, b, 0o600); err != nil {
		t.Fatal(err)
	}
	k.kubectl("create", "namespace", k.ns)
	t.Cleanup(func() {
		// Pods first, quickly; the namespace after them.
		_, _ = k.try("delete", "pods", "--all", "-n", k.ns, "--grace-period=1", "--wait=true", "--timeout=60s")
		_, _ = k.try("delete", "namespace", k.ns, "--wait=true", "--timeout=60s")
	})
	k.kubectl("label", "namespace", k.ns, label)
	k.kubectl("config", "set-context", "--current", "--namespace="+k.ns)
	return k
}

// env is the environment that makes a program use the test's context.
func (k *kube) env(more ...string) []string {
	return append([]string{"KUBECONFIG=" + k.kubeconfig}, more...)
}

func (k *kube) try(args ...string) (string, error) {
	cmd := exec.Command(kubectlPath(), append([]string{"--kubeconfig=" + k.kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// kubectl runs kubectl in the test's context and fails the test if it
// fails.
func (k *kube) kubectl(args ...string) string {
	k.t.Helper()
	out, err := k.try(args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// apply applies a manifest in the test's namespace.
func (k *kube) apply(manifest string) {
	k.t.Helper()
	cmd := exec.Command(kubectlPath(), "--kubeconfig="+k.kubeconfig, "apply", "-n", k.ns, "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		k.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// workload is what test/k8s/erlang.yaml.tmpl makes: a StatefulSet (or a
// Deployment) of pods running `erl -sname app`.
type workload struct {
	Name       string
	Replicas   int
	Deployment bool
	Cookie     string   // the run's when empty
	Env        []string // more env entries, YAML flow style
	Args       []string
	DistPort   int
}

// start applies w, and waits for its pods' nodes and returns their names.
func (k *kube) start(w workload) []string {
	k.t.Helper()
	if w.Cookie == "" {
		w.Cookie = cookie
	}
	if w.Replicas == 0 {
		w.Replicas = 1
	}
	tmpl, err := template.ParseFiles(filepath.Join(root, "test", "k8s", "erlang.yaml.tmpl"))
	if err != nil {
		k.t.Fatal(err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, w); err != nil {
		k.t.Fatal(err)
	}
	k.apply(b.String())
	return k.waitNodes("app=" + w.Name)
}

// statefulSet starts a StatefulSet of one pod, NAME-0, under a headless
// service NAME, and waits for its node.
func (k *kube) statefulSet(name string) string {
	k.t.Helper()
	return k.start(workload{Name: name})[0]
}

// waitNodes waits until the pods selected are ready, and each one's epmd
// knows the node app, and returns their names.
func (k *kube) waitNodes(selector string) []string {
	k.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		out, err := k.try("get", "pods", "-n", k.ns, "-l", selector, "-o",
			`jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.podIP} {.metadata.deletionTimestamp}{"\n"}{end}`)
		var names []string
		ready := err == nil && out != ""
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) != 3 || f[1] != "Running" {
				ready = false
				continue
			}
			if !epmdKnowsApp(f[2]) {
				ready = false
			}
			names = append(names, f[0])
		}
		if ready {
			slices.Sort(names)
			return names
		}
		if time.Now().After(deadline) {
			pods, _ := k.try("get", "pods", "-n", k.ns, "-o", "wide")
			k.t.Fatalf("pods %s not up within 120 s: %s\n%s", selector, out, pods)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// epmdKnowsApp asks the epmd at ip whether node app is registered.
func epmdKnowsApp(ip string) bool {
	out, err := exec.Command("erl", "-noshell", "-start_epmd", "false", "-eval",
		fmt.Sprintf(`{ok, A} = inet:parse_address("%s"), io:format("~p", [erl_epmd:port_please("app", A, 2000)]), halt().`, ip)).Output()
	return err == nil && strings.HasPrefix(string(out), "{port,")
}

// podIP is the address of pod name.
func (k *kube) podIP(name string) string {
	k.t.Helper()
	return k.kubectl("get", "pod", name, "-n", k.ns, "-o", "jsonpath={.status.podIP}")
}

// peerAddress is the address the admin node's connection to node goes
// to: a pod's address when dialled directly, 127.0.0.1 through a
// port-forward.
func peerAddress(a *Admin, node string) string {
	return a.Eval(fmt.Sprintf(`begin {ok, I} = net_kernel:node_info('%s'), {address, A} = lists:keyfind(address, 1, I), inet:ntoa(element(1, element(2, A))) end`, node), 10*time.Second)
}

// TestKubeRemoteShellStatefulSet: erl -remsh app@web-0 in a terminal, into
// the pod of a StatefulSet, looked up through the API server.
func TestKubeRemoteShellStatefulSet(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	node := "app@" + pod
	session := "e2e-kremsh-" + randHex(3)
	args := adminArgs("-sname", "shell"+randHex(3), "-remsh", node)
	cmdline := "env " + shellJoin(k.env()) + " erl " + shellJoin(args)
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", cmdline).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })
	waitScreen(t, session, "("+node+")1>", 30*time.Second)
	typeLine(t, session, "{node(), 6*7}.")
	waitScreen(t, session, "{"+atom(node)+",42}", 10*time.Second)

	// epmd-docker remsh without a terminal evaluates its input there.
	r := runHelper(t, k.env(), strings.NewReader("{node(), 6*7}.\n"), "remsh", node)
	if want := "{" + atom(node) + ",42}"; r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("epmd-docker remsh %s < input: exit %d, stdout %q, stderr %q; want %s", node, r.code, r.stdout, r.stderr, want)
	}

	// The other name forms reach the same pod.
	for _, host := range []string{pod + "." + k.ns, pod + ".web." + k.ns + ".svc.cluster.local"} {
		r := runHelper(t, k.env(), nil, "resolve", "--json", host)
		var ans struct{ Address string }
		if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil || r.code != 0 || ans.Address != k.podIP(pod) {
			t.Errorf("resolve %s: exit %d, %q, stderr %q; want the pod's address %s", host, r.code, r.stdout, r.stderr, k.podIP(pod))
		}
	}
}

// TestKubeDeployment: an admin node connects to both pods of a
// Deployment; ls lists their nodes, and so does epmd_docker:nodes/0.
func TestKubeDeployment(t *testing.T) {
	k := kubeTest(t)
	pods := k.start(workload{Name: "app", Deployment: true, Replicas: 2})
	a := startAdmin(t, k.env())
	for _, p := range pods {
		if got := a.Connect("app@" + p); got != "true" {
			t.Fatalf("connect_node(app@%s) = %s\n%s", p, got, a.Output())
		}
		if got := a.RPCNode("app@" + p); got != atom("app@"+p) {
			t.Errorf("rpc to app@%s: %s", p, got)
		}
	}

	r := runHelper(t, k.env(), nil, "ls", "--json")
	var ls struct {
		Containers []struct {
			Name  string
			Pod   *struct{ Name string }
			Nodes []struct{ Node string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &ls); err != nil || r.code != 0 {
		t.Fatalf("ls --json: exit %d, %v, stderr %q:\n%s", r.code, err, r.stderr, r.stdout)
	}
	var listed []string
	for _, c := range ls.Containers {
		if c.Pod == nil {
			continue
		}
		for _, n := range c.Nodes {
			listed = append(listed, n.Node)
		}
	}
	slices.Sort(listed)
	want := []string{"app@" + pods[0], "app@" + pods[1]}
	if !slices.Equal(listed, want) {
		t.Errorf("ls lists pod nodes %v, want %v:\n%s", listed, want, r.stdout)
	}
	r = runHelper(t, k.env(), nil, "ls")
	for _, n := range want {
		if !strings.Contains(r.stdout, n) {
			t.Errorf("ls does not show %s:\n%s", n, r.stdout)
		}
	}

	got := a.Eval("epmd_docker:nodes()", 30*time.Second)
	for _, n := range want {
		if !strings.Contains(got, atom(n)) {
			t.Errorf("epmd_docker:nodes() = %s, want %s in it", got, n)
		}
	}
}

// TestKubeEvalCookieFromSecret: eval --cookie-from-container takes the
// cookie from the Secret the pod's RELEASE_COOKIE refers to.
func TestKubeEvalCookieFromSecret(t *testing.T) {
	k := kubeTest(t)
	secret := "sec" + randHex(8)
	k.kubectl("create", "secret", "generic", "erlang", "-n", k.ns, "--from-literal=cookie="+secret)
	pod := k.start(workload{Name: "db", Cookie: "$(RELEASE_COOKIE)",
		Env: []string{"{name: RELEASE_COOKIE, valueFrom: {secretKeyRef: {name: erlang, key: cookie}}}"}})[0]

	// The run's cookie (runHelper's ERLANG_COOKIE) is refused.
	r := runHelper(t, k.env(), nil, "eval", "app@"+pod, "node().")
	if r.code != 5 {
		t.Errorf("eval with the wrong cookie: exit %d, stdout %q, stderr %q; want 5 (cookie refused)", r.code, r.stdout, r.stderr)
	}
	r = runHelper(t, k.env(), nil, "eval", "--cookie-from-container", "app@"+pod, "{node(), 6*7}.")
	if want := "{" + atom("app@"+pod) + ",42}\n"; r.code != 0 || r.stdout != want {
		t.Fatalf("eval --cookie-from-container: exit %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
}

// TestKubePodRecreated: a pod deleted and created again (a new address,
// a new UID) is reached at its new address, directly and through a new
// port-forward.
func TestKubePodRecreated(t *testing.T) {
	for _, reach := range []string{"direct", "forward"} {
		t.Run(reach, func(t *testing.T) {
			k := kubeTest(t)
			pod := k.statefulSet("web")
			node := "app@" + pod
			a := startAdmin(t, k.env("EPMD_DOCKER_KUBE_REACH="+reach, "EPMD_DOCKER_LOG=info"))
			if got := a.Connect(node); got != "true" {
				t.Fatalf("connect_node(%s) = %s\n%s", node, got, a.Output())
			}
			before := k.podIP(pod)
			uid := k.kubectl("get", "pod", pod, "-n", k.ns, "-o", "jsonpath={.metadata.uid}")
			k.kubectl("delete", "pod", pod, "-n", k.ns, "--grace-period=1", "--wait=true")
			deadline := time.Now().Add(120 * time.Second)
			for {
				got, _ := k.try("get", "pod", pod, "-n", k.ns, "-o", "jsonpath={.metadata.uid}")
				if got != "" && got != uid {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("pod %s not created again", pod)
				}
				time.Sleep(200 * time.Millisecond)
			}
			k.waitNodes("app=web")
			after := k.podIP(pod)
			if after == before {
				t.Logf("the new pod got the same address %s", after)
			}
			waitEval(t, a, fmt.Sprintf("net_kernel:connect_node('%s')", node), 30*time.Second, func(s string) bool { return s == "true" })
			if got := a.RPCNode(node); got != atom(node) {
				t.Fatalf("rpc after the pod came back: %s", got)
			}
			got := peerAddress(a, node)
			want := `"` + after + `"`
			if reach == "forward" {
				want = `"127.0.0.1"`
			}
			if got != want {
				t.Errorf("connected to %s at %s, want %s", node, got, want)
			}
			if reach == "forward" && !strings.Contains(a.Output(), "port-forward closed") {
				t.Errorf("the forward to the deleted pod was not closed:\n%s", a.Output())
			}
		})
	}
}

// TestKubeReach: with direct dial disabled (EPMD_DOCKER_KUBE_REACH=forward)
// the node is reached through a port-forward on loopback, the forward is
// reused by a second connection and closed when idle, then opened again;
// with direct, and by default here (pod addresses are routed to this
// host), at the pod's address.
func TestKubeReach(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	node := "app@" + pod
	ip := k.podIP(pod)
	for _, tc := range []struct{ reach, want string }{
		{"", ip}, {"auto", ip}, {"direct", ip}, {"forward", "127.0.0.1"},
	} {
		t.Run("reach="+tc.reach, func(t *testing.T) {
			a := startAdmin(t, k.env("EPMD_DOCKER_KUBE_REACH="+tc.reach, "EPMD_DOCKER_KUBE_FORWARD_IDLE=1s", "EPMD_DOCKER_LOG=info"))
			if got := a.Connect(node); got != "true" {
				t.Fatalf("connect_node(%s) = %s\n%s", node, got, a.Output())
			}
			if got := peerAddress(a, node); got != `"`+tc.want+`"` {
				t.Fatalf("connected to %s at %s, want %s", node, got, tc.want)
			}
			if tc.reach != "forward" {
				return
			}
			// Two forwards: the pod's epmd, then its node's port.
			opened := strings.Count(a.Output(), "port-forward open")
			if opened != 2 {
				t.Errorf("%d forwards opened for one connection, want 2 (epmd and the node's port):\n%s", opened, a.Output())
			}
			// Connected again at once: the same forward.
			if got := a.Eval(fmt.Sprintf("begin true = erlang:disconnect_node('%s'), net_kernel:connect_node('%s') end", node, node), 20*time.Second); got != "true" {
				t.Fatalf("reconnect: %s\n%s", got, a.Output())
			}
			if n := strings.Count(a.Output(), "port-forward open"); n != opened {
				t.Errorf("a connection right after another opened %d more forwards, want it to reuse the open one:\n%s", n-opened, a.Output())
			}
			// Idle: both forwards close, and the next connection opens
			// new ones.
			a.Eval(fmt.Sprintf("erlang:disconnect_node('%s')", node), 10*time.Second)
			deadline := time.Now().Add(20 * time.Second)
			for strings.Count(a.Output(), "why=idle") < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("the forwards did not close when idle:\n%s", a.Output())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got := a.Connect(node); got != "true" {
				t.Fatalf("connect_node after the forwards closed: %s\n%s", got, a.Output())
			}
			if n := strings.Count(a.Output(), "port-forward open"); n <= opened {
				t.Errorf("no new forward opened after the old ones closed:\n%s", a.Output())
			}
			if got := peerAddress(a, node); got != `"127.0.0.1"` {
				t.Errorf("after the forward reopened: connected at %s", got)
			}
		})
	}
}

// TestKubeUnknownPod: a host that names neither a container nor a pod
// gives a clean false, and the node goes on reaching pods.
func TestKubeUnknownPod(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	a := startAdmin(t, k.env())
	for _, host := range []string{"no-such-pod-" + randHex(3), "no-such-pod." + k.ns, "web-9.web." + k.ns + ".svc.cluster.local"} {
		if got := a.Connect("app@" + host); got != "false" {
			t.Errorf("connect_node(app@%s) = %s, want false", host, got)
		}
	}
	if got := a.Connect("app@" + pod); got != "true" {
		t.Fatalf("connect_node(app@%s) after the failures = %s\n%s", pod, got, a.Output())
	}
	r := runHelper(t, k.env(), nil, "resolve", "no-such-pod-x")
	if r.code != 1 || !strings.Contains(r.stderr, "nor a running pod") {
		t.Errorf("resolve of an unknown pod: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestKubeDoctor: the doctor names the context and namespace, sees the API
// server, and finds the admin allowed everything the backend uses.
func TestKubeDoctor(t *testing.T) {
	k := kubeTest(t)
	r := runHelper(t, k.env(), nil, "doctor", "--json")
	var ans struct {
		Checks []struct{ Name, Status, Detail string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil {
		t.Fatalf("doctor --json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	seen := 0
	for _, c := range ans.Checks {
		if !strings.HasPrefix(c.Name, "kubernetes") {
			continue
		}
		seen++
		if c.Status != "ok" {
			t.Errorf("doctor: %s is %s: %s", c.Name, c.Status, c.Detail)
		}
		if c.Name == "kubernetes context" && !strings.Contains(c.Detail, "namespace "+k.ns) {
			t.Errorf("doctor: context check does not name namespace %s: %s", k.ns, c.Detail)
		}
	}
	if seen != 4 {
		t.Errorf("doctor: %d kubernetes checks, want 4:\n%s", seen, r.stdout)
	}
}

// TestKubeDockerFirst: a host that both a running container and a pod
// answer to is the container's; once the container is gone, the pod's.
func TestKubeDockerFirst(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	node := "app@" + pod
	c := startNode(t, nodeSpec{DockerArgs: []string{"--hostname", pod}})
	a := startAdmin(t, k.env())
	if got := a.Connect(node); got != "true" {
		t.Fatalf("connect_node(%s) = %s\n%s", node, got, a.Output())
	}
	if got, want := peerAddress(a, node), `"`+containerIP(t, c.ID)+`"`; got != want {
		t.Fatalf("with a container and a pod named %s: connected at %s, want the container's %s", pod, got, want)
	}
	a.Eval(fmt.Sprintf("erlang:disconnect_node('%s')", node), 10*time.Second)
	docker(t, "rm", "-f", c.ID)
	waitEval(t, a, fmt.Sprintf("net_kernel:connect_node('%s')", node), 30*time.Second, func(s string) bool { return s == "true" })
	if got, want := peerAddress(a, node), `"`+k.podIP(pod)+`"`; got != want {
		t.Errorf("with the container gone: connected at %s, want the pod's %s", got, want)
	}
}

// TestKubeRBAC: with a user allowed nothing, the doctor says what is
// missing; with the README's Role bound to it, the doctor finds every
// permission, and a node is reached through a port-forward with those
// permissions alone.
func TestKubeRBAC(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	k.kubectl("create", "serviceaccount", "tester", "-n", k.ns)
	token := k.kubectl("create", "token", "tester", "-n", k.ns, "--duration=10m")
	server := k.kubectl("config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca := k.kubectl("config", "view", "--minify", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	user := &kube{t: t, ns: k.ns, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	user.kubectl("config", "set-cluster", "c", "--server="+server, "--certificate-authority="+ca)
	user.kubectl("config", "set-credentials", "tester", "--token="+token)
	user.kubectl("config", "set-context", "c", "--cluster=c", "--user=tester", "--namespace="+k.ns)
	user.kubectl("config", "use-context", "c")

	access := func() (status, detail string) {
		t.Helper()
		r := runHelper(t, user.env(), nil, "doctor", "--json")
		var ans struct {
			Checks []struct{ Name, Status, Detail string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &ans); err != nil {
			t.Fatalf("doctor --json: %v\n%s\n%s", err, r.stdout, r.stderr)
		}
		for _, c := range ans.Checks {
			if c.Name == "kubernetes access" {
				return c.Status, c.Detail
			}
		}
		t.Fatalf("doctor has no kubernetes access check:\n%s", r.stdout)
		return "", ""
	}
	if status, detail := access(); status != "fail" || !strings.Contains(detail, "list pods") || !strings.Contains(detail, "create pods/portforward") {
		t.Errorf("doctor, nothing allowed: %s: %s; want fail naming list pods and create pods/portforward", status, detail)
	}

	// The Role exactly as the README gives it.
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n")
	end := strings.Index(text[max(start, 0):], "\n---\n")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no Role (apiVersion rbac.authorization.k8s.io/v1, kind: Role, then ---)")
	}
	role := strings.Replace(text[start:start+end], "namespace: my-namespace", "namespace: "+k.ns, 1)
	k.apply(role)
	k.kubectl("create", "rolebinding", "tester", "-n", k.ns, "--role=epmd-docker", "--serviceaccount="+k.ns+":tester")
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, detail := access()
		if status == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("doctor with the README's Role: %s: %s", status, detail)
		}
		time.Sleep(500 * time.Millisecond)
	}
	a := startAdmin(t, user.env("EPMD_DOCKER_KUBE_REACH=forward"))
	if got := a.Connect("app@" + pod); got != "true" {
		t.Fatalf("connect_node(app@%s) with the Role's permissions: %s\n%s", pod, got, a.Output())
	}
	if got := peerAddress(a, "app@"+pod); got != `"127.0.0.1"` {
		t.Errorf("connected at %s, want through a port-forward", got)
	}
}

// TestKubeNamedDistPort: a pod that names its distribution port
// erlang-dist is forwarded to that port at once, without asking its epmd.
func TestKubeNamedDistPort(t *testing.T) {
	k := kubeTest(t)
	pod := k.start(workload{Name: "web", DistPort: 9100,
		Args: []string{"-kernel", "inet_dist_listen_min", "9100", "inet_dist_listen_max", "9100"}})[0]
	a := startAdmin(t, k.env("EPMD_DOCKER_KUBE_REACH=forward", "EPMD_DOCKER_LOG=info"))
	if got := a.Connect("app@" + pod); got != "true" {
		t.Fatalf("connect_node(app@%s) = %s\n%s", pod, got, a.Output())
	}
	if n := strings.Count(a.Output(), "port-forward open"); n != 1 || !strings.Contains(a.Output(), "port 9100\"") {
		t.Errorf("%d forwards opened, want one, to port 9100:\n%s", n, a.Output())
	}
}

// TestKubeContainerRestart: the node's container restarts in its pod (the
// same pod, a new node on another port): through a port-forward, the next
// connection reaches the new node.
func TestKubeContainerRestart(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	node := "app@" + pod
	a := startAdmin(t, k.env("EPMD_DOCKER_KUBE_REACH=forward", "EPMD_DOCKER_LOG=info"))
	if got := a.Connect(node); got != "true" {
		t.Fatalf("connect_node(%s) = %s\n%s", node, got, a.Output())
	}
	before := a.Eval(fmt.Sprintf("rpc:call('%s', erlang, system_info, [creation])", node), 15*time.Second)
	// The node halts; the kubelet starts the container again.
	a.Eval(fmt.Sprintf("erpc:cast('%s', erlang, halt, [])", node), 10*time.Second)
	deadline := time.Now().Add(120 * time.Second)
	for k.kubectl("get", "pod", pod, "-n", k.ns, "-o", "jsonpath={.status.containerStatuses[0].restartCount}") == "0" {
		if time.Now().After(deadline) {
			t.Fatalf("the container of %s did not restart", pod)
		}
		time.Sleep(200 * time.Millisecond)
	}
	k.waitNodes("app=web")
	waitEval(t, a, fmt.Sprintf("net_kernel:connect_node('%s')", node), 30*time.Second, func(s string) bool { return s == "true" })
	after := a.Eval(fmt.Sprintf("rpc:call('%s', erlang, system_info, [creation])", node), 15*time.Second)
	if after == before || strings.Contains(after, "badrpc") {
		t.Errorf("after the restart, rpc reached %s (before: %s), want the new node", after, before)
	}
	if got := peerAddress(a, node); got != `"127.0.0.1"` {
		t.Errorf("after the restart: connected at %s, want through a port-forward", got)
	}
}

// TestKubeUnroutedPodNetwork: pods whose addresses do not answer from
// here, as on a laptop outside the cluster's pod network, where packets to
// a pod address vanish (simulated by dropping what this host sends to the
// pod's epmd port; the API server, the kubelet and the port-forward, which
// dials inside the pod, are not touched). The first connection, with a
// 1 s timeout, goes through a port-forward: the forward is opened beside
// the reachability probe, not after the probe's whole second (which left
// such a connection no time for the forward: it failed).
func TestKubeUnroutedPodNetwork(t *testing.T) {
	k := kubeTest(t)
	pod := k.statefulSet("web")
	node := "app@" + pod
	rule := []string{"OUTPUT", "-d", k.podIP(pod) + "/32", "-p", "tcp", "--dport", "4369", "-j", "DROP"}
	if out, err := exec.Command("iptables", append([]string{"-I"}, rule...)...).CombinedOutput(); err != nil {
		t.Fatalf("iptables -I %s: %v\n%s", strings.Join(rule, " "), err, out)
	}
	t.Cleanup(func() { _ = exec.Command("iptables", append([]string{"-D"}, rule...)...).Run() })
	a := startAdmin(t, k.env("EPMD_DOCKER_TIMEOUT=1000", "EPMD_DOCKER_LOG=info"))
	if got := a.Connect(node); got != "true" {
		t.Fatalf("first connect_node(%s) on an unrouted pod network = %s, want true\n%s", node, got, a.Output())
	}
	if got := peerAddress(a, node); got != `"127.0.0.1"` {
		t.Errorf("connected to %s at %s, want 127.0.0.1 (a port-forward)", node, got)
	}
	// The probe's verdict stands now: the next connection goes straight
	// to the open forward.
	a.Eval(fmt.Sprintf("erlang:disconnect_node('%s')", node), 10*time.Second)
	if got := a.Connect(node); got != "true" {
		t.Fatalf("second connect_node(%s) = %s\n%s", node, got, a.Output())
	}
}
