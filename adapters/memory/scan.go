package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

var _ ports.VersionScanner = (*Metadata)(nil)

// ScanVersions returns up to limit versions of bucket after after, in
// document id order. It sorts the bucket's ids on every call: the memory
// store is for tests and demos, whose buckets are small.
func (m *Metadata) ScanVersions(ctx context.Context, bucket, prefix string, after domain.VersionRef, limit int) ([]ports.ScannedVersion, error) {
	if limit < 1 {
		return nil, fmt.Errorf("memory: scan %s: %w: limit %d, want at least 1", bucket, domain.ErrPermanent, limit)
	}
	refs, values, err := m.versionRefs(ctx, bucket, prefix)
	if err != nil {
		return nil, err
	}
	start, _ := slices.BinarySearchFunc(refs, after, compareRefs)
	if start < len(refs) && refs[start] == after {
		start++
	}
	end := min(start+limit, len(refs))
	out := make([]ports.ScannedVersion, 0, end-start)
	for _, r := range refs[start:end] {
		v, err := decodeVersion(bucket, r.Key, r.VersionID, values[r])
		if err != nil {
			out = append(out, ports.ScannedVersion{ObjectVersion: domain.ObjectVersion{Bucket: bucket, Key: r.Key, VersionID: r.VersionID}, Err: err})
			continue
		}
		out = append(out, ports.ScannedVersion{ObjectVersion: v})
	}
	return out, nil
}

// CountVersions counts the versions of bucket under prefix.
func (m *Metadata) CountVersions(ctx context.Context, bucket, prefix string) (int64, error) {
	refs, _, err := m.versionRefs(ctx, bucket, prefix)
	return int64(len(refs)), err
}

// versionRefs returns the sorted refs of bucket's versions under prefix,
// with their documents' values.
func (m *Metadata) versionRefs(ctx context.Context, bucket, prefix string) ([]domain.VersionRef, map[domain.VersionRef][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	docs, ok := m.docs[bucket]
	if !ok {
		return nil, nil, fmt.Errorf("memory: scan bucket %q: %w", bucket, ports.ErrNotFound)
	}
	values := map[domain.VersionRef][]byte{}
	refs := []domain.VersionRef{}
	for id, d := range docs {
		key, vid, isVersion := domain.SplitVersionedKey(id)
		if !isVersion || !strings.HasPrefix(key, prefix) {
			continue
		}
		r := domain.VersionRef{Key: key, VersionID: vid}
		refs = append(refs, r)
		values[r] = d.value // never changed in place
	}
	slices.SortFunc(refs, compareRefs)
	return refs, values, nil
}

func compareRefs(a, b domain.VersionRef) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}
