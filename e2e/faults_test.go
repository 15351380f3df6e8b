package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Scenario 2: SIGKILL every role (populator, replicators, status applier,
// API) at random points during load, restart each at once: nothing is
// lost, nothing is copied twice, order per key holds, and the API answers
// again.
func TestKillRolesDuringLoad(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	r := e.StartRoles()
	ctx := context.Background()
	buckets := []domain.Bucket{e.Bucket("kill-0"), e.Bucket("kill-1")}
	killsPerRole := pick(3, 10)
	victims := []*Proc{r.Populator, r.Replicators["site-a"], r.Status, r.API}
	if full() {
		victims = append(victims, r.Replicators["site-b"])
	}
	var plan []*Proc
	for _, p := range victims {
		for range killsPerRole {
			plan = append(plan, p)
		}
	}
	mrand.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })

	n, rate := pick(300, 5000), pick(25.0, 100.0)
	loadTime := time.Duration(float64(n) / rate * float64(time.Second))
	var loading atomic.Bool
	loading.Store(true)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // loaders end before the roles stop, even on failure
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer loading.Store(false)
		e.load(ctx, buckets, n, 512, rate)
	}()
	// Spread the kills over the load and a little after it, while the
	// backlog drains: random gaps averaging loadTime/len(plan).
	gap := loadTime / time.Duration(len(plan))
	start := time.Now()
	kills := map[string]int{}
	for _, p := range plan {
		time.Sleep(time.Duration(mrand.Int64N(int64(2 * gap))))
		p.Kill()
		kills[p.Name]++
		time.Sleep(time.Duration(mrand.Int64N(int64(300 * time.Millisecond))))
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	t.Logf("%d kills in %s (%v), load of %d versions done: %v", len(plan), time.Since(start).Round(time.Millisecond), kills, len(e.Ledger.All()), !loading.Load())
	e.WaitDone(e.Ledger.All(), pick(3*time.Minute, 10*time.Minute))
	e.Verify()
	// The API was restarted after its last kill: it answers again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := e.API.Status(ctx, "all")
		if err == nil && st["site-a"] == "enabled" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the API after %d kills: status %v, %v", kills[r.API.Name], st, err)
			break
		}
	}
}

// Scenario 6: overwrites racing replication. Two keys written 20 times
// each as fast as possible: every version reaches each site, in order, and
// no status write puts an older version back over the latest.
func TestOverwritesRacingReplication(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("overwrite")
	for i := range 20 {
		for _, key := range []string{"hot/key", "hot/other key"} {
			e.Put(ctx, b, key, []byte(fmt.Sprintf("%s version %d %s", key, i, randomHex(8))), true)
		}
	}
	e.WaitDone(e.Ledger.All(), time.Minute)
	rep := e.Verify()
	if rep.Written != 40 {
		t.Fatalf("wrote %d versions, want 40", rep.Written)
	}
}

// Scenario 7: pause a site during load through the API: consumption stops
// within about a second on every replicator process of the site while the
// other site goes on; a scheduled resume fires at its time, not before, and
// the site catches up with nothing lost.
func TestPauseResumeSite(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	e.StartRoles()
	e.Start("replicator-site-a-2", "replicator", "--site", "site-a") // a second process for the paused site
	ctx := context.Background()
	b := e.Bucket("pause")
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // loaders end before the roles stop, even on failure
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.load(ctx, []domain.Bucket{b}, pick(200, 2000), 512, pick(25.0, 100.0))
	}()
	time.Sleep(2 * time.Second) // let replication run under load first
	// Watched at the destinations, not through statuses: status write-back
	// trails the copies by seconds when the MongoDB stand-in is busy.
	count := func(site string) int {
		n, err := e.Sites[site].ReplicaReader().CountVersions(ctx, b.Name+"-replica")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := e.API.Pause(ctx, "site-a"); err != nil {
		t.Fatalf("pause site-a: %v", err)
	}
	paused := time.Now()
	// Copies in flight when the pause lands finish; then site-a's count
	// must stop moving.
	a1, still := count("site-a"), time.Now()
	for time.Since(still) < time.Second {
		if time.Since(paused) > 10*time.Second {
			t.Fatalf("site-a still written to %s after the pause (%d versions)", time.Since(paused).Round(time.Millisecond), a1)
		}
		time.Sleep(100 * time.Millisecond)
		if a := count("site-a"); a != a1 {
			a1, still = a, time.Now()
		}
	}
	frozen := still.Sub(paused)
	// The pause reaches both site-a processes within a second; copies in
	// flight then (objects of 512 bytes) take well under another.
	if frozen > 2*time.Second {
		t.Errorf("site-a was still written to %s after the pause", frozen.Round(time.Millisecond))
	}
	b1, w1 := count("site-b"), len(e.Ledger.All())
	for watch := time.Now(); time.Since(watch) < 3*time.Second; {
		time.Sleep(250 * time.Millisecond)
		if a := count("site-a"); a != a1 {
			t.Fatalf("site-a paused for %s: its versions went from %d to %d", time.Since(paused).Round(time.Millisecond), a1, a)
		}
	}
	b2, written := count("site-b"), len(e.Ledger.All())
	t.Logf("site-a paused: last write %s after the pause, %d versions frozen for 3 s while site-b went from %d to %d, written %d -> %d",
		frozen.Round(time.Millisecond), a1, b1, b2, w1, written)
	if written > b1 && b2 <= b1 {
		t.Errorf("site-b made no progress while site-a was paused (%d -> %d, %d written)", b1, b2, written)
	}
	if a1 >= written {
		t.Errorf("nothing was left waiting for site-a (%d of %d replicated): the pause was not exercised", a1, written)
	}
	// A scheduled resume: site-a stays paused until the time, then catches up.
	at := time.Now().Add(2 * time.Second)
	if err := e.API.ScheduleResumeAt(ctx, "site-a", at); err != nil {
		t.Fatalf("schedule the resume of site-a: %v", err)
	}
	for {
		if a := count("site-a"); a != a1 {
			if early := time.Until(at); early > 0 {
				t.Errorf("site-a written %s before its scheduled resume (%d -> %d versions)", early.Round(time.Millisecond), a1, a)
			}
			t.Logf("site-a written again %s after its scheduled resume time", time.Since(at).Round(time.Millisecond))
			break
		}
		if time.Since(at) > 10*time.Second {
			t.Fatalf("site-a not written 10 s after its scheduled resume (%d versions)", a1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, err := e.API.Status(ctx, "site-a"); err != nil || st["site-a"] != "enabled" {
		t.Errorf("after the scheduled resume, status %v (%v); want site-a enabled", st, err)
	}
	wg.Wait()
	e.WaitDone(e.Ledger.All(), 2*time.Minute)
	e.Verify()
}

// Scenario 8: poison. Malformed entries on the entries topic and a
// metadata document with a wrong-typed field each end in the dead-letter
// topic with a reason; the entries written after them replicate and no
// process dies.
func TestPoisonInput(t *testing.T) {
	parallel(t)
	e := newEnv(t)
	r := e.StartRoles()
	ctx := context.Background()
	b := e.Bucket("poison")

	poison := map[string]string{
		"poison-not-json":     "this is not JSON",
		"poison-empty-object": `{}`,
		"poison-bad-value":    `{"schemaVersion":1,"type":"put","bucket":"b","key":"k\u0000v1","value":"{not json"}`,
		"poison-future":       `{"schemaVersion":99,"type":"put","bucket":"b","key":"k\u0000v1","value":"{}"}`,
		"poison-binary":       "\x00\xff\xfe garbage \x01",
	}
	var msgs []ports.Message
	for k, v := range poison {
		msgs = append(msgs, ports.Message{Key: k, Payload: []byte(v)})
	}
	if err := e.Publisher().Publish(ctx, e.Topics.Entries, msgs...); err != nil {
		t.Fatalf("publish poison: %v", err)
	}

	// A version document CloudServer would never write: content-length is a string.
	v := domain.ObjectVersion{Bucket: b.Name, Key: "bad-doc", VersionID: "01ZZZZZZZZZZZZZZZZZZZZZZZZ", MicroVersionID: "bad",
		Size: 12, ContentType: "text/plain", LastModified: time.Now().UTC()}
	rule, _ := b.RuleFor(v.Key)
	v.Replication = domain.NewReplicationInfo(rule, b.Replication.Role, true)
	md, err := domain.MarshalObjectMD(v)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(md, &doc); err != nil {
		t.Fatal(err)
	}
	doc["content-length"] = "twelve"
	if _, err := e.Meta.Database().Collection(b.Name).InsertOne(ctx, bson.M{"_id": domain.VersionedKey(v.Key, v.VersionID), "value": doc}); err != nil {
		t.Fatalf("insert bad document: %v", err)
	}

	// Buckets that ask for replication in a form that cannot be served: a
	// configuration that fails validation (the role is no ARN) and one that
	// cannot be read at all. Their versions must end FAILED with the reason.
	rc := bson.M{"role": "arn:aws:iam::000000000000:role/backbeat-e2e", "destination": "arn:aws:s3:::" + e.Run + "-nowhere",
		"rules": bson.A{bson.M{"id": "r", "prefix": "", "enabled": true, "storageClass": "site-a"}}}
	invalidRC := bson.M{"role": "admin", "destination": rc["destination"], "rules": rc["rules"]}
	unreadableRC := bson.M{"role": rc["role"], "destination": rc["destination"], "rules": "not a list"}
	badBuckets := map[string]struct {
		rc     bson.M
		reason string
	}{
		e.Run + "-invalid-config":    {invalidRC, "invalid replication configuration: Role"},
		e.Run + "-unreadable-config": {unreadableRC, "cannot unmarshal"},
	}
	badVersions := map[string]string{} // bucket -> version id
	for name, bb := range badBuckets {
		if _, err := e.Meta.Database().Collection("__metastore").InsertOne(ctx, bson.M{"_id": name, "vFormat": "v0",
			"value": bson.M{"name": name, "versioningConfiguration": bson.M{"Status": "Enabled"}, "replicationConfiguration": bb.rc}}); err != nil {
			t.Fatalf("insert bucket %s: %v", name, err)
		}
		bv := domain.ObjectVersion{Bucket: name, Key: "k", VersionID: "01ZZZZZZZZZZZZZZZZZZZZZZZY", MicroVersionID: "m",
			Size: 1, ContentType: "text/plain", LastModified: time.Now().UTC()}
		bv.Replication = domain.NewReplicationInfo(domain.ReplicationRule{ID: "r", Enabled: true,
			DestinationBucket: rc["destination"].(string), StorageClass: "site-a"}, rc["role"].(string), true)
		md, err := domain.MarshalObjectMD(bv)
		if err != nil {
			t.Fatal(err)
		}
		var value map[string]any
		if err := json.Unmarshal(md, &value); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Meta.Database().Collection(name).InsertOne(ctx, bson.M{"_id": domain.VersionedKey(bv.Key, bv.VersionID), "value": value}); err != nil {
			t.Fatalf("insert version in %s: %v", name, err)
		}
		badVersions[name] = bv.VersionID
	}

	for i := range 20 {
		e.Put(ctx, b, fmt.Sprintf("after-poison-%02d", i), []byte(randomHex(64)), true)
	}
	e.WaitDone(e.Ledger.All(), time.Minute)
	e.Verify()

	for name, bb := range badBuckets {
		deadline := time.Now().Add(time.Minute)
		for {
			cur, err := e.Meta.Version(ctx, name, "k", badVersions[name])
			s, _ := cur.Site("site-a")
			if err == nil && s.Status == domain.StatusFailed {
				if !strings.Contains(s.Reason, bb.reason) {
					t.Errorf("%s: site-a FAILED with reason %q, want it to say %q", name, s.Reason, bb.reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: version never FAILED at site-a: %+v (%v)", name, s, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	badKey := domain.OrderingKey(b.Name, v.Key)
	missing := func(got []app.DeadLetter) []string {
		var miss []string
		for k := range poison {
			if !slices.ContainsFunc(got, func(d app.DeadLetter) bool {
				return d.Key == k && d.Source == e.Topics.Entries && d.Reason != ""
			}) {
				miss = append(miss, k)
			}
		}
		if !slices.ContainsFunc(got, func(d app.DeadLetter) bool {
			// The populator keys a journal dead letter by bucket/key plus the
			// version, as the event named it.
			return strings.HasPrefix(d.Key, badKey) && d.Source == "journal" && strings.Contains(d.Reason, "content-length")
		}) {
			miss = append(miss, "journal document "+badKey)
		}
		for name, bb := range badBuckets {
			if !slices.ContainsFunc(got, func(d app.DeadLetter) bool {
				return strings.HasPrefix(d.Key, domain.OrderingKey(name, "k")) && d.Source == "journal" && strings.Contains(d.Reason, bb.reason)
			}) {
				miss = append(miss, "bucket "+name)
			}
		}
		return miss
	}
	got := e.DeadLetters(time.Minute, func(got []app.DeadLetter) bool { return len(missing(got)) == 0 })
	for _, d := range got {
		t.Logf("dead letter: source=%s key=%q reason=%q", d.Source, d.Key, d.Reason)
	}
	if miss := missing(got); len(miss) > 0 {
		t.Errorf("no dead letter with a reason for %v", miss)
	}
	for _, p := range append([]*Proc{r.Populator, r.Status, r.API}, r.Replicators["site-a"], r.Replicators["site-b"]) {
		if p.Exited() {
			t.Errorf("%s exited on poison input", p.Name)
		}
	}
}
