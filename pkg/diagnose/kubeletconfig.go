package diagnose

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	kubeletconfigv1 "k8s.io/kubelet/config/v1"
	strictjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// loadProvider reads the kubelet's CredentialProviderConfig file at path
// and returns the provider entry called name.
func loadProvider(path, name string) (*kubeletconfigv1.CredentialProvider, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the kubelet's credential provider config: %w", err)
	}
	converted, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("invalid kubelet credential provider config %s: %w", path, err)
	}
	var cfg kubeletconfigv1.CredentialProviderConfig
	strictErrs, err := strictjson.UnmarshalStrict(converted, &cfg)
	if err != nil {
		return nil, fmt.Errorf("invalid kubelet credential provider config %s: %w", path, err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("invalid kubelet credential provider config %s: %w (the kubelet rejects it too)", path, strictErrs[0])
	}
	if cfg.Kind != "CredentialProviderConfig" || cfg.APIVersion != "kubelet.config.k8s.io/v1" {
		return nil, fmt.Errorf("%s is a %s %s, expected a kubelet.config.k8s.io/v1 CredentialProviderConfig", path, cfg.APIVersion, cfg.Kind)
	}
	var names []string
	for i := range cfg.Providers {
		if cfg.Providers[i].Name == name {
			return &cfg.Providers[i], nil
		}
		names = append(names, cfg.Providers[i].Name)
	}
	return nil, fmt.Errorf("%s has no provider named %q (it has %s); pass the name with --provider-name", filepath.Base(path), name, strings.Join(names, ", "))
}

// matchImage reports whether image matches a matchImages pattern by the
// kubelet's rules. A "*" matches within one DNS label, and the label counts
// must be equal. Ports must be equal, and the pattern's path must be a
// prefix of the image's path.
func matchImage(pattern, image string) bool {
	patternURL, err := url.Parse("https://" + pattern)
	if err != nil {
		return false
	}
	imageURL, err := url.Parse("https://" + image)
	if err != nil {
		return false
	}
	if patternURL.Port() != imageURL.Port() || !strings.HasPrefix(imageURL.Path, patternURL.Path) {
		return false
	}
	patternLabels := strings.Split(patternURL.Hostname(), ".")
	imageLabels := strings.Split(imageURL.Hostname(), ".")
	if len(patternLabels) != len(imageLabels) {
		return false
	}
	for i := range patternLabels {
		if ok, err := filepath.Match(patternLabels[i], imageLabels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}
