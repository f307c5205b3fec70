// Command gcp-federated-credential-provider-diagnose finds why a pod cannot
// pull from a Google registry with gcp-federated-credential-provider: it
// checks each link from the kubelet's configuration to the registry for one
// service account and image. Installed as kubectl-gcp_federated_diagnose on
// the PATH, it also runs as "kubectl gcp-federated-diagnose".
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/diagnose"
)

const usage = `Usage: %s --service-account NAME --image IMAGE --kubelet-config FILE [flags]

Checks, for one service account and image, each link that gives a pod
registry credentials through gcp-federated-credential-provider: the kubelet's
configuration, the ServiceAccount and its annotations, the node's permission
to request the token audience, the token, the STS exchange, the
impersonation and the registry. It prints one line per step and exits 0 only
if every step passed.

Flags:
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), usage, name)
		fs.PrintDefaults()
	}

	in := diagnose.Input{}
	fs.StringVar(&in.ServiceAccount, "service-account", "", "Kubernetes service account of the pod (required).")
	fs.StringVar(&in.Image, "image", "", "Image the pod pulls, such as us-docker.pkg.dev/project/repository/app:1.0; the tag defaults to latest (required).")
	fs.StringVar(&in.KubeletConfig, "kubelet-config", "", "The kubelet's CredentialProviderConfig file, as given to its --image-credential-provider-config (required).")
	fs.StringVar(&in.ProviderName, "provider-name", "gcp-federated-credential-provider", "Name of the plugin's provider entry in the kubelet config.")
	fs.StringVar(&in.NodeName, "node", "diagnose", "Node name whose permission to request the audience is checked, as system:node:NAME in group system:nodes.")
	output := fs.StringP("output", "o", "text", "Output format: text or json.")

	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	fs.StringVar(&loading.ExplicitPath, "kubeconfig", "", "Path of the kubeconfig file; the KUBECONFIG variable and ~/.kube/config apply otherwise.")
	overrides := &clientcmd.ConfigOverrides{}
	clientcmd.BindOverrideFlags(overrides, fs, clientcmd.RecommendedConfigOverrideFlags(""))

	fs.StringVar(&in.PluginConfig, "plugin-config", "", "Local copy of the plugin's settings file, when the provider's args name one with --config.")
	if err := fs.Parse(args[1:]); err != nil {
		if err == pflag.ErrHelp {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	var missing []string
	for _, flag := range []string{"service-account", "image", "kubelet-config"} {
		if fs.Lookup(flag).Value.String() == "" {
			missing = append(missing, "--"+flag)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(stderr, "%s: missing %s; run %s --help for usage\n", name, strings.Join(missing, ", "), name)
		return 2
	}
	if *output != "text" && *output != "json" {
		fmt.Fprintf(stderr, "%s: --output %q is not text or json\n", name, *output)
		return 2
	}

	clientConfig := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, overrides)
	namespace, _, err := clientConfig.Namespace()
	if err != nil {
		fmt.Fprintf(stderr, "%s: reading the kubeconfig: %v\n", name, err)
		return 2
	}
	in.Namespace = namespace
	restConfig, err := clientConfig.ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "%s: reading the kubeconfig: %v\n", name, err)
		return 2
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		fmt.Fprintf(stderr, "%s: creating the Kubernetes client: %v\n", name, err)
		return 2
	}

	report := (&diagnose.Diagnoser{Client: client}).Run(ctx, in)
	if *output == "json" {
		encoder := json.NewEncoder(stdout)
		encoder.SetIndent("", "  ")
		encoder.Encode(report)
	} else {
		diagnose.WriteText(stdout, report)
	}
	if !report.Passed {
		return 1
	}
	return 0
}
