package memory_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports/sitelistingtest"
)

func TestSiteListingContract(t *testing.T) {
	sitelistingtest.Run(t, func(t *testing.T) sitelistingtest.Site {
		o := memory.NewObjects()
		o.CreateBucket("site")
		return sitelistingtest.Site{
			Listing: o, Dest: o, Bucket: "site",
			PutForeign: func(ctx context.Context, key string, data []byte, tags map[string]string) (string, error) {
				return o.Writer().PutObject(ctx, "site", key, bytes.NewReader(data), int64(len(data)), "text/plain", nil, tags)
			},
		}
	})
}
