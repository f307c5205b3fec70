package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

var cacheDurationPattern = regexp.MustCompile(`"cacheDuration":"([0-9hms]+)"`)

// wantResponse returns the exact response bytes for host and password, with
// the cache duration taken from got after checking it is within the range.
func wantResponse(t *testing.T, got, host, password string, minCache, maxCache time.Duration) string {
	t.Helper()
	match := cacheDurationPattern.FindStringSubmatch(got)
	if match == nil {
		t.Fatalf("response %q has no cacheDuration", got)
	}
	cache, err := time.ParseDuration(match[1])
	if err != nil {
		t.Fatal(err)
	}
	if cache < minCache || cache > maxCache {
		t.Errorf("cacheDuration = %s, want between %s and %s", cache, minCache, maxCache)
	}
	return fmt.Sprintf(`{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1","cacheKeyType":"Registry","cacheDuration":%q,"auth":{%q:{"username":"oauth2accesstoken","password":%q}}}`+"\n",
		match[1], host, password)
}

func TestPluginSucceeds(t *testing.T) {
	tests := []struct {
		name        string
		issuer      func(*env) *issuer.Issuer
		image       string
		annotations map[string]string
		args        []string
		wantHost    string
		// wantPrincipal or wantServiceAccount identify the token the
		// response must carry.
		wantPrincipal      string
		wantServiceAccount string
		wantIAMRequests    int
	}{
		{
			name:          "EKS token via provider annotation",
			issuer:        func(e *env) *issuer.Issuer { return e.eks },
			image:         "us-docker.pkg.dev/demo-project/images/app",
			annotations:   map[string]string{providerKey: eksProvider},
			wantHost:      "us-docker.pkg.dev",
			wantPrincipal: "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app",
		},
		{
			name:          "AKS token via provider flag",
			issuer:        func(e *env) *issuer.Issuer { return e.aks },
			image:         "gcr.io/demo-project/app",
			args:          []string{"--workload-identity-provider=" + aksProvider},
			wantHost:      "gcr.io",
			wantPrincipal: "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/aks-pool/subject/system:serviceaccount:team-a:app",
		},
		{
			name:               "EKS token with impersonation annotation",
			issuer:             func(e *env) *issuer.Issuer { return e.eks },
			image:              "europe-west1-docker.pkg.dev/demo-project/images/app",
			annotations:        map[string]string{providerKey: eksProvider, impersonationKey: readerEmail},
			wantHost:           "europe-west1-docker.pkg.dev",
			wantServiceAccount: readerEmail,
			wantIAMRequests:    1,
		},
		{
			name:               "AKS token with impersonation flag",
			issuer:             func(e *env) *issuer.Issuer { return e.aks },
			image:              "docker.us-central1.rep.pkg.dev/demo-project/images/app",
			args:               []string{"--workload-identity-provider=" + aksProvider, "--impersonate-service-account=" + readerEmail},
			wantHost:           "docker.us-central1.rep.pkg.dev",
			wantServiceAccount: readerEmail,
			wantIAMRequests:    1,
		},
		{
			name:          "annotation beats provider flag",
			issuer:        func(e *env) *issuer.Issuer { return e.eks },
			image:         "us.gcr.io/demo-project/app",
			annotations:   map[string]string{providerKey: "projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/eks-cluster"},
			args:          []string{"--workload-identity-provider=" + aksProvider},
			wantHost:      "us.gcr.io",
			wantPrincipal: "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app",
		},
		{
			name:          "allow-list admits annotated provider",
			issuer:        func(e *env) *issuer.Issuer { return e.eks },
			image:         "gcr.io/demo-project/app",
			annotations:   map[string]string{providerKey: eksProvider},
			args:          []string{"--allowed-workload-identity-providers=projects/123456789012/locations/global/workloadIdentityPools/eks-*/providers/*"},
			wantHost:      "gcr.io",
			wantPrincipal: "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:team-a:app",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := token(t, tt.issuer(e), issuer.ServiceAccount{})
			res := e.run(t, requestJSON(t, tt.image, tok, tt.annotations), tt.args...)
			if res.code != 0 {
				t.Fatalf("exit status %d, stderr: %s", res.code, res.stderr)
			}
			if res.stderr != "" {
				t.Errorf("stderr at -v=0 is %q, want nothing", res.stderr)
			}

			tokens := e.fake.Tokens()
			var password string
			for _, issued := range tokens {
				info, _ := e.fake.Lookup(issued)
				if (tt.wantPrincipal != "" && info.Principal == tt.wantPrincipal) ||
					(tt.wantServiceAccount != "" && info.ServiceAccount == tt.wantServiceAccount) {
					password = issued
				}
			}
			if password == "" {
				t.Fatalf("the fake issued no token for %s%s", tt.wantPrincipal, tt.wantServiceAccount)
			}
			want := wantResponse(t, res.stdout, tt.wantHost, password, 54*time.Minute+57*time.Second, 54*time.Minute+59*time.Second)
			if res.stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", res.stdout, want)
			}
			if n := e.fake.STSRequests(); n != 1 {
				t.Errorf("STS requests = %d, want 1", n)
			}
			if n := e.fake.IAMRequests(); n != tt.wantIAMRequests {
				t.Errorf("IAM requests = %d, want %d", n, tt.wantIAMRequests)
			}
		})
	}
}

func TestPluginIssuerDiscovery(t *testing.T) {
	e := newEnv(t)
	iss, err := issuer.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(iss.Close)
	e.fake.IssuerClient = iss.Client()
	name := "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/oidc-pool/providers/public-issuer"
	e.fake.AddProvider(fakegoogle.Provider{Name: name, Issuer: iss.URL})

	// Without allowed audiences, STS accepts only the provider's full name.
	tok := token(t, iss, issuer.ServiceAccount{Audience: []string{"https:" + name}})
	res := e.run(t, requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: name}))
	if res.code != 0 {
		t.Fatalf("exit status %d, stderr: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, `"username":"oauth2accesstoken"`) {
		t.Errorf("stdout %q has no registry credentials", res.stdout)
	}
}

func TestPluginLogsAtVerbosityTwo(t *testing.T) {
	e := newEnv(t)
	tok := token(t, e.eks, issuer.ServiceAccount{})
	res := e.run(t, requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider, impersonationKey: readerEmail}), "--v=2")
	if res.code != 0 {
		t.Fatalf("exit status %d, stderr: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1: %q", len(lines), res.stderr)
	}
	for _, want := range []string{`"Exchanged service account token"`, `provider="` + eksProvider + `"`, `serviceAccount="team-a/app"`,
		`impersonated="` + readerEmail + `"`, `registry="gcr.io"`, "duration=", "cacheDuration="} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q does not contain %s", lines[0], want)
		}
	}
	e.assertNoSecrets(t, res.stderr, tok)
}

func TestPluginConfigFile(t *testing.T) {
	e := newEnv(t)
	path := filepath.Join(t.TempDir(), "config.yaml")
	config := fmt.Sprintf("workloadIdentityProvider: %s\nimpersonateServiceAccount: %s\nstsEndpoint: %s\niamCredentialsEndpoint: %s\ntokenLifetime: 30m\n",
		aksProvider, readerEmail, e.fake.URL(), e.fake.URL())
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("file settings apply", func(t *testing.T) {
		tok := token(t, e.aks, issuer.ServiceAccount{})
		res := runPlugin(t, requestJSON(t, "gcr.io/p/app", tok, nil), e.caFile, "--config="+path)
		if res.code != 0 {
			t.Fatalf("exit status %d, stderr: %s", res.code, res.stderr)
		}
		var resp struct {
			CacheDuration string `json:"cacheDuration"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &resp); err != nil {
			t.Fatal(err)
		}
		if d, _ := time.ParseDuration(resp.CacheDuration); d > 25*time.Minute || d < 24*time.Minute {
			t.Errorf("cacheDuration = %s, want about 25m from the file's 30m lifetime", resp.CacheDuration)
		}
	})

	t.Run("flag overrides file setting", func(t *testing.T) {
		tok := token(t, e.eks, issuer.ServiceAccount{})
		res := runPlugin(t, requestJSON(t, "gcr.io/p/app", tok, nil), e.caFile, "--config="+path, "--workload-identity-provider="+eksProvider, "--impersonate-service-account=")
		if res.code != 0 {
			t.Fatalf("exit status %d, stderr: %s", res.code, res.stderr)
		}
		if !strings.Contains(res.stdout, "ya29.d.fake-sts-") {
			t.Errorf("stdout %q does not carry a federated token", res.stdout)
		}
	})

	t.Run("unknown field names field", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("workloadIdentityProviders: x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		res := runPlugin(t, requestJSON(t, "gcr.io/p/app", "", nil), e.caFile, "--config="+bad)
		if res.code != 2 {
			t.Errorf("exit status %d, want 2", res.code)
		}
		if !strings.Contains(res.stderr, `unknown field "workloadIdentityProviders"`) {
			t.Errorf("stderr %q does not name the field", res.stderr)
		}
	})
}

func TestPluginCommands(t *testing.T) {
	t.Run("version prints version", func(t *testing.T) {
		res := runPlugin(t, nil, "", "version")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "gcp-federated-credential-provider ") {
			t.Errorf("version: exit %d, stdout %q", res.code, res.stdout)
		}
	})
	t.Run("null stdin is empty request", func(t *testing.T) {
		// exec.Cmd without Stdin connects /dev/null: a character device, but
		// not a terminal.
		res := runPlugin(t, nil, "")
		if res.code != 1 {
			t.Errorf("exit status %d, want 1", res.code)
		}
		if !strings.Contains(res.stderr, "standard input is empty") {
			t.Errorf("stderr %q does not report the empty input", res.stderr)
		}
	})
	t.Run("terminal stdin prints usage", func(t *testing.T) {
		// The master side of a pseudo-terminal is a terminal, as a shell's
		// standard input is when a person runs the plugin by hand.
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("opening a pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		res := runPluginWithStdin(t, ptmx, nil)
		if res.code != 2 {
			t.Errorf("exit status %d, want 2", res.code)
		}
		if !strings.Contains(res.stderr, "Usage: gcp-federated-credential-provider") {
			t.Errorf("stderr %q has no usage", res.stderr)
		}
		if res.stdout != "" {
			t.Errorf("stdout %q, want nothing", res.stdout)
		}
	})
	t.Run("invalid flag beats terminal usage", func(t *testing.T) {
		ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
		if err != nil {
			t.Fatalf("opening a pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		res := runPluginWithStdin(t, ptmx, nil, "--timeout=2m")
		if res.code != 2 {
			t.Errorf("exit status %d, want 2", res.code)
		}
		if !strings.Contains(res.stderr, "--timeout") || strings.Contains(res.stderr, "Usage:") {
			t.Errorf("stderr %q, want the one-line --timeout error", res.stderr)
		}
	})
	t.Run("help flag prints to stdout", func(t *testing.T) {
		res := runPlugin(t, nil, "", "--help")
		if res.code != 0 {
			t.Errorf("exit status %d, want 0", res.code)
		}
		if !strings.Contains(res.stdout, "-workload-identity-provider") {
			t.Errorf("stdout %q does not list the flags", res.stdout)
		}
	})
	t.Run("help command prints to stdout", func(t *testing.T) {
		res := runPlugin(t, nil, "", "help")
		if res.code != 0 {
			t.Errorf("exit status %d, want 0", res.code)
		}
		if !strings.Contains(res.stdout, "Usage: gcp-federated-credential-provider") {
			t.Errorf("stdout %q has no usage", res.stdout)
		}
	})
	t.Run("unknown command is rejected", func(t *testing.T) {
		res := runPlugin(t, []byte("{}"), "", "serve")
		if res.code != 2 || !strings.Contains(res.stderr, `unknown command "serve"`) {
			t.Errorf("serve: exit %d, stderr %q", res.code, res.stderr)
		}
	})
}
