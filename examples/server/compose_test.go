package main

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// No Docker engine runs where the tests do, so the deployment files are
// checked by reading them: the compose services, their ports and
// environment must match what the server reads and what the README says.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     []string                     `yaml:"command"`
	Entrypoint  []string                     `yaml:"entrypoint"`
	Environment map[string]string            `yaml:"environment"`
	Ports       []string                     `yaml:"ports"`
	DependsOn   map[string]map[string]string `yaml:"depends_on"`
	Healthcheck map[string]any               `yaml:"healthcheck"`
}

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	var c composeFile
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatal(err)
	}
	svc := func(name string) composeService {
		t.Helper()
		s, ok := c.Services[name]
		if !ok {
			t.Fatalf("no %s service", name)
		}
		return s
	}
	for name, s := range c.Services {
		if strings.Contains(strings.ToLower(s.Image+name), "zookeeper") {
			t.Errorf("service %s: no ZooKeeper wanted", name)
		}
	}

	// Redpanda: one node, internal listener for the containers.
	rp := svc("redpanda")
	cmd := strings.Join(rp.Command, " ")
	if !strings.Contains(rp.Image, "redpandadata/redpanda") || !strings.HasPrefix(cmd, "redpanda start") ||
		!strings.Contains(cmd, "--smp=1") || strings.Contains(cmd, "--seeds") || rp.Healthcheck == nil {
		t.Errorf("redpanda: image %q command %q", rp.Image, cmd)
	}
	m := regexp.MustCompile(`internal://([^,\s]+)`).FindAllStringSubmatch(cmd, -1)
	if len(m) < 2 {
		t.Fatalf("redpanda: no internal listener in %q", cmd)
	}
	internalBroker := m[1][1] // the advertised one

	// The console reads the same broker.
	con := svc("console")
	if !strings.Contains(con.Image, "redpandadata/console") || con.Environment["KAFKA_BROKERS"] != internalBroker ||
		!slices.Contains(con.Ports, "8081:8080") {
		t.Errorf("console: %+v", con)
	}

	// The topics service makes every topic the server uses, and their DLQs.
	top := strings.Join(append(svc("topics").Entrypoint, svc("topics").Command...), " ")
	for _, topic := range saleTopics("") {
		for _, name := range []string{topic, topic + ".dlq"} {
			if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(name) + `(\s|;|$)`).MatchString(top) {
				t.Errorf("topics service does not create %s", name)
			}
		}
	}
	if !strings.Contains(top, "brokers="+internalBroker) {
		t.Errorf("topics service talks to another broker: %s", top)
	}

	// PostgreSQL, and the URL the server and the worker use.
	pg := svc("postgres")
	if !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil {
		t.Errorf("postgres: %+v", pg)
	}
	known := EnvVars()
	for _, name := range []string{"server", "worker"} {
		s := svc(name)
		if s.Build == nil {
			t.Errorf("%s: not built from the Dockerfile", name)
		}
		for k := range s.Environment {
			if !slices.Contains(known, k) {
				t.Errorf("%s: environment %s is not a setting the server reads (%v)", name, k, known)
			}
		}
		u, err := url.Parse(s.Environment["DATABASE_URL"])
		if err != nil || u.Hostname() != "postgres" || u.Port() != "5432" || u.User.Username() != pg.Environment["POSTGRES_USER"] ||
			u.Path != "/"+pg.Environment["POSTGRES_DB"] {
			t.Errorf("%s: DATABASE_URL %q does not match the postgres service", name, s.Environment["DATABASE_URL"])
		}
		if pw, _ := u.User.Password(); pw != pg.Environment["POSTGRES_PASSWORD"] {
			t.Errorf("%s: DATABASE_URL password does not match the postgres service", name)
		}
		if s.Environment["KAFKA_BROKERS"] != internalBroker {
			t.Errorf("%s: KAFKA_BROKERS %q, want %q", name, s.Environment["KAFKA_BROKERS"], internalBroker)
		}
		if s.DependsOn["postgres"]["condition"] != "service_healthy" || s.DependsOn["topics"]["condition"] != "service_completed_successfully" {
			t.Errorf("%s: depends_on %v", name, s.DependsOn)
		}
	}
	server, worker := svc("server"), svc("worker")
	if !slices.Equal(server.Command, []string{"serve"}) || !slices.Equal(worker.Command, []string{"worker"}) {
		t.Errorf("commands: server %v, worker %v", server.Command, worker.Command)
	}
	if !slices.Contains(server.Ports, server.Environment["PORT"]+":"+server.Environment["PORT"]) {
		t.Errorf("server: ports %v do not publish PORT %s", server.Ports, server.Environment["PORT"])
	}
	if len(worker.Ports) != 0 {
		t.Errorf("worker publishes ports %v", worker.Ports)
	}
	if server.Environment["JWT_SECRET"] == "" {
		t.Error("server: no JWT_SECRET, so every restart would invalidate tokens")
	}

	// The README tells the same story.
	readme := readRepoFile(t, "README.md")
	for _, s := range []string{"docker compose up", "localhost:8080", "localhost:8081", "localhost:19092", "go run ./examples/server", "go test -race ./..."} {
		if !strings.Contains(readme, s) {
			t.Errorf("README does not mention %q", s)
		}
	}
	for k := range server.Environment {
		if !strings.Contains(readme, "`"+k+"`") {
			t.Errorf("README does not document %s", k)
		}
	}
	for _, k := range known {
		if !strings.Contains(readme, "`"+k+"`") {
			t.Errorf("README does not document the setting %s", k)
		}
	}
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	d := readRepoFile(t, "Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(d, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile is not multi-stage: %v", froms)
	}
	if final := froms[len(froms)-1][1]; !strings.Contains(final, "distroless") && !strings.Contains(final, "alpine") {
		t.Errorf("runtime image %s", final)
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(d)
	if user == nil || strings.HasPrefix(user[1], "root") || user[1] == "0" {
		t.Errorf("runtime user: %v", user)
	}
	if !strings.Contains(d, "./examples/server") || !strings.Contains(d, "EXPOSE 8080") {
		t.Error("Dockerfile does not build and expose the server")
	}
	ignore := readRepoFile(t, ".dockerignore")
	if !strings.Contains(ignore, ".git") {
		t.Error(".dockerignore keeps .git")
	}
}

func TestConformanceWorkflow(t *testing.T) {
	t.Parallel()
	var w struct {
		Jobs map[string]struct {
			Services map[string]struct {
				Image string `yaml:"image"`
			} `yaml:"services"`
			Env   map[string]string `yaml:"env"`
			Steps []struct {
				Run string `yaml:"run"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, ".github/workflows/conformance.yml")), &w); err != nil {
		t.Fatal(err)
	}
	job, ok := w.Jobs["conformance"]
	if !ok {
		t.Fatal("no conformance job")
	}
	if !strings.HasPrefix(job.Services["postgres"].Image, "postgres") || job.Env["DATABASE_URL"] == "" || job.Env["KAFKA_BROKERS"] == "" {
		t.Errorf("job: %+v", job)
	}
	var runs string
	for _, s := range job.Steps {
		runs += s.Run + "\n"
	}
	for _, s := range []string{"redpandadata/redpanda", "go test -race", "-run TestDeployment", "./examples/conformance", "token --role admin"} {
		if !strings.Contains(runs, s) {
			t.Errorf("workflow does not run %q", s)
		}
	}
}
