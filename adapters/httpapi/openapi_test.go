package httpapi

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

const openapiToken = "openapi-token"

// openapiCall is one request built from an operation of the document.
type openapiCall struct {
	method, path, target string
	op                   *operation
}

// calls expands every operation of doc into requests: path parameters get
// values that exist in the fixture (every enum value for enumerated ones).
func openapiCalls(t *testing.T, doc *openAPIDoc) []openapiCall {
	t.Helper()
	values := map[string][]string{"bucket": {"bkt-oa"}, "key": {"dir/obj"}, "versionId": {"v1"}, "id": {openapiJobID}}
	var calls []openapiCall
	for path, ops := range doc.Paths {
		for method, op := range ops {
			method = strings.ToUpper(method)
			targets := []string{path}
			query := []string{}
			for _, p := range op.Parameters {
				p = doc.param(p)
				if p == nil {
					t.Fatalf("%s %s: unresolved parameter", method, path)
				}
				switch p.In {
				case "path":
					vals := values[p.Name]
					if p.Name == "site" {
						vals = []string{"site-a"}
					}
					if p.Schema != nil && len(p.Schema.Enum) > 0 {
						vals = nil
						for _, e := range p.Schema.Enum {
							vals = append(vals, e.(string))
						}
					}
					if len(vals) == 0 {
						t.Fatalf("%s %s: no test value for path parameter %s", method, path, p.Name)
					}
					var next []string
					for _, tg := range targets {
						for _, v := range vals {
							next = append(next, strings.ReplaceAll(tg, "{"+p.Name+"}", v))
						}
					}
					targets = next
				case "query":
					if p.Required {
						query = append(query, p.Name+"="+values[p.Name][0])
					}
				}
			}
			for _, tg := range targets {
				if strings.Contains(tg, "{") {
					t.Fatalf("%s %s: path parameter without a declared parameter: %s", method, path, tg)
				}
				if len(query) > 0 {
					tg += "?" + strings.Join(query, "&")
				}
				calls = append(calls, openapiCall{method: method, path: path, target: tg, op: op})
			}
		}
	}
	slices.SortFunc(calls, func(a, b openapiCall) int { return strings.Compare(a.method+a.target, b.method+b.target) })
	return calls
}

// openapiJobID is a running backfill job of the fixture.
const openapiJobID = "bf-openapi"

func openapiFixture(t *testing.T) *fixture {
	f := newFixture(t, withToken(openapiToken), withBackfill(t, openapiJobID), withVerify(t, openapiJobID))
	f.putVersion("bkt-oa", "dir/obj", "v1", 42, map[string]domain.Status{"site-a": domain.StatusFailed})
	f.fail("site-a", "bkt-oa", "dir/obj", "v1", time.Minute)
	f.record("site-a", ports.MetricQueued, 3, 10)
	f.record("site-a", ports.MetricCompleted, 1, 10)
	return f
}

// checkResponse checks that the answer's status is documented for the
// operation and that its body fits the documented schema.
func checkResponse(t *testing.T, doc *openAPIDoc, c openapiCall, rec *httptest.ResponseRecorder) {
	t.Helper()
	resp := doc.response(c.op.Responses[strconv.Itoa(rec.Code)])
	if resp == nil {
		t.Errorf("%s %s: status %d is not documented; body %s", c.method, c.target, rec.Code, rec.Body)
		return
	}
	if len(resp.Content) == 0 {
		return
	}
	ct := rec.Header().Get("Content-Type")
	var mt *mediaType
	for name, m := range resp.Content {
		if strings.HasPrefix(ct, name) {
			mt = m
		}
	}
	if mt == nil {
		t.Errorf("%s %s: Content-Type %q is not documented for %d", c.method, c.target, ct, rec.Code)
		return
	}
	if !strings.HasPrefix(ct, "application/json") {
		return
	}
	v, err := decodeJSON(rec.Body.Bytes())
	if err != nil {
		t.Errorf("%s %s: body is not JSON: %v", c.method, c.target, err)
		return
	}
	for _, p := range doc.validate(mt.Schema, v, "body") {
		t.Errorf("%s %s (%d): %s; body %s", c.method, c.target, rec.Code, p, rec.Body)
	}
}

// TestOpenAPIMatchesHandler walks every operation of openapi.yaml: the
// handler serves it (not 404 or 405), answers a documented status, and the
// body fits the documented schema; the error answers each operation can
// give are documented too.
func TestOpenAPIMatchesHandler(t *testing.T) {
	t.Parallel()
	doc, err := parseOpenAPI(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	calls := openapiCalls(t, doc)
	if len(calls) < 25 {
		t.Fatalf("only %d calls from the document", len(calls))
	}
	for _, c := range calls {
		t.Run(c.method+" "+c.target, func(t *testing.T) {
			t.Parallel()
			f := openapiFixture(t)
			auth := []string{"Authorization", "Bearer " + openapiToken}
			var body any
			if c.op.RequestBody != nil {
				for _, m := range c.op.RequestBody.Content {
					body = m.Example
				}
				if body == nil && c.op.RequestBody.Required {
					t.Fatalf("required request body without an example")
				}
			}
			if c.method == http.MethodPost && strings.Contains(c.path, "schedule") {
				f.setState("site-a", ports.SiteState{Paused: true})
			}
			rec := f.do(c.method, c.target, body, auth...)
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed || rec.Code >= 500 {
				t.Fatalf("not served: %d %s", rec.Code, rec.Body)
			}
			if rec.Code != http.StatusOK {
				t.Errorf("status %d, want 200: %s", rec.Code, rec.Body)
			}
			checkResponse(t, doc, c, rec)

			// The errors the operation can answer are documented.
			if c.op.Security != nil {
				checkResponse(t, doc, c, f.do(c.method, c.target, body))
				checkResponse(t, doc, c, f.do(c.method, c.target, body, "Authorization", "Bearer wrong"))
			}
			if strings.Contains(c.path, "{site}") {
				bad := strings.Replace(c.target, "site-a", "no-such-site", 1)
				rec := f.do(c.method, bad, body, auth...)
				if rec.Code != http.StatusNotFound {
					t.Errorf("unknown site: %d, want 404", rec.Code)
				}
				checkResponse(t, doc, openapiCall{c.method, c.path, bad, c.op}, rec)
			}
			if c.op.RequestBody != nil {
				rec := f.do(c.method, c.target, `{"hours": "x"} [`, auth...)
				if rec.Code != http.StatusBadRequest {
					t.Errorf("bad body: %d, want 400", rec.Code)
				}
				checkResponse(t, doc, c, rec)
			}
			if c.method == http.MethodPost || c.method == http.MethodDelete {
				rec := f.do(c.method, c.target, strings.Repeat(" ", DefaultMaxBodyBytes+1), auth...)
				if rec.Code != http.StatusRequestEntityTooLarge {
					t.Errorf("large body: %d, want 413", rec.Code)
				}
				checkResponse(t, doc, c, rec)
			}
		})
	}
}

// TestOpenAPICoversRoutes checks that the document and the router list the
// same operations, and that every operation has an id and answers 200.
func TestOpenAPICoversRoutes(t *testing.T) {
	t.Parallel()
	doc, err := parseOpenAPI(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if op.OperationID == "" || ids[op.OperationID] {
				t.Errorf("%s %s: operationId %q missing or duplicated", method, path, op.OperationID)
			}
			ids[op.OperationID] = true
			if doc.response(op.Responses["200"]) == nil {
				t.Errorf("%s %s: no 200 response", method, path)
			}
			if m := strings.ToUpper(method); (m == http.MethodPost || m == http.MethodDelete) != (op.Security != nil) {
				t.Errorf("%s %s: security must be declared exactly on mutating operations", method, path)
			}
		}
	}
	served := map[string]bool{}
	for _, rt := range New(Deps{}, Config{}).(*api).routes {
		served[rt.method+" "+rt.pattern] = true
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.yaml", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is in openapi.yaml but not served", op)
		}
	}
}

// TestOpenAPIExamples checks the examples of the document's schemas.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	doc, err := parseOpenAPI(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if op.RequestBody == nil {
				continue
			}
			for _, m := range op.RequestBody.Content {
				if m.Example == nil {
					continue
				}
				v, err := decodeJSON([]byte(mustJSON(m.Example)))
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range doc.validate(m.Schema, v, "example") {
					t.Errorf("%s %s: %s", method, path, p)
				}
			}
		}
	}
}

// TestSchemaValidator checks that the test's validator does catch
// mismatches, so that TestOpenAPIMatchesHandler means something.
func TestSchemaValidator(t *testing.T) {
	t.Parallel()
	doc, err := parseOpenAPI(OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		schema, body string
		want         int
	}{
		{"FailedPage", `{"IsTruncated":false,"Versions":[]}`, 0},
		{"FailedPage", `{"IsTruncated":"no","Versions":[{"Bucket":"b"}],"Extra":1}`, 7},
		{"AllSiteMetrics", `{"backlog":{"description":"d","results":{"count":1,"size":2}}}`, 4},
		{"RateMetric", `{"description":"d","results":{"count":"1.5","size":"2.00"}}`, 1},
		{"CountMetric", `{"description":"d","results":{"count":1,"size":2},"windowSeconds":0}`, 1},
		{"Error", `{"code":404,"message":"RouteNotFound","description":"x","RouteNotFound":true}`, 0},
		{"Error", `{"code":"404","message":"RouteNotFound","RouteNotFound":"yes"}`, 3},
		{"SiteStatus", `{"a":"enabled","b":"paused"}`, 1},
	} {
		v, err := decodeJSON([]byte(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := doc.validate(&schema{Ref: "#/components/schemas/" + c.schema}, v, "body"); len(got) != c.want {
			t.Errorf("%s %s: %d problems, want %d: %v", c.schema, c.body, len(got), c.want, got)
		}
	}
}
