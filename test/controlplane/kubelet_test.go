package controlplane

import (
	"context"
	"fmt"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/kubelet/token"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/kubelet/conformance"
)

const (
	eksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"
	aksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/providers/aks-cluster"
)

// apiServerBackend serves the kubelet's reads from the real API server: the
// kubelet's own token manager requests tokens as the node, and the node
// reads ServiceAccounts. Both fake providers trust the API server as their
// issuer and fetch its OIDC discovery document and keys anonymously.
type apiServerBackend struct {
	admin, node kubernetes.Interface
	tokens      *token.Manager
	anonymous   *http.Client
}

func newAPIServerBackend() (*apiServerBackend, error) {
	admin, err := testCluster.Client("admin")
	if err != nil {
		return nil, err
	}
	node, err := testCluster.Client("node")
	if err != nil {
		return nil, err
	}
	anonymous, err := testCluster.HTTPClient("anonymous")
	if err != nil {
		return nil, err
	}
	return &apiServerBackend{admin: admin, node: node, tokens: token.NewManager(node), anonymous: anonymous}, nil
}

func (b *apiServerBackend) AddProviders(fake *fakegoogle.Server, audience string) error {
	fake.IssuerClient = b.anonymous
	for _, name := range []string{eksProvider, aksProvider} {
		fake.AddProvider(fakegoogle.Provider{Name: name, Issuer: testCluster.URL, AllowedAudiences: []string{audience}})
	}
	return nil
}

func (b *apiServerBackend) RequestToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	return b.tokens.GetServiceAccountToken(namespace, name, tr)
}

func (b *apiServerBackend) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	var sa *corev1.ServiceAccount
	// The node authorizer admits the read once it has seen the pod.
	err := eventually(func() error {
		var err error
		sa, err = b.node.CoreV1().ServiceAccounts(namespace).Get(context.Background(), name, metav1.GetOptions{})
		return err
	})
	return sa, err
}

func (b *apiServerBackend) SetServiceAccount(namespace, name string, annotations map[string]string) (string, types.UID, error) {
	ctx := context.Background()
	if _, err := b.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", "", err
	}
	sa, err := b.admin.CoreV1().ServiceAccounts(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		sa = &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
		if _, err := b.admin.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
			return "", "", err
		}
	case err != nil:
		return "", "", err
	default:
		sa.Annotations = annotations
		if _, err := b.admin.CoreV1().ServiceAccounts(namespace).Update(ctx, sa, metav1.UpdateOptions{}); err != nil {
			return "", "", err
		}
	}

	podName := name + "-pod"
	pod, err := b.admin.CoreV1().Pods(namespace).Get(ctx, podName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := b.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cluster.NodeName}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", "", err
		}
		pod, err = b.admin.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName},
			Spec: corev1.PodSpec{
				ServiceAccountName:           name,
				NodeName:                     cluster.NodeName,
				AutomountServiceAccountToken: new(bool),
				Containers:                   []corev1.Container{{Name: "app", Image: "gcr.io/demo-project/app"}},
			},
		}, metav1.CreateOptions{})
	}
	if err != nil {
		return "", "", fmt.Errorf("creating the pod of %s/%s: %w", namespace, name, err)
	}
	return pod.Name, pod.UID, nil
}

// ForgetTokens drops the token manager's tokens for the pod, as the kubelet
// does when a pod goes away.
func (b *apiServerBackend) ForgetTokens(podUID types.UID) {
	b.tokens.DeleteServiceAccountToken(podUID)
}

// The conformance cases of test/kubelet, with tokens that the API server
// mints through the kubelet's token manager. Each applies examples/rbac.yaml
// first, because nodes need it to request the audience.

func TestKubeletImages(t *testing.T)         { withExampleRBAC(t); conformance.Images(t) }
func TestKubeletCache(t *testing.T)          { withExampleRBAC(t); conformance.Cache(t) }
func TestKubeletCacheTypeToken(t *testing.T) { withExampleRBAC(t); conformance.CacheTypeToken(t) }
func TestKubeletRequiredAnnotation(t *testing.T) {
	withExampleRBAC(t)
	conformance.RequiredAnnotation(t)
}
func TestKubeletAnnotations(t *testing.T)   { withExampleRBAC(t); conformance.Annotations(t) }
func TestKubeletPluginFailure(t *testing.T) { withExampleRBAC(t); conformance.PluginFailure(t) }

func withExampleRBAC(t *testing.T) {
	t.Helper()
	admin, err := testCluster.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	applyExampleRBAC(t, admin)
}
