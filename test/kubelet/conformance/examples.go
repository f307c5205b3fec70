package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kubeletconfig "k8s.io/kubernetes/pkg/kubelet/apis/config"
	kubeletconfigv1 "k8s.io/kubernetes/pkg/kubelet/apis/config/v1"
)

// Examples decodes every YAML document in examples/ strictly: the kubelet
// configuration with the kubelet's config scheme, the rest with the
// Kubernetes API scheme. The plugin's own settings file is checked by the
// main module's tests.
func Examples(t *testing.T) {
	kubeletScheme := runtime.NewScheme()
	if err := kubeletconfig.AddToScheme(kubeletScheme); err != nil {
		t.Fatal(err)
	}
	if err := kubeletconfigv1.AddToScheme(kubeletScheme); err != nil {
		t.Fatal(err)
	}
	apiScheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(apiScheme); err != nil {
		t.Fatal(err)
	}

	// The kubelet's loader converts its configuration to the internal type,
	// as UniversalDecoder does; API objects stay in their versions.
	kubeletDecoder := serializer.NewCodecFactory(kubeletScheme, serializer.EnableStrict).UniversalDecoder()
	apiDecoder := serializer.NewCodecFactory(apiScheme, serializer.EnableStrict).UniversalDeserializer()
	files := []struct {
		name    string
		decoder runtime.Decoder
		want    []string
	}{
		{"CredentialProviderConfig.yaml", kubeletDecoder, []string{"CredentialProviderConfig"}},
		{"rbac.yaml", apiDecoder, []string{"ClusterRole", "ClusterRoleBinding"}},
		{"serviceaccount.yaml", apiDecoder, []string{"ServiceAccount", "Pod"}},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(repoRoot, "examples", f.name))
			if err != nil {
				t.Fatal(err)
			}
			docs := bytes.Split(data, []byte("\n---\n"))
			if len(docs) != len(f.want) {
				t.Fatalf("%d documents, want %d", len(docs), len(f.want))
			}
			for i, doc := range docs {
				obj, gvk, err := f.decoder.Decode(doc, nil, nil)
				if err != nil {
					t.Fatalf("document %d: %v", i+1, err)
				}
				if gvk.Kind != f.want[i] {
					t.Errorf("document %d is a %s, want %s", i+1, gvk.Kind, f.want[i])
				}
				switch o := obj.(type) {
				case *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *corev1.ServiceAccount, *corev1.Pod, *kubeletconfig.CredentialProviderConfig:
				default:
					t.Errorf("document %d decoded to %T", i+1, o)
				}
			}
		})
	}
}
