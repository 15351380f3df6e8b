package mongodoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
)

// CloudServer stores field names containing `$` or `.` (tag keys, user
// metadata names) with those characters replaced by their full-width forms,
// because MongoDB refuses or misreads them in field names and update paths.
var (
	escaper   = strings.NewReplacer("$", "\uFF04", ".", "\uFF0E")
	unescaper = strings.NewReplacer("\uFF04", "$", "\uFF0E", ".")
)

// EscapeField returns name as CloudServer stores it.
func EscapeField(name string) string { return escaper.Replace(name) }

// UnescapeField returns the name a stored field name stands for.
func UnescapeField(name string) string { return unescaper.Replace(name) }

// maxExactDouble is the largest magnitude below which every integer is
// exactly representable as a float64 (2^53).
const maxExactDouble = 1 << 53

// ValueJSON renders a stored metadata sub-document (an ObjectMD or a
// BucketInfo) as the JSON CloudServer would have serialised: relaxed
// extended JSON with field names unescaped. Integral doubles become integers
// because the Node.js driver stores large JavaScript numbers (content-length
// of objects over 2 GiB) as doubles, and the domain reads them as integers.
//
// The JSON is written straight from the BSON (jsonwriter.go), as
// bson.MarshalExtJSON(…, false, false) renders it; a document holding a
// type CloudServer never stores (binary, ObjectId, regex, ...), or one that
// is malformed, takes the driver's path instead (extJSON).
func ValueJSON(v bson.RawValue) ([]byte, error) {
	if v.Type != bson.TypeEmbeddedDocument {
		return nil, fmt.Errorf("metadata value is BSON %s, not a document", v.Type)
	}
	if out, ok := directJSON(v.Value); ok {
		return out, nil
	}
	return extJSON(v)
}

// extJSON is ValueJSON through the driver: the document is rebuilt as a
// bson.D with its names unescaped and its integral doubles as int64, then
// marshalled as relaxed extended JSON.
func extJSON(v bson.RawValue) ([]byte, error) {
	d, err := unescapeDoc(v.Document())
	if err != nil {
		return nil, err
	}
	out, err := bson.MarshalExtJSON(d, false, false)
	if err != nil {
		return nil, fmt.Errorf("metadata value to JSON: %w", err)
	}
	return out, nil
}

func unescapeDoc(raw bson.Raw) (bson.D, error) {
	elems, err := raw.Elements()
	if err != nil {
		return nil, fmt.Errorf("malformed BSON document: %w", err)
	}
	d := make(bson.D, 0, len(elems))
	for _, e := range elems {
		v, err := unescapeValue(e.Value())
		if err != nil {
			return nil, err
		}
		d = append(d, bson.E{Key: UnescapeField(e.Key()), Value: v})
	}
	return d, nil
}

func unescapeValue(v bson.RawValue) (any, error) {
	switch v.Type {
	case bson.TypeEmbeddedDocument:
		return unescapeDoc(v.Document())
	case bson.TypeArray:
		vals, err := v.Array().Values()
		if err != nil {
			return nil, fmt.Errorf("malformed BSON array: %w", err)
		}
		a := make(bson.A, 0, len(vals))
		for _, x := range vals {
			y, err := unescapeValue(x)
			if err != nil {
				return nil, err
			}
			a = append(a, y)
		}
		return a, nil
	case bson.TypeDouble:
		f := v.Double()
		if f == math.Trunc(f) && math.Abs(f) < maxExactDouble && !(f == 0 && math.Signbit(f)) {
			return int64(f), nil
		}
		return f, nil
	}
	return v, nil
}

// ValueBSON converts ObjectMD (or any metadata) JSON to the document
// CloudServer stores: field order kept, names escaped, integers stored as
// numbers (int32 when they fit, as the Node.js driver does, else int64).
func ValueBSON(data []byte) (bson.D, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("metadata JSON: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, errors.New("metadata JSON is not an object")
	}
	d, err := jsonObject(dec)
	if err != nil {
		return nil, fmt.Errorf("metadata JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("metadata JSON: trailing data after the object")
	}
	return d, nil
}

func jsonObject(dec *json.Decoder) (bson.D, error) {
	d := bson.D{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string) // object keys are always strings
		v, err := jsonValue(dec)
		if err != nil {
			return nil, err
		}
		d = append(d, bson.E{Key: EscapeField(name), Value: v})
	}
	_, err := dec.Token() // the closing brace
	return d, err
}

func jsonValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return jsonObject(dec)
		case '[':
			a := bson.A{}
			for dec.More() {
				v, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			_, err := dec.Token()
			return a, err
		}
		return nil, fmt.Errorf("unexpected %q", t)
	case json.Number:
		return jsonNumber(t)
	}
	return tok, nil // string, bool or nil
}

func jsonNumber(n json.Number) (any, error) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			if i >= math.MinInt32 && i <= math.MaxInt32 {
				return int32(i), nil
			}
			return i, nil
		}
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("number %s: %w", s, err)
	}
	return f, nil
}
