// Package e2e runs the built plugin binary as the kubelet does: a request on
// standard input, the fake Google endpoints over TLS on loopback, and checks
// of the exact bytes on standard output and of standard error.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

// pluginPath is the binary that TestMain builds.
var pluginPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gcp-federated-credential-provider-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginPath = filepath.Join(dir, "gcp-federated-credential-provider")
	build := exec.Command("go", "build", "-o", pluginPath, "../../cmd/gcp-federated-credential-provider")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the plugin:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	eksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"
	aksProvider = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/providers/aks-cluster"
	audience    = "gcp-federated-credential-provider.io"
	readerEmail = "registry-reader@demo-project.iam.gserviceaccount.com"

	providerKey      = "gcp-federated-credential-provider.io/workload-identity-provider"
	impersonationKey = "iam.gke.io/gcp-service-account"
)

// The issuers are shared by all tests because RSA key generation is slow.
var (
	issuersOnce          sync.Once
	eksIssuer, aksIssuer *issuer.Issuer
	issuersErr           error
)

// env is the fake Google with an EKS and an AKS provider, and the issuers
// that sign tokens for them.
type env struct {
	fake   *fakegoogle.Server
	eks    *issuer.Issuer
	aks    *issuer.Issuer
	caFile string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := fakegoogle.New()
	t.Cleanup(fake.Close)
	issuersOnce.Do(func() {
		if eksIssuer, issuersErr = issuer.New(issuer.EKSIssuer); issuersErr == nil {
			aksIssuer, issuersErr = issuer.New(issuer.AKSIssuer)
		}
	})
	if issuersErr != nil {
		t.Fatal(issuersErr)
	}
	e := &env{fake: fake, eks: eksIssuer, aks: aksIssuer}
	eksKeys, aksKeys := e.eks.JWKS(), e.aks.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: eksProvider, Issuer: issuer.EKSIssuer, JWKS: &eksKeys, AllowedAudiences: []string{audience}})
	fake.AddProvider(fakegoogle.Provider{Name: aksProvider, Issuer: issuer.AKSIssuer, JWKS: &aksKeys, AllowedAudiences: []string{audience}})
	fake.AddServiceAccount(readerEmail,
		"principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/*",
		"principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app")

	e.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(e.caFile, fake.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// token signs a token for namespace/name with the given issuer.
func token(t *testing.T, iss *issuer.Issuer, sa issuer.ServiceAccount) string {
	t.Helper()
	if sa.Namespace == "" {
		sa.Namespace, sa.Name = "team-a", "app"
	}
	if sa.Audience == nil {
		sa.Audience = []string{audience}
	}
	tok, err := iss.Token(sa)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// requestJSON returns a CredentialProviderRequest as the kubelet encodes it.
func requestJSON(t *testing.T, image, tok string, annotations map[string]string) []byte {
	t.Helper()
	req := map[string]any{
		"kind":       "CredentialProviderRequest",
		"apiVersion": "credentialprovider.kubelet.k8s.io/v1",
		"image":      image,
	}
	if tok != "" {
		req["serviceAccountToken"] = tok
	}
	if annotations != nil {
		req["serviceAccountAnnotations"] = annotations
	}
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// result is one run of the plugin.
type result struct {
	code   int
	stdout string
	stderr string
}

// run runs the plugin with the fake's endpoints, stdin and extra args.
func (e *env) run(t *testing.T, stdin []byte, args ...string) result {
	t.Helper()
	base := []string{"--sts-endpoint=" + e.fake.URL(), "--iam-credentials-endpoint=" + e.fake.URL()}
	return runPlugin(t, stdin, e.caFile, append(base, args...)...)
}

func runPlugin(t *testing.T, stdin []byte, caFile string, args ...string) result {
	t.Helper()
	var reader io.Reader
	if stdin != nil {
		reader = bytes.NewReader(stdin)
	}
	return runPluginWithStdin(t, reader, []string{"SSL_CERT_FILE=" + caFile}, args...)
}

// runPluginWithStdin runs the plugin with stdin connected to reader, or to
// /dev/null when reader is nil, and with env added to a minimal environment.
func runPluginWithStdin(t *testing.T, reader io.Reader, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(pluginPath, args...)
	cmd.Stdin = reader
	// The kubelet merges the provider's env over its own; tests start from
	// a clean environment so that no proxy setting of the host applies.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("running the plugin: %v", err)
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// assertNoSecrets fails if out contains any of the secrets, or any access
// token the fake issued.
func (e *env) assertNoSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, e.fake.Tokens()...) {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("output contains a secret of %d bytes", len(s))
		}
	}
	// Any JWT header or its start is a leak, whatever it belongs to.
	if strings.Contains(out, "eyJ") {
		t.Errorf("output contains a JWT fragment")
	}
}
