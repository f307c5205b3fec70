package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakeregistry"
)

const nodeNamespace = "node-test"

// TestKubeletPullsWithPluginCredentials runs a real kubelet on node-1 with
// examples/CredentialProviderConfig.yaml and the plugin, and follows each
// pod's image pull to the test runtime and the registry.
func TestKubeletPullsWithPluginCredentials(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("the kubelet needs root; run the control plane suite as root")
	}
	admin, err := testCluster.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	dir := shortTempDir(t)

	google := googleForCluster(t, admin)
	for _, name := range []string{eksProvider} {
		google.AddProvider(fakegoogle.Provider{Name: name, Issuer: testCluster.URL, AllowedAudiences: []string{exampleAudience}})
	}
	readerEmail := "registry-reader@demo-project.iam.gserviceaccount.com"
	google.AddServiceAccount(readerEmail, "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/*")
	caFile := filepath.Join(dir, "google-ca.pem")
	if err := os.WriteFile(caFile, google.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}

	registry := fakeregistry.New(google)
	t.Cleanup(registry.Close)
	principal := func(sa string) string {
		return "principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/subject/system:serviceaccount:" + nodeNamespace + ":" + sa
	}
	registry.SetReaders(principal("app"), readerEmail)

	binDir := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(binDir, "gcp-federated-credential-provider"), "./cmd/gcp-federated-credential-provider")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v: %s", err, out)
	}
	kubeletBinary := filepath.Join(dir, "kubelet")
	build = exec.Command("go", "build", "-o", kubeletBinary, "k8s.io/kubernetes/cmd/kubelet")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the kubelet: %v: %s", err, out)
	}

	runtime, err := startTestRuntime(filepath.Join(dir, "cri.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runtime.Stop)

	providerConfig := writeCredentialProviderConfig(t, dir, google, caFile, registry.Host)
	applyExampleRBAC(t, admin)
	removePodsOfOtherTests(t, admin)
	k := startKubelet(t, kubeletBinary, dir, filepath.Join(dir, "cri.sock"), providerConfig, binDir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kubelet log:\n%s", tail(k.log(), 80))
		}
	})

	ensureNamespace(t, admin, nodeNamespace)
	createServiceAccount(t, admin, "app", map[string]string{"gcp-federated-credential-provider.io/workload-identity-provider": eksProvider})
	createServiceAccount(t, admin, "imp", map[string]string{
		"gcp-federated-credential-provider.io/workload-identity-provider": eksProvider,
		"iam.gke.io/gcp-service-account":                                  readerEmail,
	})

	runPod := func(t *testing.T, podName, serviceAccount, tag string) string {
		t.Helper()
		image, err := registry.Push("demo-project/images/app", tag)
		if err != nil {
			t.Fatal(err)
		}
		createPod(t, admin, podName, serviceAccount, image)
		return image
	}

	t.Run("annotated pod pulls with federated token", func(t *testing.T) {
		stsBefore := google.STSRequests()
		image := runPod(t, "pod-a", "app", "a")
		p := waitForPull(t, runtime, image)
		if p.username != "oauth2accesstoken" {
			t.Errorf("PullImage username = %q, want oauth2accesstoken", p.username)
		}
		info, ok := google.Lookup(p.password)
		if !ok {
			t.Fatalf("PullImage password is not a token the fake issued")
		}
		if info.Principal != principal("app") {
			t.Errorf("token principal = %q, want %q", info.Principal, principal("app"))
		}
		if p.err != nil {
			t.Errorf("the registry refused the pull: %v", p.err)
		}
		waitForPodRunning(t, admin, "pod-a")
		if n := google.STSRequests() - stsBefore; n != 1 {
			t.Errorf("STS requests = %d, want 1: the kubelet runs the plugin once", n)
		}
	})

	t.Run("impersonation token reaches runtime", func(t *testing.T) {
		image := runPod(t, "pod-b", "imp", "b")
		p := waitForPull(t, runtime, image)
		info, ok := google.Lookup(p.password)
		if !ok || info.ServiceAccount != readerEmail {
			t.Errorf("PullImage password is not the token impersonating %s (%+v)", readerEmail, info)
		}
		if p.err != nil {
			t.Errorf("the registry refused the pull: %v", p.err)
		}
		waitForPodRunning(t, admin, "pod-b")
	})

	t.Run("second pod uses kubelet cache", func(t *testing.T) {
		stsBefore := google.STSRequests()
		image := runPod(t, "pod-c", "app", "c")
		p := waitForPull(t, runtime, image)
		if _, ok := google.Lookup(p.password); !ok {
			t.Errorf("PullImage password is not a token the fake issued")
		}
		waitForPodRunning(t, admin, "pod-c")
		if n := google.STSRequests() - stsBefore; n != 0 {
			t.Errorf("STS requests = %d, want 0: the kubelet cache serves the same service account", n)
		}
	})

	t.Run("STS rejection logged with hint", func(t *testing.T) {
		rejectedProvider := "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-pool/providers/strict-cluster"
		google.AddProvider(fakegoogle.Provider{Name: rejectedProvider, Issuer: testCluster.URL, AllowedAudiences: []string{"sts.amazonaws.com"}})
		createServiceAccount(t, admin, "rejected", map[string]string{"gcp-federated-credential-provider.io/workload-identity-provider": rejectedProvider})
		image := runPod(t, "pod-e", "rejected", "e")
		p := waitForPull(t, runtime, image)
		if p.username != "" || p.password != "" {
			t.Errorf("PullImage got credentials after a failed exchange")
		}
		log := waitForLog(t, k, "invalid_grant")
		for _, want := range []string{"gcp-federated-credential-provider: STS token exchange failed", `allowed audiences include "` + exampleAudience + `"`} {
			if !strings.Contains(log, want) {
				t.Errorf("the kubelet log lacks %q", want)
			}
		}
		if strings.Contains(log, "eyJ") {
			t.Errorf("the kubelet log contains a JWT fragment")
		}
		for _, token := range google.Tokens() {
			if strings.Contains(log, token) {
				t.Errorf("the kubelet log contains an access token")
			}
		}
		// The kubelet retries the pull; stop it so that its plugin runs end.
		admin.CoreV1().Pods(nodeNamespace).Delete(context.Background(), "pod-e", metav1.DeleteOptions{})
	})

	t.Run("missing node RBAC means anonymous pull", func(t *testing.T) {
		removeExampleRBAC(t, admin)
		createServiceAccount(t, admin, "norbac", map[string]string{"gcp-federated-credential-provider.io/workload-identity-provider": eksProvider})
		image := runPod(t, "pod-d", "norbac", "d")
		p := waitForPull(t, runtime, image)
		if p.username != "" || p.password != "" {
			t.Errorf("PullImage got credentials without the node RBAC")
		}
		if p.err == nil {
			t.Errorf("the registry accepted an anonymous pull")
		}
		// The API server refuses the kubelet the token, so the plugin never
		// runs for this service account.
		refusal := `serviceaccounts \"norbac\" is forbidden: system:node:` + cluster.NodeName + ` is not authorized to request tokens for audience \"` + exampleAudience + `\"`
		waitForLog(t, k, refusal)
		for _, token := range google.Tokens() {
			if info, _ := google.Lookup(token); info.Principal == principal("norbac") {
				t.Errorf("the fake issued a token to %s", info.Principal)
			}
		}
		pod, err := admin.CoreV1().Pods(nodeNamespace).Get(context.Background(), "pod-d", metav1.GetOptions{})
		if err == nil && pod.Status.Phase == corev1.PodRunning {
			t.Errorf("pod-d is running without credentials")
		}
	})

	// Everything stays on this machine: no pull or plugin run may have
	// looked up a host name.
	if log := k.log(); strings.Contains(log, "lookup ") || strings.Contains(log, "only from registries on 127.0.0.1") {
		t.Errorf("the kubelet log shows a pull or name lookup outside this machine")
	}
}

// removePodsOfOtherTests deletes the pods that other tests bound to the node
// without a kubelet, so that this test's kubelet does not start them.
func removePodsOfOtherTests(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	pods, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + cluster.NodeName})
	if err != nil {
		t.Fatal(err)
	}
	force := int64(0)
	for _, pod := range pods.Items {
		if err := admin.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &force}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	err = eventually(func() error {
		left, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + cluster.NodeName})
		if err == nil && len(left.Items) > 0 {
			err = fmt.Errorf("%d pods remain on %s", len(left.Items), cluster.NodeName)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ensureNamespace(t *testing.T, admin kubernetes.Interface, namespace string) {
	t.Helper()
	_, err := admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func createServiceAccount(t *testing.T, admin kubernetes.Interface, name string, annotations map[string]string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: annotations}}
	if _, err := admin.CoreV1().ServiceAccounts(nodeNamespace).Create(context.Background(), sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, admin kubernetes.Interface, name, serviceAccount, image string) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			ServiceAccountName:           serviceAccount,
			NodeName:                     cluster.NodeName,
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways}},
		},
	}
	if _, err := admin.CoreV1().Pods(nodeNamespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitForPull(t *testing.T, runtime *testRuntime, image string) pull {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if pulls := runtime.pullsOf(image); len(pulls) > 0 {
			return pulls[0]
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the runtime received no PullImage for %s within 60s", image)
	return pull{}
}

func waitForPodRunning(t *testing.T, admin kubernetes.Interface, name string) {
	t.Helper()
	var phase corev1.PodPhase
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		pod, err := admin.CoreV1().Pods(nodeNamespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			phase = pod.Status.Phase
			if phase == corev1.PodRunning {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Errorf("pod %s is %q after 60s, want Running", name, phase)
}

func waitForLog(t *testing.T, k *kubelet, substring string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if log := k.log(); strings.Contains(log, substring) {
			return log
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("the kubelet log has no %q within 30s", substring)
	return ""
}

// shortTempDir returns a temporary directory with a short path, because a
// unix socket path may not exceed 107 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "node-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func tail(s string, lines int) string {
	all := strings.Split(s, "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
