// Package apiclient is a Go client of the operator API served by package
// httpapi (`backbeat api`). It also works against upstream Zenko
// Backbeat's API for the routes they share. `backbeat ctl` uses it.
//
// Its request and answer types are package apiwire's, which the server
// encodes too, under the names this package has always given them.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// DefaultURL is where `backbeat api` listens by default.
const DefaultURL = "http://127.0.0.1:8900"

// maxResponseBytes bounds what the client reads of one response.
const maxResponseBytes = 32 << 20

// Client calls the API. It is safe for concurrent use.
type Client struct {
	base  string // scheme://host[/prefix], no trailing slash
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends token as a bearer token, which the API requires on
// mutating routes when it is configured with one.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces the HTTP client (default: a 30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client of the API at baseURL (e.g. http://127.0.0.1:8900;
// a path prefix such as a proxy's /_/backbeat/api is kept).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("API URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want http://host:port or https://host:port", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API URL %q: must not have a query or fragment", baseURL)
	}
	c := &Client{base: strings.TrimRight(u.String(), "/"), http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL returns the API's base URL.
func (c *Client) URL() string { return c.base }

// Error is a request the API answered with an error status.
type Error struct {
	Method, Path string
	StatusCode   int
	// Name is the error name (RouteNotFound, MalformedPOSTRequest, ...).
	Name        string
	Description string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("the backbeat API refused %s %s: %d %s", e.Method, e.Path, e.StatusCode, e.Name)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	return msg
}

// ErrorName returns the API error name err carries, or "".
func ErrorName(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	return ""
}

// UnreachableError says the API could not be reached at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the backbeat API at %s: %s — is `backbeat api` running?", e.URL, reason(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// reason names why a connection failed, shortly.
func reason(err error) string {
	var dns *net.DNSError
	var nerr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "unknown host " + dns.Name
	case errors.As(err, &nerr) && nerr.Timeout():
		return "timed out"
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// segment escapes one path segment; "." and ".." are escaped too, so that
// nothing on the way resolves them as relative paths.
func segment(s string) string {
	switch s {
	case ".":
		return "%2E"
	case "..":
		return "%2E%2E"
	}
	return url.PathEscape(s)
}

// keyPath escapes an object key, keeping its slashes as path separators,
// which is how the API reads keys.
func keyPath(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = segment(p)
	}
	return strings.Join(parts, "/")
}

// siteOrAll is the site path segment: "all" when site is empty.
func siteOrAll(site string) string {
	if site == "" {
		return "all"
	}
	return segment(site)
}

// do sends one request; path is already escaped. A 2xx answer is decoded
// into out (if not nil); the raw body is returned in any case.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body any, out any) ([]byte, error) {
	var rdr io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		rdr = bytes.NewReader(b)
	}
	target := c.base + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rdr)
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return nil, &UnreachableError{URL: c.base, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, &UnreachableError{URL: c.base, Err: fmt.Errorf("reading the answer to %s %s: %w", method, path, err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return data, apiError(method, path, resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return data, fmt.Errorf("the backbeat API answered %s %s with unexpected JSON: %w", method, path, err)
		}
	}
	return data, nil
}

// apiError reads an error body: ours ({code, message, description,
// <Name>: true}) or upstream's ({<Name>: true} with or without code and
// description), or anything else.
func apiError(method, path string, status int, body []byte) *Error {
	e := &Error{Method: method, Path: path, StatusCode: status}
	var m map[string]any
	if json.Unmarshal(body, &m) == nil {
		if s, ok := m["message"].(string); ok {
			e.Name = s
		}
		for k, v := range m {
			if b, ok := v.(bool); ok && b && e.Name == "" {
				e.Name = k
			}
		}
		if s, ok := m["description"].(string); ok {
			e.Description = s
		}
	} else if s := strings.TrimSpace(string(body)); s != "" {
		if len(s) > 200 {
			s = s[:200] + "…"
		}
		e.Description = s
	}
	if e.Name == "" {
		e.Name = strings.ReplaceAll(http.StatusText(status), " ", "")
	}
	return e
}
