package config

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// usageHeader explains how the kubelet runs the plugin; the flags follow.
const usageHeader = `Usage: %[1]s [flags] [version | help]

%[1]s is a kubelet image credential provider. The kubelet runs it with one
CredentialProviderRequest (credentialprovider.kubelet.k8s.io/v1) on standard
input; it exchanges the pod's service account token at Google STS and writes
a CredentialProviderResponse with registry credentials to standard output.
Errors go to standard error, with a non-zero exit status.

Commands:
  version   print the version and exit
  help      print this help and exit

Flags:
`

// newFlagSet returns a flag set whose values are stored in c, so that the
// current values of c are the defaults the usage prints. The flag set
// returns errors instead of printing them.
func newFlagSet(name string, c *Config, register func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usageHeader, name)
		fs.PrintDefaults()
	}

	fs.String(FlagConfig, "", "Path of a YAML settings file, with the fields shown in examples/plugin-config.yaml; flags override it.")
	fs.StringVar(&c.WorkloadIdentityProvider, FlagWorkloadIdentityProvider, c.WorkloadIdentityProvider,
		"Workload identity pool provider used when the service account has no provider annotation, as\n"+
			"//iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID.\n"+
			"Empty means the annotation is required.")
	fs.StringVar(&c.ProviderAnnotation, FlagProviderAnnotation, c.ProviderAnnotation,
		"Service account annotation that selects the workload identity pool provider.")
	fs.Var(newListValue(&c.AllowedWorkloadIdentityProviders), FlagAllowedProviders,
		"Comma-separated provider names or patterns (\"*\" matches within one path segment) that the provider annotation may select.\n"+
			"Empty allows any valid provider. The --"+FlagWorkloadIdentityProvider+" value is always allowed.")
	fs.StringVar(&c.ImpersonateServiceAccount, FlagImpersonate, c.ImpersonateServiceAccount,
		"Google service account email to impersonate when the service account has no impersonation annotation.\n"+
			"Empty means the federated token is used directly.")
	fs.StringVar(&c.ServiceAccountAnnotation, FlagServiceAccountAnnotation, c.ServiceAccountAnnotation,
		"Service account annotation that selects the Google service account to impersonate.")
	fs.Var(newListValue(&c.AllowedServiceAccounts), FlagAllowedServiceAccounts,
		"Comma-separated emails or patterns (\"*\" matches any characters) that the impersonation annotation may select.\n"+
			"Empty allows any valid email. The --"+FlagImpersonate+" value is always allowed.")
	fs.Var((*durationValue)(&c.TokenLifetime.Duration), FlagTokenLifetime,
		"Lifetime of impersonated access tokens, at most 12h (IAM allows over 1h only where an organization policy permits).")
	fs.Var(newListValue(&c.RegistryHosts), FlagRegistryHost,
		"Extra registry host that may receive credentials, besides gcr.io, *.gcr.io, *-docker.pkg.dev and docker.*.rep.pkg.dev.\n"+
			"\"*\" matches one DNS label; a port must match exactly. Repeat the flag or separate hosts with commas.")
	fs.StringVar(&c.STSEndpoint, FlagSTSEndpoint, c.STSEndpoint,
		"Base URL of Google STS. Empty means https://sts.UNIVERSE_DOMAIN.")
	fs.StringVar(&c.IAMCredentialsEndpoint, FlagIAMCredentialsEndpoint, c.IAMCredentialsEndpoint,
		"Base URL of Google IAM Credentials. Empty means https://iamcredentials.UNIVERSE_DOMAIN.")
	fs.StringVar(&c.UniverseDomain, FlagUniverseDomain, c.UniverseDomain,
		"Universe domain of the Google APIs.")
	fs.Var((*durationValue)(&c.Timeout.Duration), FlagTimeout,
		"Deadline for the whole exchange; must be below the kubelet's 1m limit for a plugin run.")
	fs.Var((*durationValue)(&c.CacheSafetyMargin.Duration), FlagCacheSafetyMargin,
		"Time subtracted from the access token's remaining lifetime to get the kubelet's cache duration.")

	if register != nil {
		register(fs)
	}
	return fs
}

// listValue is a flag of comma-separated values that may be repeated. The
// first use on the command line replaces the values from the file.
type listValue struct {
	values  *[]string
	changed bool
}

func newListValue(values *[]string) *listValue {
	return &listValue{values: values}
}

func (l *listValue) String() string {
	if l == nil || l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l *listValue) Set(s string) error {
	if !l.changed {
		*l.values = nil
		l.changed = true
	}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.values = append(*l.values, item)
		}
	}
	return nil
}

// durationValue is a duration flag whose parse error shows the expected form.
type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }

func (d *durationValue) Set(s string) error {
	parsed, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: expected a number with a unit, such as 30s, 5m or 1h", s)
	}
	*d = durationValue(parsed)
	return nil
}
