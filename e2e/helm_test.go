package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"

	"github.com/bulwarkd/bulwark/internal/ociimage"
)

// checkImageContract: a pod spec runs the image scripts/build-image.sh
// writes as the image expects (its user, its data volume, read-only root).
func checkImageContract(t *testing.T, what string, pod corev1.PodSpec) {
	t.Helper()
	c := pod.Containers[0]
	repo, _, _ := strings.Cut(c.Image[strings.LastIndex(c.Image, "/")+1:], ":")
	dataMounted := false
	for _, m := range c.VolumeMounts {
		dataMounted = dataMounted || m.MountPath == ociimage.DataDir
	}
	sc := pod.SecurityContext
	checks := []struct {
		name string
		ok   bool
	}{
		{"names the image the script builds (" + ociimage.Repository + ")", strings.Contains(c.Image, ociimage.Repository+":") && repo == "bulwark"},
		{"runs as the image's user", sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == ociimage.UID && sc.RunAsNonRoot != nil && *sc.RunAsNonRoot},
		{"mounts a volume on the image's data directory", dataMounted},
		{"read-only root filesystem", c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil && *c.SecurityContext.ReadOnlyRootFilesystem},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s: %s: not so", what, ch.name)
		}
	}
}

// TestKubernetesExampleImage: the Kubernetes example runs the image this
// repository builds.
func TestKubernetesExampleImage(t *testing.T) {
	for _, o := range loadK8s(t, "../examples/deploy/kubernetes/bulwark.yaml") {
		if d, ok := o.obj.(*appsv1.Deployment); ok {
			checkImageContract(t, "kubernetes example", d.Spec.Template.Spec)
		}
	}
}

// TestHelmChart lints examples/deploy/helm/bulwark, renders it with helm,
// validates every object against the Kubernetes API types, checks that
// they fit together, and starts a server on PostgreSQL from the rendered
// configuration.
func TestHelmChart(t *testing.T) {
	helm, err := exec.LookPath("helm")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("helm is not installed; .ci/run installs it (go install helm.sh/helm/v4/cmd/helm)")
		}
		t.Skip("helm is not installed (go install helm.sh/helm/v4/cmd/helm@v4.3.2)")
	}
	const chart = "../examples/deploy/helm/bulwark"
	if out, err := exec.Command(helm, "lint", "--strict", chart).CombinedOutput(); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	// A missing secret name is refused at render time, not at pod start.
	out, err := exec.Command(helm, "template", "rel", chart, "--set", "masterKey.existingSecret=").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "masterKey.existingSecret is required") {
		t.Errorf("rendered without a master key secret: %v\n%s", err, out)
	}
	rendered, err := exec.Command(helm, "template", "rel", chart, "--set", "replicaCount=4").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	path := filepath.Join(t.TempDir(), "rendered.yaml")
	if err := os.WriteFile(path, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	var (
		dep *appsv1.Deployment
		svc *corev1.Service
		pdb *policyv1.PodDisruptionBudget
		cm  *corev1.ConfigMap
	)
	for _, o := range loadK8s(t, path) {
		switch v := o.obj.(type) {
		case *appsv1.Deployment:
			dep = v
		case *corev1.Service:
			svc = v
		case *policyv1.PodDisruptionBudget:
			pdb = v
		case *corev1.ConfigMap:
			cm = v
		case *corev1.Secret:
			t.Errorf("the chart renders a Secret (%s): secrets are created outside it", v.Name)
		}
	}
	if dep == nil || svc == nil || pdb == nil || cm == nil {
		t.Fatalf("chart lacks objects: deployment %v service %v pdb %v configmap %v", dep != nil, svc != nil, pdb != nil, cm != nil)
	}
	pod := dep.Spec.Template
	matches := func(sel map[string]string) bool {
		for k, v := range sel {
			if pod.Labels[k] != v {
				return false
			}
		}
		return len(sel) > 0
	}
	c := pod.Spec.Containers[0]
	configMounted := false
	for _, v := range pod.Spec.Volumes {
		configMounted = configMounted || (v.ConfigMap != nil && v.ConfigMap.Name == cm.Name)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"replicas from values", dep.Spec.Replicas != nil && *dep.Spec.Replicas == 4},
		{"deployment selector matches the pod", dep.Spec.Selector != nil && matches(dep.Spec.Selector.MatchLabels)},
		{"service selector matches the pod", matches(svc.Spec.Selector)},
		{"pdb selects the pods", pdb.Spec.Selector != nil && matches(pdb.Spec.Selector.MatchLabels)},
		{"configmap mounted", configMounted},
		{"readiness and liveness probes", c.ReadinessProbe != nil && c.LivenessProbe != nil},
		{"config changes roll the pods", pod.Annotations["checksum/config"] != ""},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("helm chart: %s: not so", ch.name)
		}
	}
	checkImageContract(t, "helm chart", pod.Spec)
	runExampleConfig(t, cm.Data["bulwark.yaml"], c)
}
