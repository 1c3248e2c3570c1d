package helm

import (
	"bytes"
	"errors"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bulwark-ai/bulwark/config"
	"github.com/bulwark-ai/bulwark/telemetry"
)

const chartDir = "bulwark"

// manifests is one render of the chart: each document's raw YAML by kind.
type manifests map[string][]string

// render renders the chart as `helm template test bulwark -f values`
// would, with extra values (nil for the defaults) merged over them.
func render(t *testing.T, values map[string]any) (manifests, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	if values == nil {
		values = map[string]any{}
	}
	vals, err := util.ToRenderValues(chrt, values, common.ReleaseOptions{Name: "test", Namespace: "default", IsInstall: true}, nil)
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	files, err := engine.Render(chrt, vals)
	if err != nil {
		return nil, err
	}
	out := manifests{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, "NOTES.txt") || strings.HasSuffix(name, ".tpl") {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(files[name]))
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: invalid YAML: %v\n%s", name, err, files[name])
			}
			if doc == nil {
				continue
			}
			kind, _ := doc["kind"].(string)
			if kind == "" || doc["apiVersion"] == nil {
				t.Fatalf("%s: a document without kind or apiVersion:\n%s", name, files[name])
			}
			raw, err := yaml.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			out[kind] = append(out[kind], string(raw))
		}
	}
	return out, nil
}

func mustRender(t *testing.T, values map[string]any) manifests {
	t.Helper()
	m, err := render(t, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return m
}

// one decodes the only document of a kind strictly into its API type: a
// field the type does not have (a typo, a wrong indent) fails the test.
func one[T any](t *testing.T, m manifests, kind string) *T {
	t.Helper()
	if len(m[kind]) != 1 {
		t.Fatalf("%d %s documents; want 1", len(m[kind]), kind)
	}
	v := new(T)
	if err := sigsyaml.UnmarshalStrict([]byte(m[kind][0]), v); err != nil {
		t.Fatalf("%s: %v\n%s", kind, err, m[kind][0])
	}
	return v
}

func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func kinds(m manifests) []string { return slices.Sorted(maps.Keys(m)) }

// bulwarkConfig runs the rendered bulwark.yaml through Bulwark's own
// parser, with every ${VAR} set to a placeholder, and returns it and the
// variables it names.
func bulwarkConfig(t *testing.T, m manifests) (*config.Config, []string) {
	t.Helper()
	cm := one[corev1.ConfigMap](t, m, "ConfigMap")
	data, ok := cm.Data["bulwark.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no bulwark.yaml: %v", slices.Collect(maps.Keys(cm.Data)))
	}
	var vars []string
	lookup := func(name string) (string, bool) {
		vars = append(vars, name)
		switch {
		case strings.Contains(name, "POSTGRES"):
			return "postgres://bulwark:secret@postgres:5432/bulwark", true
		case strings.Contains(name, "REDIS"):
			return "redis://redis:6379/0", true
		}
		return "placeholder", true
	}
	c, err := config.Parse([]byte(data), lookup)
	if err != nil {
		t.Fatalf("rendered bulwark.yaml does not pass Bulwark's validation: %v\n%s", err, data)
	}
	slices.Sort(vars)
	return c, slices.Compact(vars)
}

// checkPod checks what every render's pod needs, whatever the values.
func checkPod(t *testing.T, m manifests, cfg *config.Config) *appsv1.Deployment {
	t.Helper()
	d := one[appsv1.Deployment](t, m, "Deployment")
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers; want 1", len(pod.Containers))
	}
	c := pod.Containers[0]

	if got := d.Spec.Template.Annotations["checksum/config"]; !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(got) {
		t.Errorf("checksum/config annotation = %q; want a sha256", got)
	}
	if !slices.Equal(c.Command, []string{"/bulwark", "serve"}) {
		t.Errorf("command = %v; want /bulwark serve", c.Command)
	}
	for _, want := range []string{"--config=/etc/bulwark/bulwark.yaml", "--data-dir=/data", "--listen=0.0.0.0:8080"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	port := func(name string) int32 {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
		return 0
	}
	if port("http") != 8080 {
		t.Errorf("container port http = %d; want 8080", port("http"))
	}
	for name, probe := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}, "startup": {c.StartupProbe, "/healthz"}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("%s probe = %+v; want an HTTP GET", name, probe.p)
			continue
		}
		if probe.p.HTTPGet.Path != probe.path || probe.p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe = GET %s on %s; want %s on http", name, probe.p.HTTPGet.Path, probe.p.HTTPGet.Port.String(), probe.path)
		}
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("pod securityContext = %+v; want runAsNonRoot and a non-zero runAsUser", psc)
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext = %+v; want a read-only root, no privilege escalation, every capability dropped", sc)
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for _, path := range []string{"/data", "/tmp", "/etc/bulwark"} {
		if _, ok := volumes[mounts[path]]; !ok {
			t.Errorf("nothing writable or mounted at %s (mounts %v)", path, mounts)
		}
	}
	if v := volumes[mounts["/etc/bulwark"]]; v.ConfigMap == nil || v.ConfigMap.Name != one[corev1.ConfigMap](t, m, "ConfigMap").Name {
		t.Errorf("/etc/bulwark is %+v; want the chart's ConfigMap", v)
	}

	// SIGTERM drains for up to shutdown_grace after the preStop sleep:
	// the kubelet must not kill the pod before both have run.
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds <= 0 {
		t.Fatalf("preStop = %+v; want a sleep", c.Lifecycle)
	}
	sleep := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	if drain := cfg.Server.ShutdownGrace.D(); grace < sleep+drain+5*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v < preStop sleep %v + server.shutdown_grace %v + 5s", grace, sleep, drain)
	}

	svc := one[corev1.Service](t, m, "Service")
	if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports = %+v; want 8080 to http", svc.Spec.Ports)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service selects %s=%s; the pods have %q", k, v, d.Spec.Template.Labels[k])
		}
	}
	return d
}

func TestDefaults(t *testing.T) {
	m := mustRender(t, nil)
	if got, want := kinds(m), []string{"ConfigMap", "Deployment", "Service", "ServiceAccount"}; !slices.Equal(got, want) {
		t.Errorf("kinds = %v; want %v", got, want)
	}
	cfg, vars := bulwarkConfig(t, m)
	if (cfg.Store.Type != "" && cfg.Store.Type != config.StoreSQLite) || len(vars) != 0 {
		t.Errorf("default config: store %q, variables %v; want the embedded shape and none", cfg.Store.Type, vars)
	}
	d := checkPod(t, m, cfg)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas = %v; want 1", d.Spec.Replicas)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && v.EmptyDir == nil {
			t.Errorf("data volume = %+v; want an emptyDir by default", v)
		}
	}
	if env := d.Spec.Template.Spec.Containers[0].Env; len(env) != 0 {
		t.Errorf("env = %+v; want none by default", env)
	}
}

func TestScaled(t *testing.T) {
	m := mustRender(t, valuesFile(t, chartDir+"/scaled-values.yaml"))
	want := []string{"ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "ServiceAccount", "ServiceMonitor"}
	if got := kinds(m); !slices.Equal(got, want) {
		t.Errorf("kinds = %v; want %v", got, want)
	}
	cfg, vars := bulwarkConfig(t, m)
	if cfg.Store.Type != config.StorePostgres || cfg.Limits.Backend != "redis" {
		t.Errorf("scaled config: store %q, limits %q; want postgres and redis", cfg.Store.Type, cfg.Limits.Backend)
	}
	d := checkPod(t, m, cfg)
	if d.Spec.Replicas != nil {
		t.Errorf("replicas = %d with the HPA on; want it left to the HPA", *d.Spec.Replicas)
	}

	// Every secret comes from a Secret, and every ${VAR} the config
	// names is set.
	refs := map[string]*corev1.SecretKeySelector{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Value != "" {
			t.Errorf("env %s has a literal value; want a secretKeyRef", e.Name)
		}
		if e.ValueFrom != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef
		}
	}
	for _, name := range append([]string{"BULWARK_ADMIN_KEY"}, vars...) {
		if r := refs[name]; r == nil || r.Name == "" || r.Key == "" {
			t.Errorf("env %s = %+v; want a secretKeyRef", name, r)
		}
	}
	for _, name := range []string{"BULWARK_POSTGRES_URL", "BULWARK_REDIS_URL", "OPENAI_API_KEY"} {
		if !slices.Contains(vars, name) {
			t.Errorf("the scaled config does not use ${%s} (uses %v)", name, vars)
		}
	}

	pdb := one[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget")
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v; want 1", pdb.Spec.MinAvailable)
	}
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PDB selects %v; the pods are %v", pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
	}

	hpa := one[autoscalingv2.HorizontalPodAutoscaler](t, m, "HorizontalPodAutoscaler")
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != d.Name {
		t.Errorf("HPA scales %+v; want Deployment %s", hpa.Spec.ScaleTargetRef, d.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3 || hpa.Spec.MaxReplicas < 3 {
		t.Errorf("HPA replicas %v..%d; want 3 at least", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Pods == nil {
		t.Fatalf("HPA metrics = %+v; want one Pods metric", hpa.Spec.Metrics)
	}
	pm := hpa.Spec.Metrics[0].Pods
	if pm.Metric.Name != "bulwark_inflight" || pm.Target.Type != autoscalingv2.AverageValueMetricType || pm.Target.AverageValue == nil || pm.Target.AverageValue.IsZero() {
		t.Errorf("HPA metric = %+v; want bulwark_inflight as an average value", pm)
	}
	if pm.Metric.Selector == nil || pm.Metric.Selector.MatchLabels["scope"] != "global" {
		t.Errorf("HPA metric selector = %+v; want scope=global", pm.Metric.Selector)
	}
	if !exported(t)["bulwark_inflight"] {
		t.Error("Bulwark does not export bulwark_inflight, which the HPA scales on")
	}

	// The ServiceMonitor scrapes the metrics port, which the config's
	// telemetry.metrics.listen serves.
	var sm struct {
		APIVersion string `yaml:"apiVersion"`
		Spec       struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port, Path, Interval, ScrapeTimeout string
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(m["ServiceMonitor"][0]), &sm); err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor = %+v; want monitoring.coreos.com/v1 scraping /metrics on port metrics", sm)
	}
	svc := one[corev1.Service](t, m, "Service")
	if !selects(sm.Spec.Selector.MatchLabels, svc.Labels) {
		t.Errorf("ServiceMonitor selects %v; the Service is labelled %v", sm.Spec.Selector.MatchLabels, svc.Labels)
	}
	var metricsPort int32
	for _, p := range svc.Spec.Ports {
		if p.Name == "metrics" {
			metricsPort = p.Port
		}
	}
	if _, port, _ := strings.Cut(cfg.Telemetry.Metrics.Listen, ":"); metricsPort == 0 || port != "9090" || metricsPort != 9090 {
		t.Errorf("Service metrics port %d, telemetry.metrics.listen %q; want both 9090", metricsPort, cfg.Telemetry.Metrics.Listen)
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// exported reports the metric families a Bulwark exports once its
// admission gauges are set.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	m := telemetry.NewMetrics(telemetry.MetricsOptions{KnownAlias: func(string) bool { return true }})
	m.SetAdaptiveLimit("global", 10, 3)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, f := range fams {
		out[f.GetName()] = true
	}
	return out
}

func TestCPUFallback(t *testing.T) {
	v := valuesFile(t, chartDir+"/scaled-values.yaml")
	v["autoscaling"] = map[string]any{"enabled": true, "inflight": map[string]any{"enabled": false}, "cpu": map[string]any{"enabled": true, "averageUtilization": 60}}
	hpa := one[autoscalingv2.HorizontalPodAutoscaler](t, mustRender(t, v), "HorizontalPodAutoscaler")
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		hpa.Spec.Metrics[0].Resource.Target.AverageUtilization == nil || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 {
		t.Errorf("HPA metrics = %+v; want CPU at 60%%", hpa.Spec.Metrics)
	}
}

func TestPersistence(t *testing.T) {
	m := mustRender(t, map[string]any{"persistence": map[string]any{"enabled": true, "size": "1Gi"}})
	pvc := one[corev1.PersistentVolumeClaim](t, m, "PersistentVolumeClaim")
	d := one[appsv1.Deployment](t, m, "Deployment")
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %s; want Recreate for a ReadWriteOnce volume", d.Spec.Strategy.Type)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "data" && (v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvc.Name) {
			t.Errorf("data volume = %+v; want the claim %s", v, pvc.Name)
		}
	}
}

// TestConfigChecksum checks that a change to the config changes the pod
// template, so that the Deployment rolls.
func TestConfigChecksum(t *testing.T) {
	sum := func(m manifests) string {
		return one[appsv1.Deployment](t, m, "Deployment").Spec.Template.Annotations["checksum/config"]
	}
	a := sum(mustRender(t, nil))
	b := sum(mustRender(t, map[string]any{"config": map[string]any{"log": map[string]any{"level": "debug"}}}))
	if a == b {
		t.Errorf("checksum/config %s did not change with the config", a)
	}
}

// TestConfigString checks that config may be given as the file's text,
// comments and all, and is copied as it is.
func TestConfigString(t *testing.T) {
	text := "# ours\nlog: {level: warn}\nserver: {shutdown_grace: 20s}\n"
	m := mustRender(t, map[string]any{"config": text})
	if got := one[corev1.ConfigMap](t, m, "ConfigMap").Data["bulwark.yaml"]; strings.TrimSpace(got) != strings.TrimSpace(text) {
		t.Errorf("bulwark.yaml = %q; want %q", got, text)
	}
	cfg, _ := bulwarkConfig(t, m)
	checkPod(t, m, cfg)
}

// TestRefusesEmbeddedReplicas checks that values which would give each
// replica its own SQLite store fail to render.
func TestRefusesEmbeddedReplicas(t *testing.T) {
	for name, v := range map[string]map[string]any{
		"replicas":    {"replicaCount": 3},
		"autoscaling": {"autoscaling": map[string]any{"enabled": true}},
		"persistence": {"replicaCount": 2, "persistence": map[string]any{"enabled": true},
			"config": map[string]any{"store": map[string]any{"type": "postgres", "url": "${BULWARK_POSTGRES_URL}"}}},
	} {
		if _, err := render(t, v); err == nil {
			t.Errorf("%s: rendered; want a failure", name)
		}
	}
}

// TestShutdownGraceTooLong checks the grace check itself: a drain longer
// than the pod's grace period fails it.
func TestShutdownGraceTooLong(t *testing.T) {
	m := mustRender(t, map[string]any{"config": map[string]any{"server": map[string]any{"shutdown_grace": "2m"}}})
	cfg, _ := bulwarkConfig(t, m)
	d := one[appsv1.Deployment](t, m, "Deployment")
	if g := time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds) * time.Second; g >= cfg.Server.ShutdownGrace.D() {
		t.Fatalf("grace %v; the test wants one shorter than 2m", g)
	}
}

// TestImageMatchesChart checks the root Dockerfile against the chart: a
// static non-root build whose user, port and data directory the pod spec
// assumes.
func TestImageMatchesChart(t *testing.T) {
	data, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(bytes.ReplaceAll(data, []byte("\\\n"), nil))
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		"-X main.version=",
		"USER 65532:65532",
		"EXPOSE 8080",
		`VOLUME ["/data"]`,
		"COPY --from=build /out/bulwark /bulwark",
		`ENTRYPOINT ["/bulwark", "serve", "--listen", "0.0.0.0:8080", "--data-dir", "/data"]`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	d := checkPod(t, mustRender(t, nil), mustConfig(t))
	if u := d.Spec.Template.Spec.SecurityContext.RunAsUser; *u != 65532 {
		t.Errorf("chart runs as %d; the image's user is 65532", *u)
	}
}

func mustConfig(t *testing.T) *config.Config {
	c, _ := bulwarkConfig(t, mustRender(t, nil))
	return c
}
