package diagnose

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
)

// checkRegistry fetches the image's manifest head with the credentials the
// plugin would return, as the container runtime does before a pull.
func (r *run) checkRegistry(ctx context.Context) (string, string, error) {
	ref, err := name.ParseReference(r.in.Image)
	if err != nil {
		return r.in.Image, "pass the image as HOST/REPOSITORY[:TAG]", fmt.Errorf(": %w", err)
	}
	ctx, cancel := r.timeout(ctx)
	defer cancel()

	base := r.d.RegistryTransport
	if base == nil {
		base = http.DefaultTransport
	}
	auth := &authn.Basic{Username: plugin.RegistryUsername, Password: r.accessToken}
	descriptor, err := remote.Head(ref, remote.WithAuth(auth), remote.WithTransport(base), remote.WithContext(ctx))
	value := ref.Name()
	if err == nil {
		return value + fmt.Sprintf(": manifest %s found", descriptor.Digest), "", nil
	}

	identity := r.request.Provider.Principal(r.request.Claims.Subject)
	member := identity
	if r.request.ServiceAccount != "" {
		identity = r.request.ServiceAccount
		member = "serviceAccount:" + identity
	}
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized:
			return value, "the registry did not accept the access token as a credential; check that the image's host belongs to the same universe as --sts-endpoint",
				fmt.Errorf(": unauthenticated (HTTP 401) with the token of %s", identity)
		case http.StatusForbidden:
			return value, fmt.Sprintf("grant read access on the repository: gcloud artifacts repositories add-iam-policy-binding REPOSITORY --location=LOCATION --role=roles/artifactregistry.reader --member=%s", member),
				fmt.Errorf(": authenticated as %s but without permission (HTTP 403)", identity)
		case http.StatusNotFound:
			return value, "check the image's repository and tag, or pass another with --image",
				errors.New(": not found (HTTP 404); the credentials work, but no such manifest exists")
		}
	}
	return value, "check the network path to the registry", fmt.Errorf(": %v", err)
}
