package registry

import (
	"strings"
	"testing"
)

func FuzzParseImage(f *testing.F) {
	for _, seed := range []string{
		"gcr.io/p/app", "us-docker.pkg.dev/p/r/app:1.0", "docker.us-central1.rep.pkg.dev/p/r/app@sha256:abc",
		"[::1]:5000/app", "gcr.io.evil.example/app", "localhost/app", "GCR.IO:443/p", "nginx",
	} {
		f.Add(seed)
	}
	matcher, err := NewMatcher(nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, image string) {
		host, err := ParseImage(image)
		if err != nil {
			return
		}
		if !strings.HasPrefix(image, host.Raw+"/") {
			t.Fatalf("host %q is not the start of image %q", host.Raw, image)
		}
		if host.Name != strings.ToLower(host.Name) {
			t.Fatalf("host name %q is not lower case", host.Name)
		}
		// Without extra hosts, only Google registry names may receive
		// credentials.
		if matcher.Allows(host) != IsGoogleRegistry(host.Name) {
			t.Fatalf("Allows(%q) disagrees with IsGoogleRegistry", host.Raw)
		}
		if IsGoogleRegistry(host.Name) && !strings.HasSuffix(host.Name, ".gcr.io") && host.Name != "gcr.io" && !strings.HasSuffix(host.Name, ".pkg.dev") {
			t.Fatalf("%q passed as a Google registry", host.Name)
		}
	})
}

func FuzzNewMatcher(f *testing.F) {
	for _, seed := range []string{"registry.example.com", "*.registry.example", "10.0.0.5:5000", "[::1]:5000", "*", "*.com", "registry.*.com"} {
		f.Add(seed, "registry.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, hostname string) {
		m, err := NewMatcher([]string{pattern})
		if err != nil {
			return
		}
		host, err := ParseHost(hostname)
		if err != nil || IsGoogleRegistry(host.Name) || !m.Allows(host) {
			return
		}
		// A pattern fixes its domain: the host must end with the pattern's
		// last two labels.
		name, _, _ := strings.Cut(strings.ToLower(pattern), ":")
		if strings.HasPrefix(name, "[") {
			return
		}
		labels := strings.Split(name, ".")
		domain := strings.Join(labels[max(0, len(labels)-2):], ".")
		if host.Name != domain && !strings.HasSuffix(host.Name, "."+domain) {
			t.Fatalf("pattern %q allows host %q outside its domain", pattern, hostname)
		}
	})
}
