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
)

// repoRoot is the repository root, relative to this module.
const repoRoot = "../.."

// testCluster is the control plane that all tests share.
var testCluster *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
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
	return m.Run()
}
