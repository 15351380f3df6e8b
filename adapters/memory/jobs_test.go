package memory_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/adapters/memory"
	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/failurestest"
	"github.com/openbackbeat/backbeat/ports/jobstoretest"
	"github.com/openbackbeat/backbeat/ports/metadatatest"
)

func TestJobStoreContract(t *testing.T) {
	jobstoretest.Run(t, func(t *testing.T) ports.JobStore { return memory.NewJobs() })
}

func TestVersionScannerContract(t *testing.T) {
	metadatatest.RunScanner(t, func(t *testing.T) (ports.VersionScanner, ports.MetadataWriter) {
		m := memory.NewMetadata()
		return m, m
	})
}

func TestRenewableLockerContract(t *testing.T) {
	failurestest.RunRenewableLocker(t, func(t *testing.T) ports.RenewableLocker { return memory.NewLocker() })
}
