// Package bustest is the contract suite of ports.Publisher and
// ports.Subscriber, in the manner of Watermill's pubsub/tests: every bus
// adapter runs it with a constructor and the Features it has.
//
//	bustest.Run(t, func(t *testing.T) (ports.Publisher, ports.Subscriber) {
//		b := newBus(t) // closed by a t.Cleanup
//		return b, b
//	}, bustest.Features{Partitions: 8})
//
// Each case uses topics and consumer groups of its own (random names), so
// the cases run in parallel and pass on a broker shared with other tests.
package bustest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// Features describes the bus under test.
type Features struct {
	// Partitions is how many partitions the bus gives a topic; when set,
	// every delivery must name a partition below it.
	Partitions int
	// CreateTopic, when set, is called for every topic before the suite
	// publishes or subscribes to it, for buses that do not create topics
	// on first use (or create them only when published to).
	CreateTopic func(t *testing.T, topic string)
	// DeleteTopic, when set, is called for every topic a case used once
	// the case has ended, passed or failed, and its clients are closed,
	// for buses whose topics outlive their clients (a broker's).
	DeleteTopic func(t *testing.T, topic string)
	// MinWindow is how many deliveries of one partition the bus hands out
	// before any is acknowledged (its window); 0 or 1 skips that case.
	MinWindow int
	// Timeout bounds each wait for deliveries; 0 means 60 s, room for a
	// consumer group to join on a slow machine.
	Timeout time.Duration
	// Serial runs the cases one at a time rather than in parallel.
	Serial bool
}

func (f Features) timeout() time.Duration {
	if f.Timeout > 0 {
		return f.Timeout
	}
	return 60 * time.Second
}

// Run checks the bus ports' contract. newBus is called once per case and
// registers its own cleanup (closing the clients) with t.
func Run(t *testing.T, newBus func(t *testing.T) (ports.Publisher, ports.Subscriber), f Features) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"PublishThenSubscribe", testPublishThenSubscribe},
		{"SubscribeThenPublish", testSubscribeThenPublish},
		{"EveryGroupGetsEverything", testTwoGroups},
		{"ResumeAfterAcknowledged", testResume},
		{"UnacknowledgedAreRedelivered", testRedelivery},
		{"ContextEndClosesChannel", testContextEnd},
		{"CloseClosesChannel", testClose},
		{"PublishWithCancelledContext", testPublishCancelled},
		{"WindowOfUnacknowledged", testWindow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !f.Serial {
				t.Parallel()
			}
			s := &suite{f: f}
			t.Cleanup(func() { s.deleteTopics(t) }) // first registered, so run after newBus's cleanups
			s.pub, s.sub = newBus(t)
			c.fn(t, s)
		})
	}
}

type suite struct {
	f   Features
	pub ports.Publisher
	sub ports.Subscriber

	mu     sync.Mutex
	topics []string
}

// deleteTopics deletes the topics the case used, if the bus asks for it.
func (s *suite) deleteTopics(t *testing.T) {
	if s.f.DeleteTopic == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, topic := range s.topics {
		s.f.DeleteTopic(t, topic)
	}
}

func unique(prefix string) string { return shared.Unique(prefix) }

// topic returns a new topic name, created if the bus needs it.
func (s *suite) topic(t *testing.T) string {
	t.Helper()
	name := unique("bustest")
	s.mu.Lock()
	s.topics = append(s.topics, name)
	s.mu.Unlock()
	if s.f.CreateTopic != nil {
		s.f.CreateTopic(t, name)
	}
	return name
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// message n of key: the payload names both, and holds binary bytes.
func message(n int, key string, seq int) ports.Message {
	payload := append([]byte(fmt.Sprintf("m%d:%d:", n, seq)), 0x00, 0xff, 0x80, '\n')
	m := ports.Message{Key: key, Payload: payload}
	if n%5 != 4 { // some messages have no headers at all
		m.Headers = map[string]string{
			"traceparent": fmt.Sprintf("00-%032x-%016x-01", n+1, n+1),
			"msg":         strconv.Itoa(n),
		}
	}
	return m
}

// messages makes n messages spread over keys, numbered per key.
func messages(n int, keys []string) []ports.Message {
	seq := map[string]int{}
	out := make([]ports.Message, n)
	for i := range out {
		k := keys[i%len(keys)]
		out[i] = message(i, k, seq[k])
		seq[k]++
	}
	return out
}

var someKeys = []string{"k0", "k1", "bucket%2Fkey%20with%20spaces", "k3", "k4", "k5", "k6", "k7", "a", "zz"}

func idOf(d *ports.Delivery) (n, seq int, ok bool) {
	s := string(d.Payload)
	if !strings.HasPrefix(s, "m") {
		return 0, 0, false
	}
	parts := strings.SplitN(s[1:], ":", 3)
	if len(parts) != 3 {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(parts[0])
	seq, err2 := strconv.Atoi(parts[1])
	return n, seq, err1 == nil && err2 == nil
}

func (s *suite) publish(t *testing.T, ctx context.Context, topic string, msgs ...ports.Message) {
	t.Helper()
	if err := s.pub.Publish(ctx, topic, msgs...); err != nil {
		t.Fatalf("Publish %d messages to %s: %v", len(msgs), topic, err)
	}
}

func (s *suite) subscribe(t *testing.T, ctx context.Context, topic, group string) <-chan *ports.Delivery {
	t.Helper()
	ch, err := s.sub.Subscribe(ctx, topic, group)
	if err != nil {
		t.Fatalf("Subscribe(%s, %s): %v", topic, group, err)
	}
	return ch
}

// receive takes n deliveries from ch, acking each when ack is set.
func (s *suite) receive(t *testing.T, ch <-chan *ports.Delivery, n int, ack bool) []*ports.Delivery {
	t.Helper()
	timer := time.NewTimer(s.f.timeout())
	defer timer.Stop()
	var got []*ports.Delivery
	for len(got) < n {
		select {
		case d, ok := <-ch:
			if !ok {
				t.Fatalf("the subscription closed after %d of %d deliveries", len(got), n)
			}
			if s.f.Partitions > 0 && (d.Partition < 0 || int(d.Partition) >= s.f.Partitions) {
				t.Fatalf("delivery from partition %d, want one of the %d partitions", d.Partition, s.f.Partitions)
			}
			got = append(got, d)
			if ack {
				d.Ack()
			}
		case <-timer.C:
			t.Fatalf("received %d of %d deliveries within %s", len(got), n, s.f.timeout())
		}
	}
	return got
}

// drain reads ch until it closes, without acking.
func (s *suite) drain(t *testing.T, ch <-chan *ports.Delivery, what string) {
	t.Helper()
	timer := time.NewTimer(s.f.timeout())
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("the subscription's channel did not close within %s after %s", s.f.timeout(), what)
		}
	}
}

// checkDelivered verifies that got is exactly sent, intact, with every
// key's messages in publish order on one partition.
func checkDelivered(t *testing.T, sent []ports.Message, got []*ports.Delivery) {
	t.Helper()
	seen := map[int]bool{}
	lastSeq := map[string]int{}
	keyPartition := map[string]int32{}
	lastOffset := map[int32]int64{}
	for i, d := range got {
		n, seq, ok := idOf(d)
		if !ok || n < 0 || n >= len(sent) {
			t.Fatalf("delivery #%d carries a payload that was not published: %q", i, d.Payload)
		}
		if seen[n] {
			t.Fatalf("message %d was delivered twice", n)
		}
		seen[n] = true
		want := sent[n]
		if d.Key != want.Key {
			t.Fatalf("message %d delivered with key %q, want %q", n, d.Key, want.Key)
		}
		if !bytes.Equal(d.Payload, want.Payload) {
			t.Fatalf("message %d delivered with payload %q, want %q", n, d.Payload, want.Payload)
		}
		for k, v := range want.Headers {
			if d.Headers[k] != v {
				t.Fatalf("message %d delivered with header %s=%q, want %q (headers %v)", n, k, d.Headers[k], v, d.Headers)
			}
		}
		if last, ok := lastSeq[d.Key]; ok && seq <= last {
			t.Fatalf("key %q: message #%d of the key delivered after #%d: publish order lost", d.Key, seq, last)
		}
		lastSeq[d.Key] = seq
		if p, ok := keyPartition[d.Key]; ok && p != d.Partition {
			t.Fatalf("key %q delivered from partitions %d and %d: equal keys must share a partition", d.Key, p, d.Partition)
		}
		keyPartition[d.Key] = d.Partition
		if off, ok := lastOffset[d.Partition]; ok && d.Offset <= off {
			t.Fatalf("partition %d: offset %d delivered after %d", d.Partition, d.Offset, off)
		}
		lastOffset[d.Partition] = d.Offset
	}
	if len(seen) != len(sent) {
		t.Fatalf("received %d distinct messages, want %d", len(seen), len(sent))
	}
}

func testPublishThenSubscribe(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	topic := s.topic(t)
	sent := messages(60, someKeys)
	for i := 0; i < len(sent); i += 20 { // several messages per Publish
		s.publish(t, ctx, topic, sent[i:i+20]...)
	}
	ch := s.subscribe(t, ctx, topic, unique("group"))
	checkDelivered(t, sent, s.receive(t, ch, len(sent), true))
}

func testSubscribeThenPublish(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	topic := s.topic(t)
	ch := s.subscribe(t, ctx, topic, unique("group"))
	sent := messages(30, someKeys)
	for _, m := range sent {
		s.publish(t, ctx, topic, m)
	}
	checkDelivered(t, sent, s.receive(t, ch, len(sent), true))
}

func testTwoGroups(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	topic := s.topic(t)
	sent := messages(30, someKeys)
	s.publish(t, ctx, topic, sent...)
	var wg sync.WaitGroup
	got := make([][]*ports.Delivery, 2)
	chans := []<-chan *ports.Delivery{
		s.subscribe(t, ctx, topic, unique("group-a")),
		s.subscribe(t, ctx, topic, unique("group-b")),
	}
	failed := make([]bool, 2)
	for i, ch := range chans {
		wg.Go(func() {
			// receive calls Fatalf, which must run on the test goroutine:
			// collect here, check there.
			timer := time.NewTimer(s.f.timeout())
			defer timer.Stop()
			for len(got[i]) < len(sent) {
				select {
				case d, ok := <-ch:
					if !ok {
						failed[i] = true
						return
					}
					got[i] = append(got[i], d)
					d.Ack()
				case <-timer.C:
					failed[i] = true
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range chans {
		if failed[i] {
			t.Fatalf("group %d received %d of %d messages within %s", i, len(got[i]), len(sent), s.f.timeout())
		}
		checkDelivered(t, sent, got[i])
	}
}

// testResume acknowledges the first half of a key's messages, ends the
// subscription, and checks that the group resumes exactly after them.
func testResume(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	topic := s.topic(t)
	group := unique("group")
	sent := messages(20, []string{"one-key"}) // one key: one partition, one order
	s.publish(t, ctx, topic, sent...)

	ctx1, cancel1 := context.WithCancel(ctx)
	ch := s.subscribe(t, ctx1, topic, group)
	first := s.receive(t, ch, 10, true)
	checkDelivered(t, sent[:10], first)
	cancel1()
	s.drain(t, ch, "its context ended") // anything else delivered stays unacked

	ctx2, cancel2 := context.WithCancel(ctx)
	ch = s.subscribe(t, ctx2, topic, group)
	second := s.receive(t, ch, 10, true)
	for i, d := range second {
		if _, seq, _ := idOf(d); seq != 10+i {
			t.Fatalf("after acking messages 0-9 and resubscribing, delivery #%d is message %d, want %d: the group must resume right after what it acked", i, seq, 10+i)
		}
	}
	cancel2()
	s.drain(t, ch, "its context ended")

	// Everything is acked: a new subscription gets only what comes next.
	ch = s.subscribe(t, ctx, topic, group)
	next := message(20, "one-key", 20)
	s.publish(t, ctx, topic, next)
	d := s.receive(t, ch, 1, true)[0]
	if !bytes.Equal(d.Payload, next.Payload) {
		n, seq, _ := idOf(d)
		t.Fatalf("after acking everything, the group received message %d (#%d of its key) again, want only the new message", n, seq)
	}
}

func testRedelivery(t *testing.T, s *suite) {
	ctx := s.ctx(t)
	topic := s.topic(t)
	group := unique("group")
	sent := messages(5, []string{"redelivered"})
	s.publish(t, ctx, topic, sent...)
	ctx1, cancel1 := context.WithCancel(ctx)
	ch := s.subscribe(t, ctx1, topic, group)
	s.receive(t, ch, 1, false)
	cancel1()
	s.drain(t, ch, "its context ended")

	ch = s.subscribe(t, ctx, topic, group)
	checkDelivered(t, sent, s.receive(t, ch, len(sent), true))
}

func testContextEnd(t *testing.T, s *suite) {
	topic := s.topic(t)
	ctx, cancel := context.WithCancel(s.ctx(t))
	ch := s.subscribe(t, ctx, topic, unique("group"))
	s.publish(t, s.ctx(t), topic, message(0, "k", 0))
	s.receive(t, ch, 1, true)
	cancel()
	s.drain(t, ch, "its context ended")
}

func testClose(t *testing.T, s *suite) {
	topic := s.topic(t)
	ctx := s.ctx(t)
	ch := s.subscribe(t, ctx, topic, unique("group"))
	s.publish(t, ctx, topic, message(0, "k", 0))
	s.receive(t, ch, 1, true)
	if err := s.sub.Close(); err != nil {
		t.Fatalf("subscriber Close: %v", err)
	}
	s.drain(t, ch, "the subscriber closed")
}

func testPublishCancelled(t *testing.T, s *suite) {
	topic := s.topic(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.pub.Publish(ctx, topic, message(0, "k", 0)); err == nil {
		t.Fatalf("Publish with a cancelled context returned nil, want an error")
	}
}

func testWindow(t *testing.T, s *suite) {
	if s.f.MinWindow < 2 {
		t.Skip("the bus declares no window of unacknowledged deliveries (Features.MinWindow)")
	}
	ctx := s.ctx(t)
	topic := s.topic(t)
	sent := messages(s.f.MinWindow, []string{"windowed"})
	s.publish(t, ctx, topic, sent...)
	ch := s.subscribe(t, ctx, topic, unique("group"))
	got := s.receive(t, ch, len(sent), false) // none acked
	checkDelivered(t, sent, got)
	for _, d := range got {
		d.Ack()
	}
}
