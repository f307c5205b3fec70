package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
)

// ErrInvalidConfig is the error kind for every invalid setting.
var ErrInvalidConfig = errors.New("invalid configuration")

// Limits on durations.
const (
	// kubeletPluginTimeout is how long the kubelet lets a plugin run before
	// it kills it (pkg/credentialprovider/plugin, Kubernetes 1.20 to 1.37).
	kubeletPluginTimeout = time.Minute
	// maxTokenLifetime is the longest lifetime IAM Credentials grants, with
	// the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension.
	maxTokenLifetime = 12 * time.Hour
)

// Annotation keys are Kubernetes qualified names: an optional DNS subdomain
// prefix and "/", then a name of at most 63 characters.
const (
	annotationNamePattern = `^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	dnsSubdomainPattern   = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
)

var (
	annotationNameRegexp = regexp.MustCompile(annotationNamePattern)
	dnsSubdomainRegexp   = regexp.MustCompile(dnsSubdomainPattern)
)

// fileFields maps each flag to its field in the --config file.
var fileFields = map[string]string{
	FlagWorkloadIdentityProvider: "workloadIdentityProvider",
	FlagProviderAnnotation:       "providerAnnotation",
	FlagAllowedProviders:         "allowedWorkloadIdentityProviders",
	FlagImpersonate:              "impersonateServiceAccount",
	FlagServiceAccountAnnotation: "serviceAccountAnnotation",
	FlagAllowedServiceAccounts:   "allowedServiceAccounts",
	FlagTokenLifetime:            "tokenLifetime",
	FlagRegistryHost:             "registryHosts",
	FlagSTSEndpoint:              "stsEndpoint",
	FlagIAMCredentialsEndpoint:   "iamCredentialsEndpoint",
	FlagUniverseDomain:           "universeDomain",
	FlagTimeout:                  "timeout",
	FlagCacheSafetyMargin:        "cacheSafetyMargin",
}

// Endpoints holds the resolved Google endpoints.
type Endpoints struct {
	STS            string
	IAMCredentials string
}

// Validate checks c and returns the plugin options and the endpoints of
// Google's services. Each error names the flag to change.
func (c *Config) Validate() (plugin.Options, Endpoints, error) {
	fail := func(flag, format string, args ...any) (plugin.Options, Endpoints, error) {
		return plugin.Options{}, Endpoints{}, fmt.Errorf("%w: --%s (%s in the --%s file): %s",
			ErrInvalidConfig, flag, fileFields[flag], FlagConfig, fmt.Sprintf(format, args...))
	}

	ud := c.UniverseDomain
	if !dnsSubdomainRegexp.MatchString(ud) || !strings.Contains(ud, ".") || len(ud) > 253 {
		return fail(FlagUniverseDomain, "%q is not a lower-case DNS domain such as googleapis.com", ud)
	}
	opts := plugin.Options{
		UniverseDomain:           ud,
		DefaultServiceAccount:    c.ImpersonateServiceAccount,
		ProviderAnnotation:       c.ProviderAnnotation,
		ServiceAccountAnnotation: c.ServiceAccountAnnotation,
		Timeout:                  c.Timeout.Duration,
		CacheSafetyMargin:        c.CacheSafetyMargin.Duration,
	}

	if c.WorkloadIdentityProvider != "" {
		p, err := identity.ParseProvider(c.WorkloadIdentityProvider, ud)
		if err != nil {
			return fail(FlagWorkloadIdentityProvider, "%v", err)
		}
		opts.DefaultProvider = &p
	}
	if err := validateAnnotationKey(c.ProviderAnnotation); err != nil {
		return fail(FlagProviderAnnotation, "%v", err)
	}
	if err := validateAnnotationKey(c.ServiceAccountAnnotation); err != nil {
		return fail(FlagServiceAccountAnnotation, "%v", err)
	}
	if c.ProviderAnnotation == c.ServiceAccountAnnotation {
		return fail(FlagServiceAccountAnnotation, "%q is also the --%s; use two different keys", c.ServiceAccountAnnotation, FlagProviderAnnotation)
	}
	allowed, err := identity.NewAllowList(c.AllowedWorkloadIdentityProviders, func(s string) (string, error) {
		return identity.NormalizeProviderPattern(s, ud)
	})
	if err != nil {
		return fail(FlagAllowedProviders, "%v", err)
	}
	opts.AllowedProviders = allowed

	if c.ImpersonateServiceAccount != "" {
		if err := identity.ValidateServiceAccount(c.ImpersonateServiceAccount); err != nil {
			return fail(FlagImpersonate, "%v", err)
		}
	}
	if opts.AllowedServiceAccounts, err = identity.NewAllowList(c.AllowedServiceAccounts, nil); err != nil {
		return fail(FlagAllowedServiceAccounts, "%v", err)
	}

	if opts.Registries, err = registry.NewMatcher(c.RegistryHosts); err != nil {
		return fail(FlagRegistryHost, "%v", err)
	}

	lifetime, margin := c.TokenLifetime.Duration, c.CacheSafetyMargin.Duration
	switch {
	case lifetime <= 0:
		return fail(FlagTokenLifetime, "%s must be positive", lifetime)
	case lifetime%time.Second != 0:
		return fail(FlagTokenLifetime, "%s is not a whole number of seconds", lifetime)
	case lifetime > maxTokenLifetime:
		return fail(FlagTokenLifetime, "%s is longer than the 12h that IAM Credentials allows", lifetime)
	case margin < 0:
		return fail(FlagCacheSafetyMargin, "%s is negative", margin)
	case margin >= lifetime:
		return fail(FlagCacheSafetyMargin, "%s must be shorter than --%s (%s), or the kubelet could never cache a token; shorten the margin or lengthen the lifetime",
			margin, FlagTokenLifetime, lifetime)
	}
	if c.Timeout.Duration <= 0 || c.Timeout.Duration >= kubeletPluginTimeout {
		return fail(FlagTimeout, "%s must be more than 0s and less than the kubelet's %s limit for a plugin run", c.Timeout.Duration, kubeletPluginTimeout)
	}

	endpoints := Endpoints{STS: c.STSEndpoint, IAMCredentials: c.IAMCredentialsEndpoint}
	if endpoints.STS == "" {
		endpoints.STS = "https://sts." + ud
	}
	if endpoints.IAMCredentials == "" {
		endpoints.IAMCredentials = "https://iamcredentials." + ud
	}
	if endpoints.STS, err = validateEndpoint(endpoints.STS); err != nil {
		return fail(FlagSTSEndpoint, "%v", err)
	}
	if endpoints.IAMCredentials, err = validateEndpoint(endpoints.IAMCredentials); err != nil {
		return fail(FlagIAMCredentialsEndpoint, "%v", err)
	}
	return opts, endpoints, nil
}

// Exchanger returns the Google exchanger for the validated endpoints.
func (c *Config) Exchanger(endpoints Endpoints) *provider.Google {
	return &provider.Google{
		STSEndpoint:            endpoints.STS,
		IAMCredentialsEndpoint: endpoints.IAMCredentials,
		UniverseDomain:         c.UniverseDomain,
		TokenLifetime:          c.TokenLifetime.Duration,
	}
}

func validateAnnotationKey(key string) error {
	prefix, name, hasPrefix := strings.Cut(key, "/")
	if !hasPrefix {
		prefix, name = "", key
	}
	switch {
	case key == "":
		return errors.New("the annotation key is empty")
	case len(name) > 63 || !annotationNameRegexp.MatchString(name):
		return fmt.Errorf("annotation key %q is invalid: the name after the prefix must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", key)
	case hasPrefix && (len(prefix) > 253 || !dnsSubdomainRegexp.MatchString(prefix)):
		return fmt.Errorf("annotation key %q is invalid: the prefix must be a lower-case DNS subdomain such as example.com", key)
	}
	return nil
}

// validateEndpoint checks that raw is an https URL of a host and returns it
// without a trailing slash.
func validateEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("%q must be an https:// URL", raw)
	case u.Host == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.User != nil, strings.ContainsAny(raw, "?#"):
		return "", fmt.Errorf("%q must not contain user information, a query or a fragment", raw)
	case u.Port() != "" && !validPort(u.Port()):
		return "", fmt.Errorf("%q has an invalid port: expected a number from 1 to 65535", raw)
	case strings.Trim(u.Path, "/") != "":
		return "", fmt.Errorf("%q must be a base URL without a path, such as https://sts.googleapis.com", raw)
	}
	return strings.TrimRight(raw, "/"), nil
}

func validPort(port string) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}
