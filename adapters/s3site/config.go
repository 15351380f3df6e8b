package s3site

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"
)

// Sizes S3 imposes on uploads.
const (
	MiB = 1 << 20
	GiB = 1 << 30

	minPartSize   = 5 * MiB // every part but the last
	maxPartSize   = 5 * GiB
	maxParts      = 10000
	maxSinglePut  = 5 * GiB // largest PutObject
	maxObjectSize = 5 * 1024 * GiB
)

// Defaults of Config.
const (
	DefaultRegion             = "us-east-1"
	DefaultMultipartThreshold = 32 * MiB
	DefaultPartSize           = 16 * MiB
	DefaultMaxPartsInFlight   = 4
	DefaultPartAttempts       = 3
	DefaultResponseTimeout    = 2 * time.Minute
	// DefaultMaxIdleConns is the idle connections kept per host when MaxConns
	// is 0: enough for 16 copies in flight, each with 4 parts.
	DefaultMaxIdleConns = 80
)

// Addressing styles of Config.AddressingStyle.
const (
	AddressingAuto    = "auto"    // path style with a custom Endpoint, virtual-hosted on AWS
	AddressingPath    = "path"    // http://host/bucket/key
	AddressingVirtual = "virtual" // http://bucket.host/key
)

// Config reaches one S3 endpoint, source or destination. The zero value of
// every field but Endpoint means its default.
type Config struct {
	// Endpoint is the S3 endpoint URL (http://127.0.0.1:17001); empty means
	// AWS S3 of Region.
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"` // default us-east-1
	// AccessKey and SecretKey are static credentials; both empty means the
	// SDK's default credential chain (environment, shared files, IAM role).
	AccessKey string `yaml:"accessKey"`
	SecretKey string `yaml:"secretKey" secret:"true"`
	// AddressingStyle is auto (default), path or virtual. Auto is path
	// style with a custom endpoint (most S3-compatible servers need it) and
	// virtual-hosted style on AWS. A string rather than a PathStyle bool,
	// so that "not set" and "set to false" differ.
	AddressingStyle string `yaml:"addressingStyle"`
	// MultipartThreshold is the object size from which a copy uses a
	// multipart upload (default 32 MiB, at most 5 GiB).
	MultipartThreshold int64 `yaml:"multipartThreshold"`
	// PartSize is the multipart part size (default 16 MiB, at least 5 MiB).
	// It grows for objects that would otherwise need over 10,000 parts.
	PartSize int64 `yaml:"partSize"`
	// MaxPartsInFlight is how many parts of one upload are buffered and
	// sent at once (default 4). One upload holds at most
	// MaxPartsInFlight*PartSize bytes of buffers; when PartSize has to grow,
	// fewer parts fly so that the bound holds (never fewer than one part).
	MaxPartsInFlight int `yaml:"maxPartsInFlight"`
	// MaxConns caps the connections to the endpoint (0: no cap). Idle
	// connections kept for reuse: MaxConns, or 80 without a cap.
	MaxConns int `yaml:"maxConns"`
	// SkipExistingCheck turns off the idempotency check that looks for a
	// replica of the same source version before writing (on by default; see
	// Destination.Put). Without it a replayed entry writes a second copy.
	// Named as a negative so that the zero value is the safe behaviour.
	SkipExistingCheck bool `yaml:"skipExistingCheck"`
	// ResponseTimeout bounds the wait for response headers once a request
	// is sent (default 2 min): a server that accepts a request and never
	// answers fails the attempt instead of hanging the copy.
	ResponseTimeout time.Duration `yaml:"responseTimeout"`
	// PartAttempts is how many times the SDK tries one part upload
	// (default 3). It is the only operation the SDK retries; see New.
	PartAttempts int `yaml:"partAttempts"`
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	c.Region = cmp.Or(c.Region, DefaultRegion)
	c.AddressingStyle = cmp.Or(c.AddressingStyle, AddressingAuto)
	c.MultipartThreshold = cmp.Or(c.MultipartThreshold, DefaultMultipartThreshold)
	c.PartSize = cmp.Or(c.PartSize, DefaultPartSize)
	c.MaxPartsInFlight = cmp.Or(c.MaxPartsInFlight, DefaultMaxPartsInFlight)
	c.ResponseTimeout = cmp.Or(c.ResponseTimeout, DefaultResponseTimeout)
	c.PartAttempts = cmp.Or(c.PartAttempts, DefaultPartAttempts)
	return c
}

// pathStyle reports whether requests name the bucket in the path.
func (c Config) pathStyle() bool {
	switch c.AddressingStyle {
	case AddressingPath:
		return true
	case AddressingVirtual:
		return false
	}
	return c.Endpoint != ""
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		switch {
		case err != nil:
			bad("endpoint", "is not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("endpoint", "scheme must be http or https, got %q", c.Endpoint)
		case u.Host == "":
			bad("endpoint", "has no host: %q", c.Endpoint)
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		bad("accessKey/secretKey", "set both, or neither to use the default credential chain")
	}
	switch c.AddressingStyle {
	case AddressingAuto, AddressingPath, AddressingVirtual:
	default:
		bad("addressingStyle", "must be auto, path or virtual, got %q", c.AddressingStyle)
	}
	if c.MultipartThreshold < 1 || c.MultipartThreshold > maxSinglePut {
		bad("multipartThreshold", "must be between 1 byte and 5 GiB, got %d", c.MultipartThreshold)
	}
	if c.PartSize < minPartSize || c.PartSize > maxPartSize {
		bad("partSize", "must be between 5 MiB and 5 GiB, got %d", c.PartSize)
	}
	if c.MaxPartsInFlight < 1 {
		bad("maxPartsInFlight", "must be at least 1, got %d", c.MaxPartsInFlight)
	}
	if c.MaxConns < 0 {
		bad("maxConns", "must not be negative, got %d", c.MaxConns)
	}
	if c.ResponseTimeout < 0 {
		bad("responseTimeout", "must not be negative, got %s", c.ResponseTimeout)
	}
	if c.PartAttempts < 1 {
		bad("partAttempts", "must be at least 1, got %d", c.PartAttempts)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid s3 configuration: %w", errors.Join(errs...))
	}
	return nil
}

// String prints the configuration with the secret masked.
func (c Config) String() string {
	c.SecretKey = mask(c.SecretKey)
	type plain Config // no String method: no recursion
	return fmt.Sprintf("%+v", plain(c))
}

// LogValue logs the configuration with the secret masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("region", c.Region),
		slog.String("accessKey", c.AccessKey),
		slog.String("secretKey", mask(c.SecretKey)),
		slog.String("addressingStyle", c.AddressingStyle),
		slog.Int64("multipartThreshold", c.MultipartThreshold),
		slog.Int64("partSize", c.PartSize),
		slog.Int("maxPartsInFlight", c.MaxPartsInFlight),
		slog.Int("maxConns", c.MaxConns),
		slog.Bool("skipExistingCheck", c.SkipExistingCheck),
		slog.Duration("responseTimeout", c.ResponseTimeout),
		slog.Int("partAttempts", c.PartAttempts),
	)
}

func mask(secret string) string {
	if secret == "" {
		return ""
	}
	return "****"
}

// partPlan returns the part size and the parts in flight for an object of
// size bytes: the configured part size, grown (to a whole MiB) when the
// object would need more than 10,000 parts, and fewer parts in flight when
// it grew, so that one upload's buffers stay within
// MaxPartsInFlight*PartSize.
func (c Config) partPlan(size int64) (partSize int64, inFlight int) {
	partSize, inFlight = c.PartSize, c.MaxPartsInFlight
	if need := (size + maxParts - 1) / maxParts; need > partSize {
		partSize = (need + MiB - 1) / MiB * MiB
		budget := c.PartSize * int64(c.MaxPartsInFlight)
		inFlight = max(1, int(budget/partSize))
	}
	return partSize, inFlight
}
