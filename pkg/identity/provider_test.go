package identity_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
)

const (
	fullName     = "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool/providers/my-provider"
	relativeName = "projects/123/locations/global/workloadIdentityPools/my-pool/providers/my-provider"
	expectedForm = "expected //iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID"
)

// providerName returns a full provider name in the default universe with the
// given project, location, pool and provider segments.
func providerName(project, location, pool, provider string) string {
	return "//iam.googleapis.com/projects/" + project + "/locations/" + location +
		"/workloadIdentityPools/" + pool + "/providers/" + provider
}

func TestParseProviderAccepted(t *testing.T) {
	tests := []struct {
		name         string
		input        string
		universe     string
		wantProject  string
		wantPool     string
		wantProvider string
		wantString   string
	}{
		{"accepts full resource name", fullName, "googleapis.com", "123", "my-pool", "my-provider", fullName},
		{"accepts https resource name", "https:" + fullName, "googleapis.com", "123", "my-pool", "my-provider", fullName},
		{"accepts relative resource name", relativeName, "googleapis.com", "123", "my-pool", "my-provider", fullName},
		{"accepts other universe domain", "//iam.example-universe.test/" + relativeName, "example-universe.test", "123", "my-pool", "my-provider",
			"//iam.example-universe.test/" + relativeName},
		{"adds other universe host", relativeName, "example-universe.test", "123", "my-pool", "my-provider",
			"//iam.example-universe.test/" + relativeName},
		{"accepts 19-digit project number", providerName("1234567890123456789", "global", "my-pool", "my-provider"), "googleapis.com",
			"1234567890123456789", "my-pool", "my-provider", providerName("1234567890123456789", "global", "my-pool", "my-provider")},
		{"accepts 4-character IDs", providerName("123", "global", "pool", "prov"), "googleapis.com", "123", "pool", "prov",
			providerName("123", "global", "pool", "prov")},
		{"accepts 32-character IDs", providerName("123", "global", strings.Repeat("p", 32), strings.Repeat("9", 32)), "googleapis.com",
			"123", strings.Repeat("p", 32), strings.Repeat("9", 32), providerName("123", "global", strings.Repeat("p", 32), strings.Repeat("9", 32))},
		{"accepts gcp inside ID", providerName("123", "global", "my-gcp-pool", "gcp"+"prov"), "googleapis.com", "123", "my-gcp-pool", "gcpprov",
			providerName("123", "global", "my-gcp-pool", "gcpprov")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := identity.ParseProvider(tt.input, tt.universe)
			if err != nil {
				t.Fatalf("ParseProvider(%q) error: %v", tt.input, err)
			}
			if p.UniverseDomain != tt.universe {
				t.Errorf("UniverseDomain = %q, want %q", p.UniverseDomain, tt.universe)
			}
			if p.ProjectNumber != tt.wantProject {
				t.Errorf("ProjectNumber = %q, want %q", p.ProjectNumber, tt.wantProject)
			}
			if p.Pool != tt.wantPool {
				t.Errorf("Pool = %q, want %q", p.Pool, tt.wantPool)
			}
			if p.Provider != tt.wantProvider {
				t.Errorf("Provider = %q, want %q", p.Provider, tt.wantProvider)
			}
			if got := p.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
		})
	}
}

func TestParseProviderRejected(t *testing.T) {
	const googleapis = "googleapis.com"
	tests := []struct {
		name        string
		input       string
		universe    string
		wantMessage string
	}{
		{"rejects empty name", "", googleapis, "the name is empty; " + expectedForm},
		{"rejects STS host", "//sts.googleapis.com/" + relativeName, googleapis, `the host must be iam.googleapis.com, not "sts.googleapis.com"`},
		{"rejects other https host", "https://evil.example/" + relativeName, googleapis, `not "evil.example"`},
		{"rejects look-alike IAM host", "//iam.googleapis.com.evil.example/" + relativeName, googleapis, `not "iam.googleapis.com.evil.example"`},
		{"rejects IAM host with port", "//iam.googleapis.com:443/" + relativeName, googleapis, `not "iam.googleapis.com:443"`},
		{"rejects user info host", "//user@iam.googleapis.com/" + relativeName, googleapis, `not "user@iam.googleapis.com"`},
		{"rejects uppercase IAM host", "//IAM.googleapis.com/" + relativeName, googleapis, `not "IAM.googleapis.com"`},
		{"rejects host from other universe", fullName, "example-universe.test", "the host must be iam.example-universe.test"},
		{"rejects plain http scheme", "http:" + fullName, googleapis, expectedForm},
		{"rejects name without prefix", "iam.googleapis.com/" + relativeName, googleapis, expectedForm},
		{"rejects leading slash relative", "/" + relativeName, googleapis, expectedForm},
		{"rejects traversal before projects", "//iam.googleapis.com/../" + relativeName, googleapis, expectedForm},
		{"rejects traversal as pool", providerName("123", "global", "..", "my-provider"), googleapis, `the pool ID ".." must be 4 to 32`},
		{"rejects traversal after provider", fullName + "/..", googleapis, expectedForm},
		{"rejects dot segment pool", providerName("123", "global", ".", "my-provider"), googleapis, `the pool ID "." must be 4 to 32`},
		{"rejects query string", fullName + "?alt=json", googleapis, `the provider ID "my-provider?alt=json" must be 4 to 32`},
		{"rejects fragment", fullName + "#x", googleapis, `the provider ID "my-provider#x"`},
		{"rejects at sign", fullName + "@evil.example", googleapis, `the provider ID "my-provider@evil.example"`},
		{"rejects percent encoding", providerName("123", "global", "my%2Fpool", "my-provider"), googleapis, `the pool ID "my%2Fpool"`},
		{"rejects leading space", " " + fullName, googleapis, "white space or control characters"},
		{"rejects trailing newline", fullName + "\n", googleapis, "white space or control characters"},
		{"rejects embedded CRLF", fullName + "\r\nX-Evil: 1", googleapis, "white space or control characters"},
		{"rejects embedded tab", "projects/123/locations/global/workloadIdentityPools/my-pool/providers/\tmy-provider", googleapis, "white space or control characters"},
		{"rejects no-break space", fullName + "\u00a0", googleapis, "white space or control characters"},
		{"rejects line separator", fullName + "\u2028", googleapis, "white space or control characters"},
		{"rejects DEL character", fullName + "\x7f", googleapis, "white space or control characters"},
		{"rejects workforce pool provider", "//iam.googleapis.com/locations/global/workforcePools/my-pool/providers/my-provider", googleapis, "workforce pools federate human users"},
		{"rejects workforce pool https", "https://iam.googleapis.com/locations/global/workforcePools/my-pool/providers/my-provider", googleapis, "workforce pools federate human users"},
		{"rejects workforce pool under project", "projects/123/locations/global/workforcePools/my-pool/providers/my-provider", googleapis, expectedForm},
		{"rejects project ID", providerName("my-project", "global", "my-pool", "my-provider"), googleapis,
			`the project "my-project" must be the project number, not the project ID; find it with: gcloud projects describe my-project`},
		{"rejects project number leading zero", providerName("0123", "global", "my-pool", "my-provider"), googleapis, `the project "0123" must be the project number`},
		{"rejects 20-digit project number", providerName("12345678901234567890", "global", "my-pool", "my-provider"), googleapis, "must be the project number"},
		{"rejects empty project", providerName("", "global", "my-pool", "my-provider"), googleapis, `the project "" must be the project number`},
		{"rejects regional location", providerName("123", "us-central1", "my-pool", "my-provider"), googleapis, `the location "us-central1" must be "global"`},
		{"rejects uppercase global location", providerName("123", "GLOBAL", "my-pool", "my-provider"), googleapis, `the location "GLOBAL" must be "global"`},
		{"rejects short pool ID", providerName("123", "global", "abc", "my-provider"), googleapis, `the pool ID "abc" must be 4 to 32 lower-case letters, digits or hyphens`},
		{"rejects long pool ID", providerName("123", "global", strings.Repeat("p", 33), "my-provider"), googleapis, "the pool ID \"" + strings.Repeat("p", 33) + "\" must be 4 to 32"},
		{"rejects uppercase pool ID", providerName("123", "global", "My-Pool", "my-provider"), googleapis, `the pool ID "My-Pool" must be 4 to 32`},
		{"rejects underscore pool ID", providerName("123", "global", "my_pool", "my-provider"), googleapis, `the pool ID "my_pool"`},
		{"rejects empty pool ID", providerName("123", "global", "", "my-provider"), googleapis, `the pool ID "" must be 4 to 32`},
		{"rejects reserved pool prefix", providerName("123", "global", "gcp-pool", "my-provider"), googleapis, `the pool ID "gcp-pool" starts with "gcp-", which Google reserves`},
		{"rejects short provider ID", providerName("123", "global", "my-pool", "abc"), googleapis, `the provider ID "abc" must be 4 to 32`},
		{"rejects long provider ID", providerName("123", "global", "my-pool", strings.Repeat("q", 33)), googleapis, "the provider ID \"" + strings.Repeat("q", 33) + "\" must be 4 to 32"},
		{"rejects uppercase provider ID", providerName("123", "global", "my-pool", "My-Provider"), googleapis, `the provider ID "My-Provider" must be 4 to 32`},
		{"rejects reserved provider prefix", providerName("123", "global", "my-pool", "gcp-provider"), googleapis, `the provider ID "gcp-provider" starts with "gcp-"`},
		{"rejects trailing slash", fullName + "/", googleapis, expectedForm},
		{"rejects missing provider segment", "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool", googleapis, expectedForm},
		{"rejects pool resource only", "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool/providers", googleapis, expectedForm},
		{"rejects lower-case collection name", "projects/123/locations/global/workloadidentitypools/my-pool/providers/my-provider", googleapis, expectedForm},
		{"rejects doubled slash", "projects/123/locations/global/workloadIdentityPools//my-pool/providers/my-provider", googleapis, expectedForm},
		{"rejects IAM host only", "//iam.googleapis.com", googleapis, expectedForm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identity.ParseProvider(tt.input, tt.universe)
			if err == nil {
				t.Fatalf("ParseProvider(%q) succeeded, want an error", tt.input)
			}
			if !errors.Is(err, identity.ErrInvalidProvider) {
				t.Errorf("ParseProvider(%q) error %v is not ErrInvalidProvider", tt.input, err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("ParseProvider(%q) error %q does not contain %q", tt.input, err, tt.wantMessage)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.input)) {
				t.Errorf("ParseProvider(%q) error %q does not quote the name", tt.input, err)
			}
			if len(err.Error()) >= 1000 {
				t.Errorf("ParseProvider(%q) error is %d bytes long, want under 1000", tt.input, len(err.Error()))
			}
		})
	}
}

func TestParseProviderRedactsTokenValue(t *testing.T) {
	value := "ya29.a0AfB_byC" + strings.Repeat("x", 180)
	_, err := identity.ParseProvider(value, "googleapis.com")
	if err == nil {
		t.Fatal("ParseProvider accepted a token as a provider name")
	}
	if strings.Contains(err.Error(), "ya29.a0AfB") {
		t.Errorf("error %q repeats the token-shaped value", err)
	}
	if !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error %q does not mark the redacted value", err)
	}
}

func TestParseProviderLongInputs(t *testing.T) {
	megabyte := strings.Repeat("a", 1<<20)
	tests := []struct {
		name        string
		input       string
		wantMessage string
	}{
		{"rejects megabyte name", megabyte, "bytes long, more than any provider name"},
		{"rejects megabyte after valid name", fullName + megabyte, "bytes long, more than any provider name"},
		{"rejects megabyte of whitespace", strings.Repeat(" ", 1<<20), "bytes long"},
		{"rejects 513-byte name", fullName + strings.Repeat("a", 513-len(fullName)), "513 bytes long"},
		{"rejects 512-byte bad provider", fullName + strings.Repeat("a", 512-len(fullName)), "the provider ID"},
		{"rejects 512-byte bad host", "//" + strings.Repeat("h", 510), "the host must be iam.googleapis.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := identity.ParseProvider(tt.input, "googleapis.com")
			if err == nil {
				t.Fatalf("ParseProvider of %d bytes succeeded, want an error", len(tt.input))
			}
			if !errors.Is(err, identity.ErrInvalidProvider) {
				t.Errorf("error %.200q is not ErrInvalidProvider", err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %.300q does not contain %q", err, tt.wantMessage)
			}
			if len(err.Error()) >= 1000 {
				t.Errorf("error is %d bytes long, want under 1000", len(err.Error()))
			}
		})
	}
}

func TestProviderStringAndPrincipal(t *testing.T) {
	tests := []struct {
		name          string
		provider      identity.Provider
		subject       string
		wantString    string
		wantPrincipal string
	}{
		{
			name:          "formats default universe names",
			provider:      identity.Provider{UniverseDomain: "googleapis.com", ProjectNumber: "123", Pool: "my-pool", Provider: "my-provider"},
			subject:       "system:serviceaccount:team-a:app",
			wantString:    fullName,
			wantPrincipal: "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool/subject/system:serviceaccount:team-a:app",
		},
		{
			name:          "formats other universe names",
			provider:      identity.Provider{UniverseDomain: "example-universe.test", ProjectNumber: "987654321", Pool: "eks-pool", Provider: "eks-cluster"},
			subject:       "team-b/builder",
			wantString:    "//iam.example-universe.test/projects/987654321/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster",
			wantPrincipal: "principal://iam.example-universe.test/projects/987654321/locations/global/workloadIdentityPools/eks-pool/subject/team-b/builder",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.provider.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
			if got := tt.provider.Principal(tt.subject); got != tt.wantPrincipal {
				t.Errorf("Principal(%q) = %q, want %q", tt.subject, got, tt.wantPrincipal)
			}
		})
	}
}

func TestParseProviderStringRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"round-trips full name", fullName},
		{"round-trips https name", "https:" + fullName},
		{"round-trips relative name", relativeName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := identity.ParseProvider(tt.input, "googleapis.com")
			if err != nil {
				t.Fatalf("ParseProvider(%q) error: %v", tt.input, err)
			}
			again, err := identity.ParseProvider(p.String(), "googleapis.com")
			if err != nil {
				t.Fatalf("ParseProvider(%q) error: %v", p.String(), err)
			}
			if again != p {
				t.Errorf("ParseProvider(String()) = %+v, want %+v", again, p)
			}
		})
	}
}

func TestNormalizeProviderPattern(t *testing.T) {
	const poolPattern = "projects/123/locations/global/workloadIdentityPools/eks-*/providers/*"
	tests := []struct {
		name     string
		pattern  string
		universe string
		want     string
	}{
		{"prefixes relative pattern", poolPattern, "googleapis.com", "//iam.googleapis.com/" + poolPattern},
		{"strips https from pattern", "https://iam.googleapis.com/" + poolPattern, "googleapis.com", "//iam.googleapis.com/" + poolPattern},
		{"keeps full-name pattern", "//iam.googleapis.com/" + poolPattern, "googleapis.com", "//iam.googleapis.com/" + poolPattern},
		{"keeps exact provider name", fullName, "googleapis.com", fullName},
		{"uses other universe host", poolPattern, "example-universe.test", "//iam.example-universe.test/" + poolPattern},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.NormalizeProviderPattern(tt.pattern, tt.universe)
			if err != nil {
				t.Fatalf("NormalizeProviderPattern(%q) error: %v", tt.pattern, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeProviderPattern(%q) = %q, want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestNormalizeProviderPatternRejected(t *testing.T) {
	tests := []struct {
		name        string
		pattern     string
		universe    string
		wantMessage string
	}{
		{"rejects empty pattern", "", "googleapis.com", "must start with //iam.googleapis.com/projects/ or projects/"},
		{"rejects bare wildcard", "*", "googleapis.com", "must start with //iam.googleapis.com/projects/ or projects/"},
		{"rejects other host", "//iam.evil.example/" + relativeName, "googleapis.com", "must start with //iam.googleapis.com/projects/"},
		{"rejects look-alike https host", "https://iam.googleapis.com.evil.example/" + relativeName, "googleapis.com", "must start with //iam.googleapis.com/projects/"},
		{"rejects host without slashes", "iam.googleapis.com/" + relativeName, "googleapis.com", "must start with //iam.googleapis.com/projects/"},
		{"rejects plain http scheme", "http://iam.googleapis.com/" + relativeName, "googleapis.com", "must start with //iam.googleapis.com/projects/"},
		{"rejects wildcard host", "//iam.*/" + relativeName, "googleapis.com", "must start with //iam.googleapis.com/projects/"},
		{"rejects default universe elsewhere", fullName, "example-universe.test", "must start with //iam.example-universe.test/projects/ or projects/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.NormalizeProviderPattern(tt.pattern, tt.universe)
			if err == nil {
				t.Fatalf("NormalizeProviderPattern(%q) = %q, want an error", tt.pattern, got)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("NormalizeProviderPattern(%q) error %q does not contain %q", tt.pattern, err, tt.wantMessage)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.pattern)) {
				t.Errorf("NormalizeProviderPattern(%q) error %q does not quote the pattern", tt.pattern, err)
			}
		})
	}
}
