// Package registry finds the registry host of a container image and decides
// whether the plugin may send Google credentials to it.
package registry

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrInvalidImage is the error kind for an image name whose registry host
// cannot be found or parsed.
var ErrInvalidImage = errors.New("invalid image")

// ErrNotGoogleRegistry is the error kind for an image on a host that is
// neither a Google registry nor an extra host the administrator allowed.
var ErrNotGoogleRegistry = errors.New("not a Google registry")

// Host is the registry part of an image name, as the kubelet sent it.
type Host struct {
	// Name is the host name in lower case, without the port.
	Name string
	// Port is the port number as written, or empty.
	Port string
	// Raw is the host exactly as it appears in the image, port included.
	// The kubelet matches credentials to images by this string.
	Raw string
}

// ParseImage returns the registry host of image. The image may carry a tag
// or digest; only the host matters here. An image without a registry host
// (such as "nginx" or "library/nginx") belongs to Docker Hub and is
// rejected, because the kubelet never sends such an image to this plugin
// unless matchImages is wrong.
func ParseImage(image string) (Host, error) {
	if image == "" {
		return Host{}, fmt.Errorf("%w: the image name is empty", ErrInvalidImage)
	}
	shortened := Shorten(image)
	raw, rest, found := strings.Cut(image, "/")
	if !found || rest == "" {
		return Host{}, fmt.Errorf("%w %q: expected HOST/REPOSITORY, such as us-docker.pkg.dev/project/repository/image", ErrInvalidImage, shortened)
	}
	if !strings.ContainsAny(raw, ".:") && raw != "localhost" {
		return Host{}, fmt.Errorf("%w %q: the image has no registry host, so it refers to Docker Hub; only images on Google registries such as gcr.io or REGION-docker.pkg.dev can use this plugin", ErrInvalidImage, shortened)
	}
	host, err := ParseHost(raw)
	if err != nil {
		return Host{}, fmt.Errorf("%w %q: %w", ErrInvalidImage, shortened, err)
	}
	return host, nil
}

// Shorten returns image cut to at most 256 bytes, for error messages: a
// request may carry an image name of up to a megabyte.
func Shorten(image string) string {
	const max = 256
	if len(image) <= max {
		return image
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(image[cut]) {
		cut--
	}
	return image[:cut] + "…"
}

// ParseHost parses a registry host with an optional port. IPv6 literals are
// accepted in brackets, as in "[::1]:5000".
func ParseHost(raw string) (Host, error) {
	name, port := raw, ""
	if strings.HasPrefix(raw, "[") {
		end := strings.Index(raw, "]")
		if end < 0 {
			return Host{}, fmt.Errorf("registry host %q has an unclosed IPv6 bracket", raw)
		}
		name = raw[1:end]
		switch after := raw[end+1:]; {
		case after == "":
		case strings.HasPrefix(after, ":"):
			port = after[1:]
		default:
			return Host{}, fmt.Errorf("registry host %q has text after the IPv6 address", raw)
		}
		if net.ParseIP(name) == nil || !strings.Contains(name, ":") {
			return Host{}, fmt.Errorf("registry host %q is not a valid IPv6 address", raw)
		}
	} else if i := strings.LastIndex(raw, ":"); i >= 0 {
		name, port = raw[:i], raw[i+1:]
		if !validDNSName(name) {
			return Host{}, fmt.Errorf("registry host %q is not a valid DNS name", raw)
		}
	} else if !validDNSName(name) {
		return Host{}, fmt.Errorf("registry host %q is not a valid DNS name", raw)
	}
	if port != "" || strings.HasSuffix(raw, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9' {
			return Host{}, fmt.Errorf("registry host %q has an invalid port %q: expected a number from 1 to 65535", raw, port)
		}
	}
	return Host{Name: strings.ToLower(name), Port: port, Raw: raw}, nil
}

// validDNSName reports whether s is a DNS name of letters, digits and
// hyphens in labels of at most 63 characters.
func validDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			isLetter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
			if !isLetter && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}
