package domain

import (
	"fmt"
	"net/http"
	"time"
)

// Headers are the object headers that S3 replication copies to a replica
// besides the content type, as CloudServer's ObjectMD names them. Empty
// means not set.
type Headers struct {
	CacheControl            string `json:"cache-control,omitempty"`
	ContentDisposition      string `json:"content-disposition,omitempty"`
	ContentEncoding         string `json:"content-encoding,omitempty"`
	ContentLanguage         string `json:"content-language,omitempty"`
	Expires                 string `json:"expires,omitempty"`
	WebsiteRedirectLocation string `json:"x-amz-website-redirect-location,omitempty"`
}

// ExpiresTime returns Expires as a time, when it is an HTTP date (or an
// RFC 3339 time). S3 APIs take Expires as a time; a value that is neither
// (HTTP says to read it as already expired) cannot be sent on.
func (h Headers) ExpiresTime() (time.Time, bool) {
	if h.Expires == "" {
		return time.Time{}, false
	}
	if t, err := http.ParseTime(h.Expires); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339Nano, h.Expires); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// Object-lock retention modes.
const (
	LockGovernance = "GOVERNANCE"
	LockCompliance = "COMPLIANCE"
)

// Lock is a version's object-lock settings: retention (mode and date)
// and legal hold. S3 replication sets them on the replica version too.
type Lock struct {
	Mode        string
	RetainUntil time.Time
	LegalHold   bool
}

// IsSet reports whether the version has any object-lock setting; only
// then must its destination bucket have object lock enabled.
func (l Lock) IsSet() bool { return l.Mode != "" || !l.RetainUntil.IsZero() || l.LegalHold }

func (l Lock) validate() error {
	switch {
	case l.Mode != "" && l.Mode != LockGovernance && l.Mode != LockCompliance:
		return fmt.Errorf("object metadata field retentionMode is %q, want %s or %s", l.Mode, LockGovernance, LockCompliance)
	case (l.Mode == "") != l.RetainUntil.IsZero():
		return fmt.Errorf("object metadata fields retentionMode and retentionDate must be set together")
	}
	return nil
}
