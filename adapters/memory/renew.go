package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

var _ ports.RenewableLocker = (*Locker)(nil)

// TryHold takes name for ttl unless someone holds it, as TryLock does; the
// hold can be renewed.
func (l *Locker) TryHold(ctx context.Context, name string, ttl time.Duration) (ports.HeldLock, bool, error) {
	release, ok, err := l.TryLock(ctx, name, ttl)
	if err != nil || !ok {
		return nil, ok, err
	}
	l.mu.Lock()
	token := l.held[name].token
	l.mu.Unlock()
	return &heldLock{l: l, name: name, token: token, release: release}, true, nil
}

// heldLock is one hold of a Locker's lock, known by its token.
type heldLock struct {
	l       *Locker
	name    string
	token   uint64
	release func()
}

func (h *heldLock) Renew(ctx context.Context, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl <= 0 {
		return errors.New("memory locker: ttl must be positive")
	}
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	now := h.l.now()
	cur, ok := h.l.held[h.name]
	if !ok || cur.token != h.token || !now.Before(cur.expires) {
		return fmt.Errorf("memory locker: renew %q: %w", h.name, ports.ErrLockLost)
	}
	h.l.held[h.name] = lease{token: h.token, expires: now.Add(ttl)}
	return nil
}

func (h *heldLock) Release(context.Context) error {
	h.release()
	return nil
}
