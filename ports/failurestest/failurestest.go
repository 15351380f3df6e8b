// Package failurestest is the contract suite of ports.FailureStore and
// ports.Locker, run by every adapter of those ports:
//
//	failurestest.Run(t, func(t *testing.T) ports.FailureStore { return newStore(t) })
//	failurestest.RunLocker(t, func(t *testing.T) ports.Locker { return newLocker(t) })
//
// Each case uses sites, buckets and lock names of its own (random names)
// and runs in parallel, so adapters sharing one server pass too.
package failurestest

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// timeout bounds each case: generous for a real service on a slow machine.
const timeout = 60 * time.Second

func ctxFor(t *testing.T) context.Context { return shared.Context(t, timeout) }

func unique(prefix string) string { return shared.Unique(prefix) }

// Run checks the ports.FailureStore contract. newStore is called once per
// case and registers its own cleanup with t. Entries are at most 23 hours
// old: a store keeps them 24 hours.
func Run(t *testing.T, newStore func(t *testing.T) ports.FailureStore) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.FailureStore]{
		{Name: "ListNewestFirstWithPages", Fn: testPagination},
		{Name: "ListFromMarker", Fn: testMarker},
		{Name: "FindAcrossSites", Fn: testFind},
		{Name: "RemoveReports", Fn: testRemove},
		{Name: "AddAgainUpdatesTime", Fn: testReAdd},
		{Name: "SitesAreIndependent", Fn: testSitesIndependent},
		{Name: "ConcurrentAdds", Fn: testConcurrentAdds},
	})
}

// ms is a time at millisecond precision, in UTC.
func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func add(t *testing.T, s ports.FailureStore, e ports.FailedEntry) {
	t.Helper()
	if err := s.Add(ctxFor(t), e); err != nil {
		t.Fatalf("Add(%+v): %v", e, err)
	}
}

func list(t *testing.T, s ports.FailureStore, site string, marker int64, limit int) ports.FailurePage {
	t.Helper()
	p, err := s.List(ctxFor(t), site, marker, limit)
	if err != nil {
		t.Fatalf("List(%s, marker %d, limit %d): %v", site, marker, limit, err)
	}
	if len(p.Entries) > limit {
		t.Fatalf("List(limit %d) returned %d entries", limit, len(p.Entries))
	}
	for i := 1; i < len(p.Entries); i++ {
		if p.Entries[i].FailedAt.After(p.Entries[i-1].FailedAt) {
			t.Fatalf("List returned %s before %s: want newest first", p.Entries[i-1].FailedAt, p.Entries[i].FailedAt)
		}
	}
	return p
}

// listAll walks every page of site.
func listAll(t *testing.T, s ports.FailureStore, site string, limit int) []ports.FailedEntry {
	t.Helper()
	var all []ports.FailedEntry
	marker := int64(0)
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("List of %s never stopped being truncated", site)
		}
		p := list(t, s, site, marker, limit)
		if len(all) > 0 && len(p.Entries) > 0 && p.Entries[0].FailedAt.After(all[len(all)-1].FailedAt) {
			t.Fatalf("page %d starts at %s, newer than the previous page's last %s", page, p.Entries[0].FailedAt, all[len(all)-1].FailedAt)
		}
		all = append(all, p.Entries...)
		if !p.Truncated {
			return all
		}
		if len(p.Entries) == 0 {
			t.Fatalf("List returned an empty page marked truncated (marker %d)", marker)
		}
		if p.NextMarker <= 0 || (marker != 0 && p.NextMarker > marker) {
			t.Fatalf("List(marker %d) returned NextMarker %d: want a positive marker that does not go back in time", marker, p.NextMarker)
		}
		marker = p.NextMarker
	}
}

type entryID struct{ site, bucket, key, vid string }

func idOf(e ports.FailedEntry) entryID { return entryID{e.Site, e.Bucket, e.Key, e.VersionID} }

// wantEntries checks that got holds exactly want (same times at ms
// precision), with no entry repeated.
func wantEntries(t *testing.T, what string, got, want []ports.FailedEntry) {
	t.Helper()
	wantBy := map[entryID]time.Time{}
	for _, e := range want {
		wantBy[idOf(e)] = ms(e.FailedAt)
	}
	seen := map[entryID]bool{}
	for _, e := range got {
		id := idOf(e)
		if seen[id] {
			t.Fatalf("%s: entry %+v listed twice", what, id)
		}
		seen[id] = true
		at, ok := wantBy[id]
		if !ok {
			t.Fatalf("%s: unexpected entry %+v", what, e)
		}
		if !ms(e.FailedAt).Equal(at) {
			t.Fatalf("%s: entry %+v failed at %s, want %s", what, id, ms(e.FailedAt), at)
		}
	}
	if len(seen) != len(wantBy) {
		var missing []entryID
		for id := range wantBy {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		t.Fatalf("%s: %d of %d entries listed; missing %d, e.g. %+v", what, len(seen), len(wantBy), len(missing), missing[0])
	}
}

// spread makes n entries of site failed over the last 23 hours, newest
// first, each at its own millisecond.
func spread(site, bucket string, n int) []ports.FailedEntry {
	now := ms(time.Now())
	step := 23 * time.Hour / time.Duration(n)
	out := make([]ports.FailedEntry, n)
	for i := range out {
		out[i] = ports.FailedEntry{
			Site: site, Bucket: bucket, Key: fmt.Sprintf("dir/key:%03d with spaces", i),
			VersionID: fmt.Sprintf("%020d", 90000000000000+i), FailedAt: ms(now.Add(-time.Minute - time.Duration(i)*step)),
		}
	}
	return out
}

func testPagination(t *testing.T, s ports.FailureStore) {
	site, bucket := unique("site"), unique("bucket")
	entries := spread(site, bucket, 260)
	// Added in shuffled order: the store sorts.
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	for i := len(order) - 1; i > 0; i-- {
		var b [1]byte
		_, _ = rand.Read(b[:])
		j := int(b[0]) % (i + 1)
		order[i], order[j] = order[j], order[i]
	}
	for _, i := range order {
		add(t, s, entries[i])
	}
	for _, limit := range []int{100, 7, 1000} {
		all := listAll(t, s, site, limit)
		wantEntries(t, fmt.Sprintf("all pages of limit %d", limit), all, entries)
		for i := range all {
			if !all[i].FailedAt.Equal(entries[i].FailedAt) {
				t.Fatalf("limit %d: entry #%d failed at %s, want %s: not newest first", limit, i, all[i].FailedAt, entries[i].FailedAt)
			}
		}
	}
	first := list(t, s, site, 0, 100)
	if len(first.Entries) == 0 || !first.Truncated {
		t.Fatalf("first page of 260 entries with limit 100: %d entries, truncated %v; want some, truncated", len(first.Entries), first.Truncated)
	}
	if got, want := idOf(first.Entries[0]), idOf(entries[0]); got != want {
		t.Fatalf("first entry listed is %+v, want the newest %+v", got, want)
	}
}

func testMarker(t *testing.T, s ports.FailureStore) {
	site := unique("site")
	entries := spread(site, unique("bucket"), 20)
	for _, e := range entries {
		add(t, s, e)
	}
	// At or before the marker: the entry failed exactly at it is included.
	p := list(t, s, site, entries[5].FailedAt.UnixMilli(), 100)
	wantEntries(t, "entries at or before the 6th newest", p.Entries, entries[5:])
	if p.Truncated {
		t.Fatalf("a listing holding everything left is marked truncated")
	}
	p = list(t, s, site, entries[19].FailedAt.UnixMilli()-1, 100)
	if len(p.Entries) != 0 {
		t.Fatalf("List before the oldest entry returned %d entries", len(p.Entries))
	}
}

func testFind(t *testing.T, s ports.FailureStore) {
	siteA, siteB := unique("site-a"), unique("site-b")
	bucket := unique("bucket")
	now := ms(time.Now())
	inA := ports.FailedEntry{Site: siteA, Bucket: bucket, Key: "a/b:c d", VersionID: "v1", FailedAt: now.Add(-time.Hour)}
	inB := inA
	inB.Site, inB.FailedAt = siteB, now.Add(-2*time.Hour)
	otherVersion := inA
	otherVersion.VersionID = "v2"
	otherKey := inA
	otherKey.Key = "a/b:c"
	for _, e := range []ports.FailedEntry{inA, inB, otherVersion, otherKey} {
		add(t, s, e)
	}
	got, err := s.Find(ctxFor(t), bucket, inA.Key, inA.VersionID)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	wantEntries(t, "Find of a version failed at two sites", got, []ports.FailedEntry{inA, inB})
	none, err := s.Find(ctxFor(t), bucket, inA.Key, "never-failed")
	if err != nil {
		t.Fatalf("Find of a version never failed: %v", err)
	}
	if len(none) != 0 {
		t.Fatalf("Find of a version never failed returned %+v", none)
	}
}

func testRemove(t *testing.T, s ports.FailureStore) {
	site := unique("site")
	entries := spread(site, unique("bucket"), 3)
	for _, e := range entries {
		add(t, s, e)
	}
	// Remove names the entry; its time does not matter.
	gone := entries[1]
	gone.FailedAt = time.Time{}
	removed, err := s.Remove(ctxFor(t), gone)
	if err != nil || !removed {
		t.Fatalf("Remove of a listed entry = %v, %v; want true, nil", removed, err)
	}
	removed, err = s.Remove(ctxFor(t), gone)
	if err != nil || removed {
		t.Fatalf("Remove of an entry already removed = %v, %v; want false, nil", removed, err)
	}
	wantEntries(t, "the listing after Remove", listAll(t, s, site, 100), []ports.FailedEntry{entries[0], entries[2]})
	found, err := s.Find(ctxFor(t), gone.Bucket, gone.Key, gone.VersionID)
	if err != nil || len(found) != 0 {
		t.Fatalf("Find after Remove = %+v, %v; want nothing", found, err)
	}
	never := entries[0]
	never.Site = unique("other-site")
	if removed, err := s.Remove(ctxFor(t), never); err != nil || removed {
		t.Fatalf("Remove of an entry never added = %v, %v; want false, nil", removed, err)
	}
}

func testReAdd(t *testing.T, s ports.FailureStore) {
	site := unique("site")
	entries := spread(site, unique("bucket"), 3)
	for _, e := range entries {
		add(t, s, e)
	}
	again := entries[2] // the oldest fails again, now
	again.FailedAt = ms(time.Now())
	add(t, s, again)
	all := listAll(t, s, site, 100)
	wantEntries(t, "the listing after adding an entry again", all, []ports.FailedEntry{again, entries[0], entries[1]})
	if idOf(all[0]) != idOf(again) {
		t.Fatalf("the entry added again is listed at #%d, want first (newest)", slices.IndexFunc(all, func(e ports.FailedEntry) bool { return idOf(e) == idOf(again) }))
	}
	found, err := s.Find(ctxFor(t), again.Bucket, again.Key, again.VersionID)
	if err != nil {
		t.Fatalf("Find: %v", err)
	}
	wantEntries(t, "Find of the entry added again", found, []ports.FailedEntry{again})
}

func testSitesIndependent(t *testing.T, s ports.FailureStore) {
	siteA, siteB, siteC := unique("site"), unique("site"), unique("site")
	bucket := unique("bucket")
	a := spread(siteA, bucket, 5)
	b := spread(siteB, bucket, 3) // the same bucket, keys and versions
	for _, e := range append(slices.Clone(a), b...) {
		add(t, s, e)
	}
	wantEntries(t, "site A", listAll(t, s, siteA, 100), a)
	wantEntries(t, "site B", listAll(t, s, siteB, 100), b)
	if p := list(t, s, siteC, 0, 100); len(p.Entries) != 0 || p.Truncated {
		t.Fatalf("a site with no failures lists %d entries (truncated %v)", len(p.Entries), p.Truncated)
	}
	if removed, err := s.Remove(ctxFor(t), b[0]); err != nil || !removed {
		t.Fatalf("Remove from site B = %v, %v", removed, err)
	}
	wantEntries(t, "site A after a removal from site B", listAll(t, s, siteA, 100), a)
}

func testConcurrentAdds(t *testing.T, s ports.FailureStore) {
	site := unique("site")
	entries := spread(site, unique("bucket"), 60)
	var wg sync.WaitGroup
	errs := make(chan error, len(entries))
	ctx := ctxFor(t)
	for _, e := range entries {
		wg.Go(func() {
			if err := s.Add(ctx, e); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Add: %v", err)
	}
	wantEntries(t, "entries added concurrently", listAll(t, s, site, 25), entries)
}

// RunLocker checks the ports.Locker contract. newLocker is called once per
// case and registers its own cleanup with t.
func RunLocker(t *testing.T, newLocker func(t *testing.T) ports.Locker) {
	t.Helper()
	shared.Run(t, newLocker, []shared.Case[ports.Locker]{
		{Name: "HeldLockRefused", Fn: testHeld},
		{Name: "ReleaseFrees", Fn: testRelease},
		{Name: "ExpiryFrees", Fn: testExpiry},
		{Name: "StaleReleaseKeepsNewHolder", Fn: testStaleRelease},
		{Name: "OneWinnerAmongMany", Fn: testOneWinner},
	})
}

func tryLock(t *testing.T, l ports.Locker, name string, ttl time.Duration) (func(), bool) {
	t.Helper()
	release, ok, err := l.TryLock(ctxFor(t), name, ttl)
	if err != nil {
		t.Fatalf("TryLock(%q): %v", name, err)
	}
	if ok && release == nil {
		t.Fatalf("TryLock(%q) succeeded with a nil release", name)
	}
	return release, ok
}

// waitFor polls TryLock until it succeeds, for up to 20 s.
func waitFor(t *testing.T, l ports.Locker, name string, ttl time.Duration) func() {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if release, ok := tryLock(t, l, name, ttl); ok {
			return release
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %q still held 20 s later", name)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func testHeld(t *testing.T, l ports.Locker) {
	name := unique("lock")
	release, ok := tryLock(t, l, name, time.Minute)
	if !ok {
		t.Fatalf("TryLock of a free lock failed")
	}
	defer release()
	if _, ok := tryLock(t, l, name, time.Minute); ok {
		t.Fatalf("TryLock of a held lock succeeded")
	}
	other, ok := tryLock(t, l, unique("lock"), time.Minute)
	if !ok {
		t.Fatalf("TryLock of another name failed while the first is held")
	}
	other()
}

func testRelease(t *testing.T, l ports.Locker) {
	name := unique("lock")
	release, ok := tryLock(t, l, name, time.Minute)
	if !ok {
		t.Fatalf("TryLock of a free lock failed")
	}
	release()
	release() // releasing twice is harmless
	again, ok := tryLock(t, l, name, time.Minute)
	if !ok {
		t.Fatalf("TryLock after release failed")
	}
	again()
}

func testExpiry(t *testing.T, l ports.Locker) {
	name := unique("lock")
	if _, ok := tryLock(t, l, name, 300*time.Millisecond); !ok {
		t.Fatalf("TryLock of a free lock failed")
	}
	start := time.Now()
	release := waitFor(t, l, name, time.Minute)
	defer release()
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("a lock taken for 300ms was free again after %s", d)
	}
}

// testStaleRelease checks that a holder whose lock expired cannot free the
// lock someone took since.
func testStaleRelease(t *testing.T, l ports.Locker) {
	name := unique("lock")
	stale, ok := tryLock(t, l, name, 200*time.Millisecond)
	if !ok {
		t.Fatalf("TryLock of a free lock failed")
	}
	holder := waitFor(t, l, name, time.Minute)
	defer holder()
	stale() // after expiry: must not free the new holder's lock
	if _, ok := tryLock(t, l, name, time.Minute); ok {
		t.Fatalf("a release called after expiry freed the lock of the next holder")
	}
}

func testOneWinner(t *testing.T, l ports.Locker) {
	const n = 20
	name := unique("lock")
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	var errs []error
	ctx := ctxFor(t)
	for range n {
		wg.Go(func() {
			_, ok, err := l.TryLock(ctx, name, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				winners++
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent TryLock: %v", errs[0])
	}
	if winners != 1 {
		t.Fatalf("%d of %d concurrent TryLock calls took the lock, want exactly 1", winners, n)
	}
}
