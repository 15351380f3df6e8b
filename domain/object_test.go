package domain_test

import (
	"bytes"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

// sampleObject is a version replicated to two sites, both PENDING.
func sampleObject() domain.ObjectVersion {
	return domain.ObjectVersion{
		Bucket:         "src",
		Key:            "photos/2024/cat.jpg",
		VersionID:      "393832323135393936393939393939393939393952473030312020323339",
		MicroVersionID: "mv1",
		Size:           1234,
		ContentMD5:     "d41d8cd98f00b204e9800998ecf8427e",
		ContentType:    "image/jpeg",
		LastModified:   time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC),
		UserMeta:       map[string]string{"color": "black", "owner": "me"},
		Tags:           map[string]string{"team": "a", "env": "prod"},
		Replication: domain.ReplicationInfo{
			Status: domain.StatusPending,
			Backends: []domain.Backend{
				{Site: "site-a", Status: domain.StatusPending},
				{Site: "site-b", Status: domain.StatusPending},
			},
			Content:      []string{domain.ContentData, domain.ContentMetadata},
			Destination:  "arn:aws:s3:::dst",
			StorageClass: "site-a,site-b",
			Role:         "arn:aws:iam::123456789012:role/src,arn:aws:iam::123456789012:role/dst",
		},
	}
}

func withBackends(statuses ...domain.Status) domain.ObjectVersion {
	o := sampleObject()
	o.Replication.Backends = nil
	for i, st := range statuses {
		o.Replication.Backends = append(o.Replication.Backends, domain.Backend{Site: []string{"site-a", "site-b", "site-c"}[i], Status: st})
	}
	o.Replication.Status = domain.Aggregate(o.Replication.Backends)
	return o
}

// cloneObject deep-copies o, so that a test can check o was not modified.
func cloneObject(o domain.ObjectVersion) domain.ObjectVersion {
	c := o
	c.UserMeta = maps.Clone(o.UserMeta)
	c.Tags = maps.Clone(o.Tags)
	c.Replication.Backends = append([]domain.Backend(nil), o.Replication.Backends...)
	c.Replication.Content = append([]string(nil), o.Replication.Content...)
	return c
}

// normalizeObject maps the values that ObjectMD JSON cannot tell apart to
// one form: empty and nil maps and slices, and times in another zone.
func normalizeObject(o domain.ObjectVersion) domain.ObjectVersion {
	o = cloneObject(o)
	if len(o.UserMeta) == 0 {
		o.UserMeta = nil
	}
	if len(o.Tags) == 0 {
		o.Tags = nil
	}
	if len(o.Replication.Backends) == 0 {
		o.Replication.Backends = nil
	}
	if len(o.Replication.Content) == 0 {
		o.Replication.Content = nil
	}
	if o.LastModified.IsZero() {
		o.LastModified = time.Time{}
	} else {
		o.LastModified = o.LastModified.UTC()
	}
	return o
}

func TestObjectVersionSetSiteStatus(t *testing.T) {
	const (
		P  = domain.StatusPending
		PR = domain.StatusProcessing
		C  = domain.StatusCompleted
		F  = domain.StatusFailed
	)
	tests := []struct {
		name        string
		start       []domain.Status // sites site-a, site-b, ...
		failReason  string          // reason already recorded on a FAILED site-a
		site        string
		next        domain.Status
		dst, reason string

		wantChanged bool
		wantErr     error // nil, ErrIllegalTransition, or errAny
		wantSite    domain.Backend
		wantAgg     domain.Status
	}{
		{
			name: "pending to completed records the destination version", start: []domain.Status{P, P},
			site: "site-a", next: C, dst: "dv1", reason: "ignored",
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: C, DataStoreVersionID: "dv1"}, wantAgg: PR,
		},
		{
			name: "last site completing completes the version", start: []domain.Status{C, P},
			site: "site-b", next: C, dst: "dv2",
			wantChanged: true, wantSite: domain.Backend{Site: "site-b", Status: C, DataStoreVersionID: "dv2"}, wantAgg: C,
		},
		{
			name: "pending to failed records the reason", start: []domain.Status{P, P},
			site: "site-a", next: F, dst: "ignored", reason: "AccessDenied",
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: F, Reason: "AccessDenied"}, wantAgg: F,
		},
		{
			name: "pending to processing", start: []domain.Status{P, C},
			site: "site-a", next: PR,
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: PR}, wantAgg: PR,
		},
		{
			name: "processing to completed", start: []domain.Status{PR, C},
			site: "site-a", next: C, dst: "dv",
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: C, DataStoreVersionID: "dv"}, wantAgg: C,
		},
		{
			name: "processing to failed", start: []domain.Status{PR, C},
			site: "site-a", next: F, reason: "timeout",
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: F, Reason: "timeout"}, wantAgg: F,
		},
		{
			name: "retry moves failed back to pending and clears the reason", start: []domain.Status{F, C}, failReason: "boom",
			site: "site-a", next: P,
			wantChanged: true, wantSite: domain.Backend{Site: "site-a", Status: P}, wantAgg: PR,
		},
		{
			name: "same status is a no-op", start: []domain.Status{P, P},
			site: "site-b", next: P,
			wantSite: domain.Backend{Site: "site-b", Status: P}, wantAgg: PR,
		},
		{
			name: "completed is final: not failed", start: []domain.Status{C, P},
			site: "site-a", next: F, reason: "late",
			wantErr: domain.ErrIllegalTransition, wantSite: domain.Backend{Site: "site-a", Status: C}, wantAgg: PR,
		},
		{
			name: "completed is final: not pending", start: []domain.Status{C, P},
			site: "site-a", next: P,
			wantErr: domain.ErrIllegalTransition, wantSite: domain.Backend{Site: "site-a", Status: C}, wantAgg: PR,
		},
		{
			name: "failed cannot complete without a retry", start: []domain.Status{F, P}, failReason: "boom",
			site: "site-a", next: C, dst: "dv",
			wantErr: domain.ErrIllegalTransition, wantSite: domain.Backend{Site: "site-a", Status: F, Reason: "boom"}, wantAgg: F,
		},
		{
			name: "processing cannot go back to pending", start: []domain.Status{PR},
			site: "site-a", next: P,
			wantErr: domain.ErrIllegalTransition, wantSite: domain.Backend{Site: "site-a", Status: PR}, wantAgg: PR,
		},
		{
			name: "a site cannot become a replica", start: []domain.Status{P},
			site: "site-a", next: domain.StatusReplica,
			wantErr: domain.ErrIllegalTransition, wantSite: domain.Backend{Site: "site-a", Status: P}, wantAgg: PR,
		},
		{
			name: "unknown site", start: []domain.Status{P},
			site: "site-z", next: C,
			wantErr: errAny, wantSite: domain.Backend{Site: "site-a", Status: P}, wantAgg: PR,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := withBackends(tt.start...)
			if tt.failReason != "" {
				o.Replication.Backends[0].Reason = tt.failReason
			}
			before := cloneObject(o)
			changed, err := o.SetSiteStatus(tt.site, tt.next, tt.dst, tt.reason)
			checkErr(t, err, tt.wantErr)
			if changed != tt.wantChanged {
				t.Errorf("changed = %v, want %v", changed, tt.wantChanged)
			}
			if err != nil || !changed {
				if !reflect.DeepEqual(o, before) {
					t.Errorf("version modified without a change:\n got %+v\nwant %+v", o, before)
				}
			}
			b, ok := o.Site(tt.wantSite.Site)
			if !ok {
				t.Fatalf("site %q disappeared", tt.wantSite.Site)
			}
			if *b != tt.wantSite {
				t.Errorf("site = %+v, want %+v", *b, tt.wantSite)
			}
			if o.Replication.Status != tt.wantAgg {
				t.Errorf("aggregate = %q, want %q", o.Replication.Status, tt.wantAgg)
			}
		})
	}
}

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != nil && err == nil:
		t.Fatalf("no error, want %v", want)
	case want != nil && !errors.Is(want, errAny) && !errors.Is(err, want):
		t.Fatalf("error %v does not wrap %v", err, want)
	case err != nil && err.Error() == "":
		t.Fatalf("empty error message")
	}
}

func TestObjectVersionSite(t *testing.T) {
	o := sampleObject()
	b, ok := o.Site("site-b")
	if !ok || b.Site != "site-b" {
		t.Fatalf("Site(site-b) = %+v, %v", b, ok)
	}
	b.DataStoreVersionID = "x"
	if o.Replication.Backends[1].DataStoreVersionID != "x" {
		t.Error("Site does not return a pointer into the version's backends")
	}
	if b, ok := o.Site("nowhere"); ok || b != nil {
		t.Errorf("Site(nowhere) = %+v, %v; want nil, false", b, ok)
	}
}

func TestObjectVersionPendingSites(t *testing.T) {
	tests := []struct {
		name string
		obj  domain.ObjectVersion
		want []string
	}{
		{"all pending", withBackends(domain.StatusPending, domain.StatusPending), []string{"site-a", "site-b"}},
		{"only pending ones", withBackends(domain.StatusCompleted, domain.StatusFailed, domain.StatusPending), []string{"site-c"}},
		{"processing is not pending", withBackends(domain.StatusProcessing), nil},
		{"none left", withBackends(domain.StatusCompleted, domain.StatusCompleted), nil},
		{"no replication", withBackends(), nil},
		{"replica has none", func() domain.ObjectVersion {
			o := withBackends(domain.StatusPending, domain.StatusPending)
			o.Replication.Status = domain.StatusReplica
			return o
		}(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.obj.PendingSites(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("PendingSites() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestObjectVersionIsReplica(t *testing.T) {
	for _, st := range allStatuses {
		o := sampleObject()
		o.Replication.Status = st
		if got, want := o.IsReplica(), st == domain.StatusReplica; got != want {
			t.Errorf("IsReplica() with status %q = %v, want %v", st, got, want)
		}
	}
}

func TestObjectVersionNeedsData(t *testing.T) {
	tests := []struct {
		name         string
		content      []string
		deleteMarker bool
		want         bool
	}{
		{"no content list, object", nil, false, true},
		{"no content list, delete marker", nil, true, false},
		{"data and metadata", []string{domain.ContentData, domain.ContentMetadata}, false, true},
		{"metadata only", []string{domain.ContentMetadata}, false, false},
		{"metadata and tagging", []string{domain.ContentMetadata, domain.ContentPutTagging}, false, false},
		{"data listed last", []string{domain.ContentMetadata, domain.ContentData}, false, true},
		{"delete marker with metadata", []string{domain.ContentMetadata}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sampleObject()
			o.Replication.Content = tt.content
			o.IsDeleteMarker = tt.deleteMarker
			if got := o.NeedsData(); got != tt.want {
				t.Errorf("NeedsData() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestObjectVersionGeneration(t *testing.T) {
	o := sampleObject()
	o.Tags = nil
	if got := o.Generation(); got != "mv1" {
		t.Errorf("Generation() with a micro version = %q, want mv1", got)
	}
	o.MicroVersionID = ""
	o.LastModified = time.Date(2024, 5, 6, 9, 8, 9, 5, time.FixedZone("X", 2*3600))
	if got, want := o.Generation(), "2024-05-06T07:08:09.000000005Z"; got != want {
		t.Errorf("Generation() from last-modified = %q, want %q", got, want)
	}
	later := o
	later.LastModified = o.LastModified.Add(time.Nanosecond)
	if later.Generation() == o.Generation() {
		t.Error("a later write has the same generation")
	}
}

// sampleMD is ObjectMD as CloudServer writes it, with fields this service
// does not use.
const sampleMD = `{
	"owner-display-name": "me",
	"owner-id": "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",
	"content-length": 1234,
	"content-md5": "d41d8cd98f00b204e9800998ecf8427e",
	"content-type": "image/jpeg",
	"x-amz-version-id": "null",
	"x-amz-server-version-id": "",
	"x-amz-storage-class": "STANDARD",
	"last-modified": "2024-05-06T07:08:09.123Z",
	"x-amz-meta-color": "black",
	"x-amz-meta-owner": "me",
	"acl": {"Canned": "private", "FULL_CONTROL": [], "WRITE_ACP": [], "READ": [], "READ_ACP": []},
	"key": "photos/2024/cat.jpg",
	"location": [{"key": "abc", "size": 1234, "start": 0, "dataStoreName": "us-east-1"}],
	"isNull": false,
	"isDeleteMarker": false,
	"tags": {"team": "a", "env": "prod"},
	"replicationInfo": {
		"status": "PENDING",
		"backends": [
			{"site": "site-a", "status": "PENDING", "dataStoreVersionId": ""},
			{"site": "site-b", "status": "PENDING", "dataStoreVersionId": ""}
		],
		"content": ["DATA", "METADATA"],
		"destination": "arn:aws:s3:::dst",
		"storageClass": "site-a,site-b",
		"role": "arn:aws:iam::123456789012:role/src,arn:aws:iam::123456789012:role/dst",
		"storageType": "",
		"dataStoreVersionId": "",
		"isNFS": null
	},
	"dataStoreName": "us-east-1",
	"microVersionId": "mv1",
	"versionId": "393832323135393936393939393939393939393952473030312020323339"
}`

func TestParseObjectMD(t *testing.T) {
	got, err := domain.ParseObjectMD("src", []byte(sampleMD))
	if err != nil {
		t.Fatal(err)
	}
	if want := sampleObject(); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseObjectMD:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseObjectMDMinimal(t *testing.T) {
	got, err := domain.ParseObjectMD("b", []byte(`{"key":"k"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := domain.ObjectVersion{Bucket: "b", Key: "k"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestObjectMDRoundTrip(t *testing.T) {
	objs := map[string]domain.ObjectVersion{
		"full": sampleObject(),
		"delete marker, no meta": {
			Bucket: "b", Key: "k", VersionID: "v", IsDeleteMarker: true,
			Tags:        map[string]string{},
			Replication: domain.ReplicationInfo{Backends: []domain.Backend{}, Content: []string{}},
		},
		"failed site with reason and odd names": {
			Bucket: "b", Key: "dir/é $x.y", VersionID: "v", Size: 0,
			LastModified: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
			UserMeta:     map[string]string{"": "empty name", "a\uff0eb": "escaped dot", "UPPER": "x"},
			Tags:         map[string]string{"k\uff04": "v"},
			Replication: domain.ReplicationInfo{
				Status:   domain.StatusFailed,
				Backends: []domain.Backend{{Site: "s", Status: domain.StatusFailed, DataStoreVersionID: "d", Reason: "AccessDenied"}},
				Content:  []string{domain.ContentMetadata, domain.ContentPutTagging},
			},
		},
	}
	for name, o := range objs {
		t.Run(name, func(t *testing.T) {
			data, err := domain.MarshalObjectMD(o)
			if err != nil {
				t.Fatal(err)
			}
			got, err := domain.ParseObjectMD(o.Bucket, data)
			if err != nil {
				t.Fatalf("ParseObjectMD(MarshalObjectMD(o)): %v\n%s", err, data)
			}
			if !reflect.DeepEqual(got, o) {
				t.Errorf("round trip:\n got %+v\nwant %+v\njson %s", got, o, data)
			}
		})
	}
}

func TestMarshalObjectMDLayout(t *testing.T) {
	o := sampleObject()
	o.Tags = nil
	o.Replication.Backends = nil
	o.Replication.Content = nil
	data, err := domain.MarshalObjectMD(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"x-amz-meta-color":"black"`, `"x-amz-meta-owner":"me"`, // user metadata at the top level
		`"tags":{}`, `"backends":[]`, `"content":[]`, // CloudServer's defaults, never null
		`"last-modified":"2024-05-06T07:08:09.123Z"`, `"content-length":1234`, `"versionId":"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("MarshalObjectMD output lacks %s:\n%s", want, data)
		}
	}
	o.LastModified = o.LastModified.In(time.FixedZone("CEST", 2*3600))
	if data, _ := domain.MarshalObjectMD(o); !strings.Contains(string(data), `"last-modified":"2024-05-06T07:08:09.123Z"`) {
		t.Errorf("MarshalObjectMD does not write last-modified in UTC:\n%s", data)
	}
	if strings.Contains(string(data), "null") {
		t.Errorf("MarshalObjectMD output has a null:\n%s", data)
	}
	o.VersionID, o.MicroVersionID, o.LastModified, o.UserMeta = "", "", time.Time{}, nil
	data, err = domain.MarshalObjectMD(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []string{"versionId", "microVersionId", "last-modified", "x-amz-meta-"} {
		if strings.Contains(string(data), absent) {
			t.Errorf("MarshalObjectMD output has %s although it is unset:\n%s", absent, data)
		}
	}
}

func TestParseObjectMDRejects(t *testing.T) {
	tests := []struct {
		name, doc string
		field     string // the error must name it
	}{
		{"not JSON", `{"key":`, "not a JSON object"},
		{"an array", `[]`, "not a JSON object"},
		{"a string", `"key"`, "not a JSON object"},
		{"null", `null`, "not a JSON object"},
		{"empty", ``, "not a JSON object"},
		{"user metadata not a string", `{"x-amz-meta-color": 3}`, "x-amz-meta-color"},
		{"user metadata object", `{"x-amz-meta-a": {"b": "c"}}`, "x-amz-meta-a"},
		{"key not a string", `{"key": 1}`, "key"},
		{"content-length a string", `{"content-length": "12"}`, "content-length"},
		{"content-length fractional", `{"content-length": 1.5}`, "content-length"},
		{"content-length negative", `{"content-length": -1}`, "content-length"},
		{"tags not an object", `{"tags": ["a"]}`, "tags"},
		{"tag value not a string", `{"tags": {"a": 1}}`, "tags"},
		{"isDeleteMarker a string", `{"isDeleteMarker": "true"}`, "isDeleteMarker"},
		{"last-modified not a time", `{"last-modified": "yesterday"}`, "last-modified"},
		{"last-modified a number", `{"last-modified": 1700000000}`, "last-modified"},
		{"last-modified before year 0 in UTC", `{"last-modified": "0000-01-01T00:30:00+01:00"}`, "last-modified"},
		{"last-modified after year 9999 in UTC", `{"last-modified": "9999-12-31T23:30:00-01:00"}`, "last-modified"},
		{"versionId a number", `{"versionId": 7}`, "versionId"},
		{"replicationInfo a string", `{"replicationInfo": "PENDING"}`, "replicationInfo"},
		{"unknown aggregate status", `{"replicationInfo": {"status": "DONE"}}`, "replicationInfo.status"},
		{"backends not an array", `{"replicationInfo": {"backends": {}}}`, "replicationInfo.backends"},
		{"backend status not a string", `{"replicationInfo": {"backends": [{"site": "a", "status": 1}]}}`, "replicationInfo.backends.status"},
		{"unknown backend status", `{"replicationInfo": {"backends": [{"site": "a", "status": "PENDING"}, {"site": "b", "status": "pending"}]}}`, "replicationInfo.backends[1].status"},
		{"backend without site", `{"replicationInfo": {"backends": [{"status": "PENDING"}]}}`, "replicationInfo.backends[0].site"},
		{"content not strings", `{"replicationInfo": {"content": [1]}}`, "replicationInfo.content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := domain.ParseObjectMD("b", []byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseObjectMD(%s) = %+v, nil; want an error naming %s", tt.doc, o, tt.field)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("ParseObjectMD(%s) error %q does not name %s", tt.doc, err, tt.field)
			}
		})
	}
}

// bigMD returns ObjectMD JSON of exactly size bytes.
func bigMD(t *testing.T, size int) []byte {
	t.Helper()
	head, tail := `{"key":"k","x-amz-meta-pad":"`, `"}`
	pad := size - len(head) - len(tail)
	if pad < 0 {
		t.Fatalf("size %d too small", size)
	}
	return []byte(head + strings.Repeat("x", pad) + tail)
}

func TestParseObjectMDSizeLimit(t *testing.T) {
	if _, err := domain.ParseObjectMD("b", bigMD(t, domain.MaxMetadataBytes)); err != nil {
		t.Errorf("metadata of exactly the limit rejected: %v", err)
	}
	_, err := domain.ParseObjectMD("b", bigMD(t, domain.MaxMetadataBytes+1))
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversize metadata: error %v, want one saying it is over the limit", err)
	}
	// Oversize input is refused before it is decoded, even if malformed.
	_, err = domain.ParseObjectMD("b", bytes.Repeat([]byte("{"), domain.MaxMetadataBytes+1))
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversize malformed metadata: error %v, want one saying it is over the limit", err)
	}
}

func FuzzParseObjectMD(f *testing.F) {
	f.Add([]byte(sampleMD))
	f.Add([]byte(`{"key":"k"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"x-amz-meta-a":"b","x-amz-meta-":"","tags":null,"replicationInfo":{"backends":null}}`))
	f.Add([]byte(`{"last-modified":"2024-01-01T00:00:00+01:00","microVersionId":""}`))
	f.Add([]byte(`{"last-modified":"0000-01-01T00:30:00+01:00"}`))
	f.Add([]byte(`{"content-length":-1}`))
	f.Add([]byte(`{"KEY":"a","key":"b","Key":"c"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := domain.ParseObjectMD("bkt", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if o.Bucket != "bkt" {
			t.Fatalf("bucket %q, want bkt", o.Bucket)
		}
		if o.Size < 0 {
			t.Fatalf("negative size accepted: %d", o.Size)
		}
		enc, err := domain.MarshalObjectMD(o)
		if err != nil {
			t.Fatalf("MarshalObjectMD of a parsed version: %v", err)
		}
		if len(enc) > domain.MaxMetadataBytes {
			return // escaping can grow the document past the limit
		}
		o2, err := domain.ParseObjectMD("bkt", enc)
		if err != nil {
			t.Fatalf("re-parse of %s: %v (input %q)", enc, err, data)
		}
		if !reflect.DeepEqual(normalizeObject(o), normalizeObject(o2)) {
			t.Fatalf("round trip changed the version:\n got %+v\nwant %+v", o2, o)
		}
		if o.Generation() != o2.Generation() {
			t.Fatalf("round trip changed the generation: %q -> %q", o.Generation(), o2.Generation())
		}
		enc2, err := domain.MarshalObjectMD(o2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s (%v)", enc, enc2, err)
		}
	})
}
