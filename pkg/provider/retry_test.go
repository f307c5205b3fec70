package provider

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		attempt int
		ceiling time.Duration
	}{
		{1, 250 * time.Millisecond},
		{2, 500 * time.Millisecond},
		{3, time.Second},
		{4, 2 * time.Second},
		{6, 4 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d within ceiling", tt.attempt), func(t *testing.T) {
			for range 200 {
				got := backoff(tt.attempt)
				if got <= 0 || got > tt.ceiling+time.Millisecond {
					t.Fatalf("backoff(%d) = %s, want in (0, %s]", tt.attempt, got, tt.ceiling)
				}
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   bool
	}{
		{"throttled 429 is retried", 429, nil, true},
		{"server error 500 is retried", 500, nil, true},
		{"unavailable 503 is retried", 503, nil, true},
		{"success 200 is final", 200, nil, false},
		{"bad request 400 is final", 400, nil, false},
		{"unauthorized 401 is final", 401, nil, false},
		{"forbidden 403 is final", 403, nil, false},
		{"not found 404 is final", 404, nil, false},
		{"connection refused is retried", 0, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"connection reset is retried", 0, fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"unexpected EOF is retried", 0, io.ErrUnexpectedEOF, true},
		{"certificate error is final", 0, errors.New("x509: certificate signed by unknown authority"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			if tt.err == nil {
				resp = &http.Response{StatusCode: tt.status}
			}
			if got := retryable(resp, tt.err); got != tt.want {
				t.Errorf("retryable = %t, want %t", got, tt.want)
			}
		})
	}
}
