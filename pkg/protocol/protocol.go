// Package protocol reads and writes the messages of the kubelet credential
// provider exec protocol, credentialprovider.kubelet.k8s.io/v1.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	credentialproviderv1 "k8s.io/kubelet/pkg/apis/credentialprovider/v1"
	strictjson "sigs.k8s.io/json"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/redact"
)

// APIVersion is the only protocol version the plugin speaks: service account
// tokens exist only in v1.
const APIVersion = "credentialprovider.kubelet.k8s.io/v1"

// Kinds of the two protocol messages.
const (
	RequestKind  = "CredentialProviderRequest"
	ResponseKind = "CredentialProviderResponse"
)

// MaxRequestSize is the largest request the plugin reads. A request holds an
// image name, a token of a few kilobytes and the annotations that the
// kubelet passes, which Kubernetes limits to 256 KiB in all.
const MaxRequestSize = 1 << 20

// ErrInvalidRequest is the error kind for a request that cannot be decoded
// or is not a v1 CredentialProviderRequest.
var ErrInvalidRequest = errors.New("invalid CredentialProviderRequest")

// ReadRequest reads exactly one CredentialProviderRequest from r. It rejects
// input larger than MaxRequestSize, input that is not one JSON object,
// unknown fields, and a wrong apiVersion or kind.
func ReadRequest(r io.Reader) (*credentialproviderv1.CredentialProviderRequest, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxRequestSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading standard input: %w", ErrInvalidRequest, err)
	}
	if len(data) > MaxRequestSize {
		return nil, fmt.Errorf("%w: standard input is larger than %d bytes", ErrInvalidRequest, MaxRequestSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: standard input is empty; the kubelet sends one JSON request on standard input", ErrInvalidRequest)
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: standard input is not valid UTF-8", ErrInvalidRequest)
	}

	// The standard decoder finds the one JSON value and rejects trailing
	// data. The strict decoder then matches field names case-sensitively,
	// as the kubelet's own decoder does, and rejects unknown and duplicate
	// fields.
	var raw json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: standard input has more data after the JSON object", ErrInvalidRequest)
	}
	var req credentialproviderv1.CredentialProviderRequest
	strictErrs, err := strictjson.UnmarshalStrict(raw, &req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, describeJSONError(err))
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidRequest, redact.String(strictErrs[0].Error()))
	}

	if req.APIVersion != APIVersion {
		return nil, fmt.Errorf("%w: apiVersion is %q, expected %q; set apiVersion: %s for this provider in the kubelet's CredentialProviderConfig",
			ErrInvalidRequest, req.APIVersion, APIVersion, APIVersion)
	}
	if req.Kind != RequestKind {
		return nil, fmt.Errorf("%w: kind is %q, expected %q", ErrInvalidRequest, req.Kind, RequestKind)
	}
	if req.Image == "" {
		return nil, fmt.Errorf("%w: the image field is missing or empty", ErrInvalidRequest)
	}
	return &req, nil
}

// describeJSONError rewords errors from encoding/json so that they never
// quote the input, which may contain a token.
func describeJSONError(err error) error {
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the JSON object is truncated")
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not valid JSON (syntax error at byte %d)", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Errorf("expected a JSON object, found a JSON %s", typeErr.Value)
		}
		return fmt.Errorf("field %q must be %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind()), typeErr.Value)
	}
	return errors.New(redact.String(err.Error()))
}

// jsonKind names the JSON form of a Go kind in the request type.
func jsonKind(kind reflect.Kind) string {
	switch kind {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + kind.String()
}

// NewResponse returns a response that gives username and password for the
// registry host, to be cached by the kubelet per registry for cacheDuration.
func NewResponse(host, username, password string, cacheDuration time.Duration) *credentialproviderv1.CredentialProviderResponse {
	return &credentialproviderv1.CredentialProviderResponse{
		TypeMeta:      metav1.TypeMeta{APIVersion: APIVersion, Kind: ResponseKind},
		CacheKeyType:  credentialproviderv1.RegistryPluginCacheKeyType,
		CacheDuration: &metav1.Duration{Duration: cacheDuration},
		Auth: map[string]credentialproviderv1.AuthConfig{
			host: {Username: username, Password: password},
		},
	}
}

// WriteResponse writes resp to w as one JSON object followed by a newline.
func WriteResponse(w io.Writer, resp *credentialproviderv1.CredentialProviderResponse) error {
	data, err := json.Marshal(resp)
	if err != nil {
		return fmt.Errorf("encoding the CredentialProviderResponse: %w", err)
	}
	if _, err := w.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("writing the CredentialProviderResponse to standard output: %w", err)
	}
	return nil
}
