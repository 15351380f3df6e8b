package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Content kinds of a replication: what the destination must receive.
const (
	ContentData          = "DATA"
	ContentMetadata      = "METADATA"
	ContentPutTagging    = "PUT_TAGGING"
	ContentDeleteTagging = "DELETE_TAGGING"
)

// UserMetaPrefix starts the name of every user metadata field.
const UserMetaPrefix = "x-amz-meta-"

// ReplicaMetaKey and SourceVersionMetaKey are the user metadata a replica
// carries at its destination; the second makes writes idempotent.
const (
	ReplicaMetaKey       = "scal-replication-status"
	SourceVersionMetaKey = "scal-version-id"
)

// MaxMetadataBytes bounds the object metadata the service accepts (CloudServer
// caps user metadata at 2 KiB; the whole document stays far below this).
const MaxMetadataBytes = 1 << 20

// Backend is the replication state of a version at one destination site.
type Backend struct {
	Site               string `json:"site"`
	Status             Status `json:"status"`
	DataStoreVersionID string `json:"dataStoreVersionId"`
	// Reason says why the site FAILED; empty otherwise.
	Reason string `json:"reason,omitempty"`
}

// ReplicationInfo is the replicationInfo field of CloudServer's ObjectMD.
type ReplicationInfo struct {
	Status             Status    `json:"status"`
	Backends           []Backend `json:"backends"`
	Content            []string  `json:"content"`
	Destination        string    `json:"destination"`
	StorageClass       string    `json:"storageClass"`
	Role               string    `json:"role"`
	StorageType        string    `json:"storageType"`
	DataStoreVersionID string    `json:"dataStoreVersionId"`
}

// ObjectVersion is one version of an object as its metadata describes it.
type ObjectVersion struct {
	Bucket         string
	Key            string
	VersionID      string
	MicroVersionID string
	Size           int64
	ContentMD5     string
	ContentType    string
	LastModified   time.Time
	UserMeta       map[string]string // without the x-amz-meta- prefix
	Tags           map[string]string
	IsDeleteMarker bool
	Replication    ReplicationInfo
	// Headers are the object headers S3 replication carries besides the
	// content type; Lock its object-lock settings.
	Headers Headers
	Lock    Lock
}

// Generation identifies the write that produced this metadata: a newer
// write of the same version changes it, so an outcome computed for an
// older generation can be recognised as stale. CloudServer's tag changes
// rewrite the version in place without a new microVersionId or
// last-modified, so the tags are part of it: a copy outcome computed before
// a tag change is stale, and the tag change's entry is not taken for a
// duplicate of the copy's. Status write-backs change neither part.
//
// Tags changed back to an earlier set give the earlier generation again:
// an outcome of that earlier write may then be applied, which is true of
// the tags it carried, and the later entries of the key still follow it in
// order.
func (o ObjectVersion) Generation() string {
	g := o.MicroVersionID
	if g == "" {
		g = o.LastModified.UTC().Format(time.RFC3339Nano)
	}
	if len(o.Tags) == 0 {
		return g
	}
	return g + "~" + tagsDigest(o.Tags)
}

// tagsDigest is a short digest of a tag set, the same for equal sets.
func tagsDigest(tags map[string]string) string {
	names := make([]string, 0, len(tags))
	for k := range tags {
		names = append(names, k)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, k := range names {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(tags[k]), tags[k])
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// Site returns the backend of site, if the version is replicated there.
func (o *ObjectVersion) Site(site string) (*Backend, bool) {
	for i := range o.Replication.Backends {
		if o.Replication.Backends[i].Site == site {
			return &o.Replication.Backends[i], true
		}
	}
	return nil, false
}

// IsReplica reports whether this version was written by replication.
func (o ObjectVersion) IsReplica() bool {
	return o.Replication.Status == StatusReplica
}

// PendingSites lists the sites this version still has to reach. A replica
// has none: replicas are never replicated again.
func (o ObjectVersion) PendingSites() []string {
	if o.IsReplica() {
		return nil
	}
	var sites []string
	for _, b := range o.Replication.Backends {
		if b.Status == StatusPending {
			sites = append(sites, b.Site)
		}
	}
	return sites
}

// NeedsData reports whether the destination must receive the data and not
// only the metadata.
func (o ObjectVersion) NeedsData() bool {
	if len(o.Replication.Content) == 0 {
		return !o.IsDeleteMarker
	}
	for _, c := range o.Replication.Content {
		if c == ContentData {
			return true
		}
	}
	return false
}

// MetadataOnly reports whether the sites must receive only what changed
// in the metadata, not the data: the version's replicationInfo content has
// no DATA (a tag change, or an empty object), and it is not a delete marker
// (a marker has no metadata of its own to change, it is written whole).
// The replicator falls back to a full copy when the site has no replica
// of the version yet.
func (o ObjectVersion) MetadataOnly() bool {
	return !o.IsDeleteMarker && !o.NeedsData()
}

// RequeueMetadata records a change of the version's metadata the way
// CloudServer's getReplicationInfo does for PutObjectTagging and
// DeleteObjectTagging: every site back to PENDING (keeping the destination
// version id each recorded, which finds the replica to change), the
// aggregate PENDING, and content METADATA plus operation (PUT_TAGGING or
// DELETE_TAGGING; empty for METADATA alone). A version with no sites, or a
// replica, is left as it is and reported false.
func (o *ObjectVersion) RequeueMetadata(operation string) bool {
	if len(o.Replication.Backends) == 0 || o.IsReplica() {
		return false
	}
	for i := range o.Replication.Backends {
		o.Replication.Backends[i].Status = StatusPending
		o.Replication.Backends[i].Reason = ""
	}
	o.Replication.Status = StatusPending
	o.Replication.Content = []string{ContentMetadata}
	if operation != "" {
		o.Replication.Content = append(o.Replication.Content, operation)
	}
	return true
}

// TagsEqual reports whether two tag sets are the same; nil and empty are.
func TagsEqual(a, b map[string]string) bool {
	return maps.Equal(a, b)
}

// ErrStaleOutcome says an outcome was computed for an older write of the
// version than the one now stored; applying it would overwrite newer state.
var ErrStaleOutcome = errors.New("outcome is older than the stored metadata")

// ErrIllegalTransition says a site status change is not allowed.
var ErrIllegalTransition = errors.New("illegal replication status transition")

// SetSiteStatus moves one site to status next, recording the destination
// version id or the failure reason, and recomputes the aggregate. Setting a
// site to the status it already has is a no-op that returns changed=false.
func (o *ObjectVersion) SetSiteStatus(site string, next Status, dstVersionID, reason string) (changed bool, err error) {
	b, ok := o.Site(site)
	if !ok {
		return false, fmt.Errorf("version %s of %s/%s has no replication to site %q", o.VersionID, o.Bucket, o.Key, site)
	}
	if b.Status == next {
		return false, nil
	}
	if !b.Status.CanBecome(next) {
		return false, fmt.Errorf("%w: site %q from %s to %s", ErrIllegalTransition, site, b.Status, next)
	}
	b.Status = next
	b.Reason = ""
	switch next {
	case StatusCompleted:
		b.DataStoreVersionID = dstVersionID
	case StatusFailed:
		b.Reason = reason
	}
	o.Replication.Status = Aggregate(o.Replication.Backends)
	return true, nil
}

// ParseObjectMD decodes CloudServer's ObjectMD JSON. It is tolerant of
// fields it does not know and strict about the types of those it uses.
func ParseObjectMD(bucket string, data []byte) (ObjectVersion, error) {
	return parseObjectMD(bucket, data, false)
}

// parseObjectMD is ParseObjectMD; readAll always reads the top-level
// fields too, as the single decode's tests compare.
func parseObjectMD(bucket string, data []byte, readAll bool) (ObjectVersion, error) {
	if len(data) > MaxMetadataBytes {
		return ObjectVersion{}, fmt.Errorf("object metadata is %d bytes, over the %d limit", len(data), MaxMetadataBytes)
	}
	// One decode into objectMD is enough when the JSON is an object that
	// cannot hold user metadata. Otherwise the top-level fields are read
	// as well, to find the x-amz-meta-* ones (raw), and to report the
	// first error as it was always reported.
	var raw map[string]json.RawMessage
	var md objectMD
	if err := json.Unmarshal(data, &md); err != nil || readAll || mayHoldUserMeta(data) || isJSONNull(data) {
		if err := json.Unmarshal(data, &raw); err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata is not a JSON object: %w", err)
		}
		if raw == nil { // the JSON was null
			return ObjectVersion{}, errors.New("object metadata is not a JSON object: null")
		}
		md = objectMD{} // not merged with what a failed decode left
		if err := json.Unmarshal(data, &md); err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata: %w", err)
		}
	}
	o := ObjectVersion{
		Bucket:         bucket,
		Key:            md.Key,
		VersionID:      md.VersionID,
		MicroVersionID: md.MicroVersionID,
		Size:           md.ContentLength,
		ContentMD5:     md.ContentMD5,
		ContentType:    md.ContentType,
		Tags:           md.Tags,
		IsDeleteMarker: md.IsDeleteMarker,
		Replication:    md.ReplicationInfo,
		Headers:        md.Headers,
		Lock:           Lock{Mode: md.RetentionMode, LegalHold: md.LegalHold},
	}
	if md.RetentionDate != "" {
		t, err := time.Parse(time.RFC3339Nano, md.RetentionDate)
		if err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata field retentionDate: %w", err)
		}
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return ObjectVersion{}, fmt.Errorf("object metadata field retentionDate %q is out of range", md.RetentionDate)
		}
		o.Lock.RetainUntil = t
	}
	if err := o.Lock.validate(); err != nil {
		return ObjectVersion{}, err
	}
	if md.LastModified != "" {
		t, err := time.Parse(time.RFC3339Nano, md.LastModified)
		if err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata field last-modified: %w", err)
		}
		// MarshalObjectMD writes the time in UTC: it must stay a four-digit year.
		if y := t.UTC().Year(); y < 0 || y > 9999 {
			return ObjectVersion{}, fmt.Errorf("object metadata field last-modified %q is out of range", md.LastModified)
		}
		o.LastModified = t
	}
	for k, v := range raw {
		if !strings.HasPrefix(k, UserMetaPrefix) {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata field %s is not a string", k)
		}
		if o.UserMeta == nil {
			o.UserMeta = map[string]string{}
		}
		o.UserMeta[strings.TrimPrefix(k, UserMetaPrefix)] = s
	}
	if o.Size < 0 {
		return ObjectVersion{}, fmt.Errorf("object metadata field content-length is negative (%d)", o.Size)
	}
	for i, b := range o.Replication.Backends {
		if b.Site == "" {
			return ObjectVersion{}, fmt.Errorf("object metadata field replicationInfo.backends[%d].site is empty", i)
		}
		if _, err := ParseStatus(string(b.Status)); err != nil {
			return ObjectVersion{}, fmt.Errorf("object metadata field replicationInfo.backends[%d].status: %w", i, err)
		}
	}
	if _, err := ParseStatus(string(o.Replication.Status)); err != nil {
		return ObjectVersion{}, fmt.Errorf("object metadata field replicationInfo.status: %w", err)
	}
	return o, nil
}

// mayHoldUserMeta reports whether an ObjectMD's JSON may name a user
// metadata field: it holds the prefix as the start of a string, or a \u
// escape, which could spell the prefix.
func mayHoldUserMeta(data []byte) bool {
	return bytes.Contains(data, []byte(`"`+UserMetaPrefix)) || bytes.Contains(data, []byte(`\u`))
}

// isJSONNull reports whether valid JSON is null.
func isJSONNull(data []byte) bool {
	return string(bytes.Trim(data, " \t\r\n")) == "null"
}

// MarshalObjectMD encodes the version as CloudServer's ObjectMD JSON.
func MarshalObjectMD(o ObjectVersion) ([]byte, error) {
	md := objectMD{
		Key:             o.Key,
		VersionID:       o.VersionID,
		MicroVersionID:  o.MicroVersionID,
		ContentLength:   o.Size,
		ContentMD5:      o.ContentMD5,
		ContentType:     o.ContentType,
		Tags:            o.Tags,
		IsDeleteMarker:  o.IsDeleteMarker,
		ReplicationInfo: o.Replication,
		Headers:         o.Headers,
		RetentionMode:   o.Lock.Mode,
		LegalHold:       o.Lock.LegalHold,
	}
	if !o.Lock.RetainUntil.IsZero() {
		md.RetentionDate = o.Lock.RetainUntil.UTC().Format(time.RFC3339Nano)
	}
	if md.Tags == nil {
		md.Tags = map[string]string{}
	}
	if md.ReplicationInfo.Backends == nil {
		md.ReplicationInfo.Backends = []Backend{}
	}
	if md.ReplicationInfo.Content == nil {
		md.ReplicationInfo.Content = []string{}
	}
	if !o.LastModified.IsZero() {
		md.LastModified = o.LastModified.UTC().Format(time.RFC3339Nano)
	}
	base, err := json.Marshal(md)
	if err != nil {
		return nil, err
	}
	if len(o.UserMeta) == 0 {
		return base, nil
	}
	// User metadata fields sit at the top level of ObjectMD.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(base, &doc); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(o.UserMeta))
	for k := range o.UserMeta {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v, _ := json.Marshal(o.UserMeta[k])
		doc[UserMetaPrefix+k] = v
	}
	return json.Marshal(doc)
}

type objectMD struct {
	Key             string            `json:"key"`
	VersionID       string            `json:"versionId,omitempty"`
	MicroVersionID  string            `json:"microVersionId,omitempty"`
	ContentLength   int64             `json:"content-length"`
	ContentMD5      string            `json:"content-md5"`
	ContentType     string            `json:"content-type,omitempty"`
	LastModified    string            `json:"last-modified,omitempty"`
	Tags            map[string]string `json:"tags"`
	IsDeleteMarker  bool              `json:"isDeleteMarker"`
	ReplicationInfo ReplicationInfo   `json:"replicationInfo"`
	Headers
	RetentionMode string `json:"retentionMode,omitempty"`
	RetentionDate string `json:"retentionDate,omitempty"`
	LegalHold     bool   `json:"legalHold,omitempty"`
}
