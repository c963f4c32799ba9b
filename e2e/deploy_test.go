package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/bulwarkd/bulwark/internal/store/postgres/pgtest"
	"github.com/bulwarkd/bulwark/internal/testwait"
)

// TestNginxExampleConfig runs `nginx -t` on examples/deploy/nginx, with the
// certificate and log paths pointed into a temporary directory.
func TestNginxExampleConfig(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("nginx is not installed; .ci/run installs it")
		}
		t.Skip("nginx is not installed (apt-get install nginx)")
	}
	dir := t.TempDir()
	certPath, keyPath, _ := selfSigned(t, dir)
	raw, err := os.ReadFile("../examples/deploy/nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(
		"/etc/nginx/tls/bulwark.pem", certPath,
		"/etc/nginx/tls/bulwark.key", keyPath,
		"/etc/nginx/tls/replicas-ca.pem", certPath,
		"/var/log/nginx/", dir+"/",
		"/run/", dir+"/",
	).Replace(string(raw))
	if active := stripComments(conf); strings.Contains(active, "/etc/nginx/") || strings.Contains(active, "/var/log/") {
		t.Fatalf("a path of the example was not redirected:\n%s", conf)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(nginx, "-t", "-q", "-e", "stderr", "-p", dir, "-c", path).CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	// What SigV4 needs from the proxy, checked so an edit cannot drop it.
	for _, want := range []string{"proxy_set_header Host $http_host;", "proxy_ssl_verify              on;", "client_max_body_size 1m;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx example lacks %q", want)
		}
	}
}

// k8sObject is one document of the Kubernetes example.
type k8sObject struct {
	kind string
	obj  any
}

// decodeStrict decodes a JSON document into v, refusing unknown fields:
// a misspelt or misplaced field in a manifest is an error, as with
// `kubectl apply --validate=strict`.
func decodeStrict(doc []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// loadK8s reads every document of a manifest file and decodes each into
// the Go type of its apiVersion and kind from k8s.io/api (the schema the
// API server itself uses).
func loadK8s(t *testing.T, path string) []k8sObject {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]func() any{
		"v1/Secret":                     func() any { return &corev1.Secret{} },
		"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
		"v1/Service":                    func() any { return &corev1.Service{} },
		"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
		"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	}
	var out []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for i := 1; ; i++ {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		if doc == nil {
			continue
		}
		js, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		key := fmt.Sprintf("%v/%v", doc["apiVersion"], doc["kind"])
		mk, ok := types[key]
		if !ok {
			t.Fatalf("%s document %d: %s is not a type this test knows; add it", path, i, key)
		}
		obj := mk()
		if err := decodeStrict(js, obj); err != nil {
			t.Fatalf("%s document %d (%s): %v", path, i, key, err)
		}
		out = append(out, k8sObject{kind: fmt.Sprint(doc["kind"]), obj: obj})
	}
	return out
}

// TestKubernetesExample validates examples/deploy/kubernetes against the
// Kubernetes API types, checks that its objects fit together (labels,
// ports, secrets, probes, drain timing), and starts a server from its
// configuration file.
func TestKubernetesExample(t *testing.T) {
	objs := loadK8s(t, "../examples/deploy/kubernetes/bulwark.yaml")
	var dep *appsv1.Deployment
	var svc *corev1.Service
	var pdb *policyv1.PodDisruptionBudget
	secrets, configMaps := map[string]*corev1.Secret{}, map[string]*corev1.ConfigMap{}
	for _, o := range objs {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			dep = v
		case *corev1.Service:
			svc = v
		case *policyv1.PodDisruptionBudget:
			pdb = v
		case *corev1.Secret:
			secrets[v.Name] = v
		case *corev1.ConfigMap:
			configMaps[v.Name] = v
		}
	}
	if dep == nil || svc == nil || pdb == nil || len(secrets) < 2 || len(configMaps) != 1 {
		t.Fatalf("example lacks objects: deployment %v service %v pdb %v secrets %d configmaps %d", dep != nil, svc != nil, pdb != nil, len(secrets), len(configMaps))
	}
	pod := dep.Spec.Template
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if pod.Labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	// Secrets created outside the file (documented in its header).
	external := map[string]bool{"bulwark-tls": true}
	shutdown := 30 * time.Second
	for i, a := range c.Args {
		if a == "--shutdown-timeout" && i+1 < len(c.Args) {
			shutdown, _ = time.ParseDuration(c.Args[i+1])
		}
	}
	var preStop time.Duration
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	grace := time.Duration(0)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}

	checks := []struct {
		name string
		ok   bool
	}{
		{"three replicas", dep.Spec.Replicas != nil && *dep.Spec.Replicas == 3},
		{"deployment selector matches the pod labels", dep.Spec.Selector != nil && matches(dep.Spec.Selector.MatchLabels)},
		{"service selector matches the pod labels", matches(svc.Spec.Selector)},
		{"pod disruption budget selects the pods", pdb.Spec.Selector != nil && matches(pdb.Spec.Selector.MatchLabels)},
		{"service targets a named container port", len(svc.Spec.Ports) > 0 && ports[svc.Spec.Ports[0].TargetPort.StrVal] != 0},
		{"readiness on /readyz", c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path == "/readyz"},
		{"liveness on /healthz", c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path == "/healthz"},
		{"preStop delay before SIGTERM", preStop > 0},
		{"grace period covers preStop and the shutdown timeout", grace > preStop+shutdown},
		{"runs with --config", len(c.Args) > 2 && c.Args[0] == "server" && c.Args[1] == "--config"},
	}
	for _, e := range c.Env {
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil {
			s := secrets[r.SecretKeyRef.Name]
			_, has := s.StringData[r.SecretKeyRef.Key]
			checks = append(checks, struct {
				name string
				ok   bool
			}{"env " + e.Name + " names a key of a secret in the file", s != nil && has})
		}
	}
	for _, v := range pod.Spec.Volumes {
		ok := true
		switch {
		case v.Secret != nil:
			ok = secrets[v.Secret.SecretName] != nil || external[v.Secret.SecretName]
		case v.ConfigMap != nil:
			ok = configMaps[v.ConfigMap.Name] != nil
		}
		checks = append(checks, struct {
			name string
			ok   bool
		}{"volume " + v.Name + " refers to an object that exists", ok})
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("kubernetes example: %s: not so", ch.name)
		}
	}

	// The configuration file in the ConfigMap starts a real server, with
	// its paths mapped into a temporary directory and the DSN taken from
	// the environment variable the Deployment fills from its Secret.
	var cfg string
	for _, cm := range configMaps {
		cfg = cm.Data["bulwark.yaml"]
	}
	runExampleConfig(t, cfg, c)
}

func runExampleConfig(t *testing.T, cfg string, c corev1.Container) {
	t.Helper()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	certPath, keyPath, pool := selfSigned(t, dir)
	if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte(sharedMasterKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cfg = strings.NewReplacer(
		"0.0.0.0:8443", addr,
		"/etc/bulwark/tls/tls.crt", certPath,
		"/etc/bulwark/tls/tls.key", keyPath,
		"/etc/bulwark/keys/", dir+"/",
		"/var/lib/bulwark", filepath.Join(dir, "data"),
	).Replace(cfg)
	if active := stripComments(cfg); strings.Contains(active, "/etc/") || strings.Contains(active, "/var/") {
		t.Fatalf("a path of the example config was not redirected:\n%s", cfg)
	}
	// The pod's emptyDir exists before the server starts.
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "bulwark.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "server", "--config", cfgPath, "--shutdown-timeout", "5s")
	cmd.Env = os.Environ()
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			cmd.Env = append(cmd.Env, e.Name+"="+dsn) // the only secret env: the DSN
		} else {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 2 * time.Second}
	var err error
	if !testwait.Until(20*time.Second, func() bool {
		var resp *http.Response
		if resp, err = client.Get("https://" + addr + "/readyz"); err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}) {
		t.Fatalf("the example configuration did not give a ready server: %v\n%s", err, stderr.String())
	}
}

// stripComments drops #-comments (nginx and YAML alike), so that paths
// mentioned in comments do not count as used.
func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// TestKubernetesValidationRejects: the validation above would catch the
// mistakes it exists for.
func TestKubernetesValidationRejects(t *testing.T) {
	tests := []struct {
		name, doc string
	}{
		{"misspelt field", `{"spec":{"template":{"spec":{"containers":[{"name":"b","readinesProbe":{}}]}}}}`},
		{"misplaced field", `{"spec":{"replicas":3,"terminationGracePeriodSeconds":40}}`},
		{"wrong type", `{"spec":{"replicas":"three"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := decodeStrict([]byte(tc.doc), &appsv1.Deployment{}); err == nil {
				t.Errorf("accepted %s", tc.doc)
			}
		})
	}
	if err := decodeStrict([]byte(`{"spec":{"replicas":3}}`), &appsv1.Deployment{}); err != nil {
		t.Errorf("a valid fragment refused: %v", err)
	}
}
