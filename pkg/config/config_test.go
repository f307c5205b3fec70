package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
)

const testProvider = "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/eks-pool/providers/eks-oidc"

// writeConfigFile writes content to a file in a test directory and returns
// its path.
func writeConfigFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
	return path
}

// compareConfigs reports every field in which got differs from want.
func compareConfigs(t *testing.T, got, want *Config) {
	t.Helper()
	if got.WorkloadIdentityProvider != want.WorkloadIdentityProvider {
		t.Errorf("WorkloadIdentityProvider = %q, want %q", got.WorkloadIdentityProvider, want.WorkloadIdentityProvider)
	}
	if got.ProviderAnnotation != want.ProviderAnnotation {
		t.Errorf("ProviderAnnotation = %q, want %q", got.ProviderAnnotation, want.ProviderAnnotation)
	}
	if !slices.Equal(got.AllowedWorkloadIdentityProviders, want.AllowedWorkloadIdentityProviders) {
		t.Errorf("AllowedWorkloadIdentityProviders = %q, want %q", got.AllowedWorkloadIdentityProviders, want.AllowedWorkloadIdentityProviders)
	}

	if got.ImpersonateServiceAccount != want.ImpersonateServiceAccount {
		t.Errorf("ImpersonateServiceAccount = %q, want %q", got.ImpersonateServiceAccount, want.ImpersonateServiceAccount)
	}
	if got.ServiceAccountAnnotation != want.ServiceAccountAnnotation {
		t.Errorf("ServiceAccountAnnotation = %q, want %q", got.ServiceAccountAnnotation, want.ServiceAccountAnnotation)
	}
	if !slices.Equal(got.AllowedServiceAccounts, want.AllowedServiceAccounts) {
		t.Errorf("AllowedServiceAccounts = %q, want %q", got.AllowedServiceAccounts, want.AllowedServiceAccounts)
	}

	if got.TokenLifetime != want.TokenLifetime {
		t.Errorf("TokenLifetime = %s, want %s", got.TokenLifetime.Duration, want.TokenLifetime.Duration)
	}
	if !slices.Equal(got.RegistryHosts, want.RegistryHosts) {
		t.Errorf("RegistryHosts = %q, want %q", got.RegistryHosts, want.RegistryHosts)
	}

	if got.STSEndpoint != want.STSEndpoint {
		t.Errorf("STSEndpoint = %q, want %q", got.STSEndpoint, want.STSEndpoint)
	}
	if got.IAMCredentialsEndpoint != want.IAMCredentialsEndpoint {
		t.Errorf("IAMCredentialsEndpoint = %q, want %q", got.IAMCredentialsEndpoint, want.IAMCredentialsEndpoint)
	}
	if got.UniverseDomain != want.UniverseDomain {
		t.Errorf("UniverseDomain = %q, want %q", got.UniverseDomain, want.UniverseDomain)
	}
	if got.Timeout != want.Timeout {
		t.Errorf("Timeout = %s, want %s", got.Timeout.Duration, want.Timeout.Duration)
	}
	if got.CacheSafetyMargin != want.CacheSafetyMargin {
		t.Errorf("CacheSafetyMargin = %s, want %s", got.CacheSafetyMargin.Duration, want.CacheSafetyMargin.Duration)
	}
}

// defaultWith returns Default() after applying change.
func defaultWith(change func(*Config)) *Config {
	c := Default()
	if change != nil {
		change(c)
	}
	return c
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		want     *Config
		wantRest []string
	}{
		{
			name: "no arguments give defaults",
			args: nil,
			want: Default(),
		},
		{
			name: "scalar flags set fields",
			args: []string{
				"--workload-identity-provider=" + testProvider,
				"--provider-annotation=example.com/provider",
				"--impersonate-service-account=puller@my-project.iam.gserviceaccount.com",
				"--service-account-annotation=example.com/service-account",
				"--token-lifetime=2h",
				"--sts-endpoint=https://sts.example.com",
				"--iam-credentials-endpoint=https://iam.example.com",
				"--universe-domain=example.goog",
				"--timeout=45s",
				"--cache-safety-margin=10m",
			},
			want: defaultWith(func(c *Config) {
				c.WorkloadIdentityProvider = testProvider
				c.ProviderAnnotation = "example.com/provider"
				c.ImpersonateServiceAccount = "puller@my-project.iam.gserviceaccount.com"
				c.ServiceAccountAnnotation = "example.com/service-account"
				c.TokenLifetime.Duration = 2 * time.Hour
				c.STSEndpoint = "https://sts.example.com"
				c.IAMCredentialsEndpoint = "https://iam.example.com"
				c.UniverseDomain = "example.goog"
				c.Timeout.Duration = 45 * time.Second
				c.CacheSafetyMargin.Duration = 10 * time.Minute
			}),
		},
		{
			name: "single dash flags work",
			args: []string{"-timeout", "20s"},
			want: defaultWith(func(c *Config) { c.Timeout.Duration = 20 * time.Second }),
		},
		{
			name: "registry host splits commas",
			args: []string{"--registry-host=a.example.com,b.example.com"},
			want: defaultWith(func(c *Config) { c.RegistryHosts = []string{"a.example.com", "b.example.com"} }),
		},
		{
			name: "registry host accepts repetition",
			args: []string{"--registry-host=a.example.com", "--registry-host", "b.example.com,c.example.com"},
			want: defaultWith(func(c *Config) {
				c.RegistryHosts = []string{"a.example.com", "b.example.com", "c.example.com"}
			}),
		},
		{
			name: "list items trimmed, empties dropped",
			args: []string{"--registry-host= a.example.com ,, b.example.com,"},
			want: defaultWith(func(c *Config) { c.RegistryHosts = []string{"a.example.com", "b.example.com"} }),
		},
		{
			name: "allowed providers accept repetition",
			args: []string{
				"--allowed-workload-identity-providers=projects/1/locations/global/workloadIdentityPools/a/providers/*",
				"--allowed-workload-identity-providers=projects/2/locations/global/workloadIdentityPools/b/providers/*,projects/3/locations/global/workloadIdentityPools/c/providers/*",
			},
			want: defaultWith(func(c *Config) {
				c.AllowedWorkloadIdentityProviders = []string{
					"projects/1/locations/global/workloadIdentityPools/a/providers/*",
					"projects/2/locations/global/workloadIdentityPools/b/providers/*",
					"projects/3/locations/global/workloadIdentityPools/c/providers/*",
				}
			}),
		},
		{
			name: "allowed service accounts accept repetition",
			args: []string{
				"--allowed-service-accounts=a@p.iam.gserviceaccount.com,*@q.iam.gserviceaccount.com",
				"--allowed-service-accounts=b@p.iam.gserviceaccount.com",
			},
			want: defaultWith(func(c *Config) {
				c.AllowedServiceAccounts = []string{
					"a@p.iam.gserviceaccount.com",
					"*@q.iam.gserviceaccount.com",
					"b@p.iam.gserviceaccount.com",
				}
			}),
		},
		{
			name:     "arguments after flags returned",
			args:     []string{"--timeout=10s", "version"},
			want:     defaultWith(func(c *Config) { c.Timeout.Duration = 10 * time.Second }),
			wantRest: []string{"version"},
		},
		{
			name:     "flags after command not parsed",
			args:     []string{"version", "--timeout=10s"},
			want:     Default(),
			wantRest: []string{"version", "--timeout=10s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := Parse("test", tt.args, nil)
			if err != nil {
				t.Fatalf("Parse(%q) returned error: %v", tt.args, err)
			}
			compareConfigs(t, got, tt.want)
			if !slices.Equal(rest, tt.wantRest) {
				t.Errorf("rest = %q, want %q", rest, tt.wantRest)
			}
		})
	}
}

func TestParseRegisteredFlags(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantLevel int
		wantErr   bool
	}{
		{name: "registered flag is accepted", args: []string{"-v=4", "--timeout=10s"}, wantLevel: 4},
		{name: "registered flag keeps default", args: []string{"--timeout=10s"}, wantLevel: 0},
		{name: "unregistered flag is rejected", args: []string{"-vv=4"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			level := 0
			register := func(fs *flag.FlagSet) {
				fs.IntVar(&level, "v", 0, "log level")
			}
			c, _, err := Parse("test", tt.args, register)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) returned no error", tt.args)
				}
				if c != nil {
					t.Errorf("Parse(%q) returned a config with an error", tt.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) returned error: %v", tt.args, err)
			}
			if level != tt.wantLevel {
				t.Errorf("level = %d, want %d", level, tt.wantLevel)
			}
			if c.Timeout.Duration != 10*time.Second {
				t.Errorf("Timeout = %s, want 10s", c.Timeout.Duration)
			}
		})
	}
}

func TestParseConfigFile(t *testing.T) {
	const fullFile = `
workloadIdentityProvider: ` + testProvider + `
providerAnnotation: example.com/provider
allowedWorkloadIdentityProviders:
  - projects/1/locations/global/workloadIdentityPools/a/providers/*
impersonateServiceAccount: puller@my-project.iam.gserviceaccount.com
serviceAccountAnnotation: example.com/service-account
allowedServiceAccounts: ["*@my-project.iam.gserviceaccount.com"]
tokenLifetime: 2h
registryHosts:
  - a.example.com
  - b.example.com
stsEndpoint: https://sts.example.com
iamCredentialsEndpoint: https://iam.example.com
universeDomain: example.goog
timeout: 45s
cacheSafetyMargin: 10m
`
	fromFullFile := func(c *Config) {
		c.WorkloadIdentityProvider = testProvider
		c.ProviderAnnotation = "example.com/provider"
		c.AllowedWorkloadIdentityProviders = []string{"projects/1/locations/global/workloadIdentityPools/a/providers/*"}
		c.ImpersonateServiceAccount = "puller@my-project.iam.gserviceaccount.com"
		c.ServiceAccountAnnotation = "example.com/service-account"
		c.AllowedServiceAccounts = []string{"*@my-project.iam.gserviceaccount.com"}
		c.TokenLifetime.Duration = 2 * time.Hour
		c.RegistryHosts = []string{"a.example.com", "b.example.com"}
		c.STSEndpoint = "https://sts.example.com"
		c.IAMCredentialsEndpoint = "https://iam.example.com"
		c.UniverseDomain = "example.goog"
		c.Timeout.Duration = 45 * time.Second
		c.CacheSafetyMargin.Duration = 10 * time.Minute
	}

	tests := []struct {
		name    string
		content string
		// args are given after --config FILE.
		args []string
		want *Config
	}{
		{
			name:    "file sets every field",
			content: fullFile,
			want:    defaultWith(fromFullFile),
		},
		{
			name:    "file keeps unset defaults",
			content: "timeout: 10s\n",
			want:    defaultWith(func(c *Config) { c.Timeout.Duration = 10 * time.Second }),
		},
		{
			name:    "flag overrides file value",
			content: "timeout: 10s\ntokenLifetime: 2h\n",
			args:    []string{"--timeout=20s"},
			want: defaultWith(func(c *Config) {
				c.Timeout.Duration = 20 * time.Second
				c.TokenLifetime.Duration = 2 * time.Hour
			}),
		},
		{
			name:    "flags override several file fields",
			content: fullFile,
			args: []string{
				"--universe-domain=googleapis.com",
				"--provider-annotation=example.org/provider",
				"--impersonate-service-account=other@my-project.iam.gserviceaccount.com",
			},
			want: defaultWith(func(c *Config) {
				fromFullFile(c)
				c.UniverseDomain = "googleapis.com"
				c.ProviderAnnotation = "example.org/provider"
				c.ImpersonateServiceAccount = "other@my-project.iam.gserviceaccount.com"
			}),
		},
		{
			name:    "list flag replaces file list",
			content: "registryHosts: [a.example.com, b.example.com]\n",
			args:    []string{"--registry-host=c.example.com", "--registry-host=d.example.com"},
			want: defaultWith(func(c *Config) {
				c.RegistryHosts = []string{"c.example.com", "d.example.com"}
			}),
		},
		{
			name:    "empty list flag clears file list",
			content: "allowedServiceAccounts: [a@p.iam.gserviceaccount.com]\n",
			args:    []string{"--allowed-service-accounts="},
			want:    Default(),
		},
		{
			name:    "provider list flag replaces file",
			content: "allowedWorkloadIdentityProviders: [projects/1/locations/global/workloadIdentityPools/a/providers/*]\n",
			args:    []string{"--allowed-workload-identity-providers=projects/2/locations/global/workloadIdentityPools/b/providers/*"},
			want: defaultWith(func(c *Config) {
				c.AllowedWorkloadIdentityProviders = []string{"projects/2/locations/global/workloadIdentityPools/b/providers/*"}
			}),
		},
		{
			name:    "absent list flag keeps file",
			content: "registryHosts: [a.example.com]\n",
			args:    []string{"--timeout=20s"},
			want: defaultWith(func(c *Config) {
				c.RegistryHosts = []string{"a.example.com"}
				c.Timeout.Duration = 20 * time.Second
			}),
		},
		{
			name:    "empty file gives defaults",
			content: "",
			want:    Default(),
		},
		{
			name:    "whitespace file gives defaults",
			content: "\n  \n\t\n",
			want:    Default(),
		},
		{
			name:    "comment-only file gives defaults",
			content: "# no settings yet\n",
			want:    Default(),
		},
		{
			name:    "leading separator is accepted",
			content: "# plugin settings\n---\ntimeout: 45s\n",
			want:    defaultWith(func(c *Config) { c.Timeout.Duration = 45 * time.Second }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfigFile(t, tt.content)
			args := append([]string{"--config", path}, tt.args...)
			got, rest, err := Parse("test", args, nil)
			if err != nil {
				t.Fatalf("Parse(%q) returned error: %v", args, err)
			}
			compareConfigs(t, got, tt.want)
			if len(rest) != 0 {
				t.Errorf("rest = %q, want none", rest)
			}
		})
	}
}

func TestParseFlagBeforeConfig(t *testing.T) {
	tests := []struct {
		name        string
		content     string
		args        func(path string) []string
		wantTimeout time.Duration
	}{
		{
			name:        "flag before config wins",
			content:     "timeout: 10s\n",
			args:        func(path string) []string { return []string{"--timeout=20s", "--config=" + path} },
			wantTimeout: 20 * time.Second,
		},
		{
			name:        "flag after config wins",
			content:     "timeout: 10s\n",
			args:        func(path string) []string { return []string{"--config=" + path, "--timeout=20s"} },
			wantTimeout: 20 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args(writeConfigFile(t, tt.content))
			got, _, err := Parse("test", args, nil)
			if err != nil {
				t.Fatalf("Parse(%q) returned error: %v", args, err)
			}
			if got.Timeout.Duration != tt.wantTimeout {
				t.Errorf("Timeout = %s, want %s", got.Timeout.Duration, tt.wantTimeout)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		// content is written to a file passed with --config unless
		// noFile is set.
		content string
		noFile  bool
		args    []string
		// wantInMessage are substrings that the error message must contain.
		wantInMessage []string
		wantIs        error
	}{
		{
			name:          "rejects missing config file",
			noFile:        true,
			args:          []string{"--config=/nonexistent/config.yaml"},
			wantInMessage: []string{"--config", "/nonexistent/config.yaml"},
			wantIs:        fs.ErrNotExist,
		},
		{
			name:          "rejects unknown file field",
			content:       "timeout: 10s\nregistryHost: a.example.com\n",
			wantInMessage: []string{"--config", `unknown field "registryHost"`},
		},
		{
			name:          "rejects field in other case",
			content:       "Timeout: 10s\n",
			wantInMessage: []string{"--config", `unknown field "Timeout"`},
		},
		{
			name:          "rejects keys differing in case",
			content:       "timeOut: 10s\ntimeout: 20s\n",
			wantInMessage: []string{"--config", `unknown field "timeOut"`},
		},
		{
			name:          "rejects duration given as number",
			content:       "timeout: 10\n",
			wantInMessage: []string{"--config", "field timeout must be a duration string such as 30s", "not a number"},
		},
		{
			name:          "rejects string for list",
			content:       "registryHosts: a.example.com\n",
			wantInMessage: []string{"--config", "field registryHosts must be a list of strings"},
		},
		{
			name:          "rejects second YAML document",
			content:       "timeout: 10s\n---\ntimeout: 20s\n",
			wantInMessage: []string{"--config", "more than one YAML document"},
		},
		{
			name:          "rejects unparsable duration",
			content:       "timeout: ten seconds\n",
			wantInMessage: []string{"--config", "ten seconds"},
		},
		{
			name:          "rejects duplicate file keys",
			content:       "timeout: 10s\ntimeout: 20s\n",
			wantInMessage: []string{"--config", `key "timeout" already set`},
		},
		{
			name:          "rejects top-level list",
			content:       "- timeout: 10s\n",
			wantInMessage: []string{"--config", "array"},
		},
		{
			name:          "rejects malformed YAML",
			content:       "timeout: [\n",
			wantInMessage: []string{"--config", "line 1"},
		},
		{
			name:          "rejects undefined flag",
			noFile:        true,
			args:          []string{"--no-such-flag"},
			wantInMessage: []string{"no-such-flag"},
		},
		{
			name:          "rejects malformed duration flag",
			noFile:        true,
			args:          []string{"--timeout=soon"},
			wantInMessage: []string{"timeout", `"soon" is not a duration`, "such as 30s"},
		},
		{
			name:          "rejects bad flag despite file",
			content:       "timeout: 10s\n",
			args:          []string{"--token-lifetime=long"},
			wantInMessage: []string{"token-lifetime", "long"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !tt.noFile {
				args = append([]string{"--config", writeConfigFile(t, tt.content)}, args...)
			}
			c, rest, err := Parse("test", args, nil)
			if err == nil {
				t.Fatalf("Parse(%q) returned no error", args)
			}
			if c != nil {
				t.Errorf("Parse(%q) returned config %+v with an error", args, *c)
			}
			if rest != nil {
				t.Errorf("Parse(%q) returned rest %q with an error", args, rest)
			}
			for _, want := range tt.wantInMessage {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(%v, %v) = false, want true", err, tt.wantIs)
			}
		})
	}
}

// captureStderr redirects os.Stderr to a file while run runs and returns
// what was written.
func captureStderr(t *testing.T, run func()) string {
	t.Helper()
	file, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatalf("creating stderr file: %v", err)
	}
	defer file.Close()

	saved := os.Stderr
	os.Stderr = file
	defer func() { os.Stderr = saved }()
	run()

	data, err := os.ReadFile(file.Name())
	if err != nil {
		t.Fatalf("reading stderr file: %v", err)
	}
	return string(data)
}

func TestParseHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "double dash help flag", args: []string{"--help"}},
		{name: "single dash h flag", args: []string{"-h"}},
		{name: "help after other flags", args: []string{"--timeout=10s", "-help"}},
		{name: "help beside config file", args: []string{"--config=/nonexistent/config.yaml", "--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rest, err := Parse("test-plugin", tt.args, nil)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("Parse(%q) error = %v, want flag.ErrHelp", tt.args, err)
			}
			if c != nil {
				t.Errorf("Parse(%q) returned a config with flag.ErrHelp", tt.args)
			}
			if rest != nil {
				t.Errorf("Parse(%q) returned rest %q with flag.ErrHelp", tt.args, rest)
			}
		})
	}
}

func TestPrintUsage(t *testing.T) {
	var out strings.Builder
	PrintUsage(&out, "test-plugin", nil)
	usage := out.String()
	if !strings.Contains(usage, "Usage: test-plugin") {
		t.Errorf("usage output %q does not contain %q", usage, "Usage: test-plugin")
	}
	if !strings.Contains(usage, "-timeout") {
		t.Errorf("usage output %q does not list -timeout", usage)
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		// flag is the flag that the error must name.
		flag string
		// reason is a substring of the explanation after the flag.
		reason string
	}{
		// Universe domain.
		{
			name:   "rejects empty universe domain",
			change: func(c *Config) { c.UniverseDomain = "" },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},
		{
			name:   "rejects upper-case universe domain",
			change: func(c *Config) { c.UniverseDomain = "GoogleApis.com" },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},
		{
			name:   "rejects single-label universe domain",
			change: func(c *Config) { c.UniverseDomain = "localhost" },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},
		{
			name:   "rejects universe domain trailing dot",
			change: func(c *Config) { c.UniverseDomain = "googleapis.com." },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},
		{
			name:   "rejects universe domain with scheme",
			change: func(c *Config) { c.UniverseDomain = "https://googleapis.com" },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},
		{
			name:   "rejects universe domain over 253",
			change: func(c *Config) { c.UniverseDomain = strings.Repeat("a.", 126) + "com" },
			flag:   FlagUniverseDomain,
			reason: "not a lower-case DNS domain",
		},

		// Default provider.
		{
			name: "rejects provider with project ID",
			change: func(c *Config) {
				c.WorkloadIdentityProvider = "projects/my-project/locations/global/workloadIdentityPools/eks-pool/providers/eks-oidc"
			},
			flag:   FlagWorkloadIdentityProvider,
			reason: "project number",
		},
		{
			name: "rejects provider from other universe",
			change: func(c *Config) {
				c.WorkloadIdentityProvider = "//iam.example.goog/projects/123/locations/global/workloadIdentityPools/eks-pool/providers/eks-oidc"
			},
			flag:   FlagWorkloadIdentityProvider,
			reason: "host must be iam.googleapis.com",
		},
		{
			name: "rejects truncated provider name",
			change: func(c *Config) {
				c.WorkloadIdentityProvider = "projects/123/locations/global/workloadIdentityPools/eks-pool"
			},
			flag:   FlagWorkloadIdentityProvider,
			reason: "invalid workload identity provider",
		},

		// Annotation keys.
		{
			name:   "rejects empty provider annotation",
			change: func(c *Config) { c.ProviderAnnotation = "" },
			flag:   FlagProviderAnnotation,
			reason: "empty",
		},
		{
			name:   "rejects upper-case annotation prefix",
			change: func(c *Config) { c.ProviderAnnotation = "Example.com/provider" },
			flag:   FlagProviderAnnotation,
			reason: "prefix must be a lower-case DNS subdomain",
		},
		{
			name:   "rejects empty annotation prefix",
			change: func(c *Config) { c.ProviderAnnotation = "/provider" },
			flag:   FlagProviderAnnotation,
			reason: "prefix must be a lower-case DNS subdomain",
		},
		{
			name:   "rejects underscore in prefix",
			change: func(c *Config) { c.ProviderAnnotation = "ex_ample.com/provider" },
			flag:   FlagProviderAnnotation,
			reason: "prefix must be a lower-case DNS subdomain",
		},
		{
			name:   "rejects annotation name over 63",
			change: func(c *Config) { c.ProviderAnnotation = "example.com/" + strings.Repeat("a", 64) },
			flag:   FlagProviderAnnotation,
			reason: "1 to 63",
		},
		{
			name:   "rejects unprefixed name over 63",
			change: func(c *Config) { c.ProviderAnnotation = strings.Repeat("a", 64) },
			flag:   FlagProviderAnnotation,
			reason: "1 to 63",
		},
		{
			name:   "rejects empty name after prefix",
			change: func(c *Config) { c.ProviderAnnotation = "example.com/" },
			flag:   FlagProviderAnnotation,
			reason: "1 to 63",
		},
		{
			name:   "rejects name ending in hyphen",
			change: func(c *Config) { c.ProviderAnnotation = "example.com/provider-" },
			flag:   FlagProviderAnnotation,
			reason: "1 to 63",
		},
		{
			name:   "rejects second slash in key",
			change: func(c *Config) { c.ProviderAnnotation = "example.com/a/b" },
			flag:   FlagProviderAnnotation,
			reason: "1 to 63",
		},
		{
			name:   "rejects empty service account annotation",
			change: func(c *Config) { c.ServiceAccountAnnotation = "" },
			flag:   FlagServiceAccountAnnotation,
			reason: "empty",
		},
		{
			name:   "rejects bad service account prefix",
			change: func(c *Config) { c.ServiceAccountAnnotation = "IAM.gke.io/gcp-service-account" },
			flag:   FlagServiceAccountAnnotation,
			reason: "prefix must be a lower-case DNS subdomain",
		},
		{
			name:   "rejects long service account name",
			change: func(c *Config) { c.ServiceAccountAnnotation = "iam.gke.io/" + strings.Repeat("b", 64) },
			flag:   FlagServiceAccountAnnotation,
			reason: "1 to 63",
		},
		{
			name: "rejects same key for both",
			change: func(c *Config) {
				c.ProviderAnnotation = "example.com/identity"
				c.ServiceAccountAnnotation = "example.com/identity"
			},
			flag:   FlagServiceAccountAnnotation,
			reason: "use two different keys",
		},

		// Allow-lists.
		{
			name:   "rejects provider entry without prefix",
			change: func(c *Config) { c.AllowedWorkloadIdentityProviders = []string{"eks-pool/providers/*"} },
			flag:   FlagAllowedProviders,
			reason: "must start with //iam.googleapis.com/projects/ or projects/",
		},
		{
			name: "rejects provider entry other universe",
			change: func(c *Config) {
				c.AllowedWorkloadIdentityProviders = []string{"//iam.example.goog/projects/1/locations/global/workloadIdentityPools/*/providers/*"}
			},
			flag:   FlagAllowedProviders,
			reason: "must start with",
		},
		{
			name: "rejects malformed provider pattern",
			change: func(c *Config) {
				c.AllowedWorkloadIdentityProviders = []string{"projects/1/locations/global/workloadIdentityPools/[/providers/*"}
			},
			flag:   FlagAllowedProviders,
			reason: "invalid pattern",
		},
		{
			name: "rejects malformed service account pattern",
			change: func(c *Config) {
				c.AllowedServiceAccounts = []string{"a@p.iam.gserviceaccount.com", "[*@p.iam.gserviceaccount.com"}
			},
			flag:   FlagAllowedServiceAccounts,
			reason: "invalid pattern",
		},

		// Impersonation.
		{
			name:   "rejects non-email impersonation target",
			change: func(c *Config) { c.ImpersonateServiceAccount = "puller" },
			flag:   FlagImpersonate,
			reason: "invalid Google service account",
		},
		{
			name:   "rejects upper-case impersonation email",
			change: func(c *Config) { c.ImpersonateServiceAccount = "Puller@my-project.iam.gserviceaccount.com" },
			flag:   FlagImpersonate,
			reason: "lower case",
		},
		{
			name:   "rejects user account email",
			change: func(c *Config) { c.ImpersonateServiceAccount = "someone@example.com" },
			flag:   FlagImpersonate,
			reason: "not a Google service account domain",
		},

		// Registry hosts.
		{
			name:   "rejects registry host with scheme",
			change: func(c *Config) { c.RegistryHosts = []string{"https://registry.example.com"} },
			flag:   FlagRegistryHost,
			reason: "without a scheme or path",
		},
		{
			name:   "rejects partial label wildcard",
			change: func(c *Config) { c.RegistryHosts = []string{"registry.example.com", "reg*.example.com"} },
			flag:   FlagRegistryHost,
			reason: "whole DNS label",
		},
		{
			name:   "rejects registry port zero",
			change: func(c *Config) { c.RegistryHosts = []string{"registry.example.com:0"} },
			flag:   FlagRegistryHost,
			reason: "invalid port",
		},
		{
			name:   "rejects registry host with underscore",
			change: func(c *Config) { c.RegistryHosts = []string{"registry_1.example.com"} },
			flag:   FlagRegistryHost,
			reason: "not a valid DNS name",
		},

		// Durations.
		{
			name:   "rejects fractional token lifetime",
			change: func(c *Config) { c.TokenLifetime.Duration = time.Hour + 500*time.Millisecond },
			flag:   FlagTokenLifetime,
			reason: "whole number of seconds",
		},
		{
			name:   "rejects lifetime equal to margin",
			change: func(c *Config) { c.TokenLifetime.Duration = DefaultCacheSafetyMargin },
			flag:   FlagCacheSafetyMargin,
			reason: "must be shorter than --token-lifetime",
		},
		{
			name:   "rejects lifetime below margin",
			change: func(c *Config) { c.TokenLifetime.Duration = time.Minute },
			flag:   FlagCacheSafetyMargin,
			reason: "must be shorter than --token-lifetime",
		},
		{
			name: "rejects zero lifetime, zero margin",
			change: func(c *Config) {
				c.TokenLifetime.Duration = 0
				c.CacheSafetyMargin.Duration = 0
			},
			flag:   FlagTokenLifetime,
			reason: "must be positive",
		},
		{
			name:   "rejects lifetime over 12h",
			change: func(c *Config) { c.TokenLifetime.Duration = 12*time.Hour + time.Second },
			flag:   FlagTokenLifetime,
			reason: "longer than the 12h",
		},
		{
			name:   "rejects negative cache margin",
			change: func(c *Config) { c.CacheSafetyMargin.Duration = -time.Second },
			flag:   FlagCacheSafetyMargin,
			reason: "negative",
		},
		{
			name:   "rejects zero timeout",
			change: func(c *Config) { c.Timeout.Duration = 0 },
			flag:   FlagTimeout,
			reason: "more than 0s",
		},
		{
			name:   "rejects negative timeout",
			change: func(c *Config) { c.Timeout.Duration = -time.Second },
			flag:   FlagTimeout,
			reason: "more than 0s",
		},
		{
			name:   "rejects timeout at kubelet limit",
			change: func(c *Config) { c.Timeout.Duration = time.Minute },
			flag:   FlagTimeout,
			reason: "less than the kubelet's 1m0s limit",
		},
		{
			name:   "rejects timeout over kubelet limit",
			change: func(c *Config) { c.Timeout.Duration = 2 * time.Minute },
			flag:   FlagTimeout,
			reason: "less than the kubelet's 1m0s limit",
		},

		// Endpoints.
		{
			name:   "rejects plain http STS endpoint",
			change: func(c *Config) { c.STSEndpoint = "http://sts.googleapis.com" },
			flag:   FlagSTSEndpoint,
			reason: "must be an https:// URL",
		},
		{
			name:   "rejects STS endpoint without scheme",
			change: func(c *Config) { c.STSEndpoint = "sts.googleapis.com" },
			flag:   FlagSTSEndpoint,
			reason: "must be an https:// URL",
		},
		{
			name:   "rejects STS endpoint without host",
			change: func(c *Config) { c.STSEndpoint = "https:///v1" },
			flag:   FlagSTSEndpoint,
			reason: "has no host",
		},
		{
			name:   "rejects unparsable STS endpoint",
			change: func(c *Config) { c.STSEndpoint = "https://sts.googleapis.com:port" },
			flag:   FlagSTSEndpoint,
			reason: "is not a URL",
		},
		{
			name:   "rejects STS endpoint with path",
			change: func(c *Config) { c.STSEndpoint = "https://sts.googleapis.com/v1" },
			flag:   FlagSTSEndpoint,
			reason: "without a path",
		},
		{
			name:   "rejects STS endpoint with query",
			change: func(c *Config) { c.STSEndpoint = "https://sts.googleapis.com?alt=json" },
			flag:   FlagSTSEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
		{
			name:   "rejects STS endpoint empty query",
			change: func(c *Config) { c.STSEndpoint = "https://sts.googleapis.com/?" },
			flag:   FlagSTSEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
		{
			name:   "rejects STS endpoint with fragment",
			change: func(c *Config) { c.STSEndpoint = "https://sts.googleapis.com#token" },
			flag:   FlagSTSEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
		{
			name:   "rejects STS endpoint user info",
			change: func(c *Config) { c.STSEndpoint = "https://user:secret@sts.googleapis.com" },
			flag:   FlagSTSEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
		{
			name:   "rejects STS endpoint empty fragment",
			change: func(c *Config) { c.STSEndpoint = "https://sts.example.com#" },
			flag:   FlagSTSEndpoint,
			reason: "a query or a fragment",
		},
		{
			name:   "rejects STS endpoint port range",
			change: func(c *Config) { c.STSEndpoint = "https://sts.example.com:99999" },
			flag:   FlagSTSEndpoint,
			reason: "invalid port",
		},
		{
			name:   "rejects plain http IAM endpoint",
			change: func(c *Config) { c.IAMCredentialsEndpoint = "http://iamcredentials.googleapis.com" },
			flag:   FlagIAMCredentialsEndpoint,
			reason: "must be an https:// URL",
		},
		{
			name:   "rejects IAM endpoint with path",
			change: func(c *Config) { c.IAMCredentialsEndpoint = "https://iamcredentials.googleapis.com/v1/projects" },
			flag:   FlagIAMCredentialsEndpoint,
			reason: "without a path",
		},
		{
			name:   "rejects IAM endpoint with query",
			change: func(c *Config) { c.IAMCredentialsEndpoint = "https://iamcredentials.googleapis.com/?key=x" },
			flag:   FlagIAMCredentialsEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
		{
			name:   "rejects IAM endpoint user info",
			change: func(c *Config) { c.IAMCredentialsEndpoint = "https://user@iamcredentials.googleapis.com" },
			flag:   FlagIAMCredentialsEndpoint,
			reason: "must not contain user information, a query or a fragment",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultWith(tt.change)
			opts, endpoints, err := c.Validate()
			if err == nil {
				t.Fatalf("Validate() returned no error for %+v", *c)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("errors.Is(%v, ErrInvalidConfig) = false, want true", err)
			}
			if want := "--" + tt.flag + " ("; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name the flag as %q", err, want)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not contain %q", err, tt.reason)
			}
			if endpoints != (Endpoints{}) {
				t.Errorf("endpoints = %+v, want zero with an error", endpoints)
			}
			if opts.Registries != nil {
				t.Errorf("opts.Registries is set with an error")
			}
		})
	}
}

func TestValidateEndpoints(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Config)
		wantSTS string
		wantIAM string
	}{
		{
			name:    "derives endpoints from default universe",
			change:  nil,
			wantSTS: "https://sts.googleapis.com",
			wantIAM: "https://iamcredentials.googleapis.com",
		},
		{
			name:    "derives endpoints from custom universe",
			change:  func(c *Config) { c.UniverseDomain = "example-universe.goog" },
			wantSTS: "https://sts.example-universe.goog",
			wantIAM: "https://iamcredentials.example-universe.goog",
		},
		{
			name: "explicit endpoints override universe",
			change: func(c *Config) {
				c.UniverseDomain = "example-universe.goog"
				c.STSEndpoint = "https://sts.example.com"
				c.IAMCredentialsEndpoint = "https://iam.example.com:8443"
			},
			wantSTS: "https://sts.example.com",
			wantIAM: "https://iam.example.com:8443",
		},
		{
			name:    "explicit STS keeps derived IAM",
			change:  func(c *Config) { c.STSEndpoint = "https://127.0.0.1:8443" },
			wantSTS: "https://127.0.0.1:8443",
			wantIAM: "https://iamcredentials.googleapis.com",
		},
		{
			name: "trims trailing slash",
			change: func(c *Config) {
				c.STSEndpoint = "https://sts.example.com/"
				c.IAMCredentialsEndpoint = "https://iam.example.com:8443/"
			},
			wantSTS: "https://sts.example.com",
			wantIAM: "https://iam.example.com:8443",
		},
		{
			name:    "trims every trailing slash",
			change:  func(c *Config) { c.STSEndpoint = "https://sts.example.com//" },
			wantSTS: "https://sts.example.com",
			wantIAM: "https://iamcredentials.googleapis.com",
		},
		{
			name:    "accepts IPv6 endpoint host",
			change:  func(c *Config) { c.IAMCredentialsEndpoint = "https://[::1]:8443/" },
			wantSTS: "https://sts.googleapis.com",
			wantIAM: "https://[::1]:8443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, endpoints, err := defaultWith(tt.change).Validate()
			if err != nil {
				t.Fatalf("Validate() returned error: %v", err)
			}
			if endpoints.STS != tt.wantSTS {
				t.Errorf("STS endpoint = %q, want %q", endpoints.STS, tt.wantSTS)
			}
			if endpoints.IAMCredentials != tt.wantIAM {
				t.Errorf("IAM Credentials endpoint = %q, want %q", endpoints.IAMCredentials, tt.wantIAM)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
	}{
		{name: "accepts default configuration", change: nil},
		{name: "accepts 63-character annotation name", change: func(c *Config) {
			c.ProviderAnnotation = "example.com/" + strings.Repeat("a", 63)
		}},
		{name: "accepts unprefixed annotation keys", change: func(c *Config) {
			c.ProviderAnnotation = "workload-identity-provider"
			c.ServiceAccountAnnotation = "gcp-service-account"
		}},
		{name: "accepts 12h token lifetime", change: func(c *Config) { c.TokenLifetime.Duration = 12 * time.Hour }},
		{name: "accepts lifetime just above margin", change: func(c *Config) {
			c.TokenLifetime.Duration = DefaultCacheSafetyMargin + time.Second
		}},
		{name: "accepts zero cache margin", change: func(c *Config) { c.CacheSafetyMargin.Duration = 0 }},
		{name: "accepts timeout below limit", change: func(c *Config) { c.Timeout.Duration = 59 * time.Second }},
		{name: "accepts one nanosecond timeout", change: func(c *Config) { c.Timeout.Duration = time.Nanosecond }},
		{name: "accepts relative provider name", change: func(c *Config) {
			c.WorkloadIdentityProvider = "projects/123456789/locations/global/workloadIdentityPools/eks-pool/providers/eks-oidc"
		}},
		{name: "accepts provider in custom universe", change: func(c *Config) {
			c.UniverseDomain = "example-universe.goog"
			c.WorkloadIdentityProvider = "//iam.example-universe.goog/projects/123/locations/global/workloadIdentityPools/eks-pool/providers/eks-oidc"
		}},
		{name: "accepts app engine service account", change: func(c *Config) {
			c.ImpersonateServiceAccount = "my-project@appspot.gserviceaccount.com"
		}},
		{name: "accepts wildcard and port hosts", change: func(c *Config) {
			c.RegistryHosts = []string{"*.registry.example", "10.0.0.5:5000", "[::1]:5000"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultWith(tt.change)
			if _, _, err := c.Validate(); err != nil {
				t.Errorf("Validate() returned error: %v", err)
			}
		})
	}
}

func TestValidateOptions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		// wantProvider is the full name of the default provider, or empty
		// when none is configured.
		wantProvider       string
		wantServiceAccount string
		// wantAllowedProviders is the normalized provider allow-list.
		wantAllowedProviders string
		// allowedAccount and deniedAccount, when set, must be allowed and
		// rejected by the service account allow-list.
		allowedAccount string
		deniedAccount  string
		// allowedHost and deniedHost must be allowed and rejected by the
		// registry matcher.
		allowedHost string
		deniedHost  string
		wantTimeout time.Duration
		wantMargin  time.Duration
	}{
		{
			name:           "copies defaults into options",
			change:         nil,
			allowedAccount: "anyone@any-project.iam.gserviceaccount.com",
			allowedHost:    "us-docker.pkg.dev",
			deniedHost:     "registry.example.com",
			wantTimeout:    DefaultTimeout,
			wantMargin:     DefaultCacheSafetyMargin,
		},
		{
			name: "copies configured values into options",
			change: func(c *Config) {
				c.WorkloadIdentityProvider = "https:" + testProvider
				c.ImpersonateServiceAccount = "puller@my-project.iam.gserviceaccount.com"
				c.AllowedWorkloadIdentityProviders = []string{"projects/123456789/locations/global/workloadIdentityPools/*/providers/*"}
				c.AllowedServiceAccounts = []string{"*@my-project.iam.gserviceaccount.com"}
				c.RegistryHosts = []string{"registry.example.com"}
				c.Timeout.Duration = 10 * time.Second
				c.CacheSafetyMargin.Duration = time.Minute
			},
			wantProvider:         testProvider,
			wantServiceAccount:   "puller@my-project.iam.gserviceaccount.com",
			wantAllowedProviders: "//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/*/providers/*",
			allowedAccount:       "other@my-project.iam.gserviceaccount.com",
			deniedAccount:        "other@another-project.iam.gserviceaccount.com",
			allowedHost:          "registry.example.com",
			deniedHost:           "other.example.com",
			wantTimeout:          10 * time.Second,
			wantMargin:           time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, _, err := defaultWith(tt.change).Validate()
			if err != nil {
				t.Fatalf("Validate() returned error: %v", err)
			}
			if opts.UniverseDomain != "googleapis.com" {
				t.Errorf("UniverseDomain = %q, want googleapis.com", opts.UniverseDomain)
			}
			if opts.ProviderAnnotation != DefaultProviderAnnotation {
				t.Errorf("ProviderAnnotation = %q, want %q", opts.ProviderAnnotation, DefaultProviderAnnotation)
			}
			if opts.ServiceAccountAnnotation != DefaultServiceAccountAnnotation {
				t.Errorf("ServiceAccountAnnotation = %q, want %q", opts.ServiceAccountAnnotation, DefaultServiceAccountAnnotation)
			}

			switch {
			case tt.wantProvider == "" && opts.DefaultProvider != nil:
				t.Errorf("DefaultProvider = %q, want nil", opts.DefaultProvider.String())
			case tt.wantProvider != "" && opts.DefaultProvider == nil:
				t.Errorf("DefaultProvider is nil, want %q", tt.wantProvider)
			case tt.wantProvider != "" && opts.DefaultProvider.String() != tt.wantProvider:
				t.Errorf("DefaultProvider = %q, want %q", opts.DefaultProvider.String(), tt.wantProvider)
			}
			if opts.DefaultServiceAccount != tt.wantServiceAccount {
				t.Errorf("DefaultServiceAccount = %q, want %q", opts.DefaultServiceAccount, tt.wantServiceAccount)
			}

			if got := opts.AllowedProviders.String(); got != tt.wantAllowedProviders {
				t.Errorf("AllowedProviders = %q, want %q", got, tt.wantAllowedProviders)
			}
			if tt.wantProvider != "" && !opts.AllowedProviders.Allows(tt.wantProvider) {
				t.Errorf("AllowedProviders does not allow %q", tt.wantProvider)
			}
			if tt.allowedAccount != "" && !opts.AllowedServiceAccounts.Allows(tt.allowedAccount) {
				t.Errorf("AllowedServiceAccounts does not allow %q", tt.allowedAccount)
			}
			if tt.deniedAccount != "" && opts.AllowedServiceAccounts.Allows(tt.deniedAccount) {
				t.Errorf("AllowedServiceAccounts allows %q", tt.deniedAccount)
			}

			if opts.Registries == nil {
				t.Fatalf("Registries is nil")
			}
			if !opts.Registries.Allows(registry.Host{Name: tt.allowedHost, Raw: tt.allowedHost}) {
				t.Errorf("Registries does not allow %q", tt.allowedHost)
			}
			if opts.Registries.Allows(registry.Host{Name: tt.deniedHost, Raw: tt.deniedHost}) {
				t.Errorf("Registries allows %q", tt.deniedHost)
			}

			if opts.Timeout != tt.wantTimeout {
				t.Errorf("Timeout = %s, want %s", opts.Timeout, tt.wantTimeout)
			}
			if opts.CacheSafetyMargin != tt.wantMargin {
				t.Errorf("CacheSafetyMargin = %s, want %s", opts.CacheSafetyMargin, tt.wantMargin)
			}
		})
	}
}
