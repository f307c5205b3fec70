package registry_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImageAccepted(t *testing.T) {
	tests := []struct {
		name     string
		image    string
		wantName string
		wantPort string
		wantRaw  string
	}{
		{"accepts gcr host", "gcr.io/my-project/app", "gcr.io", "", "gcr.io"},
		{"accepts regional gcr with tag", "us.gcr.io/my-project/app:v1", "us.gcr.io", "", "us.gcr.io"},
		{"accepts multi-region artifact registry", "us-docker.pkg.dev/my-project/repo/app:1.2.3", "us-docker.pkg.dev", "", "us-docker.pkg.dev"},
		{"accepts image with digest", "europe-west1-docker.pkg.dev/p/r/app@" + digest, "europe-west1-docker.pkg.dev", "", "europe-west1-docker.pkg.dev"},
		{"accepts tag and digest", "gcr.io/p/app:v1@" + digest, "gcr.io", "", "gcr.io"},
		{"accepts regional rep endpoint", "docker.us-central1.rep.pkg.dev/p/r/app", "docker.us-central1.rep.pkg.dev", "", "docker.us-central1.rep.pkg.dev"},
		{"lowers uppercase host name", "GCR.IO/p/app", "gcr.io", "", "GCR.IO"},
		{"lowers mixed case host", "Us-Docker.Pkg.Dev/p/r/app", "us-docker.pkg.dev", "", "Us-Docker.Pkg.Dev"},
		{"splits host and port", "registry.example.com:5000/app", "registry.example.com", "5000", "registry.example.com:5000"},
		{"accepts localhost without port", "localhost/app", "localhost", "", "localhost"},
		{"accepts localhost with port", "localhost:5000/app:v1", "localhost", "5000", "localhost:5000"},
		{"accepts IPv4 host with port", "10.0.0.5:5000/app", "10.0.0.5", "5000", "10.0.0.5:5000"},
		{"accepts IPv6 literal with port", "[::1]:5000/app", "::1", "5000", "[::1]:5000"},
		{"accepts IPv6 literal without port", "[fd00::5]/app", "fd00::5", "", "[fd00::5]"},
		{"accepts single-label host with port", "registry:5000/app", "registry", "5000", "registry:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, err := registry.ParseImage(tt.image)
			if err != nil {
				t.Fatalf("ParseImage(%q) error: %v", tt.image, err)
			}
			if host.Name != tt.wantName {
				t.Errorf("ParseImage(%q).Name = %q, want %q", tt.image, host.Name, tt.wantName)
			}
			if host.Port != tt.wantPort {
				t.Errorf("ParseImage(%q).Port = %q, want %q", tt.image, host.Port, tt.wantPort)
			}
			if host.Raw != tt.wantRaw {
				t.Errorf("ParseImage(%q).Raw = %q, want %q", tt.image, host.Raw, tt.wantRaw)
			}
		})
	}
}

func TestParseImageRejected(t *testing.T) {
	tests := []struct {
		name        string
		image       string
		wantMessage string
	}{
		{"rejects empty image name", "", "the image name is empty"},
		{"rejects bare Docker Hub name", "nginx", "expected HOST/REPOSITORY"},
		{"rejects bare name with tag", "nginx:1.27", "expected HOST/REPOSITORY"},
		{"rejects Docker Hub library path", "library/nginx", "refers to Docker Hub"},
		{"rejects Docker Hub user path", "someone/app:v1", "refers to Docker Hub"},
		{"rejects host without repository", "gcr.io/", "expected HOST/REPOSITORY"},
		{"rejects port zero", "gcr.io:0/app", `invalid port "0"`},
		{"rejects port above range", "gcr.io:65536/app", `invalid port "65536"`},
		{"rejects port leading zero", "gcr.io:0443/app", `invalid port "0443"`},
		{"rejects signed port number", "gcr.io:+443/app", `invalid port "+443"`},
		{"rejects empty port after colon", "gcr.io:/app", `invalid port ""`},
		{"rejects non-numeric port", "gcr.io:https/app", `invalid port "https"`},
		{"rejects URL scheme prefix", "https://gcr.io/app", "invalid port"},
		{"rejects unclosed IPv6 bracket", "[::1/app", "unclosed IPv6 bracket"},
		{"rejects underscore in host", "bad_host.example.com/app", "not a valid DNS name"},
		{"rejects host with user info", "user@gcr.io/app", "not a valid DNS name"},
		{"rejects leading hyphen host", "-gcr.io/app", "not a valid DNS name"},
		{"rejects empty DNS label", "gcr..io/app", "not a valid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := registry.ParseImage(tt.image)
			if err == nil {
				t.Fatalf("ParseImage(%q) succeeded, want an error", tt.image)
			}
			if !errors.Is(err, registry.ErrInvalidImage) {
				t.Errorf("ParseImage(%q) error %v is not ErrInvalidImage", tt.image, err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("ParseImage(%q) error %q does not contain %q", tt.image, err, tt.wantMessage)
			}
			if tt.image != "" && !strings.Contains(err.Error(), strconv.Quote(tt.image)) {
				t.Errorf("ParseImage(%q) error %q does not name the image", tt.image, err)
			}
		})
	}
}

func TestParseHostAccepted(t *testing.T) {
	longName := strings.Join([]string{
		strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 61),
	}, ".")
	tests := []struct {
		name     string
		raw      string
		wantName string
		wantPort string
	}{
		{"accepts plain host name", "gcr.io", "gcr.io", ""},
		{"lowers uppercase host name", "GCR.IO", "gcr.io", ""},
		{"accepts lowest valid port", "registry.example.com:1", "registry.example.com", "1"},
		{"accepts highest valid port", "registry.example.com:65535", "registry.example.com", "65535"},
		{"accepts IPv4 address", "10.0.0.5", "10.0.0.5", ""},
		{"accepts IPv6 loopback", "[::1]", "::1", ""},
		{"accepts IPv6 with port", "[::1]:5000", "::1", "5000"},
		{"lowers uppercase IPv6 literal", "[FE80::1]:443", "fe80::1", "443"},
		{"accepts 63-character label", strings.Repeat("a", 63) + ".example", strings.Repeat("a", 63) + ".example", ""},
		{"accepts 253-character name", longName, longName, ""},
		{"accepts digits and hyphens", "r-1.example-2.com", "r-1.example-2.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, err := registry.ParseHost(tt.raw)
			if err != nil {
				t.Fatalf("ParseHost(%q) error: %v", tt.raw, err)
			}
			if host.Name != tt.wantName {
				t.Errorf("ParseHost(%q).Name = %q, want %q", tt.raw, host.Name, tt.wantName)
			}
			if host.Port != tt.wantPort {
				t.Errorf("ParseHost(%q).Port = %q, want %q", tt.raw, host.Port, tt.wantPort)
			}
			if host.Raw != tt.raw {
				t.Errorf("ParseHost(%q).Raw = %q, want the input unchanged", tt.raw, host.Raw)
			}
		})
	}
}

func TestParseHostRejected(t *testing.T) {
	tooLong := strings.Join([]string{
		strings.Repeat("a", 63), strings.Repeat("b", 63), strings.Repeat("c", 63), strings.Repeat("d", 62),
	}, ".")
	tests := []struct {
		name        string
		raw         string
		wantMessage string
	}{
		{"rejects empty host", "", "not a valid DNS name"},
		{"rejects port zero", "registry.example.com:0", `invalid port "0"`},
		{"rejects port 65536", "registry.example.com:65536", `invalid port "65536"`},
		{"rejects port leading zero", "registry.example.com:05000", `invalid port "05000"`},
		{"rejects empty port", "registry.example.com:", `invalid port ""`},
		{"rejects negative port", "registry.example.com:-1", `invalid port "-1"`},
		{"rejects non-numeric port", "registry.example.com:abc", `invalid port "abc"`},
		{"rejects unclosed IPv6 bracket", "[::1", "unclosed IPv6 bracket"},
		{"rejects unclosed bracket with port", "[::1:5000", "unclosed IPv6 bracket"},
		{"rejects text after IPv6", "[::1]x", "text after the IPv6 address"},
		{"rejects empty IPv6 port", "[::1]:", `invalid port ""`},
		{"rejects IPv6 port zero", "[::1]:0", `invalid port "0"`},
		{"rejects IPv4 in brackets", "[10.0.0.5]", "not a valid IPv6 address"},
		{"rejects name in brackets", "[registry.example.com]", "not a valid IPv6 address"},
		{"rejects empty brackets", "[]", "not a valid IPv6 address"},
		{"rejects IPv6 without brackets", "::1", "not a valid DNS name"},
		{"rejects two colons", "registry:5000:6000", "not a valid DNS name"},
		{"rejects empty label", "registry..example.com", "not a valid DNS name"},
		{"rejects trailing dot", "registry.example.com.", "not a valid DNS name"},
		{"rejects leading hyphen label", "-registry.example.com", "not a valid DNS name"},
		{"rejects trailing hyphen label", "registry-.example.com", "not a valid DNS name"},
		{"rejects 64-character label", strings.Repeat("a", 64) + ".example", "not a valid DNS name"},
		{"rejects 254-character name", tooLong, "not a valid DNS name"},
		{"rejects underscore in label", "my_registry.example.com", "not a valid DNS name"},
		{"rejects non-ASCII letter", "registry.exämple.com", "not a valid DNS name"},
		{"rejects path after host", "gcr.io/evil", "not a valid DNS name"},
		{"rejects user info", "user@gcr.io", "not a valid DNS name"},
		{"rejects embedded space", "gcr .io", "not a valid DNS name"},
		{"rejects port on invalid name", "bad_name:5000", "not a valid DNS name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := registry.ParseHost(tt.raw)
			if err == nil {
				t.Fatalf("ParseHost(%q) succeeded, want an error", tt.raw)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("ParseHost(%q) error %q does not contain %q", tt.raw, err, tt.wantMessage)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.raw)) {
				t.Errorf("ParseHost(%q) error %q does not name the host", tt.raw, err)
			}
		})
	}
}
