package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
)

func TestHeadersAndLockRoundTripInObjectMD(t *testing.T) {
	o := sampleObject()
	o.Headers = domain.Headers{CacheControl: "max-age=1", ContentDisposition: "inline", ContentEncoding: "gzip",
		ContentLanguage: "fr", Expires: "Thu, 01 Jan 2037 00:00:00 GMT", WebsiteRedirectLocation: "/a"}
	o.Lock = domain.Lock{Mode: domain.LockGovernance, RetainUntil: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC), LegalHold: true}
	md, err := domain.MarshalObjectMD(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"cache-control":"max-age=1"`, `"x-amz-website-redirect-location":"/a"`, `"retentionMode":"GOVERNANCE"`, `"retentionDate":"2030-01-02T03:04:05Z"`, `"legalHold":true`} {
		if !strings.Contains(string(md), field) {
			t.Errorf("ObjectMD lacks %s: %s", field, md)
		}
	}
	back, err := domain.ParseObjectMD(o.Bucket, md)
	if err != nil {
		t.Fatal(err)
	}
	if back.Headers != o.Headers || back.Lock != o.Lock {
		t.Errorf("round trip: headers %+v lock %+v, want %+v %+v", back.Headers, back.Lock, o.Headers, o.Lock)
	}
	if exp, ok := back.Headers.ExpiresTime(); !ok || !exp.Equal(time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("ExpiresTime() = %v, %v", exp, ok)
	}
	if !back.Lock.IsSet() || (domain.Lock{}).IsSet() {
		t.Error("IsSet is wrong")
	}
}

func TestObjectMDLockFieldsAreValidated(t *testing.T) {
	for name, md := range map[string]string{
		"unknown mode":      `{"key":"k","retentionMode":"FOREVER","retentionDate":"2030-01-01T00:00:00Z","replicationInfo":{}}`,
		"mode without date": `{"key":"k","retentionMode":"GOVERNANCE","replicationInfo":{}}`,
		"date without mode": `{"key":"k","retentionDate":"2030-01-01T00:00:00Z","replicationInfo":{}}`,
		"bad date":          `{"key":"k","retentionMode":"GOVERNANCE","retentionDate":"tomorrow","replicationInfo":{}}`,
	} {
		if _, err := domain.ParseObjectMD("b", []byte(md)); err == nil || !strings.Contains(err.Error(), "retention") {
			t.Errorf("%s: err = %v, want one naming the retention field", name, err)
		}
	}
	if _, ok := (domain.Headers{Expires: "not a date"}).ExpiresTime(); ok {
		t.Error("a malformed Expires parsed")
	}
}
