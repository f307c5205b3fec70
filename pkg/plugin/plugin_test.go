package plugin_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/protocol"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
)

const (
	providerKey        = "gcp-federated-credential-provider.io/workload-identity-provider"
	impersonationKey   = "iam.gke.io/gcp-service-account"
	flagProvider       = "//iam.googleapis.com/projects/111/locations/global/workloadIdentityPools/flag-pool/providers/flag-provider"
	annotationProvider = "//iam.googleapis.com/projects/222/locations/global/workloadIdentityPools/team-pool/providers/team-provider"
	flagEmail          = "default-reader@demo-project.iam.gserviceaccount.com"
	annotationEmail    = "team-reader@demo-project.iam.gserviceaccount.com"
)

var now = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// recordingExchanger returns a fixed token and records the requests.
type recordingExchanger struct {
	requests []provider.Request
	token    provider.Token
	err      error
}

func (r *recordingExchanger) Exchange(ctx context.Context, req provider.Request) (provider.Token, error) {
	if _, ok := ctx.Deadline(); !ok {
		return provider.Token{}, errors.New("the exchange has no deadline")
	}
	r.requests = append(r.requests, req)
	return r.token, r.err
}

// token returns an unverified but well-formed token for team-a/app.
func token(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{
		"iss": "https://issuer.example", "sub": "system:serviceaccount:team-a:app", "aud": []string{"audience"},
		"iat": now.Add(-time.Minute).Unix(), "exp": exp.Unix(),
		"kubernetes.io": map[string]any{"namespace": "team-a", "serviceaccount": map[string]any{"name": "app"}},
	})
	return enc([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + enc(payload) + ".c2lnbmF0dXJl"
}

func newPlugin(t *testing.T, change func(*plugin.Options)) (*plugin.Plugin, *recordingExchanger) {
	t.Helper()
	defaultProvider, err := identity.ParseProvider(flagProvider, "googleapis.com")
	if err != nil {
		t.Fatal(err)
	}
	registries, err := registry.NewMatcher([]string{"registry.private.example:5000"})
	if err != nil {
		t.Fatal(err)
	}
	opts := plugin.Options{
		UniverseDomain:           "googleapis.com",
		DefaultProvider:          &defaultProvider,
		ProviderAnnotation:       providerKey,
		ServiceAccountAnnotation: impersonationKey,
		Registries:               registries,
		Timeout:                  10 * time.Second,
		CacheSafetyMargin:        5 * time.Minute,
	}
	if change != nil {
		change(&opts)
	}
	exchanger := &recordingExchanger{token: provider.Token{AccessToken: "ya29.test-token", Expiry: now.Add(time.Hour)}}
	return &plugin.Plugin{Options: opts, Exchanger: exchanger, Now: func() time.Time { return now }}, exchanger
}

func request(image string, annotations map[string]string) *credentialproviderv1.CredentialProviderRequest {
	return &credentialproviderv1.CredentialProviderRequest{
		Image:                     image,
		ServiceAccountToken:       token(now.Add(time.Hour)),
		ServiceAccountAnnotations: annotations,
	}
}

func allowList(t *testing.T, entries []string, normalize func(string) (string, error)) identity.AllowList {
	t.Helper()
	list, err := identity.NewAllowList(entries, normalize)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestHandleChoosesProviderAndAccount(t *testing.T) {
	normalize := func(s string) (string, error) { return identity.NormalizeProviderPattern(s, "googleapis.com") }
	tests := []struct {
		name         string
		change       func(*plugin.Options)
		annotations  map[string]string
		wantProvider string
		wantEmail    string
	}{
		{name: "flag provider without annotation", wantProvider: flagProvider},
		{name: "annotation beats provider flag", annotations: map[string]string{providerKey: annotationProvider}, wantProvider: annotationProvider},
		{name: "annotation in relative form", annotations: map[string]string{providerKey: strings.TrimPrefix(annotationProvider, "//iam.googleapis.com/")}, wantProvider: annotationProvider},
		{name: "annotation with https prefix", annotations: map[string]string{providerKey: "https:" + annotationProvider}, wantProvider: annotationProvider},
		{name: "empty annotation uses flag", annotations: map[string]string{providerKey: ""}, wantProvider: flagProvider},
		{
			name: "allow-list pattern admits annotation",
			change: func(o *plugin.Options) {
				o.AllowedProviders = allowList(t, []string{"projects/222/locations/global/workloadIdentityPools/team-*/providers/*"}, normalize)
			},
			annotations:  map[string]string{providerKey: annotationProvider},
			wantProvider: annotationProvider,
		},
		{
			name:         "allow-list never blocks flag provider",
			change:       func(o *plugin.Options) { o.AllowedProviders = allowList(t, []string{annotationProvider}, normalize) },
			wantProvider: flagProvider,
		},
		{
			name:         "custom annotation key selects provider",
			change:       func(o *plugin.Options) { o.ProviderAnnotation = "example.com/provider" },
			annotations:  map[string]string{"example.com/provider": annotationProvider, providerKey: flagProvider},
			wantProvider: annotationProvider,
		},
		{name: "impersonation flag without annotation", change: func(o *plugin.Options) { o.DefaultServiceAccount = flagEmail }, wantProvider: flagProvider, wantEmail: flagEmail},
		{
			name:         "annotation beats impersonation flag",
			change:       func(o *plugin.Options) { o.DefaultServiceAccount = flagEmail },
			annotations:  map[string]string{impersonationKey: annotationEmail},
			wantProvider: flagProvider,
			wantEmail:    annotationEmail,
		},
		{
			name: "service account allow-list admits",
			change: func(o *plugin.Options) {
				o.AllowedServiceAccounts = allowList(t, []string{"*@demo-project.iam.gserviceaccount.com"}, nil)
			},
			annotations:  map[string]string{impersonationKey: annotationEmail},
			wantProvider: flagProvider,
			wantEmail:    annotationEmail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, exchanger := newPlugin(t, tt.change)
			if _, err := p.Handle(context.Background(), request("us-docker.pkg.dev/p/r/app", tt.annotations)); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if len(exchanger.requests) != 1 {
				t.Fatalf("exchanges = %d, want 1", len(exchanger.requests))
			}
			got := exchanger.requests[0]
			if got.Provider.String() != tt.wantProvider {
				t.Errorf("provider = %s, want %s", got.Provider, tt.wantProvider)
			}
			if got.ServiceAccount != tt.wantEmail {
				t.Errorf("service account = %q, want %q", got.ServiceAccount, tt.wantEmail)
			}
			if got.Claims.ServiceAccount() != "team-a/app" {
				t.Errorf("claims name %q, want team-a/app", got.Claims.ServiceAccount())
			}
		})
	}
}

func TestHandleRejects(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*plugin.Options)
		request *credentialproviderv1.CredentialProviderRequest
		wantErr error
		// wantInError are substrings the message must contain.
		wantInError []string
	}{
		{
			name:        "image on Docker Hub",
			request:     request("docker.io/library/nginx", nil),
			wantErr:     registry.ErrNotGoogleRegistry,
			wantInError: []string{"docker.io", "matchImages", "--registry-host"},
		},
		{
			name:        "look-alike registry host",
			request:     request("gcr.io.evil.example/p/app", nil),
			wantErr:     registry.ErrNotGoogleRegistry,
			wantInError: []string{"gcr.io.evil.example"},
		},
		{
			name:        "image without registry host",
			request:     request("nginx", nil),
			wantErr:     registry.ErrInvalidImage,
			wantInError: []string{`"nginx"`},
		},
		{
			name:        "request without service account token",
			request:     &credentialproviderv1.CredentialProviderRequest{Image: "gcr.io/p/app"},
			wantErr:     plugin.ErrMissingToken,
			wantInError: []string{"tokenAttributes", "1.33", "serviceAccountTokenAudience"},
		},
		{
			name:    "expired service account token",
			request: &credentialproviderv1.CredentialProviderRequest{Image: "gcr.io/p/app", ServiceAccountToken: token(now.Add(-time.Second))},
			wantErr: satoken.ErrInvalidToken,
		},
		{
			name:        "no provider anywhere",
			change:      func(o *plugin.Options) { o.DefaultProvider = nil },
			request:     request("gcr.io/p/app", nil),
			wantErr:     plugin.ErrNoProvider,
			wantInError: []string{providerKey, "team-a/app", "--workload-identity-provider"},
		},
		{
			name:        "annotation names another host",
			request:     request("gcr.io/p/app", map[string]string{providerKey: "//evil.example/projects/1/locations/global/workloadIdentityPools/pool/providers/prov"}),
			wantErr:     identity.ErrInvalidProvider,
			wantInError: []string{"annotation " + providerKey, "team-a/app", "iam.googleapis.com"},
		},
		{
			name: "provider outside allow-list",
			change: func(o *plugin.Options) {
				o.AllowedProviders = allowList(t, []string{flagProvider}, nil)
			},
			request:     request("gcr.io/p/app", map[string]string{providerKey: annotationProvider}),
			wantErr:     plugin.ErrNotAllowed,
			wantInError: []string{annotationProvider, "--allowed-workload-identity-providers"},
		},
		{
			name:        "invalid impersonation email",
			request:     request("gcr.io/p/app", map[string]string{impersonationKey: "someone@gmail.com"}),
			wantErr:     identity.ErrInvalidServiceAccount,
			wantInError: []string{"annotation " + impersonationKey, "someone@gmail.com"},
		},
		{
			name: "service account outside allow-list",
			change: func(o *plugin.Options) {
				o.AllowedServiceAccounts = allowList(t, []string{"*@other-project.iam.gserviceaccount.com"}, nil)
			},
			request:     request("gcr.io/p/app", map[string]string{impersonationKey: annotationEmail}),
			wantErr:     plugin.ErrNotAllowed,
			wantInError: []string{annotationEmail, "--allowed-service-accounts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, exchanger := newPlugin(t, tt.change)
			resp, err := p.Handle(context.Background(), tt.request)
			if err == nil {
				t.Fatalf("Handle returned %+v, want an error", resp)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
			for _, want := range tt.wantInError {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.request.ServiceAccountToken != "" && strings.Contains(err.Error(), tt.request.ServiceAccountToken) {
				t.Errorf("error contains the service account token")
			}
			if len(exchanger.requests) != 0 {
				t.Errorf("exchanges = %d, want none", len(exchanger.requests))
			}
		})
	}
}

func TestHandleResponse(t *testing.T) {
	tests := []struct {
		name      string
		image     string
		expiry    time.Time
		wantHost  string
		wantCache time.Duration
	}{
		{name: "artifact registry multi-region", image: "us-docker.pkg.dev/p/r/app", expiry: now.Add(time.Hour), wantHost: "us-docker.pkg.dev", wantCache: 55 * time.Minute},
		{name: "regional endpoint keeps host", image: "docker.us-central1.rep.pkg.dev/p/r/app", expiry: now.Add(time.Hour), wantHost: "docker.us-central1.rep.pkg.dev", wantCache: 55 * time.Minute},
		{name: "extra host keeps port", image: "registry.private.example:5000/p/app", expiry: now.Add(time.Hour), wantHost: "registry.private.example:5000", wantCache: 55 * time.Minute},
		{name: "short-lived token not cached", image: "gcr.io/p/app", expiry: now.Add(4 * time.Minute), wantHost: "gcr.io", wantCache: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, exchanger := newPlugin(t, nil)
			exchanger.token.Expiry = tt.expiry
			resp, err := p.Handle(context.Background(), request(tt.image, nil))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if resp.APIVersion != protocol.APIVersion || resp.Kind != protocol.ResponseKind {
				t.Errorf("type = %s %s", resp.APIVersion, resp.Kind)
			}
			if resp.CacheKeyType != credentialproviderv1.RegistryPluginCacheKeyType {
				t.Errorf("cacheKeyType = %q, want Registry", resp.CacheKeyType)
			}
			if resp.CacheDuration == nil || resp.CacheDuration.Duration != tt.wantCache {
				t.Errorf("cacheDuration = %v, want %s", resp.CacheDuration, tt.wantCache)
			}
			if len(resp.Auth) != 1 {
				t.Fatalf("auth has %d entries, want 1", len(resp.Auth))
			}
			auth, ok := resp.Auth[tt.wantHost]
			if !ok {
				t.Fatalf("auth has no entry for %s: %v", tt.wantHost, resp.Auth)
			}
			if auth.Username != "oauth2accesstoken" {
				t.Errorf("username = %q", auth.Username)
			}
			if auth.Password != "ya29.test-token" {
				t.Errorf("password is not the exchanged token")
			}
		})
	}
}

func TestHandleExchangeError(t *testing.T) {
	p, exchanger := newPlugin(t, nil)
	exchanger.err = errors.New("exchange failed")
	if _, err := p.Handle(context.Background(), request("gcr.io/p/app", nil)); err == nil || err.Error() != "exchange failed" {
		t.Errorf("error = %v, want the exchanger's error unchanged", err)
	}
}

func TestCacheDuration(t *testing.T) {
	tests := []struct {
		name   string
		expiry time.Time
		margin time.Duration
		want   time.Duration
	}{
		{name: "hour token five minute margin", expiry: now.Add(time.Hour), margin: 5 * time.Minute, want: 55 * time.Minute},
		{name: "fractional seconds truncated", expiry: now.Add(time.Hour + 900*time.Millisecond), margin: 5 * time.Minute, want: 55 * time.Minute},
		{name: "zero margin full lifetime", expiry: now.Add(time.Hour), margin: 0, want: time.Hour},
		{name: "lifetime equal to margin", expiry: now.Add(5 * time.Minute), margin: 5 * time.Minute, want: 0},
		{name: "lifetime under margin", expiry: now.Add(time.Minute), margin: 5 * time.Minute, want: 0},
		{name: "already expired token", expiry: now.Add(-time.Minute), margin: 0, want: 0},
		{name: "unknown zero expiry", expiry: time.Time{}, margin: 0, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := plugin.CacheDuration(tt.expiry, now, tt.margin); got != tt.want {
				t.Errorf("CacheDuration = %s, want %s", got, tt.want)
			}
		})
	}
}
