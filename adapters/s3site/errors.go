package s3site

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"

	"github.com/openbackbeat/backbeat/domain"
)

// permanentCodes are S3 error codes that retrying the same request cannot
// fix: the thing is gone, access is refused, or the request is invalid.
var permanentCodes = map[string]bool{
	"NoSuchKey": true, "NoSuchVersion": true, "NoSuchBucket": true,
	"AccessDenied": true, "InvalidAccessKeyId": true, "SignatureDoesNotMatch": true,
	"AccountProblem": true, "AllAccessDisabled": true, "UnauthorizedAccess": true,
	// A wrong region or endpoint.
	"AuthorizationHeaderMalformed": true, "PermanentRedirect": true,
	// versitygw's answer (HTTP 404) to an unknown access key.
	"XAdminUserNotFound": true,
	// The request itself is invalid.
	"InvalidBucketName": true, "KeyTooLongError": true, "InvalidObjectState": true,
	"MetadataTooLarge": true, "EntityTooLarge": true, "EntityTooSmall": true,
	"InvalidTag": true, "InvalidArgument": true, "InvalidDigest": true,
	"InvalidStorageClass": true, "InvalidVersionId": true,
	// GetObject of a version that is a delete marker.
	"MethodNotAllowed": true,
	"NotImplemented":   true,
	// HeadObject responses carry no body, so no code: the SDK names them
	// after the status.
	"Forbidden": true, "NotFound": true,
}

// transientCodes are S3 error codes worth retrying although some come
// with a 4xx status.
var transientCodes = map[string]bool{
	"InternalError": true, "ServiceUnavailable": true, "SlowDown": true,
	"Throttling": true, "ThrottlingException": true, "TooManyRequests": true,
	"RequestLimitExceeded": true, "RequestTimeout": true, "RequestTimeTooSkewed": true,
	"ExpiredToken": true, "TokenRefreshRequired": true, "OperationAborted": true,
	// The data changed in transit, or the connection broke mid-body.
	"BadDigest": true, "IncompleteBody": true,
	// The server lost an upload in progress: a new copy starts a new one.
	"NoSuchUpload": true,
}

// translate classifies an error of the S3 API at the adapter boundary:
// it wraps domain.ErrPermanent, naming the S3 error code and HTTP status,
// when retrying cannot help, and returns err as is (transient) otherwise:
// 5xx, throttling, timeouts, network errors and anything unknown. Source
// and destination share it so that both sides classify alike.
func translate(err error) error {
	if err == nil || errors.Is(err, domain.ErrPermanent) || errors.Is(err, domain.ErrPoison) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var invalid smithy.InvalidParamsError
	if errors.As(err, &invalid) {
		return fmt.Errorf("%w: invalid S3 request: %w", domain.ErrPermanent, err)
	}
	code, status := errorCode(err)
	if code == "" && status == 0 {
		return err // no response: network error, transient
	}
	if isPermanent(code, status) {
		return fmt.Errorf("%w: S3 error %s (HTTP %d): %w", domain.ErrPermanent, code, status, err)
	}
	return err
}

// errorCode returns the S3 error code and HTTP status of err, if it came
// from a response.
func errorCode(err error) (code string, status int) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var withStatus interface{ HTTPStatusCode() int }
	if errors.As(err, &withStatus) {
		status = withStatus.HTTPStatusCode()
	}
	return code, status
}

func isPermanent(code string, status int) bool {
	switch {
	case transientCodes[code]:
		return false
	case permanentCodes[code]:
		return true
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return false
	}
	// Any other client error describes a request the server will refuse
	// again; server errors and unknown ones are worth another try.
	return status >= 400 && status < 500
}

// isNotFound reports whether err says the key, version or bucket does not
// exist (a HeadObject 404 has no code: the SDK reports "NotFound").
func isNotFound(err error) bool {
	code, status := errorCode(err)
	switch code {
	case "NoSuchKey", "NoSuchVersion", "NotFound":
		return true
	}
	return status == http.StatusNotFound && code != "NoSuchBucket"
}

// isMethodNotAllowed reports whether err is S3's answer to reading a
// version that is a delete marker (HTTP 405).
func isMethodNotAllowed(err error) bool {
	code, status := errorCode(err)
	return code == "MethodNotAllowed" || status == http.StatusMethodNotAllowed
}
