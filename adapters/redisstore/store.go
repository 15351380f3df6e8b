package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Store is a connection pool to one Redis server, from which the port
// adapters are made. They share its connections.
type Store struct {
	cfg Config
	rdb *redis.Client
}

// New returns a store for cfg. It connects lazily: call Healthy to check
// the server at startup.
func New(cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rdb := redis.NewClient(&redis.Options{
		Addr:       cfg.Addr,
		Password:   cfg.Password,
		DB:         cfg.DB,
		ClientName: cfg.ClientName,
		// RESP2: pub/sub then needs no push-notification machinery, and
		// every Redis from 2.x on speaks it.
		Protocol: 2,
	})
	return &Store{cfg: cfg, rdb: rdb}, nil
}

// Healthy pings the server.
func (s *Store) Healthy(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping %s: %w", s.cfg.Addr, err)
	}
	return nil
}

// Close closes the connections. Watches should be ended (their context
// cancelled) first.
func (s *Store) Close() error {
	if err := s.rdb.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// key prefixes name with the configured KeyPrefix.
func (s *Store) key(name string) string { return s.cfg.KeyPrefix + name }
