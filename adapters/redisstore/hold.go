package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/ports"
)

// renewScript extends the lock only while it still holds the holder's
// token: once it expired, the key is gone or someone else's.
var renewScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

var _ ports.RenewableLocker = (*Locker)(nil)

// TryHold takes name for ttl if nobody holds it, as TryLock does (same
// keys: a name is one lock whichever method took it); the hold can be
// renewed.
func (l *Locker) TryHold(ctx context.Context, name string, ttl time.Duration) (ports.HeldLock, bool, error) {
	if name == "" {
		return nil, false, fmt.Errorf("redisstore: lock: empty name")
	}
	if ttl < time.Millisecond {
		return nil, false, fmt.Errorf("redisstore: lock %q: ttl %s is under a millisecond", name, ttl)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	h := &heldLock{l: l, name: name, key: l.s.key(lockKeyPrefix + name), token: hex.EncodeToString(b[:])}
	ok, err := l.s.rdb.SetNX(ctx, h.key, h.token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lock %q: %w", name, err)
	}
	if !ok {
		return nil, false, nil
	}
	return h, true, nil
}

// heldLock is one hold of a lock, known by its random token.
type heldLock struct {
	l         *Locker
	name, key string
	token     string
}

func (h *heldLock) Renew(ctx context.Context, ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redisstore: renew lock %q: ttl %s is under a millisecond", h.name, ttl)
	}
	n, err := renewScript.Run(ctx, h.l.s.rdb, []string{h.key}, h.token, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("redisstore: renew lock %q: %w", h.name, err)
	}
	if n == 0 {
		return fmt.Errorf("redisstore: renew lock %q: %w", h.name, ports.ErrLockLost)
	}
	return nil
}

func (h *heldLock) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, h.l.s.rdb, []string{h.key}, h.token).Err(); err != nil {
		return fmt.Errorf("redisstore: release lock %q: %w", h.name, err)
	}
	return nil
}
