package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/testnet"
)

// Error kinds: the words that name the failure in the stderr line. Errors
// about an annotation start with the annotation and service account, then
// the kind.
const (
	kindRequest        = "invalid CredentialProviderRequest: "
	kindImage          = "invalid image "
	kindNotGoogle      = "not a Google registry: "
	kindMissingToken   = "missing service account token: "
	kindToken          = "invalid service account token: "
	kindProvider       = "invalid workload identity provider "
	kindServiceAccount = "invalid Google service account "
	kindNotAllowed     = "not allowed: "
	kindSTS            = "STS token exchange failed "
)

// requestWith returns a v1 request with the given fields set over a valid
// base: image gcr.io/demo-project/app, a valid EKS token and the EKS
// provider annotation. A nil value removes the field.
func requestWith(t *testing.T, e *env, fields map[string]any) []byte {
	t.Helper()
	req := map[string]any{
		"apiVersion":                "credentialprovider.kubelet.k8s.io/v1",
		"kind":                      "CredentialProviderRequest",
		"image":                     "gcr.io/demo-project/app",
		"serviceAccountToken":       token(t, e.eks, issuer.ServiceAccount{}),
		"serviceAccountAnnotations": map[string]string{providerKey: eksProvider},
	}
	for k, v := range fields {
		if v == nil {
			delete(req, k)
		} else {
			req[k] = v
		}
	}
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func annotations(provider, serviceAccount string) map[string]string {
	a := map[string]string{providerKey: provider}
	if serviceAccount != "" {
		a[impersonationKey] = serviceAccount
	}
	return a
}

func TestBadInput(t *testing.T) {
	// Kubernetes caps all annotations of an object at 256 KiB and the plugin
	// caps a request at 1 MiB, so the largest annotation that reaches the
	// plugin's checks is well under a megabyte.
	huge := strings.Repeat("a", 600<<10)
	validRequest := func(t *testing.T, e *env) string { return string(requestWith(t, e, nil)) }
	tests := []struct {
		name string
		// stdin returns the plugin's input.
		stdin func(t *testing.T, e *env) []byte
		args  []string
		// wantKind is the kind of error; wantInErr are further substrings.
		wantKind  string
		wantInErr []string
	}{
		// Standard input.
		{name: "stdin empty", stdin: raw(""), wantKind: kindRequest, wantInErr: []string{"standard input is empty"}},
		{name: "stdin not JSON", stdin: raw("hello"), wantKind: kindRequest, wantInErr: []string{"not valid JSON"}},
		{name: "stdin JSON array", stdin: raw(`[{"kind":"CredentialProviderRequest"}]`), wantKind: kindRequest, wantInErr: []string{"expected a JSON object, found a JSON array"}},
		{name: "stdin truncated object", stdin: func(t *testing.T, e *env) []byte { r := validRequest(t, e); return []byte(r[:len(r)/2]) }, wantKind: kindRequest, wantInErr: []string{"truncated"}},
		{name: "stdin trailing garbage", stdin: func(t *testing.T, e *env) []byte { return []byte(validRequest(t, e) + "xyz") }, wantKind: kindRequest, wantInErr: []string{"more data after the JSON object"}},
		{name: "stdin two objects", stdin: func(t *testing.T, e *env) []byte { r := validRequest(t, e); return []byte(r + r) }, wantKind: kindRequest, wantInErr: []string{"more data after the JSON object"}},
		{name: "stdin past size cap", stdin: raw(`{"image":"` + strings.Repeat("a", 2<<20) + `"}`), wantKind: kindRequest, wantInErr: []string{"larger than 1048576 bytes"}},
		{name: "stdin wrong apiVersion", stdin: fields(map[string]any{"apiVersion": "credentialprovider.kubelet.k8s.io/v1beta1"}), wantKind: kindRequest, wantInErr: []string{`apiVersion is "credentialprovider.kubelet.k8s.io/v1beta1"`}},
		{name: "stdin wrong kind", stdin: fields(map[string]any{"kind": "CredentialProviderResponse"}), wantKind: kindRequest, wantInErr: []string{`kind is "CredentialProviderResponse"`}},
		{name: "stdin unknown field", stdin: fields(map[string]any{"audience": "x"}), wantKind: kindRequest, wantInErr: []string{`unknown field "audience"`}},
		{name: "stdin null image", stdin: raw(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":null}`), wantKind: kindRequest, wantInErr: []string{"image field is missing or empty"}},
		{name: "stdin null token", stdin: fields(map[string]any{"serviceAccountToken": nil}), wantKind: kindMissingToken},
		{name: "stdin non-UTF-8 bytes", stdin: raw("{\"image\":\"gcr.io/\xff\xfe\"}"), wantKind: kindRequest, wantInErr: []string{"not valid UTF-8"}},

		// Image.
		{name: "image empty", stdin: fields(map[string]any{"image": ""}), wantKind: kindRequest, wantInErr: []string{"image field is missing or empty"}},
		{name: "image without registry", stdin: fields(map[string]any{"image": "library/nginx"}), wantKind: kindImage, wantInErr: []string{"Docker Hub"}},
		{name: "image registry only", stdin: fields(map[string]any{"image": "gcr.io"}), wantKind: kindImage, wantInErr: []string{"expected HOST/REPOSITORY"}},
		{name: "image IPv6 literal host", stdin: fields(map[string]any{"image": "[::1]:5000/app"}), wantKind: kindNotGoogle, wantInErr: []string{"[::1]:5000"}},
		{name: "image non-Google host", stdin: fields(map[string]any{"image": "quay.io/org/app"}), wantKind: kindNotGoogle, wantInErr: []string{"quay.io"}},
		{name: "image look-alike gcr suffix", stdin: fields(map[string]any{"image": "gcr.io.evil.example/p/app"}), wantKind: kindNotGoogle},
		{name: "image look-alike gcr prefix", stdin: fields(map[string]any{"image": "evilgcr.io/p/app"}), wantKind: kindNotGoogle},
		{name: "image look-alike pkg.dev", stdin: fields(map[string]any{"image": "pkg.dev.example.com/p/app"}), wantKind: kindNotGoogle},
		{name: "image invalid port", stdin: fields(map[string]any{"image": "gcr.io:99999/p/app"}), wantKind: kindImage, wantInErr: []string{"invalid port"}},
		{name: "image 600 KiB on other host", stdin: fields(map[string]any{"image": "quay.io/" + huge}), wantKind: kindNotGoogle},
		{name: "image 600 KiB without registry", stdin: fields(map[string]any{"image": huge}), wantKind: kindImage},

		// Token.
		{name: "token empty", stdin: fields(map[string]any{"serviceAccountToken": ""}), wantKind: kindMissingToken, wantInErr: []string{"tokenAttributes"}},
		{name: "token not a JWT", stdin: fields(map[string]any{"serviceAccountToken": "opaque-secret-value"}), wantKind: kindToken, wantInErr: []string{"not a JWT"}},
		{name: "token unsigned alg none", stdin: func(t *testing.T, e *env) []byte {
			return requestWith(t, e, map[string]any{"serviceAccountToken": issuer.Unsigned(e.eks.Claims(issuer.ServiceAccount{Namespace: "team-a", Name: "app", Audience: []string{audience}}))})
		}, wantKind: kindToken, wantInErr: []string{"unsigned"}},
		{name: "token expired", stdin: func(t *testing.T, e *env) []byte {
			return requestWith(t, e, map[string]any{"serviceAccountToken": token(t, e.eks, issuer.ServiceAccount{IssuedAt: time.Now().Add(-2 * time.Hour)})})
		}, wantKind: kindToken, wantInErr: []string{"expired at"}},
		{name: "token issued in future", stdin: func(t *testing.T, e *env) []byte {
			return requestWith(t, e, map[string]any{"serviceAccountToken": token(t, e.eks, issuer.ServiceAccount{IssuedAt: time.Now().Add(time.Hour)})})
		}, wantKind: kindSTS, wantInErr: []string{"invalid_grant", "issued in the future"}},
		{name: "token audience not matching", stdin: func(t *testing.T, e *env) []byte {
			return requestWith(t, e, map[string]any{"serviceAccountToken": token(t, e.eks, issuer.ServiceAccount{Audience: []string{"kubernetes.default.svc"}})})
		}, wantKind: kindSTS, wantInErr: []string{"invalid_grant", `allowed audiences include "kubernetes.default.svc"`}},
		{name: "token subject over 127 bytes", stdin: func(t *testing.T, e *env) []byte {
			return requestWith(t, e, map[string]any{"serviceAccountToken": token(t, e.eks, issuer.ServiceAccount{Namespace: "team-a", Name: strings.Repeat("n", 100)})})
		}, wantKind: kindSTS, wantInErr: []string{"127-byte limit"}},

		// Provider annotation.
		{name: "provider path traversal", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider+"/../../../aks-pool/providers/aks-cluster", "")}), wantKind: kindProvider},
		{name: "provider query string", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider+"?alt=json", "")}), wantKind: kindProvider},
		{name: "provider with at sign", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations("//iam.googleapis.com@evil.example/projects/1/locations/global/workloadIdentityPools/pool/providers/prov", "")}), wantKind: kindProvider, wantInErr: []string{"the host must be iam.googleapis.com"}},
		{name: "provider with whitespace", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(" "+eksProvider, "")}), wantKind: kindProvider, wantInErr: []string{"white space"}},
		{name: "provider with newline", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider+"\nX-Injected: 1", "")}), wantKind: kindProvider, wantInErr: []string{"control characters"}},
		{name: "provider on other host", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations("https://sts.evil.example/projects/1/locations/global/workloadIdentityPools/pool/providers/prov", "")}), wantKind: kindProvider, wantInErr: []string{"the host must be iam.googleapis.com"}},
		{name: "provider workforce pool", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations("//iam.googleapis.com/locations/global/workforcePools/staff/providers/okta", "")}), wantKind: kindProvider, wantInErr: []string{"workforce pools"}},
		{name: "provider pool ID uppercase", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(strings.Replace(eksProvider, "eks-pool", "EKS-pool", 1), "")}), wantKind: kindProvider, wantInErr: []string{"pool ID"}},
		{name: "provider ID too short", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(strings.Replace(eksProvider, "eks-cluster", "eks", 1), "")}), wantKind: kindProvider, wantInErr: []string{"provider ID"}},
		{name: "provider ID too long", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(strings.Replace(eksProvider, "eks-cluster", strings.Repeat("p", 33), 1), "")}), wantKind: kindProvider, wantInErr: []string{"provider ID"}},
		{name: "provider reserved gcp prefix", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(strings.Replace(eksProvider, "eks-pool", "gcp-pool", 1), "")}), wantKind: kindProvider, wantInErr: []string{"reserves"}},
		{name: "provider 600 KiB value", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(huge, "")}), wantKind: kindProvider, wantInErr: []string{"bytes long"}},
		{name: "provider outside allow-list", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, "")}), args: []string{"--allowed-workload-identity-providers=" + aksProvider}, wantKind: kindNotAllowed},

		// Impersonation annotation.
		{name: "email malformed", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, "not-an-email")}), wantKind: kindServiceAccount},
		{name: "email user account", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, "admin@example.com")}), wantKind: kindServiceAccount, wantInErr: []string{"not a Google service account domain"}},
		{name: "email look-alike domain", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, "reader@demo-project.iam.gserviceaccount.com.evil.example")}), wantKind: kindServiceAccount},
		{name: "email uppercase", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, "Reader@demo-project.iam.gserviceaccount.com")}), wantKind: kindServiceAccount, wantInErr: []string{"lower case"}},
		{name: "email 600 KiB value", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, huge+"@demo-project.iam.gserviceaccount.com")}), wantKind: kindServiceAccount, wantInErr: []string{"bytes long"}},
		{name: "email outside allow-list", stdin: fields(map[string]any{"serviceAccountAnnotations": annotations(eksProvider, readerEmail)}), args: []string{"--allowed-service-accounts=*@other-project.iam.gserviceaccount.com"}, wantKind: kindNotAllowed},
	}
	if len(tests) < 40 {
		t.Fatalf("the table has %d cases, fewer than 40", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			stdin := tt.stdin(t, e)
			res := e.run(t, stdin, append(tt.args, "--v=10")...)
			if res.code != 1 {
				t.Errorf("exit status %d, want 1", res.code)
			}
			if res.stdout != "" {
				t.Errorf("stdout %q, want nothing", res.stdout)
			}
			line := lastLine(res.stderr)
			if !strings.HasPrefix(line, "gcp-federated-credential-provider: ") {
				t.Errorf("last stderr line %q does not start with the program name", line)
			}
			if !strings.Contains(line, tt.wantKind) {
				t.Errorf("last stderr line %q is not of kind %q", line, tt.wantKind)
			}
			for _, want := range tt.wantInErr {
				if !strings.Contains(res.stderr, want) {
					t.Errorf("stderr %q does not contain %q", res.stderr, want)
				}
			}
			if len(res.stderr) > 4096 {
				t.Errorf("stderr is %d bytes long, want a short message", len(res.stderr))
			}
			e.assertNoSecrets(t, res.stderr, requestToken(stdin))
		})
	}
}

// TestAcceptedImageForms lists image forms that look unusual but are valid.
func TestAcceptedImageForms(t *testing.T) {
	tests := []struct {
		name     string
		image    string
		wantHost string
	}{
		{"image with tag", "gcr.io/demo-project/app:1.0", "gcr.io"},
		{"image with digest", "us-docker.pkg.dev/demo-project/images/app@sha256:" + strings.Repeat("a", 64), "us-docker.pkg.dev"},
		{"image with port", "gcr.io:443/demo-project/app", "gcr.io:443"},
		{"image with uppercase host", "GCR.IO/demo-project/app", "GCR.IO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			res := e.run(t, requestWith(t, e, map[string]any{"image": tt.image}))
			if res.code != 0 {
				t.Fatalf("exit status %d, stderr %s", res.code, res.stderr)
			}
			var resp struct {
				Auth map[string]any `json:"auth"`
			}
			if err := json.Unmarshal([]byte(res.stdout), &resp); err != nil {
				t.Fatal(err)
			}
			if _, ok := resp.Auth[tt.wantHost]; !ok || len(resp.Auth) != 1 {
				t.Errorf("auth keys %v, want exactly %s", resp.Auth, tt.wantHost)
			}
		})
	}
}

func raw(s string) func(*testing.T, *env) []byte {
	return func(*testing.T, *env) []byte { return []byte(s) }
}

func fields(f map[string]any) func(*testing.T, *env) []byte {
	return func(t *testing.T, e *env) []byte { return requestWith(t, e, f) }
}

// requestToken returns the serviceAccountToken of a request, if it has one.
func requestToken(stdin []byte) string {
	var req struct {
		Token string `json:"serviceAccountToken"`
	}
	json.Unmarshal(stdin, &req)
	return req.Token
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestAnnotationsCannotChangeSettings sends annotations that name settings
// the plugin takes only from its flags: they must have no effect.
func TestAnnotationsCannotChangeSettings(t *testing.T) {
	e := newEnv(t)
	unused := closedURL(t)
	stdin := requestWith(t, e, map[string]any{"serviceAccountAnnotations": map[string]string{
		providerKey:      eksProvider,
		impersonationKey: readerEmail,
		"gcp-federated-credential-provider.io/sts-endpoint":             unused,
		"gcp-federated-credential-provider.io/iam-credentials-endpoint": unused,
		"gcp-federated-credential-provider.io/token-lifetime":           "12h",
		"gcp-federated-credential-provider.io/registry-host":            "quay.io",
		"gcp-federated-credential-provider.io/scope":                    "https://www.googleapis.com/auth/devstorage.full_control",
	}})

	res := e.run(t, stdin, "--token-lifetime=30m")
	if res.code != 0 {
		t.Fatalf("exit status %d, stderr %s", res.code, res.stderr)
	}
	var resp struct {
		Auth map[string]struct{ Password string } `json:"auth"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &resp); err != nil {
		t.Fatal(err)
	}

	info, ok := e.fake.Lookup(resp.Auth["gcr.io"].Password)
	if !ok {
		t.Fatal("the password is not a token the fake issued")
	}
	if remaining := time.Until(info.Expiry); remaining > 31*time.Minute {
		t.Errorf("token lives %s, want the --token-lifetime of 30m", remaining.Round(time.Minute))
	}
	if len(info.Scopes) != 1 || info.Scopes[0] != "https://www.googleapis.com/auth/cloud-platform" {
		t.Errorf("scopes = %v, want cloud-platform only", info.Scopes)
	}
	if len(resp.Auth) != 1 {
		t.Errorf("auth has %d hosts, want gcr.io only", len(resp.Auth))
	}
}

// closedURL returns an https URL on loopback where nothing
// listens.
func closedURL(t *testing.T) string {
	return "https://" + testnet.RefusingAddress(t)
}
