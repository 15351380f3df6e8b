package redisstore

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Defaults of Config.
const (
	DefaultAddr       = "127.0.0.1:6379"
	DefaultClientName = "backbeat"
	// DefaultFailureExpiry and DefaultMetricsExpiry are upstream's: 24 h
	// (monitorReplicationFailureExpiryTimeS, StatsModel EXPIRY) plus one
	// 5-minute metrics interval.
	DefaultFailureExpiry = 24*time.Hour + 5*time.Minute
	DefaultMetricsExpiry = 24*time.Hour + 5*time.Minute
)

// Config reaches a Redis server. The zero value of every field means its
// default.
type Config struct {
	// Addr is the server's host:port.
	Addr     string `yaml:"addr"`
	Password string `yaml:"password" secret:"true"`
	DB       int    `yaml:"db"`
	// ClientName names the connections in CLIENT LIST (default backbeat).
	ClientName string `yaml:"clientName"`
	// KeyPrefix starts every key and channel name this package uses, so
	// that several deployments (or tests) share a server. Empty (the
	// default) gives upstream Backbeat's exact key names.
	KeyPrefix string `yaml:"keyPrefix"`
	// FailureExpiry is how long a failure hour key lives after its last
	// write (default 24 h 5 min); List, Find and Remove look that far back.
	FailureExpiry time.Duration `yaml:"failureExpiry"`
	// MetricsExpiry is how long a 5-minute metrics bucket lives after its
	// last write (default 24 h 5 min); Site reads at most that far back.
	MetricsExpiry time.Duration `yaml:"metricsExpiry"`
	// Logger receives warnings (malformed members, failed lock releases,
	// watch errors); nil means slog.Default().
	Logger *slog.Logger `yaml:"-"`
}

// WithDefaults returns c with every unset field set to its default.
func (c Config) WithDefaults() Config {
	c.Addr = cmp.Or(c.Addr, DefaultAddr)
	c.ClientName = cmp.Or(c.ClientName, DefaultClientName)
	c.FailureExpiry = cmp.Or(c.FailureExpiry, DefaultFailureExpiry)
	c.MetricsExpiry = cmp.Or(c.MetricsExpiry, DefaultMetricsExpiry)
	c.Logger = cmp.Or(c.Logger, slog.Default())
	return c
}

// Validate reports every problem of c (after defaults) at once.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("redisstore: "+format, args...))
	}
	if host, port, err := net.SplitHostPort(c.Addr); err != nil || host == "" || port == "" {
		add("addr %q is not host:port", c.Addr)
	}
	if strings.ContainsAny(c.ClientName, " \n\r\t") {
		add("clientName %q holds white space, which Redis refuses", c.ClientName)
	}
	if c.DB < 0 {
		add("db %d is negative", c.DB)
	}
	if c.FailureExpiry < time.Hour {
		add("failureExpiry %s is under an hour, the span of one failure key", c.FailureExpiry)
	}
	if c.MetricsExpiry < metricsInterval {
		add("metricsExpiry %s is under the %s metrics interval", c.MetricsExpiry, metricsInterval)
	}
	return errors.Join(errs...)
}
