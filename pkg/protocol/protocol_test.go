package protocol

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// testToken is a distinctive service account token. No error message may
// contain it.
const testToken = "eyJhbGciOiJSUzI1NiJ9.SECRETPAYLOAD.SIG"

// validRequest is a complete request as the kubelet sends it.
const validRequest = `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest",` +
	`"image":"us-docker.pkg.dev/my-project/my-repo/app:v1","serviceAccountToken":"` + testToken + `",` +
	`"serviceAccountAnnotations":{"iam.gke.io/gcp-service-account":"puller@my-project.iam.gserviceaccount.com"}}`

// requestWith returns a v1 request whose fields after kind are rest, which
// must start with a comma when it is not empty.
func requestWith(rest string) string {
	return `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest"` + rest + `}`
}

func TestReadRequestValid(t *testing.T) {
	tests := []struct {
		name            string
		input           string
		wantImage       string
		wantToken       string
		wantAnnotations map[string]string
	}{
		{
			name:      "reads complete kubelet request",
			input:     validRequest,
			wantImage: "us-docker.pkg.dev/my-project/my-repo/app:v1",
			wantToken: testToken,
			wantAnnotations: map[string]string{
				"iam.gke.io/gcp-service-account": "puller@my-project.iam.gserviceaccount.com",
			},
		},
		{
			name:      "reads request without token",
			input:     requestWith(`,"image":"gcr.io/my-project/app"`),
			wantImage: "gcr.io/my-project/app",
		},
		{
			name:      "accepts surrounding white space",
			input:     "\n  " + validRequest + "\n\n",
			wantImage: "us-docker.pkg.dev/my-project/my-repo/app:v1",
			wantToken: testToken,
			wantAnnotations: map[string]string{
				"iam.gke.io/gcp-service-account": "puller@my-project.iam.gserviceaccount.com",
			},
		},
		{
			name:      "accepts input of maximum size",
			input:     validRequest + strings.Repeat(" ", MaxRequestSize-len(validRequest)),
			wantImage: "us-docker.pkg.dev/my-project/my-repo/app:v1",
			wantToken: testToken,
			wantAnnotations: map[string]string{
				"iam.gke.io/gcp-service-account": "puller@my-project.iam.gserviceaccount.com",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ReadRequest(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("ReadRequest returned error: %v", err)
			}
			if req.APIVersion != APIVersion {
				t.Errorf("APIVersion = %q, want %q", req.APIVersion, APIVersion)
			}
			if req.Kind != RequestKind {
				t.Errorf("Kind = %q, want %q", req.Kind, RequestKind)
			}
			if req.Image != tt.wantImage {
				t.Errorf("Image = %q, want %q", req.Image, tt.wantImage)
			}
			if req.ServiceAccountToken != tt.wantToken {
				t.Errorf("ServiceAccountToken = %q, want %q", req.ServiceAccountToken, tt.wantToken)
			}
			if len(req.ServiceAccountAnnotations) != len(tt.wantAnnotations) {
				t.Errorf("ServiceAccountAnnotations = %v, want %v", req.ServiceAccountAnnotations, tt.wantAnnotations)
			}
			for key, want := range tt.wantAnnotations {
				if got := req.ServiceAccountAnnotations[key]; got != want {
					t.Errorf("annotation %q = %q, want %q", key, got, want)
				}
			}
		})
	}
}

func TestReadRequestInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// wantMessage is a substring of the error message that identifies
		// the kind of failure.
		wantMessage string
	}{
		{
			name:        "rejects empty input",
			input:       "",
			wantMessage: "standard input is empty",
		},
		{
			name:        "rejects white space only",
			input:       " \n\t\r\n",
			wantMessage: "standard input is empty",
		},
		{
			name:        "rejects text that is not JSON",
			input:       "serviceAccountToken=" + testToken,
			wantMessage: "not valid JSON (syntax error at byte",
		},
		{
			name:        "rejects JSON array",
			input:       `["` + testToken + `"]`,
			wantMessage: "expected a JSON object, found a JSON array",
		},
		{
			name:        "rejects JSON string",
			input:       `"` + testToken + `"`,
			wantMessage: "expected a JSON object, found a JSON string",
		},
		{
			name:        "rejects truncated object",
			input:       `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","serviceAccountToken":"` + testToken,
			wantMessage: "the JSON object is truncated",
		},
		{
			name:        "rejects object cut after colon",
			input:       `{"serviceAccountToken":`,
			wantMessage: "the JSON object is truncated",
		},
		{
			name:        "rejects trailing garbage",
			input:       validRequest + " " + testToken,
			wantMessage: "more data after the JSON object",
		},
		{
			name:        "rejects two objects",
			input:       validRequest + "\n" + validRequest,
			wantMessage: "more data after the JSON object",
		},
		{
			name:        "rejects trailing closing bracket",
			input:       validRequest + "]",
			wantMessage: "more data after the JSON object",
		},
		{
			name:        "rejects trailing comma in object",
			input:       requestWith(`,"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `",`),
			wantMessage: "not valid JSON (syntax error at byte",
		},
		{
			name:        "rejects input over size limit",
			input:       validRequest + strings.Repeat(" ", MaxRequestSize-len(validRequest)+1),
			wantMessage: "larger than 1048576 bytes",
		},
		{
			name: "rejects v1beta1 API version",
			input: `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1beta1","kind":"CredentialProviderRequest",` +
				`"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `apiVersion is "credentialprovider.kubelet.k8s.io/v1beta1", expected "credentialprovider.kubelet.k8s.io/v1"`,
		},
		{
			name: "rejects v1alpha1 API version",
			input: `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1alpha1","kind":"CredentialProviderRequest",` +
				`"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `apiVersion is "credentialprovider.kubelet.k8s.io/v1alpha1", expected`,
		},
		{
			name:        "rejects missing API version",
			input:       `{"kind":"CredentialProviderRequest","image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `apiVersion is "", expected`,
		},
		{
			name: "rejects empty API version",
			input: `{"apiVersion":"","kind":"CredentialProviderRequest",` +
				`"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `apiVersion is "", expected`,
		},
		{
			name:        "rejects JSON null",
			input:       "null",
			wantMessage: `apiVersion is "", expected`,
		},
		{
			name: "rejects response kind",
			input: `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderResponse",` +
				`"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `kind is "CredentialProviderResponse", expected "CredentialProviderRequest"`,
		},
		{
			name:        "rejects missing kind",
			input:       `{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `"}`,
			wantMessage: `kind is "", expected "CredentialProviderRequest"`,
		},
		{
			name:        "rejects unknown field",
			input:       requestWith(`,"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `","audience":"x"`),
			wantMessage: `unknown field "audience"`,
		},
		{
			name:        "rejects field in other case",
			input:       `{"APIVERSION":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"gcr.io/p/app"}`,
			wantMessage: `unknown field "APIVERSION"`,
		},
		{
			name:        "rejects duplicate image field",
			input:       requestWith(`,"image":"gcr.io/p/app","image":"quay.io/p/app"`),
			wantMessage: `duplicate field "image"`,
		},
		{
			name:        "redacts token-shaped field name",
			input:       requestWith(`,"image":"gcr.io/p/app","` + testToken + `":"x"`),
			wantMessage: `unknown field "[REDACTED]"`,
		},
		{
			name:        "rejects null image",
			input:       requestWith(`,"image":null,"serviceAccountToken":"` + testToken + `"`),
			wantMessage: "the image field is missing or empty",
		},
		{
			name:        "rejects missing image",
			input:       requestWith(`,"serviceAccountToken":"` + testToken + `"`),
			wantMessage: "the image field is missing or empty",
		},
		{
			name:        "rejects empty image",
			input:       requestWith(`,"image":"","serviceAccountToken":"` + testToken + `"`),
			wantMessage: "the image field is missing or empty",
		},
		{
			name:        "rejects non-UTF-8 bytes",
			input:       requestWith(`,"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + "\xff\xfe" + `"`),
			wantMessage: "not valid UTF-8",
		},
		{
			name:        "rejects numeric image",
			input:       requestWith(`,"image":42,"serviceAccountToken":"` + testToken + `"`),
			wantMessage: `field "image" must be a string, not a JSON number`,
		},
		{
			name:        "rejects token as array",
			input:       requestWith(`,"image":"gcr.io/p/app","serviceAccountToken":["` + testToken + `"]`),
			wantMessage: `field "serviceAccountToken" must be a string, not a JSON array`,
		},
		{
			name: "rejects annotations as list",
			input: requestWith(`,"image":"gcr.io/p/app","serviceAccountToken":"` + testToken + `",` +
				`"serviceAccountAnnotations":["` + testToken + `"]`),
			wantMessage: `field "serviceAccountAnnotations" must be an object, not a JSON array`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ReadRequest(strings.NewReader(tt.input))
			if err == nil {
				t.Fatalf("ReadRequest returned no error, request %+v", req)
			}
			if req != nil {
				t.Errorf("ReadRequest returned a request with an error")
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("errors.Is(%v, ErrInvalidRequest) = false, want true", err)
			}
			if !strings.Contains(err.Error(), tt.wantMessage) {
				t.Errorf("error %q does not contain %q", err, tt.wantMessage)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q contains the service account token", err)
			}
			if strings.Contains(err.Error(), "SECRETPAYLOAD") {
				t.Errorf("error %q contains part of the service account token", err)
			}
		})
	}
}

func TestReadRequestReaderError(t *testing.T) {
	readErr := errors.New("read failed")
	tests := []struct {
		name   string
		reader io.Reader
	}{
		{name: "reports immediate read error", reader: iotest.ErrReader(readErr)},
		{name: "reports read error midway", reader: io.MultiReader(strings.NewReader(`{"image":`), iotest.ErrReader(readErr))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ReadRequest(tt.reader)
			if err == nil {
				t.Fatalf("ReadRequest returned no error, request %+v", req)
			}
			if !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("errors.Is(%v, ErrInvalidRequest) = false, want true", err)
			}
			if !errors.Is(err, readErr) {
				t.Errorf("errors.Is(%v, readErr) = false, want true", err)
			}
			if !strings.Contains(err.Error(), "reading standard input") {
				t.Errorf("error %q does not contain %q", err, "reading standard input")
			}
		})
	}
}

// failingWriter returns err from every Write.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestWriteResponse(t *testing.T) {
	tests := []struct {
		name          string
		host          string
		username      string
		password      string
		cacheDuration time.Duration
		want          string
	}{
		{
			name:          "encodes 55 minute response",
			host:          "us-docker.pkg.dev",
			username:      "oauth2accesstoken",
			password:      "ya29.x",
			cacheDuration: 55 * time.Minute,
			want: `{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",` +
				`"cacheKeyType":"Registry","cacheDuration":"55m0s",` +
				`"auth":{"us-docker.pkg.dev":{"username":"oauth2accesstoken","password":"ya29.x"}}}` + "\n",
		},
		{
			name:          "encodes zero duration as 0s",
			host:          "us-docker.pkg.dev",
			username:      "oauth2accesstoken",
			password:      "ya29.x",
			cacheDuration: 0,
			want: `{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",` +
				`"cacheKeyType":"Registry","cacheDuration":"0s",` +
				`"auth":{"us-docker.pkg.dev":{"username":"oauth2accesstoken","password":"ya29.x"}}}` + "\n",
		},
		{
			name:          "encodes host with port",
			host:          "registry.example.com:5000",
			username:      "oauth2accesstoken",
			password:      "ya29.y",
			cacheDuration: 90 * time.Second,
			want: `{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",` +
				`"cacheKeyType":"Registry","cacheDuration":"1m30s",` +
				`"auth":{"registry.example.com:5000":{"username":"oauth2accesstoken","password":"ya29.y"}}}` + "\n",
		},
		{
			name:          "escapes HTML-sensitive password characters",
			host:          "gcr.io",
			username:      "oauth2accesstoken",
			password:      "a<b>&c",
			cacheDuration: time.Hour,
			want: `{"kind":"CredentialProviderResponse","apiVersion":"credentialprovider.kubelet.k8s.io/v1",` +
				`"cacheKeyType":"Registry","cacheDuration":"1h0m0s",` +
				`"auth":{"gcr.io":{"username":"oauth2accesstoken","password":"a\u003cb\u003e\u0026c"}}}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := NewResponse(tt.host, tt.username, tt.password, tt.cacheDuration)
			var out bytes.Buffer
			if err := WriteResponse(&out, resp); err != nil {
				t.Fatalf("WriteResponse returned error: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("WriteResponse wrote\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestNewResponseFields(t *testing.T) {
	tests := []struct {
		name          string
		cacheDuration time.Duration
	}{
		{name: "sets fields for positive duration", cacheDuration: 55 * time.Minute},
		{name: "sets fields for zero duration", cacheDuration: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := NewResponse("us-docker.pkg.dev", "oauth2accesstoken", "ya29.x", tt.cacheDuration)
			if resp.APIVersion != APIVersion {
				t.Errorf("APIVersion = %q, want %q", resp.APIVersion, APIVersion)
			}
			if resp.Kind != ResponseKind {
				t.Errorf("Kind = %q, want %q", resp.Kind, ResponseKind)
			}
			if resp.CacheKeyType != "Registry" {
				t.Errorf("CacheKeyType = %q, want Registry", resp.CacheKeyType)
			}
			if resp.CacheDuration == nil {
				t.Fatalf("CacheDuration is nil")
			}
			if resp.CacheDuration.Duration != tt.cacheDuration {
				t.Errorf("CacheDuration = %s, want %s", resp.CacheDuration.Duration, tt.cacheDuration)
			}
			if len(resp.Auth) != 1 {
				t.Errorf("Auth has %d entries, want 1", len(resp.Auth))
			}
			auth, ok := resp.Auth["us-docker.pkg.dev"]
			if !ok {
				t.Fatalf("Auth has no entry for us-docker.pkg.dev")
			}
			if auth.Username != "oauth2accesstoken" {
				t.Errorf("Username = %q, want oauth2accesstoken", auth.Username)
			}
			if auth.Password != "ya29.x" {
				t.Errorf("Password = %q, want ya29.x", auth.Password)
			}
		})
	}
}

func TestWriteResponseWriterError(t *testing.T) {
	tests := []struct {
		name   string
		writer io.Writer
	}{
		{name: "reports failed write", writer: failingWriter{err: io.ErrClosedPipe}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteResponse(tt.writer, NewResponse("gcr.io", "oauth2accesstoken", "ya29.x", time.Minute))
			if err == nil {
				t.Fatalf("WriteResponse returned no error")
			}
			if !errors.Is(err, io.ErrClosedPipe) {
				t.Errorf("errors.Is(%v, io.ErrClosedPipe) = false, want true", err)
			}
			if strings.Contains(err.Error(), "ya29.x") {
				t.Errorf("error %q contains the access token", err)
			}
		})
	}
}
