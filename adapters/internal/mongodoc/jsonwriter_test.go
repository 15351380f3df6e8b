package mongodoc

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// objectMD is an ObjectMD as CloudServer writes it for a replicated
// version: user metadata and tags with escaped names, a two-site
// replicationInfo, a location array and a retention date.
const objectMD = `{"owner-display-name":"Bart","owner-id":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be",` +
	`"cache-control":"","content-disposition":"","content-encoding":"","expires":"","content-length":5368709120,` +
	`"content-type":"application/octet-stream","content-md5":"d41d8cd98f00b204e9800998ecf8427e","x-amz-version-id":"null",` +
	`"x-amz-server-version-id":"","x-amz-storage-class":"STANDARD","x-amz-server-side-encryption":"",` +
	`"x-amz-server-side-encryption-aws-kms-key-id":"","x-amz-server-side-encryption-customer-algorithm":"",` +
	`"x-amz-website-redirect-location":"","acl":{"Canned":"private","FULL_CONTROL":[],"WRITE_ACP":[],"READ":[],"READ_ACP":[]},` +
	`"key":"photos/2026/été \"quoted\"\\back\tslash\u2028.jpg","location":[{"key":"4e6f1c","size":5368709120,"start":0,"dataStoreName":"us-east-1",` +
	`"dataStoreType":"scality","dataStoreETag":"1:d41d8cd98f00b204e9800998ecf8427e"}],"isNull":false,"nullVersionId":"",` +
	`"isDeleteMarker":false,"versionId":"98500000000000999999RG001  1.2.3","uploadId":"","tags":{"project.name":"x$y","a.b.c":"","ünï":"cödé"},` +
	`"replicationInfo":{"status":"PENDING","backends":[{"site":"site-a","status":"PENDING","dataStoreVersionId":""},` +
	`{"site":"site-b","status":"COMPLETED","dataStoreVersionId":"abc"}],"content":["DATA","METADATA"],` +
	`"destination":"arn:aws:s3:::dst","storageClass":"site-a,site-b","role":"arn:aws:iam::root:role/r","storageType":"aws_s3",` +
	`"dataStoreVersionId":"","isNFS":null},"dataStoreName":"us-east-1","originOp":"s3:ObjectCreated:Put",` +
	`"last-modified":"2026-12-03T16:00:00.123Z","md-model-version":7,"x-amz-meta-my.key":"v","x-amz-meta-$dollar":"w",` +
	`"retentionMode":"GOVERNANCE","retentionDate":"2027-01-01T00:00:00.000Z","legalHold":false,"microVersionId":"a1b2c3",` +
	`"nested":[[1,[2,[]],{}],[-1,2147483648,-2147483649,9007199254740993]],"ratio":0.1,"neg":-2.5,"tiny":1e-7,"big":1.5e300}`

// extraValues are stored values the JSON above cannot produce: doubles of
// every kind, dates inside and outside the years JSON dates cover, control
// characters and invalid UTF-8, and field names as CloudServer escapes them.
func extraValues() bson.D {
	return bson.D{
		{Key: "content-length", Value: 5e9},
		{Key: "negzero", Value: math.Copysign(0, -1)},
		{Key: "zero", Value: 0.0},
		{Key: "exact", Value: float64(1 << 53)},
		{Key: "below", Value: float64(1<<53 - 1)},
		{Key: "minus", Value: -float64(1<<53 - 1)},
		{Key: "huge", Value: 1e300},
		{Key: "half", Value: 0.5},
		{Key: "inf", Value: math.Inf(1)},
		{Key: "-inf", Value: math.Inf(-1)},
		{Key: "nan", Value: math.NaN()},
		{Key: "small", Value: 5e-324},
		{Key: "i32", Value: int32(math.MinInt32)},
		{Key: "i64", Value: int64(math.MaxInt64)},
		{Key: "date", Value: primitive.NewDateTimeFromTime(time.Date(2026, 12, 3, 16, 0, 0, 120e6, time.UTC))},
		{Key: "date0", Value: primitive.NewDateTimeFromTime(time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC))},
		{Key: "old", Value: primitive.DateTime(-1)},
		{Key: "far", Value: primitive.DateTime(math.MaxInt64)},
		{Key: "null", Value: nil},
		{Key: "t", Value: true},
		{Key: "f", Value: false},
		{Key: "ctl", Value: "a\x00b\x01\x1f\x7f\b\f\n\r\t<&>"},
		{Key: "bad\xffutf8", Value: "x\xc3y\xe2\x80\xa9z"},
		{Key: EscapeField("user.meta$name"), Value: bson.D{{Key: EscapeField("a.b"), Value: bson.A{EscapeField("values.stay$")}}}},
		{Key: "\uFF0E\uFF04\uFF01", Value: ""},
		{Key: "", Value: bson.D{}},
		{Key: "arr", Value: bson.A{}},
	}
}

// jsonCorpus returns the stored form of every document of the corpus.
func jsonCorpus(t testing.TB) []bson.RawValue {
	t.Helper()
	md, err := ValueBSON([]byte(objectMD))
	require.NoError(t, err)
	var docs []bson.RawValue
	for _, d := range []bson.D{md, extraValues(), append(md, extraValues()...), {}} {
		docs = append(docs, rawValue(t, d))
	}
	for _, e := range extraValues() {
		docs = append(docs, rawValue(t, bson.D{e}))
	}
	return docs
}

func TestDirectJSONMatchesTheDriver(t *testing.T) {
	for _, v := range jsonCorpus(t) {
		want, err := extJSON(v)
		require.NoError(t, err)
		got, ok := directJSON(v.Value)
		require.True(t, ok, "direct path refused %s", want)
		assert.Equal(t, string(want), string(got))
		got, err = ValueJSON(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
}

// Types CloudServer never stores, and malformed documents, are the
// driver's to render or refuse.
func TestValueJSONFallsBackToTheDriver(t *testing.T) {
	for _, x := range []any{
		primitive.Binary{Data: []byte("bin")},
		primitive.NewObjectID(),
		primitive.Regex{Pattern: "^a", Options: "i"},
		primitive.Timestamp{T: 1, I: 2},
		primitive.Decimal128{},
		primitive.MinKey{},
		primitive.Undefined{},
		primitive.JavaScript("x"),
		primitive.Symbol("s"),
	} {
		v := rawValue(t, bson.D{{Key: "a", Value: bson.A{bson.D{{Key: "x", Value: x}}}}})
		_, ok := directJSON(v.Value)
		assert.False(t, ok, "%T", x)
		want, err := extJSON(v)
		require.NoError(t, err)
		got, err := ValueJSON(v)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got))
	}
	good := rawValue(t, bson.D{{Key: "s", Value: "abc"}}).Value
	for name, doc := range map[string][]byte{
		"short":        good[:4],
		"length":       append(append([]byte{}, good...), 0),
		"no end":       append(append([]byte{}, good[:len(good)-1]...), 1),
		"string len":   patch(good, 7, 100),
		"bad bool":     {9, 0, 0, 0, 8, 'b', 0, 2, 0},
		"no key end":   {7, 0, 0, 0, 10, 'b', 0},
		"short double": {9, 0, 0, 0, 1, 'b', 0, 1, 0},
	} {
		_, ok := directJSON(doc)
		assert.False(t, ok, name)
	}
}

// patch returns doc with the int32 at off set to n.
func patch(doc []byte, off int, n uint32) []byte {
	doc = append([]byte{}, doc...)
	binary.LittleEndian.PutUint32(doc[off:], n)
	return doc
}

// FuzzValueJSON checks the direct writer against the driver's path on
// documents built from the input: what one renders, the other renders to
// the byte.
func FuzzValueJSON(f *testing.F) {
	f.Add(objectMD, 1.5, int64(5e9), "k.1")
	f.Add(`{"a":[1,{"b\uFF0Ec":null}],"t":true}`, math.Copysign(0, -1), int64(-1), "\xff")
	f.Add(`{}`, 1e300, int64(math.MaxInt64), "\u2028")
	f.Add(`{"\uFF01\uFF04":1}`, 0.1, int64(0), "\xef\xbc\xef\xbc\x84\xef\xbc")
	f.Fuzz(func(t *testing.T, js string, f float64, n int64, s string) {
		d, err := ValueBSON([]byte(js))
		if err != nil {
			d = bson.D{{Key: "js", Value: js}}
		}
		d = append(d,
			bson.E{Key: s, Value: f},
			bson.E{Key: "n", Value: n},
			bson.E{Key: EscapeField(s), Value: bson.A{s, float64(n), primitive.DateTime(n), int32(n)}},
		)
		data, err := bson.Marshal(bson.D{{Key: "v", Value: d}})
		if err != nil {
			return // a name holds NUL: BSON cannot store it
		}
		v := bson.Raw(data).Lookup("v")
		want, err := extJSON(v)
		if err != nil {
			t.Fatalf("driver refused %q: %v", js, err)
		}
		got, ok := directJSON(v.Value)
		if !ok {
			t.Fatalf("direct path refused %s", want)
		}
		if string(got) != string(want) {
			t.Fatalf("direct path wrote\n%s\nthe driver\n%s", got, want)
		}
	})
}

func BenchmarkValueJSON(b *testing.B) {
	md, err := ValueBSON([]byte(objectMD))
	require.NoError(b, err)
	v := rawValue(b, md)
	b.Run("driver", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := extJSON(v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ValueJSON(v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestUnescapeKeyMatchesUnescapeField(t *testing.T) {
	for _, k := range []string{"", "plain", "a\uFF0Eb\uFF04c", "\uFF0E", "\uFF04\uFF04", "\uFF01\uFF0E", "x\xef\xbc", "\xef\xbc\xef\xbc\x84", "\xef\xbc\x8e\xef", "été\uFF0E"} {
		assert.Equal(t, UnescapeField(k), string(unescapeKey(nil, []byte(k))), "%q", k)
	}
}
