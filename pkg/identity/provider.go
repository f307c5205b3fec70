// Package identity parses and validates the Google names that service
// account annotations and flags select: workload identity pool providers and
// service account emails. Annotations are written by whoever can edit a
// Kubernetes ServiceAccount, so the parsers accept names only, never an
// endpoint, and an AllowList lets the administrator narrow them further.
package identity

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/redact"
)

// ErrInvalidProvider is the error kind for a workload identity pool
// provider name that cannot be used.
var ErrInvalidProvider = errors.New("invalid workload identity provider")

// DefaultUniverseDomain is the universe domain of public Google Cloud.
const DefaultUniverseDomain = "googleapis.com"

// Provider is a workload identity pool provider:
// projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER.
type Provider struct {
	// UniverseDomain is the domain of the IAM service, "googleapis.com" in
	// public Google Cloud.
	UniverseDomain string
	ProjectNumber  string
	Pool           string
	Provider       string
}

// String returns the full resource name that STS expects as the token
// exchange audience, such as
// //iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/provider.
func (p Provider) String() string {
	return "//iam." + p.UniverseDomain + "/" + p.relativeName()
}

func (p Provider) relativeName() string {
	return "projects/" + p.ProjectNumber + "/locations/global/workloadIdentityPools/" + p.Pool + "/providers/" + p.Provider
}

// Principal returns the IAM principal that a federated token with the given
// google.subject has, for use in an IAM policy binding.
func (p Provider) Principal(subject string) string {
	return "principal://iam." + p.UniverseDomain + "/projects/" + p.ProjectNumber +
		"/locations/global/workloadIdentityPools/" + p.Pool + "/subject/" + subject
}

// ParseProvider parses a workload identity pool provider name in the forms
// users paste: the full name starting with "//iam.UNIVERSE/", the same with
// an "https:" prefix, or the relative name starting with "projects/". The
// host, when present, must be the IAM host of universeDomain, so a name can
// never point the exchange at another service.
func ParseProvider(name, universeDomain string) (Provider, error) {
	fail := func(format string, args ...any) (Provider, error) {
		return Provider{}, fmt.Errorf("%w %q: %s", ErrInvalidProvider, truncate(name), fmt.Sprintf(format, args...))
	}
	const expected = "expected //iam.%s/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID"

	if name == "" {
		return fail("the name is empty; "+expected, universeDomain)
	}
	if len(name) > 512 {
		return fail("the name is %d bytes long, more than any provider name; "+expected, len(name), universeDomain)
	}
	if strings.IndexFunc(name, isSpaceOrControl) >= 0 {
		return fail("the name contains white space or control characters; " + "remove them")
	}

	iamHost := "iam." + universeDomain
	relative := name
	switch {
	case strings.HasPrefix(name, "projects/"):
	case strings.HasPrefix(name, "//"), strings.HasPrefix(name, "https://"):
		rest := strings.TrimPrefix(strings.TrimPrefix(name, "https:"), "//")
		host, path, _ := strings.Cut(rest, "/")
		if host != iamHost {
			return fail("the host must be %s, not %q; "+expected, iamHost, host, universeDomain)
		}
		relative = path
	default:
		return fail(expected, universeDomain)
	}

	parts := strings.Split(relative, "/")
	if len(parts) >= 5 && parts[0] == "locations" && parts[2] == "workforcePools" {
		return fail("workforce pools federate human users and cannot be used here; use a workload identity pool provider")
	}
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" ||
		parts[4] != "workloadIdentityPools" || parts[6] != "providers" {
		return fail(expected, universeDomain)
	}
	p := Provider{UniverseDomain: universeDomain, ProjectNumber: parts[1], Pool: parts[5], Provider: parts[7]}

	if !isProjectNumber(p.ProjectNumber) {
		return fail("the project %q must be the project number, not the project ID; find it with: gcloud projects describe %s --format='value(projectNumber)'",
			p.ProjectNumber, p.ProjectNumber)
	}
	if parts[3] != "global" {
		return fail("the location %q must be \"global\": workload identity pools are global", parts[3])
	}
	if err := checkID("pool", p.Pool); err != nil {
		return fail("%v", err)
	}
	if err := checkID("provider", p.Provider); err != nil {
		return fail("%v", err)
	}
	return p, nil
}

// checkID checks a pool or provider ID: 4 to 32 lower-case letters, digits
// and hyphens, without the "gcp-" prefix that Google reserves.
func checkID(kind, id string) error {
	valid := len(id) >= 4 && len(id) <= 32
	for _, c := range id {
		valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
	}
	if !valid {
		return fmt.Errorf("the %s ID %q must be 4 to 32 lower-case letters, digits or hyphens", kind, id)
	}
	if strings.HasPrefix(id, "gcp-") {
		return fmt.Errorf("the %s ID %q starts with \"gcp-\", which Google reserves", kind, id)
	}
	return nil
}

// isProjectNumber reports whether s is a decimal number of 1 to 19 digits
// without leading zeros.
func isProjectNumber(s string) bool {
	if s == "" || len(s) > 19 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func isSpaceOrControl(r rune) bool {
	return r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x2028 || r == 0x2029 || r == 0xa0
}

// truncate shortens s for use in an error message, so that a megabyte-sized
// annotation does not become a megabyte-sized log line, and redacts anything
// shaped like a token. Callers quote the result with %q.
func truncate(s string) string {
	const max = 200
	s = redact.Secrets(s)
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// NormalizeProviderPattern converts an allow-list entry for providers to the
// full-name form, accepting the same prefixes as ParseProvider, so that
// "projects/123/locations/global/workloadIdentityPools/eks-*/providers/*"
// matches the names that ParseProvider returns.
func NormalizeProviderPattern(pattern, universeDomain string) (string, error) {
	full := "//iam." + universeDomain + "/"
	switch {
	case strings.HasPrefix(pattern, "projects/"):
		return full + pattern, nil
	case strings.HasPrefix(pattern, "https:"+full):
		return strings.TrimPrefix(pattern, "https:"), nil
	case strings.HasPrefix(pattern, full):
		return pattern, nil
	}
	return "", fmt.Errorf("allowed provider %q must start with %sprojects/ or projects/", pattern, full)
}
