// Package httpapitest serves the operator API's real handler over in-memory
// adapters, for the tests of its clients (apiclient, backbeat ctl).
package httpapitest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/adapters/httpapi"
	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Sites are the destination sites the served API knows.
var Sites = []string{"site-a", "site-b"}

// LastModified is the source write time of the versions PutFailed records.
var LastModified = time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)

// Prometheus is the text the served /metrics answers.
const Prometheus = "up 1\n"

// Server is the API served until the test ends, and the adapters behind it.
type Server struct {
	URL      string
	Meta     *memory.Metadata
	Failures *memory.Failures
	Metrics  *memory.Metrics
	Control  *memory.SiteControl
	// Jobs holds the backfill and verify jobs; RunJobs runs them.
	Jobs *memory.Jobs
	// Findings holds the verify jobs' findings, and Dests what each site
	// of Sites holds (empty buckets until a test writes them), which
	// verify jobs list.
	Findings *memory.Findings
	Dests    map[string]*memory.Objects
}

// Start serves the API, requiring token (when set) on mutating routes, with
// the given health checks.
func Start(t testing.TB, token string, health map[string]func(context.Context) error) *Server {
	t.Helper()
	s := &Server{Meta: memory.NewMetadata(), Control: memory.NewSiteControl(), Jobs: memory.NewJobs(),
		Findings: memory.NewFindings(), Dests: map[string]*memory.Objects{}}
	for _, site := range Sites {
		s.Dests[site] = memory.NewObjects()
	}
	backfill, err := app.NewBackfillService(s.Jobs, s.Meta, Sites)
	if err != nil {
		t.Fatal(err)
	}
	verify, err := app.NewVerifyService(s.Jobs, s.Findings, s.Meta, Sites)
	if err != nil {
		t.Fatal(err)
	}
	if s.Failures, err = memory.NewFailures(memory.FailuresConfig{}); err != nil {
		t.Fatal(err)
	}
	if s.Metrics, err = memory.NewMetrics(memory.MetricsConfig{}); err != nil {
		t.Fatal(err)
	}
	bus, err := memory.NewBus(memory.BusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	log := slog.New(slog.DiscardHandler)
	operator, err := app.NewOperator(app.OperatorDeps{Failures: s.Failures, Metrics: s.Metrics, Metadata: s.Meta})
	if err != nil {
		t.Fatal(err)
	}
	deps := httpapi.Deps{
		Sites: &app.SiteService{Control: s.Control, Sites: Sites},
		Retrier: &app.FailedRetrier{
			Metadata: s.Meta, Failures: s.Failures, Locker: memory.NewLocker(), Publisher: bus, Topics: app.DefaultTopics, Log: log,
		},
		Operator: operator, Backfill: backfill, Verify: verify, Log: log,
		Health:     health,
		Prometheus: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, Prometheus) }),
	}
	srv := httptest.NewServer(httpapi.New(deps, httpapi.Config{Token: token}))
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections)
	s.URL = srv.URL
	return s
}

// PutFailed records a version of bucket/key of size bytes, replicated to
// every site of Sites and FAILED at site, listed in the failure store as
// failed at failedAt.
func (s *Server) PutFailed(t testing.TB, bucket, key, vid, site string, size int64, failedAt time.Time) {
	t.Helper()
	ctx := context.Background()
	rule := domain.ReplicationRule{ID: "r", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a,site-b"}
	if _, err := s.Meta.Bucket(ctx, bucket); err != nil {
		b := domain.Bucket{Name: bucket, VersioningEnabled: true, Replication: &domain.ReplicationConfig{Role: "r", Rules: []domain.ReplicationRule{rule}}}
		if err := s.Meta.PutBucket(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	v := domain.ObjectVersion{Bucket: bucket, Key: key, VersionID: vid, Size: size, LastModified: LastModified,
		Replication: domain.NewReplicationInfo(rule, "r", true)}
	if b, ok := v.Site(site); ok {
		b.Status = domain.StatusFailed
		b.Reason = "AccessDenied: " + key
	}
	v.Replication.Status = domain.Aggregate(v.Replication.Backends)
	if err := s.Meta.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	fe := ports.FailedEntry{Site: site, Bucket: bucket, Key: key, VersionID: vid, FailedAt: failedAt.Truncate(time.Millisecond)}
	if err := s.Failures.Add(ctx, fe); err != nil {
		t.Fatal(err)
	}
}

// RunJobs runs the backfill and verify jobs started through the API, batch by batch
// of batchSize versions, each batch taking at least pause, until the test
// ends.
func (s *Server) RunJobs(t testing.TB, batchSize int, pause time.Duration) {
	t.Helper()
	lists := map[string]ports.SiteListing{}
	for site, d := range s.Dests {
		lists[site] = d
	}
	r := &app.JobRunner{Jobs: s.Jobs, Locks: memory.NewLocker(), Metadata: slowStore{s.Meta, pause}, Scanner: s.Meta,
		Verify: app.VerifyDeps{Sites: lists, Findings: s.Findings},
		Config: app.JobRunnerConfig{BatchSize: batchSize, Concurrency: 1, Poll: 10 * time.Millisecond}, Log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("job runner: %v", err)
		}
	})
}

// slowStore spaces the metadata updates of a job, so that tests see it
// progress.
type slowStore struct {
	*memory.Metadata
	pause time.Duration
}

func (s slowStore) UpdateVersion(ctx context.Context, bucket, key, versionID string, update func(*domain.ObjectVersion) error) (domain.ObjectVersion, error) {
	time.Sleep(s.pause)
	return s.Metadata.UpdateVersion(ctx, bucket, key, versionID, update)
}
