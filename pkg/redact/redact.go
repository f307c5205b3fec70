// Package redact removes secrets from text that came from a remote service
// before the text reaches a log or an error message.
package redact

import (
	"regexp"
	"strings"
)

// Placeholder replaces each secret that String removes.
const Placeholder = "[REDACTED]"

// maxLength is the longest text String returns: remote error bodies can be
// large, and one line of stderr in the kubelet log should stay readable.
const maxLength = 512

// secretPattern matches the shapes of bearer credentials: a JWT (three
// base64url parts, the first starting with "eyJ"), a Google OAuth access
// token ("ya29." and the rest), and any run of 40 or more base64url
// characters, longer than any word in a Google error code or description.
var secretPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*|ya29\.[A-Za-z0-9_.-]+|[A-Za-z0-9_-]{40,}`)

// String returns s with the given known secrets and anything shaped like a
// token replaced by Placeholder, control characters replaced by spaces so
// the result stays on one line, and the result cut to at most 512 bytes.
func String(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Placeholder)
		}
	}
	s = secretPattern.ReplaceAllString(s, Placeholder)
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxLength {
		s = s[:maxLength] + "…"
	}
	return s
}
