package fakegoogle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// generateAccessTokenSuffix ends the IAM Credentials method path.
const generateAccessTokenSuffix = ":generateAccessToken"

func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.iamRequests++
	s.mu.Unlock()

	// /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken
	rest := strings.TrimPrefix(r.URL.Path, "/v1/projects/")
	project, rest, _ := strings.Cut(rest, "/")
	email, found := strings.CutPrefix(rest, "serviceAccounts/")
	email, isGenerate := strings.CutSuffix(email, generateAccessTokenSuffix)
	if !found || !isGenerate || email == "" {
		googleError(w, http.StatusNotFound, "NOT_FOUND", "Method not found.")
		return
	}
	if r.Method != http.MethodPost {
		googleError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "generateAccessToken accepts only POST.")
		return
	}

	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	caller, known := s.tokens[bearer]
	now := s.now()
	granted, exists := s.serviceAccounts[email]
	maxLifetime := s.maxLifetime
	s.mu.Unlock()
	if !ok || !known || caller.Principal == "" || !caller.Expiry.After(now) {
		googleError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if project != "-" {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The project in the resource name must be the wildcard \"-\".")
		return
	}

	var body struct {
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
		Delegates []string `json:"delegates"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	if len(body.Scope) == 0 {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Scope required.")
		return
	}
	lifetime := time.Hour
	if body.Lifetime != "" {
		seconds, isSeconds := strings.CutSuffix(body.Lifetime, "s")
		parsed, err := time.ParseDuration(seconds + "s")
		if !isSeconds || err != nil || parsed <= 0 {
			googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("Invalid value at 'lifetime' (%q).", body.Lifetime))
			return
		}
		lifetime = parsed
	}
	if lifetime > maxLifetime {
		googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", fmt.Sprintf("The lifetime %s exceeds the maximum of %ds.", body.Lifetime, int(maxLifetime.Seconds())))
		return
	}
	if !exists {
		googleError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Not found; Gaia id not found for email %s", email))
		return
	}
	if !memberGranted(granted, caller.Principal) {
		googleError(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).")
		return
	}

	s.mu.Lock()
	expiry := now.Add(lifetime)
	token := s.issue("ya29.c.fake-iam-", TokenInfo{ServiceAccount: email, Scopes: body.Scope, Expiry: expiry})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{
		"accessToken": token,
		"expireTime":  expiry.UTC().Format(time.RFC3339),
	})
}

// memberGranted reports whether principal is one of members, directly or
// through a principalSet://…/* of its pool.
func memberGranted(members []string, principal string) bool {
	for _, member := range members {
		if member == principal {
			return true
		}
		if set, ok := strings.CutSuffix(member, "/*"); ok {
			pool := strings.TrimPrefix(set, "principalSet://")
			if strings.HasPrefix(strings.TrimPrefix(principal, "principal://"), pool+"/subject/") {
				return true
			}
		}
	}
	return false
}
