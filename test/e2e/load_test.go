package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

// TestConcurrentRuns starts 32 plugin processes at once, as a burst of pod
// starts on one node does.
func TestConcurrentRuns(t *testing.T) {
	const runs = 32
	e := newEnv(t)
	tok := token(t, e.eks, issuer.ServiceAccount{})
	stdin := requestJSON(t, "us-docker.pkg.dev/demo-project/images/app", tok, map[string]string{providerKey: eksProvider})

	results := make([]result, runs)
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() { results[i] = e.run(t, stdin) })
	}
	wg.Wait()

	passwords := map[string]bool{}
	for i, res := range results {
		if res.code != 0 {
			t.Errorf("run %d: exit status %d, stderr %s", i, res.code, res.stderr)
			continue
		}
		var resp struct {
			Auth map[string]struct{ Password string } `json:"auth"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &resp); err != nil {
			t.Errorf("run %d: %v", i, err)
			continue
		}
		password := resp.Auth["us-docker.pkg.dev"].Password
		if _, ok := e.fake.Lookup(password); !ok {
			t.Errorf("run %d: the password is not a token the fake issued", i)
		}
		passwords[password] = true
	}
	if n := e.fake.STSRequests(); n != runs {
		t.Errorf("STS requests = %d, want exactly one per run (%d)", n, runs)
	}
	if len(passwords) != runs {
		t.Errorf("%d distinct tokens, want %d", len(passwords), runs)
	}
}

// connectProxy is an HTTP CONNECT proxy on 127.0.0.1 that records the
// targets it was asked for and forwards only to this machine.
type connectProxy struct {
	listener net.Listener
	mu       sync.Mutex
	targets  []string
}

func newConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{listener: l}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(conn) })
		}
	})
	return p
}

func (p *connectProxy) serve(client net.Conn) {
	defer client.Close()
	reader := bufio.NewReader(client)
	req, err := http.ReadRequest(reader)
	if err != nil {
		return
	}
	p.mu.Lock()
	p.targets = append(p.targets, req.Host)
	p.mu.Unlock()

	host, port, err := net.SplitHostPort(req.Host)
	if req.Method != http.MethodConnect || err != nil || (host != "0.0.0.0" && host != "127.0.0.1") {
		io.WriteString(client, "HTTP/1.1 403 Forbidden\r\n\r\n")
		return
	}
	upstream, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		io.WriteString(client, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer upstream.Close()
	io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n")

	done := make(chan struct{}, 2)
	go func() { io.Copy(upstream, reader); done <- struct{}{} }()
	go func() { io.Copy(client, upstream); done <- struct{}{} }()
	<-done
}

func (p *connectProxy) connectTargets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

// TestProxyEnvironment checks that HTTPS_PROXY and NO_PROXY apply. Go never
// proxies requests to loopback names and addresses, so the endpoints use
// 0.0.0.0, which Linux connects to the local host and which the fake's
// certificate names.
func TestProxyEnvironment(t *testing.T) {
	tests := []struct {
		name        string
		noProxy     string
		wantProxied bool
	}{
		{name: "HTTPS_PROXY carries requests", wantProxied: true},
		{name: "NO_PROXY bypasses proxy", noProxy: "0.0.0.0", wantProxied: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			proxy := newConnectProxy(t)
			endpoint := "https://0.0.0.0:" + e.fake.Port()
			env := []string{"SSL_CERT_FILE=" + e.caFile, "HTTPS_PROXY=http://" + proxy.listener.Addr().String()}
			if tt.noProxy != "" {
				env = append(env, "NO_PROXY="+tt.noProxy)
			}
			tok := token(t, e.eks, issuer.ServiceAccount{})
			stdin := requestJSON(t, "gcr.io/p/app", tok, map[string]string{providerKey: eksProvider, impersonationKey: readerEmail})

			res := runPluginWithStdin(t, bytes.NewReader(stdin), env, "--sts-endpoint="+endpoint, "--iam-credentials-endpoint="+endpoint)
			if res.code != 0 {
				t.Fatalf("exit status %d, stderr %s", res.code, res.stderr)
			}
			// STS and IAM share the fake's address, so one tunnel may carry
			// both requests.
			targets := proxy.connectTargets()
			if proxied := len(targets) > 0; proxied != tt.wantProxied {
				t.Errorf("the proxy carried %d connections (%v), want proxied %t", len(targets), targets, tt.wantProxied)
			}
			for _, target := range targets {
				if !strings.HasPrefix(target, "0.0.0.0:") {
					t.Errorf("CONNECT target %q, want the endpoint's host", target)
				}
			}
			if n := e.fake.STSRequests() + e.fake.IAMRequests(); n != 2 {
				t.Errorf("the fake received %d requests, want 2", n)
			}
		})
	}
}
