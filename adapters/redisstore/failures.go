package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// Key layout of failed entries, upstream Backbeat's (extensions/replication
// constants and lib/util/sortedSetHelper.js): one sorted set per site and
// hour, `bb:crr:failed:<site>:<hour>` where hour is the failure time in
// Unix ms floored to the hour; members `<bucket>:<key>:<versionId>`,
// scored by the failure time in Unix ms. The set of sites seen is ours:
// upstream finds a version's failures per configured site, a store does
// not know the sites.
const (
	failedKeyPrefix = "bb:crr:failed:"
	failedSitesKey  = "bb:crr:failed:sites"
	hourMs          = int64(time.Hour / time.Millisecond)
)

// DefaultListLimit is the page size of List when limit is not positive,
// upstream's listing limit.
const DefaultListLimit = 100

// Failures is a ports.FailureStore in Redis sorted sets, in upstream
// Backbeat's layout, so that either implementation reads what the other
// wrote.
//
// Pages of List never split entries that failed in the same millisecond:
// NextMarker is an inclusive score ("at or before"), so a page that cut
// such a group would have to repeat or skip part of it on the next page.
// A page therefore ends before a group that does not fit in it, and holds
// the whole group, beyond limit, only when the group alone is larger than
// limit (more than limit failures of one site in one millisecond).
//
// Entries live in hour keys that expire Config.FailureExpiry after their
// last write; List, Find and Remove look at the hour keys from the hour
// after now (other clocks may run ahead) back to now - FailureExpiry.
type Failures struct{ s *Store }

var _ ports.FailureStore = (*Failures)(nil)

// Failures returns the failure store.
func (s *Store) Failures() *Failures { return &Failures{s: s} }

func (f *Failures) hourKey(site string, hour int64) string {
	return f.s.key(failedKeyPrefix + site + ":" + strconv.FormatInt(hour, 10))
}

// floorHour floors a Unix ms time to its hour, as upstream's
// getSortedSetCurrentHour does.
func floorHour(ms int64) int64 {
	h := ms - ms%hourMs
	if ms < 0 && ms%hourMs != 0 {
		h -= hourMs
	}
	return h
}

// window returns the hours whose keys may hold live entries, newest first.
func (f *Failures) window(now time.Time) []int64 {
	newest := floorHour(now.Add(time.Hour).UnixMilli())
	oldest := floorHour(now.Add(-f.s.cfg.FailureExpiry).UnixMilli())
	hours := make([]int64, 0, (newest-oldest)/hourMs+1)
	for h := newest; h >= oldest; h -= hourMs {
		hours = append(hours, h)
	}
	return hours
}

// Member formats the sorted-set member of a version, as upstream does.
func Member(bucket, key, versionID string) string {
	return bucket + ":" + key + ":" + versionID
}

// ParseMember splits a member as upstream does: the bucket ends at the
// first ':' and the version id starts after the last one, so the key may
// hold ':' but the bucket and the version id may not.
func ParseMember(m string) (bucket, key, versionID string, ok bool) {
	i := strings.IndexByte(m, ':')
	j := strings.LastIndexByte(m, ':')
	if i < 0 || i == j {
		return "", "", "", false
	}
	return m[:i], m[i+1 : j], m[j+1:], true
}

func checkEntry(e ports.FailedEntry) error {
	var problems []string
	if e.Site == "" {
		problems = append(problems, "site is empty")
	}
	if e.Bucket == "" || strings.Contains(e.Bucket, ":") {
		problems = append(problems, fmt.Sprintf("bucket %q is empty or holds ':'", e.Bucket))
	}
	if strings.Contains(e.VersionID, ":") {
		problems = append(problems, fmt.Sprintf("version id %q holds ':'", e.VersionID))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: failed entry: %s", domain.ErrPermanent, strings.Join(problems, "; "))
	}
	return nil
}

// Add records e in the key of its failure hour (now when FailedAt is
// zero) and removes it from the site's other hour keys, so that adding it
// again moves it to its new time. The key's expiry restarts.
func (f *Failures) Add(ctx context.Context, e ports.FailedEntry) error {
	if err := checkEntry(e); err != nil {
		return err
	}
	at := e.FailedAt
	if at.IsZero() {
		at = time.Now()
	}
	score := at.UnixMilli()
	target := floorHour(score)
	key := f.hourKey(e.Site, target)
	m := Member(e.Bucket, e.Key, e.VersionID)
	// One transaction: a concurrent List sees the entry at its old time
	// or its new one, never at both or neither.
	_, err := f.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, h := range f.window(time.Now()) {
			if h != target {
				p.ZRem(ctx, f.hourKey(e.Site, h), m)
			}
		}
		p.ZAdd(ctx, key, redis.Z{Score: float64(score), Member: m})
		p.PExpire(ctx, key, f.s.cfg.FailureExpiry)
		p.SAdd(ctx, f.s.key(failedSitesKey), e.Site)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: add failed entry %s to %s: %w", m, key, err)
	}
	return nil
}

// scored is one sorted-set member with its score.
type scored struct {
	member string
	score  int64
}

// List returns up to limit entries of site failed at or before marker
// (Unix ms; 0 means now, including times slightly ahead of this clock),
// newest first; equal times come in reverse member order, as Redis sorts
// them. See Failures for how pages treat equal times.
func (f *Failures) List(ctx context.Context, site string, marker int64, limit int) (ports.FailurePage, error) {
	if limit <= 0 {
		limit = DefaultListLimit
	}
	hours := f.window(time.Now())
	max := "+inf"
	if marker > 0 {
		max = strconv.FormatInt(marker, 10)
		hours = slices.DeleteFunc(hours, func(h int64) bool { return h > floorHour(marker) })
	}
	got, err := f.scan(ctx, site, hours, "-inf", max, limit+1)
	if err != nil {
		return ports.FailurePage{}, err
	}
	if len(got) <= limit {
		return ports.FailurePage{Entries: f.entries(site, got)}, nil
	}
	peek := got[limit]
	if got[limit-1].score != peek.score {
		return ports.FailurePage{Entries: f.entries(site, got[:limit]), NextMarker: peek.score, Truncated: true}, nil
	}
	// The page would end inside a group of equal times: end it before.
	if g := slices.IndexFunc(got, func(s scored) bool { return s.score == peek.score }); g > 0 {
		return ports.FailurePage{Entries: f.entries(site, got[:g]), NextMarker: peek.score, Truncated: true}, nil
	}
	// The group fills the page: return all of it.
	exact := strconv.FormatInt(peek.score, 10)
	group, err := f.scan(ctx, site, []int64{floorHour(peek.score)}, exact, exact, -1)
	if err != nil {
		return ports.FailurePage{}, err
	}
	hours = slices.DeleteFunc(hours, func(h int64) bool { return h > floorHour(peek.score) })
	rest, err := f.scan(ctx, site, hours, "-inf", "("+exact, 1)
	if err != nil {
		return ports.FailurePage{}, err
	}
	page := ports.FailurePage{Entries: f.entries(site, group)}
	if len(rest) > 0 {
		page.Truncated, page.NextMarker = true, rest[0].score
	}
	return page, nil
}

// scan returns up to n members of site's hour keys (hours newest first)
// scored between lo and max (Redis score bounds), newest first; n < 0
// means all. It counts first, then fetches only the keys it needs, each
// round in one pipelined round trip.
func (f *Failures) scan(ctx context.Context, site string, hours []int64, lo, max string, n int) ([]scored, error) {
	counts := make([]*redis.IntCmd, len(hours))
	if _, err := f.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hours {
			counts[i] = p.ZCount(ctx, f.hourKey(site, h), lo, max)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("redisstore: count failed entries of %s: %w", site, err)
	}
	var out []scored
	next := 0 // first hour not fetched yet
	for next < len(hours) && (n < 0 || len(out) < n) {
		// Pick the keys that should hold what is still needed; fetch
		// more in another round if entries vanished in between.
		var pick []int
		need := int64(n - len(out))
		for ; next < len(hours) && (n < 0 || need > 0); next++ {
			if c := counts[next].Val(); c > 0 {
				pick = append(pick, next)
				need -= c
			}
		}
		if len(pick) == 0 {
			break
		}
		ranges := make([]*redis.ZSliceCmd, len(pick))
		if _, err := f.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, h := range pick {
				by := &redis.ZRangeBy{Max: max, Min: lo}
				if n >= 0 {
					by.Count = int64(n - len(out))
				}
				ranges[i] = p.ZRevRangeByScoreWithScores(ctx, f.hourKey(site, hours[h]), by)
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("redisstore: list failed entries of %s: %w", site, err)
		}
		for _, r := range ranges {
			for _, z := range r.Val() {
				if n >= 0 && len(out) >= n {
					break
				}
				m, _ := z.Member.(string)
				out = append(out, scored{member: m, score: int64(z.Score)})
			}
		}
	}
	return out, nil
}

// entries converts members to entries, dropping (with a warning) members
// that are not `bucket:key:versionId`.
func (f *Failures) entries(site string, got []scored) []ports.FailedEntry {
	out := make([]ports.FailedEntry, 0, len(got))
	for _, s := range got {
		b, k, v, ok := ParseMember(s.member)
		if !ok {
			f.s.cfg.Logger.Warn("redisstore: skipped a malformed failed-entry member", "site", site, "member", s.member)
			continue
		}
		out = append(out, ports.FailedEntry{Site: site, Bucket: b, Key: k, VersionID: v, FailedAt: time.UnixMilli(s.score).UTC()})
	}
	return out
}

// Find returns the entries of one version at every site that recorded a
// failure, ordered by site.
func (f *Failures) Find(ctx context.Context, bucket, key, versionID string) ([]ports.FailedEntry, error) {
	sites, err := f.s.rdb.SMembers(ctx, f.s.key(failedSitesKey)).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list failure sites: %w", err)
	}
	slices.Sort(sites)
	m := Member(bucket, key, versionID)
	hours := f.window(time.Now())
	scores := make([][]*redis.FloatCmd, len(sites))
	_, err = f.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, site := range sites {
			scores[i] = make([]*redis.FloatCmd, len(hours))
			for j, h := range hours {
				scores[i][j] = p.ZScore(ctx, f.hourKey(site, h), m)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: find failed entry %s: %w", m, err)
	}
	var out []ports.FailedEntry
	for i, site := range sites {
		best, found := int64(0), false
		for _, c := range scores[i] {
			s, err := c.Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("redisstore: find failed entry %s at %s: %w", m, site, err)
			}
			if !found || int64(s) > best {
				best, found = int64(s), true
			}
		}
		if found {
			out = append(out, ports.FailedEntry{Site: site, Bucket: bucket, Key: key, VersionID: versionID, FailedAt: time.UnixMilli(best).UTC()})
		}
	}
	slices.SortFunc(out, func(a, b ports.FailedEntry) int { return cmp.Compare(a.Site, b.Site) })
	return out, nil
}

// Remove deletes the entry of e's site and version from every hour key,
// whatever its time, reporting whether it was in any.
func (f *Failures) Remove(ctx context.Context, e ports.FailedEntry) (bool, error) {
	hours := f.window(time.Now())
	if !e.FailedAt.IsZero() {
		if h := floorHour(e.FailedAt.UnixMilli()); !slices.Contains(hours, h) {
			hours = append(hours, h)
		}
	}
	m := Member(e.Bucket, e.Key, e.VersionID)
	keys := make([]string, len(hours))
	for i, h := range hours {
		keys[i] = f.hourKey(e.Site, h)
	}
	n, err := removeScript.Run(ctx, f.s.rdb, keys, m).Int64()
	if err != nil {
		return false, fmt.Errorf("redisstore: remove failed entry %s of %s: %w", m, e.Site, err)
	}
	return n > 0, nil
}

// removeScript takes a member out of every hour's set of a site, at once
// and in one round trip: the status applier unlists every version it
// completes, and a MULTI of one ZREM per hour of the retention window cost
// the client 25 commands to write and read.
//
// KEYS: the hours' sets. ARGV: the member. Returns how many sets held it.
var removeScript = redis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
	n = n + redis.call("ZREM", k, ARGV[1])
end
return n`)
