package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/openbackbeat/backbeat/ports"
)

// Dead letters: bad input (a malformed message, an unusable journal
// document) is published with the reason it was rejected, never dropped
// silently and never left blocking its partition.

// DeadLetter is the record published to the dead-letter topic.
type DeadLetter struct {
	Reason  string            `json:"reason"`
	Source  string            `json:"source"` // topic or "journal"
	Key     string            `json:"key,omitempty"`
	Payload string            `json:"payload"`
	Headers map[string]string `json:"headers,omitempty"`
	At      time.Time         `json:"at"`
	// Truncated is the payload's original size when it was cut.
	Truncated int `json:"truncated,omitempty"`
}

// maxDeadLetterPayload bounds the input kept in a dead letter.
const maxDeadLetterPayload = 64 << 10

// deadLetter publishes bad input with the reason it was rejected, retrying
// until it is accepted or ctx ends: bad input is never dropped silently.
func deadLetter(ctx context.Context, pub ports.Publisher, topic, source string, m ports.Message, reason error, log *slog.Logger, tel *Telemetry) error {
	rec := DeadLetter{Reason: reason.Error(), Source: source, Key: m.Key, Payload: string(m.Payload), Headers: m.Headers, At: time.Now().UTC()}
	if len(rec.Payload) > maxDeadLetterPayload {
		// Keep the record publishable: the reason and the start of the
		// input say enough to find the rest at its source.
		rec.Payload = rec.Payload[:maxDeadLetterPayload]
		rec.Truncated = len(m.Payload)
	}
	payload, _ := json.Marshal(rec)
	log.WarnContext(ctx, "dead-lettered bad input", "source", source, "key", m.Key, "reason", rec.Reason)
	err := retryForever(ctx, func() error {
		return pub.Publish(ctx, topic, ports.Message{Key: m.Key, Payload: payload})
	}, log, "publish to dead-letter topic")
	if err == nil {
		tel.deadLettered(ctx, source)
	}
	return err
}
