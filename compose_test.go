package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/tradetop/tradetop/e2e"
	"github.com/tradetop/tradetop/pipeline"
)

// There is no Docker engine to run docker-compose.yml in tests, so these
// check what can go wrong without one noticing: services, images, ports,
// health checks, the listeners tradetop is pointed at, and that every
// TRADETOP_ variable is a flag tradetop has. scripts/validate-manifests
// checks the file against the Compose Specification's schema.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image           string                       `yaml:"image"`
	Build           any                          `yaml:"build"`
	Profiles        []string                     `yaml:"profiles"`
	Ports           []string                     `yaml:"ports"`
	Environment     map[string]string            `yaml:"environment"`
	Volumes         []string                     `yaml:"volumes"`
	Tmpfs           []string                     `yaml:"tmpfs"`
	DependsOn       map[string]composeDependency `yaml:"depends_on"`
	StopGracePeriod string                       `yaml:"stop_grace_period"`
	Healthcheck     *struct {
		Test        any    `yaml:"test"`
		Interval    string `yaml:"interval"`
		Timeout     string `yaml:"timeout"`
		Retries     int    `yaml:"retries"`
		StartPeriod string `yaml:"start_period"`
	} `yaml:"healthcheck"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
}

func readCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	raw, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parsing docker-compose.yml: %v", err)
	}
	return f, string(raw)
}

// tradetopServices are the names of the services that run tradetop's image,
// sorted.
func (f composeFile) tradetopServices() []string {
	var names []string
	for name, s := range f.Services {
		if s.Image == f.Services["tradetop"].Image {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func TestComposeServices(t *testing.T) {
	f, _ := readCompose(t)
	for _, name := range []string{"kafka", "cassandra", "tradetop"} {
		if _, ok := f.Services[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	kafka, cassandra, tradetop := f.Services["kafka"], f.Services["cassandra"], f.Services["tradetop"]

	if kafka.Image != "apache/kafka:3.9.2" {
		t.Errorf("kafka image %q, want apache/kafka:3.9.2", kafka.Image)
	}
	if !strings.HasPrefix(cassandra.Image, "cassandra:5.0") {
		t.Errorf("cassandra image %q, want cassandra:5.0.x", cassandra.Image)
	}
	if tradetop.Build == nil {
		t.Error("tradetop is not built from the Dockerfile")
	}
	if !publishes(kafka.Ports, "9092") {
		t.Errorf("kafka ports %q do not publish 9092", kafka.Ports)
	}
	if !publishes(cassandra.Ports, "9042") {
		t.Errorf("cassandra ports %q do not publish 9042", cassandra.Ports)
	}

	ours := f.tradetopServices()
	for name, s := range f.Services {
		if slices.Contains(ours, name) {
			// The image is distroless: a health check can run tradetop
			// itself and nothing else, no shell, wget or curl.
			if h := s.Healthcheck; h != nil && !runsOnly(h.Test, "/usr/local/bin/tradetop") {
				t.Errorf("service %s: health check %v runs what tradetop's image does not have", name, h.Test)
			}
			continue
		}
		if s.Healthcheck == nil || !hasCommand(s.Healthcheck.Test) {
			t.Errorf("service %s has no health check command", name)
			continue
		}
		h := s.Healthcheck
		if h.Interval == "" || h.Timeout == "" || h.StartPeriod == "" || h.Retries < 1 {
			t.Errorf("service %s: health check %+v needs interval, timeout, retries and start_period", name, *h)
		}
	}
	for _, dep := range []string{"kafka", "cassandra"} {
		if c := tradetop.DependsOn[dep].Condition; c != "service_healthy" {
			t.Errorf("tradetop depends on %s with condition %q, want service_healthy", dep, c)
		}
	}

	for name, s := range f.Services {
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if !ok || strings.ContainsAny(src, "./~") {
				continue // a bind mount
			}
			if _, ok := f.Volumes[src]; !ok {
				t.Errorf("service %s mounts volume %s, which is not declared", name, src)
			}
		}
	}
}

// publishes reports whether ports, in the short syntax
// [host_ip:]host_port:container_port, publish port on the same host port.
func publishes(ports []string, port string) bool {
	for _, p := range ports {
		p, _, _ = strings.Cut(p, "/")
		parts := strings.Split(p, ":")
		if n := len(parts); n >= 2 && parts[n-1] == port && parts[n-2] == port {
			return true
		}
	}
	return false
}

// runsOnly reports whether a health check's test is disabled, or runs
// program without a shell.
func runsOnly(test any, program string) bool {
	v, ok := test.([]any)
	if !ok || len(v) == 0 {
		return false
	}
	return v[0] == "NONE" || (len(v) >= 2 && v[0] == "CMD" && v[1] == program)
}

// hasCommand reports whether a health check's test runs a command: a string,
// or a list of CMD or CMD-SHELL and a non-empty command.
func hasCommand(test any) bool {
	switch v := test.(type) {
	case string:
		return strings.TrimSpace(v) != ""
	case []any:
		if len(v) < 2 || (v[0] != "CMD" && v[0] != "CMD-SHELL") {
			return false
		}
		s, ok := v[1].(string)
		return ok && strings.TrimSpace(s) != ""
	}
	return false
}

func TestComposeKafkaListeners(t *testing.T) {
	f, _ := readCompose(t)
	env := f.Services["kafka"].Environment
	listeners := listenerMap(env["KAFKA_LISTENERS"])
	advertised := listenerMap(env["KAFKA_ADVERTISED_LISTENERS"])
	protocols := map[string]string{}
	for _, kv := range strings.Split(env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"], ",") {
		name, proto, _ := strings.Cut(kv, ":")
		protocols[name] = proto
	}
	roles := strings.Split(env["KAFKA_PROCESS_ROLES"], ",")
	if !slices.Contains(roles, "broker") || !slices.Contains(roles, "controller") {
		t.Errorf("KAFKA_PROCESS_ROLES %q, want broker and controller", env["KAFKA_PROCESS_ROLES"])
	}
	controller := env["KAFKA_CONTROLLER_LISTENER_NAMES"]
	if _, ok := listeners[controller]; !ok || controller == "" {
		t.Errorf("controller listener %q is not among KAFKA_LISTENERS", controller)
	}
	if _, ok := advertised[controller]; ok {
		t.Errorf("controller listener %q is advertised to clients", controller)
	}
	for name := range listeners {
		if protocols[name] == "" {
			t.Errorf("listener %s has no security protocol", name)
		}
	}
	for _, k := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
		if env[k] != "1" {
			t.Errorf("%s = %q, want 1 on a single node", k, env[k])
		}
	}

	// Every advertised address is one a listener binds, on its port.
	for name, addr := range advertised {
		_, port, err := net.SplitHostPort(addr)
		_, bound, _ := net.SplitHostPort(listeners[name])
		if err != nil || port != bound {
			t.Errorf("listener %s advertises %q but binds %q", name, addr, listeners[name])
		}
	}
	// The host reaches the published port on localhost; tradetop reaches
	// the listener that advertises the kafka service's own name.
	hostListener := ""
	for name, addr := range advertised {
		if addr == "localhost:9092" {
			hostListener = name
		}
	}
	if hostListener == "" {
		t.Errorf("no listener advertises localhost:9092 for the host: %v", advertised)
	}
	for _, name := range f.tradetopServices() {
		brokers := f.Services[name].Environment["TRADETOP_BROKERS"]
		inNetwork := ""
		for listener, addr := range advertised {
			if host, _, _ := net.SplitHostPort(addr); host == "kafka" && addr == brokers {
				inNetwork = listener
			}
		}
		if inNetwork == "" || inNetwork == hostListener {
			t.Errorf("service %s: TRADETOP_BROKERS=%q is not the in-network listener Kafka advertises (%v)", name, brokers, advertised)
		}
	}
}

// listenerMap parses NAME://host:port,... into addresses by listener name.
func listenerMap(s string) map[string]string {
	out := map[string]string{}
	for _, l := range strings.Split(s, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if ok {
			out[name] = addr
		}
	}
	return out
}

func TestComposeTradetop(t *testing.T) {
	f, raw := readCompose(t)
	env := f.Services["tradetop"].Environment
	if env["TRADETOP_NO_UI"] != "true" {
		t.Errorf("TRADETOP_NO_UI = %q, want true: a container has no terminal", env["TRADETOP_NO_UI"])
	}
	host, port, err := net.SplitHostPort(env["TRADETOP_CASSANDRA"])
	if err != nil || host != "cassandra" || port != "9042" {
		t.Errorf("TRADETOP_CASSANDRA = %q, want cassandra:9042", env["TRADETOP_CASSANDRA"])
	}
	if env["TRADETOP_DATA_DIR"] == "" || !slices.ContainsFunc(f.Services["tradetop"].Volumes, func(v string) bool {
		return strings.HasSuffix(v, ":"+env["TRADETOP_DATA_DIR"])
	}) {
		t.Errorf("TRADETOP_DATA_DIR %q is not on a volume", env["TRADETOP_DATA_DIR"])
	}

	// Every TRADETOP_ name in the file, comments included, is a flag.
	fs := flags(&options{})
	names := regexp.MustCompile(`TRADETOP_[A-Z0-9_]+`).FindAllString(raw, -1)
	if len(names) == 0 {
		t.Fatal("no TRADETOP_ variables")
	}
	for _, v := range names {
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(v, envPrefix), "_", "-"))
		if fs.Lookup(flag) == nil && !otherVariables[v] {
			t.Errorf("%s names no flag (--%s)", v, flag)
		}
	}

	// tradetop starts with each service's environment, a variable left
	// unset in .env taking its default.
	for _, name := range f.tradetopServices() {
		start := environment{}
		for k, v := range f.Services[name].Environment {
			if m := regexp.MustCompile(`^\$\{[A-Z0-9_]+:-(.*)\}$`).FindStringSubmatch(v); m != nil {
				v = m[1]
			}
			start[k] = v
		}
		if _, _, warnings, err := parse(nil, start); err != nil || len(warnings) > 0 {
			t.Errorf("tradetop refuses the environment of service %s: %v %q", name, err, warnings)
		}
	}
}

// TestComposeScale checks the scale profile: one ingest and any number of
// processors in one consumer group, which plain `docker compose up` leaves
// out, whose replicas share no host port and no data directory.
func TestComposeScale(t *testing.T) {
	f, raw := readCompose(t)
	ingest, ok := f.Services["ingest"]
	if !ok {
		t.Fatal("no service ingest")
	}
	processor, ok := f.Services["processor"]
	if !ok {
		t.Fatal("no service processor")
	}
	for name, s := range f.Services {
		scaled := name == "ingest" || name == "processor"
		if inProfile := slices.Contains(s.Profiles, "scale"); scaled != inProfile || (!scaled && len(s.Profiles) > 0) {
			t.Errorf("service %s has profiles %q: the scale profile's services are ingest and processor, and plain `docker compose up` starts the rest", name, s.Profiles)
		}
	}
	if got := f.tradetopServices(); !slices.Equal(got, []string{"ingest", "processor", "tradetop"}) {
		t.Errorf("tradetop's image runs in %q, want ingest, processor and tradetop", got)
	}
	// The header's command leaves the single process out, as its words say.
	if !strings.Contains(raw, "--profile scale up -d --build --scale tradetop=0 --scale processor=") {
		t.Error("the header does not show the scale profile's command with --scale tradetop=0")
	}

	fs := flags(&options{})
	for _, c := range []struct {
		name string
		s    composeService
		role string
		deps []string
	}{
		{"ingest", ingest, "ingest", []string{"kafka"}},
		{"processor", processor, "process", []string{"kafka", "cassandra"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := c.s.Environment
			if env["TRADETOP_ROLE"] != c.role {
				t.Errorf("TRADETOP_ROLE = %q, want %s", env["TRADETOP_ROLE"], c.role)
			}
			if env["TRADETOP_NO_UI"] != "true" {
				t.Errorf("TRADETOP_NO_UI = %q, want true: a container has no terminal", env["TRADETOP_NO_UI"])
			}
			// One group for every processor, the one the ingest's --max-lag
			// reads; one topic shape, whichever creates the topic.
			if g := cmp.Or(env["TRADETOP_GROUP"], fs.Lookup("group").DefValue); g != cmp.Or(f.Services["tradetop"].Environment["TRADETOP_GROUP"], fs.Lookup("group").DefValue) {
				t.Errorf("TRADETOP_GROUP = %q, not the group the header names", g)
			}
			if env["TRADETOP_PARTITIONS"] != processor.Environment["TRADETOP_PARTITIONS"] {
				t.Errorf("TRADETOP_PARTITIONS = %q, the processors' %q", env["TRADETOP_PARTITIONS"], processor.Environment["TRADETOP_PARTITIONS"])
			}
			if _, hasStore := env["TRADETOP_CASSANDRA"]; hasStore != (c.role == "process") {
				t.Errorf("TRADETOP_CASSANDRA = %q: the processors store, the ingest does not", env["TRADETOP_CASSANDRA"])
			}
			for _, dep := range c.deps {
				if cond := c.s.DependsOn[dep].Condition; cond != "service_healthy" {
					t.Errorf("depends on %s with condition %q, want service_healthy", dep, cond)
				}
			}
			if _, port, err := net.SplitHostPort(env["TRADETOP_LISTEN"]); err != nil || port == "" {
				t.Errorf("TRADETOP_LISTEN = %q: metrics and probes need an address", env["TRADETOP_LISTEN"])
			}
			// tradetop locks its data directory, so no two replicas may
			// share one: it is a tmpfs of each container's own.
			dir := env["TRADETOP_DATA_DIR"]
			if dir == "" || !slices.Contains(c.s.Tmpfs, dir) {
				t.Errorf("TRADETOP_DATA_DIR %q is not on a tmpfs (%q)", dir, c.s.Tmpfs)
			}
			for _, v := range c.s.Volumes {
				if _, target, _ := strings.Cut(v, ":"); strings.HasPrefix(target, dir) || strings.HasPrefix(dir, target) {
					t.Errorf("volume %q is shared by every replica, over the data directory %s", v, dir)
				}
			}
		})
	}
	for _, p := range processor.Ports {
		if hostPort(p) != "" {
			t.Errorf("processor publishes %q on a fixed host port, which only one replica can have", p)
		}
	}
}

// TestComposeStops checks that every tradetop container is given longer to
// stop than the pipeline's drain takes, and that no port is published
// beyond the host's loopback.
func TestComposeStops(t *testing.T) {
	f, _ := readCompose(t)
	for _, name := range f.tradetopServices() {
		grace, err := time.ParseDuration(f.Services[name].StopGracePeriod)
		if err != nil || grace <= pipeline.DefaultDrainTimeout {
			t.Errorf("service %s: stop_grace_period %q, want more than the drain timeout %v", name, f.Services[name].StopGracePeriod, pipeline.DefaultDrainTimeout)
		}
	}
	for name, s := range f.Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond the host's loopback", name, p)
			}
		}
	}
}

// hostPort is the host port of a port in the short syntax
// [host_ip:][host_port:]container_port, "" when Docker picks it.
func hostPort(p string) string {
	p, _, _ = strings.Cut(p, "/")
	parts := strings.Split(p, ":")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// TestComposeVersionsMatchDevstack keeps the images on the versions the dev
// stack without Docker runs, which the end-to-end tests are proven on.
func TestComposeVersionsMatchDevstack(t *testing.T) {
	f, _ := readCompose(t)
	script, err := os.ReadFile("scripts/devstack")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ service, image, variable string }{
		{"kafka", "apache/kafka", "KAFKA_VERSION"},
		{"cassandra", "cassandra", "CASSANDRA_VERSION"},
	} {
		m := regexp.MustCompile(`(?m)^` + c.variable + `=\$\{` + c.variable + `:-([^}]+)\}`).FindSubmatch(script)
		if m == nil {
			t.Errorf("scripts/devstack sets no default %s", c.variable)
			continue
		}
		if want := c.image + ":" + string(m[1]); f.Services[c.service].Image != want {
			t.Errorf("%s image %q, want %q as in scripts/devstack", c.service, f.Services[c.service].Image, want)
		}
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var stages []string // the FROM lines
	var final []string  // the lines of the last stage
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") {
			stages = append(stages, line)
			final = nil
		}
		final = append(final, line)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a builder and a final stage", len(stages))
	}
	builder := stages[0]
	if !strings.Contains(builder, "golang:1.26") || !strings.Contains(string(raw), "CGO_ENABLED=0") {
		t.Errorf("the builder %q does not build with golang:1.26 and CGO_ENABLED=0", builder)
	}
	last := stages[len(stages)-1]
	if !strings.Contains(last, "distroless/static") {
		t.Errorf("final stage %q is not distroless static", last)
	}
	var copies, entry bool
	for _, l := range final {
		copies = copies || strings.HasPrefix(l, "COPY --from=")
		entry = entry || strings.HasPrefix(l, "ENTRYPOINT ")
	}
	if !copies || !entry {
		t.Errorf("final stage copies the binary: %v; has an ENTRYPOINT: %v", copies, entry)
	}
	ignore, err := os.ReadFile(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(ignore), "\n"), ".git") {
		t.Error(".dockerignore does not leave out .git")
	}
}

// TestComposeMonitoring checks the Prometheus and Grafana of the compose
// file: pinned images, Prometheus scraping the address every tradetop
// service listens on, Grafana provisioned with that Prometheus and the
// dashboard, every file they mount present.
func TestComposeMonitoring(t *testing.T) {
	f, _ := readCompose(t)
	prom, graf := f.Services["prometheus"], f.Services["grafana"]
	for name, img := range map[string]string{"prometheus": prom.Image, "grafana": graf.Image} {
		if _, tag, ok := strings.Cut(img, ":"); !ok || tag == "latest" || !regexp.MustCompile(`^v?\d+\.\d+\.\d+$`).MatchString(tag) {
			t.Errorf("%s image %q is not pinned to a version", name, img)
		}
	}
	var promCfg prometheusConfig
	readYAML(t, "deploy/prometheus/prometheus.yml", &promCfg)
	for _, name := range f.tradetopServices() {
		listen := f.Services[name].Environment["TRADETOP_LISTEN"]
		_, port, err := net.SplitHostPort(listen)
		if err != nil {
			t.Errorf("service %s: TRADETOP_LISTEN %q: %v", name, listen, err)
			continue
		}
		if !promCfg.scrapes(name, port, name == "processor") {
			t.Errorf("deploy/prometheus/prometheus.yml does not scrape every container of %s on port %s: %+v", name, port, promCfg)
		}
	}
	var ds struct {
		Datasources []struct {
			UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, "deploy/grafana/provisioning/datasources/prometheus.yml", &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("Grafana's data source %+v, want the prometheus service", ds.Datasources)
	}
	dash := readDashboard(t)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			if len(ds.Datasources) == 1 && tg.Datasource.UID != ds.Datasources[0].UID {
				t.Errorf("panel %q queries data source %q, not the provisioned %q", p.Title, tg.Datasource.UID, ds.Datasources[0].UID)
			}
		}
	}
	for name, s := range map[string]composeService{"prometheus": prom, "grafana": graf} {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}
}

// prometheusConfig is what the tests read of Prometheus's configuration.
type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
	} `yaml:"scrape_configs"`
}

// scrapes reports whether Prometheus scrapes the compose service's
// containers on port: a DNS A lookup of the service's name gives every
// replica; a target of the name reaches one, which does only for a service
// that is not scaled.
func (c prometheusConfig) scrapes(service, port string, scaled bool) bool {
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, service+":"+port) && !scaled {
				return true
			}
		}
		for _, d := range sc.DNSSDConfigs {
			if slices.Contains(d.Names, service) && d.Type == "A" && strconv.Itoa(d.Port) == port {
				return true
			}
		}
	}
	return false
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// dashboard is what the tests read of the Grafana dashboard.
type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr       string `json:"expr"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("deploy/grafana/dashboards/tradetop.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("the dashboard: %v", err)
	}
	return d
}

// TestDashboardQueriesExist runs tradetop headless with --listen and
// checks that every series the Grafana dashboard queries is in its
// /metrics: a renamed metric cannot leave the dashboard blank unnoticed.
func TestDashboardQueriesExist(t *testing.T) {
	names := map[string]bool{}
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			for _, n := range regexp.MustCompile(`\btradetop_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				names[n] = true
			}
		}
	}
	if len(names) < 10 {
		t.Fatalf("the dashboard queries %d series: %v", len(names), names)
	}
	body := scrapeRun(t)
	for n := range names {
		if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).MatchString(body) {
			t.Errorf("the dashboard queries %s, which /metrics does not have", n)
		}
	}
}

// scrapeRun runs the command headless, in process, with --listen on a free
// loopback port, until /metrics shows stored trades and partition verdicts,
// and returns that exposition.
func scrapeRun(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	done := make(chan int, 1)
	var out, errOut e2e.Buffer
	go func() {
		done <- run([]string{"--no-ui", "--listen", addr, "--rate", "2000", "--duration", "10s", "--summary", "none",
			"--data-dir", t.TempDir()}, env(nil), &out, &errOut)
	}()
	defer func() {
		if code := <-done; code != exitOK {
			t.Errorf("the run exited %d; stderr:\n%s", code, errOut.String())
		}
	}()
	var body string
	for i := 0; i < 90; i++ {
		time.Sleep(100 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		if strings.Contains(body, "tradetop_partition_verdict{") && regexp.MustCompile(`(?m)^tradetop_trades_stored_total [1-9]`).MatchString(body) &&
			strings.Contains(body, "tradetop_ingest_to_stored_latency_seconds_bucket") {
			return body
		}
	}
	t.Fatalf("no /metrics with stored trades and verdicts on %s within its run; stderr:\n%s", addr, errOut.String())
	return ""
}

// k8sObject is what the tests read of a Kubernetes manifest in
// deploy/kubernetes; scripts/validate-manifests checks the rest against
// Kubernetes' schemas.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Resources  []string          `yaml:"resources"`
	Spec       struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
				Volumes    []struct {
					Name     string `yaml:"name"`
					EmptyDir any    `yaml:"emptyDir"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// replicas is a Deployment's replicas, 1 when unset as for Kubernetes.
func (o k8sObject) replicas() int {
	if o.Spec.Replicas == nil {
		return 1
	}
	return *o.Spec.Replicas
}

type k8sContainer struct {
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			ConfigMapKeyRef *k8sKeyRef `yaml:"configMapKeyRef"`
			SecretKeyRef    *k8sKeyRef `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sKeyRef struct {
	Name     string `yaml:"name"`
	Key      string `yaml:"key"`
	Optional bool   `yaml:"optional"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// readK8s reads every object of every manifest in deploy/kubernetes, by
// file, and the files' text.
func readK8s(t *testing.T) (map[string][]k8sObject, string) {
	t.Helper()
	paths, err := filepath.Glob("deploy/kubernetes/*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	objects := map[string][]k8sObject{}
	var raw strings.Builder
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		raw.Write(b)
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var o k8sObject
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			objects[filepath.Base(p)] = append(objects[filepath.Base(p)], o)
		}
	}
	return objects, raw.String()
}

// TestKubernetesManifests checks deploy/kubernetes: one ingest that never
// runs twice, processors no more than the partitions, probes and metrics on
// the port tradetop listens on, a data directory of each pod's own, and an
// environment tradetop starts with, every TRADETOP_ name a flag.
func TestKubernetesManifests(t *testing.T) {
	objects, raw := readK8s(t)
	one := func(file, kind string) k8sObject {
		t.Helper()
		if objs := objects[file]; len(objs) != 1 || objs[0].Kind != kind {
			t.Fatalf("%s: want one %s, have %d objects", file, kind, len(objs))
		}
		return objects[file][0]
	}
	kustomization := one("kustomization.yaml", "Kustomization")
	config := one("configmap.yaml", "ConfigMap")
	secret := one("secret.example.yaml", "Secret")
	ingest := one("ingest.yaml", "Deployment")
	processor := one("processor.yaml", "Deployment")

	// The example Secret's placeholders are never applied with the rest.
	if want := []string{"configmap.yaml", "ingest.yaml", "processor.yaml"}; !slices.Equal(kustomization.Resources, want) {
		t.Errorf("kustomization.yaml lists %q, want %q", kustomization.Resources, want)
	}

	fs := flags(&options{})
	for _, v := range regexp.MustCompile(`TRADETOP_[A-Z0-9_]+`).FindAllString(raw, -1) {
		flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(v, envPrefix), "_", "-"))
		if fs.Lookup(flag) == nil && !otherVariables[v] {
			t.Errorf("deploy/kubernetes: %s names no flag (--%s)", v, flag)
		}
	}

	if r := ingest.replicas(); r != 1 || ingest.Spec.Strategy.Type != "Recreate" {
		t.Errorf("ingest: replicas %d, strategy %q; want 1 and Recreate, so that two feeds never run at once", r, ingest.Spec.Strategy.Type)
	}
	partitions, err := strconv.Atoi(cmp.Or(config.Data["partitions"], fs.Lookup("partitions").DefValue))
	if r := processor.replicas(); err != nil || r < 1 || r > partitions {
		t.Errorf("processor: replicas %d, want 1 to the topic's %d partitions (%v)", r, partitions, err)
	}

	for _, c := range []struct {
		file string
		d    k8sObject
		role string
	}{
		{"ingest.yaml", ingest, "ingest"},
		{"processor.yaml", processor, "process"},
	} {
		t.Run(c.role, func(t *testing.T) {
			pod := c.d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want tradetop's alone", len(pod.Containers))
			}
			ct := pod.Containers[0]

			// The environment, as the pod gets it from the ConfigMap and
			// the example Secret.
			env := environment{}
			for _, e := range ct.Env {
				v := e.Value
				if e.ValueFrom != nil {
					var ref *k8sKeyRef
					var from k8sObject
					var values map[string]string
					switch {
					case e.ValueFrom.ConfigMapKeyRef != nil:
						ref, from, values = e.ValueFrom.ConfigMapKeyRef, config, config.Data
					case e.ValueFrom.SecretKeyRef != nil:
						ref, from, values = e.ValueFrom.SecretKeyRef, secret, secret.StringData
					}
					if ref == nil || ref.Name != from.Metadata.Name {
						t.Errorf("%s comes from neither the ConfigMap %s nor the Secret %s", e.Name, config.Metadata.Name, secret.Metadata.Name)
						continue
					}
					var ok bool
					if v, ok = values[ref.Key]; !ok && !ref.Optional {
						t.Errorf("%s: key %q is not in %s", e.Name, ref.Key, ref.Name)
					}
				}
				env[e.Name] = v
			}
			if env["TRADETOP_ROLE"] != c.role {
				t.Errorf("TRADETOP_ROLE = %q, want %s", env["TRADETOP_ROLE"], c.role)
			}
			if _, _, warnings, err := parse(nil, env); err != nil || len(warnings) > 0 {
				t.Errorf("tradetop refuses the environment: %v %q", err, warnings)
			}

			// Metrics and probes on the port tradetop listens on.
			_, port, err := net.SplitHostPort(env["TRADETOP_LISTEN"])
			if err != nil {
				t.Fatalf("TRADETOP_LISTEN = %q: %v", env["TRADETOP_LISTEN"], err)
			}
			named := map[string]string{}
			for _, p := range ct.Ports {
				named[p.Name] = strconv.Itoa(p.ContainerPort)
			}
			if named["metrics"] != port {
				t.Errorf("container port metrics is %q, tradetop listens on %s", named["metrics"], port)
			}
			if a := c.d.Spec.Template.Metadata.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != port {
				t.Errorf("scrape annotations %v, want port %s", a, port)
			}
			for _, p := range []struct {
				name, path string
				probe      *k8sProbe
			}{{"liveness", "/healthz", ct.LivenessProbe}, {"readiness", "/readyz", ct.ReadinessProbe}} {
				if p.probe == nil || p.probe.HTTPGet == nil {
					t.Errorf("no HTTP %s probe", p.name)
					continue
				}
				probePort := fmt.Sprint(p.probe.HTTPGet.Port)
				if n, ok := named[probePort]; ok {
					probePort = n
				}
				if p.probe.HTTPGet.Path != p.path || probePort != port {
					t.Errorf("%s probe on %s port %s, want %s on %s", p.name, p.probe.HTTPGet.Path, probePort, p.path, port)
				}
			}

			if grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; grace <= pipeline.DefaultDrainTimeout {
				t.Errorf("terminationGracePeriodSeconds %d, want more than the drain timeout %v", pod.TerminationGracePeriodSeconds, pipeline.DefaultDrainTimeout)
			}
			if ct.Resources.Requests["memory"] == "" || ct.Resources.Limits["memory"] == "" || ct.Resources.Requests["cpu"] == "" {
				t.Errorf("resources %+v: want memory requests and limits, and a CPU request", ct.Resources)
			}
			sc := ct.SecurityContext
			if !pod.SecurityContext.RunAsNonRoot || !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("security: runAsNonRoot %v, readOnlyRootFilesystem %v, allowPrivilegeEscalation %v", pod.SecurityContext.RunAsNonRoot, sc.ReadOnlyRootFilesystem, sc.AllowPrivilegeEscalation)
			}
			// The data directory, which tradetop locks, is the pod's own.
			dir, mounted := env["TRADETOP_DATA_DIR"], ""
			for _, m := range ct.VolumeMounts {
				if m.MountPath == dir {
					mounted = m.Name
				}
			}
			ownDir := false
			for _, v := range pod.Volumes {
				ownDir = ownDir || (v.Name == mounted && v.EmptyDir != nil)
			}
			if dir == "" || !ownDir {
				t.Errorf("TRADETOP_DATA_DIR %q is not on an emptyDir volume", dir)
			}
		})
	}
}
