package mongometa_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/checkpointtest"
	"github.com/openbackbeat/backbeat/ports/leasetest"
	"github.com/openbackbeat/backbeat/ports/metadatatest"
)

func TestMetadataContract(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) (ports.MetadataStore, ports.MetadataWriter) {
		s := newStore(t)
		return s, s
	})
}

func TestCheckpointsContract(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) ports.Checkpoints { return newStore(t) })
	leasetest.Run(t, func(t *testing.T) ports.LeasedCheckpoints { return newStore(t) })
}
