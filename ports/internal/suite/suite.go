// Package suite holds what the port contract suites share: contexts bound
// to a test, and names no other test uses, so that suites run in parallel
// against one shared server.
package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"
)

// Context returns a context that ends after d or with the test.
func Context(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Unique returns prefix followed by a random suffix.
func Unique(prefix string) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])
}

// Case is one named contract check of an adapter of type T.
type Case[T any] struct {
	Name string
	Fn   func(t *testing.T, x T)
}

// Run runs every case in parallel, each on a fresh adapter from newX.
func Run[T any](t *testing.T, newX func(t *testing.T) T, cases []Case[T]) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			c.Fn(t, newX(t))
		})
	}
}
