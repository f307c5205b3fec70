package identity_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
)

const expectedEmailForm = "expected NAME@PROJECT_ID.iam.gserviceaccount.com"

func TestValidateServiceAccountAccepted(t *testing.T) {
	tests := []struct {
		name  string
		email string
	}{
		{"accepts user-managed account", "registry-reader@my-project.iam.gserviceaccount.com"},
		{"accepts domain-scoped project account", "registry-reader@my-project.example.com.iam.gserviceaccount.com"},
		{"accepts App Engine default", "my-project@appspot.gserviceaccount.com"},
		{"accepts Compute Engine default", "123456789012-compute@developer.gserviceaccount.com"},
		{"accepts one-digit compute project", "1-compute@developer.gserviceaccount.com"},
		{"accepts 6-character account ID", "reader@my-project.iam.gserviceaccount.com"},
		{"accepts 30-character account ID", "a" + strings.Repeat("b", 28) + "c@my-project.iam.gserviceaccount.com"},
		{"accepts 30-character project ID", "reader@p" + strings.Repeat("r", 28) + "9.iam.gserviceaccount.com"},
		{"accepts digits and hyphens", "ci-runner-01@project-2024.iam.gserviceaccount.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := identity.ValidateServiceAccount(tt.email); err != nil {
				t.Errorf("ValidateServiceAccount(%q) error: %v", tt.email, err)
			}
		})
	}
}

func TestValidateServiceAccountRejected(t *testing.T) {
	const (
		invalidForm    = "is not one of the forms of Google service account emails"
		invalidAccount = "the account ID"
		invalidProject = "the project ID"
	)
	tests := []struct {
		name        string
		email       string
		wantMessage string
	}{
		{"rejects empty email", "", "the email is empty; " + expectedEmailForm},
		{"rejects uppercase email", "Registry-Reader@My-Project.iam.gserviceaccount.com",
			"Google service account emails are lower case; use registry-reader@my-project.iam.gserviceaccount.com"},
		{"rejects uppercase domain", "registry-reader@my-project.IAM.gserviceaccount.com", "are lower case"},
		{"rejects consumer email domain", "someone.else@gmail.com", "the domain gmail.com is not a Google service account domain; " + expectedEmailForm},
		{"rejects missing at sign", "registry-reader.my-project.iam.gserviceaccount.com", expectedEmailForm},
		{"rejects two at signs", "registry-reader@evil.example@my-project.iam.gserviceaccount.com", expectedEmailForm},
		{"rejects empty account ID", "@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects 5-character account ID", "abcde@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects 31-character account ID", "a" + strings.Repeat("b", 29) + "c@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects digit-led account ID", "1reader@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects hyphen-ended account ID", "reader-@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects underscore account ID", "registry_reader@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects plus in account ID", "registry+reader@my-project.iam.gserviceaccount.com", invalidAccount},
		{"rejects short project ID", "registry-reader@abc.iam.gserviceaccount.com", invalidProject},
		{"rejects missing project ID", "registry-reader@iam.gserviceaccount.com", invalidForm},
		{"rejects missing iam label", "registry-reader@my-project.gserviceaccount.com", invalidForm},
		{"rejects user account at developer", "registry-reader@developer.gserviceaccount.com", invalidForm},
		{"rejects compute leading zero", "0123-compute@developer.gserviceaccount.com", invalidForm},
		{"rejects non-numeric compute project", "my-project-compute@developer.gserviceaccount.com", invalidForm},
		{"rejects leading space", " registry-reader@my-project.iam.gserviceaccount.com", "white space or control characters"},
		{"rejects trailing newline", "registry-reader@my-project.iam.gserviceaccount.com\n", "white space or control characters"},
		{"rejects embedded tab", "registry-reader@my-project\t.iam.gserviceaccount.com", "white space or control characters"},
		{"rejects no-break space", "registry-reader@my-project.iam.gserviceaccount.com\u00a0", "white space or control characters"},
		{"rejects NUL byte", "registry-reader@my-project.iam.gserviceaccount.com\x00", "white space or control characters"},
		{"rejects look-alike iam domain", "registry-reader@my-project.iam.gserviceaccount.com.evil.example",
			"the domain my-project.iam.gserviceaccount.com.evil.example is not a Google service account domain"},
		{"rejects look-alike bare domain", "registry-reader@iam.gserviceaccount.com.evil.example", "is not a Google service account domain"},
		{"rejects domain without dot", "registry-reader@my-projectgserviceaccount.com", "is not a Google service account domain"},
		{"rejects prefixed look-alike domain", "registry-reader@my-project.iam.evilgserviceaccount.com", "is not a Google service account domain"},
		{"rejects trailing dot domain", "registry-reader@my-project.iam.gserviceaccount.com.", "is not a Google service account domain"},
		{"rejects App Engine look-alike", "my-project@appspot.gserviceaccount.com.evil.example", "is not a Google service account domain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.ValidateServiceAccount(tt.email)
			if err == nil {
				t.Fatalf("ValidateServiceAccount(%q) succeeded, want an error", tt.email)
			}
			if !errors.Is(err, identity.ErrInvalidServiceAccount) {
				t.Errorf("ValidateServiceAccount(%q) error %v is not ErrInvalidServiceAccount", tt.email, err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("ValidateServiceAccount(%q) error %q does not contain %q", tt.email, err, tt.wantMessage)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.email)) {
				t.Errorf("ValidateServiceAccount(%q) error %q does not quote the email", tt.email, err)
			}
		})
	}
}

func TestValidateServiceAccountLongInputs(t *testing.T) {
	const domain = "@my-project.iam.gserviceaccount.com"
	tests := []struct {
		name        string
		email       string
		wantMessage string
	}{
		{"rejects 255-byte email", strings.Repeat("a", 255-len(domain)) + domain, "the email is 255 bytes long"},
		{"rejects megabyte email", strings.Repeat("a", 1<<20) + domain, "bytes long, more than an email address may be"},
		{"rejects megabyte of whitespace", strings.Repeat("\n", 1<<20), "bytes long"},
		{"rejects 254-byte bad email", strings.Repeat("a", 254-len(domain)) + domain, "the account ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.ValidateServiceAccount(tt.email)
			if err == nil {
				t.Fatalf("ValidateServiceAccount of %d bytes succeeded, want an error", len(tt.email))
			}
			if !errors.Is(err, identity.ErrInvalidServiceAccount) {
				t.Errorf("error %.200q is not ErrInvalidServiceAccount", err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %.300q does not contain %q", err, tt.wantMessage)
			}
			if len(err.Error()) >= 1000 {
				t.Errorf("error is %d bytes long, want under 1000", len(err.Error()))
			}
		})
	}
}
