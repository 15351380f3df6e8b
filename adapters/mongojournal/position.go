package mongojournal

import (
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// positionVersion is the version of the position format written here.
const positionVersion = 1

// position is what ports.Position holds, as JSON:
//
//	{"v":1, "mode":"collections", "since":{"t":..,"i":..},
//	 "streams":{"<bucket>":{"token":"<base64 BSON resume token>"} | {"at":{"t":..,"i":..}}}}
//	{"v":1, "mode":"database", "db":{"token":...} | {"at":...}}
//
// A stream resumes after its token or, before its first event, starts at
// the cluster time "at". "since" is the server time of the last listing of
// replicated buckets: a bucket missing from the map was not replicated then,
// so its stream starts there and misses none of its writes.
type position struct {
	V       int                    `json:"v"`
	Mode    string                 `json:"mode"`
	Since   *clusterTime           `json:"since,omitempty"`
	Streams map[string]resumePoint `json:"streams,omitempty"`
	DB      *resumePoint           `json:"db,omitempty"`
}

// resumePoint is where one change stream resumes: after Token, or at At.
// The zero value means "from now". CT is the cluster time of the event
// whose own resume token Token is (nil for a post-batch token, or a
// position saved before CT existed): the journal checks that the oplog
// still holds that event before resuming after it.
type resumePoint struct {
	Token []byte       `json:"token,omitempty"`
	At    *clusterTime `json:"at,omitempty"`
	CT    *clusterTime `json:"ct,omitempty"`
}

func (p resumePoint) isZero() bool { return len(p.Token) == 0 && p.At == nil }

// clusterTime is a MongoDB oplog timestamp.
type clusterTime struct {
	T uint32 `json:"t"`
	I uint32 `json:"i"`
}

func (c *clusterTime) timestamp() *primitive.Timestamp {
	return &primitive.Timestamp{T: c.T, I: c.I}
}

func (c clusterTime) time() time.Time { return time.Unix(int64(c.T), 0) }

func (c clusterTime) less(o clusterTime) bool { return c.T < o.T || c.T == o.T && c.I < o.I }

// after returns the cluster time just after c.
func (c clusterTime) after() *clusterTime {
	if c.I == ^uint32(0) {
		return &clusterTime{T: c.T + 1}
	}
	return &clusterTime{T: c.T, I: c.I + 1}
}

func tokenPoint(tok bson.Raw) resumePoint {
	return resumePoint{Token: append([]byte(nil), tok...)}
}

func (p position) encode() ports.Position {
	b, _ := json.Marshal(p) // maps of strings and byte slices: cannot fail
	return b
}

// decodePosition parses a saved position; a malformed one wraps
// domain.ErrPermanent since reading it again cannot help.
func decodePosition(data ports.Position, mode string) (position, error) {
	var p position
	if err := json.Unmarshal(data, &p); err != nil {
		return position{}, fmt.Errorf("mongojournal: %w: position is not valid JSON: %v", domain.ErrPermanent, err)
	}
	if p.V != positionVersion {
		return position{}, fmt.Errorf("mongojournal: %w: position version %d, want %d", domain.ErrPermanent, p.V, positionVersion)
	}
	if p.Mode != mode {
		return position{}, fmt.Errorf("mongojournal: %w: position was saved in %s mode, the journal runs in %s mode (resume tokens do not carry over)", domain.ErrPermanent, p.Mode, mode)
	}
	for name, rp := range p.Streams {
		if err := rp.validate(); err != nil {
			return position{}, fmt.Errorf("mongojournal: %w: position of %q: %v", domain.ErrPermanent, name, err)
		}
	}
	if p.DB != nil {
		if err := p.DB.validate(); err != nil {
			return position{}, fmt.Errorf("mongojournal: %w: database position: %v", domain.ErrPermanent, err)
		}
	}
	return p, nil
}

func (p resumePoint) validate() (err error) {
	if len(p.Token) == 0 {
		return nil
	}
	// The driver's validator panics on some malformed documents (an index
	// out of range, found by FuzzDecodePosition); a corrupt checkpoint must
	// be an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("resume token is not a BSON document: %v", r)
		}
	}()
	if err := bson.Raw(p.Token).Validate(); err != nil {
		return fmt.Errorf("resume token is not a BSON document: %w", err)
	}
	return nil
}
