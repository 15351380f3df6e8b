package s3site

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/ports"
)

// Source reads object versions from the source site.
type Source struct {
	c *Client
}

var _ ports.ObjectSource = (*Source)(nil)

// Source returns the client as the replication source.
func (c *Client) Source() *Source { return &Source{c: c} }

// Open streams the data of one version (GetObject with its version id).
// The body comes straight from the connection: nothing is buffered beyond
// what the caller reads. A missing version, key or bucket and refused
// access wrap domain.ErrPermanent; so does a version that is a delete
// marker (S3 answers MethodNotAllowed).
func (s *Source) Open(ctx context.Context, bucket, key, versionID string) (io.ReadCloser, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.c.s3.GetObject(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get object %s/%s version %s: %w", bucket, key, versionID, translate(err))
	}
	return out.Body, nil
}
