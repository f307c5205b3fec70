// Package redact removes secrets from text that came from a remote service
// before the text reaches a log or an error message.
package redact

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Placeholder replaces each secret that String removes.
const Placeholder = "[REDACTED]"

// maxLength is the longest text String returns: remote error bodies can be
// large, and one line of stderr in the kubelet log should stay readable.
const maxLength = 512

// secretPattern matches the shapes of bearer credentials: a JWT or a part of
// one (a word starting with "eyJ", the base64url of '{"'), a Google OAuth access
// token ("ya29." and the rest), and any run of 40 or more base64url
// characters, longer than any word in a Google error code or description.
var secretPattern = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}|ya29\.[A-Za-z0-9_.-]+|[A-Za-z0-9_-]{40,}`)

// Secrets returns s with the given known secrets and anything shaped like a
// token replaced by Placeholder, and nothing else changed.
func Secrets(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, Placeholder)
		}
	}
	return secretPattern.ReplaceAllString(s, Placeholder)
}

// String returns s with the given known secrets and anything shaped like a
// token replaced by Placeholder. Control characters and line separators
// become spaces so the result stays on one line. A result over 512 bytes is
// cut on a character boundary to 512 bytes, "…" included.
func String(s string, secrets ...string) string {
	s = Secrets(s, secrets...)
	s = strings.Map(func(r rune) rune {
		if r < ' ' || (r >= 0x7f && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	const ellipsis = "…"
	if len(s) > maxLength {
		cut := maxLength - len(ellipsis)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + ellipsis
	}
	return s
}
