package app

import (
	"sync"

	"github.com/openbackbeat/backbeat/ports"
)

// Ledger acknowledges deliveries in offset order per partition, whatever
// order their work finishes in: a delivery is acked only when it and every
// earlier delivery of its partition are done. A crash therefore never skips
// an entry whose work had not finished; it only repeats finished ones.
type Ledger struct {
	mu         sync.Mutex
	partitions map[int32]*partitionLedger
}

type partitionLedger struct {
	pending []*ledgerItem // in delivery (offset) order
}

type ledgerItem struct {
	d    *ports.Delivery
	done bool
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{partitions: map[int32]*partitionLedger{}}
}

// Track registers a delivery, in the order the subscriber delivered it.
func (l *Ledger) Track(d *ports.Delivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.partitions[d.Partition]
	if p == nil {
		p = &partitionLedger{}
		l.partitions[d.Partition] = p
	}
	p.pending = append(p.pending, &ledgerItem{d: d})
}

// Done marks a tracked delivery finished and acks every delivery of its
// partition that is now part of a finished prefix.
func (l *Ledger) Done(d *ports.Delivery) {
	l.mu.Lock()
	p := l.partitions[d.Partition]
	if p == nil {
		l.mu.Unlock()
		return
	}
	for _, it := range p.pending {
		if it.d == d {
			it.done = true
			break
		}
	}
	var ready []*ports.Delivery
	for len(p.pending) > 0 && p.pending[0].done {
		ready = append(ready, p.pending[0].d)
		p.pending = p.pending[1:]
	}
	l.mu.Unlock()
	for _, r := range ready {
		r.Ack()
	}
}

// Outstanding returns how many tracked deliveries are not yet acked.
func (l *Ledger) Outstanding() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.partitions {
		n += len(p.pending)
	}
	return n
}
