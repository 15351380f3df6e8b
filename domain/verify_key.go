package domain

import (
	"errors"
	"fmt"
	"slices"
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
