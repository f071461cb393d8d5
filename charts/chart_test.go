package charts

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hookwall/hookwall/config"
)

// helmPackage is the helm command built for the test, pinned so that a new
// helm release cannot change what the test checks.
const helmPackage = "helm.sh/helm/v3/cmd/helm@v3.22.0"

// helmLDFlags stamp the build like helm's own Makefile does. Without them a
// helm built from source says it is "v3.22" and assumes Kubernetes v1.20,
// which the chart's kubeVersion (>=1.30) rejects. v3.22.0 is built against
// the k8s.io v0.37 modules, hence Kubernetes 1.37.
var helmLDFlags = strings.Join([]string{
	"-X helm.sh/helm/v3/internal/version.version=v3.22.0",
	"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1",
	"-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37",
	"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1",
	"-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37",
}, " ")

const (
	chartDir       = "hookwall"
	productionFile = "testdata/production-values.yaml"
	release        = "rel"
	namespace      = "hookwall"
	fullname       = "rel-hookwall"
)

// helmBin is the helm built by TestMain.
var helmBin string

// TestMain builds helm once per test run into a temporary directory. A helm
// that cannot be built fails the run: the chart is then untested, which is
// not a reason to pass.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookwall-helm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "charts:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	bin, err := buildHelm(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "charts: building %s: %v\n", helmPackage, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "charts: built %s in %s\n", helmPackage, time.Since(start).Round(time.Millisecond))
	helmBin = bin
	return m.Run()
}

// buildHelm installs helm into dir with `go install pkg@version`, which
// resolves helm's own module graph and leaves hookwall's go.mod alone. It
// runs in dir, outside any module, and uses the ordinary build cache, so
// only the first build compiles helm.
func buildHelm(dir string) (string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(gobin, "install", "-ldflags", helmLDFlags, helmPackage)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w\n%s", err, out)
	}
	bin := filepath.Join(dir, "helm")
	if _, err := os.Stat(bin); err != nil {
		return "", err
	}
	return bin, nil
}

// helm runs the built helm in this directory and returns its stdout; the
// error carries stderr.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	readChart(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Keep helm away from the user's repositories, plugins and kubeconfig.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "kubeconfig"),
	)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// readChart reads every file of the chart and of testdata. helm reads them
// in another process, which go test does not see: reading them here too
// makes a change to any of them invalidate go test's cached result.
func readChart(t *testing.T) {
	t.Helper()
	for _, root := range []string{chartDir, "testdata"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// object is one rendered Kubernetes object.
type object struct {
	Kind string
	Name string
	node *yaml.Node
}

// manifest is the output of helm template, by kind.
type manifest map[string][]object

// render runs helm template with args and parses its documents.
func render(t *testing.T, args ...string) manifest {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, "./" + chartDir, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return parseManifest(t, out)
}

func parseManifest(t *testing.T, out string) manifest {
	t.Helper()
	m := manifest{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output is not YAML: %v\n%s", err, out)
		}
		if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
			continue // an empty document
		}
		var head struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Metadata   struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := doc.Decode(&head); err != nil {
			t.Fatal(err)
		}
		if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
			t.Fatalf("object without apiVersion, kind or name:\n%s", nodeText(t, &doc))
		}
		if head.Metadata.Namespace != namespace {
			t.Errorf("%s %s: namespace %q, want %q", head.Kind, head.Metadata.Name, head.Metadata.Namespace, namespace)
		}
		m[head.Kind] = append(m[head.Kind], object{Kind: head.Kind, Name: head.Metadata.Name, node: &doc})
	}
	return m
}

func nodeText(t *testing.T, n *yaml.Node) string {
	t.Helper()
	b, err := yaml.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// one decodes the only object of kind into v.
func (m manifest) one(t *testing.T, kind string, v any) {
	t.Helper()
	objs := m[kind]
	if len(objs) != 1 {
		t.Fatalf("rendered %d %s objects, want 1", len(objs), kind)
	}
	if err := objs[0].node.Decode(v); err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

func (m manifest) kinds() []string {
	return slices.Sorted(maps.Keys(m))
}

// Just the fields of the rendered objects the test looks at.
type (
	meta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	deployment struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			Replicas *int `yaml:"replicas"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata meta    `yaml:"metadata"`
				Spec     podSpec `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	podSpec struct {
		ServiceAccountName            string             `yaml:"serviceAccountName"`
		AutomountServiceAccountToken  *bool              `yaml:"automountServiceAccountToken"`
		TerminationGracePeriodSeconds *int               `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               podSecurityContext `yaml:"securityContext"`
		Containers                    []container        `yaml:"containers"`
		Volumes                       []volume           `yaml:"volumes"`
	}
	podSecurityContext struct {
		RunAsNonRoot   *bool           `yaml:"runAsNonRoot"`
		RunAsUser      *int64          `yaml:"runAsUser"`
		SeccompProfile *seccompProfile `yaml:"seccompProfile"`
	}
	seccompProfile struct {
		Type string `yaml:"type"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Ports   []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		EnvFrom []struct {
			SecretRef *struct {
				Name string `yaml:"name"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Env []struct {
			Name      string `yaml:"name"`
			ValueFrom *struct {
				ResourceFieldRef *struct {
					Resource string `yaml:"resource"`
				} `yaml:"resourceFieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		Lifecycle      *struct {
			PreStop *struct {
				Sleep *struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
				Exec any `yaml:"exec"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Privileged               *bool `yaml:"privileged"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
			SeccompProfile *seccompProfile `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string `yaml:"name"`
			Items []struct {
				Key  string `yaml:"key"`
				Path string `yaml:"path"`
			} `yaml:"items"`
		} `yaml:"configMap"`
		EmptyDir any `yaml:"emptyDir"`
	}
	configMap struct {
		Metadata meta              `yaml:"metadata"`
		Data     map[string]string `yaml:"data"`
	}
	secret struct {
		Metadata meta              `yaml:"metadata"`
		Type     string            `yaml:"type"`
		Data     map[string]string `yaml:"data"`
	}
	service struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	hpa struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			ScaleTargetRef struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Name       string `yaml:"name"`
			} `yaml:"scaleTargetRef"`
			MinReplicas int `yaml:"minReplicas"`
			MaxReplicas int `yaml:"maxReplicas"`
			Metrics     []struct {
				Type     string `yaml:"type"`
				Resource struct {
					Name string `yaml:"name"`
				} `yaml:"resource"`
			} `yaml:"metrics"`
		} `yaml:"spec"`
	}
	pdb struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			MinAvailable   any `yaml:"minAvailable"`
			MaxUnavailable any `yaml:"maxUnavailable"`
			Selector       struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
		} `yaml:"spec"`
	}
	serviceMonitor struct {
		APIVersion string `yaml:"apiVersion"`
		Metadata   meta   `yaml:"metadata"`
		Spec       struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port     string `yaml:"port"`
				Path     string `yaml:"path"`
				Interval string `yaml:"interval"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
)

// envRef is the whole-value ${NAME} form that hookwall resolves.
var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

func TestLint(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{name: "defaults"},
		{name: "production values", args: []string{"--values", productionFile}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", "./" + chartDir}, tc.args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name string
		args []string

		wantKinds      []string
		wantSecret     string // the Secret loaded with envFrom
		chartSecret    bool   // the chart renders that Secret
		wantReplicas   *int   // nil: left to the HPA
		wantPreStop    int
		wantGrace      time.Duration
		wantImage      string
		wantPDBMin     any
		wantRefs       []string // every ${NAME} in hookwall.yaml
		wantEmbeddedDB bool
	}{
		{
			name:         "defaults",
			wantKinds:    []string{"ConfigMap", "Deployment", "PodDisruptionBudget", "Secret", "Service", "ServiceAccount"},
			wantSecret:   fullname,
			chartSecret:  true,
			wantReplicas: ptr(1),
			wantPreStop:  5,
			wantGrace:    20 * time.Second,
			wantImage:    "ghcr.io/hookwall/hookwall:0.1.0",
			wantRefs: []string{
				"BOT_WEBHOOK_SECRET", "HELPDESK_WEBHOOK_SECRET", "HOOKWALL_ADMIN_TOKEN",
				"LINE_ACCESS_TOKEN", "LINE_CHANNEL_SECRET", "WEBCHAT_WEBHOOK_SECRET",
				"WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
			},
			wantEmbeddedDB: true,
		},
		{
			name:        "production values: existingSecret, hpa, serviceMonitor",
			args:        []string{"--values", productionFile},
			wantKinds:   []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"},
			wantSecret:  "hookwall-prod-secrets",
			wantPreStop: 10,
			wantGrace:   45 * time.Second,
			wantImage:   "registry.example.com/hookwall/hookwall@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904f2c7ba6ab5a6bd6fe7f1f0a6",
			wantPDBMin:  2,
			wantRefs: []string{
				"BOT_WEBHOOK_SECRET", "HELPDESK_WEBHOOK_SECRET", "HOOKWALL_ADMIN_TOKEN", "HOOKWALL_HELPDESK_TOKEN",
				"LINE_ACCESS_TOKEN", "LINE_CHANNEL_SECRET", "LINE_CHANNEL_SECRET_NEXT", "REDIS_URL",
				"WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
			},
		},
		{
			name: "optional objects off, no preStop",
			args: []string{
				"--set", "podDisruptionBudget.enabled=false",
				"--set", "serviceAccount.create=false",
				"--set", "drain.preStopSleepSeconds=0",
			},
			wantKinds:    []string{"ConfigMap", "Deployment", "Secret", "Service"},
			wantSecret:   fullname,
			chartSecret:  true,
			wantReplicas: ptr(1),
			wantPreStop:  0,
			wantGrace:    20 * time.Second,
			wantImage:    "ghcr.io/hookwall/hookwall:0.1.0",
			wantRefs: []string{
				"BOT_WEBHOOK_SECRET", "HELPDESK_WEBHOOK_SECRET", "HOOKWALL_ADMIN_TOKEN",
				"LINE_ACCESS_TOKEN", "LINE_CHANNEL_SECRET", "WEBCHAT_WEBHOOK_SECRET",
				"WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN",
			},
			wantEmbeddedDB: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := render(t, tc.args...)
			if got := m.kinds(); !slices.Equal(got, tc.wantKinds) {
				t.Fatalf("kinds = %v, want %v", got, tc.wantKinds)
			}
			for kind, objs := range m {
				if len(objs) != 1 {
					t.Errorf("%d %s objects, want 1", len(objs), kind)
				}
			}

			var d deployment
			m.one(t, "Deployment", &d)
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Containers))
			}
			c := pod.Containers[0]
			checkDeployment(t, d, c, tc.wantReplicas, tc.wantImage)
			checkSecurity(t, pod, c)
			checkDrain(t, pod, c, tc.wantPreStop, tc.wantGrace)
			checkMemoryLimit(t, c)

			var cm configMap
			m.one(t, "ConfigMap", &cm)
			cfgText := cm.Data["hookwall.yaml"]
			checkConfigMount(t, pod, c, cm)
			refs := checkConfigRefs(t, cfgText)
			if !slices.Equal(refs, tc.wantRefs) {
				t.Errorf("hookwall.yaml references %v, want %v", refs, tc.wantRefs)
			}

			// Secret wiring: envFrom names the Secret; the chart renders it
			// only when it is its own, and then it holds every reference.
			if len(c.EnvFrom) == 0 || c.EnvFrom[0].SecretRef == nil || c.EnvFrom[0].SecretRef.Name != tc.wantSecret {
				t.Errorf("envFrom = %+v, want secretRef %q first", c.EnvFrom, tc.wantSecret)
			}
			env := map[string]string{}
			if tc.chartSecret {
				var s secret
				m.one(t, "Secret", &s)
				if s.Metadata.Name != tc.wantSecret || s.Type != "Opaque" {
					t.Errorf("Secret %q of type %q, want %q Opaque", s.Metadata.Name, s.Type, tc.wantSecret)
				}
				if d.Spec.Template.Metadata.Annotations["checksum/secret"] == "" {
					t.Error("pod template has no checksum/secret annotation")
				}
				for k, v := range s.Data {
					b, err := base64.StdEncoding.DecodeString(v)
					if err != nil {
						t.Fatalf("Secret key %s: %v", k, err)
					}
					env[k] = string(b)
					if strings.Contains(cfgText, string(b)) {
						t.Errorf("the value of Secret key %s appears in the ConfigMap", k)
					}
				}
				for _, ref := range refs {
					if _, ok := env[ref]; !ok {
						t.Errorf("hookwall.yaml references ${%s}, which the Secret lacks", ref)
					}
				}
			} else {
				if _, ok := m["Secret"]; ok {
					t.Error("a Secret is rendered although existingSecret is set")
				}
				if _, ok := d.Spec.Template.Metadata.Annotations["checksum/secret"]; ok {
					t.Error("checksum/secret annotation with existingSecret: the chart cannot see that Secret")
				}
				// Stand in for the operator's Secret.
				for _, ref := range refs {
					env[ref] = exampleSecret(ref)
				}
			}

			// hookwall itself accepts the file, with the Secret as its
			// environment.
			cfg, err := config.Parse([]byte(cfgText), func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			})
			if err != nil {
				t.Fatalf("hookwall rejects the rendered hookwall.yaml: %v\n%s", err, cfgText)
			}
			if cfg.Listen != "0.0.0.0:8080" {
				t.Errorf("listen = %q, want 0.0.0.0:8080", cfg.Listen)
			}
			if got := cfg.Shutdown.Grace.Std(); got != tc.wantGrace {
				t.Errorf("shutdown.grace = %s, want %s", got, tc.wantGrace)
			}
			if got := cfg.Redis.Embedded(); got != tc.wantEmbeddedDB {
				t.Errorf("embedded store = %t, want %t", got, tc.wantEmbeddedDB)
			}

			var svc service
			m.one(t, "Service", &svc)
			checkService(t, svc, d)

			if _, ok := m["HorizontalPodAutoscaler"]; ok {
				var h hpa
				m.one(t, "HorizontalPodAutoscaler", &h)
				ref := h.Spec.ScaleTargetRef
				if h.APIVersion != "autoscaling/v2" || ref.Kind != "Deployment" || ref.Name != d.Metadata.Name || ref.APIVersion != "apps/v1" {
					t.Errorf("HPA %s targets %+v, want apps/v1 Deployment %s", h.APIVersion, ref, d.Metadata.Name)
				}
				if h.Spec.MinReplicas < 1 || h.Spec.MaxReplicas < h.Spec.MinReplicas || len(h.Spec.Metrics) == 0 {
					t.Errorf("HPA spec = %+v", h.Spec)
				}
			}
			if _, ok := m["PodDisruptionBudget"]; ok {
				var p pdb
				m.one(t, "PodDisruptionBudget", &p)
				if p.APIVersion != "policy/v1" || !maps.Equal(p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
					t.Errorf("PDB %s selects %v, want policy/v1 selecting %v", p.APIVersion, p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
				}
				switch {
				case tc.wantPDBMin != nil && (p.Spec.MinAvailable != tc.wantPDBMin || p.Spec.MaxUnavailable != nil):
					t.Errorf("PDB minAvailable %v maxUnavailable %v, want minAvailable %v only", p.Spec.MinAvailable, p.Spec.MaxUnavailable, tc.wantPDBMin)
				case tc.wantPDBMin == nil && (p.Spec.MaxUnavailable != 1 || p.Spec.MinAvailable != nil):
					t.Errorf("PDB minAvailable %v maxUnavailable %v, want maxUnavailable 1 only", p.Spec.MinAvailable, p.Spec.MaxUnavailable)
				}
			}
			if _, ok := m["ServiceMonitor"]; ok {
				var sm serviceMonitor
				m.one(t, "ServiceMonitor", &sm)
				if sm.APIVersion != "monitoring.coreos.com/v1" {
					t.Errorf("ServiceMonitor apiVersion %q", sm.APIVersion)
				}
				for k, v := range sm.Spec.Selector.MatchLabels {
					if svc.Metadata.Labels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%s, which the Service lacks", k, v)
					}
				}
				if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoints = %+v, want port http path /metrics", sm.Spec.Endpoints)
				}
				if sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
					t.Errorf("ServiceMonitor labels = %v, want the extra release label", sm.Metadata.Labels)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d deployment, c container, wantReplicas *int, wantImage string) {
	t.Helper()
	switch {
	case wantReplicas == nil && d.Spec.Replicas != nil:
		t.Errorf("replicas = %d with autoscaling; the HPA owns it", *d.Spec.Replicas)
	case wantReplicas != nil && (d.Spec.Replicas == nil || *d.Spec.Replicas != *wantReplicas):
		t.Errorf("replicas = %v, want %d", d.Spec.Replicas, *wantReplicas)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod labels", k, v)
		}
	}
	for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
		if d.Metadata.Labels[k] == "" {
			t.Errorf("Deployment lacks the standard label %s", k)
		}
	}
	if d.Spec.Template.Metadata.Annotations["checksum/config"] == "" {
		t.Error("pod template has no checksum/config annotation")
	}
	if c.Image != wantImage {
		t.Errorf("image = %q, want %q", c.Image, wantImage)
	}
	// The image's ENTRYPOINT already is `/hookwall serve --config ...`.
	if len(c.Command) > 0 || len(c.Args) > 0 {
		t.Errorf("command %q args %q override the image's entrypoint", c.Command, c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports = %+v, want http 8080", c.Ports)
	}
	for name, p := range map[string]*probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != name || p.HTTPGet.Port != "http" {
			t.Errorf("probe for %s = %+v", name, p)
		}
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
}

func checkSecurity(t *testing.T, pod podSpec, c container) {
	t.Helper()
	sc := c.SecurityContext
	psc := pod.SecurityContext
	isTrue := func(b *bool) bool { return b != nil && *b }
	isFalse := func(b *bool) bool { return b != nil && !*b }
	if !isTrue(psc.RunAsNonRoot) || !isTrue(sc.RunAsNonRoot) {
		t.Error("runAsNonRoot is not true on the pod and the container")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod runAsUser = %v, want 65532", psc.RunAsUser)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if !isFalse(sc.AllowPrivilegeEscalation) {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if isTrue(sc.Privileged) {
		t.Error("privileged")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	for who, sp := range map[string]*seccompProfile{"pod": psc.SeccompProfile, "container": sc.SeccompProfile} {
		if sp == nil || sp.Type != "RuntimeDefault" {
			t.Errorf("%s seccompProfile = %+v, want RuntimeDefault", who, sp)
		}
	}
	if !isFalse(pod.AutomountServiceAccountToken) {
		t.Error("the API token is mounted; hookwall never calls the Kubernetes API")
	}
}

func checkDrain(t *testing.T, pod podSpec, c container, wantPreStop int, wantGrace time.Duration) {
	t.Helper()
	preStop := 0
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if c.Lifecycle.PreStop.Exec != nil {
			t.Error("preStop exec: the distroless image has no shell or sleep")
		}
		if c.Lifecycle.PreStop.Sleep == nil {
			t.Fatal("preStop without a sleep action")
		}
		preStop = c.Lifecycle.PreStop.Sleep.Seconds
	}
	if preStop != wantPreStop {
		t.Errorf("preStop sleep = %ds, want %ds", preStop, wantPreStop)
	}
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	tgps := *pod.TerminationGracePeriodSeconds
	if need := preStop + int(wantGrace/time.Second); tgps <= need {
		t.Errorf("terminationGracePeriodSeconds = %d, want more than preStop %ds + grace %s = %d", tgps, preStop, wantGrace, need)
	}
}

func checkConfigMount(t *testing.T, pod podSpec, c container, cm configMap) {
	t.Helper()
	var cfgVol string
	for _, v := range pod.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name {
			cfgVol = v.Name
			if len(v.ConfigMap.Items) != 1 || v.ConfigMap.Items[0].Key != "hookwall.yaml" || v.ConfigMap.Items[0].Path != "hookwall.yaml" {
				t.Errorf("config volume items = %+v", v.ConfigMap.Items)
			}
		}
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
		if vm.MountPath == "/etc/hookwall" && !vm.ReadOnly {
			t.Error("/etc/hookwall is mounted read-write")
		}
	}
	if cfgVol == "" || mounts["/etc/hookwall"] != cfgVol {
		t.Errorf("ConfigMap %s is not mounted at /etc/hookwall (mounts %v)", cm.Metadata.Name, mounts)
	}
	if mounts["/tmp"] == "" {
		t.Error("no writable /tmp beside the read-only root")
	}
}

// checkConfigRefs checks that every secret field of hookwall.yaml is a
// ${NAME} reference and returns the sorted names referenced.
func checkConfigRefs(t *testing.T, text string) []string {
	t.Helper()
	var cfg struct {
		Redis struct {
			URL      string `yaml:"url"`
			Password string `yaml:"password"`
		} `yaml:"redis"`
		Admin struct {
			Tokens []struct {
				Token string `yaml:"token"`
			} `yaml:"tokens"`
		} `yaml:"admin"`
		Channels []map[string]any `yaml:"channels"`
	}
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("hookwall.yaml does not parse: %v\n%s", err, text)
	}
	refs := map[string]bool{}
	need := func(path string, v any) {
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s = %v, want a ${NAME} string", path, v)
			return
		}
		m := envRef.FindStringSubmatch(s)
		if m == nil {
			t.Errorf("%s is not a ${NAME} reference", path)
			return
		}
		refs[m[1]] = true
	}
	if cfg.Redis.URL != "" && (strings.Contains(cfg.Redis.URL, "@") || strings.HasPrefix(cfg.Redis.URL, "$")) {
		need("redis.url", cfg.Redis.URL)
	}
	if cfg.Redis.Password != "" {
		need("redis.password", cfg.Redis.Password)
	}
	if len(cfg.Admin.Tokens) == 0 {
		t.Error("no admin tokens")
	}
	for i, tok := range cfg.Admin.Tokens {
		need(fmt.Sprintf("admin.tokens[%d].token", i), tok.Token)
	}
	if len(cfg.Channels) == 0 {
		t.Error("no channels")
	}
	for i, ch := range cfg.Channels {
		p := fmt.Sprintf("channels[%d]", i)
		for _, k := range []string{"secret", "app_secret", "verify_token", "access_token"} {
			if v, ok := ch[k]; ok {
				need(p+"."+k, v)
			}
		}
		for _, k := range []string{"secrets", "app_secrets", "verify_tokens"} {
			list, _ := ch[k].([]any)
			for j, v := range list {
				need(fmt.Sprintf("%s.%s[%d]", p, k, j), v)
			}
		}
		for _, k := range []string{"bot", "helpdesk"} {
			if target, ok := ch[k].(map[string]any); ok {
				if v, ok := target["secret"]; ok {
					need(p+"."+k+".secret", v)
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(refs))
}

func checkService(t *testing.T, svc service, d deployment) {
	t.Helper()
	if !maps.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selects %v, Deployment %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort != "http" {
		t.Errorf("Service ports = %+v, want http -> http", svc.Spec.Ports)
	}
}

// exampleSecret is a value hookwall accepts for the variable name: a
// Standard Webhooks key for *_WEBHOOK_SECRET, a URL for REDIS_URL.
func exampleSecret(name string) string {
	switch {
	case strings.HasSuffix(name, "_WEBHOOK_SECRET"):
		return "whsec_" + base64.StdEncoding.EncodeToString([]byte("a test signing key of 32 bytes!!"))
	case name == "REDIS_URL":
		return "redis://:password@redis.hookwall.svc:6379/0"
	default:
		return "test-" + strings.ToLower(name) + "-0123456789"
	}
}

// TestTemplateRejects checks that values which would deploy a broken or
// leaky hookwall stop helm with a message that says what to change.
func TestTemplateRejects(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{
			name:    "plaintext channel secret",
			args:    []string{"--set", "config.channels[0].secret=plain-secret"},
			wantErr: "config.channels[0].secret: write secrets as ${ENV_NAME} references",
		},
		{
			name:    "plaintext admin token",
			args:    []string{"--set", "config.admin.tokens[0].token=plaintext-admin-token"},
			wantErr: "config.admin.tokens[0].token: write secrets as ${ENV_NAME} references",
		},
		{
			name:    "credentials in redis.url",
			args:    []string{"--set", "config.redis.url=redis://:pw@redis:6379/0"},
			wantErr: "config.redis.url (it carries credentials)",
		},
		{
			name:    "reference without a value",
			args:    []string{"--set", "secretEnv.LINE_ACCESS_TOKEN=null"},
			wantErr: "config references ${LINE_ACCESS_TOKEN} but secretEnv has no LINE_ACCESS_TOKEN",
		},
		{
			name:    "embedded store with two replicas",
			args:    []string{"--set", "replicaCount=2"},
			wantErr: "the embedded store lives inside one pod",
		},
		{
			name:    "embedded store with autoscaling",
			args:    []string{"--set", "autoscaling.enabled=true"},
			wantErr: "the embedded store lives inside one pod",
		},
		{
			name:    "listen set in config",
			args:    []string{"--set", "config.listen=127.0.0.1:8080"},
			wantErr: "config.listen is set by the chart",
		},
		{
			name:    "shutdown grace set in config",
			args:    []string{"--set", "config.shutdown.grace=5s"},
			wantErr: "set drain.shutdownGraceSeconds instead",
		},
		{
			name:    "no shutdown grace",
			args:    []string{"--set", "drain.shutdownGraceSeconds=0"},
			wantErr: "drain.shutdownGraceSeconds must be at least 1",
		},
		{
			name:    "no termination margin",
			args:    []string{"--set", "drain.terminationMarginSeconds=0"},
			wantErr: "drain.terminationMarginSeconds must be at least 1",
		},
		{
			name:    "Kubernetes without the preStop sleep action",
			args:    []string{"--kube-version", "1.29.0"},
			wantErr: "chart requires kubeVersion: >=1.30.0-0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"template", release, "./" + chartDir}, tc.args...)...)
			if err == nil {
				t.Fatalf("helm template succeeded, want an error containing %q\n%s", tc.wantErr, out)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestChecksumRollsPods checks that the pod template changes exactly when
// hookwall.yaml or the chart's Secret does: hookwall reads both only at
// start-up, so only new pods see a change.
func TestChecksumRollsPods(t *testing.T) {
	annotations := func(t *testing.T, args ...string) map[string]string {
		t.Helper()
		var d deployment
		render(t, args...).one(t, "Deployment", &d)
		return d.Spec.Template.Metadata.Annotations
	}
	base := annotations(t)
	tests := []struct {
		name                    string
		args                    []string
		configRolls, secretRoll bool
	}{
		{name: "same values"},
		{name: "unrelated value", args: []string{"--set", "resources.requests.cpu=200m"}},
		{name: "config change", args: []string{"--set", "config.delivery.max_attempts=5"}, configRolls: true},
		{name: "drain change", args: []string{"--set", "drain.shutdownGraceSeconds=30"}, configRolls: true},
		{name: "secret change", args: []string{"--set", "secretEnv.LINE_ACCESS_TOKEN=rotated-token"}, secretRoll: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := annotations(t, tc.args...)
			if rolled := got["checksum/config"] != base["checksum/config"]; rolled != tc.configRolls {
				t.Errorf("checksum/config changed = %t, want %t", rolled, tc.configRolls)
			}
			if rolled := got["checksum/secret"] != base["checksum/secret"]; rolled != tc.secretRoll {
				t.Errorf("checksum/secret changed = %t, want %t", rolled, tc.secretRoll)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// checkMemoryLimit: a container with a memory limit runs Go with GOMEMLIMIT
// set to it, so that the collector's slack does not take the pod past it.
func checkMemoryLimit(t *testing.T, c container) {
	t.Helper()
	if c.Resources.Limits["memory"] == "" {
		return
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			if e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil || e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
				t.Errorf("GOMEMLIMIT is not the container's memory limit: %+v", e)
			}
			return
		}
	}
	t.Errorf("a memory limit of %s, and no GOMEMLIMIT", c.Resources.Limits["memory"])
}
