// Package fakeregistry is an in-memory OCI registry on 127.0.0.1 that checks
// credentials like Artifact Registry: Basic oauth2accesstoken:TOKEN, where
// TOKEN is an unexpired access token that the fake Google issued.
package fakeregistry

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
)

// Registry serves pulls behind the credential check. Pushes go through a
// second, open server that shares the storage.
type Registry struct {
	// Host is the registry's host and port, such as 127.0.0.1:41234.
	Host string

	google       *fakegoogle.Server
	open, pull   *httptest.Server
	mu           sync.Mutex
	readers      []string
	rejectTokens bool
}

// New starts a registry that checks tokens with google. Close stops it.
func New(google *fakegoogle.Server) *Registry {
	storage := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r := &Registry{google: google, open: httptest.NewServer(storage)}
	r.pull = httptest.NewServer(r.checkAuth(storage))
	r.Host = strings.TrimPrefix(r.pull.URL, "http://")
	return r
}

// Close stops both servers.
func (r *Registry) Close() {
	r.pull.Close()
	r.open.Close()
}

// Push stores a random single-layer image as repository:tag and returns the
// reference that pulls it through the credential check.
func (r *Registry) Push(repository, tag string) (string, error) {
	ref, err := name.ParseReference(strings.TrimPrefix(r.open.URL, "http://") + "/" + repository + ":" + tag)
	if err != nil {
		return "", err
	}
	img, err := random.Image(256, 1)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img); err != nil {
		return "", err
	}
	return r.Host + "/" + repository + ":" + tag, nil
}

// SetReaders sets the identities that may pull: federated principals
// (principal://…) or impersonated service account emails.
func (r *Registry) SetReaders(identities ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.readers = identities
}

// RejectAllTokens makes every credential unauthenticated, as for tokens of
// another universe.
func (r *Registry) RejectAllTokens() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejectTokens = true
}

// checkAuth returns 401 without credentials or with a token that the fake
// did not issue or that expired, and 403 for an identity outside the
// readers, as Artifact Registry does.
func (r *Registry) checkAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		readers, rejectTokens := r.readers, r.rejectTokens
		r.mu.Unlock()

		user, password, ok := req.BasicAuth()
		info, known := r.google.Lookup(password)
		if !ok || user != "oauth2accesstoken" || !known || !info.Expiry.After(time.Now()) || rejectTokens {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake registry"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		identity := info.Principal
		if info.ServiceAccount != "" {
			identity = info.ServiceAccount
		}
		if req.URL.Path != "/v2/" && !slices.Contains(readers, identity) {
			http.Error(w, `{"errors":[{"code":"DENIED","message":"permission denied"}]}`, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}
