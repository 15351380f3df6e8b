package s3site

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// flakyS3 is just enough of an S3 server to see which requests the SDK
// retries: every first attempt at a part, and every PutObject, fails with
// a 500.
type flakyS3 struct {
	mu       sync.Mutex
	attempts map[string]int // "PUT part 2", "PUT object", ...
}

func (f *flakyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	q := r.URL.Query()
	f.mu.Lock()
	defer f.mu.Unlock()
	fail := func() {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `<Error><Code>InternalError</Code><Message>try again</Message></Error>`)
	}
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		_, _ = io.WriteString(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>up1</UploadId></InitiateMultipartUploadResult>`)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		name := "PUT part " + q.Get("partNumber")
		f.attempts[name]++
		if f.attempts[name] == 1 {
			fail()
			return
		}
		w.Header().Set("ETag", `"etag-`+q.Get("partNumber")+`"`)
	case r.Method == http.MethodPost && q.Has("uploadId"):
		w.Header().Set("x-amz-version-id", "v1")
		_, _ = io.WriteString(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"x-2"</ETag></CompleteMultipartUploadResult>`)
	case r.Method == http.MethodPut:
		f.attempts["PUT object"]++
		fail()
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		f.attempts["abort"]++
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func TestSDKRetriesOnlyParts(t *testing.T) {
	t.Parallel()
	fake := &flakyS3{attempts: map[string]int{}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	ctx := context.Background()
	c, err := New(ctx, Config{Endpoint: srv.URL, AccessKey: "a", SecretKey: "s", SkipExistingCheck: true,
		MultipartThreshold: 6 * MiB, PartSize: 5 * MiB})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	data := bytes.Repeat([]byte{1}, 8*MiB)
	vid, err := c.Destination().Put(ctx, ports.Replica{Bucket: "b", Key: "k", SourceVersionID: "s", Size: int64(len(data))}, bytes.NewReader(data))
	if err != nil || vid != "v1" {
		t.Fatalf("multipart Put with parts failing once: %q, %v", vid, err)
	}
	_, err = c.Destination().Put(ctx, ports.Replica{Bucket: "b", Key: "k", SourceVersionID: "s", Size: 3}, bytes.NewReader([]byte("abc")))
	if err == nil || errors.Is(err, domain.ErrPermanent) {
		t.Errorf("PutObject answered 500: %v, want a transient error", err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.attempts["PUT part 1"] != 2 || fake.attempts["PUT part 2"] != 2 {
		t.Errorf("part attempts %v, want 2 each (one retry by the SDK)", fake.attempts)
	}
	if fake.attempts["PUT object"] != 1 {
		t.Errorf("PutObject was sent %d times, want once (no SDK retry)", fake.attempts["PUT object"])
	}
	if fake.attempts["abort"] != 0 {
		t.Errorf("a successful upload was aborted")
	}
}

// Reads ask for no response checksum: with ChecksumMode ENABLED (the SDK's
// default) the server checksums the whole stream, which made versitygw's
// GetObject 2.5x slower, and the copy checks the source's MD5 anyway.
func TestReadsAskForNoChecksum(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var mode []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		mode = append(mode, r.Header.Get("x-amz-checksum-mode"))
		mu.Unlock()
		w.Header().Set("Content-Length", "4")
		_, _ = io.WriteString(w, "data")
	}))
	defer srv.Close()
	ctx := context.Background()
	c, err := New(ctx, Config{Endpoint: srv.URL, AccessKey: "a", SecretKey: "s"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rc, err := c.Source().Open(ctx, "b", "k", "v1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(data) != "data" {
		t.Fatalf("read %q, %v", data, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(mode) != 1 || mode[0] != "" {
		t.Fatalf("GetObject sent x-amz-checksum-mode %q; want none", mode)
	}
}
