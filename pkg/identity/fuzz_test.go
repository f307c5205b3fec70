package identity

import (
	"strings"
	"testing"
)

func FuzzParseProvider(f *testing.F) {
	for _, seed := range []string{
		"//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
		"https://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
		"projects/123/locations/global/workloadIdentityPools/pool/providers/prov",
		"//iam.googleapis.com/locations/global/workforcePools/pool/providers/prov",
		"//evil.example/projects/1/locations/global/workloadIdentityPools/pool/providers/prov",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := ParseProvider(name, DefaultUniverseDomain)
		if err != nil {
			if len(err.Error()) > 2048 {
				t.Fatalf("error of %d bytes for input of %d bytes", len(err.Error()), len(name))
			}
			return
		}
		full := p.String()
		if !strings.HasPrefix(full, "//iam.googleapis.com/projects/") {
			t.Fatalf("ParseProvider(%q) = %q, outside the IAM host", name, full)
		}
		again, err := ParseProvider(full, DefaultUniverseDomain)
		if err != nil || again != p {
			t.Fatalf("ParseProvider(%q) = %+v, %v; want the same provider", full, again, err)
		}
		if strings.ContainsAny(full, " \t\r\n?#@%") || strings.Contains(full, "..") {
			t.Fatalf("ParseProvider(%q) produced %q", name, full)
		}
	})
}

func FuzzValidateServiceAccount(f *testing.F) {
	for _, seed := range []string{
		"reader@demo-project.iam.gserviceaccount.com", "demo-project@appspot.gserviceaccount.com",
		"123-compute@developer.gserviceaccount.com", "admin@example.com", "a@b@c", "Reader@demo-project.iam.gserviceaccount.com",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, email string) {
		if err := ValidateServiceAccount(email); err != nil {
			return
		}
		if strings.Count(email, "@") != 1 || email != strings.ToLower(email) || len(email) > 254 {
			t.Fatalf("accepted %q", email)
		}
		if !strings.HasSuffix(email, ".gserviceaccount.com") || strings.ContainsAny(email, " \t\r\n/?#%") {
			t.Fatalf("accepted %q", email)
		}
	})
}
