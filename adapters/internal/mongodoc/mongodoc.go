// Package mongodoc is what the MongoDB adapters share about CloudServer's
// metadata database (the layout of scality/Arsenal's MongoClientInterface):
// connecting, the defaults, field-name escaping, the conversion of stored
// metadata values to and from CloudServer's JSON, and the reading of bucket
// documents in __metastore. mongometa (the metadata store) and mongojournal
// (the change streams) both build on it, so that neither depends on the
// other.
package mongodoc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Defaults of the adapters' configurations.
const (
	DefaultDatabase = "metadata"
	DefaultTimeout  = 10 * time.Second
)

// MetastoreCollection is CloudServer's collection of bucket attributes.
const MetastoreCollection = "__metastore"

// Connect opens a MongoDB client for uri and checks the server answers
// within timeout. Server selection and connection setup are bounded by
// timeout too, so calls fail instead of hanging while the server is away.
func Connect(ctx context.Context, uri string, timeout time.Duration) (*mongo.Client, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb connect %s: %w", RedactURI(uri), err)
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := client.Ping(pctx, nil); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mongodb ping %s: %w", RedactURI(uri), err)
	}
	return client, nil
}

// RedactURI hides the password of a connection string, for messages.
func RedactURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	creds, host, ok := strings.Cut(rest, "@")
	if !ok {
		return uri
	}
	user, _, hasPass := strings.Cut(creds, ":")
	if !hasPass {
		return uri
	}
	return scheme + "://" + user + ":***@" + host
}
