package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

func TestPluginFailures(t *testing.T) {
	type input struct {
		stdin []byte
		args  []string
		// secrets must not appear in the output.
		secrets []string
	}
	tests := []struct {
		name string
		// setup returns the plugin's input, after changing the fake if the
		// case needs it.
		setup     func(t *testing.T, e *env) input
		wantCode  int
		wantInErr []string
	}{
		{
			name: "wrong apiVersion in request",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				stdin := strings.Replace(string(requestJSON(t, "gcr.io/p/app", tok, nil)), "credentialprovider.kubelet.k8s.io/v1", "credentialprovider.kubelet.k8s.io/v1beta1", 1)
				return input{stdin: []byte(stdin), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{`apiVersion is "credentialprovider.kubelet.k8s.io/v1beta1"`, "CredentialProviderConfig"},
		},
		{
			name: "wrong kind in request",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: []byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse","image":"gcr.io/p/app"}`)}
			},
			wantCode:  1,
			wantInErr: []string{`kind is "CredentialProviderResponse"`},
		},
		{
			name: "missing image in request",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: []byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"}`)}
			},
			wantCode:  1,
			wantInErr: []string{"image field is missing"},
		},
		{
			name: "request over size cap",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: []byte(`{"image":"` + strings.Repeat("a", 2<<20) + `"}`)}
			},
			wantCode:  1,
			wantInErr: []string{"larger than 1048576 bytes"},
		},
		{
			name: "image on other registry",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "quay.io/org/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"quay.io", "matchImages"},
		},
		{
			name: "request without token",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: requestJSON(t, "gcr.io/p/app", "", nil), args: []string{"--workload-identity-provider=" + eksProvider}}
			},
			wantCode:  1,
			wantInErr: []string{"no serviceAccountToken", "tokenAttributes", "Kubernetes 1.33"},
		},
		{
			name: "provider annotation names endpoint",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: "https://sts.evil.example/v1/token"}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"annotation " + providerKey, "team-a/app", "the host must be iam.googleapis.com"},
		},
		{
			name: "provider outside allow-list",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{
					stdin:   requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}),
					args:    []string{"--allowed-workload-identity-providers=" + aksProvider},
					secrets: []string{tok},
				}
			},
			wantCode:  1,
			wantInErr: []string{"not allowed", eksProvider, "--allowed-workload-identity-providers"},
		},
		{
			name: "impersonation annotation not Google",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider, impersonationKey: "admin@example.com"}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"annotation " + impersonationKey, "admin@example.com", "NAME@PROJECT_ID.iam.gserviceaccount.com"},
		},
		{
			name: "token not a JWT",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: requestJSON(t, "gcr.io/p/app", "not-a-jwt-secret-value", map[string]string{providerKey: eksProvider}), secrets: []string{"not-a-jwt-secret-value"}}
			},
			wantCode:  1,
			wantInErr: []string{"not a JWT"},
		},
		{
			name: "unsigned token with alg none",
			setup: func(t *testing.T, e *env) input {
				tok := issuer.Unsigned(e.eks.Claims(issuer.ServiceAccount{Namespace: "team-a", Name: "app", Audience: []string{audience}}))
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"unsigned"},
		},
		{
			name: "expired service account token",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{IssuedAt: time.Now().Add(-2 * time.Hour)})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"team-a/app expired at"},
		},
		{
			name: "audience not allowed at STS",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{Audience: []string{"sts.amazonaws.com"}})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"invalid_grant", `allowed audiences include "sts.amazonaws.com"`, "serviceAccountTokenAudience"},
		},
		{
			name: "provider missing at STS",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				missing := strings.Replace(eksProvider, "eks-cluster", "deleted-cluster", 1)
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: missing}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"invalid_target", "providers describe deleted-cluster"},
		},
		{
			name: "attribute condition rejects subject",
			setup: func(t *testing.T, e *env) input {
				keys := e.eks.JWKS()
				e.fake.AddProvider(fakegoogle.Provider{Name: eksProvider, Issuer: issuer.EKSIssuer, JWKS: &keys, AllowedAudiences: []string{audience},
					AttributeCondition: func(claims map[string]any) bool {
						return strings.HasPrefix(claims["sub"].(string), "system:serviceaccount:prod:")
					}})
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"unauthorized_client", "attributeCondition"},
		},
		{
			name: "impersonation permission denied",
			setup: func(t *testing.T, e *env) input {
				e.fake.AddServiceAccount("deployer@demo-project.iam.gserviceaccount.com")
				tok := token(t, e.eks, issuer.ServiceAccount{Namespace: "team-b", Name: "builder"})
				return input{
					stdin:   requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider, impersonationKey: "deployer@demo-project.iam.gserviceaccount.com"}),
					secrets: []string{tok},
				}
			},
			wantCode: 1,
			wantInErr: []string{"PERMISSION_DENIED",
				"--member=principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-b:builder"},
		},
		{
			name: "STS persistently unavailable",
			setup: func(t *testing.T, e *env) input {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 100, Status: 503, Body: `{"error":"unavailable"}`})
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"HTTP 503", "unavailable"},
		},
		{
			name: "STS slower than timeout",
			setup: func(t *testing.T, e *env) input {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 100, Status: 200, Delay: 10 * time.Second})
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), args: []string{"--timeout=1s"}, secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"timed out"},
		},
		{
			name: "invalid provider flag",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: requestJSON(t, "gcr.io/p/app", "", nil), args: []string{"--workload-identity-provider=projects/my-project/locations/global/workloadIdentityPools/pool/providers/prov"}}
			},
			wantCode:  2,
			wantInErr: []string{"--workload-identity-provider", "project number", "gcloud projects describe my-project"},
		},
		{
			name: "timeout at kubelet limit",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: requestJSON(t, "gcr.io/p/app", "", nil), args: []string{"--timeout=60s"}}
			},
			wantCode:  2,
			wantInErr: []string{"--timeout", "1m0s"},
		},
		{
			name: "unknown flag is rejected",
			setup: func(t *testing.T, e *env) input {
				return input{stdin: requestJSON(t, "gcr.io/p/app", "", nil), args: []string{"--audience=x"}}
			},
			wantCode:  2,
			wantInErr: []string{"flag provided but not defined: -audience", "--help"},
		},
	}
	for _, verbosity := range []string{"0", "10"} {
		for _, tt := range tests {
			t.Run(tt.name+" at v"+verbosity, func(t *testing.T) {
				e := newEnv(t)
				in := tt.setup(t, e)
				res := e.run(t, in.stdin, append(in.args, "--v="+verbosity)...)
				if res.code != tt.wantCode {
					t.Errorf("exit status %d, want %d", res.code, tt.wantCode)
				}
				if res.stdout != "" {
					t.Errorf("stdout %q, want nothing", res.stdout)
				}
				if lines := strings.Count(strings.TrimSpace(res.stderr), "\n") + 1; lines != 1 {
					t.Errorf("stderr has %d lines, want 1: %q", lines, res.stderr)
				}
				if !strings.HasPrefix(res.stderr, "gcp-federated-credential-provider: ") {
					t.Errorf("stderr %q does not start with the program name", res.stderr)
				}
				for _, want := range tt.wantInErr {
					if !strings.Contains(res.stderr, want) {
						t.Errorf("stderr %q does not contain %q", res.stderr, want)
					}
				}
				e.assertNoSecrets(t, res.stderr, in.secrets...)
			})
		}
	}
}
