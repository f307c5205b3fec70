package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"syscall"
	"time"

	"k8s.io/klog/v2"
)

// Retry limits. A plugin run has one overall deadline (--timeout, 30s by
// default), and a retry starts only if its wait ends before that deadline.
const (
	maxAttempts    = 4
	initialBackoff = 250 * time.Millisecond
	maxBackoff     = 4 * time.Second
)

// retryingTransport retries requests that failed with HTTP 429, a 5xx status
// or a connection error, with exponential backoff and full jitter. Other
// statuses, 4xx included, return at once.
type retryingTransport struct {
	base http.RoundTripper
	// sleep waits for d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

func (t *retryingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		resp, err := t.base.RoundTrip(req)
		if !retryable(resp, err) || attempt == maxAttempts {
			return resp, err
		}

		wait := backoff(attempt)
		if deadline, ok := req.Context().Deadline(); ok && time.Until(deadline) < wait {
			return resp, err
		}
		reason := describeAttempt(resp, err)
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		klog.V(2).InfoS("Retrying Google API request", "host", req.URL.Host, "path", req.URL.Path, "attempt", attempt, "reason", reason, "wait", wait.Round(time.Millisecond))

		sleep := t.sleep
		if sleep == nil {
			sleep = sleepContext
		}
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
		if req, err = rewind(req); err != nil {
			return nil, err
		}
	}
}

// retryable reports whether a request with this outcome may succeed when
// sent again.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
			errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
	}
	return resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
}

// backoff returns the wait before attempt+1: a random duration up to
// initialBackoff·2^(attempt-1), capped at maxBackoff.
func backoff(attempt int) time.Duration {
	ceiling := min(initialBackoff<<(attempt-1), maxBackoff)
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

func describeAttempt(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// rewind returns a copy of req with a fresh body, for sending again.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.GetBody == nil {
		return req, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("rewinding the request body for a retry: %w", err)
	}
	next := req.Clone(req.Context())
	next.Body = body
	return next, nil
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
