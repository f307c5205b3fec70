package conformance

import (
	"strings"
	"testing"
)

// wantCredential checks that creds is exactly one credential carrying an
// access token that the fake issued to wantPrincipal or to the impersonated
// wantServiceAccount.
func (e *env) wantCredential(t *testing.T, creds []credential, wantPrincipal, wantServiceAccount string) {
	t.Helper()
	if len(creds) != 1 {
		t.Fatalf("the kubelet returned %d credentials, want 1", len(creds))
	}
	if creds[0].username != "oauth2accesstoken" {
		t.Errorf("username = %q, want oauth2accesstoken", creds[0].username)
	}
	info, ok := e.fake.Lookup(creds[0].password)
	if !ok {
		t.Fatalf("the password is not an access token the fake issued")
	}
	if wantPrincipal != "" && info.Principal != wantPrincipal {
		t.Errorf("token principal = %q, want %q", info.Principal, wantPrincipal)
	}
	if wantServiceAccount != "" && info.ServiceAccount != wantServiceAccount {
		t.Errorf("token service account = %q, want %q", info.ServiceAccount, wantServiceAccount)
	}
}

func principal(pool, namespace, name string) string {
	return "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/" + pool +
		"/subject/system:serviceaccount:" + namespace + ":" + name
}

// Images checks which images get credentials.
func Images(t *testing.T) {
	e := setup(t)
	images := []struct {
		name  string
		image string
	}{
		{"container registry gcr.io", "gcr.io/demo-project/app"},
		{"container registry us.gcr.io", "us.gcr.io/demo-project/app"},
		{"artifact registry regional host", "europe-west1-docker.pkg.dev/demo-project/images/app"},
		{"artifact registry multi-region host", "us-docker.pkg.dev/demo-project/images/app"},
		{"artifact registry regional endpoint", "docker.us-central1.rep.pkg.dev/demo-project/images/app"},
	}
	for _, tt := range images {
		t.Run(tt.name, func(t *testing.T) {
			sa := e.addServiceAccount(t, "team-a", nil)
			before := e.tokenRequestCount()
			creds := e.lookup("team-a", sa, tt.image)
			e.wantCredential(t, creds, principal("eks-pool", "team-a", sa), "")

			if e.tokenRequestCount() != before+1 {
				t.Fatalf("token requests = %d, want 1 more", e.tokenRequestCount()-before)
			}
			req := e.lastTokenRequest()
			if len(req.audiences) != 1 || req.audiences[0] != e.audience {
				t.Errorf("token audiences = %v, want exactly [%s]", req.audiences, e.audience)
			}
			if req.namespace != "team-a" || req.name != sa {
				t.Errorf("token for %s/%s, want team-a/%s", req.namespace, req.name, sa)
			}
			if req.boundPod != "Pod/"+sa+"-pod" {
				t.Errorf("token bound to %q, want the pod", req.boundPod)
			}
		})
	}

	t.Run("other registry runs nothing", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", nil)
		tokensBefore, stsBefore := e.tokenRequestCount(), e.fake.STSRequests()
		creds := e.lookup("team-a", sa, "quay.io/org/app")
		if len(creds) != 0 {
			t.Errorf("the kubelet returned %d credentials for quay.io, want none", len(creds))
		}
		if e.tokenRequestCount() != tokensBefore {
			t.Errorf("the kubelet requested a token for an image the plugin does not match")
		}
		if e.fake.STSRequests() != stsBefore {
			t.Errorf("the plugin ran for an image it does not match")
		}
	})
}

// Cache checks that the kubelet caches per service account and annotations
// under cacheType ServiceAccount.
func Cache(t *testing.T) {
	e := setup(t)
	const image = "us-docker.pkg.dev/demo-project/images/app"

	t.Run("same service account cached", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", nil)
		before := e.fake.STSRequests()
		first := e.lookup("team-a", sa, image)
		second := e.lookup("team-a", sa, image)
		if n := e.fake.STSRequests() - before; n != 1 {
			t.Errorf("STS exchanges = %d, want 1", n)
		}
		if len(first) != 1 || len(second) != 1 || first[0] != second[0] {
			t.Errorf("the second lookup did not return the cached credential")
		}
	})

	t.Run("other service account exchanges", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", nil)
		other := sa + "-other"
		e.setServiceAccount(t, "team-a", other, nil)
		before := e.fake.STSRequests()
		e.wantCredential(t, e.lookup("team-a", sa, image), principal("eks-pool", "team-a", sa), "")
		e.wantCredential(t, e.lookup("team-a", other, image), principal("eks-pool", "team-a", other), "")
		if n := e.fake.STSRequests() - before; n != 2 {
			t.Errorf("STS exchanges = %d, want 2", n)
		}
	})

	t.Run("changed annotation exchanges again", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", nil)
		before := e.fake.STSRequests()
		e.wantCredential(t, e.lookup("team-a", sa, image), principal("eks-pool", "team-a", sa), "")
		e.setServiceAccount(t, "team-a", sa, map[string]string{impersonationKey: readerEmail})
		e.wantCredential(t, e.lookup("team-a", sa, image), "", readerEmail)
		if n := e.fake.STSRequests() - before; n != 2 {
			t.Errorf("STS exchanges = %d, want 2", n)
		}
	})
}

// CacheTypeToken checks that under cacheType Token a new token means a new
// exchange. It runs in a child process with that configuration.
func CacheTypeToken(t *testing.T) {
	if !runVariant(t, variantToken) {
		return
	}
	e := setup(t)
	sa := e.addServiceAccount(t, "team-a", nil)
	before := e.fake.STSRequests()
	e.wantCredential(t, e.lookup("team-a", sa, "gcr.io/demo-project/app"), principal("eks-pool", "team-a", sa), "")
	e.forgetTokens("team-a", sa)
	e.wantCredential(t, e.lookup("team-a", sa, "gcr.io/demo-project/app"), principal("eks-pool", "team-a", sa), "")
	if n := e.fake.STSRequests() - before; n != 2 {
		t.Errorf("STS exchanges = %d, want 2: the second lookup brings a new token", n)
	}
}

// RequiredAnnotation checks that the kubelet does not run the plugin for a
// service account without a required annotation. It runs in a child process
// whose configuration requires the provider annotation.
func RequiredAnnotation(t *testing.T) {
	if !runVariant(t, variantRequired) {
		return
	}
	e := setup(t)

	t.Run("missing annotation skips plugin", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", nil)
		tokensBefore, stsBefore := e.tokenRequestCount(), e.fake.STSRequests()
		if creds := e.lookup("team-a", sa, "gcr.io/demo-project/app"); len(creds) != 0 {
			t.Errorf("the kubelet returned %d credentials, want none", len(creds))
		}
		if e.tokenRequestCount() != tokensBefore || e.fake.STSRequests() != stsBefore {
			t.Errorf("the kubelet ran the plugin without the required annotation")
		}
	})

	t.Run("present annotation runs plugin", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-a", map[string]string{providerKey: aksProvider})
		e.wantCredential(t, e.lookup("team-a", sa, "gcr.io/demo-project/app"), principal("aks-pool", "team-a", sa), "")
	})
}

// Annotations checks provider selection and impersonation end to end.
func Annotations(t *testing.T) {
	e := setup(t)
	const image = "europe-west1-docker.pkg.dev/demo-project/images/app"

	t.Run("annotation selects AKS provider", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-b", map[string]string{providerKey: aksProvider})
		e.wantCredential(t, e.lookup("team-b", sa, image), principal("aks-pool", "team-b", sa), "")
	})

	t.Run("annotation selects impersonation", func(t *testing.T) {
		sa := e.addServiceAccount(t, "team-b", map[string]string{impersonationKey: readerEmail})
		iamBefore := e.fake.IAMRequests()
		e.wantCredential(t, e.lookup("team-b", sa, image), "", readerEmail)
		if n := e.fake.IAMRequests() - iamBefore; n != 1 {
			t.Errorf("IAM requests = %d, want 1", n)
		}
	})
}

// PluginFailure checks that a failing plugin leaves no credentials and that
// the kubelet logs the plugin's clear error without any token.
func PluginFailure(t *testing.T) {
	e := setup(t)
	cases := []struct {
		name        string
		annotations map[string]string
		wantInLog   []string
	}{
		{
			name:        "impersonation permission denied",
			annotations: map[string]string{providerKey: aksProvider, impersonationKey: readerEmail},
			wantInLog:   []string{"PERMISSION_DENIED", "roles/iam.workloadIdentityUser", "--member=principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/subject/system:serviceaccount:team-c:"},
		},
		{
			name:        "invalid provider annotation",
			annotations: map[string]string{providerKey: "projects/my-project/locations/global/workloadIdentityPools/pool/providers/provider"},
			wantInLog:   []string{"invalid workload identity provider", "project number"},
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			sa := e.addServiceAccount(t, "team-c", tt.annotations)
			offset := e.logOffset()
			if creds := e.lookup("team-c", sa, "gcr.io/demo-project/app"); len(creds) != 0 {
				t.Errorf("the kubelet returned %d credentials, want none", len(creds))
			}
			log := e.logSince(offset)
			// The surrounding message differs between kubelet releases; the
			// exec error and the plugin's stderr are in all of them.
			if !strings.Contains(log, "error execing credential provider plugin "+pluginName) {
				t.Fatalf("the kubelet logged no plugin failure: %q", log)
			}
			if !strings.Contains(log, pluginName+": ") {
				t.Errorf("the kubelet log does not carry the plugin's stderr: %q", log)
			}
			for _, want := range tt.wantInLog {
				if !strings.Contains(log, want) {
					t.Errorf("the kubelet log does not contain %q: %q", want, log)
				}
			}
			if strings.Contains(log, "eyJ") {
				t.Errorf("the kubelet log contains a JWT fragment")
			}
			for _, token := range e.fake.Tokens() {
				if strings.Contains(log, token) {
					t.Errorf("the kubelet log contains an access token")
				}
			}
		})
	}
}
