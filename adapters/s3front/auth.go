package s3front

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
	// maxClockSkew is how far a request's signing time may be from ours,
	// as S3 allows.
	maxClockSkew = 15 * time.Minute
)

// authorization is the parsed Authorization header of a SigV4 request.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseAuthorization reads
// "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/s3/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (authorization, bool) {
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != sigV4Algorithm {
		return authorization{}, false
	}
	var a authorization
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return authorization{}, false
		}
		switch k {
		case "Credential":
			f := strings.Split(v, "/")
			if len(f) != 5 || f[4] != "aws4_request" {
				return authorization{}, false
			}
			a.accessKey, a.date, a.region, a.service = f[0], f[1], f[2], f[3]
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	if a.accessKey == "" || a.signature == "" || len(a.signedHeaders) == 0 {
		return authorization{}, false
	}
	return a, true
}

// authenticator checks SigV4 header signatures with aws-sdk-go-v2's
// signer: it signs a copy of the request holding only the headers the
// client signed, at the client's signing time, and compares signatures.
type authenticator struct {
	creds  aws.Credentials
	signer *v4.Signer
	now    func() time.Time
}

func newAuthenticator(accessKey, secretKey string) *authenticator {
	return &authenticator{
		creds: aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
		signer: v4.NewSigner(func(o *v4.SignerOptions) {
			o.DisableURIPathEscaping = true // S3 signs the path as sent
		}),
		now: time.Now,
	}
}

// check verifies r's signature. body, when not nil, is the request body
// the front read itself: its SHA-256 must then be the signed payload hash
// (unless the client signed UNSIGNED-PAYLOAD). A streamed body's hash is
// checked by the source S3 server it is forwarded to.
func (a *authenticator) check(ctx context.Context, r *http.Request, body []byte) *s3Error {
	h := r.Header.Get("Authorization")
	if h == "" {
		if r.URL.Query().Has("X-Amz-Signature") {
			return nil // presigned: checked by the source S3 server, for forwarded routes only
		}
		return errorf(http.StatusForbidden, "AccessDenied", "anonymous requests are not allowed: sign the request with SigV4")
	}
	auth, ok := parseAuthorization(h)
	if !ok {
		return errorf(http.StatusBadRequest, "AuthorizationHeaderMalformed", "the Authorization header is not a SigV4 "+sigV4Algorithm+" header")
	}
	if subtle.ConstantTimeCompare([]byte(auth.accessKey), []byte(a.creds.AccessKeyID)) != 1 {
		return errorf(http.StatusForbidden, "InvalidAccessKeyId", "the AWS access key id you provided does not exist in our records")
	}
	signedAt, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errorf(http.StatusForbidden, "AccessDenied", "the request has no valid X-Amz-Date header")
	}
	if d := a.now().Sub(signedAt); d > maxClockSkew || d < -maxClockSkew {
		return errorf(http.StatusForbidden, "RequestTimeTooSkewed", "the difference between the request time and the server's time is too large")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return errorf(http.StatusBadRequest, "InvalidRequest", "missing required header for this request: x-amz-content-sha256")
	}
	if body != nil && payload != "UNSIGNED-PAYLOAD" && !strings.HasPrefix(payload, "STREAMING-") {
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != payload {
			return errorf(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "the provided x-amz-content-sha256 header does not match what was computed")
		}
	}
	u := *r.URL
	clone := &http.Request{Method: r.Method, URL: &u, Host: r.Host, Header: http.Header{}}
	for _, name := range auth.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			clone.ContentLength = r.ContentLength
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				clone.Header[http.CanonicalHeaderKey(name)] = slices.Clone(vs)
			}
		}
	}
	if err := a.signer.SignHTTP(ctx, a.creds, clone, payload, auth.service, auth.region, signedAt); err != nil {
		return errorf(http.StatusInternalServerError, "InternalError", "signing: "+err.Error())
	}
	want, ok := parseAuthorization(clone.Header.Get("Authorization"))
	if !ok || subtle.ConstantTimeCompare([]byte(want.signature), []byte(auth.signature)) != 1 {
		return errorf(http.StatusForbidden, "SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided: check your key and signing method")
	}
	return nil
}

// unescapedQuery is r's query, tolerant of what clients send.
func unescapedQuery(r *http.Request) url.Values {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return q
}
