package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/protocol"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

// fixedExchanger returns a token without network calls, to measure the
// plugin's own work.
type fixedExchanger struct{}

func (fixedExchanger) Exchange(context.Context, provider.Request) (provider.Token, error) {
	return provider.Token{AccessToken: "ya29.bench", Expiry: time.Now().Add(time.Hour)}, nil
}

// benchSetup returns the request bytes and a plugin whose exchanges go to a
// fake Google, or to fixedExchanger when fake is false.
func benchSetup(b *testing.B, impersonate, fake bool) ([]byte, *plugin.Plugin) {
	b.Helper()
	iss, err := issuer.New(issuer.EKSIssuer)
	if err != nil {
		b.Fatal(err)
	}
	token, err := iss.Token(issuer.ServiceAccount{Namespace: "team-a", Name: "app", Audience: []string{audience}})
	if err != nil {
		b.Fatal(err)
	}

	annotations := map[string]string{"gcp-federated-credential-provider.io/workload-identity-provider": providerName}
	if impersonate {
		annotations["iam.gke.io/gcp-service-account"] = serviceAccount
	}
	request, err := json.Marshal(map[string]any{
		"apiVersion": protocol.APIVersion, "kind": protocol.RequestKind,
		"image": image, "serviceAccountToken": token, "serviceAccountAnnotations": annotations,
	})
	if err != nil {
		b.Fatal(err)
	}

	registries, err := registry.NewMatcher(nil)
	if err != nil {
		b.Fatal(err)
	}
	p := &plugin.Plugin{
		Options: plugin.Options{
			UniverseDomain:           identity.DefaultUniverseDomain,
			ProviderAnnotation:       "gcp-federated-credential-provider.io/workload-identity-provider",
			ServiceAccountAnnotation: "iam.gke.io/gcp-service-account",
			Registries:               registries,
			Timeout:                  10 * time.Second,
			CacheSafetyMargin:        5 * time.Minute,
		},
		Exchanger: fixedExchanger{},
	}
	if !fake {
		return request, p
	}

	server := fakegoogle.New()
	b.Cleanup(server.Close)
	keys := iss.JWKS()
	server.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &keys, AllowedAudiences: []string{audience}})
	server.AddServiceAccount(serviceAccount, "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/bench-pool/*")
	p.Exchanger = &provider.Google{
		STSEndpoint:            server.URL(),
		IAMCredentialsEndpoint: server.URL(),
		UniverseDomain:         identity.DefaultUniverseDomain,
		TokenLifetime:          time.Hour,
		Transport:              server.Client().Transport,
	}
	return request, p
}

// serveOnce runs the exec path: decode, choose, exchange, encode.
func serveOnce(b *testing.B, request []byte, p *plugin.Plugin) {
	req, err := protocol.ReadRequest(bytes.NewReader(request))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := p.Handle(context.Background(), req)
	if err != nil {
		b.Fatal(err)
	}
	if err := protocol.WriteResponse(io.Discard, resp); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkExecPath measures the in-process path. The "fake" cases include
// the TLS round trips to the fake on loopback, whose server-side work and
// allocations run in the same process and so count here too.
func BenchmarkExecPath(b *testing.B) {
	cases := []struct {
		name        string
		impersonate bool
		fake        bool
	}{
		{"plugin work without network", false, false},
		{"plugin work with impersonation", true, false},
		{"STS exchange against fake", false, true},
		{"STS and IAM against fake", true, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			request, p := benchSetup(b, c.impersonate, c.fake)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serveOnce(b, request, p)
			}
		})
	}
}
