package memory_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/objectstest"
)

var _ app.SourceObjects = (*memory.ObjectWriter)(nil)

func TestObjectsDestinationContract(t *testing.T) {
	objectstest.RunDestination(t, func(t *testing.T) (ports.Destination, ports.ReplicaReader, string) {
		o := memory.NewObjects()
		o.CreateBucket("dst")
		return o, o, "dst"
	})
}

func TestObjectsLockedDestinationContract(t *testing.T) {
	objectstest.RunLockedDestination(t, func(t *testing.T) (ports.Destination, ports.ReplicaReader, string) {
		o := memory.NewObjects()
		o.CreateLockedBucket("locked")
		return o, o, "locked"
	})
}

func TestObjectsSourceContract(t *testing.T) {
	objectstest.RunSource(t, func(t *testing.T) (ports.ObjectSource, func(bucket, key string, data []byte) string, string) {
		o := memory.NewObjects()
		put := func(bucket, key string, data []byte) string { return o.PutObject(bucket, key, data, nil) }
		return o, put, "src"
	})
}

func TestObjectsWriterIsTheSimulatorsSource(t *testing.T) {
	o := memory.NewObjects()
	w := o.Writer()
	ctx := testCtx(t)
	if _, err := w.PutObject(ctx, "b", "k", bytes.NewReader([]byte("abc")), 3, "text/plain", nil, nil); !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("PutObject to a missing bucket: err = %v, want permanent", err)
	}
	if err := w.EnsureVersionedBucket(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	v1, err := w.PutObject(ctx, "b", "k", bytes.NewReader([]byte("abc")), 3, "text/plain", map[string]string{"m": "1"}, map[string]string{"t": "2"})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := w.PutObject(ctx, "b", "k", bytes.NewReader([]byte("defg")), 4, "text/plain", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !(v2 < v1) {
		t.Fatalf("version ids %q then %q: want each newer one smaller, as CloudServer's", v1, v2)
	}
	if _, err := w.PutObject(ctx, "b", "k", bytes.NewReader([]byte("ab")), 3, "", nil, nil); err == nil || errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("PutObject with a short body: err = %v, want a transient error", err)
	}
	rc, err := o.Open(ctx, "b", "k", v1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	_ = rc.Close()
	if string(data) != "abc" {
		t.Fatalf("Open(v1) = %q", data)
	}
}

// TestObjectsFaultInjection fails Put transiently three times, then lets
// it through, and counts only the Put that wrote.
func TestObjectsFaultInjection(t *testing.T) {
	o := memory.NewObjects()
	o.CreateBucket("dst")
	calls := 0
	o.SetFault(func(r ports.Replica) error {
		calls++
		if calls <= 3 {
			return fmt.Errorf("injected failure #%d for %s", calls, r.Key)
		}
		return nil
	})
	ctx := testCtx(t)
	r := ports.Replica{Bucket: "dst", Key: "k", SourceVersionID: "s1", Size: 2}
	for i := range 3 {
		_, err := o.Put(ctx, r, bytes.NewReader([]byte("hi")))
		if err == nil || domain.Classify(err) != domain.Transient {
			t.Fatalf("Put #%d: err = %v, want the injected transient failure", i+1, err)
		}
	}
	if o.Writes() != 0 {
		t.Fatalf("Writes = %d after failed Puts", o.Writes())
	}
	v, err := o.Put(ctx, r, bytes.NewReader([]byte("hi")))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := o.Put(ctx, r, bytes.NewReader([]byte("hi"))); err != nil || again != v {
		t.Fatalf("idempotent Put = %q, %v; want %q", again, err, v)
	}
	if o.Writes() != 1 {
		t.Fatalf("Writes = %d, want 1 (the idempotent Put writes nothing)", o.Writes())
	}

	o.SetFault(func(ports.Replica) error { return fmt.Errorf("%w: access denied", domain.ErrPermanent) })
	if _, err := o.Put(ctx, ports.Replica{Bucket: "dst", Key: "k2", SourceVersionID: "s2"}, bytes.NewReader(nil)); domain.Classify(err) != domain.Permanent {
		t.Fatalf("Put with a permanent fault: err = %v, want permanent", err)
	}
	o.SetFault(nil)
	if _, err := o.Put(ctx, ports.Replica{Bucket: "dst", Key: "k2", SourceVersionID: "s2"}, bytes.NewReader(nil)); err != nil {
		t.Fatalf("Put once the fault is removed: %v", err)
	}

	o.SetOpenFault(func(bucket, key, vid string) error { return errors.New("source unavailable") })
	src := o.PutObject("src", "k", []byte("x"), nil)
	if _, err := o.Open(ctx, "src", "k", src); err == nil || domain.Classify(err) != domain.Transient {
		t.Fatalf("Open with a fault: err = %v, want the injected transient failure", err)
	}
}

func TestObjectsRefusesBadData(t *testing.T) {
	o := memory.NewObjects()
	o.CreateBucket("dst")
	ctx := testCtx(t)
	r := ports.Replica{Bucket: "dst", Key: "k", SourceVersionID: "s", Size: 2, ContentMD5: "00000000000000000000000000000000"}
	if _, err := o.Put(ctx, r, bytes.NewReader([]byte("hi"))); !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("Put with a wrong MD5: err = %v, want permanent", err)
	}
	r.ContentMD5 = ""
	if _, err := o.Put(ctx, r, bytes.NewReader([]byte("hi!"))); !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("Put with a body longer than Size: err = %v, want permanent", err)
	}
	if _, err := o.Put(ctx, ports.Replica{Bucket: "dst", Key: "k"}, nil); !errors.Is(err, domain.ErrPermanent) {
		t.Fatalf("Put without a source version: err = %v, want permanent", err)
	}
	if got, _ := o.Replicas(ctx, "dst", "k"); len(got) != 0 {
		t.Fatalf("refused Puts left %d versions", len(got))
	}
	if _, err := o.Replicas(ctx, "nobucket", "k"); !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Replicas of a missing bucket: err = %v, want ErrNotFound", err)
	}
}
