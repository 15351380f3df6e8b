package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/ports"
)

// lockKeyPrefix namespaces lock names, which callers choose freely.
const lockKeyPrefix = "bb:lock:"

// releaseTimeout bounds a release, which has no context of its own.
const releaseTimeout = 5 * time.Second

// releaseScript deletes the lock only while it still holds the holder's
// token: a holder whose lock expired (and was taken by someone else) must
// not free the new holder's lock. Upstream reads then writes in two
// commands, which two retries can interleave.
var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// Locker is a ports.Locker on Redis keys: SET NX PX with a random token.
type Locker struct{ s *Store }

var _ ports.Locker = (*Locker)(nil)

// Locker returns the locker. Lock name n is the key
// `<KeyPrefix>bb:lock:<n>`.
func (s *Store) Locker() *Locker { return &Locker{s: s} }

// TryLock takes name for ttl if nobody holds it.
func (l *Locker) TryLock(ctx context.Context, name string, ttl time.Duration) (release func(), ok bool, err error) {
	if name == "" {
		return nil, false, fmt.Errorf("redisstore: lock: empty name")
	}
	if ttl < time.Millisecond {
		return nil, false, fmt.Errorf("redisstore: lock %q: ttl %s is under a millisecond", name, ttl)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	token := hex.EncodeToString(b[:])
	key := l.s.key(lockKeyPrefix + name)
	ok, err = l.s.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redisstore: lock %q: %w", name, err)
	}
	if !ok {
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			if err := releaseScript.Run(ctx, l.s.rdb, []string{key}, token).Err(); err != nil {
				// The lock still expires after its ttl.
				l.s.cfg.Logger.Warn("redisstore: release lock", "name", name, "err", err)
			}
		})
	}, true, nil
}
