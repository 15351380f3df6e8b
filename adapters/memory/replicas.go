package memory

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"strings"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// replicaOf returns the newest version holding a replica of
// sourceVersionID. The caller holds o.mu.
func replicaOf(versions []*object, sourceVersionID string) *object {
	for i := len(versions) - 1; i >= 0; i-- {
		if obj := versions[i]; obj.userMeta[domain.SourceVersionMetaKey] == sourceVersionID {
			return obj
		}
	}
	return nil
}

// heldReplica returns the version Put finds already holding r, as s3site's
// existence check does: the latest version when it replicates
// r.SourceVersionID with r's content; none when it replicates it with
// other content (a bad replica on top is written over, so that reads get
// the right bytes); else the newest other version that holds r. The
// caller holds o.mu.
func heldReplica(versions []*object, r ports.Replica) *object {
	holds := func(obj *object) bool {
		if obj.userMeta[domain.SourceVersionMetaKey] != r.SourceVersionID || obj.isDeleteMarker != r.IsDeleteMarker {
			return false
		}
		want := strings.ToLower(r.ContentMD5)
		return r.IsDeleteMarker || int64(len(obj.data)) == r.Size && (len(want) != 32 || !isHex(want) || obj.contentMD5 == want)
	}
	if n := len(versions); n > 0 && versions[n-1].userMeta[domain.SourceVersionMetaKey] == r.SourceVersionID {
		if holds(versions[n-1]) {
			return versions[n-1]
		}
		return nil
	}
	for i := len(versions) - 1; i >= 0; i-- {
		if holds(versions[i]) {
			return versions[i]
		}
	}
	return nil
}

// Put writes r as a new version marked as a replica of r.SourceVersionID,
// unless one with r's size and MD5 is already there (heldReplica; then it
// returns that version's id and reads nothing). The fault set by SetFault runs first. The body must hold
// exactly r.Size bytes, and match r.ContentMD5 when that is a hex MD5.
func (o *Objects) Put(ctx context.Context, r ports.Replica, body io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if r.SourceVersionID == "" {
		return "", fmt.Errorf("memory: put %s/%s: %w: no source version id", r.Bucket, r.Key, domain.ErrPermanent)
	}
	o.mu.Lock()
	fault := o.fault
	o.mu.Unlock()
	if fault != nil {
		if err := fault(r); err != nil {
			return "", fmt.Errorf("memory: put %s/%s: %w", r.Bucket, r.Key, err)
		}
	}
	o.mu.Lock()
	keys, ok := o.buckets[r.Bucket]
	var held *object
	if ok {
		held = heldReplica(keys[r.Key], r)
	}
	o.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("memory: put %s/%s: %w: no such bucket: %w", r.Bucket, r.Key, domain.ErrPermanent, ports.ErrNotFound)
	}
	if held != nil {
		return held.versionID, nil
	}

	if r.Lock.IsSet() && !r.IsDeleteMarker {
		o.mu.Lock()
		locked := o.locked[r.Bucket]
		o.mu.Unlock()
		if !locked {
			return "", fmt.Errorf("memory: put %s/%s: %w: bucket is missing ObjectLockConfiguration: object lock is not enabled on it", r.Bucket, r.Key, domain.ErrPermanent)
		}
	}
	obj := &object{
		versionID: newVersionID(), contentType: r.ContentType, tags: maps.Clone(r.Tags),
		isDeleteMarker: r.IsDeleteMarker, userMeta: maps.Clone(r.UserMeta), headers: r.Headers, lock: r.Lock,
	}
	if obj.userMeta == nil {
		obj.userMeta = map[string]string{}
	}
	obj.userMeta[domain.ReplicaMetaKey] = string(domain.StatusReplica)
	obj.userMeta[domain.SourceVersionMetaKey] = r.SourceVersionID
	if r.IsDeleteMarker {
		obj.contentType, obj.tags, obj.headers, obj.lock = "", nil, domain.Headers{}, domain.Lock{}
	} else {
		data, err := readExactly(body, r.Size)
		if err != nil {
			return "", fmt.Errorf("memory: put %s/%s: %w", r.Bucket, r.Key, err)
		}
		sum := md5Hex(data)
		if want := strings.ToLower(r.ContentMD5); len(want) == 32 && isHex(want) && want != sum {
			return "", fmt.Errorf("memory: put %s/%s: %w: data MD5 %s does not match the source's %s", r.Bucket, r.Key, domain.ErrPermanent, sum, want)
		}
		obj.data, obj.contentMD5 = data, sum
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	// Another Put of the same source version may have won meanwhile.
	if held := heldReplica(keys[r.Key], r); held != nil {
		return held.versionID, nil
	}
	keys[r.Key] = append(keys[r.Key], obj)
	o.writes++
	if r.Progress != nil && len(obj.data) > 0 {
		r.Progress(int64(len(obj.data))) // one part: the whole object
	}
	return obj.versionID, nil
}

// SetTags replaces the tags of the replica of r.SourceVersionID in place.
// The fault set by SetFault runs first. hint is not needed: the replica is
// found by its marker.
func (o *Objects) SetTags(ctx context.Context, r ports.Replica, _ string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	o.mu.Lock()
	fault := o.fault
	o.mu.Unlock()
	if fault != nil {
		if err := fault(r); err != nil {
			return "", false, fmt.Errorf("memory: set tags of %s/%s: %w", r.Bucket, r.Key, err)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	keys, ok := o.buckets[r.Bucket]
	if !ok {
		return "", false, fmt.Errorf("memory: set tags of %s/%s: %w: no such bucket: %w", r.Bucket, r.Key, domain.ErrPermanent, ports.ErrNotFound)
	}
	held := replicaOf(keys[r.Key], r.SourceVersionID)
	if held == nil || held.isDeleteMarker {
		return "", false, fmt.Errorf("memory: set tags of %s/%s version %s: %w", r.Bucket, r.Key, r.SourceVersionID, ports.ErrNoReplica)
	}
	if domain.TagsEqual(held.tags, r.Tags) {
		return held.versionID, false, nil
	}
	held.tags = maps.Clone(r.Tags)
	o.tagWrites++
	return held.versionID, true, nil
}

// TagWrites returns how many SetTags calls changed a replica's tags.
func (o *Objects) TagWrites() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tagWrites
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// Replicas returns every version of key, oldest first, replicas or not.
func (o *Objects) Replicas(ctx context.Context, bucket, key string) ([]ports.StoredReplica, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	keys, ok := o.buckets[bucket]
	if !ok {
		return nil, fmt.Errorf("memory: list %s/%s: no such bucket: %w", bucket, key, ports.ErrNotFound)
	}
	var out []ports.StoredReplica
	for _, obj := range keys[key] {
		out = append(out, ports.StoredReplica{
			Replica: ports.Replica{
				Bucket: bucket, Key: key, SourceVersionID: obj.userMeta[domain.SourceVersionMetaKey],
				Size: int64(len(obj.data)), ContentType: obj.contentType, ContentMD5: obj.contentMD5,
				UserMeta: maps.Clone(obj.userMeta), Tags: maps.Clone(obj.tags), IsDeleteMarker: obj.isDeleteMarker,
				Headers: obj.headers, Lock: obj.lock,
			},
			VersionID: obj.versionID,
			Data:      bytes.Clone(obj.data),
		})
	}
	return out, nil
}
