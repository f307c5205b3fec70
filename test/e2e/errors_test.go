package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/testnet"
)

// input is what a failure case feeds the plugin.
type input struct {
	stdin []byte
	args  []string
	// secrets must not appear in the output.
	secrets []string
}

func TestPluginFailures(t *testing.T) {
	tests := []struct {
		name string
		// setup returns the plugin's input, after changing the fake if the
		// case needs it.
		setup     func(t *testing.T, e *env) input
		wantCode  int
		wantInErr []string
	}{
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
			name: "STS connection refused",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), args: []string{"--sts-endpoint=https://" + testnet.RefusingAddress(t), "--timeout=3s"}, secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"connection refused", "HTTPS_PROXY"},
		},
		{
			name: "STS certificate not trusted",
			setup: func(t *testing.T, e *env) input {
				tok := token(t, e.eks, issuer.ServiceAccount{})
				untrusted := fakegoogle.New()
				t.Cleanup(untrusted.Close)
				return input{stdin: requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider}), args: []string{"--sts-endpoint=" + untrusted.URL()}, secrets: []string{tok}}
			},
			wantCode:  1,
			wantInErr: []string{"certificate", "SSL_CERT_FILE"},
		},
		{
			name:      "STS malformed JSON",
			setup:     faultCase(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200, Body: `{"access_token":`}, ""),
			wantCode:  1,
			wantInErr: []string{"response is invalid"},
		},
		{
			name: "STS missing expires_in",
			setup: faultCase(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200,
				Body: `{"access_token":"ya29.d.fault-token-without-expiry","token_type":"Bearer"}`}, ""),
			wantCode:  1,
			wantInErr: []string{"invalid expiry"},
		},
		{
			name: "STS negative expires_in",
			setup: faultCase(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200,
				Body: `{"access_token":"ya29.d.fault-token-negative-expiry","token_type":"Bearer","expires_in":-5}`}, ""),
			wantCode:  1,
			wantInErr: []string{"invalid expiry"},
		},
		{
			name: "STS empty access token",
			setup: faultCase(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200,
				Body: `{"access_token":"","token_type":"Bearer","expires_in":3599}`}, ""),
			wantCode:  1,
			wantInErr: []string{"empty access token"},
		},
		{
			name: "impersonation expireTime in past",
			setup: faultCase(fakegoogle.Fault{PathPrefix: "/v1/projects/", Times: 1, Status: 200,
				Body: `{"accessToken":"ya29.c.fault-expired-token","expireTime":"2020-01-01T00:00:00Z"}`}, readerEmail),
			wantCode:  1,
			wantInErr: []string{"expired at 2020-01-01T00:00:00Z"},
		},
		{
			name: "error body with tokens",
			setup: faultCase(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 400,
				Body: `{"error":"invalid_grant","error_description":"rejected eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXZhbHVl and ya29.a0AfB_leaked"}`}, ""),
			wantCode:  1,
			wantInErr: []string{"invalid_grant", "[REDACTED]"},
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
				// At -v=0 the error is the only line; at higher verbosity klog
				// lines, such as retries, may come first.
				lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
				if verbosity == "0" && len(lines) != 1 {
					t.Errorf("stderr has %d lines, want 1: %q", len(lines), res.stderr)
				}
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "gcp-federated-credential-provider: ") {
					t.Errorf("last stderr line %q does not start with the program name", last)
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

// faultCase returns a setup that queues fault and sends a valid request,
// with impersonation of serviceAccount when it is not empty.
func faultCase(fault fakegoogle.Fault, serviceAccount string) func(t *testing.T, e *env) input {
	return func(t *testing.T, e *env) input {
		e.fake.AddFault(fault)
		tok := token(t, e.eks, issuer.ServiceAccount{})
		annotations := map[string]string{providerKey: eksProvider}
		if serviceAccount != "" {
			annotations[impersonationKey] = serviceAccount
		}
		return input{stdin: requestJSON(t, "gcr.io/p/app", tok, annotations), secrets: []string{tok, "ya29.a0AfB_leaked"}}
	}
}
