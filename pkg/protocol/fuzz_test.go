package protocol

import (
	"bytes"
	"strings"
	"testing"
)

// fuzzSecret stands for a token in fuzz inputs; no error may repeat it.
const fuzzSecret = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"gcr.io/p/app","serviceAccountToken":"` + fuzzSecret + `"}`))
	f.Add([]byte(`{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"gcr.io/p/app","serviceAccountAnnotations":{"a":"b"}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"image":` + fuzzSecret + `}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ReadRequest(bytes.NewReader(data))
		if err != nil {
			if strings.Contains(err.Error(), fuzzSecret) {
				t.Fatalf("error %q repeats the token", err)
			}
			if req != nil {
				t.Fatalf("ReadRequest returned both a request and an error")
			}
			return
		}
		if req.APIVersion != APIVersion || req.Kind != RequestKind || req.Image == "" {
			t.Fatalf("ReadRequest accepted %+v", req)
		}
	})
}
