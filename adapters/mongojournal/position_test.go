package mongojournal

import (
	"reflect"
	"testing"

	"github.com/openbackbeat/backbeat/ports"
)

// FuzzDecodePosition feeds saved positions (outside input: they come back
// from the checkpoint store) to the decoder: it must never panic, and what
// it accepts must encode back to the same position.
func FuzzDecodePosition(f *testing.F) {
	f.Add([]byte(`{"v":1,"mode":"collections","since":{"t":5,"i":0},"streams":{"b":{"token":"BQAAAAA="},"c":{"at":{"t":7,"i":2}}}}`))
	f.Add([]byte(`{"v":1,"mode":"collections","streams":{"b":{}}}`))
	f.Add([]byte(`{"v":1,"mode":"collections","db":{"token":"EgAAAAJfZGF0YQADAAAAODIAAA=="}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePosition(ports.Position(data), ModeCollections)
		if err != nil {
			return
		}
		again, err := decodePosition(p.encode(), ModeCollections)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", p.encode(), err)
		}
		if !reflect.DeepEqual(normalize(p), normalize(again)) {
			t.Fatalf("round trip changed the position:\n %+v\n %+v", p, again)
		}
	})
}

// normalize makes empty and nil alike: JSON does not keep the difference.
func normalize(p position) position {
	if len(p.Streams) == 0 {
		p.Streams = nil
	}
	for k, rp := range p.Streams {
		if len(rp.Token) == 0 {
			rp.Token = nil
		}
		p.Streams[k] = rp
	}
	if p.DB != nil && len(p.DB.Token) == 0 {
		db := *p.DB
		db.Token = nil
		p.DB = &db
	}
	return p
}
