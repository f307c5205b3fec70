// Package cluster starts a real control plane for tests: etcd and
// kube-apiserver built from source through the Go module proxy, listening
// on 127.0.0.1 only, with generated certificates, Node and RBAC
// authorization and the NodeRestriction admission plugin.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NodeName is the node whose client certificate the cluster issues.
const NodeName = "node-1"

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// URL is the API server's address, which is also the service account
	// issuer.
	URL string
	dir string

	etcd, apiserver *exec.Cmd
	pki             *pki
}

// Binaries are the paths of the built control plane programs.
type Binaries struct {
	Etcd, APIServer string
}

// Build compiles etcd and kube-apiserver into dir. moduleDir is the
// directory of the Go module that requires k8s.io/kubernetes; etcdDir is the
// module of the etcd wrapper. The Go build cache makes rebuilds quick.
func Build(dir, moduleDir, etcdDir string) (Binaries, error) {
	b := Binaries{Etcd: filepath.Join(dir, "etcd"), APIServer: filepath.Join(dir, "kube-apiserver")}
	builds := []struct {
		dir, out, pkg string
	}{
		{etcdDir, b.Etcd, "."},
		{moduleDir, b.APIServer, "k8s.io/kubernetes/cmd/kube-apiserver"},
	}
	for _, build := range builds {
		cmd := exec.Command("go", "build", "-o", build.out, build.pkg)
		cmd.Dir = build.dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("building %s: %v: %s", build.pkg, err, out)
		}
	}
	return b, nil
}

// Start runs etcd and kube-apiserver with their state under dir and returns
// when the API server is ready. Stop ends both.
func Start(ctx context.Context, b Binaries, dir string) (*Cluster, error) {
	c := &Cluster{dir: dir}
	var err error
	if c.pki, err = newPKI(dir); err != nil {
		return nil, err
	}
	if err := c.pki.issue("apiserver", "kube-apiserver", nil, true); err != nil {
		return nil, err
	}
	if err := c.pki.issue("admin", "admin", []string{"system:masters"}, false); err != nil {
		return nil, err
	}
	if err := c.pki.issue("node", "system:node:"+NodeName, []string{"system:nodes"}, false); err != nil {
		return nil, err
	}
	if err := c.pki.serviceAccountKey(); err != nil {
		return nil, err
	}

	ports, err := FreePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient := "http://127.0.0.1:" + ports[0]
	etcdPeer := "http://127.0.0.1:" + ports[1]
	c.URL = "https://127.0.0.1:" + ports[2]

	c.etcd = exec.Command(b.Etcd,
		"--name=test",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdClient, "--advertise-client-urls="+etcdClient,
		"--listen-peer-urls="+etcdPeer, "--initial-advertise-peer-urls="+etcdPeer,
		"--initial-cluster=test="+etcdPeer,
		"--log-level=error",
	)
	if err := c.start(c.etcd, "etcd.log"); err != nil {
		return nil, err
	}
	if err := waitFor(ctx, 30*time.Second, func() error { return get(http.DefaultClient, etcdClient+"/health") }); err != nil {
		c.Stop()
		return nil, fmt.Errorf("etcd did not become healthy: %w; see %s", err, filepath.Join(dir, "etcd.log"))
	}

	c.apiserver = exec.Command(b.APIServer,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+ports[2],
		"--etcd-servers="+etcdClient,
		"--tls-cert-file="+c.pki.path("apiserver.crt"), "--tls-private-key-file="+c.pki.path("apiserver.key"),
		"--client-ca-file="+c.pki.path("ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--service-account-issuer="+c.URL,
		"--service-account-key-file="+c.pki.path("sa.pub"),
		"--service-account-signing-key-file="+c.pki.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		// On loopback the default reconciler cannot publish the endpoint.
		"--endpoint-reconciler-type=none",
		"--cert-dir="+filepath.Join(dir, "certs"),
	)
	if err := c.start(c.apiserver, "apiserver.log"); err != nil {
		c.Stop()
		return nil, err
	}
	admin, err := c.HTTPClient("admin")
	if err != nil {
		c.Stop()
		return nil, err
	}
	if err := waitFor(ctx, 90*time.Second, func() error { return get(admin, c.URL+"/readyz") }); err != nil {
		c.Stop()
		return nil, fmt.Errorf("kube-apiserver did not become ready: %w; see %s", err, filepath.Join(dir, "apiserver.log"))
	}
	return c, nil
}

// Attach returns the cluster that another process started with its state
// in dir and its API server at url. Stop does nothing on it.
func Attach(dir, url string) *Cluster {
	return &Cluster{URL: url, dir: dir, pki: &pki{dir: dir}}
}

func (c *Cluster) start(cmd *exec.Cmd, logName string) error {
	log, err := os.Create(filepath.Join(c.dir, logName))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", filepath.Base(cmd.Path), err)
	}
	return nil
}

// Stop ends the API server, then etcd: the API server hangs on shutdown
// when etcd goes first.
func (c *Cluster) Stop() {
	for _, cmd := range []*exec.Cmd{c.apiserver, c.etcd} {
		if cmd == nil || cmd.Process == nil {
			continue
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

// CAFile returns the path of the CA certificate that signed the API
// server's serving certificate.
func (c *Cluster) CAFile() string { return c.pki.path("ca.crt") }

// RESTConfig returns a client configuration for "admin" (system:masters) or
// "node" (system:node:node-1 in system:nodes).
func (c *Cluster) RESTConfig(identity string) *rest.Config {
	return &rest.Config{
		Host: c.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   c.pki.path("ca.crt"),
			CertFile: c.pki.path(identity + ".crt"),
			KeyFile:  c.pki.path(identity + ".key"),
		},
	}
}

// Client returns a clientset for "admin" or "node".
func (c *Cluster) Client(identity string) (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.RESTConfig(identity))
}

// HTTPClient returns an HTTP client with the identity's certificate, or an
// anonymous one for "anonymous", that trusts the cluster CA.
func (c *Cluster) HTTPClient(identity string) (*http.Client, error) {
	caPEM, err := os.ReadFile(c.pki.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	config := &tls.Config{RootCAs: pool}
	if identity != "anonymous" {
		cert, err := tls.LoadX509KeyPair(c.pki.path(identity+".crt"), c.pki.path(identity+".key"))
		if err != nil {
			return nil, err
		}
		config.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: config}}, nil
}

// WriteKubeconfig writes a kubeconfig for identity and returns its path.
func (c *Cluster) WriteKubeconfig(identity string) (string, error) {
	path := filepath.Join(c.dir, identity+".kubeconfig")
	config := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority: %q}
users:
- name: %s
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, c.URL, c.pki.path("ca.crt"), identity, c.pki.path(identity+".crt"), c.pki.path(identity+".key"), identity)
	return path, os.WriteFile(path, []byte(config), 0o600)
}

func get(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

func waitFor(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// FreePorts returns n ports that were free on 127.0.0.1 a moment ago.
func FreePorts(n int) ([]string, error) {
	var ports []string
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().String()[strings.LastIndex(l.Addr().String(), ":")+1:])
	}
	return ports, nil
}
