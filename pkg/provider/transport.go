package provider

import (
	"bytes"
	"io"
	"net/http"
)

// maxErrorBody is the most of an error response body that is kept.
const maxErrorBody = 64 << 10

// failedCall is a response with an HTTP status other than 2xx.
type failedCall struct {
	stage  Stage
	status int
	body   []byte
}

// recordingTransport keeps the first failed response and the last transport
// error of one exchange. externalaccount reports failures as strings that
// embed the body, so the plugin reads Google's error code from the recorded
// body instead. It serves one exchange at a time.
type recordingTransport struct {
	base http.RoundTripper
	// stsTokenURL distinguishes STS requests from IAM Credentials requests,
	// because both may share a host in tests and on private endpoints.
	stsTokenURL string

	lastStage    Stage
	failure      *failedCall
	transportErr error
}

func (t *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	stage := StageIAM
	if req.URL.String() == t.stsTokenURL {
		stage = StageSTS
	}
	t.lastStage = stage

	resp, err := t.base.RoundTrip(req)
	if err != nil {
		t.transportErr = err
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}

	body, readErr := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	if readErr != nil {
		t.transportErr = readErr
		return nil, readErr
	}
	if t.failure == nil {
		t.failure = &failedCall{stage: stage, status: resp.StatusCode, body: body}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}
