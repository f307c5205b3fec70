package satoken_test

import (
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
)

// now is the fixed time at which the tests parse tokens: 2030-01-01T00:00:00Z,
// Unix time 1893456000.
var now = time.Date(2030, time.January, 1, 0, 0, 0, 0, time.UTC)

const (
	rs256Header = `{"alg":"RS256","kid":"key-1","typ":"JWT"}`
	signature   = "c2lnbmF0dXJlLWJ5dGVz"
	// kubernetesPayload is the payload of a projected service account token
	// that expires one hour after now.
	kubernetesPayload = `{"iss":"https://oidc.example.com/cluster","sub":"system:serviceaccount:team-a:app",` +
		`"aud":["sts.googleapis.com","other"],"exp":1893459600,"iat":1893452400,"nbf":1893452400,` +
		`"kubernetes.io":{"namespace":"team-a","serviceaccount":{"name":"app","uid":"0d6c1bd4"},"pod":{"name":"app-1"}}}`
)

// encode returns the unpadded base64url form of s, as in a JWT segment.
func encode(s string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// jwt returns a compact JWT with the given JSON header and payload and the
// given already-encoded signature.
func jwt(header, payload, encodedSignature string) string {
	return encode(header) + "." + encode(payload) + "." + encodedSignature
}

func TestParseAccepted(t *testing.T) {
	expiry := time.Unix(1893459600, 0)
	tests := []struct {
		name          string
		token         string
		wantIssuer    string
		wantSubject   string
		wantAudience  []string
		wantExpiry    time.Time
		wantIssuedAt  time.Time
		wantNamespace string
		wantName      string
	}{
		{
			name:          "reads Kubernetes token claims",
			token:         jwt(rs256Header, kubernetesPayload, signature),
			wantIssuer:    "https://oidc.example.com/cluster",
			wantSubject:   "system:serviceaccount:team-a:app",
			wantAudience:  []string{"sts.googleapis.com", "other"},
			wantExpiry:    expiry,
			wantIssuedAt:  time.Unix(1893452400, 0),
			wantNamespace: "team-a",
			wantName:      "app",
		},
		{
			name:         "reads audience as string",
			token:        jwt(`{"alg":"ES256"}`, `{"sub":"subject-1","aud":"sts.googleapis.com","exp":1893459600}`, signature),
			wantSubject:  "subject-1",
			wantAudience: []string{"sts.googleapis.com"},
			wantExpiry:   expiry,
		},
		{
			name:         "reads empty audience list",
			token:        jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","aud":[],"exp":1893459600}`, signature),
			wantSubject:  "subject-1",
			wantAudience: []string{},
			wantExpiry:   expiry,
		},
		{
			name:        "reads null audience as none",
			token:       jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","aud":null,"exp":1893459600}`, signature),
			wantSubject: "subject-1",
			wantExpiry:  expiry,
		},
		{
			name:        "accepts missing audience",
			token:       jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","exp":1893459600}`, signature),
			wantSubject: "subject-1",
			wantExpiry:  expiry,
		},
		{
			name:       "accepts token without iat",
			token:      jwt(`{"alg":"RS256"}`, `{"iss":"issuer","exp":1893459600}`, signature),
			wantIssuer: "issuer",
			wantExpiry: expiry,
		},
		{
			name:        "truncates fractional expiry",
			token:       jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","exp":1893459600.75}`, signature),
			wantSubject: "subject-1",
			wantExpiry:  expiry,
		},
		{
			name:          "reads namespace without name",
			token:         jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","exp":1893459600,"kubernetes.io":{"namespace":"team-a"}}`, signature),
			wantSubject:   "subject-1",
			wantExpiry:    expiry,
			wantNamespace: "team-a",
		},
		{
			name:        "accepts padded base64 segments",
			token:       base64.URLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + base64.URLEncoding.EncodeToString([]byte(`{"sub":"s","exp":1893459600}`)) + "." + signature,
			wantSubject: "s",
			wantExpiry:  expiry,
		},
		{
			name:        "accepts one second left",
			token:       jwt(`{"alg":"RS256"}`, `{"sub":"subject-1","exp":1893456001}`, signature),
			wantSubject: "subject-1",
			wantExpiry:  time.Unix(1893456001, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := satoken.Parse(tt.token, now)
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if c.Issuer != tt.wantIssuer {
				t.Errorf("Issuer = %q, want %q", c.Issuer, tt.wantIssuer)
			}
			if c.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", c.Subject, tt.wantSubject)
			}
			if !slices.Equal(c.Audience, tt.wantAudience) {
				t.Errorf("Audience = %q, want %q", c.Audience, tt.wantAudience)
			}
			if !c.Expiry.Equal(tt.wantExpiry) {
				t.Errorf("Expiry = %v, want %v", c.Expiry, tt.wantExpiry)
			}
			if !c.IssuedAt.Equal(tt.wantIssuedAt) {
				t.Errorf("IssuedAt = %v, want %v", c.IssuedAt, tt.wantIssuedAt)
			}
			if c.Namespace != tt.wantNamespace {
				t.Errorf("Namespace = %q, want %q", c.Namespace, tt.wantNamespace)
			}
			if c.Name != tt.wantName {
				t.Errorf("Name = %q, want %q", c.Name, tt.wantName)
			}
		})
	}
}

func TestParseRejected(t *testing.T) {
	validHeader := encode(rs256Header)
	validPayload := encode(kubernetesPayload)
	tests := []struct {
		name        string
		token       string
		wantMessage string
	}{
		{"rejects empty token", "", "expected three dot-separated parts, found 1"},
		{"rejects opaque token", "ya29.opaque-access-token", "found 2"},
		{"rejects one-dot token", validHeader + "." + validPayload, "found 2"},
		{"rejects four-part token", jwt(rs256Header, kubernetesPayload, signature) + ".extra", "found 4"},
		{"rejects five-part JWE", "eyJhbGciOiJSU0EtT0FFUCJ9.key.iv.ciphertext.tag", "found 5"},
		{"rejects bad header base64", "!!!." + validPayload + "." + signature, "the JWT header is not valid base64url"},
		{"rejects standard base64 header", "eyJhbGciOiJSUzI1NiJ9+/." + validPayload + "." + signature, "the JWT header is not valid base64url"},
		{"rejects non-JSON header", encode("not json") + "." + validPayload + "." + signature, "the JWT header is not a valid JSON object"},
		{"rejects empty header segment", "." + validPayload + "." + signature, "the JWT header is not a valid JSON object"},
		{"rejects JSON array header", encode(`["RS256"]`) + "." + validPayload + "." + signature, "the JWT header is not a valid JSON object"},
		{"rejects alg none", jwt(`{"alg":"none"}`, kubernetesPayload, signature), `the JWT is unsigned (alg "none")`},
		{"rejects alg none uppercase", jwt(`{"alg":"NONE"}`, kubernetesPayload, signature), `unsigned (alg "NONE")`},
		{"rejects missing alg", jwt(`{"typ":"JWT"}`, kubernetesPayload, signature), `unsigned (alg "")`},
		{"rejects empty signature", jwt(rs256Header, kubernetesPayload, ""), `the JWT is unsigned (alg "RS256")`},
		{"rejects bad payload base64", validHeader + ".%%%." + signature, "the JWT payload is not valid base64url"},
		{"rejects non-JSON payload", validHeader + "." + encode("plain text") + "." + signature, "the JWT payload is not a valid JSON object"},
		{"rejects numeric audience", jwt(rs256Header, `{"aud":42,"exp":1893459600}`, signature), "the JWT payload is not a valid JSON object"},
		{"rejects mixed audience list", jwt(rs256Header, `{"aud":["a",1],"exp":1893459600}`, signature), "the JWT payload is not a valid JSON object"},
		{"rejects string expiry", jwt(rs256Header, `{"exp":"1893459600"}`, signature), "the JWT payload is not a valid JSON object"},
		{"rejects missing exp", jwt(rs256Header, `{"sub":"subject-1","aud":"sts.googleapis.com"}`, signature), "the JWT has no exp claim"},
		{"rejects null exp", jwt(rs256Header, `{"sub":"subject-1","exp":null}`, signature), "the JWT has no exp claim"},
		{"rejects expired Kubernetes token", jwt(rs256Header, `{"sub":"system:serviceaccount:team-a:app","exp":1893452400,`+
			`"kubernetes.io":{"namespace":"team-a","serviceaccount":{"name":"app"}}}`, signature),
			"the token for team-a/app expired at 2029-12-31T23:00:00Z; check the node's clock"},
		{"rejects expired subject token", jwt(rs256Header, `{"sub":"subject-1","exp":1893452400}`, signature), "the token for subject-1 expired"},
		{"rejects expiry equal now", jwt(rs256Header, `{"sub":"subject-1","exp":1893456000}`, signature), "expired at 2030-01-01T00:00:00Z"},
		{"rejects zero expiry", jwt(rs256Header, `{"sub":"subject-1","exp":0}`, signature), "expired at 1970-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := satoken.Parse(tt.token, now)
			if err == nil {
				t.Fatalf("Parse succeeded with claims %+v, want an error", c)
			}
			if !errors.Is(err, satoken.ErrInvalidToken) {
				t.Errorf("Parse error %v is not ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("Parse error %q does not contain %q", err, tt.wantMessage)
			}
			for _, segment := range strings.Split(tt.token, ".") {
				if len(segment) >= 8 && strings.Contains(err.Error(), segment) {
					t.Errorf("Parse error %q quotes token segment %q", err, segment)
				}
			}
		})
	}
}

func TestClaimsServiceAccount(t *testing.T) {
	tests := []struct {
		name   string
		claims satoken.Claims
		want   string
	}{
		{"joins namespace and name", satoken.Claims{Subject: "system:serviceaccount:team-a:app", Namespace: "team-a", Name: "app"}, "team-a/app"},
		{"uses subject without claims", satoken.Claims{Subject: "system:serviceaccount:team-a:app"}, "system:serviceaccount:team-a:app"},
		{"uses subject without name", satoken.Claims{Subject: "subject-1", Namespace: "team-a"}, "subject-1"},
		{"uses subject without namespace", satoken.Claims{Subject: "subject-1", Name: "app"}, "subject-1"},
		{"returns empty for empty claims", satoken.Claims{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.claims.ServiceAccount(); got != tt.want {
				t.Errorf("ServiceAccount() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseServiceAccount(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  string
	}{
		{"names Kubernetes service account", jwt(rs256Header, kubernetesPayload, signature), "team-a/app"},
		{"falls back to subject", jwt(rs256Header, `{"sub":"repo:example/app","exp":1893459600}`, signature), "repo:example/app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := satoken.Parse(tt.token, now)
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if got := c.ServiceAccount(); got != tt.want {
				t.Errorf("ServiceAccount() = %q, want %q", got, tt.want)
			}
		})
	}
}
