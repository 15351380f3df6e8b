// Package checkpointtest is the contract suite of ports.Checkpoints. Every
// adapter of the port runs it from its own tests:
//
//	checkpointtest.Run(t, func(t *testing.T) ports.Checkpoints { return newStore(t) })
//
// Each case uses checkpoint names of its own (random suffix) and runs in
// parallel, so adapters sharing one server with other tests pass too.
package checkpointtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	shared "github.com/openbackbeat/backbeat/ports/internal/suite"

	"github.com/openbackbeat/backbeat/ports"
)

// opTimeout bounds each call: generous for a real service on a slow machine.
const opTimeout = 20 * time.Second

// Run checks the ports.Checkpoints contract. newStore is called once per
// case; it registers its own cleanup with t.
func Run(t *testing.T, newStore func(t *testing.T) ports.Checkpoints) {
	t.Helper()
	shared.Run(t, newStore, []shared.Case[ports.Checkpoints]{
		{Name: "LoadMissingIsNil", Fn: testLoadMissing},
		{Name: "SaveThenLoad", Fn: testSaveLoad},
		{Name: "SaveReplaces", Fn: testOverwrite},
		{Name: "NamesAreIndependent", Fn: testNamesIndependent},
		{Name: "SaveKeepsItsOwnCopy", Fn: testOwnCopy},
		{Name: "ConcurrentSaves", Fn: testConcurrentSaves},
	})
}

func ctxFor(t *testing.T) context.Context { return shared.Context(t, opTimeout) }

func unique(prefix string) string { return shared.Unique(prefix) }

// position returns a position holding binary bytes (NUL, 0xff, ...), as
// resume tokens may.
func position(n int) ports.Position {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	p[0], p[n-1] = 0x00, 0xff
	return p
}

func save(t *testing.T, s ports.Checkpoints, name string, pos ports.Position) {
	t.Helper()
	if err := s.Save(ctxFor(t), name, pos); err != nil {
		t.Fatalf("Save(%q): %v", name, err)
	}
}

func load(t *testing.T, s ports.Checkpoints, name string) ports.Position {
	t.Helper()
	pos, err := s.Load(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return pos
}

func wantPosition(t *testing.T, s ports.Checkpoints, name string, want ports.Position) {
	t.Helper()
	if got := load(t, s, name); !bytes.Equal(got, want) {
		t.Fatalf("Load(%q) = %x, want %x", name, got, want)
	}
}

func testLoadMissing(t *testing.T, s ports.Checkpoints) {
	name := unique("ckpt-missing")
	pos, err := s.Load(ctxFor(t), name)
	if err != nil {
		t.Fatalf("Load of a name never saved: err = %v, want nil", err)
	}
	if pos != nil {
		t.Fatalf("Load of a name never saved = %x, want nil", pos)
	}
}

func testSaveLoad(t *testing.T, s ports.Checkpoints) {
	name := unique("ckpt-save")
	want := position(48)
	save(t, s, name, want)
	wantPosition(t, s, name, want)
	// Loading does not consume the position.
	wantPosition(t, s, name, want)
}

func testOverwrite(t *testing.T, s ports.Checkpoints) {
	name := unique("ckpt-overwrite")
	save(t, s, name, position(64))
	// Shorter than the first, so leftover bytes of the first would show.
	second := position(9)
	save(t, s, name, second)
	wantPosition(t, s, name, second)
	third := position(100)
	save(t, s, name, third)
	wantPosition(t, s, name, third)
}

func testNamesIndependent(t *testing.T, s ports.Checkpoints) {
	a, b, c := unique("ckpt-a"), unique("ckpt-b"), unique("ckpt-c")
	pa, pb := position(16), position(17)
	save(t, s, a, pa)
	save(t, s, b, pb)
	wantPosition(t, s, a, pa)
	wantPosition(t, s, b, pb)
	if got := load(t, s, c); got != nil {
		t.Fatalf("Load(%q) never saved = %x after saving other names, want nil", c, got)
	}
	pa2 := position(20)
	save(t, s, a, pa2)
	wantPosition(t, s, b, pb) // replacing a leaves b alone
	wantPosition(t, s, a, pa2)
}

// testOwnCopy checks that the store keeps what was saved, not the caller's
// buffer: a reader reuses its buffers.
func testOwnCopy(t *testing.T, s ports.Checkpoints) {
	name := unique("ckpt-copy")
	pos := position(32)
	want := bytes.Clone(pos)
	save(t, s, name, pos)
	for i := range pos {
		pos[i] ^= 0x5a
	}
	wantPosition(t, s, name, want)
	got := load(t, s, name)
	for i := range got {
		got[i] ^= 0x5a
	}
	wantPosition(t, s, name, want)
}

func testConcurrentSaves(t *testing.T, s ports.Checkpoints) {
	const n = 12
	prefix := unique("ckpt-conc")
	want := make([]ports.Position, n)
	for i := range want {
		want[i] = position(24 + i)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := s.Save(ctxFor(t), fmt.Sprintf("%s-%d", prefix, i), want[i]); err != nil {
				errs <- fmt.Errorf("save #%d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	for i := range n {
		wantPosition(t, s, fmt.Sprintf("%s-%d", prefix, i), want[i])
	}
}
