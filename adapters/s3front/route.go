package s3front

import (
	"net/http"
	"strings"
)

// route is what the front does with a request.
type route int

const (
	// routeForward passes the request to the source S3 server unchanged.
	routeForward route = iota
	routePutReplication
	routeGetReplication
	routeDeleteReplication
	// routeCreateBucket forwards, then records the bucket in __metastore.
	routeCreateBucket
	// routePutVersioning forwards, then records the versioning status.
	routePutVersioning
	// routeWriteObject (PUT, copy) and routeCompleteMultipart forward, then
	// record the new version's metadata.
	routeWriteObject
	routeCompleteMultipart
	routePutTagging
	routeDeleteTagging
	// routeDeleteObject forwards; without a version id it records the
	// delete marker that the source created.
	routeDeleteObject
	// routeDeleteObjects (POST ?delete) forwards, then records what each
	// object's delete did, as routeDeleteObject does for one.
	routeDeleteObjects
	// routeReadObject forwards HEAD and GET of an object and adds
	// x-amz-replication-status.
	routeReadObject
)

var routeNames = [...]string{"forward", "put-replication", "get-replication", "delete-replication", "create-bucket",
	"put-versioning", "write-object", "complete-multipart", "put-tagging", "delete-tagging", "delete-object", "delete-objects", "read-object"}

func (r route) String() string { return routeNames[r] }

// plainQuery holds the query parameters that do not name a sub-resource:
// a request with only these acts on the object (or bucket) itself.
func plainQuery(name string) bool {
	return name == "versionId" || name == "partNumber" || name == "x-id" || strings.HasPrefix(name, "response-")
}

// classify names the route of a path-style request and its bucket and key.
func classify(r *http.Request) (rt route, bucket, key string) {
	bucket, key, _ = strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return routeForward, "", ""
	}
	q := unescapedQuery(r)
	sub := ""
	for name := range q {
		if !plainQuery(name) {
			if sub != "" {
				sub = "*" // several sub-resources: not one we answer
				break
			}
			sub = name
		}
	}
	if key == "" {
		switch {
		case sub == "replication" && r.Method == http.MethodPut:
			return routePutReplication, bucket, ""
		case sub == "replication" && r.Method == http.MethodGet:
			return routeGetReplication, bucket, ""
		case sub == "replication" && r.Method == http.MethodDelete:
			return routeDeleteReplication, bucket, ""
		case sub == "versioning" && r.Method == http.MethodPut:
			return routePutVersioning, bucket, ""
		case sub == "" && r.Method == http.MethodPut:
			return routeCreateBucket, bucket, ""
		case sub == "delete" && r.Method == http.MethodPost:
			return routeDeleteObjects, bucket, ""
		}
		return routeForward, bucket, ""
	}
	switch {
	case sub == "" && r.Method == http.MethodPut && !q.Has("partNumber"):
		return routeWriteObject, bucket, key
	case sub == "uploadId" && r.Method == http.MethodPost:
		return routeCompleteMultipart, bucket, key
	case sub == "tagging" && r.Method == http.MethodPut:
		return routePutTagging, bucket, key
	case sub == "tagging" && r.Method == http.MethodDelete:
		return routeDeleteTagging, bucket, key
	case sub == "" && r.Method == http.MethodDelete:
		return routeDeleteObject, bucket, key
	case sub == "" && (r.Method == http.MethodHead || r.Method == http.MethodGet):
		return routeReadObject, bucket, key
	}
	return routeForward, bucket, key
}
