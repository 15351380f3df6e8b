package s3site

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// optional is nil for an empty header, so that it is not sent.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// lockInput renders object-lock settings as an upload's fields; all empty
// when the version has none.
func lockInput(l domain.Lock) (types.ObjectLockMode, *time.Time, types.ObjectLockLegalHoldStatus) {
	var mode types.ObjectLockMode
	var until *time.Time
	var hold types.ObjectLockLegalHoldStatus
	if l.Mode != "" {
		mode, until = types.ObjectLockMode(l.Mode), aws.Time(l.RetainUntil)
	}
	if l.LegalHold {
		hold = types.ObjectLockLegalHoldStatusOn
	}
	return mode, until, hold
}

// requireObjectLock refuses, as permanent, a replica with object-lock
// settings for a bucket without object lock, before anything is written:
// versitygw stores the version and only then refuses its lock, which would
// leave an unlocked replica that a retry takes for done. A bucket seen
// locked is remembered (object lock cannot be turned off); one seen
// without is asked again next time, so that enabling it takes effect.
func (c *Client) requireObjectLock(ctx context.Context, r ports.Replica) error {
	if _, ok := c.locked.Load(r.Bucket); ok {
		return nil
	}
	out, err := c.s3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(r.Bucket)})
	if err == nil && out.ObjectLockConfiguration != nil && out.ObjectLockConfiguration.ObjectLockEnabled == types.ObjectLockEnabledEnabled {
		c.locked.Store(r.Bucket, true)
		return nil
	}
	if err != nil {
		err = translate(err)
		if !errors.Is(err, domain.ErrPermanent) {
			return fmt.Errorf("read the object lock configuration of bucket %s: %w", r.Bucket, err)
		}
	}
	return fmt.Errorf("%w: destination bucket %s has no object lock enabled, and %s version %s has object lock settings (retention %q until %s, legal hold %v): enable object lock on the bucket, then retry (%v)",
		domain.ErrPermanent, r.Bucket, r.Key, r.SourceVersionID, r.Lock.Mode, r.Lock.RetainUntil.Format(time.RFC3339), r.Lock.LegalHold, err)
}

// lockRefused names the likely cause when a destination refuses a write
// that carries object-lock settings as an invalid request: the bucket has
// no object lock (S3: "Bucket is missing ObjectLockConfiguration"). The
// error stays permanent: the version is FAILED with this reason until the
// bucket is fixed and the entry retried, never silently written without
// its lock.
func lockRefused(err error, o object) error {
	if err == nil || !o.lock.IsSet() || !errors.Is(err, domain.ErrPermanent) {
		return err
	}
	if code, _ := errorCode(err); code != "InvalidRequest" && code != "InvalidArgument" {
		return err
	}
	return fmt.Errorf("destination bucket %s refused the replica's object lock settings (retention %s until %s, legal hold %v): is object lock enabled on it? %w",
		o.bucket, o.lock.Mode, o.lock.RetainUntil.Format(time.RFC3339), o.lock.LegalHold, err)
}
