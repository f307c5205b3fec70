package registry

import (
	"fmt"
	"slices"
	"strings"
)

// Matcher decides which registry hosts may receive Google credentials: the
// Google registries of the default universe, plus extra host patterns that
// the administrator configured.
type Matcher struct {
	extra []pattern
}

// minLiteralLabels is the number of trailing DNS labels that a wildcard host
// pattern must spell out.
const minLiteralLabels = 2

// pattern is a host pattern in the kubelet's matchImages syntax: a "*"
// matches exactly one DNS label, and a port, when given, must match exactly.
type pattern struct {
	labels []string
	port   string
}

// NewMatcher returns a Matcher that also accepts the given extra host
// patterns, such as "registry.example.com", "*.registry.example" or
// "10.0.0.5:5000".
func NewMatcher(extra []string) (*Matcher, error) {
	m := &Matcher{}
	for _, raw := range extra {
		p, err := parsePattern(raw)
		if err != nil {
			return nil, err
		}
		m.extra = append(m.extra, p)
	}
	return m, nil
}

func parsePattern(raw string) (pattern, error) {
	if strings.Contains(raw, "/") {
		return pattern{}, fmt.Errorf("registry host %q must be a host name without a scheme or path, such as registry.example.com or *.registry.example", raw)
	}
	if !strings.Contains(raw, "*") {
		host, err := ParseHost(raw)
		if err != nil {
			return pattern{}, err
		}
		return pattern{labels: hostLabels(host.Name), port: host.Port}, nil
	}

	name, port, hasPort := strings.Cut(raw, ":")
	if hasPort {
		// Reuse the host parser for the port with a placeholder name.
		if _, err := ParseHost("port.check:" + port); err != nil {
			return pattern{}, fmt.Errorf("registry host %q has an invalid port %q: expected a number from 1 to 65535", raw, port)
		}
	}
	if strings.HasPrefix(name, "[") {
		return pattern{}, fmt.Errorf("registry host %q is not a valid IPv6 address: IPv6 hosts take no \"*\"", raw)
	}
	labels := strings.Split(strings.ToLower(name), ".")
	for _, label := range labels {
		switch {
		case label == "*":
		case strings.Contains(label, "*"):
			return pattern{}, fmt.Errorf("registry host %q: a \"*\" must be a whole DNS label, as in *.registry.example", raw)
		case !validDNSName(label):
			return pattern{}, fmt.Errorf("registry host %q is not a valid DNS name", raw)
		}
	}
	// A pattern such as "*", "*.com" or "registry.example.*" would send
	// Google tokens to hosts of many unrelated owners, so the domain, the
	// last labels, must be literal.
	if len(labels) < minLiteralLabels || slices.Contains(labels[len(labels)-minLiteralLabels:], "*") {
		return pattern{}, fmt.Errorf("registry host %q matches too many hosts: the last %d labels of a wildcard pattern must be literal, as in *.registry.example", raw, minLiteralLabels)
	}
	return pattern{labels: labels, port: port}, nil
}

// hostLabels splits a host name into DNS labels; an IPv6 address is one
// label.
func hostLabels(name string) []string {
	if strings.Contains(name, ":") {
		return []string{name}
	}
	return strings.Split(name, ".")
}

// Allows reports whether credentials may be sent to host.
func (m *Matcher) Allows(host Host) bool {
	if IsGoogleRegistry(host.Name) {
		return true
	}
	for _, p := range m.extra {
		if p.matches(host) {
			return true
		}
	}
	return false
}

func (p pattern) matches(host Host) bool {
	if p.port != host.Port {
		return false
	}
	labels := hostLabels(host.Name)
	if len(labels) != len(p.labels) {
		return false
	}
	for i, label := range p.labels {
		if label != "*" && label != labels[i] {
			return false
		}
	}
	return true
}

// IsGoogleRegistry reports whether name, a lower-case host name without a
// port, is Container Registry (gcr.io and its one-label subdomains such as
// us.gcr.io) or Artifact Registry (LOCATION-docker.pkg.dev and the regional
// endpoints docker.REGION.rep.pkg.dev).
func IsGoogleRegistry(name string) bool {
	if name == "gcr.io" {
		return true
	}
	if prefix, ok := strings.CutSuffix(name, ".gcr.io"); ok {
		return isLocation(prefix)
	}
	if location, ok := strings.CutSuffix(name, "-docker.pkg.dev"); ok {
		return isLocation(location)
	}
	if rest, ok := strings.CutPrefix(name, "docker."); ok {
		if region, ok := strings.CutSuffix(rest, ".rep.pkg.dev"); ok {
			return isLocation(region)
		}
	}
	return false
}

// isLocation reports whether s is one DNS label of lower-case letters,
// digits and inner hyphens, the form of Google Cloud locations such as
// "us", "europe-west1" or "asia".
func isLocation(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
