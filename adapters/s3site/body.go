package s3site

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/openbackbeat/backbeat/domain"
)

// exactReader passes on exactly size bytes of r. A body that ends early
// fails with io.ErrUnexpectedEOF (a broken source stream: transient); one
// that holds more fails as permanent: the source's data does not match the
// size its metadata records, and a version does not change. The excess is
// found before the last byte is passed on, so that a server never receives
// a whole body, and never stores a version, when the copy fails.
type exactReader struct {
	r    io.Reader
	size int64
	read int64
	done bool
}

func newExactReader(r io.Reader, size int64) *exactReader {
	return &exactReader{r: r, size: size}
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.done {
		return 0, io.EOF
	}
	left := e.size - e.read
	if int64(len(p)) < left {
		n, err := e.r.Read(p)
		e.read += int64(n)
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("source data ended after %d of %d bytes: %w", e.read, e.size, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	// The end is within p: read it all, and make sure nothing follows,
	// before handing over the last bytes.
	n, err := io.ReadFull(e.r, p[:left])
	e.read += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("source data ended after %d of %d bytes: %w", e.read, e.size, io.ErrUnexpectedEOF)
		}
		return n, err
	}
	var one [1]byte
	switch m, err := io.ReadFull(e.r, one[:]); {
	case m > 0:
		return 0, fmt.Errorf("%w: the source holds more data than the %d bytes its metadata records", domain.ErrPermanent, e.size)
	case err != io.EOF:
		return 0, fmt.Errorf("read the end of the source data: %w", err)
	}
	e.done = true
	return n, nil
}

// isMD5Hex reports whether s is a plain MD5 in hex (not a multipart ETag).
func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// md5Base64 turns a hex MD5 into the base64 form of a Content-MD5 header;
// anything else (a multipart "hash-N", empty) gives "".
func md5Base64(hexMD5 string) string {
	if !isMD5Hex(hexMD5) {
		return ""
	}
	b, _ := hex.DecodeString(hexMD5)
	return base64.StdEncoding.EncodeToString(b)
}

// etagMD5 returns the MD5 an ETag stands for, or "" when it is not one (a
// multipart upload's ETag is "hash-parts").
func etagMD5(etag string) string {
	etag = strings.ToLower(strings.Trim(etag, `"`))
	if !isMD5Hex(etag) {
		return ""
	}
	return etag
}
