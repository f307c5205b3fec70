package controlplane

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	"sigs.k8s.io/yaml"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
)

// kubelet is a kubelet process registered as node-1.
type kubelet struct {
	cmd     *exec.Cmd
	rootDir string
	logPath string
}

// writeCredentialProviderConfig loads examples/CredentialProviderConfig.yaml
// and appends what points the plugin at the fakes: the registry host in
// matchImages and --registry-host, the endpoints and the CA file.
func writeCredentialProviderConfig(t *testing.T, dir string, google *fakegoogle.Server, caFile, registryHost string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "CredentialProviderConfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	if err := yaml.UnmarshalStrict(data, &cfg); err != nil {
		t.Fatal(err)
	}
	p := &cfg.Providers[0]
	p.MatchImages = append(p.MatchImages, registryHost)
	p.Args = append(p.Args, "--sts-endpoint="+google.URL(), "--iam-credentials-endpoint="+google.URL(), "--registry-host="+registryHost)
	p.Env = append(p.Env, kubeletconfigv1.ExecEnvVar{Name: "SSL_CERT_FILE", Value: caFile})
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "credential-provider-config.yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startKubelet runs the kubelet with the settings a sandbox needs: no
// cgroups per QoS class, no node allocatable enforcement, cgroup v1
// allowed, swap allowed, and every directory under dir.
func startKubelet(t *testing.T, binary, dir, criSocket, providerConfig, binDir string) *kubelet {
	t.Helper()
	k := &kubelet{rootDir: filepath.Join(dir, "root"), logPath: filepath.Join(dir, "kubelet.log")}
	kubeconfig, err := testCluster.WriteKubeconfig("node")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := cluster.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %q}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
podLogsDir: %q
volumePluginDir: %q
syncFrequency: 2s
fileCheckFrequency: 2s
nodeStatusUpdateFrequency: 2s
serializeImagePulls: false
registryPullQPS: 0
localStorageCapacityIsolation: false
resolvConf: ""
`, ports[0], ports[1], testCluster.CAFile(), criSocket, filepath.Join(dir, "pod-logs"), filepath.Join(dir, "volume-plugins"))
	configPath := filepath.Join(dir, "kubelet-config.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{k.rootDir, filepath.Join(dir, "certs"), filepath.Join(dir, "pod-logs"), filepath.Join(dir, "volume-plugins")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The kubelet creates these outside its root directory whatever its
	// settings; remove the ones that did not exist before.
	// Cleanups run last first, so parents come before their contents.
	for _, path := range []string{"/var/lib/kubelet", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet/device-plugins/kubelet.sock", "/var/log/containers"} {
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			t.Cleanup(func() { os.Remove(path) })
		}
	}

	logFile, err := os.Create(k.logPath)
	if err != nil {
		t.Fatal(err)
	}
	k.cmd = exec.Command(binary,
		"--config="+configPath,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+k.rootDir,
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--hostname-override="+cluster.NodeName,
		"--node-ip=127.0.0.1",
		"--image-credential-provider-config="+providerConfig,
		"--image-credential-provider-bin-dir="+binDir,
		"--v=2",
	)
	k.cmd.Stdout, k.cmd.Stderr = logFile, logFile
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		t.Fatalf("starting the kubelet: %v", err)
	}
	t.Cleanup(func() {
		k.stop()
		logFile.Close()
	})
	return k
}

// stop ends the kubelet and undoes the mounts it made under its root
// directory, so that the directory can be removed.
func (k *kubelet) stop() {
	if k.cmd.Process != nil {
		k.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { k.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			k.cmd.Process.Kill()
			<-done
		}
	}
	mounts, _ := mountsUnder(k.rootDir)
	// Deepest first.
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	for _, m := range mounts {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// log returns what the kubelet wrote so far.
func (k *kubelet) log() string {
	data, _ := os.ReadFile(k.logPath)
	return string(data)
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			mounts = append(mounts, fields[4])
		}
	}
	return mounts, scanner.Err()
}
