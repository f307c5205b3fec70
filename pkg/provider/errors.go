package provider

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/redact"
)

// Stage names a call of the exchange.
type Stage string

// The two calls of an exchange.
const (
	StageSTS Stage = "STS token exchange"
	StageIAM Stage = "service account impersonation"
)

// maxSubjectLength is the longest google.subject, in bytes, that STS
// accepts.
const maxSubjectLength = 127

// STSError is an error response from Google STS. Code is the OAuth error
// code, such as "invalid_grant"; match on it, not on Description.
type STSError struct {
	Request     Request
	Status      int
	Code        string
	Description string
}

func newSTSError(req Request, failure *failedCall) *STSError {
	var body struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	e := &STSError{Request: req, Status: failure.status}
	if json.Unmarshal(failure.body, &body) == nil && body.Error != "" {
		e.Code = body.Error
		e.Description = redact.String(body.ErrorDescription, req.SubjectToken)
	} else {
		e.Description = redact.String(string(failure.body), req.SubjectToken)
	}
	return e
}

func (e *STSError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s failed for Kubernetes service account %s with provider %s: HTTP %d",
		StageSTS, e.Request.Claims.ServiceAccount(), e.Request.Provider, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Description != "" {
		b.WriteString(": " + strings.TrimRight(e.Description, ". "))
	}
	if hint := e.Hint(); hint != "" {
		b.WriteString(". Hint: " + hint)
	}
	return b.String()
}

// Hint returns what to check for the error code, naming the values from the
// token and the provider.
func (e *STSError) Hint() string {
	if hint := statusHint("Google STS", e.Status); hint != "" {
		return hint
	}
	p, c := e.Request.Provider, e.Request.Claims
	switch e.Code {
	case "invalid_grant":
		if len(c.Subject) > maxSubjectLength {
			return fmt.Sprintf("the token's subject is %d bytes long, over Google's %d-byte limit for google.subject: shorten the namespace or service account name, or map google.subject to a shorter attribute",
				len(c.Subject), maxSubjectLength)
		}
		return fmt.Sprintf("STS rejected the service account token. Check that the provider's issuer URI is %q (the token's iss), "+
			"that the provider's allowed audiences include %q (the token's aud, set by tokenAttributes.serviceAccountTokenAudience in the kubelet's CredentialProviderConfig; "+
			"a provider without allowed audiences accepts only its own full name %s), "+
			"and that the provider can verify the signature (public OIDC discovery, or an uploaded JWKS that is current)",
			c.Issuer, strings.Join(c.Audience, ","), p)
	case "invalid_target":
		return fmt.Sprintf("the pool or provider does not exist, is disabled or was deleted; check it with: gcloud iam workload-identity-pools providers describe %s --workload-identity-pool=%s --location=global --project=%s",
			p.Provider, p.Pool, p.ProjectNumber)
	case "unauthorized_client":
		return fmt.Sprintf("the provider's attribute condition rejected subject %q; check the provider's attributeCondition", c.Subject)
	case "invalid_request":
		return fmt.Sprintf("STS rejected the request as malformed; check the provider name %s and --sts-endpoint", p)
	}
	return ""
}

// IAMError is an error response from IAM Credentials generateAccessToken.
// StatusText is Google's status, such as "PERMISSION_DENIED".
type IAMError struct {
	Request    Request
	Status     int
	StatusText string
	Message    string
}

func newIAMError(req Request, failure *failedCall) *IAMError {
	var body struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	e := &IAMError{Request: req, Status: failure.status}
	if json.Unmarshal(failure.body, &body) == nil && (body.Error.Status != "" || body.Error.Message != "") {
		e.StatusText = body.Error.Status
		e.Message = redact.String(body.Error.Message, req.SubjectToken)
	} else {
		e.Message = redact.String(string(failure.body), req.SubjectToken)
	}
	return e
}

func (e *IAMError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s of %s failed for Kubernetes service account %s: HTTP %d",
		StageIAM, e.Request.ServiceAccount, e.Request.Claims.ServiceAccount(), e.Status)
	if e.StatusText != "" {
		b.WriteString(" " + e.StatusText)
	}
	if e.Message != "" {
		b.WriteString(": " + strings.TrimRight(e.Message, ". "))
	}
	if hint := e.Hint(); hint != "" {
		b.WriteString(". Hint: " + hint)
	}
	return b.String()
}

// Hint returns what to check for the status, with the exact IAM binding to
// grant when permission is denied.
func (e *IAMError) Hint() string {
	if hint := statusHint("Google IAM Credentials", e.Status); hint != "" {
		return hint
	}
	email := e.Request.ServiceAccount
	switch e.Status {
	case http.StatusForbidden:
		principal := e.Request.Provider.Principal(e.principalSubject())
		return fmt.Sprintf("grant the pod's identity roles/iam.workloadIdentityUser on the service account: "+
			"gcloud iam service-accounts add-iam-policy-binding %s --role=roles/iam.workloadIdentityUser --member=%s "+
			"(and check that the IAM Service Account Credentials API is enabled in the service account's project)",
			email, principal)
	case http.StatusNotFound:
		return fmt.Sprintf("the service account %s does not exist; check the impersonation annotation or --impersonate-service-account", email)
	case http.StatusBadRequest:
		return "check --token-lifetime: IAM allows at most 1h unless the organization policy constraints/iam.allowServiceAccountCredentialLifetimeExtension allows up to 12h"
	case http.StatusUnauthorized:
		return "IAM Credentials did not accept the STS access token; check that --iam-credentials-endpoint and --universe-domain belong to the same universe as --sts-endpoint"
	}
	return ""
}

// principalSubject returns the google.subject of the token under the usual
// attribute mapping google.subject=assertion.sub.
func (e *IAMError) principalSubject() string {
	c := e.Request.Claims
	if c.Subject != "" {
		return c.Subject
	}
	return "system:serviceaccount:" + c.Namespace + ":" + c.Name
}

func statusHint(service string, status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return service + " is throttling requests (HTTP 429); the kubelet runs the plugin again at the next pull attempt. If this persists, check the quota of the project"
	case status >= 500:
		return fmt.Sprintf("%s is unavailable (HTTP %d); the kubelet runs the plugin again at the next pull attempt", service, status)
	}
	return ""
}

// CallError is a failure without an error response from Google: a timeout,
// a network or TLS error, or a response the plugin cannot use.
type CallError struct {
	Stage   Stage
	Request Request
	Timeout bool
	Err     error
	Reason  string
}

func (e *CallError) Error() string {
	failure := fmt.Sprintf("%s failed for Kubernetes service account %s with provider %s", e.Stage, e.Request.Claims.ServiceAccount(), e.Request.Provider)
	if e.Stage == StageIAM {
		failure = fmt.Sprintf("%s of %s failed for Kubernetes service account %s", e.Stage, e.Request.ServiceAccount, e.Request.Claims.ServiceAccount())
	}
	switch {
	case e.Timeout:
		return failure + ": timed out; check the node's network path to Google (proxy settings HTTPS_PROXY and NO_PROXY, firewall), or raise --timeout (below the kubelet's 1m limit)"
	case e.Err != nil:
		return failure + ": " + redact.String(e.Err.Error(), e.Request.SubjectToken) +
			"; check the endpoint URL, the node's network path to Google (HTTPS_PROXY, NO_PROXY, firewall) and its trusted CA certificates (system store or SSL_CERT_FILE)"
	}
	return failure + ": " + e.Reason
}

func (e *CallError) Unwrap() error { return e.Err }

func redactError(err error, req Request) string {
	return redact.String(err.Error(), req.SubjectToken)
}
