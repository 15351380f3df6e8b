package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EntrySchemaVersion is the version of the entry and outcome JSON formats
// this code writes. Readers accept this version and older ones.
const EntrySchemaVersion = 1

// Entry is one replication entry on the bus: one object version to copy.
// Its JSON follows upstream Backbeat's ObjectQueueEntry.toKafkaEntry: the
// versioned key (key NUL versionId) and the ObjectMD as a JSON string.
type Entry struct {
	SchemaVersion int    `json:"schemaVersion"`
	Type          string `json:"type"`
	Bucket        string `json:"bucket"`
	Key           string `json:"key"`
	Value         string `json:"value"`
	// Site restricts the entry to one site (a retry or a replay); empty
	// means every site the metadata lists as PENDING.
	Site        string `json:"site,omitempty"`
	ReplayCount int    `json:"replayCount,omitempty"`
	// NotBefore delays a replayed entry until that time (Unix ms).
	NotBefore int64 `json:"notBefore,omitempty"`
}

// EntryTypePut is the only entry type the replication pipeline carries.
const EntryTypePut = "put"

// ErrPoison marks input that can never be processed: retrying it is useless,
// it goes to the dead-letter topic with the reason.
var ErrPoison = errors.New("poison input")

// NewEntry builds the entry of one version from its metadata JSON.
func NewEntry(bucket, versionedKey string, value []byte) Entry {
	return Entry{SchemaVersion: EntrySchemaVersion, Type: EntryTypePut, Bucket: bucket, Key: versionedKey, Value: string(value)}
}

// Encode returns the entry's JSON.
func (e Entry) Encode() []byte {
	b, _ := json.Marshal(e) // only strings and ints: cannot fail
	return b
}

// OrderingKey is the bus key of the entry.
func (e Entry) OrderingKey() string {
	key, _, _ := SplitVersionedKey(e.Key)
	return OrderingKey(e.Bucket, key)
}

// DecodeEntry parses and validates an entry and the object version it
// carries. Unknown fields are ignored; every error wraps ErrPoison and names
// the field that is wrong.
func DecodeEntry(data []byte) (Entry, ObjectVersion, error) {
	var e Entry
	if err := json.Unmarshal(data, &e); err != nil {
		return Entry{}, ObjectVersion{}, fmt.Errorf("%w: entry is not valid JSON: %v", ErrPoison, err)
	}
	if e.SchemaVersion > EntrySchemaVersion {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry schemaVersion %d is newer than the supported %d", ErrPoison, e.SchemaVersion, EntrySchemaVersion)
	}
	if e.Type != "" && e.Type != EntryTypePut {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry type %q is not %q", ErrPoison, e.Type, EntryTypePut)
	}
	if e.Bucket == "" {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry field bucket is empty", ErrPoison)
	}
	key, vid, ok := SplitVersionedKey(e.Key)
	if key == "" {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry field key is empty", ErrPoison)
	}
	if e.ReplayCount < 0 {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry field replayCount is negative", ErrPoison)
	}
	obj, err := ParseObjectMD(e.Bucket, []byte(e.Value))
	if err != nil {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry field value: %v", ErrPoison, err)
	}
	if obj.Key != "" && obj.Key != key {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry key %q does not match the metadata key %q", ErrPoison, key, obj.Key)
	}
	obj.Key = key
	if ok && obj.VersionID != "" && obj.VersionID != vid {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry version %q does not match the metadata versionId %q", ErrPoison, vid, obj.VersionID)
	}
	if obj.VersionID == "" {
		obj.VersionID = vid
	}
	if obj.VersionID == "" {
		return e, ObjectVersion{}, fmt.Errorf("%w: entry has no version id", ErrPoison)
	}
	if e.Site != "" {
		if _, ok := obj.Site(e.Site); !ok {
			return e, ObjectVersion{}, fmt.Errorf("%w: entry site %q is not among the version's replication sites", ErrPoison, e.Site)
		}
	}
	return e, obj, nil
}

// Outcome is the result of replicating one version to one site, carried on
// the status topic to the status applier.
type Outcome struct {
	SchemaVersion int    `json:"schemaVersion"`
	Bucket        string `json:"bucket"`
	Key           string `json:"key"`
	VersionID     string `json:"versionId"`
	Site          string `json:"site"`
	Status        Status `json:"status"`
	// Generation is the ObjectVersion.Generation the replication worked on.
	Generation         string `json:"generation"`
	DataStoreVersionID string `json:"dataStoreVersionId,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Bytes              int64  `json:"bytes"`
	Attempts           int    `json:"attempts"`
	// SourceModified is the source write time (Unix ms), for lag metrics.
	SourceModified int64 `json:"sourceModified,omitempty"`
	// Action says what a COMPLETED outcome took: a copy of the data, a
	// change of the replica's metadata in place, or nothing (the site
	// already matched). Empty in outcomes of older writers and in FAILED
	// ones.
	Action Action `json:"action,omitempty"`
	// ReplayCount is how many times the entry went through the replay
	// topic before this outcome, for upstream's replay metrics.
	ReplayCount int `json:"replayCount,omitempty"`
}

// Action is what the replicator did at a site for one entry.
type Action string

// Actions of a COMPLETED outcome.
const (
	ActionCopied   Action = "copied"
	ActionMetadata Action = "metadata"
	ActionNone     Action = "none"
)

// NewOutcome describes the result of replicating obj to site. Bytes is
// the version's size when the entry asked for its data; Completed sets it
// from what was really done.
func NewOutcome(obj ObjectVersion, site string, st Status) Outcome {
	o := Outcome{
		SchemaVersion: EntrySchemaVersion, Bucket: obj.Bucket, Key: obj.Key, VersionID: obj.VersionID,
		Site: site, Status: st, Generation: obj.Generation(),
	}
	if obj.NeedsData() {
		o.Bytes = obj.Size
	}
	if !obj.LastModified.IsZero() {
		o.SourceModified = obj.LastModified.UnixMilli()
	}
	return o
}

// Completed marks the outcome COMPLETED by action at destination version
// dstVersionID. Only a copy counts the version's bytes as replicated.
func (o *Outcome) Completed(action Action, dstVersionID string, size int64) {
	o.Status, o.Action, o.DataStoreVersionID, o.Reason = StatusCompleted, action, dstVersionID, ""
	o.Bytes = 0
	if action == ActionCopied {
		o.Bytes = size
	}
}

// Encode returns the outcome's JSON.
func (o Outcome) Encode() []byte {
	b, _ := json.Marshal(o)
	return b
}

// OrderingKey is the bus key of the outcome, the same as its entry's.
func (o Outcome) OrderingKey() string { return OrderingKey(o.Bucket, o.Key) }

// SourceTime returns when the source version was written, if known.
func (o Outcome) SourceTime() (time.Time, bool) {
	if o.SourceModified == 0 {
		return time.Time{}, false
	}
	return time.UnixMilli(o.SourceModified), true
}

// DecodeOutcome parses and validates an outcome; errors wrap ErrPoison.
func DecodeOutcome(data []byte) (Outcome, error) {
	var o Outcome
	if err := json.Unmarshal(data, &o); err != nil {
		return Outcome{}, fmt.Errorf("%w: outcome is not valid JSON: %v", ErrPoison, err)
	}
	switch {
	case o.SchemaVersion > EntrySchemaVersion:
		return o, fmt.Errorf("%w: outcome schemaVersion %d is newer than the supported %d", ErrPoison, o.SchemaVersion, EntrySchemaVersion)
	case o.Bucket == "":
		return o, fmt.Errorf("%w: outcome field bucket is empty", ErrPoison)
	case o.Key == "":
		return o, fmt.Errorf("%w: outcome field key is empty", ErrPoison)
	case o.VersionID == "":
		return o, fmt.Errorf("%w: outcome field versionId is empty", ErrPoison)
	case o.Site == "":
		return o, fmt.Errorf("%w: outcome field site is empty", ErrPoison)
	case o.Status != StatusCompleted && o.Status != StatusFailed:
		return o, fmt.Errorf("%w: outcome field status is %q, want COMPLETED or FAILED", ErrPoison, o.Status)
	case o.Action != "" && o.Action != ActionCopied && o.Action != ActionMetadata && o.Action != ActionNone:
		return o, fmt.Errorf("%w: outcome field action is %q, want copied, metadata or none", ErrPoison, o.Action)
	}
	return o, nil
}

// Apply records the outcome on the version's metadata. It refuses, with
// ErrStaleOutcome, an outcome computed for an older write of the version,
// and leaves a site that already COMPLETED as it is.
func (o Outcome) Apply(obj *ObjectVersion) (changed bool, err error) {
	if obj.Generation() != o.Generation {
		return false, fmt.Errorf("%w: outcome for generation %q, metadata at %q", ErrStaleOutcome, o.Generation, obj.Generation())
	}
	b, ok := obj.Site(o.Site)
	if !ok {
		return false, fmt.Errorf("%w: version has no replication to site %q", ErrPoison, o.Site)
	}
	if b.Status == StatusCompleted {
		return false, nil // COMPLETED is final: a late FAILED must not undo it
	}
	return obj.SetSiteStatus(o.Site, o.Status, o.DataStoreVersionID, o.Reason)
}
