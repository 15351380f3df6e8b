package domain

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// ErrUnanswered says a KeyCheck was asked for its verdict before every
// question it asked (HEADs, tag reads) was answered.
var ErrUnanswered = errors.New("verify: a question about a site version is unanswered")

// owner values of a site data version that names no source version.
const (
	ownerUnknown    = -1 // not decided yet: a HEAD is needed
	ownerExtra      = -2 // replicates no source version in scope
	ownerGone       = -3 // deleted since the listing
	ownerUnverified = -4 // replicates an unreadable source version
)

// KeyCheck judges one key at one verify target: which site version
// replicates which source version, and every finding. It does no I/O. It
// asks for what the listings do not say, in two rounds, and the caller
// answers: HeadsNeeded (the replica markers of the site versions the
// listing cannot map), then TagsNeeded (the tags of the replicas to
// compare), then Result.
//
// A site data version is mapped to a source version by the cheapest
// reliable evidence:
//  1. the source recorded it as the site's replica (the backend's
//     dataStoreVersionId names it);
//  2. else its size and ETag (a plain MD5) equal those of exactly one
//     source data version of the key, no other has its size with a hash
//     that cannot be compared (a multipart ETag), and that version's
//     recorded replica is not listed (else this one is a duplicate, or a
//     stranger with the same bytes);
//  3. else a HEAD reads its x-amz-meta-scal-version-id.
//
// The key's site versions need no HEAD when the source has nothing in
// scope under the key: they are all extra.
//
// Each source version's replica is the newest site data version mapped to
// it (reads without a version id see the newest): older ones are
// duplicates, which the pipeline's replays can leave, and are not
// findings. Delete markers carry no metadata, so they are compared only
// where they change what a read returns: the key's latest version.
type KeyCheck struct {
	bucket Bucket
	target VerifyTarget
	key    string

	src        []ObjectVersion // in scope, readable, in the walk's order
	unreadable map[string]bool
	site       []SiteVersion // data versions, in listing order
	siteLatest *SiteVersion  // the listing's latest version or marker
	listed     int

	owner []int
	why   []string

	heads    map[string]int // site version id -> index, asked
	answered map[string]bool

	resolved bool
	replica  []int           // per source version: site index of its replica, or -1
	tagsAsk  map[string]int  // site version id -> source index, asked
	tags     map[string]tags // answered
}

type tags = map[string]string

// NewKeyCheck prepares the judgement of kv's key at target, the site
// listing being kv.Sites[site]. b is the source bucket, with the
// replication configuration the job compares against.
func NewKeyCheck(b Bucket, target VerifyTarget, kv KeyVersions, site int) *KeyCheck {
	c := &KeyCheck{bucket: b, target: target, key: kv.Key, unreadable: map[string]bool{}}
	for _, v := range kv.Source {
		if v.Unreadable {
			c.unreadable[v.VersionID] = true
			continue
		}
		if _, ok := b.VerifiedAt(v.ObjectVersion, target); ok {
			c.src = append(c.src, v.ObjectVersion)
		}
	}
	if site >= 0 && site < len(kv.Sites) {
		for i, sv := range kv.Sites[site] {
			c.listed++
			if sv.IsLatest && c.siteLatest == nil {
				c.siteLatest = &kv.Sites[site][i]
			}
			if !sv.IsDeleteMarker {
				c.site = append(c.site, sv)
			}
		}
	}
	c.owner = make([]int, len(c.site))
	c.why = make([]string, len(c.site))
	c.heads = map[string]int{}
	c.answered = map[string]bool{}
	recorded := map[string]int{}
	for i, v := range c.src {
		if be, ok := v.Site(target.Site); ok && be.DataStoreVersionID != "" && !v.IsDeleteMarker {
			if _, dup := recorded[be.DataStoreVersionID]; !dup {
				recorded[be.DataStoreVersionID] = i
			}
		}
	}
	hasData := slices.ContainsFunc(c.src, func(v ObjectVersion) bool { return !v.IsDeleteMarker })
	held := make([]bool, len(c.src)) // the recorded replica is listed
	for j, sv := range c.site {
		c.owner[j] = ownerUnknown
		if i, ok := recorded[sv.VersionID]; ok {
			c.owner[j], held[i] = i, true
		}
	}
	for j, sv := range c.site {
		if c.owner[j] != ownerUnknown {
			continue
		}
		if !hasData && len(c.unreadable) == 0 {
			c.owner[j], c.why[j] = ownerExtra, "the source has no version of this key to replicate here"
			continue
		}
		// A second version with the bytes of a source version whose
		// recorded replica is there is a duplicate or a stranger: ask.
		if i, ok := c.matchByListing(sv); ok && !held[i] {
			c.owner[j] = i
			continue
		}
		c.heads[sv.VersionID] = j
	}
	return c
}

// matchByListing returns the one source data version whose content the
// listing's size and ETag prove sv holds.
func (c *KeyCheck) matchByListing(sv SiteVersion) (int, bool) {
	match, unknown := -1, false
	for i, v := range c.src {
		if v.IsDeleteMarker {
			continue
		}
		switch compareContent(v, sv) {
		case contentEqual:
			if match >= 0 {
				return 0, false // two source versions hold these bytes
			}
			match = i
		case contentUnknown:
			unknown = true
		}
	}
	return match, match >= 0 && !unknown
}

// HeadsNeeded lists the site versions whose replica markers the caller
// must read (with a HEAD) and give to SetMarkers.
func (c *KeyCheck) HeadsNeeded() []string {
	out := make([]string, 0, len(c.heads))
	for _, sv := range c.site {
		if _, ok := c.heads[sv.VersionID]; ok {
			out = append(out, sv.VersionID)
		}
	}
	return out
}

// SetMarkers answers HeadsNeeded for site version versionID: its markers,
// or found false when the version no longer exists (it is then left out).
func (c *KeyCheck) SetMarkers(versionID string, m ReplicaMarkers, found bool) {
	j, ok := c.heads[versionID]
	if !ok {
		return
	}
	c.answered[versionID] = true
	switch {
	case !found:
		c.owner[j] = ownerGone
		return
	case m.SourceVersionID == "":
		c.owner[j], c.why[j] = ownerExtra, "carries no replica markers"
		return
	case c.unreadable[m.SourceVersionID]:
		c.owner[j] = ownerUnverified
		return
	}
	for i, v := range c.src {
		if v.VersionID == m.SourceVersionID && !v.IsDeleteMarker {
			c.owner[j] = i
			return
		}
	}
	c.owner[j], c.why[j] = ownerExtra, fmt.Sprintf("replicates version %s, which the source does not have to send here", m.SourceVersionID)
}

// resolve maps each source version to its replica, once the HEADs are in.
func (c *KeyCheck) resolve() error {
	if c.resolved {
		return nil
	}
	if len(c.answered) < len(c.heads) {
		return fmt.Errorf("%w: key %q: %d of %d HEADs", ErrUnanswered, c.key, len(c.heads)-len(c.answered), len(c.heads))
	}
	c.replica = make([]int, len(c.src))
	for i := range c.replica {
		c.replica[i] = -1
	}
	for j, o := range c.owner {
		if o >= 0 && c.replica[o] < 0 {
			c.replica[o] = j // the listing has the newest first
		}
	}
	c.tagsAsk = map[string]int{}
	c.tags = map[string]tags{}
	for i, v := range c.src {
		if v.IsDeleteMarker || !c.compares(v) || c.replica[i] < 0 {
			continue
		}
		if sv := c.site[c.replica[i]]; compareContent(v, sv) != contentDiffer {
			c.tagsAsk[sv.VersionID] = i
		}
	}
	c.resolved = true
	return nil
}

// compares reports whether v's replica is compared: its status for the
// site claims a copy (COMPLETED), or there is none (never replicated).
func (c *KeyCheck) compares(v ObjectVersion) bool {
	st := c.status(v)
	return st != StatusPending && st != StatusProcessing && st != StatusFailed
}

func (c *KeyCheck) status(v ObjectVersion) Status {
	if be, ok := v.Site(c.target.Site); ok {
		return be.Status
	}
	return StatusNone
}

// TagsNeeded lists the replicas whose tags the caller must read and give
// to SetTags: one per source version whose replica is there with the
// right content. It fails with ErrUnanswered while HEADs are unanswered.
func (c *KeyCheck) TagsNeeded() ([]string, error) {
	if err := c.resolve(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(c.tagsAsk))
	for _, sv := range c.site {
		if _, ok := c.tagsAsk[sv.VersionID]; ok {
			out = append(out, sv.VersionID)
		}
	}
	return out, nil
}

// SetTags answers TagsNeeded for site version versionID. A version that
// no longer exists is answered with found false: its source version is
// then missing.
func (c *KeyCheck) SetTags(versionID string, t map[string]string, found bool) {
	i, ok := c.tagsAsk[versionID]
	if !ok {
		return
	}
	if !found {
		// Deleted since the listing: the source version has no replica
		// to compare (an older duplicate's tags are not known either).
		c.owner[c.replica[i]] = ownerGone
		c.replica[i] = -1
		delete(c.tagsAsk, versionID)
		return
	}
	c.tags[versionID] = t
}

// KeyResult is the verdict on one key at one target.
type KeyResult struct {
	Findings []Finding
	// Repairs are what a verify with repair re-queues, oldest source
	// version first (so that the site receives them in the source's
	// order), at most one per source version.
	Repairs []Repair
	// Compared counts the source versions judged; Listed the site's
	// versions and delete markers; Heads and TagReads the questions asked.
	Compared, Listed, Heads, TagReads int64
}

// Result returns the verdict. It fails with ErrUnanswered while a HEAD
// or a tag read is unanswered.
func (c *KeyCheck) Result() (KeyResult, error) {
	if err := c.resolve(); err != nil {
		return KeyResult{}, err
	}
	if len(c.tags) < len(c.tagsAsk) {
		return KeyResult{}, fmt.Errorf("%w: key %q: %d of %d tag reads", ErrUnanswered, c.key, len(c.tagsAsk)-len(c.tags), len(c.tagsAsk))
	}
	r := KeyResult{Compared: int64(len(c.src)), Listed: int64(c.listed), Heads: int64(len(c.heads)), TagReads: int64(len(c.tagsAsk))}
	repair := map[int]Repair{}
	add := func(i int, kind FindingKind, siteVID, detail string) {
		v := c.src[i]
		r.Findings = append(r.Findings, Finding{Kind: kind, Site: c.target.Site, Key: c.key, VersionID: v.VersionID, SiteVersionID: siteVID, Detail: detail})
		if kind == FindingPending || kind == FindingStatusLies {
			return
		}
		rep := Repair{VersionRef: v.Ref(), Site: c.target.Site, Kind: kind, Metadata: kind == FindingTags}
		if old, ok := repair[i]; !ok || old.Metadata && !rep.Metadata {
			repair[i] = rep
		}
	}
	drifted := make([]bool, len(c.src)) // missing or content
	for i, v := range c.src {
		st := c.status(v)
		switch st {
		case StatusPending, StatusProcessing:
			add(i, FindingPending, "", fmt.Sprintf("status %s", st))
			continue
		case StatusFailed:
			detail := "status FAILED"
			if be, _ := v.Site(c.target.Site); be.Reason != "" {
				detail += ": " + be.Reason
			}
			add(i, FindingFailed, "", detail)
			continue
		}
		if v.IsDeleteMarker {
			continue // judged below, if it is the latest
		}
		lies := st == StatusCompleted
		j := c.replica[i]
		if j < 0 {
			drifted[i] = true
			if lies {
				add(i, FindingStatusLies, "", "the source says COMPLETED, but the site holds no replica")
			}
			add(i, FindingMissing, "", "no version at the site replicates it")
			continue
		}
		sv := c.site[j]
		if compareContent(v, sv) == contentDiffer {
			drifted[i] = true
			detail := contentDetail(v, sv)
			if lies {
				add(i, FindingStatusLies, sv.VersionID, "the source says COMPLETED, but the replica's content differs: "+detail)
			}
			add(i, FindingContent, sv.VersionID, detail)
			continue
		}
		if t := c.tags[sv.VersionID]; !TagsEqual(t, v.Tags) {
			add(i, FindingTags, sv.VersionID, fmt.Sprintf("tags %s at the site, %s at the source", formatTags(t), formatTags(v.Tags)))
		}
	}
	if l := c.latestSource(); l >= 0 && c.compares(c.src[l]) {
		c.judgeLatest(l, drifted[l], add)
	}
	for j, o := range c.owner {
		if o == ownerExtra {
			sv := c.site[j]
			r.Findings = append(r.Findings, Finding{Kind: FindingExtra, Site: c.target.Site, Key: c.key, SiteVersionID: sv.VersionID, Detail: c.why[j]})
		}
	}
	for i := range c.src {
		if rep, ok := repair[i]; ok {
			r.Repairs = append(r.Repairs, rep)
		}
	}
	c.sortOldestFirst(r.Repairs)
	return r, nil
}

// judgeLatest compares the key's latest version on both sides: a delete
// marker on one and not the other changes what a read returns.
func (c *KeyCheck) judgeLatest(l int, drifted bool, add func(int, FindingKind, string, string)) {
	v := c.src[l]
	switch {
	case v.IsDeleteMarker && c.siteLatest != nil && !c.siteLatest.IsDeleteMarker:
		add(l, FindingMarker, c.siteLatest.VersionID, fmt.Sprintf("the source's latest version is a delete marker; the site's is data version %s", c.siteLatest.VersionID))
	case v.IsDeleteMarker && c.siteLatest == nil && slices.ContainsFunc(c.src, func(o ObjectVersion) bool { return !o.IsDeleteMarker }):
		// The site has nothing yet, and the data versions it lacks would
		// show once copied.
		add(l, FindingMarker, "", "the source's latest version is a delete marker; the site has no delete marker for the key")
	case !v.IsDeleteMarker && !drifted && c.siteLatest != nil && c.siteLatest.IsDeleteMarker:
		add(l, FindingMarker, c.siteLatest.VersionID, fmt.Sprintf("the site's latest version is delete marker %s; the source's is data", c.siteLatest.VersionID))
	}
}

// latestSource returns the index of the key's latest source version in
// scope, or -1, or -1 when an unreadable version might be it. The latest
// is the one modified last; on a tie the smaller version id, as
// CloudServer's ids are smaller for newer versions.
func (c *KeyCheck) latestSource() int {
	if len(c.unreadable) > 0 {
		return -1
	}
	l := -1
	for i, v := range c.src {
		if l < 0 || newer(v, c.src[l]) {
			l = i
		}
	}
	return l
}

func newer(a, b ObjectVersion) bool {
	if !a.LastModified.Equal(b.LastModified) {
		return a.LastModified.After(b.LastModified)
	}
	return a.VersionID < b.VersionID
}

func (c *KeyCheck) sortOldestFirst(rs []Repair) {
	at := map[string]ObjectVersion{}
	for _, v := range c.src {
		at[v.VersionID] = v
	}
	sort.SliceStable(rs, func(i, j int) bool { return newer(at[rs[j].VersionID], at[rs[i].VersionID]) })
}

// contentVerdict is what a listing tells of a replica's content.
type contentVerdict int

const (
	contentEqual   contentVerdict = iota // same size, same hash
	contentDiffer                        // another size, or another hash
	contentUnknown                       // same size, hashes not comparable
)

// compareContent compares a source version's size and content MD5 with a
// site version's size and ETag. Hashes compare when both are plain MD5s,
// or both the same multipart ETag; otherwise (a multipart replica of a
// plainly uploaded source, or part sizes that differ) only the size can be
// compared. A multipart copy checks the whole object's MD5 against the
// source's as it writes, so such a replica was right when it was written.
func compareContent(v ObjectVersion, sv SiteVersion) contentVerdict {
	if v.Size != sv.Size {
		return contentDiffer
	}
	a, b := NormalizeETag(v.ContentMD5), NormalizeETag(sv.ETag)
	switch {
	case a == "" || b == "":
		return contentUnknown
	case IsPlainMD5(a) && IsPlainMD5(b):
		if a == b {
			return contentEqual
		}
		return contentDiffer
	case a == b:
		return contentEqual
	}
	return contentUnknown
}

func contentDetail(v ObjectVersion, sv SiteVersion) string {
	if v.Size != sv.Size {
		return fmt.Sprintf("size %d at the site, %d at the source", sv.Size, v.Size)
	}
	return fmt.Sprintf("ETag %s at the site, MD5 %s at the source", NormalizeETag(sv.ETag), NormalizeETag(v.ContentMD5))
}

// NormalizeETag returns an ETag or MD5 without quotes, in lower case.
func NormalizeETag(s string) string {
	return strings.ToLower(strings.Trim(strings.TrimSpace(s), `"`))
}

// IsPlainMD5 reports whether a normalized ETag is a plain MD5 (32 hex
// digits), as S3 gives objects uploaded in one part without encryption by
// KMS; a multipart ETag has a -<parts> suffix.
func IsPlainMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// formatTags renders a tag set in name order, for a finding's detail.
func formatTags(t map[string]string) string {
	if len(t) == 0 {
		return "none"
	}
	names := make([]string, 0, len(t))
	for k := range t {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = k + "=" + t[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
