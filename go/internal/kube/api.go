package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// API is the part of the Kubernetes API the backend uses, read-only but
// for the access reviews. *restAPI is the real one; tests may wrap
// client-go's fake clientset.
type API interface {
	ListPods(ctx context.Context, namespace string, o metav1.ListOptions) (*corev1.PodList, error)
	WatchPods(ctx context.Context, namespace string, o metav1.ListOptions) (watch.Interface, error)
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// Version is the API server's version (/version).
	Version(ctx context.Context) (string, error)
	// Review creates a SelfSubjectAccessReview and returns the answer.
	Review(ctx context.Context, r *authv1.SelfSubjectAccessReview) (*authv1.SelfSubjectAccessReview, error)
}

// restAPI talks to the API server with REST clients of its own, rather
// than client-go's typed clientset: the clientset's scheme registers every
// API group there is, which more than tripled the helper's size.
type restAPI struct {
	core, auth *rest.RESTClient
	params     runtime.ParameterCodec
}

// newRESTAPI returns the API of the server rc configures.
func newRESTAPI(rc *rest.Config) (*restAPI, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := authv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)
	client := func(gv schema.GroupVersion, prefix string) (*rest.RESTClient, error) {
		c := *rest.CopyConfig(rc)
		c.GroupVersion, c.APIPath = &gv, prefix
		c.NegotiatedSerializer = codecs.WithoutConversion()
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		return rest.RESTClientFor(&c)
	}
	core, err := client(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return nil, err
	}
	auth, err := client(authv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return nil, err
	}
	return &restAPI{core: core, auth: auth, params: runtime.NewParameterCodec(scheme)}, nil
}

func (a *restAPI) ListPods(ctx context.Context, ns string, o metav1.ListOptions) (*corev1.PodList, error) {
	var l corev1.PodList
	err := a.core.Get().Namespace(ns).Resource("pods").VersionedParams(&o, a.params).Do(ctx).Into(&l)
	return &l, err
}

func (a *restAPI) WatchPods(ctx context.Context, ns string, o metav1.ListOptions) (watch.Interface, error) {
	o.Watch = true
	return a.core.Get().Namespace(ns).Resource("pods").VersionedParams(&o, a.params).Watch(ctx)
}

func (a *restAPI) GetPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	err := a.core.Get().Namespace(ns).Resource("pods").Name(name).Do(ctx).Into(&p)
	return &p, err
}

func (a *restAPI) GetSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	err := a.core.Get().Namespace(ns).Resource("secrets").Name(name).Do(ctx).Into(&s)
	return &s, err
}

func (a *restAPI) Version(ctx context.Context) (string, error) {
	b, err := a.core.Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.GitVersion == "" {
		return "", fmt.Errorf("/version answered with something else: %.80q", b)
	}
	return v.GitVersion, nil
}

func (a *restAPI) Review(ctx context.Context, r *authv1.SelfSubjectAccessReview) (*authv1.SelfSubjectAccessReview, error) {
	var out authv1.SelfSubjectAccessReview
	err := a.auth.Post().Resource("selfsubjectaccessreviews").Body(r).Do(ctx).Into(&out)
	return &out, err
}

// apiDialer returns the dial function for forwards through the API server
// of rc: WebSocket first, SPDY when the server does not upgrade to it, as
// kubectl port-forward does.
func apiDialer(rc *rest.Config, client rest.Interface) dialFunc {
	return func(namespace, pod string) (httpstream.Connection, error) {
		u := client.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
		transport, upgrader, err := spdy.RoundTripperFor(rc)
		if err != nil {
			return nil, err
		}
		var d httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
		ws, err := portforward.NewSPDYOverWebsocketDialer(u, rc)
		if err != nil {
			return nil, err
		}
		d = portforward.NewFallbackDialer(ws, d, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		c, proto, err := d.Dial(portforward.PortForwardProtocolV1Name)
		if err != nil {
			return nil, err
		}
		if proto != portforward.PortForwardProtocolV1Name {
			c.Close()
			return nil, fmt.Errorf("the API server speaks %q, not %q", proto, portforward.PortForwardProtocolV1Name)
		}
		return c, nil
	}
}
