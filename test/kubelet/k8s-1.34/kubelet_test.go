// Package kubelet runs the conformance suite against the credential
// provider code of Kubernetes v1.34.4.
package kubelet

import (
	"testing"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/kubelet/conformance"
)

func TestMain(m *testing.M) { conformance.Main(m) }

func TestImages(t *testing.T)             { conformance.Images(t) }
func TestCache(t *testing.T)              { conformance.Cache(t) }
func TestCacheTypeToken(t *testing.T)     { conformance.CacheTypeToken(t) }
func TestRequiredAnnotation(t *testing.T) { conformance.RequiredAnnotation(t) }
func TestAnnotations(t *testing.T)        { conformance.Annotations(t) }
func TestPluginFailure(t *testing.T)      { conformance.PluginFailure(t) }
func TestExamples(t *testing.T)           { conformance.Examples(t) }
