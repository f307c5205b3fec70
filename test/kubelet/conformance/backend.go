package conformance

import (
	"fmt"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

// Backend is the API server side that the kubelet reads: service account
// tokens, ServiceAccount objects and the pods they run in.
type Backend interface {
	// AddProviders adds the EKS-pool and AKS-pool providers to fake, both
	// trusting the backend's token issuer for audience.
	AddProviders(fake *fakegoogle.Server, audience string) error
	// RequestToken serves the kubelet's TokenRequest.
	RequestToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
	// GetServiceAccount returns a ServiceAccount as the kubelet reads it.
	GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error)
	// SetServiceAccount creates or updates a ServiceAccount and ensures a
	// pod of it on the node, and returns the pod's name and UID.
	SetServiceAccount(namespace, name string, annotations map[string]string) (podName string, podUID types.UID, err error)
	// ForgetTokens drops any token cached for the pod, so that the next
	// request gets a new one.
	ForgetTokens(podUID types.UID)
}

// backendFactory makes the backend of each test process; SetBackend
// replaces the default, which signs tokens itself.
var backendFactory = func() (Backend, error) { return newSigningBackend() }

// SetBackend makes the suite use the backend that factory returns. Call it
// before the tests run, in every test process.
func SetBackend(factory func() (Backend, error)) { backendFactory = factory }

// signingBackend keeps ServiceAccounts in memory and signs tokens with an
// EKS-shaped issuer, or an AKS-shaped one for service accounts annotated
// for the AKS provider.
type signingBackend struct {
	eks, aks        *issuer.Issuer
	mu              sync.Mutex
	serviceAccounts map[string]*corev1.ServiceAccount
}

func newSigningBackend() (*signingBackend, error) {
	b := &signingBackend{serviceAccounts: map[string]*corev1.ServiceAccount{}}
	var err error
	if b.eks, err = issuer.New(issuer.EKSIssuer); err != nil {
		return nil, err
	}
	if b.aks, err = issuer.New(issuer.AKSIssuer); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *signingBackend) AddProviders(fake *fakegoogle.Server, audience string) error {
	eksKeys, aksKeys := b.eks.JWKS(), b.aks.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: eksProvider, Issuer: b.eks.URL, JWKS: &eksKeys, AllowedAudiences: []string{audience}})
	fake.AddProvider(fakegoogle.Provider{Name: aksProvider, Issuer: b.aks.URL, JWKS: &aksKeys, AllowedAudiences: []string{audience}})
	return nil
}

func (b *signingBackend) RequestToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	b.mu.Lock()
	sa := b.serviceAccounts[namespace+"/"+name]
	b.mu.Unlock()
	if sa == nil {
		return nil, fmt.Errorf("serviceaccounts %q not found", name)
	}
	iss := b.eks
	if sa.Annotations[providerKey] == aksProvider {
		iss = b.aks
	}
	token, err := iss.Token(issuer.ServiceAccount{Namespace: namespace, Name: name, Audience: tr.Spec.Audiences, Lifetime: time.Hour})
	if err != nil {
		return nil, err
	}
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenRequestStatus{Token: token, ExpirationTimestamp: metav1.NewTime(time.Now().Add(time.Hour))}
	return out, nil
}

func (b *signingBackend) GetServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	sa, ok := b.serviceAccounts[namespace+"/"+name]
	if !ok {
		return nil, fmt.Errorf("serviceaccounts %q not found", name)
	}
	return sa.DeepCopy(), nil
}

// ForgetTokens does nothing: every request gets a new token.
func (b *signingBackend) ForgetTokens(types.UID) {}

func (b *signingBackend) SetServiceAccount(namespace, name string, annotations map[string]string) (string, types.UID, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.serviceAccounts[namespace+"/"+name] = &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%s", namespace, name)), Annotations: annotations,
		},
	}
	podName := name + "-pod"
	return podName, types.UID("uid-pod-" + podName), nil
}
