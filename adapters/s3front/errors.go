package s3front

import (
	"encoding/xml"
	"net/http"
)

// s3Error is an S3 error response: its HTTP status, code and message.
type s3Error struct {
	Status  int
	Code    string
	Message string
}

func (e *s3Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, message string) *s3Error {
	return &s3Error{Status: status, Code: code, Message: message}
}

// errorDoc is the XML body of every S3 error.
type errorDoc struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

// writeError answers r with e in S3's XML error shape; HEAD gets the
// status and no body, as S3 answers it.
func writeError(w http.ResponseWriter, r *http.Request, e *s3Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("x-amz-request-id", requestID(r))
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	body, _ := xml.Marshal(errorDoc{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: requestID(r)})
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}

func requestID(r *http.Request) string {
	if id, ok := r.Context().Value(requestIDKey{}).(string); ok {
		return id
	}
	return ""
}

type requestIDKey struct{}
