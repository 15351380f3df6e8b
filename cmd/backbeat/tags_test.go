package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/adapters/s3site"
	"github.com/openbackbeat/backbeat/domain"
)

// TestTagChangesOnTheRealStack changes the tags of replicated versions as
// CloudServer does and checks that each site's replica version carries
// them, with no new version and no read of the source: the source's data
// is deleted before the change, so a copy could only fail.
func TestTagChangesOnTheRealStack(t *testing.T) {
	cfg := realStack(t)
	w := startService(t, cfg)
	ctx := context.Background()
	var out strings.Builder
	written, err := simulateInto(ctx, w, cfg, &out, cfg.Mongo.Journal.BucketPrefix+"-tags", simulateOptions{objects: 20, size: 1024, buckets: 1, wait: 2 * time.Minute})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	source, err := s3site.New(ctx, cfg.Source)
	if err != nil {
		t.Fatal(err)
	}
	defer source.Close()
	for _, v := range written {
		if _, err := source.S3().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(v.Bucket), Key: aws.String(v.Key), VersionId: aws.String(v.VersionID)}); err != nil {
			t.Fatalf("delete the source data of %s/%s: %v", v.Bucket, v.Key, err)
		}
	}
	sites := map[string]*s3site.ReplicaReader{}
	before := map[string]int{}
	for _, site := range cfg.SiteNames() {
		c, err := s3site.New(ctx, siteConfig(cfg, site).S3)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		sites[site] = c.ReplicaReader()
		for _, v := range written {
			reps, err := sites[site].Replicas(ctx, v.Bucket+"-replica", v.Key)
			if err != nil {
				t.Fatal(err)
			}
			before[site+"/"+v.Key] = len(reps)
		}
	}

	changed, err := retagInto(ctx, w, written, 15) // 15 new tag sets, 5 removed
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := follow(ctx, w, &out, changed, 2*time.Minute); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for site, rr := range sites {
		for _, v := range changed {
			reps, err := rr.Replicas(ctx, v.Bucket+"-replica", v.Key)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(reps); n != before[site+"/"+v.Key] {
				t.Fatalf("%s: %s holds %d versions after the tag change, %d before", site, v.Key, n, before[site+"/"+v.Key])
			}
			cur, err := w.metadata.Version(ctx, v.Bucket, v.Key, v.VersionID)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := cur.Site(site)
			var got *map[string]string
			for _, r := range reps {
				if r.SourceVersionID == v.VersionID && r.VersionID == b.DataStoreVersionID {
					got = &r.Tags
				}
			}
			if got == nil {
				t.Fatalf("%s: no replica of %s %s at the recorded version %q", site, v.Key, v.VersionID, b.DataStoreVersionID)
			}
			if !domain.TagsEqual(*got, v.Tags) {
				t.Fatalf("%s: replica of %s has tags %v, want %v", site, v.Key, *got, v.Tags)
			}
		}
	}
}
