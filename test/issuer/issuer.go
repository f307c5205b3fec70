// Package issuer signs Kubernetes service account tokens for tests, shaped
// like the tokens that EKS and AKS API servers mint. It can also serve the
// OIDC discovery document and JWKS on loopback, so that a verifier fetches
// them as Google STS does.
package issuer

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer URLs in the form EKS and AKS use. Tests only put them in tokens;
// nothing connects to them.
const (
	EKSIssuer = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
	AKSIssuer = "https://westeurope.oic.prod-aks.azure.com/00000000-0000-0000-0000-000000000000/11111111-1111-1111-1111-111111111111/"
)

// Issuer is a service account token issuer with one RSA signing key.
type Issuer struct {
	// URL is the iss claim of the tokens.
	URL    string
	key    *rsa.PrivateKey
	keyID  string
	signer jose.Signer
	server *httptest.Server
}

// New returns an Issuer whose tokens carry issuerURL as iss. Verifiers get
// its keys from JWKS, as with a provider that has an uploaded JWKS.
func New(issuerURL string) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	// Key IDs are the SHA-256 of the public key, as the Kubernetes API
	// server derives them.
	thumbprint, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	keyID := base64.RawURLEncoding.EncodeToString(thumbprint)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", keyID))
	if err != nil {
		return nil, err
	}
	return &Issuer{URL: issuerURL, key: key, keyID: keyID, signer: signer}, nil
}

// NewServer returns an Issuer that serves its OIDC discovery document and
// JWKS over TLS on 127.0.0.1, with URL set to the server's address. Close
// stops the server.
func NewServer() (*Issuer, error) {
	iss, err := New("")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	iss.server = httptest.NewTLSServer(mux)
	iss.URL = iss.server.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.URL,
			"jwks_uri":                              iss.URL + "/openid/v1/jwks",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /openid/v1/jwks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, iss.JWKS())
	})
	return iss, nil
}

// Client returns an HTTP client that trusts the discovery server, or nil for
// an Issuer without one.
func (i *Issuer) Client() *http.Client {
	if i.server == nil {
		return nil
	}
	return i.server.Client()
}

// Close stops the discovery server, if any.
func (i *Issuer) Close() {
	if i.server != nil {
		i.server.Close()
	}
}

// JWKS returns the public keys of the issuer.
func (i *Issuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &i.key.PublicKey, KeyID: i.keyID, Algorithm: string(jose.RS256), Use: "sig",
	}}}
}

// ServiceAccount describes the token of one pod's service account.
type ServiceAccount struct {
	Namespace string
	Name      string
	// Audience is the aud claim: the kubelet's serviceAccountTokenAudience.
	Audience []string
	// IssuedAt defaults to now; Lifetime defaults to 1h, the kubelet's usual
	// request.
	IssuedAt time.Time
	Lifetime time.Duration
	// Subject overrides system:serviceaccount:NAMESPACE:NAME when set.
	Subject string
}

// Token returns a signed token with the claims the Kubernetes API server
// puts in a bound service account token.
func (i *Issuer) Token(sa ServiceAccount) (string, error) {
	return i.Sign(i.Claims(sa))
}

// Claims returns the claims of the token for sa.
func (i *Issuer) Claims(sa ServiceAccount) map[string]any {
	issuedAt := sa.IssuedAt
	if issuedAt.IsZero() {
		issuedAt = time.Now()
	}
	lifetime := sa.Lifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	subject := sa.Subject
	if subject == "" {
		subject = "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	}
	return map[string]any{
		"iss": i.URL,
		"sub": subject,
		"aud": sa.Audience,
		"iat": issuedAt.Unix(),
		"nbf": issuedAt.Unix(),
		"exp": issuedAt.Add(lifetime).Unix(),
		"jti": randomID(),
		"kubernetes.io": map[string]any{
			"namespace": sa.Namespace,
			"node":      map[string]any{"name": "ip-10-0-1-23.us-west-2.compute.internal", "uid": randomUID()},
			"pod":       map[string]any{"name": sa.Name + "-7d4b9c8f6-x2x9q", "uid": randomUID()},
			"serviceaccount": map[string]any{
				"name": sa.Name, "uid": randomUID(),
			},
		},
	}
}

// Sign returns a compact RS256 JWT of claims.
func (i *Issuer) Sign(claims map[string]any) (string, error) {
	return jwt.Signed(i.signer).Claims(claims).Serialize()
}

// Unsigned returns a JWT of claims with alg "none" and no signature.
func Unsigned(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	payload, _ := json.Marshal(claims)
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
