package e2e

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Written is one version the test wrote at the source, with what the
// destinations must hold for it.
type Written struct {
	domain.ObjectVersion
	// DestBucket is the bucket its replicas go to at every site.
	DestBucket string
}

// Ledger records the versions written, in write order. Each key must be
// written by one goroutine at a time so that its order is defined.
type Ledger struct {
	mu  sync.Mutex
	all []Written
}

// Add records a version just written.
func (l *Ledger) Add(w Written) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, w)
}

// Update replaces the recorded version of w's bucket, key and version id
// by w (its metadata changed in place, as a tag change does).
func (l *Ledger) Update(w Written) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, old := range l.all {
		if old.Bucket == w.Bucket && old.Key == w.Key && old.VersionID == w.VersionID {
			l.all[i] = w
		}
	}
}

// All returns the versions written so far, in write order.
func (l *Ledger) All() []Written {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Written(nil), l.all...)
}

// Report counts what the checker found. Replicated counts versions found
// at every site; the other counts are problems, per version and site.
type Report struct {
	Written, Replicated                   int
	Duplicated, Lost, Stale, OutOfOrder   int
	BadContent, NotCompleted, FailedSites int
	// TagsDiffer counts replicas whose tags are not the source's.
	TagsDiffer int
	// Problems describes the first problems found.
	Problems []string
}

func (r Report) String() string {
	return fmt.Sprintf("written=%d replicated=%d duplicated=%d lost=%d stale=%d out-of-order=%d bad-content=%d tags-differ=%d not-completed=%d failed-sites=%d",
		r.Written, r.Replicated, r.Duplicated, r.Lost, r.Stale, r.OutOfOrder, r.BadContent, r.TagsDiffer, r.NotCompleted, r.FailedSites)
}

// OK reports whether every invariant holds.
func (r Report) OK() bool {
	return r.Written > 0 && r.Replicated == r.Written && r.Duplicated+r.Lost+r.Stale+r.OutOfOrder+r.BadContent+r.TagsDiffer+r.NotCompleted+r.FailedSites == 0
}

// Checker reads the source statuses from the metadata store and the
// destinations through their S3 API.
type Checker struct {
	Metadata ports.MetadataStore
	// Sites maps each destination site to a reader of its buckets.
	Sites map[string]ports.ReplicaReader
}

// Statuses counts the aggregate replication status of the versions. A
// version with a site still PENDING or PROCESSING counts as PROCESSING
// whatever its aggregate: one FAILED site makes the aggregate FAILED (the
// upstream rule) while the other sites are still being written.
func (c *Checker) Statuses(ctx context.Context, ws []Written) (map[domain.Status]int, error) {
	counts := map[domain.Status]int{}
	for _, w := range ws {
		cur, err := c.Metadata.Version(ctx, w.Bucket, w.Key, w.VersionID)
		if err != nil {
			return nil, fmt.Errorf("read status of %s/%s %s: %w", w.Bucket, w.Key, w.VersionID, err)
		}
		st := cur.Replication.Status
		for _, b := range cur.Replication.Backends {
			if b.Status == domain.StatusPending || b.Status == domain.StatusProcessing {
				st = domain.StatusProcessing
			}
		}
		counts[st]++
	}
	return counts, nil
}

type objKey struct{ bucket, key string }

// Check verifies every invariant over the versions written: each is
// COMPLETED at every site with its generation unchanged, the master of each
// key is its latest version, and each site holds each version exactly once,
// with the source's bytes and metadata, in write order.
func (c *Checker) Check(ctx context.Context, ws []Written) (Report, error) {
	var rep Report
	rep.Written = len(ws)
	var mu sync.Mutex
	problem := func(format string, args ...any) {
		if len(rep.Problems) < 20 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	byKey := map[objKey][]Written{}
	var keys []objKey
	for _, w := range ws {
		k := objKey{w.Bucket, w.Key}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], w)
	}
	foundAll := make(map[string]int, len(ws)) // version id -> sites holding it
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, k := range keys {
		versions := byKey[k]
		g.Go(func() error {
			local := Report{}
			var probs []string
			p := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
			found := map[string]int{}
			// Source side: final status, generation unchanged, master is the latest.
			for _, w := range versions {
				cur, err := c.Metadata.Version(gctx, w.Bucket, w.Key, w.VersionID)
				if err != nil {
					return fmt.Errorf("read %s/%s %s: %w", w.Bucket, w.Key, w.VersionID, err)
				}
				if cur.MicroVersionID != w.MicroVersionID {
					local.Stale++
					p("%s/%s %s: generation %q, written %q", w.Bucket, w.Key, w.VersionID, cur.MicroVersionID, w.MicroVersionID)
				}
				if cur.Replication.Status != domain.StatusCompleted {
					local.NotCompleted++
					p("%s/%s %s: status %s %+v", w.Bucket, w.Key, w.VersionID, cur.Replication.Status, cur.Replication.Backends)
				}
				for site := range c.Sites {
					b, ok := cur.Site(site)
					if !ok || b.Status == domain.StatusFailed {
						local.FailedSites++
						p("%s/%s %s at %s: %+v", w.Bucket, w.Key, w.VersionID, site, b)
					}
				}
			}
			last := versions[len(versions)-1]
			master, err := c.settledMaster(gctx, k.bucket, k.key, last)
			switch {
			case err != nil:
				return fmt.Errorf("read master of %s/%s: %w", k.bucket, k.key, err)
			case master.VersionID != last.VersionID || master.MicroVersionID != last.MicroVersionID:
				local.Stale++
				p("%s/%s: master is version %s (gen %s), latest written is %s (gen %s)", k.bucket, k.key, master.VersionID, master.MicroVersionID, last.VersionID, last.MicroVersionID)
			case master.Replication.Status != domain.StatusCompleted:
				local.Stale++
				p("%s/%s: master of the latest version has status %s", k.bucket, k.key, master.Replication.Status)
			}
			// Destination side: each version exactly once, same content, in order.
			order := make(map[string]int, len(versions))
			for i, w := range versions {
				order[w.VersionID] = i
			}
			for site, rr := range c.Sites {
				reps, err := rr.Replicas(gctx, last.DestBucket, k.key)
				if err != nil && !errors.Is(err, ports.ErrNotFound) {
					return fmt.Errorf("read replicas of %s/%s at %s: %w", last.DestBucket, k.key, site, err)
				}
				seen := map[string]int{}
				prev := -1
				for _, r := range reps {
					i, ok := order[r.SourceVersionID]
					if !ok {
						continue // not one of ours (or not a replica)
					}
					seen[r.SourceVersionID]++
					if seen[r.SourceVersionID] > 1 {
						continue
					}
					if i < prev {
						local.OutOfOrder++
						p("%s/%s at %s: version #%d replicated after #%d", k.bucket, k.key, site, i, prev)
					}
					prev = i
					if msg := contentProblem(versions[i], r); msg != "" {
						local.BadContent++
						p("%s/%s %s at %s: %s", k.bucket, k.key, r.SourceVersionID, site, msg)
					}
					if want := versions[i].Tags; !domain.TagsEqual(r.Tags, want) {
						local.TagsDiffer++
						p("%s/%s %s at %s: tags %v, want %v", k.bucket, k.key, r.SourceVersionID, site, r.Tags, want)
					}
				}
				for _, w := range versions {
					switch n := seen[w.VersionID]; {
					case n == 0:
						local.Lost++
						p("%s/%s %s: missing at %s", w.Bucket, w.Key, w.VersionID, site)
					case n > 1:
						local.Duplicated += n - 1
						p("%s/%s %s: %d copies at %s", w.Bucket, w.Key, w.VersionID, n, site)
					default:
						found[w.VersionID]++
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			rep.Duplicated += local.Duplicated
			rep.Lost += local.Lost
			rep.Stale += local.Stale
			rep.OutOfOrder += local.OutOfOrder
			rep.BadContent += local.BadContent
			rep.TagsDiffer += local.TagsDiffer
			rep.NotCompleted += local.NotCompleted
			rep.FailedSites += local.FailedSites
			maps.Copy(foundAll, found)
			for _, s := range probs {
				problem("%s", s)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	for _, w := range ws {
		if foundAll[w.VersionID] == len(c.Sites) {
			rep.Replicated++
		}
	}
	return rep, nil
}

// contentProblem compares a replica's bytes and metadata with the version
// written; tags are compared apart (Report.TagsDiffer).
func contentProblem(w Written, r ports.StoredReplica) string {
	sum := md5.Sum(r.Data)
	var diffs []string
	if got := hex.EncodeToString(sum[:]); got != w.ContentMD5 {
		diffs = append(diffs, fmt.Sprintf("bytes differ (md5 %s, want %s, %d bytes, want %d)", got, w.ContentMD5, len(r.Data), w.Size))
	}
	if r.ContentType != w.ContentType {
		diffs = append(diffs, fmt.Sprintf("content type %q, want %q", r.ContentType, w.ContentType))
	}
	if msg := headersProblem(w.Headers, r.Headers); msg != "" {
		diffs = append(diffs, msg)
	}
	if g, l := r.Lock, w.Lock; g.Mode != l.Mode || !g.RetainUntil.Equal(l.RetainUntil) || g.LegalHold != l.LegalHold {
		diffs = append(diffs, fmt.Sprintf("object lock %+v, want %+v", g, l))
	}
	for k, v := range w.UserMeta {
		if got := r.UserMeta[strings.ToLower(k)]; got != v {
			diffs = append(diffs, fmt.Sprintf("user metadata %s=%q, want %q", k, got, v))
		}
	}
	return strings.Join(diffs, "; ")
}

// headersProblem compares object headers, Expires as a time (servers
// render it their own way).
func headersProblem(want, got domain.Headers) string {
	wt, wok := want.ExpiresTime()
	gt, gok := got.ExpiresTime()
	if wok != gok || !wt.Equal(gt) {
		return fmt.Sprintf("Expires %q, want %q", got.Expires, want.Expires)
	}
	want.Expires, got.Expires = "", ""
	if want != got {
		return fmt.Sprintf("headers %+v, want %+v", got, want)
	}
	return ""
}

// settledMaster reads the master document of bucket/key, waiting a few
// seconds for it to catch up with last: the status applier writes the
// version, then the master, as two writes (no transactions), so a master
// one step behind a COMPLETED version is normal for a moment. A master still
// behind after the wait is stale.
func (c *Checker) settledMaster(ctx context.Context, bucket, key string, last Written) (domain.ObjectVersion, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		master, err := c.Metadata.Version(ctx, bucket, key, "")
		settled := err == nil && master.VersionID == last.VersionID && master.MicroVersionID == last.MicroVersionID &&
			master.Replication.Status == domain.StatusCompleted
		if settled || time.Now().After(deadline) {
			return master, err
		}
		select {
		case <-ctx.Done():
			return master, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
