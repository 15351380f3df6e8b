package s3site

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"hash/crc32"
)

// castagnoli is the CRC32C table; crc32 uses the CPU's instruction for it
// where there is one (SSE4.2, ARMv8).
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32C is data's CRC32C as x-amz-checksum-crc32c carries it: the
// big-endian 4 bytes in base64.
func crc32C(data []byte) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc32.Checksum(data, castagnoli))
	return base64.StdEncoding.EncodeToString(b[:])
}

// wholeMD5 hashes the parts of an upload in order on its own goroutine,
// off the upload's critical path. A nil *wholeMD5 hashes nothing.
type wholeMD5 struct {
	parts chan md5Part
	done  chan []byte
}

type md5Part struct {
	data    []byte
	release func() // called once the part is hashed
}

// newWholeMD5 starts the hashing goroutine; inFlight bounds the parts
// waiting for it (no more buffers exist, so add never blocks long).
func newWholeMD5(inFlight int) *wholeMD5 {
	w := &wholeMD5{parts: make(chan md5Part, inFlight), done: make(chan []byte, 1)}
	go func() {
		h := md5.New()
		w.done <- hashParts(h, w.parts)
	}()
	return w
}

func hashParts(h hash.Hash, parts <-chan md5Part) []byte {
	for p := range parts {
		h.Write(p.data)
		p.release()
	}
	return h.Sum(nil)
}

// add queues the next part; release is called once it is hashed.
func (w *wholeMD5) add(data []byte, release func()) {
	if w == nil {
		return
	}
	w.parts <- md5Part{data: data, release: release}
}

// sum waits for the parts added so far and returns their MD5.
func (w *wholeMD5) sum() []byte {
	if w == nil {
		return nil
	}
	close(w.parts)
	return <-w.done
}
