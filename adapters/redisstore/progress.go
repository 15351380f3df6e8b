package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/ports"
)

// advanceScript adds bytes to a copy's record when it is still the
// attempt the caller reports for, capped at the total, and moves its
// update time forward only. Done is moved with HINCRBY so that no Lua
// number is ever written back (Lua would format a large one as 1e+15).
//
// KEYS: the record. ARGV: started (ms), bytes, at (ms), expiry (ms).
var advanceScript = redis.NewScript(`
local started = redis.call("HGET", KEYS[1], "started")
if not started or started ~= ARGV[1] then
	return 0
end
local total = redis.call("HGET", KEYS[1], "total")
local done = redis.call("HINCRBY", KEYS[1], "done", ARGV[2])
if done > tonumber(total) then
	redis.call("HSET", KEYS[1], "done", total)
end
if tonumber(ARGV[3]) > tonumber(redis.call("HGET", KEYS[1], "updated")) then
	redis.call("HSET", KEYS[1], "updated", ARGV[3])
end
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 1`)

// Progress is a ports.ProgressStore: one hash per copy,
// `<site>:<bucket>:<key>:<versionId>:bb:crr:object:progress` (each part
// URL-escaped, so that keys holding ':' stay apart) with the fields total,
// done, started and updated (Unix ms), expiring Config.MetricsExpiry after
// its last change, as upstream's per-object counters
// (`...:bb:crr:object:bytes` and `:bytesdone`) do.
type Progress struct{ s *Store }

var _ ports.ProgressStore = (*Progress)(nil)

// Progress returns the copy progress store.
func (s *Store) Progress() *Progress { return &Progress{s: s} }

func (p *Progress) recordKey(ref ports.CopyRef) string {
	esc := url.QueryEscape
	return p.s.key(esc(ref.Site) + ":" + esc(ref.Bucket) + ":" + esc(ref.Key) + ":" + esc(ref.VersionID) + ":bb:crr:object:progress")
}

// Begin replaces the copy's record with a new attempt, atomically.
func (p *Progress) Begin(ctx context.Context, ref ports.CopyRef, total int64, started time.Time) error {
	key := p.recordKey(ref)
	ms := started.UnixMilli()
	_, err := p.s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, key)
		pipe.HSet(ctx, key, "total", total, "done", 0, "started", ms, "updated", ms)
		pipe.PExpire(ctx, key, p.s.cfg.MetricsExpiry)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: begin progress of %s/%s %s to %s: %w", ref.Bucket, ref.Key, ref.VersionID, ref.Site, err)
	}
	return nil
}

// Advance adds n bytes to the attempt that began at started, atomically
// (one script).
func (p *Progress) Advance(ctx context.Context, ref ports.CopyRef, started time.Time, n int64, at time.Time) error {
	err := advanceScript.Run(ctx, p.s.rdb, []string{p.recordKey(ref)},
		started.UnixMilli(), max(n, 0), at.UnixMilli(), p.s.cfg.MetricsExpiry.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: advance progress of %s/%s %s to %s: %w", ref.Bucket, ref.Key, ref.VersionID, ref.Site, err)
	}
	return nil
}

// Progress reads the copy's record.
func (p *Progress) Progress(ctx context.Context, ref ports.CopyRef) (ports.CopyProgress, error) {
	key := p.recordKey(ref)
	m, err := p.s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return ports.CopyProgress{}, fmt.Errorf("redisstore: read progress of %s/%s %s to %s: %w", ref.Bucket, ref.Key, ref.VersionID, ref.Site, err)
	}
	if len(m) == 0 {
		return ports.CopyProgress{}, fmt.Errorf("redisstore: progress of %s/%s %s to %s: %w", ref.Bucket, ref.Key, ref.VersionID, ref.Site, ports.ErrNotFound)
	}
	var errs []error
	field := func(name string) int64 {
		v, err := strconv.ParseInt(m[name], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s holds %q, not an integer", name, m[name]))
		}
		return v
	}
	out := ports.CopyProgress{
		Total: field("total"), Done: field("done"),
		Started: time.UnixMilli(field("started")).UTC(), Updated: time.UnixMilli(field("updated")).UTC(),
	}
	if err := errors.Join(errs...); err != nil {
		return ports.CopyProgress{}, fmt.Errorf("redisstore: progress key %s: %w", key, err)
	}
	return out, nil
}
