// Package diagnose walks the chain that gives a pod registry credentials
// (kubelet configuration, ServiceAccount, node RBAC, token, STS,
// impersonation, registry) for one service account and image, and reports
// which link is broken and how to fix it.
package diagnose

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/config"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/plugin"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/provider"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/registry"
	"github.com/gcp-federated-credential-provider/gcp-federated-credential-provider/pkg/satoken"
)

// Step statuses.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "skipped"
)

// tokenExpirationSeconds is the lifetime of the token the diagnosis
// requests, the minimum the API server accepts.
const tokenExpirationSeconds = 600

// Input names what to diagnose.
type Input struct {
	Namespace      string
	ServiceAccount string
	Image          string
	// KubeletConfig is the path of the kubelet's CredentialProviderConfig.
	KubeletConfig string
	// ProviderName is the provider entry in KubeletConfig.
	ProviderName string
	// NodeName is the node whose permission to request tokens is checked.
	NodeName string
	// PluginConfig is a local copy of the settings file that the provider's
	// args name with --config; empty means the path in the args.
	PluginConfig string
}

// Step is the result of one check.
type Step struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	// Value is the checked value, such as the image or the token's claims.
	Value string `json:"value"`
	// Fix is the change that repairs a failed step.
	Fix string `json:"fix,omitempty"`
}

// Report is the result of a diagnosis.
type Report struct {
	Steps  []Step `json:"steps"`
	Passed bool   `json:"passed"`
}

// Diagnoser runs diagnoses.
type Diagnoser struct {
	Client kubernetes.Interface
	// GoogleTransport and RegistryTransport send the requests to Google and
	// to the registry; nil means http.DefaultTransport.
	GoogleTransport   http.RoundTripper
	RegistryTransport http.RoundTripper
	// Timeout bounds each network step; zero means 30s.
	Timeout time.Duration
}

// run holds the state that later steps use.
type run struct {
	d       *Diagnoser
	in      Input
	report  Report
	failed  bool
	entry   *kubeletEntry
	plugin  *plugin.Plugin
	google  *provider.Google
	request provider.Request
	// accessToken is the token the plugin would return.
	accessToken string
}

// Run performs every step in order. After a failed step, the steps that
// depend on it are skipped.
func (d *Diagnoser) Run(ctx context.Context, in Input) Report {
	r := &run{d: d, in: in}
	steps := []struct {
		name string
		fn   func(context.Context) (value string, fix string, err error)
	}{
		{"kubelet config matches image", r.checkImage},
		{"service account and annotations", r.checkServiceAccount},
		{"node may request the audience", r.checkNodeRBAC},
		{"token request", r.requestToken},
		{"token claims", r.checkClaims},
		{"STS token exchange", r.exchange},
		{"service account impersonation", r.impersonate},
		{"registry accepts credentials", r.checkRegistry},
	}
	for _, step := range steps {
		if r.failed {
			r.add(Step{Name: step.name, Status: Skipped, Value: "an earlier step failed"})
			continue
		}
		value, fix, err := step.fn(ctx)
		if errors.Is(err, errSkip) {
			r.add(Step{Name: step.name, Status: Skipped, Value: value})
			continue
		}
		if err != nil {
			r.failed = true
			r.add(Step{Name: step.name, Status: Failed, Value: value + err.Error(), Fix: fix})
			continue
		}
		r.add(Step{Name: step.name, Status: Passed, Value: value})
	}
	r.report.Passed = !r.failed
	return r.report
}

// errSkip marks a step that does not apply.
var errSkip = errors.New("skipped")

func (r *run) add(s Step) { r.report.Steps = append(r.report.Steps, s) }

func (r *run) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	t := r.d.Timeout
	if t == 0 {
		t = 30 * time.Second
	}
	return context.WithTimeout(ctx, t)
}

// kubeletEntry is the provider entry with the plugin settings from its args.
type kubeletEntry struct {
	audience     string
	requiredKeys []string
	passedKeys   []string
}

// checkImage loads the kubelet configuration and checks that the image
// matches the provider's matchImages and a registry the plugin serves.
func (r *run) checkImage(context.Context) (string, string, error) {
	entry, err := loadProvider(r.in.KubeletConfig, r.in.ProviderName)
	if err != nil {
		return "", "pass the kubelet's file with --kubelet-config (the path in its --image-credential-provider-config flag)", err
	}
	if entry.TokenAttributes == nil {
		return "", "add tokenAttributes to the provider entry, as in examples/CredentialProviderConfig.yaml (Kubernetes 1.33+)",
			fmt.Errorf("provider %s has no tokenAttributes, so the kubelet sends no service account token", entry.Name)
	}
	args := entry.Args
	if r.in.PluginConfig != "" {
		args = append(slices.Clone(args), "--config="+r.in.PluginConfig)
	}
	// The plugin also takes klog's -v and -vmodule, which change nothing here.
	logFlags := func(fs *flag.FlagSet) {
		fs.String("v", "", "")
		fs.String("vmodule", "", "")
	}
	settings, _, err := config.Parse(r.in.ProviderName, args, logFlags)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "pass a local copy of the plugin's settings file with --plugin-config", fmt.Errorf("the provider's args name a settings file that is not readable here: %w", err)
	}
	if err != nil {
		return "", "fix the provider's args", fmt.Errorf("the plugin rejects the provider's args: %w", err)
	}
	opts, endpoints, err := settings.Validate()
	if err != nil {
		return "", "fix the provider's args", fmt.Errorf("the plugin rejects the provider's args: %w", err)
	}
	attrs := entry.TokenAttributes
	r.entry = &kubeletEntry{
		audience:     attrs.ServiceAccountTokenAudience,
		requiredKeys: attrs.RequiredServiceAccountAnnotationKeys,
		passedKeys:   append(slices.Clone(attrs.RequiredServiceAccountAnnotationKeys), attrs.OptionalServiceAccountAnnotationKeys...),
	}
	r.plugin = &plugin.Plugin{Options: opts}
	r.google = settings.Exchanger(endpoints)
	r.google.Transport = r.d.GoogleTransport

	var matched string
	for _, pattern := range entry.MatchImages {
		if matchImage(pattern, r.in.Image) {
			matched = pattern
			break
		}
	}
	if matched == "" {
		return r.in.Image, fmt.Sprintf("add a pattern for this registry to matchImages of provider %s", entry.Name),
			fmt.Errorf(" matches none of matchImages %v, so the kubelet never runs the plugin for it", entry.MatchImages)
	}
	host, err := registry.ParseImage(r.in.Image)
	if err != nil {
		return "", "pass the image as HOST/REPOSITORY[:TAG]", err
	}
	if !opts.Registries.Allows(host) {
		return r.in.Image, "use an image on a Google registry, or add a Google registry endpoint with --registry-host in the provider's args",
			fmt.Errorf(" is on %s, where the plugin never sends Google credentials", host.Raw)
	}
	return fmt.Sprintf("%s matches %q of provider %s (audience %q)", r.in.Image, matched, entry.Name, r.entry.audience), "", nil
}

// checkServiceAccount checks that the ServiceAccount exists, carries the
// required annotations, and that its provider and impersonation annotations
// pass the plugin's own validation and reach the plugin.
func (r *run) checkServiceAccount(ctx context.Context) (string, string, error) {
	name := r.in.Namespace + "/" + r.in.ServiceAccount
	sa, err := r.d.Client.CoreV1().ServiceAccounts(r.in.Namespace).Get(ctx, r.in.ServiceAccount, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return name, "create the ServiceAccount, or pass the pod's with --service-account and --namespace", errors.New(": not found")
	}
	if err != nil {
		return name, "check the kubeconfig's permission to get serviceaccounts", fmt.Errorf(": %w", err)
	}
	for _, key := range r.entry.requiredKeys {
		if _, ok := sa.Annotations[key]; !ok {
			return name, fmt.Sprintf("annotate it: kubectl annotate serviceaccount -n %s %s %s=VALUE", r.in.Namespace, r.in.ServiceAccount, key),
				fmt.Errorf(": the required annotation %s is missing, so the kubelet does not run the plugin", key)
		}
	}

	// The kubelet passes only the annotations listed in tokenAttributes.
	passed := map[string]string{}
	for key, value := range sa.Annotations {
		if slices.Contains(r.entry.passedKeys, key) {
			passed[key] = value
		}
	}
	for _, key := range []string{r.plugin.Options.ProviderAnnotation, r.plugin.Options.ServiceAccountAnnotation} {
		if _, ok := sa.Annotations[key]; ok && !slices.Contains(r.entry.passedKeys, key) {
			return name, fmt.Sprintf("list %s in tokenAttributes.optionalServiceAccountAnnotationKeys of the kubelet's config", key),
				fmt.Errorf(": the annotation %s is set, but the kubelet does not pass it to the plugin", key)
		}
	}

	p, err := r.plugin.ChooseProvider(passed, name)
	if err != nil {
		return name, "fix the annotation or the plugin's flags as the message says", fmt.Errorf(": %w", err)
	}
	email, err := r.plugin.ChooseServiceAccount(passed, name)
	if err != nil {
		return name, "fix the annotation or the plugin's flags as the message says", fmt.Errorf(": %w", err)
	}
	r.request = provider.Request{Provider: p, ServiceAccount: email}
	value := fmt.Sprintf("%s exists; provider %s", name, p)
	if email != "" {
		value += "; impersonates " + email
	}
	return value, "", nil
}

// checkNodeRBAC sends a SubjectAccessReview: may a node request tokens for
// the audience, as the kubelet must before it runs the plugin?
func (r *run) checkNodeRBAC(ctx context.Context) (string, string, error) {
	user := "system:node:" + r.in.NodeName
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:nodes", "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: r.in.Namespace,
			Verb:      "request-serviceaccounts-token-audience",
			Group:     "",
			Resource:  r.entry.audience,
			Name:      r.in.ServiceAccount,
		},
	}}
	value := fmt.Sprintf("%s, verb request-serviceaccounts-token-audience on %q", user, r.entry.audience)
	result, err := r.d.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return value, "check the kubeconfig's permission to create subjectaccessreviews", fmt.Errorf(": %w", err)
	}
	if !result.Status.Allowed {
		return value, rbacFix(r.entry.audience), errors.New(": denied, so the API server rejects the kubelet's token requests and pulls go out without credentials")
	}
	return value + ": allowed", "", nil
}

func rbacFix(audience string) string {
	return fmt.Sprintf("grant nodes the audience, as examples/rbac.yaml does: a ClusterRole with rules [{apiGroups: [\"\"], resources: [%q], verbs: [\"request-serviceaccounts-token-audience\"]}] bound to the group system:nodes", audience)
}

// requestToken requests a short-lived token for the service account and
// audience, as the kubelet does (without the pod binding).
func (r *run) requestToken(ctx context.Context) (string, string, error) {
	expiration := int64(tokenExpirationSeconds)
	tr, err := r.d.Client.CoreV1().ServiceAccounts(r.in.Namespace).CreateToken(ctx, r.in.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{r.entry.audience}, ExpirationSeconds: &expiration},
	}, metav1.CreateOptions{})
	value := fmt.Sprintf("audience %q, %ds", r.entry.audience, expiration)
	if err != nil {
		return value, "check the kubeconfig's permission to create serviceaccounts/token in the namespace", fmt.Errorf(": %w", err)
	}
	if tr.Status.Token == "" {
		return value, "check the API server's service account token signing (--service-account-signing-key-file)", errors.New(": the API server returned no token")
	}
	r.request.SubjectToken = tr.Status.Token
	return value + ": issued", "", nil
}

// checkClaims reads the token's claims, never the token itself.
func (r *run) checkClaims(context.Context) (string, string, error) {
	claims, err := satoken.Parse(r.request.SubjectToken, time.Now())
	if err != nil {
		return "", "check the API server's token issuer", err
	}
	r.request.Claims = claims
	value := fmt.Sprintf("iss %q, sub %q, aud %v", claims.Issuer, claims.Subject, claims.Audience)
	if !slices.Contains(claims.Audience, r.entry.audience) {
		return value, "check the API server's --api-audiences", fmt.Errorf(": the token lacks the audience %q", r.entry.audience)
	}
	if len(claims.Subject) > 127 {
		return value, "shorten the namespace or service account name, or map google.subject to a shorter attribute",
			fmt.Errorf(": the subject is %d bytes, over Google's 127-byte limit for google.subject", len(claims.Subject))
	}
	return value + fmt.Sprintf("; the provider's issuer URI must be %q and its allowed audiences must include %q", claims.Issuer, r.entry.audience), "", nil
}

// exchange performs the STS exchange alone.
func (r *run) exchange(ctx context.Context) (string, string, error) {
	ctx, cancel := r.timeout(ctx)
	defer cancel()
	direct := r.request
	direct.ServiceAccount = ""
	token, err := r.google.Exchange(ctx, direct)
	value := "provider " + direct.Provider.String()
	if err != nil {
		return value, hintOf(err), fmt.Errorf(": %s", errorWithoutHint(err))
	}
	if r.request.ServiceAccount == "" {
		r.accessToken = token.AccessToken
	}
	return value + fmt.Sprintf(": access token expires in %s", time.Until(token.Expiry).Round(time.Second)), "", nil
}

// impersonate exchanges and impersonates the service account, if any.
func (r *run) impersonate(ctx context.Context) (string, string, error) {
	if r.request.ServiceAccount == "" {
		return "no impersonation annotation or --impersonate-service-account", "", errSkip
	}
	ctx, cancel := r.timeout(ctx)
	defer cancel()
	token, err := r.google.Exchange(ctx, r.request)
	value := r.request.ServiceAccount
	if err != nil {
		return value, hintOf(err), fmt.Errorf(": %s", errorWithoutHint(err))
	}
	r.accessToken = token.AccessToken
	return value + fmt.Sprintf(": access token expires in %s", time.Until(token.Expiry).Round(time.Second)), "", nil
}

// hintOf returns the hint of a Google error, or general advice.
func hintOf(err error) string {
	var stsErr *provider.STSError
	var iamErr *provider.IAMError
	switch {
	case errors.As(err, &stsErr) && stsErr.Hint() != "":
		return stsErr.Hint()
	case errors.As(err, &iamErr) && iamErr.Hint() != "":
		return iamErr.Hint()
	}
	return "check the endpoint, the network path to Google and the trusted CA certificates"
}

// errorWithoutHint returns the error's message without its ". Hint: …"
// part, which the report shows as the fix.
func errorWithoutHint(err error) string {
	msg, _, _ := strings.Cut(err.Error(), ". Hint: ")
	return msg
}

// WriteText writes one line per step: a mark (✓ passed, ✗ failed, - skipped),
// the step, the value it checked and, for a failed step, the fix.
func WriteText(w io.Writer, report Report) {
	for _, s := range report.Steps {
		switch s.Status {
		case Passed:
			fmt.Fprintf(w, "✓ %s: %s\n", s.Name, s.Value)
		case Failed:
			fmt.Fprintf(w, "✗ %s: %s; fix: %s\n", s.Name, s.Value, s.Fix)
		default:
			fmt.Fprintf(w, "- %s: skipped (%s)\n", s.Name, s.Value)
		}
	}
}
