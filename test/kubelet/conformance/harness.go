// Package conformance drives the built plugin through the kubelet's own
// credential provider code (k8s.io/kubernetes/pkg/credentialprovider/plugin),
// loading examples/CredentialProviderConfig.yaml with the kubelet's loader.
// Modules under test/kubelet run it against one Kubernetes release each.
package conformance

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
	"k8s.io/klog/v2"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"k8s.io/kubernetes/pkg/credentialprovider/plugin"
	"k8s.io/kubernetes/pkg/features"
	"sigs.k8s.io/yaml"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
)

const (
	pluginName = "gcp-federated-credential-provider"

	eksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"
	aksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/providers/aks-cluster"
	readerEmail = "registry-reader@demo-project.iam.gserviceaccount.com"

	providerKey      = "gcp-federated-credential-provider.io/workload-identity-provider"
	impersonationKey = "iam.gke.io/gcp-service-account"

	// variantEnv selects the kubelet configuration of a test process. The
	// kubelet registers providers once per process, so each configuration
	// runs in its own process.
	variantEnv = "CONFORMANCE_VARIANT"
)

// Variants of the example configuration.
const (
	variantExample  = ""
	variantToken    = "token"
	variantRequired = "required"
)

// repoRoot is the repository root, relative to the directory of the test
// module. Modules under test/kubelet use the default; others change it with
// SetRepoRoot.
var repoRoot = "../../.."

// SetRepoRoot sets the repository root relative to the test module.
func SetRepoRoot(path string) { repoRoot = path }

// env is the process-wide harness: the fake Google, the issuer that plays
// the API server's token signer, and the objects the kubelet reads.
type env struct {
	fake    *fakegoogle.Server
	backend Backend
	dir     string
	// audience is the serviceAccountTokenAudience of the loaded config.
	audience string

	mu            sync.Mutex
	pods          map[string]pod
	tokenRequests []tokenRequest
	logs          bytes.Buffer
}

// pod is the pod the kubelet pulls for, one per service account.
type pod struct {
	name string
	uid  types.UID
}

// tokenRequest is one TokenRequest the kubelet made.
type tokenRequest struct {
	namespace, name string
	audiences       []string
	boundPod        string
}

var (
	harness     *env
	harnessErr  error
	harnessOnce sync.Once
)

// Main runs the tests, then Close.
func Main(m *testing.M) {
	flag.Parse()
	code := m.Run()
	Close()
	os.Exit(code)
}

// Close stops the fake Google and removes the built plugin.
func Close() {
	if harness != nil {
		harness.fake.Close()
		os.RemoveAll(harness.dir)
	}
}

// setup returns the harness, building the plugin and registering it with
// the kubelet's code on first use. The feature gate is set for the test, the
// way the kubelet's own tests set it.
func setup(t *testing.T) *env {
	t.Helper()
	featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, features.KubeletServiceAccountTokenForCredentialProviders, true)
	harnessOnce.Do(func() { harness, harnessErr = newEnv(os.Getenv(variantEnv)) })
	if harnessErr != nil {
		t.Fatal(harnessErr)
	}
	return harness
}

func newEnv(variant string) (*env, error) {
	e := &env{fake: fakegoogle.New(), pods: map[string]pod{}}
	var err error
	if e.dir, err = os.MkdirTemp("", "kubelet-conformance-"); err != nil {
		return nil, err
	}
	if e.backend, err = backendFactory(); err != nil {
		return nil, err
	}

	binDir := filepath.Join(e.dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, pluginName), "./cmd/"+pluginName)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the plugin: %v: %s", err, out)
	}

	caFile := filepath.Join(e.dir, "ca.pem")
	if err := os.WriteFile(caFile, e.fake.CertificatePEM(), 0o600); err != nil {
		return nil, err
	}
	configPath, audience, err := writeConfig(e.dir, variant, e.fake.URL(), caFile)
	if err != nil {
		return nil, err
	}
	e.audience = audience

	if err := e.backend.AddProviders(e.fake, audience); err != nil {
		return nil, err
	}
	e.fake.AddServiceAccount(readerEmail, "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/*")

	// The kubelet logs plugin failures through klog; the tests read them.
	klog.LogToStderr(false)
	klog.SetOutput(&lockedWriter{e: e})

	if err := plugin.RegisterCredentialProviderPlugins(configPath, binDir, e.requestToken, e.getServiceAccount); err != nil {
		return nil, fmt.Errorf("the kubelet rejected the configuration: %w", err)
	}
	return e, nil
}

// writeConfig loads examples/CredentialProviderConfig.yaml, changes it for
// variant, appends the test-only args and env that point the plugin at the
// fake, and writes it for the kubelet's loader. It returns the path and the
// configured audience.
func writeConfig(dir, variant, fakeURL, caFile string) (string, string, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "CredentialProviderConfig.yaml"))
	if err != nil {
		return "", "", err
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		return "", "", fmt.Errorf("decoding the example: %w", err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].TokenAttributes == nil {
		return "", "", fmt.Errorf("the example must have one provider with tokenAttributes")
	}
	p := &cfg.Providers[0]
	p.Args = append(p.Args, "--sts-endpoint="+fakeURL, "--iam-credentials-endpoint="+fakeURL)
	p.Env = append(p.Env, kubeletconfigv1.ExecEnvVar{Name: "SSL_CERT_FILE", Value: caFile})

	attrs := p.TokenAttributes
	switch variant {
	case variantToken:
		attrs.CacheType = kubeletconfigv1.TokenServiceAccountTokenCacheType
	case variantRequired:
		attrs.RequiredServiceAccountAnnotationKeys = []string{providerKey}
		attrs.OptionalServiceAccountAnnotationKeys = slices.DeleteFunc(slices.Clone(attrs.OptionalServiceAccountAnnotationKeys),
			func(k string) bool { return k == providerKey })
	}

	out, err := yaml.Marshal(&cfg)
	if err != nil {
		return "", "", err
	}
	path := filepath.Join(dir, "credential-provider-config.yaml")
	return path, attrs.ServiceAccountTokenAudience, os.WriteFile(path, out, 0o600)
}

// requestToken records the kubelet's TokenRequest and passes it to the
// backend.
func (e *env) requestToken(namespace, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	record := tokenRequest{namespace: namespace, name: name, audiences: tr.Spec.Audiences}
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		record.boundPod = ref.Kind + "/" + ref.Name
	}
	e.mu.Lock()
	e.tokenRequests = append(e.tokenRequests, record)
	e.mu.Unlock()
	return e.backend.RequestToken(namespace, name, tr)
}

func (e *env) getServiceAccount(namespace, name string) (*corev1.ServiceAccount, error) {
	return e.backend.GetServiceAccount(namespace, name)
}

// addServiceAccount stores a ServiceAccount with a name unique to the test,
// so that no test hits another's cache entry, and returns the name.
func (e *env) addServiceAccount(t *testing.T, namespace string, annotations map[string]string) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	name = strings.Trim(name, "-.")
	e.setServiceAccount(t, namespace, name, annotations)
	return name
}

func (e *env) setServiceAccount(t *testing.T, namespace, name string, annotations map[string]string) {
	t.Helper()
	podName, podUID, err := e.backend.SetServiceAccount(namespace, name, annotations)
	if err != nil {
		t.Fatalf("setting service account %s/%s: %v", namespace, name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pods[namespace+"/"+name] = pod{name: podName, uid: podUID}
}

// credential is what the kubelet hands the container runtime for an image.
type credential struct {
	username, password string
}

// lookup returns the credentials that the kubelet's keyring finds for
// image, as an image pull for a pod of the service account gets them.
func (e *env) lookup(namespace, serviceAccount, image string) []credential {
	e.mu.Lock()
	p, ok := e.pods[namespace+"/"+serviceAccount]
	e.mu.Unlock()
	if !ok {
		p = pod{name: serviceAccount + "-pod", uid: types.UID("uid-pod-" + serviceAccount)}
	}
	keyring := plugin.NewExternalCredentialProviderDockerKeyring(namespace, p.name, string(p.uid), serviceAccount)
	tracked, _ := keyring.Lookup(image)
	var creds []credential
	for _, c := range tracked {
		creds = append(creds, credential{username: c.Username, password: c.Password})
	}
	return creds
}

// forgetTokens makes the next token request for the service account's pod
// return a new token.
func (e *env) forgetTokens(namespace, serviceAccount string) {
	e.mu.Lock()
	p := e.pods[namespace+"/"+serviceAccount]
	e.mu.Unlock()
	e.backend.ForgetTokens(p.uid)
}

// tokenRequestCount returns how many TokenRequests the kubelet made.
func (e *env) tokenRequestCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.tokenRequests)
}

func (e *env) lastTokenRequest() tokenRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokenRequests[len(e.tokenRequests)-1]
}

// logSince returns what klog wrote after offset.
func (e *env) logSince(offset int) string {
	klog.Flush()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.String()[offset:]
}

func (e *env) logOffset() int {
	klog.Flush()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.Len()
}

type lockedWriter struct{ e *env }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.e.mu.Lock()
	defer w.e.mu.Unlock()
	return w.e.logs.Write(p)
}

// runVariant runs the named test again in a child process with the
// configuration variant, unless this process already is that child.
func runVariant(t *testing.T, variant string) bool {
	t.Helper()
	if os.Getenv(variantEnv) == variant {
		return true
	}
	if runtime.GOOS != "linux" {
		t.Fatalf("variants run in a child process, supported here on Linux only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+strings.Split(t.Name(), "/")[0]+"$", "-test.v")
	cmd.Env = append(os.Environ(), variantEnv+"="+variant)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("variant %q failed: %v\n%s", variant, err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("variant %q ran no test:\n%s", variant, out)
	}
	return false
}
