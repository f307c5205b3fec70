// Package satoken reads the claims of a Kubernetes service account token
// without verifying its signature, because Google STS verifies the token. The
// plugin reads the claims only to reject unusable tokens early and to name the
// service account and principal in error messages. Nothing here returns or
// prints the token itself.
package satoken

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalidToken is the error kind for a service account token that is
// malformed, unsigned or expired.
var ErrInvalidToken = errors.New("invalid service account token")

// Claims are the claims of a service account token that the plugin uses.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	Expiry    time.Time
	IssuedAt  time.Time
	Namespace string
	Name      string
}

// ServiceAccount returns "NAMESPACE/NAME", or the subject when the token has
// no kubernetes.io claims.
func (c Claims) ServiceAccount() string {
	if c.Namespace != "" && c.Name != "" {
		return c.Namespace + "/" + c.Name
	}
	return c.Subject
}

type header struct {
	Algorithm string `json:"alg"`
}

type payload struct {
	Issuer     string    `json:"iss"`
	Subject    string    `json:"sub"`
	Audience   audience  `json:"aud"`
	Expiry     *float64  `json:"exp"`
	IssuedAt   *float64  `json:"iat"`
	Kubernetes *k8sClaim `json:"kubernetes.io"`
}

type k8sClaim struct {
	Namespace      string `json:"namespace"`
	ServiceAccount struct {
		Name string `json:"name"`
	} `json:"serviceaccount"`
}

// audience is the JWT "aud" claim, which may be a string or a list.
type audience []string

func (a *audience) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*a = nil
		return nil
	}
	var single string
	if err := json.Unmarshal(data, &single); err == nil {
		*a = audience{single}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return errors.New("the aud claim is neither a string nor a list of strings")
	}
	*a = many
	return nil
}

// Parse decodes the claims of token and checks that it is a signed JWT that
// has not expired at now. Errors describe the token without quoting it.
func Parse(token string, now time.Time) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("%w: not a JWT (expected three dot-separated parts, found %d); the kubelet sends the token it requested from the API server, so check that the request comes from the kubelet", ErrInvalidToken, len(parts))
	}

	var h header
	if err := decodeSegment(parts[0], &h); err != nil {
		return Claims{}, fmt.Errorf("%w: the JWT header is %w", ErrInvalidToken, err)
	}
	if h.Algorithm == "" || strings.EqualFold(h.Algorithm, "none") || parts[2] == "" {
		return Claims{}, fmt.Errorf("%w: the JWT is unsigned (alg %q); the kubelet always sends a signed token", ErrInvalidToken, h.Algorithm)
	}

	var p payload
	if err := decodeSegment(parts[1], &p); err != nil {
		return Claims{}, fmt.Errorf("%w: the JWT payload is %w", ErrInvalidToken, err)
	}
	if p.Expiry == nil {
		return Claims{}, fmt.Errorf("%w: the JWT has no exp claim", ErrInvalidToken)
	}
	c := Claims{
		Issuer:   p.Issuer,
		Subject:  p.Subject,
		Audience: p.Audience,
		Expiry:   unixTime(*p.Expiry),
	}
	if p.IssuedAt != nil {
		c.IssuedAt = unixTime(*p.IssuedAt)
	}
	if p.Kubernetes != nil {
		c.Namespace = p.Kubernetes.Namespace
		c.Name = p.Kubernetes.ServiceAccount.Name
	}
	if !now.Before(c.Expiry) {
		return Claims{}, fmt.Errorf("%w: the token for %s expired at %s; check the node's clock", ErrInvalidToken, c.ServiceAccount(), c.Expiry.UTC().Format(time.RFC3339))
	}
	return c, nil
}

func decodeSegment(segment string, v any) error {
	data, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(segment, "="))
	if err != nil {
		return errors.New("not valid base64url")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return errors.New("not a valid JSON object")
	}
	return nil
}

func unixTime(seconds float64) time.Time {
	return time.Unix(int64(seconds), 0)
}
