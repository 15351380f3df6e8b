package mongometa_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/findingstest"
)

func TestFindingStoreContract(t *testing.T) {
	findingstest.Run(t, func(t *testing.T) ports.FindingStore { return newStore(t) })
}
