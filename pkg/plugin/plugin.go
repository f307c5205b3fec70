// Package plugin handles one kubelet credential request: it finds the
// registry host, chooses the workload identity pool provider and the
// service account to impersonate, exchanges the kubelet's token and builds
// the response.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/klog/v2"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/protocol"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
)

// RegistryUsername is the user name that Google registries expect with an
// OAuth access token as the password.
const RegistryUsername = "oauth2accesstoken"

// ErrMissingToken is the error kind for a request without a service
// account token.
var ErrMissingToken = errors.New("missing service account token")

// ErrNoProvider is the error kind for a request for which neither an
// annotation nor the configuration names a workload identity provider.
var ErrNoProvider = errors.New("no workload identity provider")

// ErrNotAllowed is the error kind for an annotation that selects a provider
// or service account outside the administrator's allow-list.
var ErrNotAllowed = errors.New("not allowed")

// Options are the validated settings of the plugin.
type Options struct {
	// UniverseDomain is the domain of Google's APIs, "googleapis.com" in
	// public Google Cloud.
	UniverseDomain string
	// DefaultProvider is used when the service account has no provider
	// annotation; nil means the annotation is required.
	DefaultProvider *identity.Provider
	// DefaultServiceAccount is impersonated when the service account has no
	// impersonation annotation; empty means no impersonation.
	DefaultServiceAccount string
	// ProviderAnnotation and ServiceAccountAnnotation are the annotation
	// keys that select the provider and the service account.
	ProviderAnnotation       string
	ServiceAccountAnnotation string
	// AllowedProviders and AllowedServiceAccounts restrict what annotations
	// may select. Values from the configuration are always allowed.
	AllowedProviders       identity.AllowList
	AllowedServiceAccounts identity.AllowList
	// Registries decides which hosts may receive credentials.
	Registries *registry.Matcher
	// Timeout bounds the whole exchange.
	Timeout time.Duration
	// CacheSafetyMargin is subtracted from the token's remaining lifetime to
	// get the kubelet's cache duration.
	CacheSafetyMargin time.Duration
}

// Plugin handles credential requests.
type Plugin struct {
	Options   Options
	Exchanger provider.Exchanger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Handle returns the response to req.
func (p *Plugin) Handle(ctx context.Context, req *credentialproviderv1.CredentialProviderRequest) (*credentialproviderv1.CredentialProviderResponse, error) {
	start := p.now()

	host, err := registry.ParseImage(req.Image)
	if err != nil {
		return nil, err
	}
	if !p.Options.Registries.Allows(host) {
		return nil, fmt.Errorf("%w: the image %q is on %s; the plugin sends credentials only to Google registries (gcr.io, *.gcr.io, *-docker.pkg.dev, docker.*.rep.pkg.dev); "+
			"fix matchImages in the kubelet's CredentialProviderConfig, or add the host with --registry-host if it is a Google registry endpoint",
			registry.ErrNotGoogleRegistry, registry.Shorten(req.Image), host.Raw)
	}

	if req.ServiceAccountToken == "" {
		return nil, fmt.Errorf("%w: the kubelet sent no serviceAccountToken for image %q; set tokenAttributes (serviceAccountTokenAudience, requireServiceAccount: true, and cacheType from Kubernetes 1.34) "+
			"for this provider in the kubelet's CredentialProviderConfig, which needs Kubernetes 1.33 or later",
			ErrMissingToken, registry.Shorten(req.Image))
	}
	claims, err := satoken.Parse(req.ServiceAccountToken, start)
	if err != nil {
		return nil, err
	}

	exchange := provider.Request{SubjectToken: req.ServiceAccountToken, Claims: claims}
	if exchange.Provider, err = p.ChooseProvider(req.ServiceAccountAnnotations, claims.ServiceAccount()); err != nil {
		return nil, err
	}
	if exchange.ServiceAccount, err = p.ChooseServiceAccount(req.ServiceAccountAnnotations, claims.ServiceAccount()); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, p.Options.Timeout)
	defer cancel()
	token, err := p.Exchanger.Exchange(ctx, exchange)
	if err != nil {
		return nil, err
	}

	now := p.now()
	cacheDuration := CacheDuration(token.Expiry, now, p.Options.CacheSafetyMargin)
	klog.V(2).InfoS("Exchanged service account token",
		"provider", exchange.Provider.String(),
		"serviceAccount", claims.ServiceAccount(),
		"impersonated", exchange.ServiceAccount,
		"registry", host.Raw,
		"duration", now.Sub(start).Round(time.Millisecond),
		"expiresIn", token.Expiry.Sub(now).Round(time.Second),
		"cacheDuration", cacheDuration)
	return protocol.NewResponse(host.Raw, RegistryUsername, token.AccessToken, cacheDuration), nil
}

// ChooseProvider returns the workload identity pool provider for a service
// account with the given annotations: the one its annotation names, which
// must be valid and allowed, else the configured default. serviceAccount,
// as "NAMESPACE/NAME", appears in errors.
func (p *Plugin) ChooseProvider(annotations map[string]string, serviceAccount string) (identity.Provider, error) {
	key := p.Options.ProviderAnnotation
	value, ok := annotations[key]
	if !ok || value == "" {
		if p.Options.DefaultProvider == nil {
			return identity.Provider{}, fmt.Errorf("%w for Kubernetes service account %s: annotate it with %s=//iam.%s/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID "+
				"and list the key in tokenAttributes.optionalServiceAccountAnnotationKeys of the kubelet's CredentialProviderConfig, or set --workload-identity-provider",
				ErrNoProvider, serviceAccount, key, p.Options.UniverseDomain)
		}
		return *p.Options.DefaultProvider, nil
	}

	provider, err := identity.ParseProvider(value, p.Options.UniverseDomain)
	if err != nil {
		return identity.Provider{}, fmt.Errorf("annotation %s on Kubernetes service account %s: %w", key, serviceAccount, err)
	}
	if !p.Options.AllowedProviders.Allows(provider.String()) {
		return identity.Provider{}, fmt.Errorf("%w: annotation %s on Kubernetes service account %s selects provider %s, which --allowed-workload-identity-providers (%s) does not include; ask the cluster administrator to allow it",
			ErrNotAllowed, key, serviceAccount, provider, p.Options.AllowedProviders)
	}
	return provider, nil
}

// ChooseServiceAccount returns the Google service account to impersonate
// for a service account with the given annotations, or "" for none.
func (p *Plugin) ChooseServiceAccount(annotations map[string]string, serviceAccount string) (string, error) {
	key := p.Options.ServiceAccountAnnotation
	email, ok := annotations[key]
	if !ok || email == "" {
		return p.Options.DefaultServiceAccount, nil
	}
	if err := identity.ValidateServiceAccount(email); err != nil {
		return "", fmt.Errorf("annotation %s on Kubernetes service account %s: %w", key, serviceAccount, err)
	}
	if !p.Options.AllowedServiceAccounts.Allows(email) {
		return "", fmt.Errorf("%w: annotation %s on Kubernetes service account %s selects Google service account %s, which --allowed-service-accounts (%s) does not include; ask the cluster administrator to allow it",
			ErrNotAllowed, key, serviceAccount, email, p.Options.AllowedServiceAccounts)
	}
	return email, nil
}

func (p *Plugin) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// CacheDuration returns how long the kubelet may cache a token that expires
// at expiry: the remaining lifetime at now less margin, truncated to whole
// seconds, and 0 (do not cache) when no time would be left.
func CacheDuration(expiry, now time.Time, margin time.Duration) time.Duration {
	remaining := expiry.Sub(now) - margin
	if remaining <= 0 {
		return 0
	}
	return remaining.Truncate(time.Second)
}
