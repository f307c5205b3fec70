package controlplane

import (
	"context"
	"fmt"
	"net"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-client/pkg/fake"
)

// pull is one PullImage call that the test runtime received.
type pull struct {
	image, username, password string
	// err is the registry's refusal, or nil when the registry accepted.
	err error
}

// testRuntime is k8s.io/cri-client's fake runtime, except that PullImage
// records the credentials it receives and fetches the image's manifest
// with them from the registry, failing the pull when the registry refuses.
type testRuntime struct {
	*fake.RemoteRuntime
	server *grpc.Server

	mu    sync.Mutex
	pulls []pull
}

// startTestRuntime serves the runtime and image services on a unix socket.
func startTestRuntime(socket string) (*testRuntime, error) {
	r := &testRuntime{RemoteRuntime: fake.NewFakeRemoteRuntime(), server: grpc.NewServer()}
	r.RuntimeService.FakeStatus = &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: true},
	}}
	// Container creation fails for images of size 0.
	r.ImageService.SetFakeImageSize(1 << 20)
	runtimeapi.RegisterRuntimeServiceServer(r.server, r)
	runtimeapi.RegisterImageServiceServer(r.server, r)
	listener, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", socket, err)
	}
	go r.server.Serve(listener)
	return r, nil
}

func (r *testRuntime) Stop() { r.server.Stop() }

func (r *testRuntime) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	record := pull{image: req.GetImage().GetImage()}
	if auth := req.GetAuth(); auth != nil {
		record.username, record.password = auth.Username, auth.Password
	}
	record.err = fetchManifest(ctx, record)

	r.mu.Lock()
	r.pulls = append(r.pulls, record)
	r.mu.Unlock()
	if record.err != nil {
		return nil, status.Errorf(codes.Unknown, "pulling %s: %v", record.image, record.err)
	}
	return r.RemoteRuntime.PullImage(ctx, req)
}

func fetchManifest(ctx context.Context, p pull) error {
	ref, err := name.ParseReference(p.image)
	if err != nil {
		return err
	}
	// Tests run offline: the runtime fetches only from registries on this
	// machine and fails any other pull without touching the network.
	host, _, err := net.SplitHostPort(ref.Context().RegistryStr())
	if err != nil || net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("the test runtime pulls only from registries on 127.0.0.1, not %s", ref.Context().RegistryStr())
	}
	auth := authn.Anonymous
	if p.username != "" || p.password != "" {
		auth = &authn.Basic{Username: p.username, Password: p.password}
	}
	_, err = remote.Head(ref, remote.WithAuth(auth), remote.WithContext(ctx))
	return err
}

// pullsOf returns the pulls of image so far.
func (r *testRuntime) pullsOf(image string) []pull {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []pull
	for _, p := range r.pulls {
		if p.image == image {
			out = append(out, p)
		}
	}
	return out
}
