package s3site

import (
	"bytes"
	"context"
	"testing"

	"github.com/openbackbeat/backbeat/ports/sitelistingtest"
)

func TestSiteListingContract(t *testing.T) {
	sitelistingtest.Run(t, func(t *testing.T) sitelistingtest.Site {
		c := newTestClient(t, siteAAddr)
		b := testBucket(t, c)
		return sitelistingtest.Site{
			Listing: c.Listing(), Dest: c.Destination(), Bucket: b,
			PutForeign: func(ctx context.Context, key string, data []byte, tags map[string]string) (string, error) {
				return c.PutObject(ctx, b, key, bytes.NewReader(data), int64(len(data)), "text/plain", nil, tags)
			},
		}
	})
}
