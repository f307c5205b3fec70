package redact_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/redact"
)

const (
	sampleJWT  = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YTpiIn0.c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
	sampleYa29 = "ya29.a0AfB_byC1-example.token_value-42"
	// base64url39 is one character shorter than the shortest run that String
	// treats as a secret.
	base64url39 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0_-"
)

func TestStringRedactsSecrets(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		secrets []string
		want    string
	}{
		{"redacts JWT in text", "token " + sampleJWT + " was rejected", nil, "token [REDACTED] was rejected"},
		{"redacts JWT in JSON", `{"subject_token":"` + sampleJWT + `"}`, nil, `{"subject_token":"[REDACTED]"}`},
		{"redacts unsigned JWT", "token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. rejected", nil, "token [REDACTED] rejected"},
		{"redacts two-part JWT prefix", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0", nil, "[REDACTED]"},
		{"redacts two JWTs", sampleJWT + " and " + sampleJWT, nil, "[REDACTED] and [REDACTED]"},
		{"redacts ya29 access token", "Authorization: Bearer " + sampleYa29, nil, "Authorization: Bearer [REDACTED]"},
		{"redacts ya29 in JSON", `{"access_token":"` + sampleYa29 + `","expires_in":3599}`, nil, `{"access_token":"[REDACTED]","expires_in":3599}`},
		{"redacts 40-character run", "key " + base64url39 + "x end", nil, "key [REDACTED] end"},
		{"redacts long hex run", "id " + strings.Repeat("0123456789abcdef", 4), nil, "id [REDACTED]"},
		{"keeps 39-character run", "key " + base64url39 + " end", nil, "key " + base64url39 + " end"},
		{"redacts known secret", "subject token opaque!secret rejected", []string{"opaque!secret"}, "subject token [REDACTED] rejected"},
		{"redacts every occurrence", "s3cr3t, again s3cr3t", []string{"s3cr3t"}, "[REDACTED], again [REDACTED]"},
		{"redacts several known secrets", "first one, second two", []string{"one", "two"}, "first [REDACTED], second [REDACTED]"},
		{"treats secret literally", "value a.b*c and abbbc", []string{"a.b*c"}, "value [REDACTED] and abbbc"},
		{"redacts secret containing newline", "before line1\nline2 after", []string{"line1\nline2"}, "before [REDACTED] after"},
		{"ignores empty known secret", "nothing secret here", []string{""}, "nothing secret here"},
		{"keeps text without secrets", "plain text", []string{"absent"}, "plain text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.String(tt.input, tt.secrets...); got != tt.want {
				t.Errorf("String(%q, %q) = %q, want %q", tt.input, tt.secrets, got, tt.want)
			}
		})
	}
}

func TestStringReplacesControlCharacters(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"replaces newline", "line one\nline two", "line one line two"},
		{"replaces carriage return", "status\r\nX-Injected: 1", "status  X-Injected: 1"},
		{"replaces tab", "key\tvalue", "key value"},
		{"replaces NUL byte", "before\x00after", "before after"},
		{"replaces escape character", "\x1b[31mred\x1b[0m", " [31mred [0m"},
		{"replaces DEL character", "a\x7fb", "a b"},
		{"replaces Unicode line separators", "one\u0085two\u2028three\u2029four", "one two three four"},
		{"keeps non-ASCII letters", "access denied for café-reader", "access denied for café-reader"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.String(tt.input); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.input, got, tt.want)
			}
		})
	}
}

func TestStringLengthCap(t *testing.T) {
	const limit = 512
	tests := []struct {
		name          string
		input         string
		wantTruncated bool
	}{
		{"keeps 512-byte text", strings.Repeat("ab ", 170) + "ab", false},
		{"cuts 513-byte text", strings.Repeat("ab ", 171), true},
		{"cuts megabyte text", strings.Repeat("error ", 1<<20/6), true},
		{"cuts text after redaction", strings.Repeat(sampleJWT+" ", 100), true},
		{"cuts on character boundary", strings.Repeat("a ", 255) + " é and more text", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact.String(tt.input)
			truncated := strings.HasSuffix(got, "…")
			if truncated != tt.wantTruncated {
				t.Errorf("String of %d bytes ends with an ellipsis = %v, want %v", len(tt.input), truncated, tt.wantTruncated)
			}
			if len(got) > limit {
				t.Errorf("String of %d bytes returned %d bytes, want at most %d", len(tt.input), len(got), limit)
			}
			if !utf8.ValidString(got) {
				t.Errorf("String of %d bytes returned invalid UTF-8", len(tt.input))
			}
			if !tt.wantTruncated && got != tt.input {
				t.Errorf("String(%q) = %q, want the input unchanged", tt.input, got)
			}
			if tt.wantTruncated && strings.Contains(got, "eyJ") {
				t.Errorf("String output %q contains part of a JWT", got)
			}
		})
	}
}

func TestStringKeepsOrdinaryText(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"keeps word containing eyJ", "see monkeyJar.txt for details"},
		{"keeps provider resource name", "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool/providers/my-provider"},
		{"keeps principal name", "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/my-pool/subject/system:serviceaccount:team-a:app"},
		{"keeps service account email", "registry-reader@my-project.iam.gserviceaccount.com"},
		{"keeps STS error JSON", `{"error":"invalid_grant","error_description":"The audience of the token does not match ` +
			`//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/my-pool/providers/my-provider."}`},
		{"keeps IAM permission error", `{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied for ` +
			`registry-reader@my-project.iam.gserviceaccount.com.","status":"PERMISSION_DENIED"}}`},
		{"keeps disabled API error", "The IAM Service Account Credentials API is disabled in project 123456789012; enable iamcredentials.googleapis.com and retry."},
		{"keeps error code names", "UNAUTHENTICATED: invalid_target, unauthorized_client, FAILED_PRECONDITION"},
		{"keeps registry image name", "us-docker.pkg.dev/my-project/my-repository/my-image:v1.2.3"},
		{"keeps RFC 3339 time", "the token expired at 2030-01-01T00:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.String(tt.input); got != tt.input {
				t.Errorf("String(%q) = %q, want the input unchanged", tt.input, got)
			}
		})
	}
}
