package mongojournal

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/openbackbeat/backbeat/adapters/internal/stacktest"
	"github.com/openbackbeat/backbeat/adapters/mongometa"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// mongoURI is the server the integration tests use: the local stack's
// mongo-java-server unless BACKBEAT_TEST_MONGO_URI names another.
func mongoURI() string {
	if u := os.Getenv("BACKBEAT_TEST_MONGO_URI"); u != "" {
		return u
	}
	return "mongodb://127.0.0.1:27117"
}

// requireMongo skips the test loudly when the server does not answer
// (fails it at once instead when CI=true).
func requireMongo(t *testing.T) {
	t.Helper()
	stacktest.Require(t, stacktest.Mongo, stacktest.MongoAddrs(mongoURI())...)
}

var nameChars = regexp.MustCompile(`[^a-z0-9]+`)

// uniqueName returns a name no other test or run uses, usable as a
// database or bucket name.
func uniqueName(t *testing.T, prefix string) string {
	n := nameChars.ReplaceAllString(strings.ToLower(t.Name()), "-")
	if len(n) > 24 {
		n = n[len(n)-24:]
	}
	return strings.Trim(fmt.Sprintf("%s-%s-%x", prefix, n, time.Now().UnixNano()), "-")
}

// fixture is one test's private metadata database: the journal of a test
// sees only its own buckets, and the database is dropped afterwards.
type fixture struct {
	t     *testing.T
	db    string
	store *mongometa.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	requireMongo(t)
	db := strings.ReplaceAll(uniqueName(t, "mj"), "-", "_")
	store, err := mongometa.New(context.Background(), mongometa.Config{URI: mongoURI(), Database: db})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		_ = store.Database().Drop(ctx)
		_ = store.Close(ctx)
	})
	return &fixture{t: t, db: db, store: store}
}

func (f *fixture) journal(mutate ...func(*Config)) *Journal {
	cfg := Config{URI: mongoURI(), Database: f.db, BucketRefresh: 200 * time.Millisecond}
	for _, m := range mutate {
		m(&cfg)
	}
	j, err := New(context.Background(), cfg)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = j.Close(context.Background()) })
	return j
}

func (f *fixture) open(j *Journal, from ports.Position) *cursor {
	cur, err := j.Open(context.Background(), from)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = cur.Close(context.Background()) })
	return cur.(*cursor)
}

func (f *fixture) bucket(name, vFormat string) {
	f.t.Helper()
	require.NoError(f.t, f.store.PutBucket(context.Background(), domain.Bucket{
		Name: name, VersioningEnabled: true, VFormat: vFormat,
		Replication: &domain.ReplicationConfig{Role: "r", Rules: []domain.ReplicationRule{
			{ID: "r1", Enabled: true, DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"},
		}},
	}))
}

func (f *fixture) put(bucket, key, vid string) {
	f.t.Helper()
	rule := domain.ReplicationRule{DestinationBucket: "arn:aws:s3:::dst", StorageClass: "site-a"}
	require.NoError(f.t, f.store.PutVersion(context.Background(), domain.ObjectVersion{
		Bucket: bucket, Key: key, VersionID: vid, Size: 3, ContentMD5: "abc",
		LastModified: time.Now().UTC().Truncate(time.Millisecond),
		Tags:         map[string]string{"a.b": "c", "$d": "e"},
		UserMeta:     map[string]string{"x.y": "z"},
		Replication:  domain.NewReplicationInfo(rule, "r", true),
	}))
}

// collect reads events of the given buckets until n arrived or the
// deadline passed.
func collect(t *testing.T, cur ports.JournalCursor, n int, timeout time.Duration) []ports.JournalEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []ports.JournalEvent
	for len(out) < n {
		evs, err := cur.Next(ctx, n-len(out))
		if err != nil {
			t.Fatalf("got %d of %d events: %v", len(out), n, err)
		}
		require.LessOrEqual(t, len(evs), n-len(out), "Next returned more than max")
		out = append(out, evs...)
	}
	return out
}

// expectNone checks that no event arrives within d.
func expectNone(t *testing.T, cur ports.JournalCursor, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	evs, err := cur.Next(ctx, 100)
	require.ErrorIs(t, err, context.DeadlineExceeded, "unexpected events: %v", keys(evs))
}

func keys(evs []ports.JournalEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Bucket+"/"+strings.ReplaceAll(e.Key, "\x00", "@"))
	}
	return out
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{URI: "mongodb://h"}.Validate())
	err := Config{URI: "h", Mode: "oplog", PollMin: time.Second, PollMax: time.Millisecond, BucketRefresh: -1}.Validate()
	require.Error(t, err)
	for _, want := range []string{"uri", "mode", "pollMin", "bucketRefresh"} {
		assert.Contains(t, err.Error(), want)
	}
	c := Config{URI: "mongodb://h"}.WithDefaults()
	assert.Equal(t, ModeCollections, c.Mode)
	assert.Equal(t, "metadata", c.Database)
	assert.Equal(t, 2*time.Second, c.BucketRefresh)
}

func TestDatabasePipeline(t *testing.T) {
	p := databasePipeline()
	require.Len(t, p, 1)
	out, err := bson.MarshalExtJSON(p[0], false, false)
	require.NoError(t, err)
	assert.JSONEq(t, `{"$match":{"$or":[
		{"operationType":{"$in":["insert","update","replace"]},"ns.coll":{"$not":{"$regularExpression":{"pattern":"^__","options":""}}}},
		{"operationType":{"$in":["dropDatabase","invalidate"]}}]}}`, string(out))

	// The regular expression keeps bucket collections only.
	re := regexp.MustCompile(p[0][0].Value.(bson.D)[0].Value.(bson.A)[0].(bson.D)[1].Value.(bson.D)[0].Value.(primitive.Regex).Pattern)
	assert.True(t, re.MatchString("__metastore"))
	assert.True(t, re.MatchString("__backbeat_checkpoints"))
	assert.False(t, re.MatchString("my-bucket"))
}

func TestPositionDecode(t *testing.T) {
	p := position{V: 1, Mode: ModeCollections, Since: &clusterTime{T: 5},
		Streams: map[string]resumePoint{"b": tokenPoint(mustBSON(t, bson.D{{Key: "_data", Value: "82"}})), "c": {At: &clusterTime{T: 7, I: 2}}}}
	got, err := decodePosition(p.encode(), ModeCollections)
	require.NoError(t, err)
	assert.Equal(t, p, got)

	for name, bad := range map[string]string{
		"not json":     `xx`,
		"version":      `{"v":2,"mode":"collections"}`,
		"mode":         `{"v":1,"mode":"database"}`,
		"bad token":    `{"v":1,"mode":"collections","streams":{"b":{"token":"AAAA"}}}`,
		"bad db token": `{"v":1,"mode":"collections","db":{"token":"AAAA"}}`,
	} {
		_, err := decodePosition(ports.Position(bad), ModeCollections)
		assert.ErrorIs(t, err, domain.ErrPermanent, name)
	}
	assert.Equal(t, clusterTime{T: 3, I: 5}, *clusterTime{T: 3, I: 4}.after())
	assert.Equal(t, clusterTime{T: 4}, *clusterTime{T: 3, I: ^uint32(0)}.after())
}

func mustBSON(t *testing.T, d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	require.NoError(t, err)
	return b
}

func TestToEvent(t *testing.T) {
	doc := mustBSON(t, bson.D{
		{Key: "_id", Value: bson.D{{Key: "_data", Value: "01"}}},
		{Key: "operationType", Value: "update"},
		// mongo-java-server puts the update in documentKey.
		{Key: "documentKey", Value: bson.D{{Key: "$set", Value: bson.D{{Key: "value.x", Value: 1}}}}},
		{Key: "fullDocument", Value: bson.D{{Key: "_id", Value: "\x7fVk\x00v1"}, {Key: "value", Value: bson.D{{Key: "key", Value: "k"}, {Key: "tags", Value: bson.D{{Key: "a\uFF0Eb\uFF04", Value: "1"}}}}}}},
		{Key: "clusterTime", Value: primitive.Timestamp{T: 1700000000, I: 3}},
	})
	full, _ := doc.Lookup("fullDocument").DocumentOK()
	ev, err := toEvent("b", "v1", doc, full)
	require.NoError(t, err)
	assert.Equal(t, "k\x00v1", ev.Key)
	assert.Equal(t, "b", ev.Bucket)
	assert.JSONEq(t, `{"key":"k","tags":{"a.b$":"1"}}`, string(ev.Value))
	assert.Equal(t, time.Unix(1700000000, 0), ev.Time)

	_, err = toEvent("b", "v1", doc, mustBSON(t, bson.D{{Key: "_id", Value: "no-prefix"}, {Key: "value", Value: bson.D{}}}))
	assert.Error(t, err)
	ev, err = toEvent("b", "v0", doc, nil)
	require.NoError(t, err)
	assert.Nil(t, ev.Value, "a document deleted before the lookup yields nothing")
}

// An update that sets the whole value carries the document: no read.
func TestChangedDocumentFromTheEvent(t *testing.T) {
	value := bson.D{{Key: "key", Value: "k"}, {Key: "versionId", Value: "v1"}}
	want := mustBSON(t, bson.D{{Key: "_id", Value: "k\x00v1"}, {Key: "value", Value: value}})
	c := &cursor{} // no database: a read would panic
	for name, ev := range map[string]bson.D{
		"insert": {{Key: "operationType", Value: "insert"}, {Key: "fullDocument", Value: want}},
		"MongoDB update": {{Key: "operationType", Value: "update"},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: "k\x00v1"}}},
			{Key: "updateDescription", Value: bson.D{{Key: "updatedFields", Value: bson.D{{Key: "value", Value: value}}}}}},
		"mongo-java-server update": {{Key: "operationType", Value: "update"},
			{Key: "documentKey", Value: bson.D{{Key: "_id", Value: "k\x00v1"}}},
			{Key: "fullDocument", Value: bson.D{{Key: "_id", Value: "k\x00v1"}, {Key: "value", Value: value}}}},
	} {
		doc := mustBSON(t, ev)
		op, _ := doc.Lookup("operationType").StringValueOK()
		full, err := c.changedDocument(context.Background(), "b", op, doc)
		require.NoError(t, err, name)
		assert.Equal(t, want, full, name)
	}
}

func TestJournalDeliversWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b0, b1 := uniqueName(t, "b0"), uniqueName(t, "b1")
	f.bucket(b0, "v0")
	f.bucket(b1, "v1")
	f.put(b0, "before", "0900") // before Open: never delivered
	cur := f.open(f.journal(), nil)

	f.put(b0, "k", "0900")
	f.put(b1, "k", "0900")
	f.put(b0, "k", "0800")
	_, err := f.store.UpdateVersion(context.Background(), b1, "k", "0900", func(o *domain.ObjectVersion) error {
		_, err := o.SetSiteStatus("site-a", domain.StatusCompleted, "d", "")
		return err
	})
	require.NoError(t, err)

	evs := collect(t, cur, 8, 20*time.Second)
	byBucket := map[string][]string{}
	for _, e := range evs {
		byBucket[e.Bucket] = append(byBucket[e.Bucket], e.Key)
		assert.False(t, e.Time.IsZero())
		assert.NotEmpty(t, e.Position)
		o, err := domain.ParseObjectMD(e.Bucket, e.Value)
		require.NoError(t, err, string(e.Value))
		assert.Equal(t, map[string]string{"a.b": "c", "$d": "e"}, o.Tags, "field names are unescaped")
		assert.Equal(t, map[string]string{"x.y": "z"}, o.UserMeta)
	}
	// Commit order per bucket: version then master, per PUT.
	assert.Equal(t, []string{"k\x000900", "k", "k\x000800", "k"}, byBucket[b0])
	assert.Equal(t, []string{"k\x000900", "k", "k\x000900", "k"}, byBucket[b1])
	// The status write-back (a partial update) is delivered with the
	// document it left.
	var updated []domain.ObjectVersion
	for _, e := range evs {
		if e.Bucket == b1 && e.Key == "k\x000900" {
			o, err := domain.ParseObjectMD(b1, e.Value)
			require.NoError(t, err)
			updated = append(updated, o)
		}
	}
	require.Len(t, updated, 2)
	site, _ := updated[1].Site("site-a")
	assert.Equal(t, domain.StatusCompleted, site.Status)
	last := evs[len(evs)-1]
	if last.Bucket == b1 {
		o, err := domain.ParseObjectMD(b1, last.Value)
		require.NoError(t, err)
		assert.Equal(t, domain.StatusCompleted, o.Replication.Status)
	}
	expectNone(t, cur, 300*time.Millisecond)
}

// TestResumeSeesExactlyLaterEvents closes a cursor after saving the
// position of its last event and checks a new cursor from that position
// delivers exactly the writes made after it: none again, none lost.
func TestResumeSeesExactlyLaterEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b1, b2 := uniqueName(t, "r1"), uniqueName(t, "r2")
	f.bucket(b1, "v0")
	f.bucket(b2, "v1")
	j := f.journal()
	cur := f.open(j, nil)
	for i := range 3 {
		f.put(b1, fmt.Sprintf("a%d", i), "0900")
		f.put(b2, fmt.Sprintf("a%d", i), "0900")
	}
	evs := collect(t, cur, 12, 20*time.Second)
	saved := evs[len(evs)-1].Position
	mid := evs[5].Position
	require.NoError(t, cur.Close(context.Background()))

	for i := range 2 {
		f.put(b1, fmt.Sprintf("b%d", i), "0900")
		f.put(b2, fmt.Sprintf("b%d", i), "0900")
	}
	cur = f.open(j, saved)
	got := collect(t, cur, 8, 20*time.Second)
	for _, e := range got {
		assert.True(t, strings.HasPrefix(e.Key, "b"), "only later writes, got %q in %s", e.Key, e.Bucket)
	}
	expectNone(t, cur, 300*time.Millisecond)
	require.NoError(t, cur.Close(context.Background()))

	// From the middle: the rest of the first writes, then the later ones.
	cur = f.open(j, mid)
	rest := collect(t, cur, 6+8, 20*time.Second)
	seen := map[string]int{}
	for _, e := range rest {
		seen[e.Bucket+"/"+e.Key]++
	}
	for _, e := range evs[6:] {
		assert.Equal(t, 1, seen[e.Bucket+"/"+e.Key], "%s/%q after the middle", e.Bucket, e.Key)
	}
	expectNone(t, cur, 300*time.Millisecond)
}

// TestBucketAddedAfterOpen configures a bucket while a cursor runs and
// writes to it at once, before the next listing: no write is lost.
func TestBucketAddedAfterOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first, late := uniqueName(t, "first"), uniqueName(t, "late")
	f.bucket(first, "v0")
	j := f.journal(func(c *Config) { c.BucketRefresh = time.Second })
	cur := f.open(j, nil)
	require.NoError(t, f.store.PutBucket(context.Background(), domain.Bucket{Name: late, VFormat: "v1"}))
	f.put(late, "unreplicated", "0900") // not replicated: may or may not be seen
	f.bucket(late, "v1")
	for i := range 5 {
		f.put(late, fmt.Sprintf("k%d", i), "0900")
	}
	got := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < 10 {
		evs, err := cur.Next(ctx, 100)
		require.NoError(t, err, "got %v", got)
		for _, e := range evs {
			require.Equal(t, late, e.Bucket)
			if !strings.HasPrefix(e.Key, "unreplicated") {
				got[e.Key] = true
			}
		}
	}
	for i := range 5 {
		assert.True(t, got[fmt.Sprintf("k%d\x000900", i)])
		assert.True(t, got[fmt.Sprintf("k%d", i)])
	}

	// A bucket that loses its configuration loses its stream.
	require.NoError(t, f.store.PutBucket(context.Background(), domain.Bucket{Name: late, VFormat: "v1"}))
	deadline := time.Now().Add(10 * time.Second)
	for cur.streams[late] != nil && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, _ = cur.Next(ctx, 100)
		cancel()
	}
	assert.Nil(t, cur.streams[late], "the stream of an unreplicated bucket is closed")
	assert.NotNil(t, cur.streams[first])
}

// TestDroppedCollectionIsWatchedAgain drops a bucket's collection and
// writes to a new one of the same name.
func TestDroppedCollectionIsWatchedAgain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := uniqueName(t, "drop")
	f.bucket(b, "v0")
	cur := f.open(f.journal(), nil)
	f.put(b, "k1", "0900")
	collect(t, cur, 2, 20*time.Second)
	require.NoError(t, f.store.Database().Collection(b).Drop(context.Background()))
	f.put(b, "k2", "0900")
	evs := collect(t, cur, 2, 20*time.Second)
	assert.Equal(t, []string{b + "/k2@0900", b + "/k2"}, keys(evs))
}

// TestSurvivesConnectionLoss cuts every connection between the journal and
// the server, and refuses new ones for a while: the cursor reopens its
// streams from their last tokens and loses nothing.
func TestSurvivesConnectionLoss(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := uniqueName(t, "net")
	f.bucket(b, "v0")
	proxy := newProxy(t, strings.TrimPrefix(mongoURI(), "mongodb://"))
	var logs strings.Builder // written by the goroutine calling Next only
	j := f.journal(func(c *Config) {
		c.URI = "mongodb://" + proxy.addr() + "/?directConnection=true"
		c.Timeout = 500 * time.Millisecond
		c.ReopenMax = 300 * time.Millisecond
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	cur := f.open(j, nil)
	f.put(b, "k0", "0900")
	collect(t, cur, 2, 20*time.Second)

	proxy.setDown(true)
	for i := 1; i <= 3; i++ {
		f.put(b, fmt.Sprintf("k%d", i), "0900")
	}
	// Longer than the operation timeout: polls fail, reopening fails.
	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	evs, err := cur.Next(ctx, 100)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "no events while the server is away, got %v", keys(evs))
	assert.Contains(t, logs.String(), "reopening", "the failure was seen and handled by the cursor")
	proxy.setDown(false)
	for i := 4; i <= 5; i++ {
		f.put(b, fmt.Sprintf("k%d", i), "0900")
	}
	evs = collect(t, cur, 10, 30*time.Second)
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, fmt.Sprintf("%s/k%d@0900", b, i), fmt.Sprintf("%s/k%d", b, i))
	}
	assert.Equal(t, want, keys(evs))
	expectNone(t, cur, 300*time.Millisecond)
}

func TestCursorErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	j := f.journal()
	_, err := j.Open(context.Background(), ports.Position("garbage"))
	assert.ErrorIs(t, err, domain.ErrPermanent)
	cur := f.open(j, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = cur.Next(ctx, 10)
	assert.ErrorIs(t, err, context.Canceled)
	require.NoError(t, cur.Close(context.Background()))
	_, err = cur.Next(context.Background(), 10)
	assert.Error(t, err)
}

// TestDatabaseModeOpens checks the database mode against the server: it
// opens and reads. mongo-java-server returns no events to database-level
// streams, so delivery is checked only when the server is a real MongoDB.
func TestDatabaseModeOpens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := uniqueName(t, "dbm")
	f.bucket(b, "v1")
	j := f.journal(func(c *Config) { c.Mode = ModeDatabase })
	cur := f.open(j, nil)
	f.put(b, "k", "0900")
	_, err := f.store.Database().Collection("__other").InsertOne(context.Background(), bson.D{{Key: "_id", Value: "x"}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	evs, err := cur.Next(ctx, 10)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
		t.Logf("database mode delivered nothing in 2 s: expected on mongo-java-server (no database-level change streams)")
		return
	}
	assert.Equal(t, b, evs[0].Bucket)
	var pos position
	require.NoError(t, json.Unmarshal(evs[0].Position, &pos))
	assert.Equal(t, ModeDatabase, pos.Mode)
	assert.NotNil(t, pos.DB)
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestIdleCPU keeps a cursor with several buckets idle for 3 s and checks
// the process stays well under 10% of a core: polling backs off, it never
// spins. Not parallel: it measures the whole process.
func TestIdleCPU(t *testing.T) {
	f := newFixture(t)
	for i := range 5 {
		f.bucket(uniqueName(t, fmt.Sprintf("idle%d", i)), "v0")
	}
	cur := f.open(f.journal(), nil)
	// Let the first polls and the bucket refresh settle.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _ = cur.Next(ctx, 10)
	cancel()

	start, t0 := cpuTime(t), time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := cur.Next(ctx, 10)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	used, wall := cpuTime(t)-start, time.Since(t0)
	share := float64(used) / float64(wall)
	t.Logf("idle CPU: %s over %s with 5 streams = %.2f%% of a core", used, wall.Round(time.Millisecond), 100*share)
	fmt.Printf("MEASURE mongojournal idle CPU: %.2f%% of a core (%s CPU in %s, 5 streams, race=%v)\n", 100*share, used, wall.Round(time.Millisecond), raceEnabled)
	assert.Less(t, share, 0.10)
}

// TestThroughput measures how fast the journal delivers 5,000 inserts
// written in one bulk, and what an empty poll costs. mongo-java-server
// keeps its whole oplog in memory and scans it on each poll, so both get
// worse as the oplog grows; BACKBEAT_THROUGHPUT_ROUNDS=n repeats the
// measurement n times to show it (each round adds 5,000 oplog entries the
// server never frees, hence one round by default).
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput measurement skipped in -short mode")
	}
	rounds := 1
	if n, err := strconv.Atoi(os.Getenv("BACKBEAT_THROUGHPUT_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	f := newFixture(t)
	b := uniqueName(t, "tp")
	f.bucket(b, "v0")
	cur := f.open(f.journal(), nil)
	coll := f.store.Database().Collection(b)
	const n = 5000
	for round := range rounds {
		docs := make([]any, n)
		for i := range docs {
			id := fmt.Sprintf("r%d-k%05d\x000900", round, i)
			docs[i] = bson.D{{Key: "_id", Value: id}, {Key: "value", Value: bson.D{
				{Key: "key", Value: id[:strings.IndexByte(id, 0)]}, {Key: "versionId", Value: "0900"},
				{Key: "content-length", Value: int32(i)}, {Key: "content-md5", Value: "abc"},
				{Key: "replicationInfo", Value: bson.D{{Key: "status", Value: "PENDING"}, {Key: "backends", Value: bson.A{bson.D{{Key: "site", Value: "site-a"}, {Key: "status", Value: "PENDING"}}}}}},
			}}}
		}
		t0 := time.Now()
		_, err := coll.InsertMany(context.Background(), docs)
		require.NoError(t, err)
		written := time.Since(t0)
		evs := collect(t, cur, n, 120*time.Second)
		took := time.Since(t0)
		require.Len(t, evs, n)
		assert.Equal(t, fmt.Sprintf("r%d-k%05d\x000900", round, n-1), evs[n-1].Key, "commit order")
		rate := float64(n) / took.Seconds()
		t.Logf("round %d: bulk insert %s, %d events delivered in %s = %.0f events/s", round, written.Round(time.Millisecond), n, took.Round(time.Millisecond), rate)
		fmt.Printf("MEASURE mongojournal throughput round %d (oplog +%d entries): %d events in %s = %.0f events/s (bulk write %s, race=%v)\n",
			round, (round+1)*n, n, took.Round(time.Millisecond), rate, written.Round(time.Millisecond), raceEnabled)

		// The cost of one empty poll (a getMore that finds nothing).
		s := cur.streams[b]
		require.NotNil(t, s.cs)
		const polls = 20
		t1 := time.Now()
		for range polls {
			require.False(t, s.cs.TryNext(context.Background()))
		}
		fmt.Printf("MEASURE mongojournal empty poll after round %d: %s per getMore\n", round, (time.Since(t1) / polls).Round(10*time.Microsecond))
	}
}

// A backlog bigger than one wire message (48 MB) comes in batches:
// mongo-java-server would otherwise answer with every event at once, a
// reply the driver refuses, and the stream would never move again.
func TestBacklogLargerThanOneReply(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := uniqueName(t, "big")
	f.bucket(b, "v0")
	j := f.journal()
	cur := f.open(j, nil)
	f.put(b, "first", "0900")
	from := collect(t, cur, 2, 20*time.Second)[1].Position // the version, then its master
	require.NoError(t, cur.Close(context.Background()))

	const n, size = 2500, 20 << 10 // 50 MB of values
	pad := strings.Repeat("x", size)
	ctx := context.Background()
	for i := 0; i < n; i += 250 {
		docs := make([]any, 0, 250)
		for k := i; k < i+250; k++ {
			docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("k%05d\x000900", k)},
				{Key: "value", Value: bson.D{{Key: "key", Value: fmt.Sprintf("k%05d", k)}, {Key: "x-amz-meta-pad", Value: pad}}}})
		}
		_, err := f.store.Database().Collection(b).InsertMany(ctx, docs)
		require.NoError(t, err)
	}
	evs := collect(t, f.open(j, from), n, 60*time.Second)
	assert.Equal(t, "k00000\x000900", evs[0].Key)
	assert.Equal(t, fmt.Sprintf("k%05d\x000900", n-1), evs[n-1].Key)
}
