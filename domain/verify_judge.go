package domain

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

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
