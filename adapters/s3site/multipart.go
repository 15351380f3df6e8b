package s3site

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// abortTimeout bounds the clean-up of a failed multipart upload, which
// runs even when the copy's context has ended.
const abortTimeout = 30 * time.Second

// putMultipart streams body into a multipart upload. Parts are read one
// after the other into at most inFlight reusable buffers and uploaded
// concurrently, so memory stays below inFlight*partSize whatever the
// object's size. Any failure aborts the upload, leaving no parts behind.
func (c *Client) putMultipart(ctx context.Context, o object, body io.Reader) (string, error) {
	create := &s3.CreateMultipartUploadInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), Metadata: o.meta}
	if o.contentType != "" {
		create.ContentType = aws.String(o.contentType)
	}
	if len(o.tags) > 0 {
		create.Tagging = aws.String(encodeTags(o.tags))
	}
	h := o.headers
	create.CacheControl, create.ContentDisposition, create.ContentEncoding = optional(h.CacheControl), optional(h.ContentDisposition), optional(h.ContentEncoding)
	create.ContentLanguage, create.WebsiteRedirectLocation = optional(h.ContentLanguage), optional(h.WebsiteRedirectLocation)
	if t, ok := h.ExpiresTime(); ok {
		create.Expires = aws.Time(t)
	}
	create.ObjectLockMode, create.ObjectLockRetainUntilDate, create.ObjectLockLegalHoldStatus = lockInput(o.lock)
	// Each part carries its CRC32C, which the site checks on receipt.
	create.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32c
	mpu, err := c.s3.CreateMultipartUpload(ctx, create)
	if err != nil {
		return "", fmt.Errorf("create multipart upload of %s/%s: %w", o.bucket, o.key, lockRefused(translate(err), o))
	}
	uploadID := aws.ToString(mpu.UploadId)
	vid, err := c.uploadParts(ctx, o, uploadID, body)
	if err != nil {
		if aerr := c.abortUpload(ctx, o, uploadID); aerr != nil {
			// The upload's parts stay until a lifecycle rule removes them.
			err = errors.Join(err, fmt.Errorf("abort multipart upload %s: %w", uploadID, aerr))
		}
		return "", err
	}
	return vid, nil
}

// partGrace is how long the parts in flight of a failed or cancelled
// copy have to end before they are cut off.
const partGrace = 10 * time.Second

// abortAttempts bounds the aborts of one upload: S3 says a part still in
// flight at the site may land after an abort, and so may need another
// (versitygw then shows the upload again, found by the cancel test).
const abortAttempts = 5

// abortUpload aborts upload uploadID, even when ctx has ended, until
// ListParts no longer finds it: again after an error (the site removing
// the upload while a part is stored fails), and again while a part cut off
// after partGrace still lands.
func (c *Client) abortUpload(ctx context.Context, o object, uploadID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	var err error
	for attempt := 1; attempt <= abortAttempts; attempt++ {
		if attempt > 1 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
		}
		_, err = c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
			Bucket: aws.String(o.bucket), Key: aws.String(o.key), UploadId: aws.String(uploadID),
		})
		if err != nil && !isNotFound(err) {
			continue
		}
		_, err = c.s3.ListParts(ctx, &s3.ListPartsInput{
			Bucket: aws.String(o.bucket), Key: aws.String(o.key), UploadId: aws.String(uploadID), MaxParts: aws.Int32(1),
		})
		if isNotFound(err) {
			return nil
		}
		if err == nil {
			err = errors.New("the upload is still listed")
		}
	}
	return fmt.Errorf("after %d attempts: %w", abortAttempts, err)
}

// uploadParts sends the parts of upload uploadID and completes it.
func (c *Client) uploadParts(ctx context.Context, o object, uploadID string, body io.Reader) (string, error) {
	partSize, inFlight := c.cfg.partPlan(o.size)
	nParts := int((o.size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, nParts)

	// ctx ends, with its cause, when the copy fails or is cancelled: no
	// part starts after that. The parts in flight are not cut off with it:
	// a part the site has received but not yet stored lands after the
	// abort and brings the upload back (S3 says so of aborts; versitygw
	// does it). They get partGrace to end, then are cut off.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	partCtx, cutOff := context.WithCancel(context.WithoutCancel(ctx))
	defer cutOff()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(partGrace, cutOff) })()
	buffers := c.newPartBuffers(partSize, inFlight)
	defer buffers.release()
	// The MD5 of the whole object, to check against the source's, is
	// computed by its own goroutine while the next part is read and this
	// one is sent: a buffer goes back once both are done with it.
	var whole *wholeMD5
	if isMD5Hex(o.contentMD5) {
		whole = newWholeMD5(inFlight)
	}

	var wg sync.WaitGroup
	for i := range nParts {
		buf, err := buffers.get(ctx)
		if err != nil {
			break // a part failed, or ctx ended: the cause says which
		}
		n := min(partSize, o.size-int64(i)*partSize)
		data := buf[:n]
		if _, err := io.ReadFull(body, data); err != nil {
			buffers.put(buf)
			cancel(fmt.Errorf("read part %d of %d from the source: %w", i+1, nParts, err))
			break
		}
		users := int32(1)
		if whole != nil {
			users = 2
		}
		release := func() {
			if atomic.AddInt32(&users, -1) == 0 {
				buffers.put(buf)
			}
		}
		whole.add(data, release)
		num := int32(i + 1)
		wg.Go(func() {
			defer release()
			etag, crc, err := c.uploadPart(partCtx, o, uploadID, num, data)
			if err != nil {
				cancel(fmt.Errorf("upload part %d of %d of %s/%s: %w", num, nParts, o.bucket, o.key, err))
				return
			}
			parts[num-1] = types.CompletedPart{ETag: aws.String(etag), PartNumber: aws.Int32(num), ChecksumCRC32C: aws.String(crc)}
			if o.progress != nil {
				o.progress(int64(len(data)))
			}
		})
	}
	wg.Wait()
	sum := whole.sum()
	if err := context.Cause(ctx); err != nil {
		return "", err
	}
	// Every byte is read: the source must be at its end.
	if _, err := body.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		if err == nil {
			err = errors.New("the source holds more data than its size")
		}
		return "", err
	}
	if whole != nil {
		if got := hex.EncodeToString(sum); got != o.contentMD5 {
			// Not marked permanent: a corrupted read may not happen again.
			return "", fmt.Errorf("data read from the source has MD5 %s, its metadata says %s", got, o.contentMD5)
		}
	}
	out, err := c.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(o.bucket), Key: aws.String(o.key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return "", fmt.Errorf("complete multipart upload of %s/%s: %w", o.bucket, o.key, translate(err))
	}
	return c.versionOf(ctx, o, out.VersionId, out.ETag)
}

// uploadPart sends one buffered part with its CRC32C, which the site
// checks, letting the SDK retry it (the buffer can be sent again, unlike a
// streamed body). It returns the part's ETag and checksum.
func (c *Client) uploadPart(ctx context.Context, o object, uploadID string, num int32, data []byte) (string, string, error) {
	crc := crc32C(data)
	out, err := c.s3.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: aws.String(o.bucket), Key: aws.String(o.key), UploadId: aws.String(uploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumCRC32C: aws.String(crc),
	}, streaming, func(opts *s3.Options) { opts.RetryMaxAttempts = c.cfg.PartAttempts })
	if err != nil {
		return "", "", translate(err)
	}
	return aws.ToString(out.ETag), crc, nil
}

// partBuffers hands out at most n buffers of one upload, reusing the
// client's pooled buffers when parts have the configured size.
type partBuffers struct {
	pool      *sync.Pool // nil when parts are not of the pooled size
	size      int64
	free      chan []byte
	allocated int
	n         int
}

func (c *Client) newPartBuffers(size int64, n int) *partBuffers {
	b := &partBuffers{size: size, free: make(chan []byte, n), n: n}
	if size == c.cfg.PartSize {
		b.pool = &c.parts
	}
	return b
}

// get returns a free buffer, allocating one while fewer than n exist, or
// waits for one to be put back.
func (b *partBuffers) get(ctx context.Context) ([]byte, error) {
	select {
	case buf := <-b.free:
		return buf, nil
	default:
	}
	if b.allocated < b.n {
		b.allocated++
		if b.pool != nil {
			if p, ok := b.pool.Get().(*[]byte); ok {
				return *p, nil
			}
		}
		return make([]byte, b.size), nil
	}
	select {
	case buf := <-b.free:
		return buf, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// put gives a buffer back; it never blocks.
func (b *partBuffers) put(buf []byte) { b.free <- buf }

// release returns the buffers to the client's pool once every part is
// done with them.
func (b *partBuffers) release() {
	for {
		select {
		case buf := <-b.free:
			if b.pool != nil {
				b.pool.Put(&buf)
			}
		default:
			return
		}
	}
}
