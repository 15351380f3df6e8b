package domain

import (
	"reflect"
	"testing"
)

// parseSeeds are ObjectMD JSON documents, well formed or not, that take
// both paths of parseObjectMD.
var parseSeeds = []string{
	cloudServerMD,
	`{"key":"k","x-amz-meta-a":"b"}`,
	`{"key":"k","x-amz-meta-a":1}`,
	`{"key":"k","\u0078-amz-meta-a":"b"}`,
	`{"key":"k","X-Amz-Meta-a":"b"}`,
	`{"key":"k","key":"l","tags":{"a":"b"},"tags":{"c":"d"}}`,
	`{"tags":{"a":"b"},"content-length":"x"}`,
	`{"content-length":-1}`,
	`{"replicationInfo":{"status":"NOPE"}}`,
	`{"last-modified":"yesterday","x-amz-meta-a":2}`,
	` null `, `null`, `[]`, `"s"`, `1`, `{`, ``, `{} {}`, `{"a":1}x`,
}

// The single decode gives what decoding the top-level fields as well
// gives: the same version, or the same error.
func TestParseObjectMDOneDecode(t *testing.T) {
	for _, s := range parseSeeds {
		checkOneDecode(t, []byte(s))
	}
}

func FuzzParseObjectMDOneDecode(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkOneDecode)
}

func checkOneDecode(t *testing.T, data []byte) {
	got, gerr := parseObjectMD("b", data, false)
	want, werr := parseObjectMD("b", data, true)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("%q: error %v, reading all fields %v", data, gerr, werr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: version\n%+v\nreading all fields\n%+v", data, got, want)
	}
}
