// Command bench measures whole executions of the plugin against the fake
// Google endpoints on 127.0.0.1, beside two floors built from embedded
// sources: a minimal Go program that makes the same STS call, and one that
// only copies JSON from stdin to stdout. It prints medians, ratios and the
// budget of each figure.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

const (
	providerName   = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/bench-pool/providers/bench-cluster"
	audience       = "gcp-federated-credential-provider.io"
	serviceAccount = "registry-reader@bench-project.iam.gserviceaccount.com"
	image          = "us-docker.pkg.dev/bench-project/images/app"
)

// rssRuns is the number of runs under the RSS probe; the report takes the
// maximum.
const rssRuns = 5

// Budgets of the exec path.
const (
	maxRatioToFloor = 1.5
	maxPeakRSS      = 16 << 20
	maxBinarySize   = 15_000_000
	maxInitTime     = 3 * time.Millisecond
)

func main() {
	plugin := flag.String("plugin", "bin/gcp-federated-credential-provider", "Path of the plugin binary to measure.")
	runs := flag.Int("runs", 30, "Measured runs of each program, after the warm-up.")
	warmup := flag.Int("warmup", 5, "Unmeasured runs of each program before measuring.")
	flag.Parse()
	if err := run(*plugin, *runs, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// program is one command under measurement.
type program struct {
	name  string
	path  string
	args  []string
	stdin []byte
	// wantSTS and wantIAM are the requests each run must send.
	wantSTS, wantIAM int

	wall    []time.Duration
	peakRSS []int64
	sts     []int
	iam     []int
}

func run(pluginPath string, runs, warmup int) error {
	if runs < 20 {
		return errors.New("-runs must be at least 20 for a stable median")
	}
	dir, err := os.MkdirTemp("", "gcp-federated-credential-provider-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	floor, err := buildFloor(dir, "floor-sts", floorSTSSource)
	if err != nil {
		return err
	}
	startOnly, err := buildFloor(dir, "floor-start", floorStartSource)
	if err != nil {
		return err
	}
	probe, err := buildFloor(dir, "rss-probe", rssProbeSource)
	if err != nil {
		return err
	}

	fake := fakegoogle.New()
	defer fake.Close()
	iss, err := issuer.New(issuer.EKSIssuer)
	if err != nil {
		return err
	}
	keys := iss.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &keys, AllowedAudiences: []string{audience}})
	fake.AddServiceAccount(serviceAccount, "principalSet://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/bench-pool/*")
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, fake.CertificatePEM(), 0o600); err != nil {
		return err
	}

	token, err := iss.Token(issuer.ServiceAccount{Namespace: "team-a", Name: "app", Audience: []string{audience}, Lifetime: time.Hour})
	if err != nil {
		return err
	}
	request := func(annotations map[string]string) []byte {
		data, _ := json.Marshal(map[string]any{
			"apiVersion": "credentialprovider.kubelet.k8s.io/v1", "kind": "CredentialProviderRequest",
			"image": image, "serviceAccountToken": token, "serviceAccountAnnotations": annotations,
		})
		return data
	}
	direct := request(map[string]string{"gcp-federated-credential-provider.io/workload-identity-provider": providerName})
	impersonated := request(map[string]string{
		"gcp-federated-credential-provider.io/workload-identity-provider": providerName,
		"iam.gke.io/gcp-service-account":                                  serviceAccount,
	})
	endpoints := []string{"--sts-endpoint=" + fake.URL(), "--iam-credentials-endpoint=" + fake.URL()}

	programs := []*program{
		{name: "A  plugin, STS only", path: pluginPath, args: endpoints, stdin: direct, wantSTS: 1},
		{name: "A' plugin, STS + IAM", path: pluginPath, args: endpoints, stdin: impersonated, wantSTS: 1, wantIAM: 1},
		{name: "B  floor: one STS POST", path: floor, args: []string{fake.URL() + "/v1/token", providerName}, stdin: direct, wantSTS: 1},
		{name: "C  floor: process start", path: startOnly, stdin: direct},
	}
	env := append(os.Environ(), "SSL_CERT_FILE="+caFile)

	// Runs interleave the programs so that machine noise spreads over all.
	for i := 0; i < warmup+runs; i++ {
		for _, p := range programs {
			if err := p.runOnce(fake, env, i >= warmup); err != nil {
				return err
			}
		}
	}

	for i := 0; i < rssRuns; i++ {
		for _, p := range programs {
			if err := p.measureRSS(probe, env, dir); err != nil {
				return err
			}
		}
	}

	initTimes, err := measureInit(pluginPath, endpoints, direct, env, runs)
	if err != nil {
		return err
	}
	info, err := os.Stat(pluginPath)
	if err != nil {
		return err
	}
	report(programs, initTimes, info.Size(), runs)
	return nil
}

// measureRSS runs p through the probe, which reports the peak RSS of its
// child. A child of this process would report at least this process's own
// peak: Linux adds the pre-exec memory, which os/exec shares with the parent
// through vfork, to the child's maximum.
func (p *program) measureRSS(probe string, env []string, dir string) error {
	out := filepath.Join(dir, "rss")
	cmd := exec.Command(probe, append([]string{out, p.path}, p.args...)...)
	cmd.Stdin = bytes.NewReader(p.stdin)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed under the RSS probe: %v: %s", p.name, err, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return err
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return fmt.Errorf("reading the RSS probe's output: %w", err)
	}
	p.peakRSS = append(p.peakRSS, kib*1024)
	return nil
}

func (p *program) runOnce(fake *fakegoogle.Server, env []string, record bool) error {
	stsBefore, iamBefore := fake.STSRequests(), fake.IAMRequests()
	cmd := exec.Command(p.path, p.args...)
	cmd.Stdin = bytes.NewReader(p.stdin)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("%s failed: %v: %s", p.name, err, stderr.String())
	}
	if !json.Valid(stdout.Bytes()) {
		return fmt.Errorf("%s wrote invalid JSON", p.name)
	}
	if !record {
		return nil
	}
	p.wall = append(p.wall, wall)
	p.sts = append(p.sts, fake.STSRequests()-stsBefore)
	p.iam = append(p.iam, fake.IAMRequests()-iamBefore)
	return nil
}

// measureInit runs the plugin with GODEBUG=inittrace=1 and returns the sum
// of the package init clock times of each run.
func measureInit(pluginPath string, args []string, stdin []byte, env []string, runs int) ([]time.Duration, error) {
	var totals []time.Duration
	for i := 0; i < runs; i++ {
		cmd := exec.Command(pluginPath, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		cmd.Env = append(slices.Clone(env), "GODEBUG=inittrace=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("init trace run failed: %v: %s", err, stderr.String())
		}
		var total time.Duration
		for _, line := range strings.Split(stderr.String(), "\n") {
			// init PACKAGE @T ms, D ms clock, B bytes, N allocs
			fields := strings.Fields(line)
			if len(fields) < 7 || fields[0] != "init" || fields[6] != "clock," {
				continue
			}
			ms, err := strconv.ParseFloat(fields[4], 64)
			if err != nil {
				return nil, fmt.Errorf("parsing init trace line %q: %w", line, err)
			}
			total += time.Duration(ms * float64(time.Millisecond))
		}
		totals = append(totals, total)
	}
	return totals, nil
}

func report(programs []*program, initTimes []time.Duration, binarySize int64, runs int) {
	fmt.Printf("Whole-process runs against the fake Google on 127.0.0.1: median of %d runs after warm-up, %s/%s, %d CPUs, %s\n\n",
		runs, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("%-26s %10s %10s %14s  %s\n", "program", "median", "p90", "max peak RSS", "requests per run")
	for _, p := range programs {
		fmt.Printf("%-26s %10s %10s %10.1f MiB  %s\n", p.name, median(p.wall).Round(10*time.Microsecond),
			percentile(p.wall, 90).Round(10*time.Microsecond), float64(slices.Max(p.peakRSS))/(1<<20), requestCounts(p))
	}

	a, aImp, b, c := programs[0], programs[1], programs[2], programs[3]
	ratioB := float64(median(a.wall)) / float64(median(b.wall))
	ratioC := float64(median(a.wall)) / float64(median(c.wall))
	rss := slices.Max(append(slices.Clone(a.peakRSS), aImp.peakRSS...))
	initTime := median(initTimes)

	fmt.Printf("\n%-44s %14s %14s  %s\n", "figure", "measured", "budget", "")
	line := func(name, measured, budget string, ok bool) {
		verdict := "within budget"
		if !ok {
			verdict = "OVER BUDGET"
		}
		fmt.Printf("%-44s %14s %14s  %s\n", name, measured, budget, verdict)
	}
	line("A/B wall-time ratio", fmt.Sprintf("%.2f", ratioB), fmt.Sprintf("<= %.1f", maxRatioToFloor), ratioB <= maxRatioToFloor)
	fmt.Printf("%-44s %14s %14s  %s\n", "A/C wall-time ratio", fmt.Sprintf("%.2f", ratioC), "none", "context")
	line("peak RSS of A (max over A and A')", fmt.Sprintf("%.1f MiB", float64(rss)/(1<<20)), "<= 16 MiB", rss <= maxPeakRSS)
	line("binary size", fmt.Sprintf("%.1f MB", float64(binarySize)/1e6), "<= 15 MB", binarySize <= maxBinarySize)
	line("Go init time, summed (median)", initTime.Round(time.Microsecond).String(), "<= 3ms", initTime <= maxInitTime)
	line("STS requests per run of A", countRange(a.sts), "exactly 1", allEqual(a.sts, 1))
	line("STS + IAM requests per run of A'", countRange(sum(aImp.sts, aImp.iam)), "exactly 2", allEqual(sum(aImp.sts, aImp.iam), 2))
}

func requestCounts(p *program) string {
	return fmt.Sprintf("%s STS, %s IAM", countRange(p.sts), countRange(p.iam))
}

func countRange(counts []int) string {
	lo, hi := slices.Min(counts), slices.Max(counts)
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func allEqual(counts []int, want int) bool {
	for _, c := range counts {
		if c != want {
			return false
		}
	}
	return true
}

func sum(a, b []int) []int {
	out := make([]int, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

func median(d []time.Duration) time.Duration { return percentile(d, 50) }

func percentile(d []time.Duration, p int) time.Duration {
	sorted := slices.Clone(d)
	slices.Sort(sorted)
	return sorted[(len(sorted)-1)*p/100]
}

// buildFloor builds a single-file Go program with only the standard library.
func buildFloor(dir, name, source string) (string, error) {
	src := filepath.Join(dir, name)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module "+name+"\n\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(source), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, name+".bin")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if output, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building %s: %v: %s", name, err, output)
	}
	return out, nil
}
