package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error names, as upstream's arsenal errors name them; clients key on them.
const (
	ErrNameRouteNotFound         = "RouteNotFound"
	ErrNameMethodNotAllowed      = "MethodNotAllowed"
	ErrNameInvalidQueryParameter = "InvalidQueryParameter"
	ErrNameMalformedPOSTRequest  = "MalformedPOSTRequest"
	ErrNameUnauthorized          = "Unauthorized"
	ErrNameAccessDenied          = "AccessDenied"
	ErrNameMaxMessageLength      = "MaxMessageLengthExceeded"
	ErrNameInternalError         = "InternalError"
)

// apiError is an error answered to the client: an HTTP status, an arsenal
// error name and a description.
type apiError struct {
	status      int
	name        string
	description string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.status, e.name, e.description)
}

func newError(status int, name, format string, args ...any) *apiError {
	return &apiError{status: status, name: name, description: fmt.Sprintf(format, args...)}
}

func errRouteNotFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, ErrNameRouteNotFound, format, args...)
}

func errPathNotFound(r *http.Request) *apiError {
	return errRouteNotFound("path %s does not exist", r.URL.EscapedPath())
}

func errInvalidQuery(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, ErrNameInvalidQueryParameter, format, args...)
}

// malformedPrefix starts every MalformedPOSTRequest description, as upstream.
const malformedPrefix = "The body of your POST request is not well-formed"

func errMalformed(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, ErrNameMalformedPOSTRequest, malformedPrefix+": "+format, args...)
}

func errInternal(err error) *apiError {
	return newError(http.StatusInternalServerError, ErrNameInternalError, "%v", err)
}

// asAPIError returns the apiError err carries, or an InternalError.
func asAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return errInternal(err)
}

// errorBody is the JSON of an error. Upstream sends JSON.stringify of an
// arsenal error: {"code":…,"description":…,"<Name>":true} (arsenal 7) or
// only {"<Name>":true} (arsenal 8, whose code and description are private).
// This body is a superset of both, plus "message" naming the error, so that
// a client need not look for the key whose value is true.
func errorBody(e *apiError) []byte {
	name, _ := json.Marshal(e.name)
	desc, _ := json.Marshal(e.description)
	b := make([]byte, 0, 96+len(desc)+2*len(name))
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(e.status), 10)
	b = append(b, `,"message":`...)
	b = append(b, name...)
	b = append(b, `,"description":`...)
	b = append(b, desc...)
	b = append(b, ',')
	b = append(b, name...)
	b = append(b, ":true}"...)
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := errorBody(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}
