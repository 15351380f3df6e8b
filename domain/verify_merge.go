package domain

import (
	"fmt"
	"slices"
)

// SourceVersion is one version of the source walk. A document that could
// not be decoded is passed along too, Unreadable, with only its Key and
// VersionID: a site version that replicates it is then neither judged nor
// called extra.
type SourceVersion struct {
	ObjectVersion
	Unreadable bool
}

// KeyVersions is what the source and each site hold of one key: the
// source's versions in the walk's order, each site's versions and delete
// markers in its listing's order (a key's data versions newest first).
type KeyVersions struct {
	Key    string
	Source []SourceVersion
	Sites  [][]SiteVersion
}

// VersionMerge merges the source's version walk with the listings of
// sites, each in key order, into the versions of one key at a time, so
// that a key can be judged once every side has shown all of it. Sides are
// fed page by page as Wants asks, whatever the pages' boundaries (a key's
// versions may be split across pages on any side); memory holds only what
// was fed and not yet returned: about a page per side, more when one key
// has more versions than a page.
//
// Keys compare as Go strings, bytewise: the order of version document ids
// and of S3 listings alike. A side whose keys go down is refused.
type VersionMerge struct {
	source mergeSide[SourceVersion]
	sites  []mergeSide[SiteVersion]
}

// mergeSide is one side's items fed and not yet returned.
type mergeSide[T any] struct {
	buf     []T
	ended   bool
	fed     bool   // something was ever fed
	lastKey string // key of the last item fed
}

// NewVersionMerge returns a merge of the source with sites listings.
func NewVersionMerge(sites int) *VersionMerge {
	return &VersionMerge{sites: make([]mergeSide[SiteVersion], sites)}
}

// FeedSource adds the next page of the source walk; last says the walk
// ended with it. Keys must not go down, within the page or from the
// previous one (an error wrapping ErrPermanent, and nothing is added).
func (m *VersionMerge) FeedSource(page []SourceVersion, last bool) error {
	return feed(&m.source, "source", page, last, func(v SourceVersion) string { return v.Key })
}

// FeedSite adds the next page of site i's listing; last says the listing
// ended with it. Keys must not go down, as for FeedSource.
func (m *VersionMerge) FeedSite(i int, page []SiteVersion, last bool) error {
	if i < 0 || i >= len(m.sites) {
		return fmt.Errorf("%w: merge has no site %d", ErrPermanent, i)
	}
	return feed(&m.sites[i], fmt.Sprintf("site %d", i), page, last, func(v SiteVersion) string { return v.Key })
}

func feed[T any](s *mergeSide[T], name string, page []T, last bool, key func(T) string) error {
	if s.ended {
		return fmt.Errorf("%w: %s fed after its last page", ErrPermanent, name)
	}
	prev, fed := s.lastKey, s.fed
	for _, v := range page {
		k := key(v)
		if fed && k < prev {
			return fmt.Errorf("%w: %s lists key %q after %q: not in key order", ErrPermanent, name, k, prev)
		}
		prev, fed = k, true
	}
	s.buf = append(s.buf, page...)
	s.lastKey, s.fed, s.ended = prev, fed, last
	return nil
}

// head is the smallest key a side holds, if it holds any.
func (s *mergeSide[T]) head(key func(T) string) (string, bool) {
	if len(s.buf) == 0 {
		return "", false
	}
	return key(s.buf[0]), true
}

// wanted reports whether the side must be fed before key can be
// returned: it has not ended and may still hold versions of key, or of a
// smaller one.
func (s *mergeSide[T]) wanted(key string, known bool) bool {
	if s.ended {
		return false
	}
	return len(s.buf) == 0 || !known || s.lastKey <= key
}

// take removes and returns the side's leading items of key.
func take[T any](s *mergeSide[T], k string, key func(T) string) []T {
	n := 0
	for n < len(s.buf) && key(s.buf[n]) == k {
		n++
	}
	out := slices.Clone(s.buf[:n])
	s.buf = s.buf[n:]
	if len(s.buf) == 0 {
		s.buf = nil // let the fed pages go
	}
	return out
}

func sourceKey(v SourceVersion) string { return v.Key }
func siteKey(v SiteVersion) string     { return v.Key }

// smallest is the smallest key any side holds.
func (m *VersionMerge) smallest() (string, bool) {
	k, ok := m.source.head(sourceKey)
	for i := range m.sites {
		if h, has := m.sites[i].head(siteKey); has && (!ok || h < k) {
			k, ok = h, true
		}
	}
	return k, ok
}

// Wants reports which sides must be fed before Next can return another
// key: the source, and the indexes of sites. Nothing wanted and nothing
// returned by Next means the merge is done.
func (m *VersionMerge) Wants() (source bool, sites []int) {
	k, known := m.smallest()
	source = m.source.wanted(k, known)
	for i := range m.sites {
		if m.sites[i].wanted(k, known) {
			sites = append(sites, i)
		}
	}
	return source, sites
}

// Next returns the versions of the smallest key not yet returned, when
// every side has shown all of them; false when some side must be fed
// first (Wants says which), or when the merge is done.
func (m *VersionMerge) Next() (KeyVersions, bool) {
	src, sites := m.Wants()
	if src || len(sites) > 0 {
		return KeyVersions{}, false
	}
	k, ok := m.smallest()
	if !ok {
		return KeyVersions{}, false
	}
	kv := KeyVersions{Key: k, Source: take(&m.source, k, sourceKey), Sites: make([][]SiteVersion, len(m.sites))}
	for i := range m.sites {
		kv.Sites[i] = take(&m.sites[i], k, siteKey)
	}
	return kv, true
}

// Done reports whether every side ended and every key was returned.
func (m *VersionMerge) Done() bool {
	if !m.source.ended || len(m.source.buf) > 0 {
		return false
	}
	for i := range m.sites {
		if !m.sites[i].ended || len(m.sites[i].buf) > 0 {
			return false
		}
	}
	return true
}
