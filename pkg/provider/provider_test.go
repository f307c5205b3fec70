package provider_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/testnet"
)

const (
	providerName = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"
	audience     = "gcp-federated-credential-provider.io"
	email        = "registry-reader@demo-project.iam.gserviceaccount.com"
	principal    = "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app"
)

// env is a fake Google with one provider trusting an EKS-shaped issuer, and
// one service account that the team-a/app principal may impersonate.
type env struct {
	fake   *fakegoogle.Server
	issuer *issuer.Issuer
	google *provider.Google
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := fakegoogle.New()
	t.Cleanup(fake.Close)
	iss, err := issuer.New(issuer.EKSIssuer)
	if err != nil {
		t.Fatal(err)
	}
	jwks := iss.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &jwks, AllowedAudiences: []string{audience}})
	fake.AddServiceAccount(email, principal)
	return &env{
		fake:   fake,
		issuer: iss,
		google: &provider.Google{
			STSEndpoint:            fake.URL(),
			IAMCredentialsEndpoint: fake.URL(),
			UniverseDomain:         identity.DefaultUniverseDomain,
			TokenLifetime:          time.Hour,
			Transport:              fake.Client().Transport,
		},
	}
}

// request returns an exchange request for a token of sa.
func (e *env) request(t *testing.T, sa issuer.ServiceAccount) provider.Request {
	t.Helper()
	if sa.Namespace == "" {
		sa.Namespace, sa.Name = "team-a", "app"
	}
	if sa.Audience == nil {
		sa.Audience = []string{audience}
	}
	token, err := e.issuer.Token(sa)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := satoken.Parse(token, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := identity.ParseProvider(providerName, identity.DefaultUniverseDomain)
	if err != nil {
		t.Fatal(err)
	}
	return provider.Request{SubjectToken: token, Claims: claims, Provider: p}
}

func TestExternalAccountConfig(t *testing.T) {
	g := &provider.Google{
		STSEndpoint:            "https://sts.googleapis.com",
		IAMCredentialsEndpoint: "https://iamcredentials.googleapis.com",
		UniverseDomain:         "googleapis.com",
		TokenLifetime:          30 * time.Minute,
	}
	p, err := identity.ParseProvider(providerName, "googleapis.com")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("federated token without impersonation", func(t *testing.T) {
		conf := g.ExternalAccountConfig(provider.Request{SubjectToken: "subject", Provider: p})
		if conf.Audience != providerName {
			t.Errorf("Audience = %q, want %q", conf.Audience, providerName)
		}
		if conf.SubjectTokenType != "urn:ietf:params:oauth:token-type:jwt" {
			t.Errorf("SubjectTokenType = %q", conf.SubjectTokenType)
		}
		if conf.TokenURL != "https://sts.googleapis.com/v1/token" {
			t.Errorf("TokenURL = %q", conf.TokenURL)
		}
		if len(conf.Scopes) != 1 || conf.Scopes[0] != provider.CloudPlatformScope {
			t.Errorf("Scopes = %v", conf.Scopes)
		}
		if conf.ServiceAccountImpersonationURL != "" {
			t.Errorf("ServiceAccountImpersonationURL = %q, want empty", conf.ServiceAccountImpersonationURL)
		}
		if conf.UniverseDomain != "googleapis.com" {
			t.Errorf("UniverseDomain = %q", conf.UniverseDomain)
		}
		token, err := conf.SubjectTokenSupplier.SubjectToken(context.Background(), fakeSupplierOptions())
		if err != nil || token != "subject" {
			t.Errorf("SubjectToken() = %q, %v; want the request's token", token, err)
		}
	})

	t.Run("impersonation sets URL and lifetime", func(t *testing.T) {
		conf := g.ExternalAccountConfig(provider.Request{SubjectToken: "subject", Provider: p, ServiceAccount: email})
		want := "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/" + email + ":generateAccessToken"
		if conf.ServiceAccountImpersonationURL != want {
			t.Errorf("ServiceAccountImpersonationURL = %q, want %q", conf.ServiceAccountImpersonationURL, want)
		}
		if conf.ServiceAccountImpersonationLifetimeSeconds != 1800 {
			t.Errorf("ServiceAccountImpersonationLifetimeSeconds = %d, want 1800", conf.ServiceAccountImpersonationLifetimeSeconds)
		}
		if len(conf.Scopes) != 1 || conf.Scopes[0] != provider.CloudPlatformScope {
			t.Errorf("Scopes = %v, want cloud-platform for IAM", conf.Scopes)
		}
	})
}

func TestExchangeSucceeds(t *testing.T) {
	t.Run("federated token used directly", func(t *testing.T) {
		e := newEnv(t)
		before := time.Now()
		token, err := e.google.Exchange(context.Background(), e.request(t, issuer.ServiceAccount{}))
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		info, ok := e.fake.Lookup(token.AccessToken)
		if !ok {
			t.Fatalf("the access token is not one the fake issued")
		}
		if info.Principal != principal {
			t.Errorf("principal = %q, want %q", info.Principal, principal)
		}
		if got := token.Expiry.Sub(before); got < 3590*time.Second || got > 3600*time.Second {
			t.Errorf("expiry is %s after the start, want about 3599s", got)
		}
		if n := e.fake.STSRequests(); n != 1 {
			t.Errorf("STS requests = %d, want 1", n)
		}
		if n := e.fake.IAMRequests(); n != 0 {
			t.Errorf("IAM requests = %d, want 0", n)
		}
	})

	t.Run("impersonated service account token", func(t *testing.T) {
		e := newEnv(t)
		e.google.TokenLifetime = 30 * time.Minute
		req := e.request(t, issuer.ServiceAccount{})
		req.ServiceAccount = email
		before := time.Now()
		token, err := e.google.Exchange(context.Background(), req)
		if err != nil {
			t.Fatalf("Exchange: %v", err)
		}
		info, ok := e.fake.Lookup(token.AccessToken)
		if !ok {
			t.Fatalf("the access token is not one the fake issued")
		}
		if info.ServiceAccount != email {
			t.Errorf("service account = %q, want %q", info.ServiceAccount, email)
		}
		if len(info.Scopes) != 1 || info.Scopes[0] != provider.CloudPlatformScope {
			t.Errorf("scopes = %v, want cloud-platform", info.Scopes)
		}
		if got := token.Expiry.Sub(before); got < 29*time.Minute || got > 31*time.Minute {
			t.Errorf("expiry is %s after the start, want about 30m", got)
		}
		if n := e.fake.STSRequests(); n != 1 {
			t.Errorf("STS requests = %d, want 1", n)
		}
		if n := e.fake.IAMRequests(); n != 1 {
			t.Errorf("IAM requests = %d, want 1", n)
		}
	})
}

func TestExchangeFailures(t *testing.T) {
	tests := []struct {
		name string
		// setup changes the environment and the request before the exchange.
		setup func(t *testing.T, e *env, req *provider.Request)
		// check inspects the error beyond the common checks.
		check func(t *testing.T, err error)
		// wantInError are substrings the message must contain.
		wantInError []string
	}{
		{
			name: "audience not allowed by provider",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				*req = e.request(t, issuer.ServiceAccount{Audience: []string{"other-audience"}})
			},
			check: wantSTSCode("invalid_grant"),
			wantInError: []string{"invalid_grant", `allowed audiences include "other-audience"`,
				"serviceAccountTokenAudience", "team-a/app", providerName},
		},
		{
			name: "provider missing in pool",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				req.Provider.Provider = "missing-provider"
			},
			check:       wantSTSCode("invalid_target"),
			wantInError: []string{"invalid_target", "gcloud iam workload-identity-pools providers describe missing-provider --workload-identity-pool=eks-pool --location=global --project=123456789012"},
		},
		{
			name: "provider disabled",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddProvider(fakegoogle.Provider{Name: providerName, Disabled: true})
			},
			check:       wantSTSCode("invalid_target"),
			wantInError: []string{"does not exist, is disabled or was deleted"},
		},
		{
			name: "attribute condition rejects token",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				jwks := e.issuer.JWKS()
				e.fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: e.issuer.URL, JWKS: &jwks, AllowedAudiences: []string{audience},
					AttributeCondition: func(map[string]any) bool { return false }})
			},
			check:       wantSTSCode("unauthorized_client"),
			wantInError: []string{"unauthorized_client", "attributeCondition", `"system:serviceaccount:team-a:app"`},
		},
		{
			name: "issuer differs from provider",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				jwks := e.issuer.JWKS()
				e.fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: issuer.AKSIssuer, JWKS: &jwks, AllowedAudiences: []string{audience}})
			},
			check:       wantSTSCode("invalid_grant"),
			wantInError: []string{"issuer URI is \"" + issuer.EKSIssuer + "\""},
		},
		{
			name: "signature by unknown key",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				other, err := issuer.New(issuer.EKSIssuer)
				if err != nil {
					t.Fatal(err)
				}
				jwks := other.JWKS()
				e.fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: issuer.EKSIssuer, JWKS: &jwks, AllowedAudiences: []string{audience}})
			},
			check:       wantSTSCode("invalid_grant"),
			wantInError: []string{"verify the signature"},
		},
		{
			name: "subject over 127 bytes",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				*req = e.request(t, issuer.ServiceAccount{Namespace: "team-a", Name: strings.Repeat("a", 100)})
			},
			check:       wantSTSCode("invalid_grant"),
			wantInError: []string{"129 bytes long, over Google's 127-byte limit"},
		},
		{
			name: "default audience rule without list",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				jwks := e.issuer.JWKS()
				e.fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: e.issuer.URL, JWKS: &jwks})
			},
			check:       wantSTSCode("invalid_grant"),
			wantInError: []string{"accepts only its own full name " + providerName},
		},
		{
			name: "impersonation permission denied",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddServiceAccount("locked@demo-project.iam.gserviceaccount.com")
				req.ServiceAccount = "locked@demo-project.iam.gserviceaccount.com"
			},
			check: wantIAMStatus(http.StatusForbidden),
			wantInError: []string{"PERMISSION_DENIED", "roles/iam.workloadIdentityUser",
				"gcloud iam service-accounts add-iam-policy-binding locked@demo-project.iam.gserviceaccount.com --role=roles/iam.workloadIdentityUser --member=" + principal},
		},
		{
			name: "impersonated account not found",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				req.ServiceAccount = "ghost@demo-project.iam.gserviceaccount.com"
			},
			check:       wantIAMStatus(http.StatusNotFound),
			wantInError: []string{"NOT_FOUND", "ghost@demo-project.iam.gserviceaccount.com does not exist"},
		},
		{
			name: "impersonation lifetime over limit",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.google.TokenLifetime = 2 * time.Hour
				req.ServiceAccount = email
			},
			check:       wantIAMStatus(http.StatusBadRequest),
			wantInError: []string{"INVALID_ARGUMENT", "--token-lifetime"},
		},
		{
			name: "STS unavailable with 503",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 100, Status: 503, Body: `{"error":"temporarily_unavailable"}`})
			},
			check:       wantSTSStatus(503),
			wantInError: []string{"HTTP 503", "unavailable"},
		},
		{
			name: "STS throttling with 429",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 100, Status: 429, Body: `{"error":"rate_limited"}`})
			},
			check:       wantSTSStatus(429),
			wantInError: []string{"throttling"},
		},
		{
			name: "STS returns malformed JSON",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200, Body: `{"access_token":`})
			},
			check:       wantCallError(false),
			wantInError: []string{"response is invalid"},
		},
		{
			name: "STS omits expires_in",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200,
					Body: `{"access_token":"ya29.a","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer"}`})
			},
			check:       wantCallError(false),
			wantInError: []string{"invalid expiry"},
		},
		{
			name: "STS returns empty token",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200,
					Body: `{"access_token":"","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":3599}`})
			},
			check:       wantCallError(false),
			wantInError: []string{"empty access token"},
		},
		{
			name: "impersonated token already expired",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				req.ServiceAccount = email
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/projects/", Times: 1, Status: 200,
					Body: `{"accessToken":"ya29.c.expired","expireTime":"2020-01-01T00:00:00Z"}`})
			},
			check:       wantCallError(false),
			wantInError: []string{"expired at 2020-01-01T00:00:00Z", "clock"},
		},
		{
			name: "response slower than deadline",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 200, Delay: 5 * time.Second})
			},
			check:       wantCallError(true),
			wantInError: []string{"timed out", "--timeout"},
		},
		{
			name: "connection refused by endpoint",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.google.STSEndpoint = "https://" + testnet.RefusingAddress(t)
			},
			check:       wantCallError(false),
			wantInError: []string{"connection refused", "HTTPS_PROXY"},
		},
		{
			name: "certificate not trusted",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.google.Transport = http.DefaultTransport
			},
			check:       wantCallError(false),
			wantInError: []string{"certificate", "SSL_CERT_FILE"},
		},
		{
			name: "error body with token redacted",
			setup: func(t *testing.T, e *env, req *provider.Request) {
				e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1, Status: 400,
					Body: `{"error":"invalid_grant","error_description":"bad token ` + req.SubjectToken + ` and ya29.leaked-access-token"}`})
			},
			check:       wantSTSCode("invalid_grant"),
			wantInError: []string{"[REDACTED]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.request(t, issuer.ServiceAccount{})
			tt.setup(t, e, &req)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()

			token, err := e.google.Exchange(ctx, req)
			if err == nil {
				t.Fatalf("Exchange succeeded with token expiring %s, want an error", token.Expiry)
			}
			msg := err.Error()
			tt.check(t, err)
			for _, want := range tt.wantInError {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, req.SubjectToken) {
				t.Errorf("error contains the subject token")
			}
			for _, issued := range e.fake.Tokens() {
				if strings.Contains(msg, issued) {
					t.Errorf("error contains an access token the fake issued")
				}
			}
			if strings.Contains(msg, "ya29.leaked") || strings.Contains(msg, "\n") {
				t.Errorf("error %q contains a token-like string or a newline", msg)
			}
		})
	}
}

func wantSTSCode(code string) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var stsErr *provider.STSError
		if !errors.As(err, &stsErr) {
			t.Fatalf("error %v is %T, want *provider.STSError", err, err)
		}
		if stsErr.Code != code {
			t.Errorf("STS code = %q, want %q", stsErr.Code, code)
		}
	}
}

func wantSTSStatus(status int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var stsErr *provider.STSError
		if !errors.As(err, &stsErr) {
			t.Fatalf("error %v is %T, want *provider.STSError", err, err)
		}
		if stsErr.Status != status {
			t.Errorf("STS status = %d, want %d", stsErr.Status, status)
		}
	}
}

func wantIAMStatus(status int) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var iamErr *provider.IAMError
		if !errors.As(err, &iamErr) {
			t.Fatalf("error %v is %T, want *provider.IAMError", err, err)
		}
		if iamErr.Status != status {
			t.Errorf("IAM status = %d, want %d", iamErr.Status, status)
		}
	}
}

func wantCallError(timeout bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var callErr *provider.CallError
		if !errors.As(err, &callErr) {
			t.Fatalf("error %v is %T, want *provider.CallError", err, err)
		}
		if callErr.Timeout != timeout {
			t.Errorf("Timeout = %t, want %t", callErr.Timeout, timeout)
		}
	}
}

func TestExchangeRetries(t *testing.T) {
	tests := []struct {
		name        string
		faults      []fakegoogle.Fault
		impersonate bool
		wantErr     bool
		wantSTS     int
		wantIAM     int
	}{
		{
			name:    "two 503s then success",
			faults:  []fakegoogle.Fault{{PathPrefix: "/v1/token", Times: 2, Status: 503, Body: `{"error":"unavailable"}`}},
			wantSTS: 3,
		},
		{
			name:    "429 then success",
			faults:  []fakegoogle.Fault{{PathPrefix: "/v1/token", Times: 1, Status: 429, Body: `{"error":"rate_limited"}`}},
			wantSTS: 2,
		},
		{
			name:        "IAM 500 then success",
			faults:      []fakegoogle.Fault{{PathPrefix: "/v1/projects/", Times: 1, Status: 500, Body: `{"error":{"code":500,"status":"INTERNAL"}}`}},
			impersonate: true,
			wantSTS:     1,
			wantIAM:     2,
		},
		{
			name:    "400 is never retried",
			faults:  []fakegoogle.Fault{{PathPrefix: "/v1/token", Times: 5, Status: 400, Body: `{"error":"invalid_grant"}`}},
			wantErr: true,
			wantSTS: 1,
		},
		{
			name:        "IAM 403 is never retried",
			faults:      []fakegoogle.Fault{{PathPrefix: "/v1/projects/", Times: 5, Status: 403, Body: `{"error":{"code":403,"status":"PERMISSION_DENIED"}}`}},
			impersonate: true,
			wantErr:     true,
			wantSTS:     1,
			wantIAM:     1,
		},
		{
			name:    "success is never retried",
			wantSTS: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, f := range tt.faults {
				e.fake.AddFault(f)
			}
			req := e.request(t, issuer.ServiceAccount{})
			if tt.impersonate {
				req.ServiceAccount = email
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			_, err := e.google.Exchange(ctx, req)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Errorf("Exchange error = %v, want error %t", err, tt.wantErr)
			}
			if n := e.fake.STSRequests(); n != tt.wantSTS {
				t.Errorf("STS requests = %d, want %d", n, tt.wantSTS)
			}
			if n := e.fake.IAMRequests(); n != tt.wantIAM {
				t.Errorf("IAM requests = %d, want %d", n, tt.wantIAM)
			}
		})
	}
}

func TestExchangePersistentThrottling(t *testing.T) {
	e := newEnv(t)
	e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1000, Status: 429, Body: `{"error":"rate_limited"}`})
	const deadline = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	start := time.Now()
	_, err := e.google.Exchange(ctx, e.request(t, issuer.ServiceAccount{}))
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("Exchange succeeded against persistent throttling")
	}
	if !strings.Contains(err.Error(), "throttling") {
		t.Errorf("error %q does not name throttling", err)
	}
	if strings.Count(err.Error(), "throttling") != 1 {
		t.Errorf("error %q repeats itself", err)
	}
	if elapsed >= deadline {
		t.Errorf("Exchange took %s, not less than the %s deadline", elapsed, deadline)
	}
	if n := e.fake.STSRequests(); n < 2 || n > 4 {
		t.Errorf("STS requests = %d, want between 2 and 4 attempts", n)
	}
}

func TestExchangeRetriesStopAtDeadline(t *testing.T) {
	e := newEnv(t)
	e.fake.AddFault(fakegoogle.Fault{PathPrefix: "/v1/token", Times: 1000, Status: 503, Body: `{"error":"unavailable"}`})
	const deadline = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()

	start := time.Now()
	_, err := e.google.Exchange(ctx, e.request(t, issuer.ServiceAccount{}))
	if err == nil {
		t.Fatal("Exchange succeeded against a persistent 503")
	}
	if elapsed := time.Since(start); elapsed > deadline+100*time.Millisecond {
		t.Errorf("Exchange took %s, past the %s deadline", elapsed, deadline)
	}
}
