package mongometa

import (
	"github.com/openbackbeat/backbeat/adapters/internal/mongodoc"
	"github.com/openbackbeat/backbeat/domain"
)

// verifyDoc is the stored form of a verify job's domain.VerifyState, in
// its job document's "verify" field.
type verifyDoc struct {
	Repair       bool                        `bson:"repair"`
	Targets      []targetDoc                 `bson:"targets"`
	Compared     int64                       `bson:"compared"`
	SiteVersions int64                       `bson:"siteVersions"`
	Heads        int64                       `bson:"heads"`
	TagReads     int64                       `bson:"tagReads"`
	Requeued     int64                       `bson:"requeued"`
	Findings     map[string]map[string]int64 `bson:"findings"` // site -> kind -> count, names escaped
	Requeue      []repairDoc                 `bson:"requeue"`
	LastKey      string                      `bson:"lastKey"`
}

type targetDoc struct {
	Site   string `bson:"site"`
	Bucket string `bson:"bucket"`
}

type repairDoc struct {
	Key       string `bson:"key"`
	VersionID string `bson:"versionId"`
	Site      string `bson:"site"`
	Kind      string `bson:"kind"`
	Metadata  bool   `bson:"metadata,omitempty"`
}

func toVerifyDoc(v *domain.VerifyState) *verifyDoc {
	if v == nil {
		return nil
	}
	d := &verifyDoc{
		Repair: v.Repair, Targets: []targetDoc{}, Compared: v.Compared, SiteVersions: v.SiteVersions,
		Heads: v.Heads, TagReads: v.TagReads, Requeued: v.Requeued,
		Findings: map[string]map[string]int64{}, Requeue: []repairDoc{}, LastKey: v.LastKey,
	}
	for _, t := range v.Targets {
		d.Targets = append(d.Targets, targetDoc(t))
	}
	for site, kinds := range v.Findings {
		m := map[string]int64{}
		for k, n := range kinds {
			m[mongodoc.EscapeField(string(k))] = n
		}
		d.Findings[mongodoc.EscapeField(site)] = m
	}
	for _, r := range v.Requeue {
		d.Requeue = append(d.Requeue, repairDoc{Key: r.Key, VersionID: r.VersionID, Site: r.Site, Kind: string(r.Kind), Metadata: r.Metadata})
	}
	return d
}

func (d *verifyDoc) state() *domain.VerifyState {
	if d == nil {
		return nil
	}
	v := &domain.VerifyState{
		Repair: d.Repair, LastKey: d.LastKey,
		VerifyCounts: domain.VerifyCounts{
			Compared: d.Compared, SiteVersions: d.SiteVersions, Heads: d.Heads, TagReads: d.TagReads,
			Requeued: d.Requeued, Findings: map[string]map[domain.FindingKind]int64{},
		},
	}
	for _, t := range d.Targets {
		v.Targets = append(v.Targets, domain.VerifyTarget(t))
	}
	for site, kinds := range d.Findings {
		m := map[domain.FindingKind]int64{}
		for k, n := range kinds {
			m[domain.FindingKind(mongodoc.UnescapeField(k))] = n
		}
		v.Findings[mongodoc.UnescapeField(site)] = m
	}
	for _, r := range d.Requeue {
		v.Requeue = append(v.Requeue, domain.Repair{
			VersionRef: domain.VersionRef{Key: r.Key, VersionID: r.VersionID}, Site: r.Site,
			Kind: domain.FindingKind(r.Kind), Metadata: r.Metadata,
		})
	}
	return v
}
