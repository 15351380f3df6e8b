package redisstore_test

import (
	"testing"

	"github.com/openbackbeat/backbeat/ports"
	"github.com/openbackbeat/backbeat/ports/failurestest"
)

func TestRenewableLockerContract(t *testing.T) {
	failurestest.RunRenewableLocker(t, func(t *testing.T) ports.RenewableLocker { return newEnv(t).store(t).Locker() })
}
