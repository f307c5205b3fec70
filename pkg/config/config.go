// Package config defines the plugin's settings, reads them from flags and an
// optional YAML file (flags win), and validates them into plugin.Options.
package config

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
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
// request help.
func Parse(name string, args []string, register func(*flag.FlagSet)) (*Config, []string, error) {
	// The first pass only finds --config, so that the file's values become
	// the defaults of the second pass.
	first := newFlagSet(name, Default(), register)
	if err := first.Parse(args); err != nil {
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

// PrintUsage writes the plugin's usage and flags with their defaults to w.
func PrintUsage(w io.Writer, name string, register func(*flag.FlagSet)) {
	fs := newFlagSet(name, Default(), register)
	fs.SetOutput(w)
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
	if hasSecondDocument(data) {
		return fmt.Errorf("invalid --%s file %s: it has more than one YAML document (a --- line); keep the settings in one document", FlagConfig, path)
	}
	// YAMLToJSONStrict rejects duplicate keys. The strict JSON decoder then
	// matches field names case-sensitively and rejects unknown ones.
	converted, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("invalid --%s file %s: %w", FlagConfig, path, err)
	}
	strictErrs, err := strictjson.UnmarshalStrict(converted, c)
	if err != nil {
		return fmt.Errorf("invalid --%s file %s: %s", FlagConfig, path, describeFieldError(err))
	}
	if len(strictErrs) > 0 {
		messages := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			messages[i] = e.Error()
		}
		return fmt.Errorf("invalid --%s file %s: %s; the fields are shown in examples/plugin-config.yaml", FlagConfig, path, strings.Join(messages, "; "))
	}
	return nil
}

// hasSecondDocument reports whether a "---" line follows content, which
// starts a second YAML document that the decoder would silently ignore.
func hasSecondDocument(data []byte) bool {
	seenContent := false
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "---" || strings.HasPrefix(trimmed, "--- "):
			if seenContent {
				return true
			}
		case trimmed != "" && !strings.HasPrefix(trimmed, "#"):
			seenContent = true
		}
	}
	return false
}

// typeErrorPattern matches the decoder's message for a value of the wrong
// JSON type, such as "json: cannot unmarshal number into Go struct field
// Config.timeout of type string".
var typeErrorPattern = regexp.MustCompile(`cannot unmarshal (\w+) into Go struct field Config\.(\w+) of type (\S+)`)

// describeFieldError rewords a type error of the settings file in terms of
// the file's fields.
func describeFieldError(err error) string {
	match := typeErrorPattern.FindStringSubmatch(err.Error())
	if match == nil {
		return err.Error()
	}
	found, field, goType := match[1], match[2], match[3]
	expected := "a string"
	switch {
	case goType == "[]string":
		expected = "a list of strings"
	case strings.HasSuffix(field, "Lifetime") || field == "timeout" || field == "cacheSafetyMargin":
		expected = "a duration string such as 30s, 5m or 1h"
	}
	return fmt.Sprintf("field %s must be %s, not a %s", field, expected, found)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
