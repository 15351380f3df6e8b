package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// DefaultRetention is how long Failures keeps an entry, as upstream's
// failed-CRR sorted sets do.
const DefaultRetention = 24 * time.Hour

// FailuresConfig configures Failures; zero fields take their defaults.
type FailuresConfig struct {
	// Retention is how long an entry stays listed after it failed
	// (default 24 h).
	Retention time.Duration
	// Now is the clock (default time.Now); tests move it to expire entries.
	Now func() time.Time
}

// Validate reports every problem of the configuration.
func (c FailuresConfig) Validate() error {
	if c.Retention < 0 {
		return fmt.Errorf("memory failures: retention %s is negative", c.Retention)
	}
	return nil
}

// Failures is the failure store in memory: per site, the failed versions
// with the time they failed, kept for Retention. It implements
// ports.FailureStore and is safe for concurrent use.
//
// A listing page's NextMarker is the failure time of the first entry left
// out, so no entry is ever skipped; entries that failed in the same
// millisecond as a page boundary may be listed on both pages.
type Failures struct {
	cfg   FailuresConfig
	mu    sync.Mutex
	sites map[string]map[failureID]time.Time
}

type failureID struct{ bucket, key, versionID string }

var _ ports.FailureStore = (*Failures)(nil)

// NewFailures returns an empty failure store.
func NewFailures(cfg FailuresConfig) (*Failures, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Failures{cfg: cfg, sites: map[string]map[failureID]time.Time{}}, nil
}

// expireLocked drops the entries older than the retention. The caller
// holds f.mu.
func (f *Failures) expireLocked() {
	oldest := f.cfg.Now().Add(-f.cfg.Retention)
	for site, entries := range f.sites {
		for id, at := range entries {
			if at.Before(oldest) {
				delete(entries, id)
			}
		}
		if len(entries) == 0 {
			delete(f.sites, site)
		}
	}
}

// Add records e, or moves it to e.FailedAt (now when zero) if it is there.
func (f *Failures) Add(ctx context.Context, e ports.FailedEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.Site == "" || e.Bucket == "" || e.Key == "" {
		return fmt.Errorf("memory failures: add: %w: site, bucket and key are required (got %q, %q, %q)", domain.ErrPermanent, e.Site, e.Bucket, e.Key)
	}
	at := e.FailedAt
	if at.IsZero() {
		at = f.cfg.Now()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	entries := f.sites[e.Site]
	if entries == nil {
		entries = map[failureID]time.Time{}
		f.sites[e.Site] = entries
	}
	entries[failureID{e.Bucket, e.Key, e.VersionID}] = at.Truncate(time.Millisecond).UTC()
	return nil
}

// List returns up to limit entries of site that failed at or before marker
// (Unix ms; 0 means now), newest first.
func (f *Failures) List(ctx context.Context, site string, marker int64, limit int) (ports.FailurePage, error) {
	if err := ctx.Err(); err != nil {
		return ports.FailurePage{}, err
	}
	if limit < 1 {
		return ports.FailurePage{}, fmt.Errorf("memory failures: list: %w: limit %d, want at least 1", domain.ErrPermanent, limit)
	}
	if marker == 0 {
		marker = f.cfg.Now().UnixMilli()
	}
	f.mu.Lock()
	f.expireLocked()
	var all []ports.FailedEntry
	for id, at := range f.sites[site] {
		if at.UnixMilli() <= marker {
			all = append(all, ports.FailedEntry{Site: site, Bucket: id.bucket, Key: id.key, VersionID: id.versionID, FailedAt: at})
		}
	}
	f.mu.Unlock()
	sortNewestFirst(all)
	page := ports.FailurePage{Entries: all}
	if len(all) > limit {
		page.Entries = all[:limit:limit]
		page.Truncated = true
		page.NextMarker = all[limit].FailedAt.UnixMilli()
	}
	return page, nil
}

// sortNewestFirst orders entries by time, newest first, then by name so
// that listings are stable.
func sortNewestFirst(es []ports.FailedEntry) {
	slices.SortFunc(es, func(a, b ports.FailedEntry) int {
		return cmp.Or(
			b.FailedAt.Compare(a.FailedAt),
			cmp.Compare(a.Site, b.Site),
			cmp.Compare(a.Bucket, b.Bucket),
			cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.VersionID, b.VersionID),
		)
	})
}

// Find returns the entries of one version across all sites, newest first.
func (f *Failures) Find(ctx context.Context, bucket, key, versionID string) ([]ports.FailedEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := failureID{bucket, key, versionID}
	f.mu.Lock()
	f.expireLocked()
	var out []ports.FailedEntry
	for site, entries := range f.sites {
		if at, ok := entries[id]; ok {
			out = append(out, ports.FailedEntry{Site: site, Bucket: bucket, Key: key, VersionID: versionID, FailedAt: at})
		}
	}
	f.mu.Unlock()
	sortNewestFirst(out)
	return out, nil
}

// Remove deletes the entry of e's site and version (whatever its time),
// reporting whether it was there.
func (f *Failures) Remove(ctx context.Context, e ports.FailedEntry) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expireLocked()
	entries := f.sites[e.Site]
	id := failureID{e.Bucket, e.Key, e.VersionID}
	if _, ok := entries[id]; !ok {
		return false, nil
	}
	delete(entries, id)
	return true, nil
}

// Locker takes named, expiring locks in memory. It implements
// ports.Locker and is safe for concurrent use.
type Locker struct {
	mu    sync.Mutex
	now   func() time.Time
	held  map[string]lease
	token uint64
}

// purgeThreshold is the number of leases from which TryLock drops the
// expired ones, so that locks never released do not pile up.
const purgeThreshold = 1024

type lease struct {
	token   uint64
	expires time.Time
}

var _ ports.Locker = (*Locker)(nil)

// NewLocker returns a locker with no lock held.
func NewLocker() *Locker {
	return &Locker{now: time.Now, held: map[string]lease{}}
}

// TryLock takes name for ttl unless someone holds it. The release it
// returns frees the lock only while this holder has it: after expiry, and
// once someone else took the lock, it does nothing.
func (l *Locker) TryLock(ctx context.Context, name string, ttl time.Duration) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if ttl <= 0 {
		return nil, false, errors.New("memory locker: ttl must be positive")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if cur, ok := l.held[name]; ok && now.Before(cur.expires) {
		return nil, false, nil
	}
	if len(l.held) >= purgeThreshold { // leases that expired unreleased
		for n, cur := range l.held {
			if !now.Before(cur.expires) {
				delete(l.held, n)
			}
		}
	}
	l.token++
	mine := l.token
	l.held[name] = lease{token: mine, expires: now.Add(ttl)}
	release := func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if cur, ok := l.held[name]; ok && cur.token == mine {
			delete(l.held, name)
		}
	}
	return release, true, nil
}
