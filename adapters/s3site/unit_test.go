package s3site

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/openbackbeat/backbeat/domain"
)

func TestConfigValidateListsEveryProblem(t *testing.T) {
	t.Parallel()
	err := Config{
		Endpoint: "ftp://host", AccessKey: "only-the-key", AddressingStyle: "sideways",
		MultipartThreshold: 6 * GiB, PartSize: MiB, MaxPartsInFlight: -1, MaxConns: -2,
		ResponseTimeout: -time.Second, PartAttempts: -1,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad configuration")
	}
	for _, field := range []string{"endpoint", "accessKey/secretKey", "addressingStyle", "multipartThreshold", "partSize", "maxPartsInFlight", "maxConns", "responseTimeout", "partAttempts"} {
		if !strings.Contains(err.Error(), field+":") {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}

func TestConfigDefaultsAreValid(t *testing.T) {
	t.Parallel()
	for _, c := range []Config{{}, {Endpoint: "http://127.0.0.1:17001", AccessKey: "a", SecretKey: "s"}} {
		if err := c.Validate(); err != nil {
			t.Errorf("Validate(%v) = %v", c, err)
		}
	}
	d := Config{}.WithDefaults()
	if d.Region != "us-east-1" || d.MultipartThreshold != 32*MiB || d.PartSize != 16*MiB || d.MaxPartsInFlight != 4 {
		t.Errorf("defaults = %+v", d)
	}
}

func TestConfigAddressingStyle(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		endpoint, style string
		path            bool
	}{
		{"http://127.0.0.1:17001", "", true},
		{"", "", false},
		{"http://127.0.0.1:17001", "virtual", false},
		{"", "path", true},
	} {
		c := Config{Endpoint: tc.endpoint, AddressingStyle: tc.style}.WithDefaults()
		if got := c.pathStyle(); got != tc.path {
			t.Errorf("endpoint %q style %q: path style %v, want %v", tc.endpoint, tc.style, got, tc.path)
		}
	}
}

func TestConfigMasksSecret(t *testing.T) {
	t.Parallel()
	c := Config{Endpoint: "http://x", AccessKey: "AKIA", SecretKey: "very-secret"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("s3", "config", c)
	for name, s := range map[string]string{"String": c.String(), "%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "slog": logged.String()} {
		if strings.Contains(s, "very-secret") {
			t.Errorf("%s shows the secret: %s", name, s)
		}
		if !strings.Contains(s, "AKIA") || !strings.Contains(s, "****") {
			t.Errorf("%s should show the access key and a masked secret: %s", name, s)
		}
	}
}

func TestPartPlan(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	for _, tc := range []struct {
		size     int64
		partSize int64
		inFlight int
	}{
		{100 * MiB, 16 * MiB, 4},
		{10000 * 16 * MiB, 16 * MiB, 4},     // exactly 10,000 parts
		{10000*16*MiB + 1, 17 * MiB, 3},     // grows to a whole MiB, fewer in flight
		{maxObjectSize, 525 * MiB, 1},       // 5 TiB: never fewer than one
		{1 << 40 /* 1 TiB */, 105 * MiB, 1}, // 64 MiB budget < one part
	} {
		ps, n := c.partPlan(tc.size)
		if ps != tc.partSize || n != tc.inFlight {
			t.Errorf("partPlan(%d) = %d, %d; want %d, %d", tc.size, ps, n, tc.partSize, tc.inFlight)
		}
		if parts := (tc.size + ps - 1) / ps; parts > maxParts {
			t.Errorf("partPlan(%d) needs %d parts", tc.size, parts)
		}
	}
}

// responseErr builds an error as the SDK returns it for an HTTP response.
func responseErr(status int, code string) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: "test"}
	if code == "" {
		inner = errors.New("no body")
	}
	err := &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: inner}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: err}
}

func TestTranslateClassifiesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want domain.ErrorClass
	}{
		{"no such key", responseErr(404, "NoSuchKey"), domain.Permanent},
		{"no such version", responseErr(404, "NoSuchVersion"), domain.Permanent},
		{"no such bucket", responseErr(404, "NoSuchBucket"), domain.Permanent},
		{"access denied", responseErr(403, "AccessDenied"), domain.Permanent},
		{"bad key id", responseErr(403, "InvalidAccessKeyId"), domain.Permanent},
		{"bad signature", responseErr(403, "SignatureDoesNotMatch"), domain.Permanent},
		{"head 403", responseErr(403, "Forbidden"), domain.Permanent},
		{"delete marker version", responseErr(405, "MethodNotAllowed"), domain.Permanent},
		{"unknown client error", responseErr(400, "SomethingNew"), domain.Permanent},
		{"internal", responseErr(500, "InternalError"), domain.Transient},
		{"unavailable", responseErr(503, "ServiceUnavailable"), domain.Transient},
		{"slow down", responseErr(503, "SlowDown"), domain.Transient},
		{"throttled 429", responseErr(429, ""), domain.Transient},
		{"request timeout 400", responseErr(400, "RequestTimeout"), domain.Transient},
		{"clock skew", responseErr(403, "RequestTimeTooSkewed"), domain.Transient},
		{"bad digest", responseErr(400, "BadDigest"), domain.Transient},
		{"lost upload", responseErr(404, "NoSuchUpload"), domain.Transient},
		{"conflict", responseErr(409, "OperationAborted"), domain.Transient},
		{"unknown server error", responseErr(502, ""), domain.Transient},
		{"network", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: io.ErrUnexpectedEOF}, domain.Transient},
		{"invalid params", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: smithy.InvalidParamsError{Context: "PutObjectInput"}}, domain.Permanent},
		{"already permanent", fmt.Errorf("x: %w", domain.ErrPermanent), domain.Permanent},
	} {
		got := translate(tc.err)
		if class := domain.Classify(got); class != tc.want {
			t.Errorf("%s: class %s, want %s (%v)", tc.name, class, tc.want, got)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("%s: the translated error no longer wraps the original", tc.name)
		}
	}
	if translate(nil) != nil {
		t.Error("translate(nil) != nil")
	}
	if got := translate(responseErr(404, "NoSuchKey")).Error(); !strings.Contains(got, "NoSuchKey") || !strings.Contains(got, "404") {
		t.Errorf("message does not name the S3 code and status: %s", got)
	}
}

func TestEncodeTags(t *testing.T) {
	t.Parallel()
	got := encodeTags(map[string]string{"b": "x y", "a": "1+1=2", "c/d": ""})
	if want := "a=1%2B1%3D2&b=x%20y&c%2Fd="; got != want {
		t.Errorf("encodeTags = %q, want %q", got, want)
	}
}

func TestExactReader(t *testing.T) {
	t.Parallel()
	read := func(data string, size int64) ([]byte, error) {
		return io.ReadAll(newExactReader(strings.NewReader(data), size))
	}
	if b, err := read("hello", 5); err != nil || string(b) != "hello" {
		t.Errorf("exact: %q, %v", b, err)
	}
	if _, err := read("hell", 5); !errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, domain.ErrPermanent) {
		t.Errorf("short body: %v, want a transient io.ErrUnexpectedEOF", err)
	}
	if _, err := read("hello!", 5); !errors.Is(err, domain.ErrPermanent) {
		t.Errorf("long body: %v, want permanent", err)
	}
	if b, err := read("", 0); err != nil || len(b) != 0 {
		t.Errorf("empty: %q, %v", b, err)
	}
}

func TestMD5Forms(t *testing.T) {
	t.Parallel()
	const hexSum = "5d41402abc4b2a76b9719d911017c592" // md5("hello")
	if got := md5Base64(hexSum); got != "XUFAKrxLKna5cZ2REBfFkg==" {
		t.Errorf("md5Base64 = %q", got)
	}
	for _, notMD5 := range []string{"", "abc", hexSum + "-3", strings.Repeat("z", 32)} {
		if md5Base64(notMD5) != "" {
			t.Errorf("md5Base64(%q) should be empty", notMD5)
		}
	}
	if etagMD5(`"`+strings.ToUpper(hexSum)+`"`) != hexSum || etagMD5(`"`+hexSum+`-2"`) != "" {
		t.Error("etagMD5 misreads ETags")
	}
}

func TestSortNewestFirst(t *testing.T) {
	t.Parallel()
	sec := time.Date(2026, 1, 1, 0, 0, 10, 0, time.UTC)
	vs := []keyVersion{
		// versitygw: versions to the second, markers to the nanosecond,
		// ids are ULIDs that grow with time.
		{id: "01M88XZMBM1PC564CMN4BYVNCR", modified: sec},
		{id: "01M88XZMBSG41DYJQ2N1NB9S4E", modified: sec, latest: true},
		{id: "01M88XZMBQCCYEPACE1X5E7VWW", modified: sec.Add(500 * time.Millisecond), deleteMarker: true},
		{id: "01M88XZKAAAAAAAAAAAAAAAAAA", modified: sec.Add(-2 * time.Second)},
	}
	sortNewestFirst(vs)
	var got []string
	for _, v := range vs {
		got = append(got, v.id[len(v.id)-4:])
	}
	if want := "9S4E 7VWW VNCR AAAA"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}
