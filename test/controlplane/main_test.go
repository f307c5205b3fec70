// Package controlplane tests the cluster side of the plugin's set-up against
// a real kube-apiserver and etcd on 127.0.0.1.
package controlplane

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/kubelet/conformance"
)

// repoRoot is the repository root, relative to this module.
const repoRoot = "../.."

// testCluster is the control plane that all tests share.
var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// Environment variables that let a child test process, which the
// conformance suite starts for other kubelet configurations, use the parent's
// control plane.
const (
	stateDirEnv = "CONTROLPLANE_STATE_DIR"
	urlEnv      = "CONTROLPLANE_URL"
)

func runMain(m *testing.M) int {
	conformance.SetRepoRoot(repoRoot)
	conformance.SetBackend(func() (conformance.Backend, error) { return newAPIServerBackend() })
	defer conformance.Close()
	if dir, url := os.Getenv(stateDirEnv), os.Getenv(urlEnv); dir != "" && url != "" {
		testCluster = cluster.Attach(dir, url)
		return m.Run()
	}

	dir, err := os.MkdirTemp("", "controlplane-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)

	binaries, err := cluster.Build(filepath.Join(dir, "bin"), ".", "etcd")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testCluster, err = cluster.Start(context.Background(), binaries, filepath.Join(dir, "state"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testCluster.Stop()
	os.Setenv(stateDirEnv, filepath.Join(dir, "state"))
	os.Setenv(urlEnv, testCluster.URL)
	return m.Run()
}
