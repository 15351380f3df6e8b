package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/redisstore"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/failurestest"
	"github.com/openbackbeat/backbeat/ports/metricstest"
	"github.com/openbackbeat/backbeat/ports/sitestest"
)

// redisAddr is the test server: the local stack's Redis unless
// BACKBEAT_TEST_REDIS_ADDR names another.
func redisAddr() string {
	if a := os.Getenv("BACKBEAT_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:16379"
}

// env is one test's corner of the shared server: a key prefix of its own
// (deleted at the end) and a raw client to look at the keys.
type env struct {
	prefix string
	cfg    redisstore.Config
	raw    *redis.Client
}

var nameChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// newEnv skips the test loudly when Redis does not answer (fails it at
// once instead when CI=true).
func newEnv(t testing.TB) *env {
	t.Helper()
	stacktest.Require(t, stacktest.Redis, redisAddr())
	name := nameChars.ReplaceAllString(t.Name(), "-")
	if len(name) > 50 {
		name = name[len(name)-50:]
	}
	e := &env{
		prefix: fmt.Sprintf("test:%s:%x:", name, rand.Uint64()),
		raw:    redis.NewClient(&redis.Options{Addr: redisAddr(), Protocol: 2}),
	}
	e.cfg = redisstore.Config{Addr: redisAddr(), KeyPrefix: e.prefix, ClientName: "redisstore-test"}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := e.keys(ctx, "*")
		if err == nil && len(keys) > 0 {
			e.raw.Del(ctx, keys...)
		}
		_ = e.raw.Close()
	})
	return e
}

// keys lists the env's keys matching pattern (after the prefix).
func (e *env) keys(ctx context.Context, pattern string) ([]string, error) {
	var out []string
	iter := e.raw.Scan(ctx, 0, e.prefix+pattern, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	slices.Sort(out)
	return out, iter.Err()
}

func (e *env) store(t testing.TB) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(e.cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

func TestFailureStoreContract(t *testing.T) {
	failurestest.Run(t, func(t *testing.T) ports.FailureStore { return newEnv(t).store(t).Failures() })
}

func TestLockerContract(t *testing.T) {
	failurestest.RunLocker(t, func(t *testing.T) ports.Locker { return newEnv(t).store(t).Locker() })
}

func TestMetricsContract(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) ports.MetricsRecorder { return newEnv(t).store(t).Metrics() })
}

func TestSiteControlContract(t *testing.T) {
	sitestest.Run(t, func(t *testing.T) (a, b ports.SiteControl) {
		e := newEnv(t)
		return e.store(t).SiteControl(), e.store(t).SiteControl()
	})
}

const hourMs = int64(time.Hour / time.Millisecond)

// TestFailureKeyLayout checks the exact key names, member format, scores
// and expiry that upstream Backbeat reads.
func TestFailureKeyLayout(t *testing.T) {
	e := newEnv(t)
	f := e.store(t).Failures()
	ctx := t.Context()
	at := time.Now().Add(-90 * time.Minute).Truncate(time.Millisecond)
	entry := ports.FailedEntry{Site: "site-a", Bucket: "bucket", Key: "dir/with:colons: and spaces", VersionID: "393834373136393838363233353939393939395247303031202031", FailedAt: at}
	require.NoError(t, f.Add(ctx, entry))

	hour := at.UnixMilli() - at.UnixMilli()%hourMs
	wantKey := e.prefix + "bb:crr:failed:site-a:" + strconv.FormatInt(hour, 10)
	keys, err := e.keys(ctx, "bb:crr:failed:site-a:*")
	require.NoError(t, err)
	assert.Equal(t, []string{wantKey}, keys)
	members, err := e.raw.ZRangeWithScores(ctx, wantKey, 0, -1).Result()
	require.NoError(t, err)
	require.Len(t, members, 1)
	assert.Equal(t, "bucket:dir/with:colons: and spaces:393834373136393838363233353939393939395247303031202031", members[0].Member)
	assert.Equal(t, float64(at.UnixMilli()), members[0].Score)
	ttl, err := e.raw.PTTL(ctx, wantKey).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 24*time.Hour, "failure keys must outlive the 24 h listing window")
	assert.LessOrEqual(t, ttl, 24*time.Hour+5*time.Minute)
	sites, err := e.raw.SMembers(ctx, e.prefix+"bb:crr:failed:sites").Result()
	require.NoError(t, err)
	assert.Equal(t, []string{"site-a"}, sites)

	// Adding it again later moves it to the new hour's key.
	entry.FailedAt = time.Now().Truncate(time.Millisecond)
	require.NoError(t, f.Add(ctx, entry))
	n, err := e.raw.ZCard(ctx, wantKey).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "the old hour key still holds the entry added again")
	now := entry.FailedAt.UnixMilli()
	newKey := e.prefix + "bb:crr:failed:site-a:" + strconv.FormatInt(now-now%hourMs, 10)
	score, err := e.raw.ZScore(ctx, newKey, "bucket:dir/with:colons: and spaces:393834373136393838363233353939393939395247303031202031").Result()
	require.NoError(t, err)
	assert.Equal(t, float64(now), score)
}

// TestFailuresReadUpstreamData lists and finds members written the way
// upstream writes them, including an empty version id (a non-versioned
// object) and a member that is not of the format (skipped).
func TestFailuresReadUpstreamData(t *testing.T) {
	e := newEnv(t)
	f := e.store(t).Failures()
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	t1, t2 := now.Add(-3*time.Hour).UnixMilli(), now.Add(-20*time.Hour).UnixMilli()
	key1 := e.prefix + "bb:crr:failed:aws-site:" + strconv.FormatInt(t1-t1%hourMs, 10)
	key2 := e.prefix + "bb:crr:failed:aws-site:" + strconv.FormatInt(t2-t2%hourMs, 10)
	require.NoError(t, e.raw.ZAdd(ctx, key1, redis.Z{Score: float64(t1), Member: "b1:k:1:2:v1"}, redis.Z{Score: float64(t1 - 1), Member: "garbage"}).Err())
	require.NoError(t, e.raw.ZAdd(ctx, key2, redis.Z{Score: float64(t2), Member: "b2:plain:"}).Err())
	require.NoError(t, e.raw.SAdd(ctx, e.prefix+"bb:crr:failed:sites", "aws-site").Err())

	page, err := f.List(ctx, "aws-site", 0, 10)
	require.NoError(t, err)
	assert.Equal(t, []ports.FailedEntry{
		{Site: "aws-site", Bucket: "b1", Key: "k:1:2", VersionID: "v1", FailedAt: time.UnixMilli(t1).UTC()},
		{Site: "aws-site", Bucket: "b2", Key: "plain", VersionID: "", FailedAt: time.UnixMilli(t2).UTC()},
	}, page.Entries)
	assert.False(t, page.Truncated)

	found, err := f.Find(ctx, "b2", "plain", "")
	require.NoError(t, err)
	assert.Equal(t, []ports.FailedEntry{{Site: "aws-site", Bucket: "b2", Key: "plain", FailedAt: time.UnixMilli(t2).UTC()}}, found)
}

// TestFailurePaginationWithTies spreads 350 entries over 23 hours, many
// sharing their millisecond, and walks them with several page sizes:
// every entry is listed once, newest first, and no page splits a group of
// equal times (a page exceeds its limit only to hold one whole group).
func TestFailurePaginationWithTies(t *testing.T) {
	e := newEnv(t)
	f := e.store(t).Failures()
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	site := "site-ties"
	group := map[int64]int{} // score -> entries at it
	var all []ports.FailedEntry
	addGroup := func(at time.Time, size int) {
		for range size {
			n := len(all)
			all = append(all, ports.FailedEntry{Site: site, Bucket: "bkt", Key: fmt.Sprintf("key/%03d", n), VersionID: fmt.Sprintf("v%d", n), FailedAt: at})
		}
		group[at.UnixMilli()] += size
	}
	r := rand.New(rand.NewPCG(1, 2))
	addGroup(now.Add(-5*time.Hour), 12) // bigger than some page sizes
	addGroup(now.Add(-time.Minute), 1)
	for len(all) < 350 {
		at := now.Add(-time.Minute - time.Duration(r.Int64N(int64(23*time.Hour/time.Millisecond)))*time.Millisecond)
		if group[at.UnixMilli()] > 0 {
			continue
		}
		addGroup(at, min(1+r.IntN(6), 350-len(all)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(all))
	for _, en := range all {
		wg.Go(func() {
			if err := f.Add(ctx, en); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	for _, limit := range []int{1, 5, 7, 10, 100, 349, 350, 1000} {
		seen := map[string]bool{}
		var listed []ports.FailedEntry
		marker := int64(0)
		for pages := 0; ; pages++ {
			require.Less(t, pages, 1000, "limit %d: too many pages", limit)
			p, err := f.List(ctx, site, marker, limit)
			require.NoError(t, err)
			if len(p.Entries) > limit {
				score := p.Entries[0].FailedAt.UnixMilli()
				for _, en := range p.Entries {
					require.Equal(t, score, en.FailedAt.UnixMilli(), "limit %d: a page over the limit must be one group of equal times", limit)
				}
				require.Equal(t, group[score], len(p.Entries), "limit %d: an oversized page must hold its whole group", limit)
			}
			if len(listed) > 0 && len(p.Entries) > 0 {
				require.Less(t, p.Entries[0].FailedAt.UnixMilli(), listed[len(listed)-1].FailedAt.UnixMilli(),
					"limit %d: a group of equal times was split across pages", limit)
			}
			for _, en := range p.Entries {
				id := en.Key
				require.False(t, seen[id], "limit %d: %s listed twice", limit, id)
				seen[id] = true
			}
			listed = append(listed, p.Entries...)
			if !p.Truncated {
				break
			}
			require.NotEmpty(t, p.Entries, "limit %d: empty truncated page", limit)
			require.Less(t, p.NextMarker, p.Entries[len(p.Entries)-1].FailedAt.UnixMilli()+1)
			marker = p.NextMarker
		}
		require.Len(t, listed, len(all), "limit %d", limit)
		for i := 1; i < len(listed); i++ {
			require.LessOrEqual(t, listed[i].FailedAt.UnixMilli(), listed[i-1].FailedAt.UnixMilli(), "limit %d: not newest first", limit)
		}
	}

	// Every hour key expires after more than 24 h.
	keys, err := e.keys(ctx, "bb:crr:failed:"+site+":*")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(keys), 20, "350 entries over 23 hours should use about 23 hour keys")
	for _, k := range keys {
		ttl, err := e.raw.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 24*time.Hour, "key %s", k)
	}
}

func TestFailureAddRefusesAmbiguousMembers(t *testing.T) {
	f := newEnv(t).store(t).Failures()
	for _, en := range []ports.FailedEntry{
		{Site: "s", Bucket: "a:b", Key: "k", VersionID: "v"},
		{Site: "s", Bucket: "b", Key: "k", VersionID: "v:1"},
		{Site: "", Bucket: "b", Key: "k", VersionID: "v"},
	} {
		err := f.Add(t.Context(), en)
		assert.ErrorIs(t, err, domain.ErrPermanent, "%+v", en)
	}
}

func TestParseMember(t *testing.T) {
	for _, c := range []struct {
		member, bucket, key, vid string
		ok                       bool
	}{
		{"b:k:v", "b", "k", "v", true},
		{"b:k:with:colons:v", "b", "k:with:colons", "v", true},
		{"b:k:", "b", "k", "", true},
		{"b::v", "b", "", "v", true},
		{"b:k", "", "", "", false},
		{"nocolon", "", "", "", false},
	} {
		b, k, v, ok := redisstore.ParseMember(c.member)
		assert.Equal(t, c.ok, ok, c.member)
		assert.Equal(t, []string{c.bucket, c.key, c.vid}, []string{b, k, v}, c.member)
	}
}

func FuzzParseMember(f *testing.F) {
	for _, s := range []string{"b:k:v", "b:k:", "::", "a:b:c:d", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, m string) {
		b, k, v, ok := redisstore.ParseMember(m)
		if !ok {
			if strings.Count(m, ":") >= 2 {
				t.Fatalf("ParseMember(%q) refused a member with two colons", m)
			}
			return
		}
		if strings.Contains(b, ":") || strings.Contains(v, ":") {
			t.Fatalf("ParseMember(%q) = %q, %q, %q: bucket and version hold no colon", m, b, k, v)
		}
		if got := redisstore.Member(b, k, v); got != m {
			t.Fatalf("Member(ParseMember(%q)) = %q", m, got)
		}
	})
}

// TestMetricsKeyLayout checks upstream's counter names, buckets and expiry.
func TestMetricsKeyLayout(t *testing.T) {
	e := newEnv(t)
	m := e.store(t).Metrics()
	ctx := t.Context()
	const step = int64(5 * time.Minute / time.Millisecond)
	before := time.Now().UnixMilli() / step * step
	require.NoError(t, m.Record(ctx, "site-m", ports.MetricQueued, 1, 1000, ports.Op{}))
	require.NoError(t, m.Record(ctx, "site-m", ports.MetricCompleted, 1, 600, ports.Op{}))
	require.NoError(t, m.Record(ctx, "site-m", ports.MetricFailed, 1, 300, ports.Op{}))
	after := time.Now().UnixMilli() / step * step
	keys, err := e.keys(ctx, "site-m:bb:crr:*")
	require.NoError(t, err)
	for _, k := range keys {
		name := strings.TrimPrefix(k, e.prefix+"site-m:bb:crr:")
		if strings.HasSuffix(name, "pending") {
			continue
		}
		base, ts, ok := strings.Cut(name, ":")
		require.True(t, ok, "key %s has no time bucket", k)
		assert.Contains(t, []string{"ops", "bytes", "opsdone", "bytesdone", "opsfail", "bytesfail"}, base)
		n, err := strconv.ParseInt(ts, 10, 64)
		require.NoError(t, err)
		assert.True(t, n == before || n == after, "bucket %d of key %s is not now floored to 5 minutes", n, k)
		ttl, err := e.raw.PTTL(ctx, k).Result()
		require.NoError(t, err)
		assert.Greater(t, ttl, 24*time.Hour, "key %s", k)
	}
	get := func(name string) string {
		v, err := e.raw.Get(ctx, e.prefix+"site-m:bb:crr:"+name).Result()
		require.NoError(t, err, name)
		return v
	}
	if before == after {
		b := strconv.FormatInt(before, 10)
		assert.Equal(t, "1", get("ops:"+b))
		assert.Equal(t, "1000", get("bytes:"+b))
		assert.Equal(t, "1", get("opsdone:"+b))
		assert.Equal(t, "600", get("bytesdone:"+b))
		assert.Equal(t, "1", get("opsfail:"+b))
		assert.Equal(t, "300", get("bytesfail:"+b))
	}
	assert.Equal(t, "-1", get("opspending"), "pending is stored signed (shown clamped at zero)")
	assert.Equal(t, "100", get("bytespending"))
	ttl, err := e.raw.PTTL(ctx, e.prefix+"site-m:bb:crr:opspending").Result()
	require.NoError(t, err)
	assert.Equal(t, time.Duration(-1), ttl, "pending counters do not expire")
}

// TestMetricsReadUpstreamData reads counters another writer left, pending
// below zero included (upstream decrements without a floor).
func TestMetricsReadUpstreamData(t *testing.T) {
	e := newEnv(t)
	m := e.store(t).Metrics()
	ctx := t.Context()
	const step = int64(5 * time.Minute / time.Millisecond)
	now := time.Now().UnixMilli() / step * step
	set := func(name string, v int64) {
		require.NoError(t, e.raw.Set(ctx, e.prefix+"up:bb:crr:"+name, v, time.Hour).Err())
	}
	set("ops:"+strconv.FormatInt(now, 10), 3)
	set("ops:"+strconv.FormatInt(now-2*step, 10), 4)
	set("ops:"+strconv.FormatInt(now-20*step, 10), 100) // 100 minutes ago
	set("bytesdone:"+strconv.FormatInt(now-step, 10), 70)
	set("opspending", -5)
	got, err := m.Site(ctx, "up", time.Hour)
	require.NoError(t, err)
	assert.Equal(t, ports.SiteMetrics{Queued: ports.Counts{Ops: 7}, Completed: ports.Counts{Bytes: 70}}, got)
	got, err = m.Site(ctx, "up", 24*time.Hour)
	require.NoError(t, err)
	assert.Equal(t, int64(107), got.Queued.Ops)
}

// TestSiteStateLayout checks the stored JSON and the published notice.
func TestSiteStateLayout(t *testing.T) {
	e := newEnv(t)
	c := e.store(t).SiteControl()
	ctx := t.Context()
	ps := e.raw.Subscribe(ctx, e.prefix+"backbeat-replication-site-s")
	defer ps.Close()
	_, err := ps.Receive(ctx)
	require.NoError(t, err)

	resume := time.Date(2030, 1, 2, 3, 4, 5, 600_000_000, time.UTC)
	require.NoError(t, c.SetState(ctx, "site-s", ports.SiteState{Paused: true, ScheduledResume: resume}))
	raw, err := e.raw.Get(ctx, e.prefix+"bb:crr:state:site-s").Result()
	require.NoError(t, err)
	assert.JSONEq(t, `{"paused":true,"scheduledResume":"2030-01-02T03:04:05.6Z"}`, raw)
	msg, err := ps.ReceiveMessage(ctx)
	require.NoError(t, err)
	var n map[string]any
	require.NoError(t, json.Unmarshal([]byte(msg.Payload), &n))
	assert.Equal(t, "resumeService", n["action"])
	assert.Equal(t, "2030-01-02T03:04:05.6Z", n["date"])

	require.NoError(t, c.SetState(ctx, "site-s", ports.SiteState{Paused: true}))
	raw, err = e.raw.Get(ctx, e.prefix+"bb:crr:state:site-s").Result()
	require.NoError(t, err)
	assert.JSONEq(t, `{"paused":true}`, raw)
	msg, err = ps.ReceiveMessage(ctx)
	require.NoError(t, err)
	assert.Contains(t, msg.Payload, `"action":"pauseService"`)
}

// TestWatchSurvivesReconnect changes the stored state without publishing
// (a message missed while the watcher's connection was down), then kills
// the watcher's connection on the server: the watcher must re-read the
// state when it reconnects, and keep receiving messages afterwards.
func TestWatchSurvivesReconnect(t *testing.T) {
	e := newEnv(t)
	name := fmt.Sprintf("watch-%x", rand.Uint64())
	cfg := e.cfg
	cfg.ClientName = name
	watcher, err := redisstore.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = watcher.Close() })
	setter := e.store(t).SiteControl()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := watcher.SiteControl().Watch(ctx, "site-r")
	require.NoError(t, err)
	require.Equal(t, ports.SiteState{}, <-ch)

	receive := func(want ports.SiteState, what string) {
		t.Helper()
		select {
		case got, ok := <-ch:
			require.True(t, ok, "watch channel closed")
			require.Equal(t, want, got, what)
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: %+v did not reach the watcher within 10 s", what, want)
		}
	}
	stateKey := e.prefix + "bb:crr:state:site-r"
	for i, raw := range []string{`{"paused":true}`, `{"paused":false}`, `{"paused":true}`} {
		require.NoError(t, e.raw.Set(ctx, stateKey, raw, 0).Err()) // no message
		require.NoError(t, killByName(ctx, e.raw, name))
		var want ports.SiteState
		require.NoError(t, json.Unmarshal([]byte(raw), &want))
		receive(want, fmt.Sprintf("missed change %d", i))
	}
	require.NoError(t, setter.SetState(ctx, "site-r", ports.SiteState{}))
	receive(ports.SiteState{}, "a change published after the reconnections")
	cancel()
	for range ch {
	}
}

// killByName closes, on the server, every connection named name (and only
// those: other tests share the server).
func killByName(ctx context.Context, raw *redis.Client, name string) error {
	list, err := raw.ClientList(ctx).Result()
	if err != nil {
		return err
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Fields(line) {
			if k, v, ok := strings.Cut(f, "="); ok {
				fields[k] = v
			}
		}
		if fields["name"] != name {
			continue
		}
		if err := raw.Do(ctx, "CLIENT", "KILL", "ID", fields["id"]).Err(); err != nil {
			return err
		}
		killed++
	}
	if killed == 0 {
		return fmt.Errorf("no connection named %s", name)
	}
	return nil
}

func TestLockKeyLayout(t *testing.T) {
	e := newEnv(t)
	l := e.store(t).Locker()
	ctx := t.Context()
	release, ok, err := l.TryLock(ctx, "bucket:key:vid:site:processingFailures", 30*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	key := e.prefix + "bb:lock:bucket:key:vid:site:processingFailures"
	ttl, err := e.raw.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 25*time.Second)
	assert.LessOrEqual(t, ttl, 30*time.Second)
	release()
	n, err := e.raw.Exists(ctx, key).Result()
	require.NoError(t, err)
	assert.Zero(t, n, "release deletes the key")

	_, _, err = l.TryLock(ctx, "x", 0)
	assert.Error(t, err, "a lock without ttl would never expire")
}

func TestHealthy(t *testing.T) {
	e := newEnv(t)
	require.NoError(t, e.store(t).Healthy(t.Context()))

	s, err := redisstore.New(redisstore.Config{Addr: "127.0.0.1:1"})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	assert.Error(t, s.Healthy(ctx))
}

func TestConfigValidate(t *testing.T) {
	require.NoError(t, redisstore.Config{}.Validate(), "every field has a default")
	err := redisstore.Config{Addr: "nohost", DB: -1, FailureExpiry: time.Minute, MetricsExpiry: time.Second, ClientName: "a b"}.Validate()
	require.Error(t, err)
	for _, want := range []string{"addr", "db", "failureExpiry", "metricsExpiry", "clientName"} {
		assert.Contains(t, err.Error(), want)
	}
	_, err = redisstore.New(redisstore.Config{Addr: "nohost"})
	assert.Error(t, err)
}
