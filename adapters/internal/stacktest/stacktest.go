// Package stacktest is what the adapters' real-service tests do about a
// service of the local stack (e2e/stack/stack.sh) they need: Require dials
// it, with a short timeout, at the start of every test that uses it. When
// it does not answer the test is skipped, loudly, or, when CI=true (in CI
// every service must be up), fails at once, in both cases with a message
// that names the service and the command that starts it. Without the
// check a stopped service costs each test its driver's timeouts (server
// selection, metadata retries: 10 to 30 s) and ends in a generic error.
//
// Nothing is cached: a service that stops in the middle of a run fails
// (or skips) the tests after it at once, and one that comes back is used
// again.
package stacktest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Service is a component of the local stack.
type Service struct {
	// Name is how messages name the service.
	Name string
	// Component is the service's name for e2e/stack/stack.sh.
	Component string
	// Env is the variable that points the tests at another server.
	Env string
}

// The stack's services (components of e2e/stack/stack.sh).
var (
	Kafka    = Service{Name: "Kafka", Component: "kafka", Env: "BACKBEAT_TEST_KAFKA_BROKERS"}
	Mongo    = Service{Name: "MongoDB (mongo-java-server)", Component: "mongo", Env: "BACKBEAT_TEST_MONGO_URI"}
	Redis    = Service{Name: "Redis", Component: "redis", Env: "BACKBEAT_TEST_REDIS_ADDR"}
	S3Source = Service{Name: "S3 source server (versitygw)", Component: "s3-source", Env: "BACKBEAT_TEST_S3_SOURCE"}
	S3SiteA  = Service{Name: "S3 site-a server (versitygw)", Component: "s3-site-a", Env: "BACKBEAT_TEST_S3_SITE_A"}
)

// DialTimeout bounds the check of one address. The stack listens on
// loopback, where a stopped service refuses the connection at once.
const DialTimeout = time.Second

// Require checks that svc answers at every one of addrs (host:port) and
// otherwise ends the test: t.Skipf when CI is unset, t.Fatalf when
// CI=true. Call it at the start of each test (or fixture) that uses svc.
func Require(t testing.TB, svc Service, addrs ...string) {
	t.Helper()
	require(t, svc, InCI(), addrs)
}

// InCI reports whether the environment says the tests run in CI (CI=true,
// or any value strconv.ParseBool takes as true): there a service the tests
// need must be up.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

func require(t testing.TB, svc Service, inCI bool, addrs []string) {
	t.Helper()
	if len(addrs) == 0 {
		t.Fatalf("stacktest: no address to check for %s", svc.Name)
		return
	}
	for _, addr := range addrs {
		err := dial(addr)
		if err == nil {
			continue
		}
		msg := Message(svc, addr, err)
		if inCI {
			t.Fatalf("%s\n(CI=true: a service the test needs is down, which fails the test instead of skipping it)", msg)
			return
		}
		t.Skipf("SKIPPED: %s\n(set CI=true to make this a failure)", msg)
		return
	}
}

func dial(addr string) error {
	if addr == "" {
		return errors.New("empty address")
	}
	conn, err := net.DialTimeout("tcp", addr, DialTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Message describes svc not answering at addr, and how to start it.
func Message(svc Service, addr string, err error) string {
	msg := fmt.Sprintf("%s is not answering at %s (%v): start it with `bash e2e/stack/stack.sh start %s` "+
		"(the whole stack: `go tool task stack:up`; status: `bash e2e/stack/stack.sh status`)",
		svc.Name, addr, err, svc.Component)
	if svc.Env != "" {
		msg += ", or set " + svc.Env + " to a running server"
	}
	return msg
}

// MongoAddrs returns the host:port addresses of a mongodb:// connection
// string (the default port is 27017), or nil when uri is not one (a
// mongodb+srv:// name is not an address to dial).
func MongoAddrs(uri string) []string {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		return nil
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	var addrs []string
	for h := range strings.SplitSeq(rest, ",") {
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "27017")
		}
		addrs = append(addrs, h)
	}
	return addrs
}
