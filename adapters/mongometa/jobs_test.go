package mongometa_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/jobstoretest"
	"github.com/openbackbeat/backbeat/ports/metadatatest"
)

func TestJobStoreContract(t *testing.T) {
	jobstoretest.Run(t, func(t *testing.T) ports.JobStore { return newStore(t) })
}

func TestVersionScannerContract(t *testing.T) {
	metadatatest.RunScanner(t, func(t *testing.T) (ports.VersionScanner, ports.MetadataWriter) {
		s := newStore(t)
		return s, s
	})
}
