package mongojournal

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/journaltest"
)

func TestJournalContract(t *testing.T) {
	journaltest.Run(t, func(t *testing.T) (ports.Journal, ports.MetadataWriter) {
		f := newFixture(t)
		return f.journal(), f.store
	})
}
