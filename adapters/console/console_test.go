package console_test

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/adapters/console"
)

func serve(t *testing.T, method, name string) (*httptest.ResponseRecorder, bool) {
	t.Helper()
	rec := httptest.NewRecorder()
	ok := console.ServeFile(rec, httptest.NewRequest(method, "/_/console/"+name, nil), name)
	return rec, ok
}

// TestEveryFileIsServed serves each embedded file with its type, and the
// page for "".
func TestEveryFileIsServed(t *testing.T) {
	files, err := fs.ReadDir(console.Files(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 6 {
		t.Fatalf("only %d files embedded", len(files))
	}
	want := map[string]string{".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".LICENSE": "text/plain"}
	for _, f := range append(files, nil) {
		name, ext := "", ".html"
		if f != nil {
			name = f.Name()
			ext = name[strings.LastIndex(name, "."):]
		}
		rec, ok := serve(t, http.MethodGet, name)
		if !ok || rec.Code != http.StatusOK {
			t.Errorf("%q: served %v, status %d", name, ok, rec.Code)
			continue
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, want[ext]) {
			t.Errorf("%q: Content-Type %q, want %s", name, ct, want[ext])
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Body.Len() == 0 {
			t.Errorf("%q: no security policy or an empty body", name)
		}
	}
	if rec, _ := serve(t, http.MethodHead, ""); rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD: body of %d bytes, Content-Length %q", rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	for _, name := range []string{"nope.js", "static/console.js", "../console.go", "doc.go", "uPlot.LICENSE/x"} {
		if rec, ok := serve(t, http.MethodGet, name); ok || rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("%q: served %v (%d, %d bytes), want nothing written", name, ok, rec.Code, rec.Body.Len())
		}
	}
}

// TestPageLoadsOnlyItsOwnFiles checks that the page refers to files it
// embeds and to nothing on another host.
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	page, err := fs.ReadFile(console.Files(), console.Page)
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"#]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 4 {
		t.Fatalf("only %d references in the page", len(refs))
	}
	for _, r := range refs {
		ref := r[1]
		if ref == "data:," {
			continue
		}
		name, ok := strings.CutPrefix(ref, "/_/console/")
		if !ok {
			t.Errorf("the page loads %s, outside the console", ref)
			continue
		}
		if _, err := fs.Stat(console.Files(), name); err != nil {
			t.Errorf("the page loads %s, which is not embedded", ref)
		}
	}
}
