package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// pattern is a cheap deterministic body of any size.
type pattern struct {
	left int64
	buf  []byte
}

func newPattern(size int64) *pattern {
	buf := make([]byte, 1<<20)
	_, _ = rand.Read(buf)
	return &pattern{left: size, buf: buf}
}

func (p *pattern) Read(d []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := copy(d, p.buf[int(p.left%int64(len(p.buf))):])
	n = int(min(int64(n), p.left))
	p.left -= int64(n)
	return n, nil
}

// largeObject copies one large object with the raw multipart copy and
// through a freshly started replicator, whose peak RSS it reads.
func (b *bench) largeObject(ctx context.Context) ([]Result, error) {
	size := b.o.bigSize
	name := fmt.Sprintf("%s-big", b.run)
	bk, err := b.newBucket(ctx, name)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx := context.WithoutCancel(ctx)
		purge(cctx, b.src, name)
		purge(cctx, b.dst, name+"-raw")
		purge(cctx, b.dst, name+"-replica")
	}()
	logf("large object: uploading %d MiB to the source", size>>20)
	vid, err := b.srcBkt.PutObject(ctx, name, "big", newPattern(size), size, "application/octet-stream", nil, nil)
	if err != nil {
		return nil, err
	}
	raw, err := b.rawCopyLarge(ctx, name, "big", vid, size)
	if err != nil {
		return nil, fmt.Errorf("raw multipart copy: %w", err)
	}
	logf("large object: raw copy %.0f MiB/s", raw/(1<<20))
	// A fresh replicator: its VmHWM is the peak of this copy (and of one
	// warm-up object), not of the workloads before.
	b.svc["replicator"].stop()
	s, err := startService(b.o, b.cfg, "replicator", b.tag+"-big")
	if err != nil {
		return nil, err
	}
	b.svc["replicator"] = s
	if err := b.warmUp(ctx, bk); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	meter := newCPUMeter(b.pids())
	statusTopic := b.run + "-svc-status"
	base, err := topicCount(b.kafka, statusTopic)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	v := version(bk, seeded{key: "big", vid: vid, size: size})
	if err := b.meta.PutVersion(ctx, v); err != nil {
		return nil, err
	}
	var copied time.Duration
	for copied == 0 && time.Since(start) < b.o.workloadWait {
		if c, err := topicCount(b.kafka, statusTopic); err == nil && c > base {
			copied = time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := b.waitCompleted(ctx, name, 2, 50*time.Millisecond); err != nil {
		return nil, err
	}
	el := time.Since(start)
	rate := float64(size) / el.Seconds()
	rss, err := peakRSS(s.pid())
	if err != nil {
		return nil, err
	}
	label := fmt.Sprintf("1 x %d MiB", size>>20)
	r := ratioRow(label+" vs raw copy", "MiB/s", rate/(1<<20), raw/(1<<20), 0.95)
	r.Note = fmt.Sprintf("%s end to end; the outcome was on the status topic at %s (%.0f MiB/s from metadata write to copy done); %s",
		el.Round(time.Millisecond), copied.Round(time.Millisecond), float64(size)/(1<<20)/copied.Seconds(), meter.report())
	return []Result{r, limitRow(label+" replicator peak RSS", "MiB", float64(rss)/(1<<20), 64, true)}, nil
}

// rawCopyLarge streams the object from the source into a multipart upload
// with the service's part size and parts in flight.
func (b *bench) rawCopyLarge(ctx context.Context, bucket, key, vid string, size int64) (float64, error) {
	dst := bucket + "-raw"
	if err := b.dstBkt.EnsureVersionedBucket(ctx, dst); err != nil {
		return 0, err
	}
	start := time.Now()
	get, err := b.src.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(vid)})
	if err != nil {
		return 0, err
	}
	defer get.Body.Close()
	up, err := b.dst.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(dst), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	free := make(chan []byte, b.o.inFlight)
	for range b.o.inFlight {
		free <- make([]byte, b.o.partSize)
	}
	var mu sync.Mutex
	var parts []types.CompletedPart
	g, gctx := errgroup.WithContext(ctx)
	for num := int32(1); ; num++ {
		buf := <-free
		n, rerr := io.ReadFull(get.Body, buf)
		if n == 0 {
			free <- buf
			break
		}
		g.Go(func() error {
			defer func() { free <- buf }()
			out, err := b.dst.UploadPart(gctx, &s3.UploadPartInput{Bucket: aws.String(dst), Key: aws.String(key), UploadId: up.UploadId,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))}, streaming)
			if err != nil {
				return err
			}
			mu.Lock()
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
			mu.Unlock()
			return nil
		})
		if rerr != nil {
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				break
			}
			_ = g.Wait()
			return 0, rerr
		}
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	if _, err := b.dst.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(dst), Key: aws.String(key),
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		return 0, err
	}
	return float64(size) / time.Since(start).Seconds(), nil
}
