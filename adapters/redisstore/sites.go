package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/openbackbeat/backbeat/ports"
)

const (
	siteStateKeyPrefix = "bb:crr:state:"
	// siteChannelPrefix is upstream's pause/resume channel,
	// `<replication topic>-<site>`, with the default topic.
	siteChannelPrefix = "backbeat-replication-"
	// rereadDelay spaces the attempts to re-read a state after a failure.
	rereadDelay = 500 * time.Millisecond
)

// SiteControl is a ports.SiteControl on Redis. A site's state is stored in
// `bb:crr:state:<site>` as JSON {"paused":bool,"scheduledResume":time},
// the shape of upstream's ZooKeeper state node, so that a replicator that
// was down when the state changed still starts in it; every change is
// also published on `backbeat-replication-<site>`, upstream's pause/resume
// channel, to reach running watchers at once.
type SiteControl struct{ s *Store }

var _ ports.SiteControl = (*SiteControl)(nil)

// SiteControl returns the site control.
func (s *Store) SiteControl() *SiteControl { return &SiteControl{s: s} }

func (c *SiteControl) stateKey(site string) string { return c.s.key(siteStateKeyPrefix + site) }
func (c *SiteControl) channel(site string) string  { return c.s.key(siteChannelPrefix + site) }

// State returns the stored state of site (running when none is stored).
func (c *SiteControl) State(ctx context.Context, site string) (ports.SiteState, error) {
	data, err := c.s.rdb.Get(ctx, c.stateKey(site)).Bytes()
	if errors.Is(err, redis.Nil) {
		return ports.SiteState{}, nil
	}
	if err != nil {
		return ports.SiteState{}, fmt.Errorf("redisstore: read state of site %s: %w", site, err)
	}
	var st ports.SiteState
	if err := json.Unmarshal(data, &st); err != nil {
		return ports.SiteState{}, fmt.Errorf("redisstore: state of site %s is not valid JSON: %w", site, err)
	}
	return st, nil
}

// notice is what SetState publishes. Watchers here only take it as a cue
// to re-read the stored state; Action and Date are upstream's messages
// (pauseService, resumeService with an optional date) for processes that
// act on them.
type notice struct {
	Action string          `json:"action"`
	Date   *time.Time      `json:"date,omitempty"`
	State  ports.SiteState `json:"state"`
}

// SetState stores st and publishes the change, in one transaction.
func (c *SiteControl) SetState(ctx context.Context, site string, st ports.SiteState) error {
	if site == "" {
		return errors.New("redisstore: set site state: empty site")
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("redisstore: encode state of site %s: %w", site, err)
	}
	n := notice{Action: "resumeService", State: st}
	if st.Paused {
		n.Action = "pauseService"
		if !st.ScheduledResume.IsZero() {
			n.Action, n.Date = "resumeService", &st.ScheduledResume
		}
	}
	msg, _ := json.Marshal(n)
	_, err = c.s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, c.stateKey(site), data, 0)
		p.Publish(ctx, c.channel(site), msg)
		return nil
	})
	if err != nil {
		return fmt.Errorf("redisstore: set state of site %s: %w", site, err)
	}
	return nil
}

// Watch subscribes to site's channel, then reads the stored state and
// sends it, then sends the state again each time it changes. On each
// message (and after the subscription reconnects, since messages
// published meanwhile are lost) it re-reads the stored state rather than
// trusting the message: two writers' messages may arrive in the other
// order than their writes. A state equal to the last one sent is not sent
// again. The channel is closed when ctx ends.
func (c *SiteControl) Watch(ctx context.Context, site string) (<-chan ports.SiteState, error) {
	ps := c.s.rdb.Subscribe(ctx, c.channel(site))
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		_ = ps.Close()
		return nil, fmt.Errorf("redisstore: watch site %s: subscribe: %w", site, err)
	}
	first, err := c.State(ctx, site)
	if err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("redisstore: watch site %s: %w", site, err)
	}
	out := make(chan ports.SiteState, 1)
	go c.watch(ctx, ps, site, first, out)
	return out, nil
}

func (c *SiteControl) watch(ctx context.Context, ps *redis.PubSub, site string, first ports.SiteState, out chan<- ports.SiteState) {
	defer close(out)
	defer ps.Close()
	// Subscription messages mark reconnections; a ping each second finds
	// a dead connection quickly.
	events := ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(time.Second))
	var (
		last       ports.SiteState
		sent       bool
		pending    = first
		hasPending = true
		retry      <-chan time.Time
	)
	reread := func() {
		st, err := c.State(ctx, site)
		if err != nil {
			if ctx.Err() == nil {
				c.s.cfg.Logger.Warn("redisstore: re-read site state", "site", site, "err", err)
				retry = time.After(rereadDelay)
			}
			return
		}
		retry = nil
		pending, hasPending = st, !sent || !sameState(st, last)
	}
	for {
		var send chan<- ports.SiteState
		if hasPending {
			send = out
		}
		select {
		case <-ctx.Done():
			return
		case send <- pending:
			last, sent, hasPending = pending, true, false
		case _, ok := <-events:
			if !ok {
				return // the store was closed
			}
			reread()
		case <-retry:
			reread()
		}
	}
}

func sameState(a, b ports.SiteState) bool {
	return a.Paused == b.Paused && a.ScheduledResume.Equal(b.ScheduledResume)
}
