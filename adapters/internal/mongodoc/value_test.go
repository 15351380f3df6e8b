package mongodoc

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
)

func rawValue(t testing.TB, d any) bson.RawValue {
	t.Helper()
	data, err := bson.Marshal(bson.D{{Key: "v", Value: d}})
	require.NoError(t, err)
	return bson.Raw(data).Lookup("v")
}

// asMap indexes a document's fields by name (bson.D.Map is deprecated).
func asMap(d bson.D) map[string]any {
	m := make(map[string]any, len(d))
	for _, e := range d {
		m[e.Key] = e.Value
	}
	return m
}

func TestValueBSONEscapesAndKeepsNumbers(t *testing.T) {
	in := `{"key":"a.b","content-length":5,"big":3000000000,"ratio":1.5,` +
		`"tags":{"k.1":"v","$x":"y"},"x-amz-meta-a.b":"m","list":[1,{"c.d":true}],"n":null}`
	d, err := ValueBSON([]byte(in))
	require.NoError(t, err)
	m := asMap(d)
	assert.Equal(t, int32(5), m["content-length"], "content-length must be stored as a number")
	assert.Equal(t, int64(3000000000), m["big"])
	assert.Equal(t, 1.5, m["ratio"])
	assert.Equal(t, "a.b", m["key"], "values are never escaped")
	tags := asMap(m["tags"].(bson.D))
	assert.Contains(t, tags, "k\uFF0E1")
	assert.Contains(t, tags, "\uFF04x")
	assert.Contains(t, m, "x-amz-meta-a\uFF0Eb")
	assert.Contains(t, asMap(m["list"].(bson.A)[1].(bson.D)), "c\uFF0Ed")

	out, err := ValueJSON(rawValue(t, d))
	require.NoError(t, err)
	assert.JSONEq(t, in, string(out))
	// Field order survives the round trip.
	assert.True(t, strings.HasPrefix(string(out), `{"key":"a.b","content-length":5,`), string(out))
}

func TestValueJSONIntegralDoubles(t *testing.T) {
	// The Node.js driver stores numbers over 2^31 as doubles.
	out, err := ValueJSON(rawValue(t, bson.D{{Key: "content-length", Value: 5e9}, {Key: "f", Value: 2.25}, {Key: "huge", Value: 1e300}, {Key: "negzero", Value: math.Copysign(0, -1)}}))
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(out, &m))
	assert.Equal(t, "5000000000", string(m["content-length"]))
	assert.Equal(t, "2.25", string(m["f"]))
	assert.NotEqual(t, "", string(m["huge"]))
}

func TestValueJSONRejectsNonDocuments(t *testing.T) {
	_, err := ValueJSON(rawValue(t, "a string"))
	assert.Error(t, err)
	_, err = ValueBSON([]byte(`[1]`))
	assert.Error(t, err)
	_, err = ValueBSON([]byte(`{"a":1} {}`))
	assert.Error(t, err)
	_, err = ValueBSON([]byte(`{"a":`))
	assert.Error(t, err)
}

// FuzzValueBSON checks that any JSON object converts to BSON and back to
// the same JSON value, and that other input is refused without a panic.
func FuzzValueBSON(f *testing.F) {
	f.Add(`{"key":"k","content-length":12,"tags":{"a.b":"c"}}`)
	f.Add(`{"a":[1,2.5,{"$b":null}],"c":true}`)
	f.Add(`{"x":-9223372036854775808,"y":1e400}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ValueBSON([]byte(in))
		if err != nil {
			return
		}
		data, err := bson.Marshal(bson.D{{Key: "v", Value: d}})
		if err != nil {
			t.Fatalf("marshal %q: %v", in, err)
		}
		v := bson.Raw(data).Lookup("v")
		if v.Type != bson.TypeEmbeddedDocument {
			t.Fatalf("not a document")
		}
		out, err := ValueJSON(v)
		if err != nil {
			t.Fatalf("ValueJSON of %q: %v", in, err)
		}
		var want, got any
		if json.Unmarshal([]byte(in), &want) != nil {
			return // ValueBSON accepted a number json refuses (1e400): fine
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output %q is not JSON: %v", out, err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("round trip of %q gave %q", in, out)
		}
	})
}

func TestRedactURI(t *testing.T) {
	assert.Equal(t, "mongodb://u:***@h/db", RedactURI("mongodb://u:p@h/db"))
	assert.Equal(t, "mongodb://u@h/db", RedactURI("mongodb://u@h/db"))
	assert.Equal(t, "mongodb://h/db", RedactURI("mongodb://h/db"))
	assert.Equal(t, "nonsense", RedactURI("nonsense"))
}
