package main

import (
	"context"
	"strings"
	"testing"
)

func TestRunRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing required flags", nil, 2, "missing --service-account, --image, --kubelet-config"},
		{"missing image flag", []string{"--service-account=app", "--kubelet-config=x.yaml"}, 2, "missing --image"},
		{"unknown output format", []string{"--service-account=app", "--image=gcr.io/p/app", "--kubelet-config=x.yaml", "-o", "yaml"}, 2, `--output "yaml" is not text or json`},
		{"unknown flag", []string{"--bogus"}, 2, "unknown flag: --bogus"},
		{"help flag", []string{"--help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), append([]string{"diagnose"}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			if !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.wantErr)
			}
			if tt.wantCode != 0 && stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestRunHelpToStdout(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run(context.Background(), []string{"diagnose", "--help"}, &stdout, &stderr); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if !strings.Contains(stdout.String(), "Usage: diagnose") {
		t.Errorf("stdout %q has no usage", stdout.String())
	}
}
