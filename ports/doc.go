// Package ports declares the small interfaces the application needs from
// the outside world. Each states its contract; each has an importable
// contract suite (package <port>test) that every adapter must pass.
package ports

import "errors"

// ErrNotFound is returned (wrapped) when a named thing does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) by adapters when a compare-and-swap
// lost against a concurrent write and gave up retrying.
var ErrConflict = errors.New("concurrent update conflict")
