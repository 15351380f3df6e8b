package journaltest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Trim drops from the journal every event of bucket it holds now, as a
// capped log that rolled past them does. It may drop other buckets'
// events too.
type Trim func(t *testing.T, bucket string)

// RunHistoryLost checks the history-lost signal: a journal that dropped
// events after a position says so, naming the bucket and the time range,
// rather than skipping them, and resumes from the Resume it gives.
// newJournal is called once per case and registers its own cleanup.
func RunHistoryLost(t *testing.T, newJournal func(t *testing.T) (ports.Journal, ports.MetadataWriter, Trim)) {
	t.Helper()
	t.Run("HistoryLostIsReported", func(t *testing.T) {
		t.Parallel()
		j, w, trim := newJournal(t)
		testHistoryLost(t, j, w, trim)
	})
}

func testHistoryLost(t *testing.T, j ports.Journal, w ports.MetadataWriter, trim Trim) {
	b := newBucket(t, w, "v0")
	var ids versionIDs
	seen := []domain.ObjectVersion{newVersion(b.Name, "seen/0", ids.next()), newVersion(b.Name, "seen/1", ids.next())}
	r := newReader(t, open(t, j, nil), b.Name, 100)
	for _, v := range seen {
		put(t, w, v)
	}
	r.until("the writes before the gap", atLeastVersions(len(seen)))
	last := r.got[len(r.got)-1]
	readAt := time.Now()

	// Written while nobody reads, then dropped from the journal.
	for i := range 3 {
		put(t, w, newVersion(b.Name, "gap/"+string(rune('a'+i)), ids.next()))
	}
	trim(t, b.Name)

	hl := historyLostFrom(t, j, last.Position)
	if !slices.Contains(hl.Buckets, b.Name) {
		t.Fatalf("history lost names buckets %v, not %s, whose events were dropped", hl.Buckets, b.Name)
	}
	if !hl.From.IsZero() && hl.From.After(readAt.Add(2*time.Second)) {
		t.Fatalf("history lost From = %s, after the last event read before the gap (read by %s): writes before From would be taken as seen", hl.From, readAt)
	}
	if hl.To.Before(hl.From) {
		t.Fatalf("history lost To = %s is before From = %s", hl.To, hl.From)
	}
	if len(hl.Resume) == 0 {
		t.Fatalf("history lost has no Resume position")
	}

	// Opening from Resume works, and sees what is written after.
	resumed := newReader(t, open(t, j, hl.Resume), b.Name, 100)
	after := newVersion(b.Name, "after", ids.next())
	put(t, w, after)
	resumed.until("the write after resuming", func(evs []ports.JournalEvent) bool {
		for _, ev := range evs {
			if ev.Key == domain.VersionedKey(after.Key, after.VersionID) {
				return true
			}
		}
		return false
	})
}

// historyLostFrom opens j from pos and reads until it fails, which must
// be with a *ports.HistoryLostError (from Open or from Next).
func historyLostFrom(t *testing.T, j ports.Journal, pos ports.Position) *ports.HistoryLostError {
	t.Helper()
	var hl *ports.HistoryLostError
	cur, err := j.Open(ctxFor(t, opTimeout), pos)
	if err == nil {
		defer func() { _ = cur.Close(context.Background()) }()
		ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
		defer cancel()
		for err == nil { // events still held (other buckets) may come first
			_, err = cur.Next(ctx, 100)
		}
	}
	if !errors.As(err, &hl) || !errors.Is(err, ports.ErrHistoryLost) {
		t.Fatalf("reading from a position whose following events were dropped: err = %v, want a *ports.HistoryLostError wrapping ports.ErrHistoryLost", err)
	}
	return hl
}
