package s3site

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/ports"
)

// recordingS3 answers a multipart upload and records what came with it.
type recordingS3 struct {
	mu       sync.Mutex
	algo     string            // x-amz-checksum-algorithm of the create
	crc      map[string]string // part number -> x-amz-checksum-crc32c
	md5      map[string]string // part number -> Content-MD5
	body     map[string][]byte
	complete string
}

func (f *recordingS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.algo = r.Header.Get("x-amz-checksum-algorithm")
		_, _ = io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		n := q.Get("partNumber")
		f.crc[n], f.md5[n], f.body[n] = r.Header.Get("x-amz-checksum-crc32c"), r.Header.Get("Content-MD5"), data
		w.Header().Set("ETag", `"etag-`+n+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		f.complete = string(data)
		w.Header().Set("x-amz-version-id", "v1")
		_, _ = io.WriteString(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"x-2"</ETag></CompleteMultipartUploadResult>`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

// Each part goes with its CRC32C (which the site checks) and no MD5 of its
// own; the whole object's MD5 is still checked against the source's.
func TestPartsCarryCRC32C(t *testing.T) {
	t.Parallel()
	fake := &recordingS3{crc: map[string]string{}, md5: map[string]string{}, body: map[string][]byte{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := context.Background()
	c, err := New(ctx, Config{Endpoint: srv.URL, AccessKey: "a", SecretKey: "s", SkipExistingCheck: true,
		MultipartThreshold: 6 * MiB, PartSize: 5 * MiB})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 8*MiB)
	for i := range data {
		data[i] = byte(i * 7)
	}
	r := ports.Replica{Bucket: "b", Key: "k", SourceVersionID: "s", Size: int64(len(data)), ContentMD5: md5Hex(data)}
	if vid, err := c.Destination().Put(ctx, r, bytes.NewReader(data)); err != nil || vid != "v1" {
		t.Fatalf("Put: %q, %v", vid, err)
	}
	if fake.algo != "CRC32C" {
		t.Errorf("create: x-amz-checksum-algorithm %q, want CRC32C", fake.algo)
	}
	if len(fake.body) != 2 {
		t.Fatalf("%d parts sent, want 2", len(fake.body))
	}
	for n, body := range fake.body {
		if want := crc32C(body); fake.crc[n] != want {
			t.Errorf("part %s: x-amz-checksum-crc32c %q, want %q", n, fake.crc[n], want)
		}
		if fake.md5[n] != "" {
			t.Errorf("part %s: still sent Content-MD5 %q", n, fake.md5[n])
		}
		if !strings.Contains(fake.complete, "<ChecksumCRC32C>"+fake.crc[n]+"</ChecksumCRC32C>") {
			t.Errorf("complete does not name part %s's checksum: %s", n, fake.complete)
		}
	}
	r.ContentMD5 = md5Hex([]byte("other"))
	if _, err := c.Destination().Put(ctx, r, bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "MD5") {
		t.Errorf("whole-object MD5 mismatch: %v, want an MD5 error", err)
	}
}

// The site (versitygw) refuses a part whose CRC32C does not match its
// bytes: the check the parts rely on.
func TestSiteChecksPartCRC32C(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTestClient(t, siteAAddr)
	bucket := testBucket(t, c)
	mpu, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, _ = c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("k"), UploadId: mpu.UploadId})
	}()
	part := func(sum string) error {
		data := []byte("part data")
		_, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String("k"), UploadId: mpu.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumCRC32C: aws.String(sum)}, streaming)
		return err
	}
	if err := part(crc32C([]byte("other data"))); err == nil {
		t.Error("a part with a wrong CRC32C was accepted")
	} else if errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if err := part(crc32C([]byte("part data"))); err != nil {
		t.Errorf("a part with its CRC32C was refused: %v", err)
	}
}
