package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// params are the values of a route's path parameters, unescaped.
type params map[string]string

// route is one method on one path template. Templates are written as in
// openapi.yaml ({name} is one path segment), except that the parameter
// named key takes one or more segments, since object keys contain slashes.
type route struct {
	method  string
	pattern string
	segs    []string
	greedy  int // index in segs of {key}, or -1
	// when, if set, refuses the route for this request with an error, which
	// is answered if no other route takes the request.
	when   func(r *http.Request) *apiError
	handle func(w http.ResponseWriter, r *http.Request, p params) error
	// strict makes a wrong method on the route's path answer 405, as
	// upstream does on its healthcheck and Prometheus routes only.
	strict bool
}

const greedyParam = "{key}"

func newRoute(method, pattern string, handle func(http.ResponseWriter, *http.Request, params) error) *route {
	rt := &route{method: method, pattern: pattern, handle: handle, greedy: -1}
	rt.segs = strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	rt.greedy = slices.Index(rt.segs, greedyParam)
	return rt
}

func (rt *route) onlyWhen(f func(r *http.Request) *apiError) *route {
	rt.when = f
	return rt
}

// methodNotAllowed makes the route answer a wrong method with 405.
func (rt *route) methodNotAllowed() *route {
	rt.strict = true
	return rt
}

// match matches the escaped path segments of a request against the
// template and returns the unescaped parameters.
func (rt *route) match(segs []string) (params, bool) {
	n := len(rt.segs)
	if rt.greedy < 0 && len(segs) != n || rt.greedy >= 0 && len(segs) < n {
		return nil, false
	}
	p := params{}
	one := func(tmpl, seg string) bool {
		if name, ok := paramName(tmpl); ok {
			v, err := url.PathUnescape(seg)
			if err != nil || v == "" {
				return false
			}
			p[name] = v
			return true
		}
		return tmpl == seg
	}
	if rt.greedy < 0 {
		for i := range rt.segs {
			if !one(rt.segs[i], segs[i]) {
				return nil, false
			}
		}
		return p, true
	}
	tail := n - rt.greedy - 1 // segments after {key}
	for i := 0; i < rt.greedy; i++ {
		if !one(rt.segs[i], segs[i]) {
			return nil, false
		}
	}
	for i := 0; i < tail; i++ {
		if !one(rt.segs[rt.greedy+1+i], segs[len(segs)-tail+i]) {
			return nil, false
		}
	}
	parts := make([]string, 0, len(segs)-tail-rt.greedy)
	for _, s := range segs[rt.greedy : len(segs)-tail] {
		v, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		parts = append(parts, v)
	}
	key := strings.Join(parts, "/")
	if key == "" {
		return nil, false
	}
	p["key"] = key
	return p, true
}

func paramName(tmpl string) (string, bool) {
	if len(tmpl) > 2 && tmpl[0] == '{' && tmpl[len(tmpl)-1] == '}' {
		return tmpl[1 : len(tmpl)-1], true
	}
	return "", false
}

// allows reports whether the route answers method; GET routes answer HEAD.
func (rt *route) allows(method string) bool {
	return method == rt.method || method == http.MethodHead && rt.method == http.MethodGet
}

// upstreamMethod reports whether upstream's server takes method at all
// (lib/api/BackbeatServer.js: GET, POST, DELETE); it answers any other
// with 405 before looking at the path.
func upstreamMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodPost || method == http.MethodDelete
}

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// ServeHTTP routes the request, checks the token on mutating routes,
// bounds the body, and answers errors as upstream does.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			a.log.Error("api handler panicked", "method", r.Method, "path", r.URL.EscapedPath(), "panic", v)
			if rec.status == 0 {
				writeError(rec, errInternal(fmt.Errorf("panic: %v", v)))
			}
		}
		level := slog.LevelDebug
		if mutating(r.Method) || rec.status >= 500 {
			level = slog.LevelInfo
		}
		a.log.Log(r.Context(), level, "api request", "method", r.Method, "path", r.URL.EscapedPath(),
			"status", rec.status, "duration", time.Since(start), "remote", r.RemoteAddr)
	}()
	a.dispatch(rec, r)
}

func (a *api) dispatch(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		writeError(w, errPathNotFound(r))
		return
	}
	segs := strings.Split(path[1:], "/")
	var allowed []string
	var refused *apiError
	strict := false
	for _, rt := range a.routes {
		p, ok := rt.match(segs)
		if !ok {
			continue
		}
		if !rt.allows(r.Method) {
			allowed = append(allowed, rt.method)
			strict = strict || rt.strict
			continue
		}
		if rt.when != nil {
			if e := rt.when(r); e != nil {
				refused = e
				continue
			}
		}
		a.serveRoute(w, r, rt, p)
		return
	}
	switch {
	case refused != nil:
		writeError(w, refused)
	case len(allowed) > 0 && !strict && upstreamMethod(r.Method):
		// Upstream (lib/api/BackbeatAPI.js findValidRoute) matches the
		// method with the path: a known path asked with another of its
		// methods does not exist.
		slices.Sort(allowed)
		writeError(w, errRouteNotFound("path %s does not exist for %s (it answers %s)",
			path, r.Method, strings.Join(slices.Compact(allowed), ", ")))
	case len(allowed) > 0:
		slices.Sort(allowed)
		allowed = slices.Compact(allowed)
		if slices.Contains(allowed, http.MethodGet) {
			allowed = append(allowed, http.MethodHead)
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, newError(http.StatusMethodNotAllowed, ErrNameMethodNotAllowed,
			"method %s is not allowed on %s (allowed: %s)", r.Method, path, strings.Join(allowed, ", ")))
	default:
		writeError(w, errPathNotFound(r))
	}
}

func (a *api) serveRoute(w http.ResponseWriter, r *http.Request, rt *route, p params) {
	if mutating(r.Method) && a.cfg.Token != "" {
		if e := a.authorize(r); e != nil {
			if e.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="backbeat"`)
			}
			writeError(w, e)
			return
		}
	}
	if r.ContentLength > a.cfg.MaxBodyBytes {
		writeError(w, errTooLarge(a.cfg.MaxBodyBytes))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes)
	if err := rt.handle(w, r, p); err != nil {
		e := asAPIError(err)
		if e.status >= 500 {
			a.log.Error("api request failed", "method", r.Method, "path", r.URL.EscapedPath(), "err", err)
		}
		writeError(w, e)
	}
}

func errTooLarge(limit int64) *apiError {
	return newError(http.StatusRequestEntityTooLarge, ErrNameMaxMessageLength,
		"the request body is larger than the %d bytes allowed", limit)
}

// authorize checks the bearer token in constant time. Both sides are hashed
// first so that the comparison does not reveal the token's length either.
func (a *api) authorize(r *http.Request) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return newError(http.StatusUnauthorized, ErrNameUnauthorized,
			"%s %s requires a bearer token: send the header Authorization: Bearer <token>", r.Method, r.URL.EscapedPath())
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return newError(http.StatusUnauthorized, ErrNameUnauthorized, "the Authorization header must be Bearer <token>")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := sha256.Sum256([]byte(a.cfg.Token))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return newError(http.StatusForbidden, ErrNameAccessDenied, "the bearer token is not valid")
	}
	return nil
}

// readBody reads the whole (bounded) request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge(limit)
	}
	if err != nil {
		return nil, newError(http.StatusBadRequest, ErrNameMalformedPOSTRequest, "cannot read the request body: %v", err)
	}
	return b, nil
}

// writeJSON answers v as JSON, without escaping HTML characters, as
// JavaScript's JSON.stringify does.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	body := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// statusRecorder remembers the status written, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
