package controlplane

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/controlplane/cluster"
)

const exampleAudience = "gcp-federated-credential-provider.io"

// setupNodePod creates a namespace, a service account and a pod of it bound
// to the test node, as the scheduler would, and returns the pod.
func setupNodePod(t *testing.T, admin kubernetes.Interface, namespace, serviceAccount string) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: serviceAccount}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ensureNode(t, admin)
	pod, err := admin.CoreV1().Pods(namespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: serviceAccount + "-pod"},
		Spec: corev1.PodSpec{
			ServiceAccountName:           serviceAccount,
			NodeName:                     cluster.NodeName,
			AutomountServiceAccountToken: new(bool),
			Containers:                   []corev1.Container{{Name: "app", Image: "us-docker.pkg.dev/demo-project/images/app:1.0"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func ensureNode(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	_, err := admin.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: cluster.NodeName}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// nodeTokenRequest requests, as the node, a token for the pod's service
// account with audience, bound to the pod.
func nodeTokenRequest(node kubernetes.Interface, pod *corev1.Pod, audience string) error {
	_, err := node.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(context.Background(), pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:      []string{audience},
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	return err
}

// applyExampleRBAC creates the objects of examples/rbac.yaml, exactly as
// written, and removes them when the test ends.
func applyExampleRBAC(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(data, []byte("\n---\n"))
	var role rbacv1.ClusterRole
	var binding rbacv1.ClusterRoleBinding
	if err := yaml.UnmarshalStrict(docs[0], &role); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(docs[1], &binding); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A parent test process may have applied it already for a child.
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		return
	} else if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		admin.RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{})
		admin.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
	})
}

// eventually retries check until it returns nil or 10 seconds pass, for
// authorizer caches that catch up with new objects.
func eventually(check func() error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestExampleRBACGrantsNodeAudience(t *testing.T) {
	admin, err := testCluster.Client("admin")
	if err != nil {
		t.Fatal(err)
	}
	node, err := testCluster.Client("node")
	if err != nil {
		t.Fatal(err)
	}
	pod := setupNodePod(t, admin, "rbac-test", "app")

	// The node authorizer learns of the pod asynchronously. Wait until the
	// only reason for a refusal is the audience.
	err = eventually(func() error {
		err := nodeTokenRequest(node, pod, exampleAudience)
		if err == nil || (apierrors.IsForbidden(err) && strings.Contains(err.Error(), "audience")) {
			return nil
		}
		return err
	})
	if err != nil {
		t.Fatalf("before examples/rbac.yaml: %v", err)
	}
	err = nodeTokenRequest(node, pod, exampleAudience)
	if !apierrors.IsForbidden(err) {
		t.Fatalf("before examples/rbac.yaml, the node's token request returned %v, want forbidden", err)
	}
	if !strings.Contains(err.Error(), exampleAudience) {
		t.Errorf("the refusal %q does not name the audience", err)
	}

	applyExampleRBAC(t, admin)
	if err := eventually(func() error { return nodeTokenRequest(node, pod, exampleAudience) }); err != nil {
		t.Errorf("after examples/rbac.yaml, the node's token request failed: %v", err)
	}
	if err := nodeTokenRequest(node, pod, "other-audience"); !apierrors.IsForbidden(err) {
		t.Errorf("a token for another audience returned %v, want forbidden", err)
	}
}

// removeExampleRBAC deletes the objects of examples/rbac.yaml and waits
// until the node may no longer request the example audience.
func removeExampleRBAC(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	const name = "gcp-federated-credential-provider-audience"
	if err := admin.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := admin.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
