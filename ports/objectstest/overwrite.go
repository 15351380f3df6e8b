package objectstest

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
)

// testBadReplicaOnTop: a latest version that claims the source version
// but holds other bytes (written behind the service's back, as verify
// finds it) is not taken for the replica: Put writes the right bytes on
// top, once.
func testBadReplicaOnTop(t *testing.T, d ports.Destination, rr ports.ReplicaReader, bucket string) {
	key := unique("bad-on-top")
	good := randomData(1000)
	r := newReplica(bucket, key, good)
	first := put(t, d, r, good)

	bad := randomData(1000) // same size, other bytes, same markers
	forged := r
	forged.ContentMD5 = md5Hex(bad)
	forgedVID := put(t, d, forged, bad)
	if forgedVID == first {
		t.Fatalf("Put of other bytes for the same source version returned the replica %s", first)
	}

	again := put(t, d, r, good)
	if again == first || again == forgedVID {
		t.Fatalf("Put over a bad replica on top returned %s (first %s, forged %s), want a new version", again, first, forgedVID)
	}
	if once := put(t, d, r, good); once != again {
		t.Fatalf("Put once more returned %s, want %s", once, again)
	}
	got := replicas(t, rr, bucket, key)
	if len(got) != 3 {
		t.Fatalf("Replicas lists %d versions, want 3 (replica, forged, replica)", len(got))
	}
	checkReplica(t, got[2], r, again, good)
}
