package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/diagnose"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakeregistry"
)

const (
	diagProvider  = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/cluster-pool/providers/test-cluster"
	providerKey   = "gcp-federated-credential-provider.io/workload-identity-provider"
	diagNamespace = "diagnose-test"
)

// allowPublicDiscovery lets anonymous clients read the API server's OIDC
// discovery document and JWKS, as Google must to verify its tokens.
func allowPublicDiscovery(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "public-service-account-issuer-discovery"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:service-account-issuer-discovery"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "Group", Name: "system:unauthenticated"}},
	}
	_, err := admin.RbacV1().ClusterRoleBindings().Create(context.Background(), binding, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// googleForCluster returns a fake Google whose provider trusts the API
// server as issuer, fetching its discovery document and keys anonymously.
func googleForCluster(t *testing.T, admin kubernetes.Interface) *fakegoogle.Server {
	t.Helper()
	allowPublicDiscovery(t, admin)
	google := fakegoogle.New()
	t.Cleanup(google.Close)
	anonymous, err := testCluster.HTTPClient("anonymous")
	if err != nil {
		t.Fatal(err)
	}
	google.IssuerClient = anonymous
	google.AddProvider(fakegoogle.Provider{Name: diagProvider, Issuer: testCluster.URL, AllowedAudiences: []string{exampleAudience}})
	return google
}

// writeKubeletConfig writes a CredentialProviderConfig for the plugin with
// the example's audience, pointing at google and allowing the registry.
func writeKubeletConfig(t *testing.T, google *fakegoogle.Server, registryHost, requiredKeys string) string {
	t.Helper()
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: gcp-federated-credential-provider
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages: ["%s"]
    defaultCacheDuration: 10m
    args: [--sts-endpoint=%s, --iam-credentials-endpoint=%s, --registry-host=%s]
    tokenAttributes:
      serviceAccountTokenAudience: %s
      cacheType: ServiceAccount
      requireServiceAccount: true
      requiredServiceAccountAnnotationKeys: %s
      optionalServiceAccountAnnotationKeys: [iam.gke.io/gcp-service-account]
`, registryHost, google.URL(), google.URL(), registryHost, exampleAudience, requiredKeys)
	path := filepath.Join(t.TempDir(), "credential-provider-config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDiagnoseAgainstAPIServer(t *testing.T) {
	admin, err := testCluster.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	google := googleForCluster(t, admin)
	registry := fakeregistry.New(google)
	t.Cleanup(registry.Close)
	image, err := registry.Push("demo-project/images/app", "1.0")
	if err != nil {
		t.Fatal(err)
	}
	registry.SetReaders("principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/cluster-pool/subject/system:serviceaccount:" + diagNamespace + ":app")

	setupNodePod(t, admin, diagNamespace, "app")
	setAnnotations(t, admin, "app", map[string]string{providerKey: diagProvider})
	setupNodePod(t, admin, diagNamespace, "plain")
	withProviderKey := writeKubeletConfig(t, google, registry.Host, "["+providerKey+"]")

	run := func(t *testing.T, serviceAccount, kubeletConfig string) (diagnose.Report, string) {
		t.Helper()
		d := &diagnose.Diagnoser{Client: admin, GoogleTransport: google.Client().Transport, Timeout: 10 * time.Second}
		report := d.Run(context.Background(), diagnose.Input{
			Namespace: diagNamespace, ServiceAccount: serviceAccount, Image: image,
			KubeletConfig: kubeletConfig, ProviderName: "gcp-federated-credential-provider", NodeName: cluster.NodeName,
		})
		var out strings.Builder
		diagnose.WriteText(&out, report)
		return report, out.String()
	}
	wantFailure := func(t *testing.T, report diagnose.Report, out, step, inValue, inFix string) {
		t.Helper()
		if report.Passed {
			t.Fatalf("the diagnosis passed:\n%s", out)
		}
		for _, s := range report.Steps {
			if s.Status != diagnose.Failed {
				continue
			}
			if s.Name != step {
				t.Errorf("failed step %q, want %q:\n%s", s.Name, step, out)
			}
			if !strings.Contains(s.Value, inValue) {
				t.Errorf("value %q does not contain %q", s.Value, inValue)
			}
			if !strings.Contains(s.Fix, inFix) {
				t.Errorf("fix %q does not contain %q", s.Fix, inFix)
			}
			return
		}
	}

	t.Run("missing node RBAC", func(t *testing.T) {
		report, out := run(t, "app", withProviderKey)
		wantFailure(t, report, out, "node may request the audience", "denied", "request-serviceaccounts-token-audience")
	})

	applyExampleRBAC(t, admin)

	t.Run("healthy set-up passes", func(t *testing.T) {
		var report diagnose.Report
		var out string
		// RBAC changes reach the authorizer within moments.
		err := eventually(func() error {
			report, out = run(t, "app", withProviderKey)
			if !report.Passed {
				return fmt.Errorf("the diagnosis failed:\n%s", out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, `sub "system:serviceaccount:`+diagNamespace+`:app"`) || !strings.Contains(out, `iss "`+testCluster.URL+`"`) {
			t.Errorf("the claims step does not show the API server's token:\n%s", out)
		}
	})

	t.Run("service account missing annotation", func(t *testing.T) {
		report, out := run(t, "plain", withProviderKey)
		wantFailure(t, report, out, "service account and annotations", "required annotation "+providerKey+" is missing", "kubectl annotate serviceaccount -n "+diagNamespace+" plain")
	})

	t.Run("provider rejects audience", func(t *testing.T) {
		google.AddProvider(fakegoogle.Provider{Name: diagProvider, Issuer: testCluster.URL, AllowedAudiences: []string{"sts.amazonaws.com"}})
		t.Cleanup(func() {
			google.AddProvider(fakegoogle.Provider{Name: diagProvider, Issuer: testCluster.URL, AllowedAudiences: []string{exampleAudience}})
		})
		report, out := run(t, "app", withProviderKey)
		wantFailure(t, report, out, "STS token exchange", "invalid_grant", `allowed audiences include "`+exampleAudience+`"`)
	})
}

func setAnnotations(t *testing.T, admin kubernetes.Interface, serviceAccount string, annotations map[string]string) {
	t.Helper()
	ctx := context.Background()
	sa, err := admin.CoreV1().ServiceAccounts(diagNamespace).Get(ctx, serviceAccount, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa.Annotations = annotations
	if _, err := admin.CoreV1().ServiceAccounts(diagNamespace).Update(ctx, sa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
