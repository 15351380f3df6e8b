package memory

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// appendEvent adds a write to the oplog and wakes the cursors. The caller
// holds m.mu.
func (m *Metadata) appendEvent(bucket, key string, value []byte) {
	seq := uint64(len(m.events)) + 1
	m.events = append(m.events, ports.JournalEvent{
		Position: encodePosition(seq),
		Bucket:   bucket,
		Key:      key,
		Value:    value, // never changed: documents are replaced, not edited
		Time:     time.Now(),
	})
	close(m.grew)
	m.grew = make(chan struct{})
}

// positionMagic starts every position this journal hands out, so that a
// position of another journal (a MongoDB resume token) is refused rather
// than misread.
var positionMagic = []byte("memj")

func encodePosition(seq uint64) ports.Position {
	p := make([]byte, len(positionMagic)+8)
	copy(p, positionMagic)
	binary.BigEndian.PutUint64(p[len(positionMagic):], seq)
	return p
}

func decodePosition(p ports.Position) (uint64, error) {
	if len(p) != len(positionMagic)+8 || !bytes.HasPrefix(p, positionMagic) {
		return 0, fmt.Errorf("%w: journal position %x is not one of the memory journal", domain.ErrPermanent, []byte(p))
	}
	return binary.BigEndian.Uint64(p[len(positionMagic):]), nil
}

// Open starts reading after from, or at the current end when from is
// empty.
// A position past the end (one of another Metadata) is refused.
func (m *Metadata) Open(ctx context.Context, from ports.Position) (ports.JournalCursor, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	end := uint64(len(m.events))
	m.mu.Unlock()
	next := end
	if len(from) > 0 {
		seq, err := decodePosition(from)
		if err != nil {
			return nil, fmt.Errorf("memory: open journal: %w", err)
		}
		if seq > end {
			return nil, fmt.Errorf("memory: open journal: %w: position %d is past the journal's end %d (a position of another journal?)", domain.ErrPermanent, seq, end)
		}
		next = seq
	}
	c := &cursor{m: m, next: next}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.lost(); err != nil {
		return nil, err
	}
	return c, nil
}

// TrimJournal drops all but the newest keep events from the journal, as
// a capped oplog does: a cursor, or a position, behind them then gets a
// *ports.HistoryLostError.
func (m *Metadata) TrimJournal(keep int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := uint64(len(m.events)); n > uint64(max(keep, 0)) {
		m.horizon = max(m.horizon, n-uint64(keep))
	}
	close(m.grew)
	m.grew = make(chan struct{})
}

// lost describes the history c missed, or is nil when it missed none.
// The caller holds c.m.mu.
func (c *cursor) lost() error {
	m := c.m
	if c.next >= m.horizon {
		return nil
	}
	e := &ports.HistoryLostError{Resume: encodePosition(m.horizon), To: time.Now()}
	if c.next > 0 {
		e.From = m.events[c.next-1].Time
	}
	if m.horizon < uint64(len(m.events)) {
		e.To = m.events[m.horizon].Time
	}
	seen := map[string]bool{}
	for _, ev := range m.events[c.next:m.horizon] {
		if !seen[ev.Bucket] {
			seen[ev.Bucket] = true
			e.Buckets = append(e.Buckets, ev.Bucket)
		}
	}
	return e
}

// cursor reads the oplog from index next on.
type cursor struct {
	m      *Metadata
	next   uint64
	closed atomic.Bool
}

var errCursorClosed = errors.New("memory: journal cursor is closed")

// Next returns up to max events, waiting for the first on the oplog's
// growth signal (no polling).
func (c *cursor) Next(ctx context.Context, limit int) ([]ports.JournalEvent, error) {
	if limit < 1 {
		return nil, fmt.Errorf("memory: journal Next: %w: max is %d, want at least 1", domain.ErrPermanent, limit)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.closed.Load() {
			return nil, errCursorClosed
		}
		c.m.mu.Lock()
		if err := c.lost(); err != nil {
			c.m.mu.Unlock()
			return nil, err
		}
		if avail := uint64(len(c.m.events)) - c.next; avail > 0 {
			n := min(uint64(limit), avail)
			out := make([]ports.JournalEvent, n)
			for i := range out {
				ev := c.m.events[c.next+uint64(i)]
				ev.Position = bytes.Clone(ev.Position)
				ev.Value = bytes.Clone(ev.Value)
				out[i] = ev
			}
			c.next += n
			c.m.mu.Unlock()
			return out, nil
		}
		grew := c.m.grew
		c.m.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-grew:
		}
	}
}

// Close ends the cursor; Next then fails.
func (c *cursor) Close(context.Context) error {
	c.closed.Store(true)
	return nil
}
