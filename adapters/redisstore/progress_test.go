package redisstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/progresstest"
)

func TestProgressContract(t *testing.T) {
	progresstest.Run(t, func(t *testing.T) ports.ProgressStore { return newEnv(t).store(t).Progress() })
}

// TestProgressKeyLayout checks the record's key, fields and expiry.
func TestProgressKeyLayout(t *testing.T) {
	e := newEnv(t)
	p := e.store(t).Progress()
	ctx := t.Context()
	ref := ports.CopyRef{Site: "site-a", Bucket: "bkt", Key: "dir/a:b c", VersionID: "v1"}
	started := time.UnixMilli(1_900_000_000_123)
	require.NoError(t, p.Begin(ctx, ref, 1<<50, started))
	require.NoError(t, p.Advance(ctx, ref, started, 1<<49, started.Add(time.Second)))
	key := e.prefix + "site-a:bkt:dir%2Fa%3Ab+c:v1:bb:crr:object:progress"
	fields, err := e.raw.HGetAll(ctx, key).Result()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"total": "1125899906842624", "done": "562949953421312", "started": "1900000000123", "updated": "1900000001123"}, fields)
	ttl, err := e.raw.PTTL(ctx, key).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 24*time.Hour)
	// Beyond Total, done is capped at exactly Total (written back as the
	// integer, never a float).
	require.NoError(t, p.Advance(ctx, ref, started, 1<<50, started.Add(2*time.Second)))
	done, err := e.raw.HGet(ctx, key, "done").Result()
	require.NoError(t, err)
	assert.Equal(t, "1125899906842624", done)
}
