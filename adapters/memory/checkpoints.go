package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// Checkpoints keeps journal positions, and the leases that guard them, in
// memory. It implements ports.LeasedCheckpoints and is safe for concurrent
// use; the processes that share it are goroutines of one process.
type Checkpoints struct {
	mu     sync.Mutex
	pos    map[string]ports.Position
	leases map[string]*checkpointLease
}

// checkpointLease is the current grant of a name; epoch survives its release.
type checkpointLease struct {
	owner   string
	epoch   int64
	expires time.Time
}

var _ ports.LeasedCheckpoints = (*Checkpoints)(nil)

// NewCheckpoints returns an empty checkpoint store.
func NewCheckpoints() *Checkpoints {
	return &Checkpoints{pos: map[string]ports.Position{}, leases: map[string]*checkpointLease{}}
}

// Acquire grants name to owner when it is free or its grant ran out.
func (c *Checkpoints) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (ports.Grant, bool, error) {
	if err := ctx.Err(); err != nil {
		return ports.Grant{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.leases[name]
	now := time.Now()
	if l == nil {
		l = &checkpointLease{}
		c.leases[name] = l
	}
	if l.owner != "" && now.Before(l.expires) {
		return ports.Grant{}, false, nil
	}
	l.owner, l.epoch, l.expires = owner, l.epoch+1, now.Add(ttl)
	return ports.Grant{Name: name, Owner: owner, Epoch: l.epoch}, true, nil
}

// current reports whether g is name's current grant. The caller holds c.mu.
func (c *Checkpoints) current(g ports.Grant) bool {
	l := c.leases[g.Name]
	return l != nil && l.owner == g.Owner && l.epoch == g.Epoch
}

// Renew extends g, unless it was taken over or released.
func (c *Checkpoints) Renew(ctx context.Context, g ports.Grant, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(g) {
		return fmt.Errorf("memory: renew lease %q epoch %d: %w", g.Name, g.Epoch, ports.ErrLeaseLost)
	}
	c.leases[g.Name].expires = time.Now().Add(ttl)
	return nil
}

// Release ends g if it is still current.
func (c *Checkpoints) Release(ctx context.Context, g ports.Grant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current(g) {
		c.leases[g.Name].owner = ""
	}
	return nil
}

// SaveFenced saves pos only while g is current.
func (c *Checkpoints) SaveFenced(ctx context.Context, g ports.Grant, pos ports.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.current(g) {
		return fmt.Errorf("memory: save checkpoint %q epoch %d: %w", g.Name, g.Epoch, ports.ErrLeaseLost)
	}
	c.pos[g.Name] = bytes.Clone(pos)
	return nil
}

// Load returns the position saved under name, or nil.
func (c *Checkpoints) Load(ctx context.Context, name string) (ports.Position, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pos[name]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(p), nil
}

// Save records a copy of pos as name's position.
func (c *Checkpoints) Save(ctx context.Context, name string, pos ports.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pos == nil {
		delete(c.pos, name)
		return nil
	}
	c.pos[name] = bytes.Clone(pos)
	return nil
}
