package domain

// Micro-benchmarks of the hot paths every replicated version goes through:
// the populator builds an entry per version (ParseObjectMD, rule matching,
// Entry.Encode), the replicator decodes it (DecodeEntry), and the status
// applier recomputes the aggregate status (Aggregate). Run with
// `go test -run '^$' -bench . -benchmem ./domain` (part of `task bench`).

import (
	"fmt"
	"testing"
	"time"
)

func benchVersion() ObjectVersion {
	rule := ReplicationRule{ID: "r", Enabled: true, DestinationBucket: DestinationBucketPrefix + "dst", StorageClass: "site-a,site-b"}
	return ObjectVersion{
		Bucket: "bench", Key: "photos/2026/11/25/IMG_0001.jpg", VersionID: "39383736353433323130393939393939393939395247303031202031", MicroVersionID: "0123456789abcdef",
		Size: 4096, ContentMD5: "d41d8cd98f00b204e9800998ecf8427e", ContentType: "image/jpeg",
		LastModified: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC),
		UserMeta:     map[string]string{"camera": "x100", "owner": "alice"}, Tags: map[string]string{"team": "photo"},
		Replication: NewReplicationInfo(rule, "arn:aws:iam::000000000000:role/bench", true),
	}
}

func BenchmarkEntryEncode(b *testing.B) {
	md, err := MarshalObjectMD(benchVersion())
	if err != nil {
		b.Fatal(err)
	}
	e := NewEntry("bench", VersionedKey("photos/2026/11/25/IMG_0001.jpg", "v1"), md)
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Encode()
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	v := benchVersion()
	md, err := MarshalObjectMD(v)
	if err != nil {
		b.Fatal(err)
	}
	data := NewEntry(v.Bucket, VersionedKey(v.Key, v.VersionID), md).Encode()
	if _, _, err := DecodeEntry(data); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeEntry(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseObjectMD(b *testing.B) {
	md, err := MarshalObjectMD(benchVersion())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(md)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseObjectMD("bench", md); err != nil {
			b.Fatal(err)
		}
	}
}

// cloudServerMD is an ObjectMD as CloudServer writes it (Arsenal's
// ObjectMD, model version 7) for a version replicated to two sites, as
// mongodoc.ValueJSON renders it.
const cloudServerMD = `{"owner-display-name":"Bart","owner-id":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",` +
	`"cache-control":"","content-disposition":"","content-encoding":"","expires":"","content-length":4096,` +
	`"content-type":"image/jpeg","content-md5":"d41d8cd98f00b204e9800998ecf8427e","x-amz-version-id":"null",` +
	`"x-amz-server-version-id":"","x-amz-storage-class":"STANDARD","x-amz-server-side-encryption":"",` +
	`"x-amz-server-side-encryption-aws-kms-key-id":"","x-amz-server-side-encryption-customer-algorithm":"",` +
	`"x-amz-website-redirect-location":"","acl":{"Canned":"private","FULL_CONTROL":[],"WRITE_ACP":[],"READ":[],"READ_ACP":[]},` +
	`"key":"photos/2026/11/25/IMG_0001.jpg","location":[{"key":"4e6f1c","size":4096,"start":0,"dataStoreName":"us-east-1",` +
	`"dataStoreType":"scality","dataStoreETag":"1:d41d8cd98f00b204e9800998ecf8427e"}],"isNull":false,"nullVersionId":"",` +
	`"isDeleteMarker":false,"versionId":"98500000000000999999RG001  1.2.3","uploadId":"","tags":{"team":"photo"},` +
	`"replicationInfo":{"status":"PENDING","backends":[{"site":"site-a","status":"PENDING","dataStoreVersionId":""},` +
	`{"site":"site-b","status":"PENDING","dataStoreVersionId":""}],"content":["DATA","METADATA"],` +
	`"destination":"arn:aws:s3:::dst","storageClass":"site-a,site-b","role":"arn:aws:iam::root:role/r","storageType":"aws_s3",` +
	`"dataStoreVersionId":"","isNFS":null},"dataStoreName":"us-east-1","originOp":"s3:ObjectCreated:Put",` +
	`"last-modified":"2026-11-25T09:00:00.000Z","md-model-version":7,"microVersionId":"0123456789abcdef"}`

// BenchmarkParseObjectMDCloudServer parses a full ObjectMD without user
// metadata (one decode) and with it (the top-level fields read too).
func BenchmarkParseObjectMDCloudServer(b *testing.B) {
	for name, md := range map[string]string{
		"plain":    cloudServerMD,
		"usermeta": cloudServerMD[:len(cloudServerMD)-1] + `,"x-amz-meta-camera":"x100"}`,
	} {
		b.Run(name, func(b *testing.B) {
			data := []byte(md)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseObjectMD("bench", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshalObjectMD(b *testing.B) {
	v := benchVersion()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MarshalObjectMD(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch1000Rules matches keys against 1000 prefix rules; the key
// matches the last rule, the worst case of a first-match scan.
func BenchmarkMatch1000Rules(b *testing.B) {
	c := ReplicationConfig{Role: "arn:aws:iam::000000000000:role/bench"}
	for i := range 1000 {
		c.Rules = append(c.Rules, ReplicationRule{ID: fmt.Sprintf("r%04d", i), Enabled: true, Prefix: fmt.Sprintf("tenant-%04d/", i),
			DestinationBucket: DestinationBucketPrefix + "dst", StorageClass: "site-a"})
	}
	for _, tc := range []struct{ name, key string }{
		{"last", "tenant-0999/photos/a.jpg"},
		{"none", "other/photos/a.jpg"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = c.Match(tc.key)
			}
		})
	}
}

func BenchmarkAggregate(b *testing.B) {
	for _, n := range []int{2, 16} {
		backends := make([]Backend, n)
		for i := range backends {
			backends[i] = Backend{Site: fmt.Sprintf("site-%d", i), Status: StatusCompleted}
		}
		backends[n-1].Status = StatusPending
		b.Run(fmt.Sprintf("sites=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Aggregate(backends)
			}
		})
	}
}
