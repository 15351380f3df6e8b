package s3front

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           route
		bucket, key    string
	}{
		{"PUT", "/b?replication", routePutReplication, "b", ""},
		{"GET", "/b?replication", routeGetReplication, "b", ""},
		{"DELETE", "/b?replication", routeDeleteReplication, "b", ""},
		{"PUT", "/b", routeCreateBucket, "b", ""},
		{"PUT", "/b?versioning", routePutVersioning, "b", ""},
		{"GET", "/b?versioning", routeForward, "b", ""},
		{"GET", "/b?list-type=2", routeForward, "b", ""},
		{"GET", "/", routeForward, "", ""},
		{"PUT", "/b/k", routeWriteObject, "b", "k"},
		{"PUT", "/b/dir/k%20x?x-id=PutObject", routeWriteObject, "b", "dir/k x"},
		{"PUT", "/b/k?partNumber=1&uploadId=u", routeForward, "b", "k"},
		{"POST", "/b/k?uploads", routeForward, "b", "k"},
		{"POST", "/b/k?uploadId=u", routeCompleteMultipart, "b", "k"},
		{"DELETE", "/b/k?uploadId=u", routeForward, "b", "k"},
		{"PUT", "/b/k?tagging", routePutTagging, "b", "k"},
		{"PUT", "/b/k?tagging&versionId=v", routePutTagging, "b", "k"},
		{"DELETE", "/b/k?tagging", routeDeleteTagging, "b", "k"},
		{"GET", "/b/k?tagging", routeForward, "b", "k"},
		{"DELETE", "/b/k", routeDeleteObject, "b", "k"},
		{"DELETE", "/b/k?versionId=v", routeDeleteObject, "b", "k"},
		{"POST", "/b?delete", routeDeleteObjects, "b", ""},
		{"POST", "/b/k?delete", routeForward, "b", "k"},
		{"HEAD", "/b/k", routeReadObject, "b", "k"},
		{"GET", "/b/k?versionId=v&response-content-type=x", routeReadObject, "b", "k"},
		{"GET", "/b/k?acl", routeForward, "b", "k"},
		{"PUT", "/b/k?acl", routeForward, "b", "k"},
	} {
		r := httptest.NewRequest(c.method, c.target, nil)
		got, bucket, key := classify(r)
		if got != c.want || bucket != c.bucket || key != c.key {
			t.Errorf("%s %s = %s %q %q, want %s %q %q", c.method, c.target, got, bucket, key, c.want, c.bucket, c.key)
		}
	}
}

func TestErrorXMLShape(t *testing.T) {
	r := httptest.NewRequest("PUT", "/b?replication", nil)
	w := httptest.NewRecorder()
	writeError(w, r, errorf(http.StatusBadRequest, "MalformedXML", "bad <xml>"))
	if w.Code != 400 || w.Header().Get("Content-Type") != "application/xml" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var doc struct {
		XMLName       xml.Name `xml:"Error"`
		Code, Message string
		Resource      string
		RequestID     string `xml:"RequestId"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc.Code != "MalformedXML" || doc.Message != "bad <xml>" {
		t.Fatalf("body %s: %+v, %v", w.Body, doc, err)
	}
	h := httptest.NewRecorder()
	writeError(h, httptest.NewRequest("HEAD", "/b/k", nil), errorf(http.StatusForbidden, "SignatureDoesNotMatch", "x"))
	if h.Code != 403 || h.Body.Len() != 0 {
		t.Fatalf("HEAD error: %d with %d bytes", h.Code, h.Body.Len())
	}
}

func TestReplicationConfigErrors(t *testing.T) {
	const rule = `<Rule><ID>r</ID><Status>Enabled</Status><Prefix>p</Prefix><Destination><Bucket>%s</Bucket><StorageClass>%s</StorageClass></Destination></Rule>`
	doc := func(role, bucket, sc string) string {
		return `<ReplicationConfiguration><Role>` + role + `</Role>` +
			strings.Replace(strings.Replace(rule, "%s", bucket, 1), "%s", sc, 1) + `</ReplicationConfiguration>`
	}
	const role = "arn:aws:iam::123456789012:role/crr"
	for _, c := range []struct {
		name, body, code, field string
	}{
		{"not XML", "<Replication", "MalformedXML", ""},
		{"empty", "", "MalformedXML", ""},
		{"bad role", doc("admin", "arn:aws:s3:::dst", "site-a"), "InvalidArgument", "Role"},
		{"bad bucket", doc(role, "dst", "site-a"), "InvalidArgument", "Destination.Bucket"},
		{"unknown site", doc(role, "arn:aws:s3:::dst", "nowhere"), "InvalidArgument", "StorageClass"},
		{"no rules", `<ReplicationConfiguration><Role>` + role + `</Role></ReplicationConfiguration>`, "InvalidRequest", "Rules"},
	} {
		cfg, err := domain.ParseReplicationConfigXML([]byte(c.body))
		if err == nil {
			err = cfg.Validate([]string{"site-a", "site-b"})
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		e := configError(err)
		if e.Status != 400 || e.Code != c.code || !strings.Contains(e.Message, c.field) {
			t.Errorf("%s: %d %s %q, want 400 %s naming %q", c.name, e.Status, e.Code, e.Message, c.code, c.field)
		}
	}
	if cfg, err := domain.ParseReplicationConfigXML([]byte(doc(role, "arn:aws:s3:::dst", "site-a,site-b"))); err != nil || cfg.Validate([]string{"site-a", "site-b"}) != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
}

func TestParseAuthorization(t *testing.T) {
	a, ok := parseAuthorization("AWS4-HMAC-SHA256 Credential=AK/20261202/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")
	if !ok || a.accessKey != "AK" || a.region != "us-east-1" || a.service != "s3" || len(a.signedHeaders) != 2 || a.signature != "abc" {
		t.Fatalf("%+v %v", a, ok)
	}
	for _, h := range []string{"", "AWS AK:sig", "AWS4-HMAC-SHA256 Credential=AK/x, Signature=a", "AWS4-HMAC-SHA256 garbage"} {
		if _, ok := parseAuthorization(h); ok {
			t.Errorf("%q accepted", h)
		}
	}
}

func TestAnonymousAndOversizedRefused(t *testing.T) {
	f := &Front{cfg: DefaultConfig(), auth: newAuthenticator("backbeat", "secret")}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest("GET", "/b?replication", nil))
	if w.Code != 403 || !strings.Contains(w.Body.String(), "AccessDenied") {
		t.Fatalf("anonymous: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	r := httptest.NewRequest("PUT", "/b?replication", strings.NewReader(strings.Repeat("x", 2<<20)))
	f.ServeHTTP(w, r)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "MaxMessageLengthExceeded") {
		t.Fatalf("oversized: %d %s", w.Code, w.Body)
	}
}
