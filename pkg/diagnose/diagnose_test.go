package diagnose_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/diagnose"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakeregistry"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

const (
	eksProvider  = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"
	audience     = "gcp-federated-credential-provider.io"
	readerEmail  = "registry-reader@demo-project.iam.gserviceaccount.com"
	appPrincipal = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app"

	providerKey      = "gcp-federated-credential-provider.io/workload-identity-provider"
	impersonationKey = "iam.gke.io/gcp-service-account"
)

// world is a fake cluster, fake Google and a registry that checks tokens
// like Artifact Registry.
type world struct {
	client        *fake.Clientset
	fake          *fakegoogle.Server
	issuer        *issuer.Issuer
	registry      *fakeregistry.Registry
	nodeAllowed   bool
	tokenErr      error
	kubeletConfig string
	image         string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{fake: fakegoogle.New(), nodeAllowed: true}
	t.Cleanup(w.fake.Close)
	var err error
	if w.issuer, err = issuer.New(issuer.EKSIssuer); err != nil {
		t.Fatal(err)
	}
	keys := w.issuer.JWKS()
	w.fake.AddProvider(fakegoogle.Provider{Name: eksProvider, Issuer: w.issuer.URL, JWKS: &keys, AllowedAudiences: []string{audience}})
	w.fake.AddServiceAccount(readerEmail, appPrincipal)

	w.registry = fakeregistry.New(w.fake)
	t.Cleanup(w.registry.Close)
	w.registry.SetReaders(appPrincipal, readerEmail)
	if w.image, err = w.registry.Push("demo-project/images/app", "1.0"); err != nil {
		t.Fatal(err)
	}

	w.client = fake.NewClientset(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "app", Annotations: map[string]string{providerKey: eksProvider},
	}})
	w.client.PrependReactor("create", "subjectaccessreviews", func(action clienttesting.Action) (bool, runtime.Object, error) {
		review := action.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		attrs := review.Spec.ResourceAttributes
		allowed := w.nodeAllowed && slices.Contains(review.Spec.Groups, "system:nodes") &&
			attrs.Verb == "request-serviceaccounts-token-audience" && attrs.Resource == audience
		review.Status.Allowed = allowed
		return true, review, nil
	})
	w.client.PrependReactor("create", "serviceaccounts", func(action clienttesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "token" {
			return false, nil, nil
		}
		if w.tokenErr != nil {
			return true, nil, w.tokenErr
		}
		create := action.(clienttesting.CreateActionImpl)
		tr := create.GetObject().(*authenticationv1.TokenRequest)
		token, err := w.issuer.Token(issuer.ServiceAccount{Namespace: action.GetNamespace(), Name: create.Name, Audience: tr.Spec.Audiences, Lifetime: 10 * time.Minute})
		if err != nil {
			return true, nil, err
		}
		out := tr.DeepCopy()
		out.Status.Token = token
		return true, out, nil
	})
	w.kubeletConfig = w.writeKubeletConfig(t, []string{"gcr.io", "*-docker.pkg.dev", w.registry.Host}, "")
	return w
}

// writeKubeletConfig writes a CredentialProviderConfig whose provider points
// the plugin at the fake Google and allows the test registry.
func (w *world) writeKubeletConfig(t *testing.T, matchImages []string, optionalKeys string) string {
	t.Helper()
	if optionalKeys == "" {
		optionalKeys = "[" + providerKey + ", " + impersonationKey + "]"
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: gcp-federated-credential-provider
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    matchImages: [%s]
    defaultCacheDuration: 10m
    args:
      - --sts-endpoint=%s
      - --iam-credentials-endpoint=%s
      - --registry-host=%s
    tokenAttributes:
      serviceAccountTokenAudience: %s
      cacheType: ServiceAccount
      requireServiceAccount: true
      optionalServiceAccountAnnotationKeys: %s
`, `"`+strings.Join(matchImages, `", "`)+`"`, w.fake.URL(), w.fake.URL(), w.registry.Host, audience, optionalKeys)
	path := filepath.Join(t.TempDir(), "credential-provider-config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *world) diagnose(t *testing.T, serviceAccount, image string) (diagnose.Report, string) {
	t.Helper()
	d := &diagnose.Diagnoser{Client: w.client, GoogleTransport: w.fake.Client().Transport, Timeout: 5 * time.Second}
	report := d.Run(context.Background(), diagnose.Input{
		Namespace: "team-a", ServiceAccount: serviceAccount, Image: image,
		KubeletConfig: w.kubeletConfig, ProviderName: "gcp-federated-credential-provider", NodeName: "node-1",
	})
	var out strings.Builder
	diagnose.WriteText(&out, report)
	return report, out.String()
}

func TestDiagnoseHealthy(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		wantSkipped string
	}{
		{name: "federated token passes every step", annotations: map[string]string{providerKey: eksProvider}, wantSkipped: "service account impersonation"},
		{name: "impersonation passes every step", annotations: map[string]string{providerKey: eksProvider, impersonationKey: readerEmail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.setAnnotations(t, tt.annotations)
			report, out := w.diagnose(t, "app", w.image)
			if !report.Passed {
				t.Fatalf("the diagnosis failed:\n%s", out)
			}
			if len(report.Steps) != 8 {
				t.Errorf("%d steps, want 8", len(report.Steps))
			}
			for _, step := range report.Steps {
				want := diagnose.Passed
				if step.Name == tt.wantSkipped {
					want = diagnose.Skipped
				}
				if step.Status != want {
					t.Errorf("step %q is %s, want %s", step.Name, step.Status, want)
				}
			}
			if !strings.Contains(out, "✓ registry accepts credentials: "+w.image) {
				t.Errorf("output lacks the registry step:\n%s", out)
			}
			if strings.Contains(out, "eyJ") || strings.Contains(out, "ya29.") {
				t.Errorf("output contains a token:\n%s", out)
			}
		})
	}
}

func TestDiagnoseFailures(t *testing.T) {
	tests := []struct {
		name           string
		setup          func(t *testing.T, w *world)
		serviceAccount string
		image          func(w *world) string
		wantStep       string
		wantInValue    string
		wantInFix      string
	}{
		{
			name:        "image outside matchImages",
			image:       func(*world) string { return "europe-docker.pkg.dev/demo-project/images/app:1.0" },
			setup:       func(t *testing.T, w *world) { w.kubeletConfig = w.writeKubeletConfig(t, []string{"gcr.io"}, "") },
			wantStep:    "kubelet config matches image",
			wantInValue: "matches none of matchImages",
			wantInFix:   "add a pattern for this registry to matchImages",
		},
		{
			name:           "service account missing",
			serviceAccount: "ghost",
			wantStep:       "service account and annotations",
			wantInValue:    "team-a/ghost: not found",
			wantInFix:      "create the ServiceAccount",
		},
		{
			name: "provider annotation invalid",
			setup: func(t *testing.T, w *world) {
				w.setAnnotations(t, map[string]string{providerKey: "projects/demo-project/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"})
			},
			wantStep:    "service account and annotations",
			wantInValue: "must be the project number",
			wantInFix:   "fix the annotation",
		},
		{
			name: "annotation key not passed",
			setup: func(t *testing.T, w *world) {
				w.kubeletConfig = w.writeKubeletConfig(t, []string{w.registry.Host}, "[example.com/other]")
			},
			wantStep:    "service account and annotations",
			wantInValue: "the kubelet does not pass it to the plugin",
			wantInFix:   "optionalServiceAccountAnnotationKeys",
		},
		{
			name:        "node RBAC missing",
			setup:       func(t *testing.T, w *world) { w.nodeAllowed = false },
			wantStep:    "node may request the audience",
			wantInValue: "denied",
			wantInFix:   `resources: ["gcp-federated-credential-provider.io"], verbs: ["request-serviceaccounts-token-audience"]`,
		},
		{
			name: "token request forbidden",
			setup: func(t *testing.T, w *world) {
				w.tokenErr = apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts/token"}, "app", fmt.Errorf("RBAC denied"))
			},
			wantStep:    "token request",
			wantInValue: "forbidden",
			wantInFix:   "serviceaccounts/token",
		},
		{
			name: "provider rejects audience",
			setup: func(t *testing.T, w *world) {
				keys := w.issuer.JWKS()
				w.fake.AddProvider(fakegoogle.Provider{Name: eksProvider, Issuer: w.issuer.URL, JWKS: &keys, AllowedAudiences: []string{"sts.amazonaws.com"}})
			},
			wantStep:    "STS token exchange",
			wantInValue: "invalid_grant",
			wantInFix:   `allowed audiences include "gcp-federated-credential-provider.io"`,
		},
		{
			name: "impersonation not granted",
			setup: func(t *testing.T, w *world) {
				w.fake.AddServiceAccount("locked@demo-project.iam.gserviceaccount.com")
				w.setAnnotations(t, map[string]string{providerKey: eksProvider, impersonationKey: "locked@demo-project.iam.gserviceaccount.com"})
			},
			wantStep:    "service account impersonation",
			wantInValue: "PERMISSION_DENIED",
			wantInFix:   "--role=roles/iam.workloadIdentityUser --member=" + appPrincipal,
		},
		{
			name:        "registry rejects credentials",
			setup:       func(t *testing.T, w *world) { w.registry.RejectAllTokens() },
			wantStep:    "registry accepts credentials",
			wantInValue: "unauthenticated (HTTP 401)",
			wantInFix:   "did not accept the access token",
		},
		{
			name:        "registry denies permission",
			setup:       func(t *testing.T, w *world) { w.registry.SetReaders() },
			wantStep:    "registry accepts credentials",
			wantInValue: "without permission (HTTP 403)",
			wantInFix:   "--role=roles/artifactregistry.reader --member=" + appPrincipal,
		},
		{
			name:        "image tag not found",
			image:       func(w *world) string { return strings.Replace(w.image, ":1.0", ":2.0", 1) },
			wantStep:    "registry accepts credentials",
			wantInValue: "not found (HTTP 404)",
			wantInFix:   "check the image's repository and tag",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(t, w)
			}
			serviceAccount, image := "app", w.image
			if tt.serviceAccount != "" {
				serviceAccount = tt.serviceAccount
			}
			if tt.image != nil {
				image = tt.image(w)
			}

			report, out := w.diagnose(t, serviceAccount, image)
			if report.Passed {
				t.Fatalf("the diagnosis passed:\n%s", out)
			}
			var failed []diagnose.Step
			for _, step := range report.Steps {
				if step.Status == diagnose.Failed {
					failed = append(failed, step)
				}
			}
			if len(failed) != 1 {
				t.Fatalf("%d failed steps, want 1:\n%s", len(failed), out)
			}
			step := failed[0]
			if step.Name != tt.wantStep {
				t.Errorf("failed step %q, want %q:\n%s", step.Name, tt.wantStep, out)
			}
			if !strings.Contains(step.Value, tt.wantInValue) {
				t.Errorf("value %q does not contain %q", step.Value, tt.wantInValue)
			}
			if !strings.Contains(step.Fix, tt.wantInFix) {
				t.Errorf("fix %q does not contain %q", step.Fix, tt.wantInFix)
			}
			if !strings.Contains(out, "✗ "+tt.wantStep) || !strings.Contains(out, "fix: "+step.Fix) {
				t.Errorf("output does not print the failed step and its fix:\n%s", out)
			}
			if strings.Contains(out, "eyJ") || strings.Contains(out, "ya29.") {
				t.Errorf("output contains a token:\n%s", out)
			}
		})
	}
}

func (w *world) setAnnotations(t *testing.T, annotations map[string]string) {
	t.Helper()
	sa, err := w.client.CoreV1().ServiceAccounts("team-a").Get(context.Background(), "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa.Annotations = annotations
	if _, err := w.client.CoreV1().ServiceAccounts("team-a").Update(context.Background(), sa, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestReportJSON(t *testing.T) {
	w := newWorld(t)
	w.nodeAllowed = false
	report, _ := w.diagnose(t, "app", w.image)
	data, err := json.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Passed bool `json:"passed"`
		Steps  []struct {
			Name, Status, Value, Fix string
		} `json:"steps"`
	}
	if err := json.Unmarshal(data, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded.Passed {
		t.Errorf("passed = true, want false")
	}
	if len(decoded.Steps) != 8 {
		t.Fatalf("%d steps, want 8", len(decoded.Steps))
	}
	if s := decoded.Steps[2]; s.Status != "failed" || s.Fix == "" {
		t.Errorf("step 3 = %+v, want failed with a fix", s)
	}
	if s := decoded.Steps[3]; s.Status != "skipped" {
		t.Errorf("step 4 = %+v, want skipped", s)
	}
}

func TestDiagnoseProviderArgs(t *testing.T) {
	w := newWorld(t)
	data, err := os.ReadFile(w.kubeletConfig)
	if err != nil {
		t.Fatal(err)
	}
	// Log flags and a settings file that exists only on the node.
	withArgs := strings.Replace(string(data), "    args:\n", "    args:\n      - -v=2\n      - --config=/etc/gcp-federated-credential-provider/config.yaml\n", 1)
	if err := os.WriteFile(w.kubeletConfig, []byte(withArgs), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("node settings file unreadable here", func(t *testing.T) {
		report, out := w.diagnose(t, "app", w.image)
		if report.Passed || report.Steps[0].Status != diagnose.Failed {
			t.Fatalf("the first step did not fail:\n%s", out)
		}
		if !strings.Contains(report.Steps[0].Fix, "--plugin-config") {
			t.Errorf("fix %q does not name --plugin-config", report.Steps[0].Fix)
		}
	})

	t.Run("local copy of settings file", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "plugin.yaml")
		if err := os.WriteFile(local, []byte("timeout: 20s\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d := &diagnose.Diagnoser{Client: w.client, GoogleTransport: w.fake.Client().Transport, Timeout: 5 * time.Second}
		report := d.Run(context.Background(), diagnose.Input{
			Namespace: "team-a", ServiceAccount: "app", Image: w.image, KubeletConfig: w.kubeletConfig,
			ProviderName: "gcp-federated-credential-provider", NodeName: "node-1", PluginConfig: local,
		})
		var out strings.Builder
		diagnose.WriteText(&out, report)
		if !report.Passed {
			t.Errorf("the diagnosis failed:\n%s", out.String())
		}
	})
}
