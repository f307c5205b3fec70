// Command demo runs the plugin against the fake Google endpoints. It starts
// the fake STS and IAM Credentials on 127.0.0.1 and signs a service account
// token shaped like an EKS token. Then it pipes a CredentialProviderRequest
// to the real plugin binary, once without and once with impersonation, and
// prints each response. Nothing leaves the machine.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/fakegoogle"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/test/issuer"
)

const (
	providerName   = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-demo/providers/eks-cluster"
	audience       = "gcp-federated-credential-provider.io"
	serviceAccount = "registry-reader@demo-project.iam.gserviceaccount.com"
	image          = "us-docker.pkg.dev/demo-project/images/app"
)

func main() {
	plugin := flag.String("plugin", "bin/gcp-federated-credential-provider", "Path of the plugin binary.")
	flag.Parse()
	if err := run(*plugin); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(plugin string) error {
	fake := fakegoogle.New()
	defer fake.Close()
	iss, err := issuer.New(issuer.EKSIssuer)
	if err != nil {
		return err
	}
	jwks := iss.JWKS()
	fake.AddProvider(fakegoogle.Provider{Name: providerName, Issuer: iss.URL, JWKS: &jwks, AllowedAudiences: []string{audience}})
	fake.AddServiceAccount(serviceAccount,
		"principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/eks-demo/subject/system:serviceaccount:team-a:app")

	dir, err := os.MkdirTemp("", "gcp-federated-credential-provider-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "fake-google-ca.pem")
	if err := os.WriteFile(caFile, fake.CertificatePEM(), 0o600); err != nil {
		return err
	}

	fmt.Printf("SIMULATION: fake Google STS and IAM Credentials at %s (loopback only), token signed by a test key as %s\n", fake.URL(), iss.URL)
	fmt.Printf("The request is piped on standard input; the CA file lives in a temporary folder removed when the demo ends.\n\n")
	token, err := iss.Token(issuer.ServiceAccount{Namespace: "team-a", Name: "app", Audience: []string{audience}})
	if err != nil {
		return err
	}

	cases := []struct {
		title       string
		annotations map[string]string
	}{
		{"Federated token used directly", map[string]string{
			"gcp-federated-credential-provider.io/workload-identity-provider": providerName,
		}},
		{"Federated token, then impersonation of " + serviceAccount, map[string]string{
			"gcp-federated-credential-provider.io/workload-identity-provider": providerName,
			"iam.gke.io/gcp-service-account":                                  serviceAccount,
		}},
	}
	for i, c := range cases {
		fmt.Printf("=== %d. %s\n", i+1, c.title)
		if err := runPlugin(plugin, fake, caFile, token, c.annotations); err != nil {
			return err
		}
		fmt.Println()
	}
	fmt.Printf("The fake received %d STS and %d IAM Credentials requests.\n", fake.STSRequests(), fake.IAMRequests())
	return nil
}

func runPlugin(plugin string, fake *fakegoogle.Server, caFile, token string, annotations map[string]string) error {
	request, err := json.Marshal(map[string]any{
		"apiVersion":                "credentialprovider.kubelet.k8s.io/v1",
		"kind":                      "CredentialProviderRequest",
		"image":                     image,
		"serviceAccountToken":       token,
		"serviceAccountAnnotations": annotations,
	})
	if err != nil {
		return err
	}
	args := []string{"--sts-endpoint=" + fake.URL(), "--iam-credentials-endpoint=" + fake.URL(), "--v=2"}
	fmt.Printf("$ SSL_CERT_FILE=%s %s %s < request\n", caFile, plugin, strings.Join(args, " "))
	fmt.Printf("request: image %s, serviceAccountToken <JWT of %d bytes for team-a/app, not shown>, serviceAccountAnnotations:\n", image, len(token))
	for _, key := range slices.Sorted(maps.Keys(annotations)) {
		fmt.Printf("  %s: %s\n", key, annotations[key])
	}

	cmd := exec.Command(plugin, args...)
	cmd.Stdin = bytes.NewReader(request)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	fmt.Printf("stderr:\n%s", stderr.String())
	if runErr != nil {
		return fmt.Errorf("the plugin failed: %w", runErr)
	}

	var pretty bytes.Buffer
	if err := json.Indent(&pretty, stdout.Bytes(), "", "  "); err != nil {
		return fmt.Errorf("the plugin wrote invalid JSON: %w", err)
	}
	fmt.Printf("stdout (the CredentialProviderResponse):\n%s", pretty.String())

	var response struct {
		Auth map[string]struct{ Password string } `json:"auth"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &response); err != nil {
		return err
	}
	password := response.Auth["us-docker.pkg.dev"].Password
	info, ok := fake.Lookup(password)
	if !ok {
		return fmt.Errorf("the password is not a token the fake issued")
	}
	identity := info.Principal
	if info.ServiceAccount != "" {
		identity = info.ServiceAccount
	}
	fmt.Printf("Check: the password is the access token the fake issued to %s.\n", identity)
	return nil
}
