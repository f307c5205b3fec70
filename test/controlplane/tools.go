//go:build tools

// Package controlplane keeps k8s.io/kubernetes/cmd/kube-apiserver and
// cmd/kubelet in this module's requirements, so that the tests can build
// them with go build.
package controlplane

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
