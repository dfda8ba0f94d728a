// Package kubetest is a kube.API over client-go's fake clientset, for unit
// tests only: the end-to-end tests (test/e2e/k8s_test.go) run a real
// cluster.
package kubetest

import (
	"context"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
)

// API is kube.API over a fake clientset.
type API struct{ CS *fake.Clientset }

// New returns an API holding pods.
func New(pods ...*corev1.Pod) (API, error) {
	cs := fake.NewClientset()
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			return API{}, err
		}
	}
	return API{cs}, nil
}

func (f API) ListPods(ctx context.Context, ns string, o metav1.ListOptions) (*corev1.PodList, error) {
	return f.CS.CoreV1().Pods(ns).List(ctx, o)
}

func (f API) WatchPods(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
	return f.CS.CoreV1().Pods(ns).Watch(ctx, o)
}

func (f API) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return f.CS.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func (f API) GetSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return f.CS.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

// Version is a fixed version: the fake has no server.
func (f API) Version(context.Context) (string, error) { return "v1.34.4", nil }

func (f API) Review(ctx context.Context, r *authv1.SelfSubjectAccessReview) (*authv1.SelfSubjectAccessReview, error) {
	return f.CS.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, r, metav1.CreateOptions{})
}

// Pod is a running pod at ip, on a node at 10.0.0.1.
func Pod(ns, name, hostname, subdomain, ip string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name + "/" + ip)},
		Spec:       corev1.PodSpec{Hostname: hostname, Subdomain: subdomain, NodeName: "node1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, HostIP: "10.0.0.1"},
	}
}
