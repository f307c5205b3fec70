// Package config defines the plugin's settings, reads them from flags and an
// optional YAML file (flags win), and validates them into plugin.Options.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
)

// Flag names. Error messages use them so that users know what to change.
const (
	FlagConfig                   = "config"
	FlagWorkloadIdentityProvider = "workload-identity-provider"
	FlagProviderAnnotation       = "provider-annotation"
	FlagAllowedProviders         = "allowed-workload-identity-providers"
	FlagImpersonate              = "impersonate-service-account"
	FlagServiceAccountAnnotation = "service-account-annotation"
	FlagAllowedServiceAccounts   = "allowed-service-accounts"
	FlagTokenLifetime            = "token-lifetime"
	FlagRegistryHost             = "registry-host"
	FlagSTSEndpoint              = "sts-endpoint"
	FlagIAMCredentialsEndpoint   = "iam-credentials-endpoint"
	FlagUniverseDomain           = "universe-domain"
	FlagTimeout                  = "timeout"
	FlagCacheSafetyMargin        = "cache-safety-margin"
)

// Defaults.
const (
	DefaultProviderAnnotation       = "gcp-federated-credential-provider.io/workload-identity-provider"
	DefaultServiceAccountAnnotation = "iam.gke.io/gcp-service-account"
	DefaultTokenLifetime            = time.Hour
	DefaultTimeout                  = 30 * time.Second
	DefaultCacheSafetyMargin        = 5 * time.Minute
)

// Config is the plugin's configuration as written in the YAML file given by
// --config. Each field has a flag of the same meaning.
type Config struct {
	WorkloadIdentityProvider         string          `json:"workloadIdentityProvider,omitempty"`
	ProviderAnnotation               string          `json:"providerAnnotation,omitempty"`
	AllowedWorkloadIdentityProviders []string        `json:"allowedWorkloadIdentityProviders,omitempty"`
	ImpersonateServiceAccount        string          `json:"impersonateServiceAccount,omitempty"`
	ServiceAccountAnnotation         string          `json:"serviceAccountAnnotation,omitempty"`
	AllowedServiceAccounts           []string        `json:"allowedServiceAccounts,omitempty"`
	TokenLifetime                    metav1.Duration `json:"tokenLifetime,omitempty"`
	RegistryHosts                    []string        `json:"registryHosts,omitempty"`
	STSEndpoint                      string          `json:"stsEndpoint,omitempty"`
	IAMCredentialsEndpoint           string          `json:"iamCredentialsEndpoint,omitempty"`
	UniverseDomain                   string          `json:"universeDomain,omitempty"`
	Timeout                          metav1.Duration `json:"timeout,omitempty"`
	CacheSafetyMargin                metav1.Duration `json:"cacheSafetyMargin,omitempty"`
}

// Default returns the configuration used when neither a flag nor the file
// sets a value. The endpoints are empty because they derive from the
// universe domain.
func Default() *Config {
	return &Config{
		ProviderAnnotation:       DefaultProviderAnnotation,
		ServiceAccountAnnotation: DefaultServiceAccountAnnotation,
		TokenLifetime:            metav1.Duration{Duration: DefaultTokenLifetime},
		UniverseDomain:           identity.DefaultUniverseDomain,
		Timeout:                  metav1.Duration{Duration: DefaultTimeout},
		CacheSafetyMargin:        metav1.Duration{Duration: DefaultCacheSafetyMargin},
	}
}

// Parse reads the configuration from args and from the YAML file named by
// --config; a flag given in args overrides the file. register, if not nil,
// adds flags that are not part of Config, such as klog's, to the flag set.
// Parse returns the arguments after the flags, and flag.ErrHelp when args
// ask for help (after printing it to the flag set's output).
func Parse(name string, args []string, register func(*flag.FlagSet)) (*Config, []string, error) {
	// The first pass only finds --config, so that the file's values become
	// the defaults of the second pass.
	first := newFlagSet(name, Default(), register)
	if err := first.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintUsage(name, register)
		}
		return nil, nil, err
	}
	path := first.Lookup(FlagConfig).Value.String()

	c := Default()
	if path != "" {
		if err := c.loadFile(path); err != nil {
			return nil, nil, err
		}
	}
	second := newFlagSet(name, c, register)
	if err := second.Parse(args); err != nil {
		return nil, nil, err
	}
	return c, second.Args(), nil
}

// PrintUsage writes the plugin's usage and flags with their defaults to
// stderr.
func PrintUsage(name string, register func(*flag.FlagSet)) {
	fs := newFlagSet(name, Default(), register)
	fs.SetOutput(os.Stderr)
	fs.Usage()
}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading --%s file: %w", FlagConfig, err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	// YAMLToJSONStrict rejects duplicate keys; the strict JSON decoder then
	// matches field names case-sensitively and rejects unknown ones.
	converted, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("invalid --%s file %s: %w", FlagConfig, path, err)
	}
	strictErrs, err := strictjson.UnmarshalStrict(converted, c)
	if err != nil {
		return fmt.Errorf("invalid --%s file %s: %w", FlagConfig, path, err)
	}
	if len(strictErrs) > 0 {
		return fmt.Errorf("invalid --%s file %s: %w", FlagConfig, path, errors.Join(strictErrs...))
	}
	return nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
