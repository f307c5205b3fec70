package fakegoogle

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// providerNamePattern is the audience form STS accepts.
var providerNamePattern = regexp.MustCompile(`^//iam\.googleapis\.com/projects/[0-9]+/locations/global/workloadIdentityPools/[a-z0-9-]{4,32}/providers/[a-z0-9-]{4,32}$`)

const (
	grantTypeTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"
	tokenTypeJWT           = "urn:ietf:params:oauth:token-type:jwt"
	tokenTypeIDToken       = "urn:ietf:params:oauth:token-type:id_token"

	// maxSubjectBytes is the longest google.subject STS accepts.
	maxSubjectBytes = 127
	// maxTokenLifetime is the longest exp - iat STS accepts.
	maxTokenLifetime = 48 * time.Hour
)

func (s *Server) serveSTS(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.stsRequests++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		stsError(w, http.StatusMethodNotAllowed, "invalid_request", "The token endpoint accepts only POST.")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		stsError(w, http.StatusBadRequest, "invalid_request", "The request body must be application/x-www-form-urlencoded.")
		return
	}
	if err := r.ParseForm(); err != nil {
		stsError(w, http.StatusBadRequest, "invalid_request", "The request body cannot be parsed.")
		return
	}
	form := r.PostForm
	switch {
	case form.Get("grant_type") != grantTypeTokenExchange:
		stsError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("Unsupported grant type %q.", form.Get("grant_type")))
		return
	case form.Get("requested_token_type") != tokenTypeAccessToken:
		stsError(w, http.StatusBadRequest, "invalid_request", "requested_token_type must be "+tokenTypeAccessToken+".")
		return
	case form.Get("subject_token_type") != tokenTypeJWT && form.Get("subject_token_type") != tokenTypeIDToken:
		stsError(w, http.StatusBadRequest, "invalid_request", "The subject token type is not supported for this audience.")
		return
	case form.Get("subject_token") == "":
		stsError(w, http.StatusBadRequest, "invalid_request", "The subject_token parameter is missing.")
		return
	}

	audience := form.Get("audience")
	if !providerNamePattern.MatchString(audience) {
		stsError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("Invalid value for \"audience\". This value should be the full resource name of the Identity Provider. Received %q.", audience))
		return
	}
	s.mu.Lock()
	provider, ok := s.providers[audience]
	s.mu.Unlock()
	if !ok || provider.Disabled {
		stsError(w, http.StatusBadRequest, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}

	claims, code, description := s.verify(r.Context(), provider, form.Get("subject_token"))
	if code != "" {
		stsError(w, http.StatusBadRequest, code, description)
		return
	}
	scopes := strings.Fields(form.Get("scope"))

	s.mu.Lock()
	defer s.mu.Unlock()
	expiresIn := s.stsExpiresIn
	token := s.issue("ya29.d.fake-sts-", TokenInfo{
		Principal: "principal://iam.googleapis.com/" + poolOf(audience) + "/subject/" + claims["sub"].(string),
		Scopes:    scopes,
		Expiry:    s.now().Add(time.Duration(expiresIn) * time.Second),
	})
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      token,
		"issued_token_type": tokenTypeAccessToken,
		"token_type":        "Bearer",
		"expires_in":        expiresIn,
	})
}

// verify checks the subject token as STS does and returns its claims, or an
// OAuth error code and description.
func (s *Server) verify(ctx context.Context, p *Provider, token string) (map[string]any, string, string) {
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return nil, "invalid_grant", "Unable to parse the ID Token."
	}
	if len(parsed.Headers) != 1 || parsed.Headers[0].KeyID == "" {
		return nil, "invalid_grant", "The ID Token header has no kid."
	}
	keys, err := s.keysFor(ctx, p)
	if err != nil {
		return nil, "invalid_grant", "Unable to fetch the issuer's public keys: " + err.Error()
	}
	matching := keys.Key(parsed.Headers[0].KeyID)
	if len(matching) == 0 {
		return nil, "invalid_grant", fmt.Sprintf("The ID Token's kid %q is not in the issuer's JWKS.", parsed.Headers[0].KeyID)
	}
	var standard jwt.Claims
	var all map[string]any
	if err := parsed.Claims(matching[0].Key, &standard, &all); err != nil {
		return nil, "invalid_grant", "Invalid ID Token signature."
	}

	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	switch {
	case standard.Issuer != p.Issuer:
		return nil, "invalid_grant", fmt.Sprintf("The issuer in ID Token %s does not match the expected ones: %s.", standard.Issuer, p.Issuer)
	case standard.IssuedAt == nil || standard.Expiry == nil:
		return nil, "invalid_grant", "The ID Token must have iat and exp claims."
	case standard.IssuedAt.Time().After(now.Add(time.Minute)):
		return nil, "invalid_grant", "The ID Token was issued in the future."
	case !standard.Expiry.Time().After(now):
		return nil, "invalid_grant", "The ID Token has expired."
	case standard.Expiry.Time().Sub(standard.IssuedAt.Time()) > maxTokenLifetime:
		return nil, "invalid_grant", "The ID Token's lifetime (exp - iat) is longer than 48 hours."
	}
	if !audienceAccepted(p, standard.Audience) {
		return nil, "invalid_grant", fmt.Sprintf("The audience in ID Token [%s] does not match the expected audience.", strings.Join(standard.Audience, ","))
	}
	if len(standard.Subject) > maxSubjectBytes {
		return nil, "invalid_grant", fmt.Sprintf("The size of mapped attribute google.subject exceeds the %d bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than %d bytes.", maxSubjectBytes, maxSubjectBytes)
	}
	if standard.Subject == "" {
		return nil, "invalid_grant", "The mapped attribute google.subject is empty."
	}
	if p.AttributeCondition != nil && !p.AttributeCondition(all) {
		return nil, "unauthorized_client", "The given credential is rejected by the attribute condition."
	}
	return all, "", ""
}

func audienceAccepted(p *Provider, audience jwt.Audience) bool {
	if len(p.AllowedAudiences) > 0 {
		return slices.ContainsFunc(audience, func(a string) bool { return slices.Contains(p.AllowedAudiences, a) })
	}
	return audience.Contains(p.Name) || audience.Contains("https:"+p.Name)
}

// keysFor returns the provider's uploaded JWKS, or fetches the issuer's
// discovery document and JWKS.
func (s *Server) keysFor(ctx context.Context, p *Provider) (*jose.JSONWebKeySet, error) {
	if p.JWKS != nil {
		return p.JWKS, nil
	}
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := s.getJSON(ctx, strings.TrimSuffix(p.Issuer, "/")+"/.well-known/openid-configuration", &discovery); err != nil {
		return nil, err
	}
	if discovery.Issuer != p.Issuer {
		return nil, fmt.Errorf("the discovery document's issuer %q is not %q", discovery.Issuer, p.Issuer)
	}
	var keys jose.JSONWebKeySet
	if err := s.getJSON(ctx, discovery.JWKSURI, &keys); err != nil {
		return nil, err
	}
	return &keys, nil
}

func (s *Server) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.IssuerClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
