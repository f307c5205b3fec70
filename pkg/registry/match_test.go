package registry_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
)

func TestIsGoogleRegistry(t *testing.T) {
	tests := []struct {
		name string
		host string
		want bool
	}{
		{"accepts Container Registry apex", "gcr.io", true},
		{"accepts us gcr subdomain", "us.gcr.io", true},
		{"accepts eu gcr subdomain", "eu.gcr.io", true},
		{"accepts asia gcr subdomain", "asia.gcr.io", true},
		{"accepts multi-region artifact registry", "us-docker.pkg.dev", true},
		{"accepts regional artifact registry", "europe-west1-docker.pkg.dev", true},
		{"accepts regional rep endpoint", "docker.us-central1.rep.pkg.dev", true},
		{"accepts multi-region rep endpoint", "docker.eu.rep.pkg.dev", true},
		{"rejects gcr suffix look-alike", "gcr.io.evil.example", false},
		{"rejects gcr without dot", "evilgcr.io", false},
		{"rejects two-label gcr subdomain", "a.b.gcr.io", false},
		{"rejects empty gcr label", ".gcr.io", false},
		{"rejects hyphen-led gcr label", "-us.gcr.io", false},
		{"rejects hyphen-ended gcr label", "us-.gcr.io", false},
		{"rejects pkg.dev under other domain", "pkg.dev.example.com", false},
		{"rejects bare docker.pkg.dev", "docker.pkg.dev", false},
		{"rejects empty location prefix", "-docker.pkg.dev", false},
		{"rejects artifact registry suffix look-alike", "us-docker.pkg.dev.evil.example", false},
		{"rejects dotted location prefix", "evil.us-docker.pkg.dev", false},
		{"rejects double hyphen location", "us--docker.pkg.dev", false},
		{"rejects underscore in location", "us_x-docker.pkg.dev", false},
		{"rejects 64-character location", strings.Repeat("a", 64) + "-docker.pkg.dev", false},
		{"rejects rep endpoint without region", "docker.rep.pkg.dev", false},
		{"rejects rep endpoint empty region", "docker..rep.pkg.dev", false},
		{"rejects dotted rep region", "docker.a.b.rep.pkg.dev", false},
		{"rejects rep endpoint look-alike", "docker.us-central1.rep.pkg.dev.evil.example", false},
		{"rejects rep endpoint without docker", "us-central1.rep.pkg.dev", false},
		{"rejects bare pkg.dev", "pkg.dev", false},
		{"rejects uppercase gcr host", "GCR.IO", false},
		{"rejects uppercase artifact registry", "US-DOCKER.PKG.DEV", false},
		{"rejects host with port", "gcr.io:443", false},
		{"rejects trailing dot gcr", "gcr.io.", false},
		{"rejects empty host name", "", false},
		{"rejects Docker Hub host", "docker.io", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := registry.IsGoogleRegistry(tt.host); got != tt.want {
				t.Errorf("IsGoogleRegistry(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestNewMatcherRejected(t *testing.T) {
	tests := []struct {
		name        string
		extra       []string
		wantMessage string
	}{
		{"rejects URL with scheme", []string{"https://registry.example.com"}, "without a scheme or path"},
		{"rejects host with path", []string{"registry.example.com/team"}, "without a scheme or path"},
		{"rejects partial wildcard label", []string{"reg*.example.com"}, `a "*" must be a whole DNS label`},
		{"rejects lone wildcard", []string{"*"}, "matches too many hosts"},
		{"rejects wildcard second-level domain", []string{"registry.*.com"}, "matches too many hosts"},
		{"rejects wildcard top-level domain", []string{"registry.example.*"}, "matches too many hosts"},
		{"rejects wildcard over top-level domain", []string{"*.com"}, "matches too many hosts"},
		{"rejects two wildcards one literal", []string{"*.*.com"}, "matches too many hosts"},
		{"rejects wildcard with port only", []string{"*:5000"}, "matches too many hosts"},
		{"rejects wildcard label suffix", []string{"*reg.example.com"}, `a "*" must be a whole DNS label`},
		{"rejects empty pattern", []string{""}, "not a valid DNS name"},
		{"rejects empty label pattern", []string{"*..example.com"}, "not a valid DNS name"},
		{"rejects port zero pattern", []string{"registry.example.com:0"}, "invalid port"},
		{"rejects empty port pattern", []string{"*.example.com:"}, "invalid port"},
		{"rejects unclosed IPv6 pattern", []string{"[::1"}, "unclosed IPv6 bracket"},
		{"rejects wildcard IPv6 pattern", []string{"[*]"}, "not a valid IPv6 address"},
		{"rejects second bad pattern", []string{"registry.example.com", "bad_host"}, "not a valid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := registry.NewMatcher(tt.extra)
			if err == nil {
				t.Fatalf("NewMatcher(%q) succeeded, want an error", tt.extra)
			}
			if m != nil {
				t.Errorf("NewMatcher(%q) returned a matcher along with the error", tt.extra)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("NewMatcher(%q) error %q does not contain %q", tt.extra, err, tt.wantMessage)
			}
		})
	}
}

func TestMatcherAllows(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		host  string
		want  bool
	}{
		{"allows gcr without extras", nil, "gcr.io", true},
		{"allows artifact registry without extras", nil, "us-docker.pkg.dev", true},
		{"allows rep endpoint without extras", nil, "docker.us-central1.rep.pkg.dev", true},
		{"allows uppercase Google host", nil, "US-DOCKER.PKG.DEV", true},
		{"rejects other host without extras", nil, "registry.example.com", false},
		{"rejects gcr look-alike host", nil, "gcr.io.evil.example", false},
		{"rejects artifact registry look-alike", nil, "us-docker.pkg.dev.evil.example", false},
		{"rejects localhost without extras", nil, "localhost:5000", false},
		{"allows exact extra host", []string{"registry.example.com"}, "registry.example.com", true},
		{"literal label is not wildcard", []string{"wildcard-label.example.com"}, "attacker.example.com", false},
		{"allows exact host uppercase", []string{"registry.example.com"}, "REGISTRY.Example.com", true},
		{"lowers uppercase extra pattern", []string{"Registry.Example.COM"}, "registry.example.com", true},
		{"rejects subdomain of exact host", []string{"registry.example.com"}, "sub.registry.example.com", false},
		{"rejects parent of exact host", []string{"registry.example.com"}, "example.com", false},
		{"rejects exact host with port", []string{"registry.example.com"}, "registry.example.com:5000", false},
		{"rejects exact host suffix", []string{"registry.example.com"}, "registry.example.com.evil.example", false},
		{"allows wildcard one label", []string{"*.example.com"}, "registry.example.com", true},
		{"rejects wildcard zero labels", []string{"*.example.com"}, "example.com", false},
		{"rejects wildcard two labels", []string{"*.example.com"}, "a.b.example.com", false},
		{"rejects wildcard other domain", []string{"*.example.com"}, "registry.example.org", false},
		{"rejects wildcard with unexpected port", []string{"*.example.com"}, "registry.example.com:5000", false},
		{"allows wildcard with matching port", []string{"*.example.com:5000"}, "registry.example.com:5000", true},
		{"rejects wildcard missing port", []string{"*.example.com:5000"}, "registry.example.com", false},
		{"rejects wildcard other port", []string{"*.example.com:5000"}, "registry.example.com:5001", false},
		{"allows two wildcard labels", []string{"*.*.example.com"}, "a.b.example.com", true},
		{"rejects two wildcards one label", []string{"*.*.example.com"}, "a.example.com", false},
		{"allows inner wildcard label", []string{"registry.*.example.com"}, "registry.eu.example.com", true},
		{"allows IPv4 with port", []string{"10.0.0.5:5000"}, "10.0.0.5:5000", true},
		{"rejects IPv4 without port", []string{"10.0.0.5:5000"}, "10.0.0.5", false},
		{"rejects other IPv4 address", []string{"10.0.0.5:5000"}, "10.0.0.6:5000", false},
		{"allows IPv6 with port", []string{"[::1]:5000"}, "[::1]:5000", true},
		{"rejects IPv6 without port", []string{"[::1]:5000"}, "[::1]", false},
		{"rejects other IPv6 address", []string{"[::1]:5000"}, "[::2]:5000", false},
		{"allows localhost with port", []string{"localhost:5000"}, "localhost:5000", true},
		{"allows second extra pattern", []string{"one.example.com", "two.example.com"}, "two.example.com", true},
		{"rejects host matching neither pattern", []string{"one.example.com", "two.example.com"}, "three.example.com", false},
		{"allows Google host with extras", []string{"registry.example.com"}, "gcr.io", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := registry.NewMatcher(tt.extra)
			if err != nil {
				t.Fatalf("NewMatcher(%q) error: %v", tt.extra, err)
			}
			host, err := registry.ParseHost(tt.host)
			if err != nil {
				t.Fatalf("ParseHost(%q) error: %v", tt.host, err)
			}
			if got := m.Allows(host); got != tt.want {
				t.Errorf("NewMatcher(%s).Allows(%q) = %v, want %v", quoteAll(tt.extra), tt.host, got, tt.want)
			}
		})
	}
}

func quoteAll(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
