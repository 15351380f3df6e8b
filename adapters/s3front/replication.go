package s3front

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/openbackbeat/backbeat/domain"
	"github.com/openbackbeat/backbeat/ports"
)

// versioningRequired is S3's message when a bucket without versioning is
// given a replication configuration.
const versioningRequired = "versioning must be 'Enabled' on the bucket to apply a replication configuration"

// bucketOf reads a bucket's document, as S3 errors.
func (f *Front) bucketOf(ctx context.Context, name string) (domain.Bucket, *s3Error) {
	b, err := f.meta.Bucket(ctx, name)
	if errors.Is(err, ports.ErrNotFound) {
		return domain.Bucket{}, errorf(http.StatusNotFound, "NoSuchBucket", "the specified bucket does not exist: "+name)
	}
	if err != nil {
		return domain.Bucket{}, errorf(http.StatusInternalServerError, "InternalError", "reading bucket "+name+": "+err.Error())
	}
	return b, nil
}

// configError maps a parse or validation error to the S3 error clients
// expect: not well-formed XML is MalformedXML; a value of a field (role,
// destination bucket, storage class) that is refused is InvalidArgument;
// any other invalid configuration (rules, IDs, prefixes) InvalidRequest.
// The message names every field and its problem.
func configError(err error) *s3Error {
	var ce *domain.ConfigError
	if !errors.As(err, &ce) {
		return errorf(http.StatusBadRequest, "MalformedXML", "the XML you provided was not well-formed or did not validate against our published schema: "+err.Error())
	}
	code := "InvalidRequest"
	for _, p := range ce.Problems {
		if p.Field == "Role" || strings.HasSuffix(p.Field, ".Destination.Bucket") || strings.HasSuffix(p.Field, ".Destination.StorageClass") {
			code = "InvalidArgument"
			break
		}
	}
	return errorf(http.StatusBadRequest, code, err.Error())
}

func (f *Front) putReplication(w http.ResponseWriter, r *http.Request, bucket string, body []byte) {
	cfg, err := domain.ParseReplicationConfigXML(body)
	if err == nil {
		err = cfg.Validate(f.sites)
	}
	if err != nil {
		writeError(w, r, configError(err))
		return
	}
	f.bucket.Lock()
	defer f.bucket.Unlock()
	b, e := f.bucketOf(r.Context(), bucket)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if !b.VersioningEnabled {
		writeError(w, r, errorf(http.StatusBadRequest, "InvalidRequest", versioningRequired))
		return
	}
	b.Replication = &cfg
	if err := f.sim.Metadata.PutBucket(r.Context(), b); err != nil {
		writeError(w, r, errorf(http.StatusInternalServerError, "InternalError", "storing the replication configuration: "+err.Error()))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (f *Front) getReplication(w http.ResponseWriter, r *http.Request, bucket string) {
	b, e := f.bucketOf(r.Context(), bucket)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if b.Replication == nil {
		writeError(w, r, errorf(http.StatusNotFound, "ReplicationConfigurationNotFoundError", "the replication configuration was not found"))
		return
	}
	doc, err := domain.MarshalReplicationConfigXML(*b.Replication)
	if err != nil {
		writeError(w, r, errorf(http.StatusInternalServerError, "InternalError", err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

func (f *Front) deleteReplication(w http.ResponseWriter, r *http.Request, bucket string) {
	f.bucket.Lock()
	defer f.bucket.Unlock()
	b, e := f.bucketOf(r.Context(), bucket)
	if e != nil {
		writeError(w, r, e)
		return
	}
	if b.Replication != nil {
		b.Replication = nil
		if err := f.sim.Metadata.PutBucket(r.Context(), b); err != nil {
			writeError(w, r, errorf(http.StatusInternalServerError, "InternalError", "deleting the replication configuration: "+err.Error()))
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
