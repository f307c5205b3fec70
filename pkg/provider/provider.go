// Package provider exchanges a Kubernetes service account token for a
// Google access token: a token exchange at Google STS for a workload
// identity pool provider, then optionally a generateAccessToken call to IAM
// Credentials to impersonate a Google service account.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google/externalaccount"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/identity"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
)

// CloudPlatformScope is the OAuth scope of the access tokens the plugin
// requests. Registry pulls accept it.
const CloudPlatformScope = "https://www.googleapis.com/auth/cloud-platform"

// JWTTokenType is the RFC 8693 type of a Kubernetes service account token.
const JWTTokenType = "urn:ietf:params:oauth:token-type:jwt"

// Request is one token exchange.
type Request struct {
	// SubjectToken is the kubelet's service account token.
	SubjectToken string
	// Claims are the token's claims, used only in error messages.
	Claims satoken.Claims
	// Provider is the workload identity pool provider to exchange at.
	Provider identity.Provider
	// ServiceAccount is the Google service account to impersonate, or empty
	// to use the federated token directly.
	ServiceAccount string
}

// Token is a Google access token.
type Token struct {
	AccessToken string
	Expiry      time.Time
}

// Exchanger turns a Request into a Token.
type Exchanger interface {
	Exchange(ctx context.Context, req Request) (Token, error)
}

// Google is the Exchanger that calls Google STS and IAM Credentials through
// golang.org/x/oauth2/google/externalaccount.
type Google struct {
	// STSEndpoint is the base URL of STS, such as https://sts.googleapis.com.
	STSEndpoint string
	// IAMCredentialsEndpoint is the base URL of IAM Credentials, such as
	// https://iamcredentials.googleapis.com.
	IAMCredentialsEndpoint string
	// UniverseDomain is the universe domain, such as googleapis.com.
	UniverseDomain string
	// TokenLifetime is the lifetime of impersonated access tokens.
	TokenLifetime time.Duration
	// Transport sends the HTTP requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// ExternalAccountConfig returns the externalaccount configuration for req.
func (g *Google) ExternalAccountConfig(req Request) externalaccount.Config {
	conf := externalaccount.Config{
		Audience:             req.Provider.String(),
		SubjectTokenType:     JWTTokenType,
		TokenURL:             g.STSEndpoint + "/v1/token",
		Scopes:               []string{CloudPlatformScope},
		SubjectTokenSupplier: staticSupplier(req.SubjectToken),
		UniverseDomain:       g.UniverseDomain,
	}
	if req.ServiceAccount != "" {
		conf.ServiceAccountImpersonationURL = g.IAMCredentialsEndpoint + "/v1/projects/-/serviceAccounts/" + req.ServiceAccount + ":generateAccessToken"
		conf.ServiceAccountImpersonationLifetimeSeconds = int(g.TokenLifetime / time.Second)
	}
	return conf
}

// Exchange performs the token exchange, and the impersonation if req names a
// service account. The context's deadline bounds both calls, retries
// included. Errors are of
// type *STSError, *IAMError or *CallError and never contain a token.
func (g *Google) Exchange(ctx context.Context, req Request) (Token, error) {
	base := g.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	conf := g.ExternalAccountConfig(req)
	recorder := &recordingTransport{base: &retryingTransport{base: base}, stsTokenURL: conf.TokenURL}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: recorder})

	source, err := externalaccount.NewTokenSource(ctx, conf)
	if err != nil {
		return Token{}, fmt.Errorf("configuring the token exchange for provider %s: %w", req.Provider, err)
	}
	tok, err := source.Token()
	if err != nil {
		return Token{}, g.describeFailure(ctx, req, recorder, err)
	}

	stage := stageOf(req)
	if tok.AccessToken == "" {
		return Token{}, &CallError{Stage: stage, Request: req, Reason: "the response has an empty access token"}
	}
	now := g.now()
	if tok.Expiry.IsZero() {
		return Token{}, &CallError{Stage: stage, Request: req, Reason: "the response has no expiry time"}
	}
	if !tok.Expiry.After(now) {
		return Token{}, &CallError{Stage: stage, Request: req,
			Reason: fmt.Sprintf("the access token expired at %s, before it was received; check the node's clock", tok.Expiry.UTC().Format(time.RFC3339))}
	}
	return Token{AccessToken: tok.AccessToken, Expiry: tok.Expiry}, nil
}

func (g *Google) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// describeFailure turns an error from externalaccount, whose text may
// contain the response body, into an error that names the failed call and
// Google's error code, without any secret.
func (g *Google) describeFailure(ctx context.Context, req Request, recorder *recordingTransport, err error) error {
	if failure := recorder.failure; failure != nil {
		if failure.stage == StageIAM {
			return newIAMError(req, failure)
		}
		return newSTSError(req, failure)
	}
	stage := recorder.lastStage
	if stage == "" {
		stage = StageSTS
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &CallError{Stage: stage, Request: req, Timeout: true, Err: context.DeadlineExceeded}
	}
	if recorder.transportErr != nil {
		return &CallError{Stage: stage, Request: req, Err: recorder.transportErr}
	}
	// The call got a successful status but externalaccount could not use the
	// body, such as malformed JSON or a missing expires_in.
	return &CallError{Stage: stage, Request: req, Reason: "the response is invalid: " + redactError(err, req)}
}

// staticSupplier returns the kubelet's token as the subject token.
type staticSupplier string

func (s staticSupplier) SubjectToken(context.Context, externalaccount.SupplierOptions) (string, error) {
	return string(s), nil
}

func stageOf(req Request) Stage {
	if req.ServiceAccount != "" {
		return StageIAM
	}
	return StageSTS
}
