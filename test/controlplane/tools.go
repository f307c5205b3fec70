//go:build tools

// Package controlplane keeps k8s.io/kubernetes/cmd/kube-apiserver in this
// module's requirements, so that the tests can build it with go build.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
