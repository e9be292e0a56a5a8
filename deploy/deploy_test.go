// Package deploy holds how operators run the relay; its tests check each
// file with what the machine has: systemd's own verifier, the Dockerfile's
// stages, the Kubernetes objects as YAML. nginx.conf runs under real nginx
// in e2e (TestBehindNginx).
package deploy

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"tunnelkit/internal/sshtest"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// directives returns the values of key= in an INI-style unit, in order.
func directives(unit, key string) []string {
	var out []string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// TestSystemdUnit: systemd-analyze verify accepts the unit and its
// drop-in without a warning, the hardening is there, and the one
// capability appears only in the drop-in for low ports.
func TestSystemdUnit(t *testing.T) {
	unit, dropIn := read(t, "tunnelkit.service"), read(t, "tunnelkit.service.d/low-port.conf")
	for key, want := range map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ProtectHome": "yes", "PrivateTmp": "yes", "AmbientCapabilities": "", "CapabilityBoundingSet": "",
		"ExecReload": "/bin/kill -HUP $MAINPID",
	} {
		if got := directives(unit, key); len(got) != 1 || got[0] != want {
			t.Errorf("tunnelkit.service %s=%q, want %q", key, got, want)
		}
	}
	if got := directives(dropIn, "AmbientCapabilities"); len(got) != 1 || got[0] != "CAP_NET_BIND_SERVICE" {
		t.Errorf("low-port.conf AmbientCapabilities=%q, want CAP_NET_BIND_SERVICE alone", got)
	}
	if strings.Contains(unit, "CAP_NET_BIND_SERVICE") && !strings.Contains(unit, "# Binding a port below 1024") {
		t.Error("the main unit grants CAP_NET_BIND_SERVICE")
	}

	analyze := sshtest.RequireBinary(t, "systemd-analyze")
	dir := t.TempDir()
	exe, _ := os.Executable() // an executable to stand in for /usr/local/bin/tunnelkit
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/tunnelkit ") {
		t.Fatal("ExecStart does not run /usr/local/bin/tunnelkit")
	}
	os.WriteFile(filepath.Join(dir, "tunnelkit.service"), []byte(strings.ReplaceAll(unit, "/usr/local/bin/tunnelkit", exe)), 0o644)
	os.MkdirAll(filepath.Join(dir, "tunnelkit.service.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "tunnelkit.service.d", "low-port.conf"), []byte(dropIn), 0o644)
	env := append(os.Environ(), "SYSTEMD_UNIT_PATH="+dir+":")
	cmd := exec.Command(analyze, "verify", filepath.Join(dir, "tunnelkit.service"))
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	cmd = exec.Command(analyze, "security", "--offline=yes", filepath.Join(dir, "tunnelkit.service"))
	cmd.Env = env
	out, _ = cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for tunnelkit.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: no exposure level in\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f (0 = fully locked down, 10 = none)", level)
	if level > 2.0 {
		t.Errorf("exposure %.1f, want at most 2.0 (it is a network daemon, nothing more)", level)
	}
}

// TestDockerfile: a Go build stage, then FROM scratch with a static
// binary run as a non-root numeric user. Where a Docker daemon answers,
// it also builds the image.
func TestDockerfile(t *testing.T) {
	df := read(t, "Dockerfile")
	var froms []string
	for _, l := range strings.Split(df, "\n") {
		if f, ok := strings.CutPrefix(l, "FROM "); ok {
			froms = append(froms, strings.Fields(f)[0])
		}
	}
	if len(froms) != 2 || !strings.HasPrefix(froms[0], "golang:") || froms[1] != "scratch" {
		t.Errorf("stages %q, want the Go toolchain, then scratch", froms)
	}
	final := df[strings.LastIndex(df, "FROM scratch"):]
	user := regexp.MustCompile(`(?m)^USER (\d+)(:\d+)?$`).FindStringSubmatch(final)
	if user == nil || user[1] == "0" {
		t.Errorf("final stage user %q, want a numeric non-root user", user)
	}
	for _, want := range []string{"ENV CGO_ENABLED=0", "RUN make build", `ENTRYPOINT ["/tunnelkit", "serve"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile has no %q", want)
		}
	}
	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "info").Run() != nil {
		t.Log("no Docker daemon here: the image was not built")
		return
	}
	out, err := exec.Command(docker, "build", "-f", "Dockerfile", "-t", "tunnelkit:test", "..").CombinedOutput()
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}

// TestKubernetes: the Deployment, Service and Ingress parse, the
// readiness probe is /healthz, metrics have their own port, the pod runs
// as non-root, and the args match the image's binary.
func TestKubernetes(t *testing.T) {
	dec := yaml.NewDecoder(strings.NewReader(read(t, "kubernetes.yaml")))
	kinds := map[string]map[string]any{}
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		kind, _ := doc["kind"].(string)
		if doc["apiVersion"] == nil || kind == "" {
			t.Fatalf("object without apiVersion or kind: %v", doc)
		}
		kinds[kind] = doc
	}
	for _, k := range []string{"Deployment", "Service", "Ingress", "ConfigMap"} {
		if kinds[k] == nil {
			t.Errorf("no %s", k)
		}
	}
	get := func(v any, path ...any) any {
		for _, p := range path {
			switch p := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[p]
			case int:
				l, _ := v.([]any)
				if p >= len(l) {
					return nil
				}
				v = l[p]
			}
		}
		return v
	}
	pod := get(kinds["Deployment"], "spec", "template", "spec")
	c := get(pod, "containers", 0)
	if p := get(c, "readinessProbe", "httpGet", "path"); p != "/healthz" {
		t.Errorf("readiness probe path %v, want /healthz", p)
	}
	ports := map[any]any{}
	for i := 0; get(c, "ports", i) != nil; i++ {
		ports[get(c, "ports", i, "name")] = get(c, "ports", i, "containerPort")
	}
	if ports["http"] == nil || ports["metrics"] == nil || ports["http"] == ports["metrics"] {
		t.Errorf("container ports %v, want http and a separate metrics port", ports)
	}
	args := strings.Join(func() (s []string) {
		for i := 0; get(c, "args", i) != nil; i++ {
			s = append(s, get(c, "args", i).(string))
		}
		return
	}(), " ")
	if !strings.Contains(args, "--metrics-listen 0.0.0.0:9090") || !strings.Contains(args, "--config /etc/tunnelkit/serve.toml") {
		t.Errorf("args %q, want --config and --metrics-listen on the metrics port", args)
	}
	if get(pod, "securityContext", "runAsNonRoot") != true || get(c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("the pod must run as non-root with a read-only root")
	}
	if b := get(kinds["Ingress"], "spec", "rules", 0, "http", "paths", 0, "backend", "service", "name"); b != "tunnelkit" {
		t.Errorf("ingress backend %v, want the tunnelkit Service", b)
	}
	// The ConfigMap's serve.toml is a config the relay takes.
	toml, _ := get(kinds["ConfigMap"], "data", "serve.toml").(string)
	if !strings.Contains(toml, "token-file = ") || !strings.Contains(toml, "trusted-proxy = ") {
		t.Errorf("ConfigMap serve.toml:\n%s", toml)
	}
}
