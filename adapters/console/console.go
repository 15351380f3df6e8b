package console

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed static
var static embed.FS

// Page is the name of the page among Files; "" names it too.
const Page = "index.html"

// Files are the console's files: the page and what it loads.
func Files() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // static is embedded: it always exists
	}
	return sub
}

// contentTypes are the types of the files served, by extension.
var contentTypes = map[string]string{
	".html":    "text/html; charset=utf-8",
	".js":      "text/javascript; charset=utf-8",
	".css":     "text/css; charset=utf-8",
	".LICENSE": "text/plain; charset=utf-8",
}

// securityPolicy lets the page load only its own files and talk only to
// its own origin (the API). uPlot sizes its elements with inline styles.
const securityPolicy = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

// ServeFile answers the console file name ("" for the page), reporting
// false, with nothing written, when there is no such file.
func ServeFile(w http.ResponseWriter, r *http.Request, name string) bool {
	if name == "" {
		name = Page
	}
	ct, ok := contentTypes[path.Ext(name)]
	if !ok || strings.Contains(name, "/") {
		return false
	}
	body, err := fs.ReadFile(Files(), name)
	if err != nil {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// A new binary may serve new files under the same names.
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", securityPolicy)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return true
}
