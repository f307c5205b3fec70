package main

// floorSTSSource is the floor for any Go plugin that makes the STS call: it
// reads the request, posts the same token exchange form with Go's default
// HTTP client (system roots plus SSL_CERT_FILE) and writes a JSON object.
const floorSTSSource = `package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
)

func main() {
	var req struct {
		Token string ` + "`json:\"serviceAccountToken\"`" + `
	}
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		os.Exit(1)
	}
	form := url.Values{
		"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"audience":             {os.Args[2]},
		"scope":                {"https://www.googleapis.com/auth/cloud-platform"},
		"requested_token_type": {"urn:ietf:params:oauth:token-type:access_token"},
		"subject_token":        {req.Token},
		"subject_token_type":   {"urn:ietf:params:oauth:token-type:jwt"},
	}
	resp, err := http.PostForm(os.Args[1], form)
	if err != nil {
		os.Exit(1)
	}
	defer resp.Body.Close()
	var token map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&token); err != nil || resp.StatusCode != 200 {
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"password": token["access_token"]})
}
`

// floorStartSource is the cost of starting a Go process that reads one JSON
// object from stdin and writes one.
const floorStartSource = `package main

import (
	"encoding/json"
	"os"
)

func main() {
	var req map[string]any
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"kind": req["kind"]})
}
`

// rssProbeSource runs a command with this process's standard streams and
// writes the command's peak RSS in KiB to the file named by its first
// argument. Its own small memory is the least it can report.
const rssProbeSource = `package main

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() {
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Exit(1)
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	if err := os.WriteFile(os.Args[1], []byte(strconv.FormatInt(maxRSS, 10)), 0o600); err != nil {
		os.Exit(1)
	}
}
`
