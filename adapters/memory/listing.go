package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

var _ ports.SiteListing = (*Objects)(nil)

// ListVersions lists bucket's versions and delete markers under prefix,
// after position after, in key order and each key's newest first. It sorts
// the bucket's keys on every call: the memory site is for tests and demos.
// ETags are the quoted MD5 of the data; versions have no modification time.
func (o *Objects) ListVersions(ctx context.Context, bucket, prefix string, after ports.ListPosition, limit int) (ports.VersionPage, error) {
	if err := ctx.Err(); err != nil {
		return ports.VersionPage{}, err
	}
	if limit < 1 {
		return ports.VersionPage{}, fmt.Errorf("memory: list %s: %w: limit %d, want at least 1", bucket, domain.ErrPermanent, limit)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	keys, ok := o.buckets[bucket]
	if !ok {
		return ports.VersionPage{}, fmt.Errorf("memory: list %s: no such bucket: %w", bucket, ports.ErrNotFound)
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		if strings.HasPrefix(k, prefix) && k >= after.Key && len(keys[k]) > 0 {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var page ports.VersionPage
	for _, k := range names {
		versions := keys[k]
		start := len(versions) - 1 // newest first
		if k == after.Key {
			i := slices.IndexFunc(versions, func(obj *object) bool { return obj.versionID == after.VersionID })
			if after.VersionID == "" || i < 0 {
				continue
			}
			start = i - 1
		}
		for i := start; i >= 0; i-- {
			if len(page.Versions) == limit {
				page.More = true
				return page, nil
			}
			obj := versions[i]
			sv := domain.SiteVersion{Key: k, VersionID: obj.versionID, IsLatest: i == len(versions)-1, IsDeleteMarker: obj.isDeleteMarker}
			if !obj.isDeleteMarker {
				sv.Size, sv.ETag = int64(len(obj.data)), `"`+md5Hex(obj.data)+`"`
			}
			page.Versions = append(page.Versions, sv)
			page.Next = ports.ListPosition{Key: k, VersionID: obj.versionID}
		}
	}
	return page, nil
}

// version returns one data version of key, or ports.ErrNotFound. The
// caller holds o.mu.
func (o *Objects) version(bucket, key, versionID string) (*object, error) {
	for _, obj := range o.buckets[bucket][key] {
		if obj.versionID == versionID && !obj.isDeleteMarker {
			return obj, nil
		}
	}
	return nil, fmt.Errorf("memory: %s/%s version %s: no such data version: %w", bucket, key, versionID, ports.ErrNotFound)
}

// ReplicaMarkers returns the replica markers one data version carries.
func (o *Objects) ReplicaMarkers(ctx context.Context, bucket, key, versionID string) (domain.ReplicaMarkers, error) {
	if err := ctx.Err(); err != nil {
		return domain.ReplicaMarkers{}, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.version(bucket, key, versionID)
	if err != nil {
		return domain.ReplicaMarkers{}, err
	}
	return domain.ReplicaMarkers{
		Replica:         obj.userMeta[domain.ReplicaMetaKey] == string(domain.StatusReplica),
		SourceVersionID: obj.userMeta[domain.SourceVersionMetaKey],
	}, nil
}

// Tags returns the tags of one data version.
func (o *Objects) Tags(ctx context.Context, bucket, key, versionID string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.version(bucket, key, versionID)
	if err != nil {
		return nil, err
	}
	return maps.Clone(obj.tags), nil
}

// DeleteVersion removes one version or delete marker for good, as a
// DeleteObject with a version id does; tests use it to lose replicas
// behind the service's back.
func (o *Objects) DeleteVersion(bucket, key, versionID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	versions := o.buckets[bucket][key]
	i := slices.IndexFunc(versions, func(obj *object) bool { return obj.versionID == versionID })
	if i < 0 {
		return fmt.Errorf("memory: delete %s/%s version %s: %w", bucket, key, versionID, ports.ErrNotFound)
	}
	o.buckets[bucket][key] = slices.Delete(slices.Clone(versions), i, i+1)
	return nil
}

// SetObjectTags replaces the tags of one version in place, as a
// PutObjectTagging by any client of the site would.
func (o *Objects) SetObjectTags(bucket, key, versionID string, tags map[string]string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.version(bucket, key, versionID)
	if err != nil {
		return err
	}
	obj.tags = maps.Clone(tags)
	return nil
}
