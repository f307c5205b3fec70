package fakegoogle_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

const (
	providerName = "//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/test-pool/providers/test-provider"
	audience     = "test-audience"
)

func newFake(t *testing.T) (*fakegoogle.Server, *issuer.Issuer) {
	t.Helper()
	fake := fakegoogle.New()
	t.Cleanup(fake.Close)
	iss, err := issuer.New("https://issuer.test")
	if err != nil {
		t.Fatal(err)
	}
	keys := iss.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &keys, AllowedAudiences: []string{audience}})
	return fake, iss
}

// exchange posts a token exchange form and returns the status and the
// decoded body.
func exchange(t *testing.T, fake *fakegoogle.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := fake.Client().PostForm(fake.URL()+"/v1/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func exchangeForm(subjectToken string) url.Values {
	return url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"audience":             {providerName},
		"scope":                {"https://www.googleapis.com/auth/cloud-platform"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"subject_token":        {subjectToken},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
	}
}

func TestSTSRejectsLikeGoogle(t *testing.T) {
	_, iss := newFake(t)
	signed := func(change func(map[string]any)) string {
		claims := iss.Claims(issuer.ServiceAccount{Namespace: "ns", Name: "sa", Audience: []string{audience}})
		change(claims)
		token, err := iss.Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	now := time.Now()
	tests := []struct {
		name     string
		form     func() url.Values
		wantCode string
	}{
		{"unsigned token with alg none", func() url.Values {
			return exchangeForm(issuer.Unsigned(iss.Claims(issuer.ServiceAccount{Namespace: "ns", Name: "sa", Audience: []string{audience}})))
		}, "invalid_grant"},
		{"token issued in future", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["iat"] = now.Add(time.Hour).Unix() }))
		}, "invalid_grant"},
		{"token lifetime over 48h", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["exp"] = now.Add(49 * time.Hour).Unix() }))
		}, "invalid_grant"},
		{"expired token", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix() }))
		}, "invalid_grant"},
		{"wrong issuer claim", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["iss"] = "https://other.test" }))
		}, "invalid_grant"},
		{"audience outside allowed list", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["aud"] = []string{providerName} }))
		}, "invalid_grant"},
		{"subject of 128 bytes", func() url.Values {
			return exchangeForm(signed(func(c map[string]any) { c["sub"] = strings.Repeat("s", 128) }))
		}, "invalid_grant"},
		{"tampered payload", func() url.Values {
			token := signed(func(map[string]any) {})
			parts := strings.Split(token, ".")
			other := strings.Split(signed(func(c map[string]any) { c["sub"] = "system:serviceaccount:ns:admin" }), ".")
			return exchangeForm(parts[0] + "." + other[1] + "." + parts[2])
		}, "invalid_grant"},
		{"audience in https form", func() url.Values {
			form := exchangeForm(signed(func(map[string]any) {}))
			form.Set("audience", "https:"+providerName)
			return form
		}, "invalid_request"},
		{"unknown provider", func() url.Values {
			form := exchangeForm(signed(func(map[string]any) {}))
			form.Set("audience", strings.Replace(providerName, "test-provider", "gone-provider", 1))
			return form
		}, "invalid_target"},
		{"wrong grant type", func() url.Values {
			form := exchangeForm(signed(func(map[string]any) {}))
			form.Set("grant_type", "client_credentials")
			return form
		}, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := fakegoogle.New()
			t.Cleanup(fake.Close)
			keys := iss.JWKS()
			fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &keys, AllowedAudiences: []string{audience}})
			status, body := exchange(t, fake, tt.form())
			if status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", status)
			}
			if body["error"] != tt.wantCode {
				t.Errorf("error = %v, want %s (%v)", body["error"], tt.wantCode, body["error_description"])
			}
			if len(fake.Tokens()) != 0 {
				t.Errorf("the fake issued a token")
			}
		})
	}
}

func TestSTSDefaultAudienceRule(t *testing.T) {
	fake, iss := newFake(t)
	keys := iss.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &keys})
	for _, aud := range []string{providerName, "https:" + providerName} {
		t.Run("accepts "+aud[:8]+" form", func(t *testing.T) {
			token, err := iss.Token(issuer.ServiceAccount{Namespace: "ns", Name: "sa", Audience: []string{aud}})
			if err != nil {
				t.Fatal(err)
			}
			status, body := exchange(t, fake, exchangeForm(token))
			if status != http.StatusOK {
				t.Errorf("status = %d (%v), want 200", status, body)
			}
		})
	}
}

// generate calls generateAccessToken with bearer for email.
func generate(t *testing.T, fake *fakegoogle.Server, project, email, bearer, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fake.URL()+"/v1/projects/"+project+"/serviceAccounts/"+email+":generateAccessToken", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := fake.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var decoded map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, decoded
}

func TestIAMChecksCallerAndGrant(t *testing.T) {
	const scopeBody = `{"scope":["https://www.googleapis.com/auth/cloud-platform"],"lifetime":"3600s"}`
	tests := []struct {
		name       string
		members    []string
		project    string
		body       string
		bearer     func(stsToken string) string
		wantStatus int
	}{
		{name: "principal set grants pool", members: []string{"principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/test-pool/*"}, project: "-", body: scopeBody, wantStatus: 200},
		{name: "exact principal grants subject", members: []string{"principal://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/test-pool/subject/system:serviceaccount:ns:sa"}, project: "-", body: scopeBody, wantStatus: 200},
		{name: "other subject is denied", members: []string{"principal://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/test-pool/subject/system:serviceaccount:ns:other"}, project: "-", body: scopeBody, wantStatus: 403},
		{name: "other pool is denied", members: []string{"principalSet://iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/other-pool/*"}, project: "-", body: scopeBody, wantStatus: 403},
		{name: "unknown bearer is unauthenticated", members: nil, project: "-", body: scopeBody, bearer: func(string) string { return "ya29.unknown" }, wantStatus: 401},
		{name: "project other than wildcard", members: nil, project: "my-project", body: scopeBody, wantStatus: 400},
		{name: "empty scope is invalid", members: nil, project: "-", body: `{"scope":[]}`, wantStatus: 400},
		{name: "lifetime over one hour", members: nil, project: "-", body: `{"scope":["x"],"lifetime":"7200s"}`, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, iss := newFake(t)
			email := "reader@demo-project.iam.gserviceaccount.com"
			fake.AddServiceAccount(email, tt.members...)
			token, err := iss.Token(issuer.ServiceAccount{Namespace: "ns", Name: "sa", Audience: []string{audience}})
			if err != nil {
				t.Fatal(err)
			}
			status, body := exchange(t, fake, exchangeForm(token))
			if status != http.StatusOK {
				t.Fatalf("exchange status = %d (%v)", status, body)
			}
			bearer := body["access_token"].(string)
			if tt.bearer != nil {
				bearer = tt.bearer(bearer)
			}
			status, body = generate(t, fake, tt.project, email, bearer, tt.body)
			if status != tt.wantStatus {
				t.Errorf("status = %d (%v), want %d", status, body, tt.wantStatus)
			}
			if status == http.StatusOK {
				info, ok := fake.Lookup(body["accessToken"].(string))
				if !ok || info.ServiceAccount != email {
					t.Errorf("issued token record = %+v, want one for %s", info, email)
				}
			}
		})
	}
}

func TestIAMUnknownServiceAccount(t *testing.T) {
	fake, iss := newFake(t)
	token, err := iss.Token(issuer.ServiceAccount{Namespace: "ns", Name: "sa", Audience: []string{audience}})
	if err != nil {
		t.Fatal(err)
	}
	_, body := exchange(t, fake, exchangeForm(token))
	status, decoded := generate(t, fake, "-", "ghost@demo-project.iam.gserviceaccount.com", body["access_token"].(string), `{"scope":["x"]}`)
	if status != http.StatusNotFound {
		t.Errorf("status = %d, want 404", status)
	}
	errBody, _ := decoded["error"].(map[string]any)
	if errBody["status"] != "NOT_FOUND" {
		t.Errorf("error status = %v, want NOT_FOUND", errBody["status"])
	}
}
