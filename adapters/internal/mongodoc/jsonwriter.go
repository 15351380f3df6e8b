package mongodoc

import (
	"bytes"
	"encoding/binary"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
)

// The journal turns every change event's value into JSON, so this path
// writes it straight from the BSON bytes, without the bson.D and the
// driver's value writer in between (ten times the CPU). It renders what
// CloudServer stores (documents, arrays, strings, numbers, booleans, null,
// dates) exactly as extJSON does, and reports false for anything else, so
// that the driver renders the rare rest.

// scratch holds the buffers JSON is written into before it is copied out at
// its final size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxScratch is the largest buffer put back in the pool.
const maxScratch = 1 << 20

// directJSON renders a BSON document as extJSON does, or reports false.
func directJSON(doc []byte) ([]byte, bool) {
	bp := scratch.Get().(*[]byte)
	buf, ok := appendDocument((*bp)[:0], doc, false)
	var out []byte
	if ok {
		out = bytes.Clone(buf)
	}
	if cap(buf) <= maxScratch {
		*bp = buf
		scratch.Put(bp)
	}
	return out, ok
}

// appendDocument appends a BSON document (an array when array is true) as
// a JSON object (array).
func appendDocument(dst, doc []byte, array bool) ([]byte, bool) {
	if len(doc) < 5 || int(int32(binary.LittleEndian.Uint32(doc))) != len(doc) || doc[len(doc)-1] != 0 {
		return dst, false
	}
	open, end := byte('{'), byte('}')
	if array {
		open, end = '[', ']'
	}
	dst = append(dst, open)
	body := doc[4 : len(doc)-1]
	for first := true; len(body) > 0; first = false {
		t := bsontype.Type(body[0])
		n := bytes.IndexByte(body[1:], 0)
		if n < 0 {
			return dst, false
		}
		key := body[1 : 1+n]
		body = body[2+n:]
		if !first {
			dst = append(dst, ',')
		}
		if !array {
			dst = appendKey(dst, key)
			dst = append(dst, ':')
		}
		var ok bool
		dst, body, ok = appendValue(dst, t, body)
		if !ok {
			return dst, false
		}
	}
	return append(dst, end), true
}

// fullWidth is the UTF-8 prefix of U+FF04 and U+FF0E, the escaped forms of
// "$" and "." (EscapeField).
const fullWidth = "\xef\xbc"

// appendKey writes a field name unescaped, as UnescapeField does.
func appendKey(dst, key []byte) []byte {
	if !bytes.Contains(key, []byte(fullWidth)) {
		return appendString(dst, key)
	}
	var tmp [128]byte
	return appendString(dst, unescapeKey(tmp[:0], key))
}

// unescapeKey appends key with U+FF04 and U+FF0E replaced by "$" and ".".
func unescapeKey(dst, key []byte) []byte {
	for {
		i := bytes.Index(key, []byte(fullWidth))
		if i < 0 || i+2 == len(key) {
			return append(dst, key...)
		}
		switch key[i+2] {
		case 0x84: // U+FF04
			dst = append(append(dst, key[:i]...), '$')
		case 0x8E: // U+FF0E
			dst = append(append(dst, key[:i]...), '.')
		default: // another full-width character: its third byte may start a match
			dst = append(dst, key[:i+2]...)
			key = key[i+2:]
			continue
		}
		key = key[i+3:]
	}
}

// appendValue appends the value of type t at the start of src as JSON and
// returns what follows it.
func appendValue(dst []byte, t bsontype.Type, src []byte) ([]byte, []byte, bool) {
	switch t {
	case bson.TypeDouble:
		if len(src) < 8 {
			return dst, src, false
		}
		return appendDouble(dst, math.Float64frombits(binary.LittleEndian.Uint64(src))), src[8:], true
	case bson.TypeString:
		if len(src) < 4 {
			return dst, src, false
		}
		n := int(int32(binary.LittleEndian.Uint32(src)))
		if n < 1 || n > len(src)-4 || src[4+n-1] != 0 {
			return dst, src, false
		}
		return appendString(dst, src[4:4+n-1]), src[4+n:], true
	case bson.TypeEmbeddedDocument, bson.TypeArray:
		if len(src) < 4 {
			return dst, src, false
		}
		n := int(int32(binary.LittleEndian.Uint32(src)))
		if n < 5 || n > len(src) {
			return dst, src, false
		}
		dst, ok := appendDocument(dst, src[:n], t == bson.TypeArray)
		return dst, src[n:], ok
	case bson.TypeBoolean:
		if len(src) < 1 || src[0] > 1 {
			return dst, src, false
		}
		return strconv.AppendBool(dst, src[0] == 1), src[1:], true
	case bson.TypeNull:
		return append(dst, "null"...), src, true
	case bson.TypeInt32:
		if len(src) < 4 {
			return dst, src, false
		}
		return strconv.AppendInt(dst, int64(int32(binary.LittleEndian.Uint32(src))), 10), src[4:], true
	case bson.TypeInt64:
		if len(src) < 8 {
			return dst, src, false
		}
		return strconv.AppendInt(dst, int64(binary.LittleEndian.Uint64(src)), 10), src[8:], true
	case bson.TypeDateTime:
		if len(src) < 8 {
			return dst, src, false
		}
		return appendDateTime(dst, int64(binary.LittleEndian.Uint64(src))), src[8:], true
	}
	return dst, src, false
}

// appendDouble writes integral doubles as integers (ValueJSON says why) and
// the others as the driver's relaxed extended JSON does.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case f == math.Trunc(f) && math.Abs(f) < maxExactDouble && !(f == 0 && math.Signbit(f)):
		return strconv.AppendInt(dst, int64(f), 10)
	case math.IsInf(f, 1):
		return append(dst, `{"$numberDouble":"Infinity"}`...)
	case math.IsInf(f, -1):
		return append(dst, `{"$numberDouble":"-Infinity"}`...)
	case math.IsNaN(f):
		return append(dst, `{"$numberDouble":"NaN"}`...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'G', -1, 64)
	if !bytes.ContainsAny(dst[start:], "E.") {
		dst = append(dst, ".0"...)
	}
	return dst
}

// rfc3339Milli is the driver's layout of relaxed extended JSON dates.
const rfc3339Milli = "2006-01-02T15:04:05.999Z07:00"

func appendDateTime(dst []byte, ms int64) []byte {
	t := time.Unix(ms/1e3, ms%1e3*1e6).UTC()
	if t.Year() < 1970 || t.Year() > 9999 {
		dst = append(dst, `{"$date":{"$numberLong":"`...)
		dst = strconv.AppendInt(dst, ms, 10)
		return append(dst, `"}}`...)
	}
	dst = append(dst, `{"$date":"`...)
	dst = t.AppendFormat(dst, rfc3339Milli)
	return append(dst, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string with the driver's escapes (no
// HTML escaping): quote, backslash and control characters, U+2028 and
// U+2029, and invalid UTF-8 as U+FFFD.
func appendString(dst, s []byte) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRune(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
