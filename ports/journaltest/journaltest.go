// Package journaltest is the contract suite of ports.Journal, run by every
// journal adapter:
//
//	journaltest.Run(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter) {
//		return newJournal(t), newWriter(t)
//	})
//
// The writer must write where the journal reads (the journal sees its
// writes). Each case writes to buckets of its own (random names, with
// versioning and a replication configuration, which a journal may require
// to watch a bucket) and only looks at events of those buckets, so it
// runs in parallel and passes on a journal shared with other writers.
//
// The suite relies on what the contract promises: versions written after
// PutBucket returned and after Open returned are seen; each PutVersion
// yields one event for the version key (`key\x00versionId`, whatever the
// bucket's key format) and possibly one for the master key (`key`); the
// events of a bucket come in commit order; Open(from) resumes just after
// the event whose Position is from.
//
// RunHistoryLost checks the history-lost signal on journals that can be
// made to drop events (a Trim, as a capped oplog rolls over): Open or
// Next from a position whose following events are gone fails with a
// *ports.HistoryLostError naming the bucket, and its Resume opens again.
package journaltest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Timeouts, generous for a real service on a slow machine.
const (
	opTimeout   = 20 * time.Second // one write or Open
	readTimeout = 30 * time.Second // until the events of some writes are read
)

// Run checks the ports.Journal contract. newJournal is called once per
// case and registers its own cleanup with t.
func Run(t *testing.T, newJournal func(t *testing.T) (ports.Journal, ports.MetadataWriter)) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, j ports.Journal, w ports.MetadataWriter)
	}{
		{"VersionEventsInOrder", testVersionEvents},
		{"OpenAtEndSkipsOlderWrites", testStartsAtEnd},
		{"ResumeAfterPosition", testResume},
		{"NextReturnsAtMostMax", testMax},
		{"NextWithCancelledContext", testCancelled},
		{"NextWithExpiringContext", testExpiring},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			j, w := newJournal(t)
			c.fn(t, j, w)
		})
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context { return shared.Context(t, d) }

func unique(prefix string) string { return shared.Unique(prefix) }

// newBucket creates a versioned bucket that replicates every key.
func newBucket(t *testing.T, w ports.MetadataWriter, vFormat string) domain.Bucket {
	t.Helper()
	b := domain.Bucket{
		Name: unique("jt"), VersioningEnabled: true, VFormat: vFormat,
		Replication: &domain.ReplicationConfig{
			Role: "arn:aws:iam::123456789012:role/backbeat-replication",
			Rules: []domain.ReplicationRule{{
				ID: "all", Enabled: true, DestinationBucket: "arn:aws:s3:::dst-bucket", StorageClass: "site-a",
			}},
		},
	}
	if err := w.PutBucket(ctxFor(t, opTimeout), b); err != nil {
		t.Fatalf("PutBucket(%q): %v", b.Name, err)
	}
	return b
}

// versionIDs hands out version ids that sort inversely to time, as
// CloudServer's do: each is smaller than the previous.
type versionIDs struct{ n int }

func (v *versionIDs) next() string {
	v.n++
	return fmt.Sprintf("%020d", 99999999999999999-v.n)
}

func newVersion(bucket, key, vid string) domain.ObjectVersion {
	return domain.ObjectVersion{
		Bucket: bucket, Key: key, VersionID: vid, MicroVersionID: unique("micro"),
		Size: 3, ContentMD5: "0123456789abcdef0123456789abcdef", ContentType: "text/plain",
		LastModified: time.Now().UTC().Truncate(time.Millisecond),
		UserMeta:     map[string]string{"n": vid},
		Tags:         map[string]string{"t.$": "x"},
		Replication: domain.ReplicationInfo{
			Status: domain.StatusPending, Content: []string{domain.ContentData, domain.ContentMetadata},
			Destination: "arn:aws:s3:::dst-bucket", StorageClass: "site-a",
			Backends: []domain.Backend{{Site: "site-a", Status: domain.StatusPending}},
		},
	}
}

func put(t *testing.T, w ports.MetadataWriter, v domain.ObjectVersion) {
	t.Helper()
	if err := w.PutVersion(ctxFor(t, opTimeout), v); err != nil {
		t.Fatalf("PutVersion(%s/%s %s): %v", v.Bucket, v.Key, v.VersionID, err)
	}
}

func open(t *testing.T, j ports.Journal, from ports.Position) ports.JournalCursor {
	t.Helper()
	cur, err := j.Open(ctxFor(t, opTimeout), from)
	if err != nil {
		t.Fatalf("Open(%x): %v", from, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := cur.Close(ctx); err != nil {
			t.Errorf("cursor Close: %v", err)
		}
	})
	return cur
}

// reader reads one cursor and keeps the events of one bucket, checking
// what every batch and event must satisfy.
type reader struct {
	t      *testing.T
	cur    ports.JournalCursor
	bucket string
	limit  int
	start  time.Time
	got    []ports.JournalEvent
}

func newReader(t *testing.T, cur ports.JournalCursor, bucket string, limit int) *reader {
	return &reader{t: t, cur: cur, bucket: bucket, limit: limit, start: time.Now()}
}

// until reads until done reports true for the bucket's events so far.
func (r *reader) until(what string, done func(evs []ports.JournalEvent) bool) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	for !done(r.got) {
		evs, err := r.cur.Next(ctx, r.limit)
		if err != nil {
			r.t.Fatalf("waiting for %s: Next: %v (read %d events of bucket %s: %s)", what, err, len(r.got), r.bucket, describe(r.got))
		}
		if len(evs) < 1 || len(evs) > r.limit {
			r.t.Fatalf("Next(max=%d) returned %d events, want between 1 and %d", r.limit, len(evs), r.limit)
		}
		for _, ev := range evs {
			if len(ev.Position) == 0 {
				r.t.Fatalf("event %s/%q has an empty Position", ev.Bucket, ev.Key)
			}
			if ev.Bucket != r.bucket {
				continue
			}
			r.check(ev)
			r.got = append(r.got, ev)
		}
	}
}

// check verifies an event's key and value agree and that Value is ObjectMD.
func (r *reader) check(ev ports.JournalEvent) {
	r.t.Helper()
	obj, err := domain.ParseObjectMD(ev.Bucket, ev.Value)
	if err != nil {
		r.t.Fatalf("event %q: Value is not ObjectMD JSON: %v\n%s", ev.Key, err, ev.Value)
	}
	key, vid, isVersion := domain.SplitVersionedKey(ev.Key)
	if key == "" || key[0] == 0x7f {
		r.t.Fatalf("event key %q is not in v0 form (key or key NUL versionId)", ev.Key)
	}
	if obj.Key != "" && obj.Key != key {
		r.t.Fatalf("event key %q holds the metadata of key %q", ev.Key, obj.Key)
	}
	if isVersion && obj.VersionID != "" && obj.VersionID != vid {
		r.t.Fatalf("event key %q holds the metadata of version %q", ev.Key, obj.VersionID)
	}
	if !ev.Time.IsZero() && (ev.Time.Before(r.start.Add(-10*time.Minute)) || ev.Time.After(time.Now().Add(10*time.Minute))) {
		r.t.Fatalf("event %q has Time %s, far from now", ev.Key, ev.Time)
	}
}

func versionEvents(evs []ports.JournalEvent) []ports.JournalEvent {
	var out []ports.JournalEvent
	for _, ev := range evs {
		if _, _, ok := domain.SplitVersionedKey(ev.Key); ok {
			out = append(out, ev)
		}
	}
	return out
}

func atLeastVersions(n int) func([]ports.JournalEvent) bool {
	return func(evs []ports.JournalEvent) bool { return len(versionEvents(evs)) >= n }
}

func describe(evs []ports.JournalEvent) string {
	s := "["
	for i, ev := range evs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%q", ev.Key)
	}
	return s + "]"
}

// wantWrites checks that the version events are exactly the writes, in
// order, each carrying the metadata written.
func wantWrites(t *testing.T, evs []ports.JournalEvent, writes []domain.ObjectVersion) {
	t.Helper()
	vers := versionEvents(evs)
	if len(vers) != len(writes) {
		t.Fatalf("got %d version events %s, want %d (one per PutVersion)", len(vers), describe(vers), len(writes))
	}
	for i, w := range writes {
		ev := vers[i]
		if want := domain.VersionedKey(w.Key, w.VersionID); ev.Key != want {
			t.Fatalf("version event #%d has key %q, want %q: events out of commit order: %s", i, ev.Key, want, describe(vers))
		}
		obj, _ := domain.ParseObjectMD(ev.Bucket, ev.Value)
		if obj.MicroVersionID != w.MicroVersionID || obj.Tags["t.$"] != "x" || obj.UserMeta["n"] != w.VersionID {
			t.Fatalf("version event #%d (%q) carries %+v, want the metadata written (microVersionId %q, tags, user metadata unescaped)", i, ev.Key, obj, w.MicroVersionID)
		}
	}
	for _, ev := range evs {
		if _, _, isVersion := domain.SplitVersionedKey(ev.Key); isVersion {
			continue
		}
		obj, _ := domain.ParseObjectMD(ev.Bucket, ev.Value)
		found := false
		for _, w := range writes {
			found = found || (w.Key == ev.Key && (obj.VersionID == "" || obj.VersionID == w.VersionID))
		}
		if !found {
			t.Fatalf("master event %q holds version %q, which was not written to that key", ev.Key, obj.VersionID)
		}
	}
}

func testVersionEvents(t *testing.T, j ports.Journal, w ports.MetadataWriter) {
	for _, vFormat := range []string{"v0", "v1"} {
		t.Run(vFormat, func(t *testing.T) {
			t.Parallel()
			b := newBucket(t, w, vFormat)
			cur := open(t, j, nil)
			var ids versionIDs
			k1a := newVersion(b.Name, "dir/k1", ids.next())
			k1b := newVersion(b.Name, "dir/k1", ids.next()) // a newer version of k1
			k2 := newVersion(b.Name, "k2 with spaces", ids.next())
			k1aAgain := k1a // the same version written again (a metadata update)
			k1aAgain.MicroVersionID = unique("micro")
			writes := []domain.ObjectVersion{k1a, k1b, k2, k1aAgain}
			for _, v := range writes {
				put(t, w, v)
			}
			r := newReader(t, cur, b.Name, 100)
			r.until("one version event per write", atLeastVersions(len(writes)))
			wantWrites(t, r.got, writes)
		})
	}
}

func testStartsAtEnd(t *testing.T, j ports.Journal, w ports.MetadataWriter) {
	b := newBucket(t, w, "v0")
	var ids versionIDs
	before := newVersion(b.Name, "before-open", ids.next())
	put(t, w, before)
	cur := open(t, j, nil)
	after := newVersion(b.Name, "after-open", ids.next())
	put(t, w, after)
	r := newReader(t, cur, b.Name, 100)
	r.until("the write made after Open", atLeastVersions(1))
	for _, ev := range r.got {
		if k, _, _ := domain.SplitVersionedKey(ev.Key); k == before.Key {
			t.Fatalf("Open(nil) returned event %q of a write made before Open: it must start at the journal's end", ev.Key)
		}
	}
	wantWrites(t, r.got, []domain.ObjectVersion{after})
}

func testResume(t *testing.T, j ports.Journal, w ports.MetadataWriter) {
	b := newBucket(t, w, "v0")
	cur := open(t, j, nil)
	var ids versionIDs
	var writes []domain.ObjectVersion
	for i := range 6 {
		v := newVersion(b.Name, fmt.Sprintf("resume/%d", i%3), ids.next())
		writes = append(writes, v)
		put(t, w, v)
	}
	r := newReader(t, cur, b.Name, 100)
	r.until("the first read of six writes", atLeastVersions(len(writes)))
	all := r.got
	wantWrites(t, all, writes)

	// Resume after the third version event: the rest comes again, exactly.
	pivot, seen := -1, 0
	for i, ev := range all {
		if _, _, ok := domain.SplitVersionedKey(ev.Key); ok {
			if seen++; seen == 3 {
				pivot = i
				break
			}
		}
	}
	tail := all[pivot+1:]
	resumed := newReader(t, open(t, j, all[pivot].Position), b.Name, 100)
	resumed.until("the events after the resume position", func(evs []ports.JournalEvent) bool { return len(evs) >= len(tail) })
	if len(resumed.got) != len(tail) {
		t.Fatalf("resuming after event #%d gave %d events %s, want the %d after it %s", pivot, len(resumed.got), describe(resumed.got), len(tail), describe(tail))
	}
	for i := range tail {
		if resumed.got[i].Key != tail[i].Key || string(resumed.got[i].Value) != string(tail[i].Value) {
			t.Fatalf("resumed event #%d is %q, want %q: a repeat or a gap\n got  %s\n want %s", i, resumed.got[i].Key, tail[i].Key, describe(resumed.got), describe(tail))
		}
	}

	// Resuming after the last event returns only what is written later.
	last := newReader(t, open(t, j, all[len(all)-1].Position), b.Name, 100)
	later := newVersion(b.Name, "resume/later", ids.next())
	put(t, w, later)
	last.until("the write after the last event", atLeastVersions(1))
	if first := last.got[0]; first.Key != domain.VersionedKey(later.Key, later.VersionID) {
		t.Fatalf("resuming after the last event first returned %q, want the later write's version %q (events: %s)", first.Key, domain.VersionedKey(later.Key, later.VersionID), describe(last.got))
	}
	wantWrites(t, last.got, []domain.ObjectVersion{later})
}

func testMax(t *testing.T, j ports.Journal, w ports.MetadataWriter) {
	for _, limit := range []int{1, 2} {
		t.Run(fmt.Sprint("max=", limit), func(t *testing.T) {
			t.Parallel()
			b := newBucket(t, w, "v0")
			cur := open(t, j, nil)
			var ids versionIDs
			var writes []domain.ObjectVersion
			for i := range 7 {
				v := newVersion(b.Name, fmt.Sprintf("max/%d", i), ids.next())
				writes = append(writes, v)
				put(t, w, v)
			}
			r := newReader(t, cur, b.Name, limit) // the reader fails on a batch over limit
			r.until("seven writes", atLeastVersions(len(writes)))
			wantWrites(t, r.got, writes)
		})
	}
}

func testCancelled(t *testing.T, j ports.Journal, _ ports.MetadataWriter) {
	// A journal shared with other writers may have events to return: try
	// again on a fresh cursor until Next answers with the context's error.
	giveUp := time.Now().Add(readTimeout)
	for {
		cur := open(t, j, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		evs, err := cur.Next(ctx, 10)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Next with a cancelled context took %s, want prompt", d)
		}
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Next with a cancelled context: err = %v, want one wrapping context.Canceled", err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatalf("Next returned no events and no error")
		}
		if time.Now().After(giveUp) {
			t.Fatalf("Next with a cancelled context kept returning events (last batch %s)", describe(evs))
		}
	}
}

func testExpiring(t *testing.T, j ports.Journal, w ports.MetadataWriter) {
	// A journal shared with other writers may have events to return: try
	// again on a fresh cursor until a wait runs into its deadline.
	const wait = 300 * time.Millisecond
	giveUp := time.Now().Add(readTimeout)
	for {
		cur := open(t, j, nil)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		start := time.Now()
		evs, err := cur.Next(ctx, 10)
		took := time.Since(start)
		cancel()
		if took > wait+10*time.Second {
			t.Fatalf("Next with a %s deadline returned after %s", wait, took)
		}
		if err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Next with an expiring context: err = %v, want one wrapping context.DeadlineExceeded", err)
			}
			if took < wait/2 {
				t.Fatalf("Next returned the deadline error after %s, before the %s deadline", took, wait)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatalf("Next returned no events and no error")
		}
		if time.Now().After(giveUp) {
			t.Fatalf("Next never waited for its deadline: the journal always had events (last batch %s)", describe(evs))
		}
	}
}
