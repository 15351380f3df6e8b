package mongometa_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/jobstoretest"
)

func TestJobStoreKeepsVerifyJobs(t *testing.T) {
	jobstoretest.RunVerify(t, func(t *testing.T) ports.JobStore { return newStore(t) })
}
