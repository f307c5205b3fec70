// Package fakegoogle is a test double of Google STS and IAM Credentials that
// behaves like the real services where the plugin depends on them. It serves
// TLS on loopback and verifies subject tokens against each provider's issuer
// (signature, issuer, audience, times, subject length). It checks
// impersonation permissions per principal, returns Google's error shapes and
// counts requests.
package fakegoogle

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Provider is a workload identity pool provider of the fake.
type Provider struct {
	// Name is the full name, //iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/ID.
	Name string
	// Issuer is the issuer URI that tokens' iss must equal.
	Issuer string
	// JWKS is the uploaded key set. When nil, the fake fetches the issuer's
	// OIDC discovery document and JWKS with Server.IssuerClient, as Google
	// does for a public issuer.
	JWKS *jose.JSONWebKeySet
	// AllowedAudiences lists the accepted aud values. When empty, only the
	// provider's full name, with or without an "https:" prefix, is accepted.
	AllowedAudiences []string
	// Disabled makes STS reject the provider as if it were disabled.
	Disabled bool
	// AttributeCondition, when set, must return true for the token's claims.
	AttributeCondition func(claims map[string]any) bool
}

// TokenInfo describes an access token the fake issued.
type TokenInfo struct {
	// Principal is the federated principal of an STS token.
	Principal string
	// ServiceAccount is the impersonated service account of an IAM token.
	ServiceAccount string
	Scopes         []string
	Expiry         time.Time
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	// IssuerClient fetches issuers' discovery documents and JWKS.
	IssuerClient *http.Client

	server *httptest.Server
	pki    *serverPKI

	mu              sync.Mutex
	now             func() time.Time
	stsExpiresIn    int
	maxLifetime     time.Duration
	providers       map[string]*Provider
	serviceAccounts map[string][]string
	tokens          map[string]TokenInfo
	stsRequests     int
	iamRequests     int
	faults          []Fault
}

// New starts a fake on a TLS listener at 127.0.0.1. Close stops it.
func New() *Server {
	s := &Server{
		IssuerClient:    &http.Client{Timeout: 5 * time.Second},
		now:             time.Now,
		stsExpiresIn:    3599,
		maxLifetime:     time.Hour,
		providers:       map[string]*Provider{},
		serviceAccounts: map[string][]string{},
		tokens:          map[string]TokenInfo{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/token", s.serveSTS)
	mux.HandleFunc("/v1/projects/", s.serveIAM)
	pki, err := newServerPKI()
	if err != nil {
		panic("fakegoogle: generating the test certificates: " + err.Error())
	}
	s.pki = pki
	s.server = httptest.NewUnstartedServer(s.withFaults(mux))
	s.server.TLS = &tls.Config{Certificates: []tls.Certificate{pki.cert}}
	// Tests provoke TLS failures on purpose; the server need not log them.
	s.server.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.server.StartTLS()
	return s
}

// URL returns the base URL of both services, such as https://127.0.0.1:41234.
func (s *Server) URL() string { return s.server.URL }

// Client returns an HTTP client that trusts the fake's CA.
func (s *Server) Client() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = &tls.Config{RootCAs: s.pki.pool}
	return &http.Client{Transport: transport}
}

// CertificatePEM returns the fake's CA certificate in PEM form, for
// SSL_CERT_FILE. The CA signed the fake's certificate for localhost,
// 127.0.0.1, ::1 and 0.0.0.0.
func (s *Server) CertificatePEM() []byte { return s.pki.caPEM }

// Port returns the port the fake listens on at 127.0.0.1.
func (s *Server) Port() string {
	_, port, _ := net.SplitHostPort(s.server.Listener.Addr().String())
	return port
}

// Close stops the fake.
func (s *Server) Close() { s.server.Close() }

// AddProvider adds or replaces a provider.
func (s *Server) AddProvider(p Provider) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.providers[p.Name] = &p
}

// AddServiceAccount creates a Google service account and grants
// roles/iam.workloadIdentityUser on it to members: principal://… subjects,
// or principalSet://…/* for every identity of a pool.
func (s *Server) AddServiceAccount(email string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serviceAccounts[email] = append(s.serviceAccounts[email], members...)
}

// SetSTSExpiresIn sets the expires_in, in seconds, of STS responses.
func (s *Server) SetSTSExpiresIn(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stsExpiresIn = seconds
}

// SetNow sets the fake's clock.
func (s *Server) SetNow(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// STSRequests returns how many requests reached the STS endpoint.
func (s *Server) STSRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stsRequests
}

// IAMRequests returns how many requests reached the IAM Credentials
// endpoint.
func (s *Server) IAMRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.iamRequests
}

// Lookup returns the record of an access token the fake issued.
func (s *Server) Lookup(accessToken string) (TokenInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info, ok := s.tokens[accessToken]
	return info, ok
}

// Tokens returns every access token the fake issued.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var tokens []string
	for t := range s.tokens {
		tokens = append(tokens, t)
	}
	return tokens
}

// issue records a new access token with the given prefix and returns it.
func (s *Server) issue(prefix string, info TokenInfo) string {
	b := make([]byte, 48)
	rand.Read(b)
	token := prefix + base64.RawURLEncoding.EncodeToString(b)
	s.tokens[token] = info
	return token
}

// stsError writes an OAuth 2.0 error response, the shape STS uses.
func stsError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// googleError writes a Google API error response, the shape IAM
// Credentials uses.
func googleError(w http.ResponseWriter, status int, statusText, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": status, "message": message, "status": statusText,
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// poolOf returns the pool part of a provider name:
// projects/NUMBER/locations/global/workloadIdentityPools/POOL.
func poolOf(providerName string) string {
	rest := strings.TrimPrefix(providerName, "//iam.googleapis.com/")
	pool, _, _ := strings.Cut(rest, "/providers/")
	return pool
}
