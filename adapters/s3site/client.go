package s3site

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/domain"
)

// Client is one S3 endpoint. It hands out the ports over it (Source,
// Destination, ReplicaReader) and the few admin calls the simulator and
// tests need. It is safe for concurrent use.
type Client struct {
	cfg       Config
	s3        *s3.Client
	transport *http.Transport
	parts     sync.Pool // *[]byte part buffers of cfg.PartSize, shared by uploads
	locked    sync.Map  // bucket name -> true: object lock seen enabled
}

// New validates cfg and builds a client for its endpoint. It sends no
// request: an unreachable endpoint shows up on first use.
//
// The SDK retries nothing but part uploads (Config.PartAttempts): the
// application retries whole copies with its own policy (backoff, attempts,
// deadline, replay topic), and SDK retries underneath would multiply the
// attempts (6 x 3) and hide failures from its accounting. PutObject streams
// a body that cannot be rewound, so the SDK could not retry it anyway. A
// part, though, sits in a buffer: retrying it alone is cheap, while failing
// it restarts the whole upload.
func New(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()

	idle := DefaultMaxIdleConns
	if cfg.MaxConns > 0 {
		idle = cfg.MaxConns
	}
	tune := func(tr *http.Transport) {
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		// Many HTTP/1.1 connections carry parallel bodies better than one
		// HTTP/2 connection, and S3 servers rarely speak HTTP/2.
		tr.ForceAttemptHTTP2 = false
		tr.MaxIdleConns = 0 // no global cap: the per-host one applies
		tr.MaxIdleConnsPerHost = idle
		tr.MaxConnsPerHost = cfg.MaxConns
		tr.IdleConnTimeout = 50 * time.Second
		tr.TLSHandshakeTimeout = 10 * time.Second
		tr.ExpectContinueTimeout = time.Second
		tr.ResponseHeaderTimeout = cfg.ResponseTimeout
		// Larger buffers than the 4 KiB default: fewer syscalls per MiB.
		tr.WriteBufferSize = 64 << 10
		tr.ReadBufferSize = 64 << 10
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		// A buildable client, so that the SDK can add a CA bundle named by
		// AWS_CA_BUNDLE; the transport is taken out of it below.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(tune)),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 1
				// No client-side retry quota: under an outage it would turn
				// part retries into "quota exceeded" failures.
				o.RateLimiter = ratelimit.None
			})
		}),
		// Checksums only where an operation requires one: the default
		// (CRC32 on every upload) needs a seekable body over plain HTTP,
		// which a streamed copy is not. Integrity comes from Content-MD5 and
		// the CRC32C of each part, which we compute.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		// Nor on reads: asking for the response checksum (ChecksumMode
		// ENABLED, the SDK's default) makes the server compute one over
		// the whole stream; versitygw then serves a 512 MiB GetObject at
		// 350-400 MiB/s instead of 800-1000, on the cores the copy needs.
		// The copy checks the data against the source's MD5 instead.
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	// A plain client over the tuned transport: Close can release its
	// connections, and the SDK does not wrap it with its inactivity read
	// timeout, which would break long uploads to a server silent until
	// the body ends.
	var tr *http.Transport
	if bc, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
		tune(tr)
	}
	awsCfg.HTTPClient = &http.Client{
		Transport: tr,
		// S3 redirects name another region or endpoint: report them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.pathStyle()
	})
	return &Client{cfg: cfg, s3: client, transport: tr}, nil
}

// Config returns the client's configuration, defaults applied.
func (c *Client) Config() Config { return c.cfg }

// S3 returns the underlying SDK client, for tests and tools that act on a
// site behind the service's back (deleting a source version's data,
// tampering with a replica).
func (c *Client) S3() *s3.Client { return c.s3 }

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.transport.CloseIdleConnections()
	return nil
}

// streaming makes an upload send its body as it reads it: the payload is
// not hashed for the signature (UNSIGNED-PAYLOAD), which would need the
// whole body before the first byte is sent. Integrity is checked by
// Content-MD5 where we know it, by the CRC32C of each part, and TLS
// protects the rest in production.
var streaming = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// EnsureVersionedBucket creates bucket if it does not exist and enables
// versioning on it.
func (c *Client) EnsureVersionedBucket(ctx context.Context, bucket string) error {
	return c.ensureBucket(ctx, bucket, false)
}

// EnsureLockedBucket is EnsureVersionedBucket with object lock enabled
// when the bucket is created (S3 enables it only then): such a bucket
// takes replicas with retention and legal hold.
func (c *Client) EnsureLockedBucket(ctx context.Context, bucket string) error {
	return c.ensureBucket(ctx, bucket, true)
}

func (c *Client) ensureBucket(ctx context.Context, bucket string, locked bool) error {
	in := &s3.CreateBucketInput{Bucket: aws.String(bucket)}
	if locked {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if c.cfg.Region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraint(c.cfg.Region)}
	}
	if _, err := c.s3.CreateBucket(ctx, in); err != nil {
		var owned *types.BucketAlreadyOwnedByYou
		if !errors.As(err, &owned) {
			return fmt.Errorf("create bucket %s: %w", bucket, translate(err))
		}
	}
	_, err := c.s3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("enable versioning on bucket %s: %w", bucket, translate(err))
	}
	return nil
}

// PutObject writes one object version, streaming size bytes from body,
// with a multipart upload from Config.MultipartThreshold, and returns its
// version id. The simulator uses it to play a client of the source.
func (c *Client) PutObject(ctx context.Context, bucket, key string, body io.Reader, size int64, contentType string, meta, tags map[string]string) (string, error) {
	o := object{bucket: bucket, key: key, size: size, contentType: contentType, meta: meta, tags: tags}
	return c.upload(ctx, o, body)
}

// object is one object version to write.
type object struct {
	bucket, key string
	size        int64
	contentType string
	contentMD5  string // hex MD5 of the data, when known
	meta, tags  map[string]string
	headers     domain.Headers
	lock        domain.Lock
	// progress, when set, is told the bytes of each part uploaded.
	progress func(int64)
}

// upload writes o with PutObject or, from the threshold on, a multipart
// upload, and returns the new version id.
func (c *Client) upload(ctx context.Context, o object, body io.Reader) (string, error) {
	if o.size < 0 || o.size > maxObjectSize {
		return "", fmt.Errorf("%w: object size %d is out of S3's range", domain.ErrPermanent, o.size)
	}
	if body == nil {
		if o.size != 0 {
			return "", fmt.Errorf("%w: no body for %d bytes", domain.ErrPermanent, o.size)
		}
		body = strings.NewReader("")
	}
	body = newExactReader(body, o.size)
	if o.size < c.cfg.MultipartThreshold {
		return c.putSingle(ctx, o, body)
	}
	return c.putMultipart(ctx, o, body)
}

// putSingle streams body to one PutObject.
func (c *Client) putSingle(ctx context.Context, o object, body io.Reader) (string, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(o.bucket),
		Key:           aws.String(o.key),
		Body:          io.NopCloser(body), // hide any Seeker: the SDK must not rewind or pre-read
		ContentLength: aws.Int64(o.size),
		Metadata:      o.meta,
	}
	if o.contentType != "" {
		in.ContentType = aws.String(o.contentType)
	}
	if len(o.tags) > 0 {
		in.Tagging = aws.String(encodeTags(o.tags))
	}
	h := o.headers
	in.CacheControl, in.ContentDisposition, in.ContentEncoding = optional(h.CacheControl), optional(h.ContentDisposition), optional(h.ContentEncoding)
	in.ContentLanguage, in.WebsiteRedirectLocation = optional(h.ContentLanguage), optional(h.WebsiteRedirectLocation)
	if t, ok := h.ExpiresTime(); ok {
		in.Expires = aws.Time(t)
	}
	in.ObjectLockMode, in.ObjectLockRetainUntilDate, in.ObjectLockLegalHoldStatus = lockInput(o.lock)
	if md5 := md5Base64(o.contentMD5); md5 != "" {
		// The server checks the data against the source's MD5: a copy
		// corrupted anywhere between the two is refused (BadDigest).
		in.ContentMD5 = aws.String(md5)
	}
	out, err := c.s3.PutObject(ctx, in, streaming)
	if err != nil {
		return "", fmt.Errorf("put object %s/%s: %w", o.bucket, o.key, lockRefused(translate(err), o))
	}
	return c.versionOf(ctx, o, out.VersionId, out.ETag)
}

// versionOf returns the version id an upload response carried. Should a
// server leave it out, it is looked up: the latest version of the key
// with the ETag the response named.
func (c *Client) versionOf(ctx context.Context, o object, vid, etag *string) (string, error) {
	if v := aws.ToString(vid); v != "" {
		return v, nil
	}
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
	if err != nil {
		return "", fmt.Errorf("find the version written to %s/%s: %w", o.bucket, o.key, translate(err))
	}
	if aws.ToString(head.VersionId) == "" || aws.ToString(head.ETag) != aws.ToString(etag) {
		return "", fmt.Errorf("%w: bucket %s returned no version id for %s: is versioning enabled?", domain.ErrPermanent, o.bucket, o.key)
	}
	return aws.ToString(head.VersionId), nil
}

// encodeTags renders tags as the x-amz-tagging header wants them: a URL
// query string, spaces as %20.
func encodeTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(tags[k]))
	}
	return strings.ReplaceAll(b.String(), "+", "%20")
}
