package s3front

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openbackbeat/backbeat/app"
	"github.com/openbackbeat/backbeat/ports"
)

// Config is the front's own configuration (section s3front).
type Config struct {
	// Listen is the address to serve on; loopback by default.
	Listen string `yaml:"listen"`
	// MaxXMLBytes bounds the XML bodies the front reads itself
	// (replication, tagging, versioning).
	MaxXMLBytes int64 `yaml:"maxXMLBytes"`
}

// DefaultConfig serves on CloudServer's port, on loopback.
func DefaultConfig() Config { return Config{Listen: "127.0.0.1:8000", MaxXMLBytes: 1 << 20} }

// Validate reports every problem of c.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("s3front.listen: %w", err))
	}
	if c.MaxXMLBytes < 1024 {
		errs = append(errs, fmt.Errorf("s3front.maxXMLBytes: must be at least 1024, got %d", c.MaxXMLBytes))
	}
	return errors.Join(errs...)
}

// Source is the S3 server that holds the object data, and the credentials
// that clients of the front sign with (the same as the source's: the
// front forwards requests signed as sent).
type Source struct {
	Endpoint             string
	AccessKey, SecretKey string
	// Client reads what the source stored (HEAD, tags) to record it.
	Client *s3.Client
}

// Front is the S3 endpoint. Construct it with New.
type Front struct {
	cfg    Config
	sim    *app.Simulator
	meta   ports.MetadataStore
	src    *s3.Client
	sites  []string
	auth   *authenticator
	proxy  *httputil.ReverseProxy
	log    *slog.Logger
	retry  []time.Duration
	bucket sync.Mutex // serialises read-modify-write of bucket documents
}

// New builds a front forwarding to src and writing metadata through sim
// (sim.Versions reads buckets and versions). sites are the configured
// destination sites, the only StorageClass values accepted.
func New(cfg Config, src Source, sim *app.Simulator, sites []string, log *slog.Logger) (*Front, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sim == nil || sim.Metadata == nil || sim.Versions == nil {
		return nil, errors.New("s3front: a simulator with a metadata writer and store is required")
	}
	if src.Client == nil {
		return nil, errors.New("s3front: a source S3 client is required")
	}
	up, err := url.Parse(src.Endpoint)
	if err != nil || up.Host == "" {
		return nil, fmt.Errorf("s3front: source endpoint %q is not a URL", src.Endpoint)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Front{cfg: cfg, sim: sim, meta: sim.Versions, src: src.Client, sites: sites,
		auth: newAuthenticator(src.AccessKey, src.SecretKey), log: log,
		retry: []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 1600 * time.Millisecond}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.Out.Host = pr.In.Host // the client signed its Host: keep it, and the signature holds
		},
		ModifyResponse: f.afterForward,
		ErrorHandler:   f.forwardError,
		FlushInterval:  -1,
	}
	return f, nil
}

// Serve listens on cfg.Listen until ctx ends, then shuts down.
func (f *Front) Serve(ctx context.Context) error {
	ln, err := net.Listen("tcp", f.cfg.Listen)
	if err != nil {
		return fmt.Errorf("s3front: %w", err)
	}
	return f.ServeListener(ctx, ln)
}

// ServeListener serves on ln until ctx ends.
func (f *Front) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	f.log.Info("s3 front listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("s3front: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("s3front: shutdown: %w", err)
	}
	return nil
}

// after is what a forwarded request does with the source's answer.
type after func(resp *http.Response) error

type afterKey struct{}

// ServeHTTP checks the signature, then answers the request itself or
// forwards it, recording metadata when the source answers a write.
func (f *Front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := newRequestID()
	r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
	w.Header().Set("x-amz-request-id", id)
	rt, bucket, key := classify(r)
	var body []byte
	switch rt {
	case routePutReplication, routePutVersioning, routePutTagging, routeDeleteObjects:
		b, e := f.readXML(r)
		if e != nil {
			writeError(w, r, e)
			return
		}
		body = b
	}
	if e := f.auth.check(r.Context(), r, body); e != nil {
		writeError(w, r, e)
		return
	}
	if rt != routeForward {
		f.log.Debug("s3 front", "route", rt.String(), "bucket", bucket, "key", key)
	}
	var then after
	switch rt {
	case routePutReplication:
		f.putReplication(w, r, bucket, body)
		return
	case routeGetReplication:
		f.getReplication(w, r, bucket)
		return
	case routeDeleteReplication:
		f.deleteReplication(w, r, bucket)
		return
	case routeCreateBucket:
		then = f.recordBucket(bucket)
	case routePutVersioning:
		then, body = f.recordVersioning(bucket, body)
	case routeWriteObject:
		then = f.recordWrite(bucket, key, r.Header.Get("x-amz-tagging"), r.Header.Get("x-amz-copy-source") != "")
	case routeCompleteMultipart:
		then = f.recordWrite(bucket, key, "", true)
	case routePutTagging:
		then, body = f.recordTags(bucket, key, unescapedQuery(r).Get("versionId"), body)
	case routeDeleteTagging:
		then = f.recordTagsDeleted(bucket, key, unescapedQuery(r).Get("versionId"))
	case routeDeleteObject:
		if q := unescapedQuery(r); q.Has("versionId") {
			then = f.recordVersionDeleted(bucket, key, q.Get("versionId"))
		} else {
			then = f.recordDeleteMarker(bucket, key)
		}
	case routeDeleteObjects:
		then = f.recordDeletes(bucket, body)
	case routeReadObject:
		then = f.addReplicationStatus(bucket, key)
	}
	if body != nil {
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		r.ContentLength = int64(len(body))
	}
	if then != nil {
		r = r.WithContext(context.WithValue(r.Context(), afterKey{}, then))
	}
	f.proxy.ServeHTTP(w, r)
}

// readXML reads a body the front parses itself, at most MaxXMLBytes.
func (f *Front) readXML(r *http.Request) ([]byte, *s3Error) {
	if r.ContentLength > f.cfg.MaxXMLBytes {
		return nil, errorf(http.StatusBadRequest, "MaxMessageLengthExceeded", fmt.Sprintf("your request was too big: at most %d bytes are allowed", f.cfg.MaxXMLBytes))
	}
	if ce := r.Header.Get("Content-Encoding"); strings.Contains(ce, "aws-chunked") {
		return nil, errorf(http.StatusNotImplemented, "NotImplemented", "aws-chunked bodies are not supported on this route")
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, f.cfg.MaxXMLBytes+1))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "IncompleteBody", "reading the request body: "+err.Error())
	}
	if int64(len(b)) > f.cfg.MaxXMLBytes {
		return nil, errorf(http.StatusBadRequest, "MaxMessageLengthExceeded", fmt.Sprintf("your request was too big: at most %d bytes are allowed", f.cfg.MaxXMLBytes))
	}
	return b, nil
}

// afterForward runs the request's follow-up when the source succeeded.
// An error makes the client's answer a 500 (see forwardError).
func (f *Front) afterForward(resp *http.Response) error {
	then, ok := resp.Request.Context().Value(afterKey{}).(after)
	if !ok || resp.StatusCode >= 300 {
		return nil
	}
	return then(resp)
}

// forwardError answers when the source could not be reached or the
// metadata could not be written after the source stored the data.
func (f *Front) forwardError(w http.ResponseWriter, r *http.Request, err error) {
	var e *s3Error
	if errors.As(err, &e) {
		writeError(w, r, e)
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	f.log.Warn("s3 front: source S3 unreachable", "path", r.URL.Path, "err", err)
	writeError(w, r, errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "the source S3 server did not answer: "+err.Error()))
}

// withRetry runs write until it succeeds or the retry delays are used up.
func (f *Front) withRetry(ctx context.Context, write func(context.Context) error) error {
	err := write(ctx)
	for _, d := range f.retry {
		if err == nil || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
		err = write(ctx)
	}
	return err
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}
