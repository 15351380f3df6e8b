package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// FailedRetrier re-queues failed entries on operator request.
type FailedRetrier struct {
	Metadata  ports.MetadataStore
	Failures  ports.FailureStore
	Locker    ports.Locker
	Publisher ports.Publisher
	Topics    Topics
	// LockTTL bounds how long one retry of an entry holds its lock.
	LockTTL time.Duration
	Log     *slog.Logger
}

// RetryRequest names one failed entry to retry.
type RetryRequest struct {
	Bucket, Key, VersionID, Site string
	// Force retries even when the entry is not in the failure store.
	Force bool
}

// RetryResult is what became of one request.
type RetryResult struct {
	RetryRequest
	Object domain.ObjectVersion
	// Status is PENDING when the entry was re-queued.
	Status domain.Status
	// Err says why it was not.
	Err error
}

// ErrNotFailed says a retry named an entry that is not failed.
var ErrNotFailed = errors.New("entry is not in the failure store")

// ErrRetryInProgress says another retry of the same entry holds its lock.
var ErrRetryInProgress = errors.New("a retry of this entry is already in progress")

// Retry re-queues each request: its site goes FAILED -> PENDING in the
// metadata, an entry for that site only is published, and it leaves the
// failure store. A lock per entry keeps concurrent retries from doubling.
func (f *FailedRetrier) Retry(ctx context.Context, reqs []RetryRequest) []RetryResult {
	var uniq []RetryRequest
	seen := map[RetryRequest]bool{}
	for _, req := range f.oldestFirst(ctx, reqs) {
		key := req
		key.Force = false
		if seen[key] {
			continue // duplicates are collapsed, as upstream does
		}
		seen[key] = true
		uniq = append(uniq, req)
	}
	// Keys are retried concurrently, the versions of one key one after the
	// other, oldest first, so a large batch is not a long chain of
	// sequential round trips and a key's versions keep their order.
	byKey := map[string][]int{}
	var keys []string
	for i, req := range uniq {
		k := req.Bucket + "/" + req.Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], i)
	}
	results := make([]RetryResult, len(uniq))
	sem := make(chan struct{}, retryConcurrency)
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func(idxs []int) {
			defer wg.Done()
			defer func() { <-sem }()
			for _, i := range idxs {
				res := RetryResult{RetryRequest: uniq[i]}
				res.Object, res.Err = f.retryOne(ctx, uniq[i])
				if res.Err == nil {
					res.Status = domain.StatusPending
				}
				results[i] = res
			}
		}(byKey[k])
	}
	wg.Wait()
	return results
}

// retryConcurrency bounds the keys one Retry call works on at once.
const retryConcurrency = 16

// oldestFirst reorders the requests naming the same key so that its older
// versions are re-queued first: the replicator keeps the order of a key's
// entries, so the destination then gets the versions in the source's order
// even when the request lists them newest first, as the failure listing
// does (found by the e2e suite). Other requests keep their place; a version
// whose metadata cannot be read keeps its place among its key's.
func (f *FailedRetrier) oldestFirst(ctx context.Context, reqs []RetryRequest) []RetryRequest {
	type objKey struct{ bucket, key string }
	slots := map[objKey][]int{}
	for i, r := range reqs {
		k := objKey{r.Bucket, r.Key}
		slots[k] = append(slots[k], i)
	}
	out := slices.Clone(reqs)
	for _, idx := range slots {
		if len(idx) < 2 {
			continue
		}
		group := make([]RetryRequest, len(idx))
		when := make([]time.Time, len(idx))
		for j, i := range idx {
			group[j] = reqs[i]
			if v, err := f.Metadata.Version(ctx, reqs[i].Bucket, reqs[i].Key, reqs[i].VersionID); err == nil {
				when[j] = v.LastModified
			}
		}
		order := make([]int, len(idx))
		for j := range order {
			order[j] = j
		}
		slices.SortStableFunc(order, func(a, b int) int { return when[a].Compare(when[b]) })
		for j, i := range idx {
			out[i] = group[order[j]]
		}
	}
	return out
}

func (f *FailedRetrier) retryOne(ctx context.Context, req RetryRequest) (domain.ObjectVersion, error) {
	if req.VersionID == "" {
		// Upstream takes entries without a version id, for non-versioned
		// buckets; only versioned buckets are replicated here, so there is
		// nothing such an entry can name.
		return domain.ObjectVersion{}, fmt.Errorf("%w: no version id (only versions of versioned buckets are replicated)", ports.ErrNotFound)
	}
	ttl := f.LockTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	lock := fmt.Sprintf("%s:%s:%s:%s:processingFailures", req.Bucket, req.Key, req.VersionID, req.Site)
	release, ok, err := f.Locker.TryLock(ctx, lock, ttl)
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("lock %s: %w", lock, err)
	}
	if !ok {
		return domain.ObjectVersion{}, ErrRetryInProgress
	}
	defer release()
	fe := ports.FailedEntry{Site: req.Site, Bucket: req.Bucket, Key: req.Key, VersionID: req.VersionID}
	if !req.Force {
		found, err := f.Failures.Find(ctx, req.Bucket, req.Key, req.VersionID)
		if err != nil {
			return domain.ObjectVersion{}, fmt.Errorf("find failed entry: %w", err)
		}
		listed := false
		for _, e := range found {
			listed = listed || e.Site == req.Site
		}
		if !listed {
			return domain.ObjectVersion{}, ErrNotFailed
		}
	}
	obj, err := f.Metadata.UpdateVersion(ctx, req.Bucket, req.Key, req.VersionID, func(v *domain.ObjectVersion) error {
		b, ok := v.Site(req.Site)
		if !ok {
			return fmt.Errorf("%w: version is not replicated to site %q", ports.ErrNotFound, req.Site)
		}
		if b.Status == domain.StatusPending {
			return nil // a retry already re-queued it; publishing again is harmless
		}
		_, err := v.SetSiteStatus(req.Site, domain.StatusPending, "", "")
		return err
	})
	if err != nil {
		return domain.ObjectVersion{}, fmt.Errorf("mark %s/%s %s PENDING for %s: %w", req.Bucket, req.Key, req.VersionID, req.Site, err)
	}
	value, err := domain.MarshalObjectMD(obj)
	if err != nil {
		return obj, err
	}
	entry := domain.NewEntry(obj.Bucket, domain.VersionedKey(obj.Key, obj.VersionID), value)
	entry.Site = req.Site
	msg := ports.Message{Key: entry.OrderingKey(), Payload: entry.Encode(), Headers: traceHeaders(ctx)}
	if err := f.Publisher.Publish(ctx, f.Topics.Entries, msg); err != nil {
		return obj, fmt.Errorf("re-queue entry: %w", err)
	}
	if _, err := f.Failures.Remove(ctx, fe); err != nil {
		return obj, fmt.Errorf("unlist retried entry: %w", err)
	}
	f.Log.InfoContext(ctx, "retrying failed entry", "bucket", req.Bucket, "key", req.Key, "version", req.VersionID, "site", req.Site)
	return obj, nil
}
