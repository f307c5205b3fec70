// Command gcp-federated-credential-provider is a kubelet image credential
// provider that exchanges a pod's service account token for Google registry
// credentials through workload identity federation.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"
	"k8s.io/klog/v2"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/config"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/protocol"
)

const name = "gcp-federated-credential-provider"

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout)
	stop()
	klog.Flush()
	os.Exit(code)
}

// run executes the plugin and returns the exit status: 0 on success, 1 when
// the request failed, 2 for a usage or configuration error.
func run(ctx context.Context, args []string, stdin *os.File, stdout io.Writer) int {
	cfg, rest, err := config.Parse(name, args, registerLogFlags)
	if errors.Is(err, flag.ErrHelp) {
		config.PrintUsage(stdout, name, registerLogFlags)
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v; run %s --help for usage\n", name, err, name)
		return 2
	}

	switch {
	case len(rest) == 1 && rest[0] == "version":
		fmt.Fprintln(stdout, name, versionString())
		return 0
	case len(rest) == 1 && rest[0] == "help":
		config.PrintUsage(stdout, name, registerLogFlags)
		return 0
	case len(rest) > 0:
		fmt.Fprintf(os.Stderr, "%s: unknown command %q; the commands are version and help, and the kubelet runs the plugin with flags only\n", name, rest[0])
		return 2
	}

	opts, endpoints, err := cfg.Validate()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	if term.IsTerminal(int(stdin.Fd())) {
		config.PrintUsage(os.Stderr, name, registerLogFlags)
		return 2
	}
	p := &plugin.Plugin{Options: opts, Exchanger: cfg.Exchanger(endpoints)}

	if err := serve(ctx, p, stdin, stdout); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// serve reads one request, handles it and writes the response.
func serve(ctx context.Context, p *plugin.Plugin, stdin io.Reader, stdout io.Writer) error {
	req, err := protocol.ReadRequest(stdin)
	if err != nil {
		return err
	}
	resp, err := p.Handle(ctx, req)
	if err != nil {
		return err
	}
	return protocol.WriteResponse(stdout, resp)
}

// registerLogFlags adds klog's -v and -vmodule to fs. klog's other flags
// control log files, which a kubelet plugin does not write.
func registerLogFlags(fs *flag.FlagSet) {
	all := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(all)
	for _, name := range []string{"v", "vmodule"} {
		f := all.Lookup(name)
		fs.Var(f.Value, f.Name, f.Usage)
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "unknown"
}
