package s3front

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// deleteRequest is the body of DeleteObjects (POST ?delete).
type deleteRequest struct {
	Quiet   bool `xml:"Quiet"`
	Objects []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Object"`
}

// deleteResult is the source's answer to DeleteObjects.
type deleteResult struct {
	Deleted []struct {
		Key                   string `xml:"Key"`
		VersionID             string `xml:"VersionId"`
		DeleteMarker          bool   `xml:"DeleteMarker"`
		DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId"`
	} `xml:"Deleted"`
	Errors []struct {
		Key       string `xml:"Key"`
		VersionID string `xml:"VersionId"`
	} `xml:"Error"`
}

// maxDeleteResult bounds the answer read back: 1,000 objects of 1 KiB
// keys with their XML.
const maxDeleteResult = 8 << 20

// recordDeletes records what a DeleteObjects request did to each object the
// source did not report as an error: a version id removes that version's
// metadata, no version id records the delete marker the source created. A
// quiet request's answer names no marker: the source's listing does.
func (f *Front) recordDeletes(bucket string, body []byte) after {
	return func(resp *http.Response) error {
		var req deleteRequest
		if err := xml.Unmarshal(body, &req); err != nil {
			return nil // the source accepted what the front cannot read: record nothing
		}
		ctx := resp.Request.Context()
		b, ok, err := f.replicated(ctx, bucket)
		if err != nil {
			return internal("reading bucket %s: %v", bucket, err)
		}
		if !ok {
			return nil
		}
		raw, err := io.ReadAll(io.LimitReader(resp.Body, maxDeleteResult))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		if err != nil {
			return internal("reading the source's DeleteObjects answer: %v", err)
		}
		var res deleteResult
		if err := xml.Unmarshal(raw, &res); err != nil {
			return internal("the source's DeleteObjects answer is not XML: %v", err)
		}
		type ref struct{ key, vid string }
		failed := map[ref]bool{}
		for _, e := range res.Errors {
			failed[ref{e.Key, e.VersionID}] = true
		}
		markers := map[string]string{}
		for _, d := range res.Deleted {
			if d.VersionID == "" && d.DeleteMarker {
				markers[d.Key] = d.DeleteMarkerVersionID
			}
		}
		for _, o := range req.Objects {
			if failed[ref{o.Key, o.VersionID}] {
				continue
			}
			if o.VersionID != "" {
				err = f.removeVersion(ctx, bucket, o.Key, o.VersionID)
			} else if vid, err2 := f.markerOf(ctx, bucket, o.Key, markers); err2 != nil {
				err = internal("finding the delete marker of %s/%s: %v", bucket, o.Key, err2)
			} else if vid != "" {
				err = f.recordMarker(ctx, b, o.Key, vid)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// markerOf returns the version id of the delete marker a DeleteObjects
// created for key: from the answer, or else the latest delete marker the
// source lists (none: the bucket is not versioned).
func (f *Front) markerOf(ctx context.Context, bucket, key string, answered map[string]string) (string, error) {
	if vid, ok := answered[key]; ok {
		return vid, nil
	}
	out, err := f.src.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: &bucket, Prefix: &key, MaxKeys: aws.Int32(10)})
	if err != nil {
		return "", err
	}
	for _, m := range out.DeleteMarkers {
		if aws.ToString(m.Key) == key && aws.ToBool(m.IsLatest) {
			if vid := aws.ToString(m.VersionId); vid != "null" {
				return vid, nil
			}
		}
	}
	return "", nil
}
