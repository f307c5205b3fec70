// Package examples checks that the YAML files in examples/ decode strictly
// with the Kubernetes API types and agree with each other and with the
// plugin's defaults.
package examples

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/config"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
)

const examplesDir = "../../examples"

// decodeStrict decodes one YAML document into v, rejecting unknown and
// duplicate fields.
func decodeStrict(t *testing.T, document []byte, v any) {
	t.Helper()
	data, err := yaml.YAMLToJSONStrict(document)
	if err != nil {
		t.Fatal(err)
	}
	strictErrs, err := strictjson.UnmarshalStrict(data, v)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range strictErrs {
		t.Errorf("strict decoding: %v", e)
	}
}

// documents returns the YAML documents of an example file.
func documents(t *testing.T, name string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(data, []byte("\n---\n"))
}

func credentialProviderConfig(t *testing.T) kubeletconfigv1.CredentialProvider {
	t.Helper()
	var cfg kubeletconfigv1.CredentialProviderConfig
	decodeStrict(t, documents(t, "CredentialProviderConfig.yaml")[0], &cfg)
	if cfg.APIVersion != "kubelet.config.k8s.io/v1" || cfg.Kind != "CredentialProviderConfig" {
		t.Fatalf("type = %s %s", cfg.APIVersion, cfg.Kind)
	}
	if len(cfg.Providers) != 1 {
		t.Fatalf("providers = %d, want 1", len(cfg.Providers))
	}
	return cfg.Providers[0]
}

func TestCredentialProviderConfigExample(t *testing.T) {
	p := credentialProviderConfig(t)

	t.Run("provider entry is complete", func(t *testing.T) {
		if p.Name != "gcp-federated-credential-provider" {
			t.Errorf("name = %q, want the binary name", p.Name)
		}
		if p.APIVersion != "credentialprovider.kubelet.k8s.io/v1" {
			t.Errorf("apiVersion = %q, want v1 for service account tokens", p.APIVersion)
		}
		if p.DefaultCacheDuration == nil {
			t.Errorf("defaultCacheDuration is missing; the kubelet requires it")
		}
	})

	t.Run("token attributes are set", func(t *testing.T) {
		attrs := p.TokenAttributes
		if attrs == nil {
			t.Fatal("tokenAttributes is missing")
		}
		if attrs.ServiceAccountTokenAudience == "" {
			t.Errorf("serviceAccountTokenAudience is empty")
		}
		if attrs.CacheType != kubeletconfigv1.ServiceAccountServiceAccountTokenCacheType {
			t.Errorf("cacheType = %q, want ServiceAccount", attrs.CacheType)
		}
		if attrs.RequireServiceAccount == nil || !*attrs.RequireServiceAccount {
			t.Errorf("requireServiceAccount is not true")
		}
		for _, key := range []string{config.DefaultProviderAnnotation, config.DefaultServiceAccountAnnotation} {
			if !slices.Contains(attrs.OptionalServiceAccountAnnotationKeys, key) {
				t.Errorf("optionalServiceAccountAnnotationKeys lacks %s", key)
			}
		}
	})

	t.Run("args pass plugin validation", func(t *testing.T) {
		cfg, rest, err := config.Parse("gcp-federated-credential-provider", p.Args, nil)
		if err != nil {
			t.Fatalf("parsing args: %v", err)
		}
		if len(rest) != 0 {
			t.Errorf("args leave %v after the flags", rest)
		}
		if _, _, err := cfg.Validate(); err != nil {
			t.Errorf("validating args: %v", err)
		}
	})

	t.Run("matchImages cover Google registries", func(t *testing.T) {
		for _, host := range []string{"gcr.io", "us.gcr.io", "europe-west1-docker.pkg.dev", "us-docker.pkg.dev", "docker.us-central1.rep.pkg.dev"} {
			if !registry.IsGoogleRegistry(host) {
				t.Errorf("%s is not a Google registry to the plugin", host)
			}
			if !slices.ContainsFunc(p.MatchImages, func(pattern string) bool { return hostMatches(pattern, host) }) {
				t.Errorf("matchImages %v do not match %s", p.MatchImages, host)
			}
		}
	})
}

// hostMatches matches a matchImages host pattern label by label, as the
// kubelet does for patterns without a path or port.
func hostMatches(pattern, host string) bool {
	patternLabels := bytes.Split([]byte(pattern), []byte("."))
	hostLabels := bytes.Split([]byte(host), []byte("."))
	if len(patternLabels) != len(hostLabels) {
		return false
	}
	for i, label := range patternLabels {
		ok, err := filepath.Match(string(label), string(hostLabels[i]))
		if err != nil || !ok {
			return false
		}
	}
	return true
}

func TestRBACExample(t *testing.T) {
	docs := documents(t, "rbac.yaml")
	if len(docs) != 2 {
		t.Fatalf("rbac.yaml has %d documents, want a ClusterRole and a ClusterRoleBinding", len(docs))
	}
	var role rbacv1.ClusterRole
	decodeStrict(t, docs[0], &role)
	var binding rbacv1.ClusterRoleBinding
	decodeStrict(t, docs[1], &binding)
	audience := credentialProviderConfig(t).TokenAttributes.ServiceAccountTokenAudience

	if len(role.Rules) != 1 {
		t.Fatalf("rules = %d, want 1", len(role.Rules))
	}
	rule := role.Rules[0]
	if !slices.Equal(rule.Resources, []string{audience}) {
		t.Errorf("resources = %v, want the audience %q", rule.Resources, audience)
	}
	if !slices.Equal(rule.Verbs, []string{"request-serviceaccounts-token-audience"}) {
		t.Errorf("verbs = %v", rule.Verbs)
	}
	if !slices.Equal(rule.APIGroups, []string{""}) {
		t.Errorf("apiGroups = %v, want the core group", rule.APIGroups)
	}
	if binding.RoleRef.Name != role.Name || binding.RoleRef.Kind != "ClusterRole" {
		t.Errorf("roleRef = %+v, want ClusterRole %s", binding.RoleRef, role.Name)
	}
	if len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "Group" || binding.Subjects[0].Name != "system:nodes" {
		t.Errorf("subjects = %+v, want the group system:nodes", binding.Subjects)
	}
}

func TestServiceAccountExample(t *testing.T) {
	docs := documents(t, "serviceaccount.yaml")
	var sa corev1.ServiceAccount
	decodeStrict(t, docs[0], &sa)
	var pod corev1.Pod
	decodeStrict(t, docs[1], &pod)

	if _, err := identity.ParseProvider(sa.Annotations[config.DefaultProviderAnnotation], identity.DefaultUniverseDomain); err != nil {
		t.Errorf("provider annotation: %v", err)
	}
	if err := identity.ValidateServiceAccount(sa.Annotations[config.DefaultServiceAccountAnnotation]); err != nil {
		t.Errorf("impersonation annotation: %v", err)
	}
	if pod.Spec.ServiceAccountName != sa.Name || pod.Namespace != sa.Namespace {
		t.Errorf("the pod does not use the example service account")
	}
}

func TestPluginConfigExample(t *testing.T) {
	cfg, _, err := config.Parse("gcp-federated-credential-provider", []string{"--config=" + filepath.Join(examplesDir, "plugin-config.yaml")}, nil)
	if err != nil {
		t.Fatalf("loading plugin-config.yaml: %v", err)
	}
	if _, _, err := cfg.Validate(); err != nil {
		t.Errorf("validating plugin-config.yaml: %v", err)
	}
}
