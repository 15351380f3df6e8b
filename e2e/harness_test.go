package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/adapters/apiclient"
	"github.com/openbackbeat/backbeat/adapters/kafkabus"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// The local stack (e2e/stack/stack.sh), as configs/local.yaml names it.
const (
	mongoURI    = "mongodb://127.0.0.1:27117"
	kafkaBroker = "127.0.0.1:19092"
	redisAddr   = "127.0.0.1:16379"
	accessKey   = "backbeat"
	secretKey   = "backbeat-secret-key"
)

var (
	sourceEndpoint = "http://127.0.0.1:17000"
	siteEndpoints  = map[string]string{"site-a": "http://127.0.0.1:17001", "site-b": "http://127.0.0.1:17002"}
	siteNames      = []string{"site-a", "site-b"}
	stackAddrs     = []string{"127.0.0.1:27117", "127.0.0.1:19092", "127.0.0.1:16379", "127.0.0.1:17000", "127.0.0.1:17001", "127.0.0.1:17002"}
)

// binary is the backbeat binary built once by TestMain; configPath the
// local stack's configuration file.
var binary, configPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "backbeat-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "backbeat")
	args := []string{"build", "-o", binary}
	if os.Getenv("BACKBEAT_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/openbackbeat/backbeat/cmd/backbeat")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build backbeat:", err)
		return 1
	}
	if configPath, err = filepath.Abs("../configs/local.yaml"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// full reports whether the full-size scenarios run (go tool task e2e).
func full() bool { return os.Getenv("BACKBEAT_E2E_FULL") == "1" }

// parallel runs the short scenarios side by side. The full ones run one at
// a time: together they overload the single-threaded MongoDB stand-in, and
// its timeouts would then say nothing about the service.
func parallel(t *testing.T) {
	if !full() {
		t.Parallel()
	}
}

// needStack skips the test when a service of the local stack is not
// reachable, or fails it when CI=true.
func needStack(t *testing.T) {
	t.Helper()
	for _, addr := range stackAddrs {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("local stack service %s is not running (CI=true): %v", addr, err)
			}
			t.Skipf("SKIPPED: local stack service %s is not running; start it with `go tool task stack:up`", addr)
		}
		c.Close()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Env is one scenario's isolated slice of the local stack: its own Mongo
// database, topics, consumer groups, Redis keys, checkpoint, buckets and API
// port, and the role processes running on them.
type Env struct {
	t       *testing.T
	Run     string
	APIAddr string
	Topics  app.Topics
	env     []string
	logDir  string

	Meta    *mongometa.Store
	Source  *s3site.Client
	Sites   map[string]*s3site.Client
	Sim     *app.Simulator
	Checker *Checker
	API     *apiclient.Client
	Ledger  *Ledger

	mu    sync.Mutex
	procs []*Proc
}

// newEnv prepares an isolated environment; extra are BACKBEAT_* overrides.
func newEnv(t *testing.T, extra ...string) *Env {
	t.Helper()
	needStack(t)
	ctx := context.Background()
	run := "e2e-" + randomHex(4)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	apiAddr := l.Addr().String()
	l.Close()
	// Role logs outlive a failed test, for the post-mortem.
	logDir, err := os.MkdirTemp("", run+"-logs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(logDir)
		}
	})
	e := &Env{t: t, Run: run, APIAddr: apiAddr, logDir: logDir, Sites: map[string]*s3site.Client{}, Ledger: &Ledger{}}
	e.Topics = app.Topics{Entries: run + "-replication", Status: run + "-status", Replay: run + "-replay", DeadLetter: run + "-dead-letter"}
	db := strings.ReplaceAll(run, "-", "_")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BACKBEAT_") {
			e.env = append(e.env, kv)
		}
	}
	e.env = append(e.env,
		"BACKBEAT_MONGO_DATABASE="+db,
		"BACKBEAT_TOPICS_ENTRIES="+e.Topics.Entries, "BACKBEAT_TOPICS_STATUS="+e.Topics.Status,
		"BACKBEAT_TOPICS_REPLAY="+e.Topics.Replay, "BACKBEAT_TOPICS_DEADLETTER="+e.Topics.DeadLetter,
		"BACKBEAT_REPLICATION_GROUPPREFIX="+run, "BACKBEAT_REDIS_KEYPREFIX="+run+":",
		"BACKBEAT_POPULATOR_CHECKPOINTNAME="+run, "BACKBEAT_API_LISTEN="+apiAddr,
		"BACKBEAT_LOG_LEVEL=info",
		// A killed populator's lease must run out before its restart takes
		// over: shorter than the default 10 s, so the kill scenarios keep
		// their pace, but not so short that a slow stand-in (a renewal over
		// 1.5 s on a loaded machine) makes the populator lose it.
		"BACKBEAT_POPULATOR_LEASETTL=6s", "BACKBEAT_POPULATOR_LEASERENEW=1s",
	)
	e.env = append(e.env, extra...)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e.Meta, err = mongometa.New(ctx, mongometa.Config{URI: mongoURI, Database: db, Logger: quiet})
	if err != nil {
		t.Fatalf("mongo: %v", err)
	}
	t.Cleanup(func() { _ = e.Meta.Close(context.Background()) })
	e.Source = newS3(t, sourceEndpoint)
	readers := map[string]ports.ReplicaReader{}
	for _, s := range siteNames {
		e.Sites[s] = newS3(t, siteEndpoints[s])
		readers[s] = e.Sites[s].ReplicaReader()
	}
	e.Sim = &app.Simulator{Metadata: e.Meta, Objects: e.Source, Versions: e.Meta}
	e.Checker = &Checker{Metadata: e.Meta, Sites: readers}
	// Registered before stopAll, so it runs after the roles stopped.
	t.Cleanup(func() { e.purge(db) })
	if e.API, err = apiclient.New("http://" + apiAddr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.stopAll)
	t.Logf("run %s: database %s, topics %s-*, API %s, logs in %s", run, db, run, apiAddr, e.logDir)
	return e
}

func newS3(t *testing.T, endpoint string) *s3site.Client {
	t.Helper()
	c, err := s3site.New(context.Background(), s3site.Config{Endpoint: endpoint, AccessKey: accessKey, SecretKey: secretKey,
		MultipartThreshold: 16 << 20, PartSize: 8 << 20, MaxPartsInFlight: 4})
	if err != nil {
		t.Fatalf("S3 %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// purge removes what the scenario created on the shared stack, passed or
// failed (the role logs stay, for the post-mortem of a failure): its
// database, topics, Redis keys and S3 buckets. BACKBEAT_E2E_KEEP=1 keeps
// everything of a failed scenario.
func (e *Env) purge(db string) {
	if e.t.Failed() && os.Getenv("BACKBEAT_E2E_KEEP") == "1" {
		e.t.Logf("BACKBEAT_E2E_KEEP=1: database %s, topics %s-*, Redis keys %s:*, buckets %s-* kept", db, e.Run, e.Run, e.Run)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := Leftovers{DatabasePrefixes: []string{db}, TopicPrefixes: []string{e.Run + "-"}, RedisPrefixes: []string{e.Run + ":"}, S3Prefixes: []string{e.Run + "-"}}
	var errs []error
	if _, err := PurgeMongo(ctx, e.Meta.Client(), l); err != nil {
		errs = append(errs, err)
	}
	if _, err := PurgeTopics([]string{kafkaBroker}, l); err != nil {
		errs = append(errs, err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	if _, err := PurgeRedis(ctx, rdb, l); err != nil {
		errs = append(errs, err)
	}
	for _, c := range append([]*s3site.Client{e.Source}, e.Sites["site-a"], e.Sites["site-b"]) {
		if _, err := PurgeBuckets(ctx, c.S3(), l); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Versions under object lock outlive the scenario: not a failure.
		e.t.Logf("cleanup of run %s left something behind: %v", e.Run, err)
	}
}

// Proc is one role process. It can be killed and started again; its output
// goes to one log file across restarts.
type Proc struct {
	Name    string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

// Start launches the role (again).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(f, "=== start #%d at %s\n", p.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, append(append([]string(nil), p.args...), "--config", configPath)...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	// Roles die with the test process, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(f, "=== exited at %s: %v\n", time.Now().Format(time.RFC3339Nano), err)
		f.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Proc) Kill() {
	_ = p.signal(syscall.SIGKILL, 0) // a killed process's exit status says nothing
}

// Stop sends SIGTERM and waits up to grace, then kills. It returns the
// process's exit error from a graceful stop.
func (p *Proc) Stop(grace time.Duration) error {
	return p.signal(syscall.SIGTERM, grace)
}

func (p *Proc) signal(sig syscall.Signal, grace time.Duration) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil // already gone
	default:
	}
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return exitError(cmd)
		case <-time.After(grace):
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s did not stop within %s of SIGTERM", cmd.Path, grace)
		}
	}
	<-done
	return nil
}

func exitError(cmd *exec.Cmd) error {
	if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		return fmt.Errorf("exited with %s", cmd.ProcessState)
	}
	return nil
}

// Exited reports whether the process ended on its own (not killed by us).
func (p *Proc) Exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start runs one role process: args like "populator" or "replicator",
// "--site", "site-a". name must be unique in the environment.
func (e *Env) Start(name string, args ...string) *Proc {
	e.t.Helper()
	p := &Proc{Name: name, args: args, env: e.env, logPath: filepath.Join(e.logDir, name+".log")}
	if err := p.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.procs = append(e.procs, p)
	e.mu.Unlock()
	return p
}

// Roles are the processes of a standard deployment.
type Roles struct {
	Populator, Status, API *Proc
	Replicators            map[string]*Proc
}

// StartRoles starts the populator, one replicator per site, the status
// applier and the API, waits for the API, then proves the pipeline flows
// with a canary object: only then may a scenario write.
func (e *Env) StartRoles() Roles {
	e.t.Helper()
	r := Roles{Replicators: map[string]*Proc{}}
	r.Populator = e.Start("populator", "populator")
	for _, s := range siteNames {
		r.Replicators[s] = e.Start("replicator-"+s, "replicator", "--site", s)
	}
	r.Status = e.Start("status", "status")
	r.API = e.Start("api", "api")
	e.WaitAPI(30 * time.Second)
	e.Canary(90 * time.Second)
	return r
}

// WaitAPI polls the API's healthcheck until it answers.
func (e *Env) WaitAPI(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + e.APIAddr + "/_/healthcheck")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("API at %s not healthy after %s: %v", e.APIAddr, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Canary writes a small object every second to a bucket of its own until
// one version is COMPLETED: the populator's journal is open and every
// consumer group has joined.
func (e *Env) Canary(timeout time.Duration) {
	e.t.Helper()
	ctx := context.Background()
	b := e.Bucket("canary")
	deadline := time.Now().Add(timeout)
	var ws []Written
	for i := 0; ; i++ {
		ws = append(ws, e.Put(ctx, b, "canary", []byte(fmt.Sprintf("canary %d", i)), false))
		counts, err := e.Checker.Statuses(ctx, ws)
		if err != nil {
			e.t.Fatal(err)
		}
		if counts[domain.StatusCompleted] > 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("pipeline not flowing after %s: canary statuses %v (is the shared stack's MongoDB saturated? "+
				"mongo-java-server keeps its oplog in memory and scans it on every poll)", timeout, counts)
		}
		time.Sleep(time.Second)
	}
}

// Bucket creates a versioned source bucket <run>-<name> replicating every
// key to every site into <run>-<name>-replica, created at each site first.
func (e *Env) Bucket(name string) domain.Bucket {
	e.t.Helper()
	return e.BucketAt(name, siteNames)
}

// BucketAt is Bucket with the destination bucket created only at the sites
// given: the others refuse the replicas (NoSuchBucket) until it is made.
func (e *Env) BucketAt(name string, dests []string) domain.Bucket {
	e.t.Helper()
	ctx := context.Background()
	full := e.Run + "-" + name
	b := domain.Bucket{Name: full, VersioningEnabled: true, VFormat: "v0", Replication: &domain.ReplicationConfig{
		Role: "arn:aws:iam::000000000000:role/backbeat-e2e",
		Rules: []domain.ReplicationRule{{ID: "e2e", Enabled: true,
			DestinationBucket: domain.DestinationBucketPrefix + full + "-replica", StorageClass: strings.Join(siteNames, ",")}},
	}}
	for _, s := range dests {
		if err := e.Sites[s].EnsureVersionedBucket(ctx, full+"-replica"); err != nil {
			e.t.Fatalf("create %s-replica at %s: %v", full, s, err)
		}
	}
	if err := e.Sim.CreateBucket(ctx, b); err != nil {
		e.t.Fatal(err)
	}
	return b
}

// e2eHeaders are set on every version the scenarios write, so that the
// checker compares them everywhere.
var e2eHeaders = domain.Headers{
	CacheControl: "max-age=60", ContentDisposition: `inline; filename="e2e.bin"`, ContentEncoding: "identity",
	ContentLanguage: "en-GB", Expires: "Thu, 01 Jan 2037 00:00:00 GMT", WebsiteRedirectLocation: "/e2e/elsewhere",
}

// Put writes one version the way CloudServer does; record adds it to the
// ledger the checker verifies.
func (e *Env) Put(ctx context.Context, b domain.Bucket, key string, data []byte, record bool) Written {
	e.t.Helper()
	v, err := e.Sim.PutObjectWith(ctx, b, key, data, app.ObjectAttrs{
		ContentType: "application/x-e2e", UserMeta: map[string]string{"e2e-run": e.Run}, Tags: map[string]string{"origin": "e2e"},
		Headers: e2eHeaders,
	})
	if err != nil {
		e.t.Fatalf("write %s/%s: %v", b.Name, key, err)
	}
	w := Written{ObjectVersion: v, DestBucket: b.Name + "-replica"}
	if record {
		e.Ledger.Add(w)
	}
	return w
}

// WaitDone polls the statuses of ws until none is PENDING or PROCESSING,
// logging progress; it fails the test at the deadline.
func (e *Env) WaitDone(ws []Written, timeout time.Duration) time.Duration {
	e.t.Helper()
	return e.WaitStatus(ws, timeout, domain.StatusCompleted, domain.StatusFailed)
}

// WaitStatus polls the statuses of ws until each is one of final.
func (e *Env) WaitStatus(ws []Written, timeout time.Duration, final ...domain.Status) time.Duration {
	e.t.Helper()
	ctx := context.Background()
	start := time.Now()
	lastLog := start
	for {
		counts, err := e.Checker.Statuses(ctx, ws)
		if err != nil {
			e.t.Fatal(err)
		}
		done := 0
		for _, st := range final {
			done += counts[st]
		}
		if done == len(ws) {
			e.t.Logf("all %d versions done in %s: %v", len(ws), time.Since(start).Round(time.Millisecond), counts)
			return time.Since(start)
		}
		if time.Since(lastLog) > 5*time.Second {
			e.t.Logf("[%5.1fs] %d/%d done: %v", time.Since(start).Seconds(), done, len(ws), counts)
			lastLog = time.Now()
		}
		if time.Since(start) > timeout {
			e.t.Fatalf("after %s, %d of %d versions are not done: %v", timeout, len(ws)-done, len(ws), counts)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Verify runs the checker over the ledger, prints its counts and fails the
// test on any broken invariant.
func (e *Env) Verify() Report {
	e.t.Helper()
	rep, err := e.Checker.Check(context.Background(), e.Ledger.All())
	if err != nil {
		e.t.Fatalf("checker: %v", err)
	}
	e.t.Logf("CHECK %s: %s", e.t.Name(), rep)
	fmt.Printf("CHECK %s: %s\n", e.t.Name(), rep)
	if !rep.OK() {
		e.t.Errorf("invariants broken: %s\n  %s", rep, strings.Join(rep.Problems, "\n  "))
	}
	return rep
}

// stopAll stops every process gracefully; a process that fails to stop,
// exits with an error, or logged a panic or a data race fails the test.
func (e *Env) stopAll() {
	e.mu.Lock()
	procs := e.procs
	e.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(procs))
	for i, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.Stop(30 * time.Second)
		}()
	}
	wg.Wait()
	for i, p := range procs {
		if errs[i] != nil {
			e.t.Errorf("%s: graceful stop: %v", p.Name, errs[i])
		}
		if bad := scanLog(p.logPath); bad != "" {
			e.t.Errorf("%s log: %s", p.Name, bad)
		}
		if e.t.Failed() {
			e.t.Logf("--- last lines of %s:\n%s", p.Name, tail(p.logPath, 25))
		}
	}
}

func scanLog(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "panic:") || strings.Contains(line, "WARNING: DATA RACE") || strings.HasPrefix(line, "fatal error:") {
			return line
		}
	}
	return ""
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Publisher returns a Kafka publisher for injecting messages.
func (e *Env) Publisher() *kafkabus.Publisher {
	e.t.Helper()
	p, err := kafkabus.NewPublisher(kafkabus.Config{Brokers: []string{kafkaBroker}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = p.Close() })
	return p
}

// DeadLetters reads the dead-letter topic from its start until match
// returns true for the records seen so far, or the timeout.
func (e *Env) DeadLetters(timeout time.Duration, match func([]app.DeadLetter) bool) []app.DeadLetter {
	e.t.Helper()
	sub, err := kafkabus.NewSubscriber(kafkabus.Config{Brokers: []string{kafkaBroker}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		e.t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch, err := sub.Subscribe(ctx, e.Topics.DeadLetter, e.Run+"-dlq-reader-"+randomHex(2))
	if err != nil {
		e.t.Fatal(err)
	}
	var got []app.DeadLetter
	for {
		select {
		case <-ctx.Done():
			return got
		case d, ok := <-ch:
			if !ok {
				return got
			}
			var dl app.DeadLetter
			if err := jsonUnmarshal(d.Payload, &dl); err != nil {
				e.t.Errorf("dead letter at offset %d is not JSON: %v", d.Offset, err)
			}
			d.Ack()
			got = append(got, dl)
			if match(got) {
				return got
			}
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
