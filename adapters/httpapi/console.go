package httpapi

import (
	"net/http"

	"github.com/openbackbeat/backbeat/adapters/console"
)

// console answers GET /, /_/console and /_/console/<asset>: the operator
// console's page and the files it loads (adapters/console).
func (a *api) console(w http.ResponseWriter, r *http.Request, p params) error {
	if !console.ServeFile(w, r, p["asset"]) {
		return errPathNotFound(r)
	}
	return nil
}
