package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/ports"
)

// metricsInterval is the time bucket of upstream's StatsModel (INTERVAL
// 300 s): counts are kept per 5 minutes.
const metricsInterval = 5 * time.Minute

// Names of the counters, upstream's: per kind, one for operations and one
// for bytes.
var metricNames = map[ports.MetricKind][2]string{
	ports.MetricQueued:    {"ops", "bytes"},
	ports.MetricCompleted: {"opsdone", "bytesdone"},
	ports.MetricFailed:    {"opsfail", "bytesfail"},
}

// recordScript adds operations to a kind's bucket counters, restarts
// their expiry, and moves the pending counters: up for queued work, down
// for outcomes. They are kept signed (Site shows them clamped at zero), as
// upstream and the memory adapter do: the populator records an entry as
// queued after publishing it, so its outcome often lands first, and a floor
// at zero then left pending too high forever (the e2e suite saw 2 to 4 left
// over per 2,000 entries).
//
// An op's lane keeps the ID it last recorded, in the same script, so a
// count retried after a lost reply is seen as done (ports.Op).
//
// KEYS: ops bucket, bytes bucket, ops pending, bytes pending, op lane.
// ARGV: bytes, expiry in ms, "1" for queued work else "-1", op ID ("" for
// none), operations.
var recordScript = redis.NewScript(`
if ARGV[4] ~= "" then
	if redis.call("GET", KEYS[5]) == ARGV[4] then
		return 0
	end
	redis.call("SET", KEYS[5], ARGV[4], "PX", ARGV[2])
end
redis.call("INCRBY", KEYS[1], ARGV[5])
redis.call("PEXPIRE", KEYS[1], ARGV[2])
redis.call("INCRBY", KEYS[2], ARGV[1])
redis.call("PEXPIRE", KEYS[2], ARGV[2])
if ARGV[3] == "1" then
	redis.call("INCRBY", KEYS[3], ARGV[5])
	redis.call("INCRBY", KEYS[4], ARGV[1])
else
	redis.call("DECRBY", KEYS[3], ARGV[5])
	redis.call("DECRBY", KEYS[4], ARGV[1])
end
return 1`)

// Metrics is a ports.MetricsRecorder in upstream Backbeat's Redis layout
// (lib/MetricsConsumer.js, arsenal StatsModel): counters
// `<site>:bb:crr:<name>:<bucket>` per 5-minute bucket (Unix ms floored to
// 5 minutes) expiring Config.MetricsExpiry after their last write, named
// ops/bytes (queued), opsdone/bytesdone (completed), opsfail/bytesfail
// (failed), and `<site>:bb:crr:opspending` / `bytespending` without
// expiry. Each op lane is a key `bb:crr:oplane:<lane>` holding the ID it
// last recorded, expiring with the buckets.
type Metrics struct{ s *Store }

var _ ports.MetricsRecorder = (*Metrics)(nil)

// Metrics returns the metrics recorder.
func (s *Store) Metrics() *Metrics { return &Metrics{s: s} }

func (m *Metrics) bucketKey(site, name string, bucket int64) string {
	return m.s.key(site + ":bb:crr:" + name + ":" + strconv.FormatInt(bucket, 10))
}

func (m *Metrics) pendingKey(site, name string) string {
	return m.s.key(site + ":bb:crr:" + name + "pending")
}

// normalize floors a Unix ms time to its 5-minute bucket, as StatsModel's
// normalizeTimestamp does.
func normalize(ms int64) int64 {
	const step = int64(metricsInterval / time.Millisecond)
	return ms - ms%step
}

// Record adds ops operations of bytes in all to kind at site once per op,
// atomically (one script).
func (m *Metrics) Record(ctx context.Context, site string, kind ports.MetricKind, ops, bytes int64, op ports.Op) error {
	names, ok := metricNames[kind]
	if !ok {
		return fmt.Errorf("redisstore: record metric: unknown kind %q", kind)
	}
	if site == "" {
		return errors.New("redisstore: record metric: empty site")
	}
	if ops < 1 {
		return fmt.Errorf("redisstore: record metric: %d operations, want at least 1", ops)
	}
	bucket := normalize(time.Now().UnixMilli())
	dir := "-1"
	if kind == ports.MetricQueued {
		dir = "1"
	}
	keys := []string{
		m.bucketKey(site, names[0], bucket), m.bucketKey(site, names[1], bucket),
		m.pendingKey(site, "ops"), m.pendingKey(site, "bytes"),
		m.s.key("bb:crr:oplane:" + op.Lane),
	}
	err := recordScript.Run(ctx, m.s.rdb, keys, bytes, m.s.cfg.MetricsExpiry.Milliseconds(), dir, op.ID, ops).Err()
	if err != nil {
		return fmt.Errorf("redisstore: record %d %s of %d bytes at %s: %w", ops, kind, bytes, site, err)
	}
	return nil
}

// Site sums site's buckets that overlap the window ending now (at most
// MetricsExpiry back; a window of 0 or less means 24 h, upstream's), and
// reads the pending counters, clamped at zero.
func (m *Metrics) Site(ctx context.Context, site string, window time.Duration) (ports.SiteMetrics, error) {
	if window <= 0 {
		window = 24 * time.Hour
	}
	window = min(window, m.s.cfg.MetricsExpiry)
	now := time.Now()
	first, last := normalize(now.Add(-window).UnixMilli()), normalize(now.UnixMilli())
	step := metricsInterval.Milliseconds()
	kinds := []ports.MetricKind{ports.MetricQueued, ports.MetricCompleted, ports.MetricFailed}
	keys := []string{m.pendingKey(site, "ops"), m.pendingKey(site, "bytes")}
	for _, k := range kinds {
		for _, name := range metricNames[k] {
			for b := first; b <= last; b += step {
				keys = append(keys, m.bucketKey(site, name, b))
			}
		}
	}
	vals, err := m.s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return ports.SiteMetrics{}, fmt.Errorf("redisstore: read metrics of %s: %w", site, err)
	}
	ints := make([]int64, len(vals))
	for i, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue // missing key
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return ports.SiteMetrics{}, fmt.Errorf("redisstore: metrics key %s holds %q, not an integer", keys[i], s)
		}
		ints[i] = n
	}
	out := ports.SiteMetrics{Pending: ports.Counts{Ops: max(ints[0], 0), Bytes: max(ints[1], 0)}}
	perName := int((last-first)/step) + 1
	sum := func(i int) int64 {
		var t int64
		for _, v := range ints[2+i*perName : 2+(i+1)*perName] {
			t += v
		}
		return t
	}
	out.Queued = ports.Counts{Ops: sum(0), Bytes: sum(1)}
	out.Completed = ports.Counts{Ops: sum(2), Bytes: sum(3)}
	out.Failed = ports.Counts{Ops: sum(4), Bytes: sum(5)}
	return out, nil
}
