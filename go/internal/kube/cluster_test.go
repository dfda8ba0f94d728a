package kube

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/epmd-docker/epmd_docker/go/internal/kube/kubetest"
	"github.com/epmd-docker/epmd_docker/go/internal/wire"
)

var pod = kubetest.Pod

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		host string
		want query
		ok   bool
	}{
		{"web-0", query{Namespace: "def", Label: "web-0", Form: FormName}, true},
		{"Web-0.", query{Namespace: "def", Label: "web-0", Form: FormName}, true},
		{"web-0.prod", query{Namespace: "prod", Label: "web-0", Form: FormNamespace}, true},
		{"web-0.web.prod.svc.cluster.local", query{Namespace: "prod", Label: "web-0", Subdomain: "web", Form: FormDNS}, true},
		{"web-0.web.prod.svc.corp.example", query{Namespace: "prod", Label: "web-0", Subdomain: "web", Form: FormDNS}, true},
		{"host.example.com", query{}, false},
		{"a.b.c.svc", query{}, false},
		{"", query{}, false},
	} {
		got, ok := parse(tc.host, "def")
		if got != tc.want || ok != tc.ok {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tc.host, got, ok, tc.want, tc.ok)
		}
	}
}

// newTest returns a Cluster over a fake clientset holding pods, with the
// namespace "def" as the context's, reaching pods directly, and a channel
// of what it pushes.
func newTest(t *testing.T, objs ...*corev1.Pod) (*Cluster, *fake.Clientset, chan wire.Push) {
	t.Helper()
	api, err := kubetest.New(objs...)
	if err != nil {
		t.Fatal(err)
	}
	cs := api.CS
	c := NewWith(api, "def", nil, Config{Reach: ReachDirect})
	pushes := make(chan wire.Push, 16)
	c.Push = func(p wire.Push) { pushes <- p }
	t.Cleanup(c.Close)
	return c, cs, pushes
}

func TestLookupForms(t *testing.T) {
	c, _, _ := newTest(t,
		pod("def", "web-0", "web-0", "web", "10.1.0.10"),
		pod("def", "app-7d9f-x2x", "", "", "10.1.0.11"),
		pod("def", "named", "db", "", "10.1.0.12"),
		pod("prod", "web-0", "web-0", "web", "10.1.0.20"),
		pod("def", "twin-a", "twin", "", "10.1.0.13"),
		pod("def", "twin-b", "twin", "", "10.1.0.14"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct {
		host, want string
		form       Form
	}{
		{"web-0", "10.1.0.10", FormName},
		{"app-7d9f-x2x", "10.1.0.11", FormName},
		{"db", "10.1.0.12", FormHostname},
		{"named", "10.1.0.12", FormName},
		{"web-0.prod", "10.1.0.20", FormNamespace},
		{"web-0.web.prod.svc.cluster.local", "10.1.0.20", FormDNS},
		{"web-0.web.def.svc.cluster.local", "10.1.0.10", FormDNS},
	} {
		m, err := c.Lookup(ctx, tc.host)
		if err != nil {
			t.Errorf("Lookup(%q): %v", tc.host, err)
			continue
		}
		if m.Pod.Status.PodIP != tc.want || m.Form != tc.form {
			t.Errorf("Lookup(%q) = %s by %s, want %s by %s", tc.host, m.Pod.Status.PodIP, m.Form, tc.want, tc.form)
		}
		e, err := c.Endpoint(ctx, tc.host, wire.Inet)
		if err != nil || e != (wire.Endpoint{Addr: netip.MustParseAddr(tc.want)}) {
			t.Errorf("Endpoint(%q) = %v, %v; want %s, ask its epmd", tc.host, e, err, tc.want)
		}
	}
	for _, host := range []string{"nosuch", "web-0.nosuch", "web-0.other.prod.svc.cluster.local", "host.example.com", "web-1"} {
		if _, err := c.Lookup(ctx, host); !errors.Is(err, wire.ErrNotFound) {
			t.Errorf("Lookup(%q): %v, want not found", host, err)
		}
	}
	_, err := c.Lookup(ctx, "twin")
	var amb *wire.AmbiguousError
	if !errors.As(err, &amb) || !slices.Equal(amb.Candidates, []string{"twin-a.def (pod)", "twin-b.def (pod)"}) {
		t.Errorf("Lookup(twin): %v, want ambiguous naming twin-a and twin-b", err)
	}
	if _, err := c.Endpoint(ctx, "web-0", wire.Inet6); !errors.Is(err, wire.ErrNoAddress) {
		t.Errorf("Endpoint(web-0, inet6): %v, want no address", err)
	}
}

func TestNotRunningPodsDoNotCount(t *testing.T) {
	pending := pod("def", "pending", "", "", "")
	pending.Status.Phase = corev1.PodPending
	going := pod("def", "going", "", "", "10.1.0.30")
	now := metav1.Now()
	going.DeletionTimestamp = &now
	c, _, _ := newTest(t, pending, going)
	for _, h := range []string{"pending", "going"} {
		if _, err := c.Lookup(context.Background(), h); !errors.Is(err, wire.ErrNotFound) {
			t.Errorf("Lookup(%s): %v, want not found", h, err)
		}
	}
}

// TestPeek: answers from memory once the namespace is watched, never
// before, and never waiting.
func TestPeek(t *testing.T) {
	c, _, _ := newTest(t, pod("def", "web-0", "", "", "10.1.0.10"))
	if _, ok, _ := c.Peek("web-0", wire.Inet); ok {
		t.Fatal("Peek answered before anything was watched")
	}
	if _, err := c.Endpoint(context.Background(), "web-0", wire.Inet); err != nil {
		t.Fatal(err)
	}
	e, ok, err := c.Peek("web-0", wire.Inet)
	if !ok || err != nil || e.Addr != netip.MustParseAddr("10.1.0.10") {
		t.Errorf("Peek(web-0) = %v, %v, %v; want 10.1.0.10", e, ok, err)
	}
	if _, ok, err := c.Peek("nosuch", wire.Inet); !ok || !errors.Is(err, wire.ErrNotFound) {
		t.Errorf("Peek(nosuch) = %v, %v; want not found, answered", ok, err)
	}
	if _, ok, _ := c.Peek("web-0.other", wire.Inet); ok {
		t.Errorf("Peek answered for a namespace not watched")
	}
}

// TestChangesInvalidate: a pod that is deleted, or comes back at another
// address, has the hosts answered with it invalidated, and the new state
// answered after the push.
func TestChangesInvalidate(t *testing.T) {
	p := pod("def", "web-0", "", "", "10.1.0.10")
	c, cs, pushes := newTest(t, p, pod("def", "other", "", "", "10.1.0.11"))
	ctx := context.Background()
	for _, h := range []string{"web-0", "web-0.def", "other"} {
		if _, err := c.Endpoint(ctx, h, wire.Inet); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.CoreV1().Pods("def").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := wire.Invalidate([]string{"web-0", "web-0.def"}).String()
	if got := next(t, pushes); got != want {
		t.Errorf("after delete: push %s, want %s", got, want)
	}
	if _, err := c.Endpoint(ctx, "web-0", wire.Inet); !errors.Is(err, wire.ErrNotFound) {
		t.Errorf("after delete: %v, want not found", err)
	}
	moved := pod("def", "web-0", "", "", "10.1.0.99")
	if _, err := cs.CoreV1().Pods("def").Create(ctx, moved, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		e, err := c.Endpoint(ctx, "web-0", wire.Inet)
		return err == nil && e.Addr == netip.MustParseAddr("10.1.0.99")
	})
	moved.Status.PodIP = "10.1.0.100"
	if _, err := cs.CoreV1().Pods("def").UpdateStatus(ctx, moved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, want := next(t, pushes), wire.Invalidate([]string{"web-0"}).String(); got != want {
		t.Errorf("after the address changed: push %s, want %s", got, want)
	}
	if e, err := c.Endpoint(ctx, "web-0", wire.Inet); err != nil || e.Addr != netip.MustParseAddr("10.1.0.100") {
		t.Errorf("after the push: %v, %v; want the new address", e, err)
	}
	select {
	case p := <-pushes:
		t.Errorf("unexpected push %s", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestCookie(t *testing.T) {
	p := pod("def", "web-0", "", "", "10.1.0.10")
	p.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{
		{Name: "OTHER", Value: "x"},
		{Name: "RELEASE_COOKIE", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "erl"}, Key: "cookie"}}},
	}}}
	plain := pod("def", "plain", "", "", "10.1.0.11")
	plain.Spec.Containers = []corev1.Container{{Name: "app", Env: []corev1.EnvVar{{Name: "ERLANG_COOKIE", Value: "plainc"}}}}
	none := pod("def", "none", "", "", "10.1.0.12")
	c, cs, _ := newTest(t, p, plain, none)
	ctx := context.Background()
	if _, _, found, err := c.Cookie(ctx, p); !found || err == nil {
		t.Errorf("cookie from a missing Secret: found %v, err %v; want an error", found, err)
	}
	if _, err := cs.CoreV1().Secrets("def").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "def", Name: "erl"},
		Data: map[string][]byte{"cookie": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p      *corev1.Pod
		cookie string
		found  bool
	}{{p, "s3cret", true}, {plain, "plainc", true}, {none, "", false}} {
		got, source, found, err := c.Cookie(ctx, tc.p)
		if got != tc.cookie || found != tc.found || err != nil {
			t.Errorf("Cookie(%s) = %q (%s), %v, %v; want %q, %v", tc.p.Name, got, source, found, err, tc.cookie, tc.found)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv(EnvReach, "forward")
	t.Setenv(EnvIdle, "3s")
	c, err := ConfigFromEnv()
	if err != nil || c.Reach != ReachForward || c.Idle != 3*time.Second {
		t.Errorf("ConfigFromEnv = %+v, %v", c, err)
	}
	t.Setenv(EnvReach, "sideways")
	if _, err := ConfigFromEnv(); err == nil {
		t.Errorf("%s=sideways accepted", EnvReach)
	}
}

func next(t *testing.T, pushes chan wire.Push) string {
	t.Helper()
	select {
	case p := <-pushes:
		return p.String()
	case <-time.After(5 * time.Second):
		t.Fatal("no push within 5 s")
		return ""
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}
