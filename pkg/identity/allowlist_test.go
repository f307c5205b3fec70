package identity_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
)

// normalizeDefault normalizes provider patterns for the default universe.
func normalizeDefault(pattern string) (string, error) {
	return identity.NormalizeProviderPattern(pattern, identity.DefaultUniverseDomain)
}

func TestAllowListAllows(t *testing.T) {
	eksPools := "projects/123/locations/global/workloadIdentityPools/eks-*/providers/*"
	tests := []struct {
		name      string
		entries   []string
		normalize func(string) (string, error)
		value     string
		want      bool
	}{
		{"empty list allows anything", nil, nil, "anything at all", true},
		{"empty list allows empty value", []string{}, nil, "", true},
		{"allows exact entry", []string{"reader@my-project.iam.gserviceaccount.com"}, nil, "reader@my-project.iam.gserviceaccount.com", true},
		{"rejects different exact value", []string{"reader@my-project.iam.gserviceaccount.com"}, nil, "writer@my-project.iam.gserviceaccount.com", false},
		{"rejects exact entry prefix", []string{"reader@my-project.iam.gserviceaccount.com"}, nil, "reader@my-project.iam.gserviceaccount.com.evil.example", false},
		{"rejects empty value", []string{"reader@my-project.iam.gserviceaccount.com"}, nil, "", false},
		{"allows star in project", []string{"*@my-project.iam.gserviceaccount.com"}, nil, "reader@my-project.iam.gserviceaccount.com", true},
		{"rejects star other project", []string{"*@my-project.iam.gserviceaccount.com"}, nil, "reader@other-project.iam.gserviceaccount.com", false},
		{"rejects star with extra suffix", []string{"*@my-project.iam.gserviceaccount.com"}, nil, "reader@my-project.iam.gserviceaccount.com.evil.example", false},
		{"star does not cross slash", []string{"team-*"}, nil, "team-a/app", false},
		{"star matches within segment", []string{"team-*/app"}, nil, "team-a/app", true},
		{"question mark matches one", []string{"team-?"}, nil, "team-a", true},
		{"question mark rejects two", []string{"team-?"}, nil, "team-ab", false},
		{"character class matches member", []string{"team-[ab]"}, nil, "team-b", true},
		{"character class rejects non-member", []string{"team-[ab]"}, nil, "team-c", false},
		{"allows second entry", []string{"first@my-project.iam.gserviceaccount.com", "second@my-project.iam.gserviceaccount.com"}, nil,
			"second@my-project.iam.gserviceaccount.com", true},
		{"normalized relative pattern matches", []string{eksPools}, normalizeDefault, providerName("123", "global", "eks-prod", "cluster-1"), true},
		{"normalized https pattern matches", []string{"https://iam.googleapis.com/" + eksPools}, normalizeDefault,
			providerName("123", "global", "eks-prod", "cluster-1"), true},
		{"normalized pattern rejects pool", []string{eksPools}, normalizeDefault, providerName("123", "global", "gke-prod", "cluster-1"), false},
		{"normalized pattern rejects project", []string{eksPools}, normalizeDefault, providerName("456", "global", "eks-prod", "cluster-1"), false},
		{"normalized pattern rejects relative value", []string{eksPools}, normalizeDefault,
			"projects/123/locations/global/workloadIdentityPools/eks-prod/providers/cluster-1", false},
		{"normalized exact provider matches", []string{relativeName}, normalizeDefault, fullName, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := identity.NewAllowList(tt.entries, tt.normalize)
			if err != nil {
				t.Fatalf("NewAllowList(%q) error: %v", tt.entries, err)
			}
			if got := list.Allows(tt.value); got != tt.want {
				t.Errorf("NewAllowList(%q).Allows(%q) = %v, want %v", tt.entries, tt.value, got, tt.want)
			}
		})
	}
}

func TestAllowListRejected(t *testing.T) {
	tests := []struct {
		name        string
		entries     []string
		normalize   func(string) (string, error)
		wantMessage string
		wantErr     error
	}{
		{"rejects unclosed character class", []string{"team-["}, nil, `invalid pattern "team-["`, path.ErrBadPattern},
		{"rejects trailing backslash", []string{`team-\`}, nil, `invalid pattern "team-\\"`, path.ErrBadPattern},
		{"rejects bad second entry", []string{"team-a", "[z-a"}, nil, `invalid pattern "[z-a"`, path.ErrBadPattern},
		{"rejects bad normalized pattern", []string{"projects/123/locations/global/workloadIdentityPools/[/providers/*"}, normalizeDefault,
			`invalid pattern "//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/[/providers/*"`, path.ErrBadPattern},
		{"returns normalize error", []string{"//iam.evil.example/" + relativeName}, normalizeDefault,
			`allowed provider "//iam.evil.example/` + relativeName + `" must start with //iam.googleapis.com/projects/ or projects/`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := identity.NewAllowList(tt.entries, tt.normalize)
			if err == nil {
				t.Fatalf("NewAllowList(%q) = %q, want an error", tt.entries, list.String())
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("NewAllowList(%q) error %q does not contain %q", tt.entries, err, tt.wantMessage)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("NewAllowList(%q) error %v is not %v", tt.entries, err, tt.wantErr)
			}
			if !list.Empty() {
				t.Errorf("NewAllowList(%q) returned entries %q along with the error", tt.entries, list.String())
			}
		})
	}
}

func TestAllowListEmptyAndString(t *testing.T) {
	tests := []struct {
		name       string
		entries    []string
		normalize  func(string) (string, error)
		wantEmpty  bool
		wantString string
	}{
		{"nil entries are empty", nil, nil, true, ""},
		{"one entry is not empty", []string{"team-a"}, nil, false, "team-a"},
		{"joins entries with commas", []string{"team-a", "team-*"}, nil, false, "team-a,team-*"},
		{"shows normalized entries", []string{relativeName, "https:" + fullName}, normalizeDefault, false, fullName + "," + fullName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := identity.NewAllowList(tt.entries, tt.normalize)
			if err != nil {
				t.Fatalf("NewAllowList(%q) error: %v", tt.entries, err)
			}
			if got := list.Empty(); got != tt.wantEmpty {
				t.Errorf("Empty() = %v, want %v", got, tt.wantEmpty)
			}
			if got := list.String(); got != tt.wantString {
				t.Errorf("String() = %q, want %q", got, tt.wantString)
			}
		})
	}
}
