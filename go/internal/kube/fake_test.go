package kube

import (
	"context"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeAPI is API over client-go's fake clientset, for unit tests only:
// the end-to-end tests (test/e2e/k8s_test.go) run a real cluster.
type fakeAPI struct{ cs *fake.Clientset }

func (f fakeAPI) ListPods(ctx context.Context, ns string, o metav1.ListOptions) (*corev1.PodList, error) {
	return f.cs.CoreV1().Pods(ns).List(ctx, o)
}

func (f fakeAPI) WatchPods(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
	return f.cs.CoreV1().Pods(ns).Watch(ctx, o)
}

func (f fakeAPI) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return f.cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func (f fakeAPI) GetSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return f.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (f fakeAPI) Version(context.Context) (string, error) { return "v1.34.4", nil }

func (f fakeAPI) Review(ctx context.Context, r *authv1.SelfSubjectAccessReview) (*authv1.SelfSubjectAccessReview, error) {
	return f.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
}

// pod is a running pod for the tests.
func pod(ns, name, hostname, subdomain, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name + "/" + ip)},
		Spec:       corev1.PodSpec{Hostname: hostname, Subdomain: subdomain, NodeName: "node1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, HostIP: "10.0.0.1"},
	}
}
