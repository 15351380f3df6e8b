// Package s3site reaches S3 sites with aws-sdk-go-v2: the source whose
// object versions are read (ports.ObjectSource) and the destination sites
// replicas are written to (ports.Destination, ports.ReplicaReader), plus
// the two admin calls the simulator needs (EnsureVersionedBucket,
// PutObject). New builds a Client for one endpoint; Client.Source,
// Client.Destination and Client.ReplicaReader hand out the ports.
//
// # Streaming, memory and integrity
//
// Data is never held whole. Open returns the GetObject body as it comes
// off the connection. Below Config.MultipartThreshold, Put streams that
// body into one PutObject: the payload is sent unsigned (UNSIGNED-PAYLOAD;
// signing would hash the whole body before sending it) and without the
// SDK's default CRC32, which needs a seekable body over plain HTTP. From
// the threshold on, Put reads the body part after part into at most
// MaxPartsInFlight reusable buffers and uploads those parts concurrently,
// so one copy holds at most MaxPartsInFlight*PartSize bytes whatever the
// object's size (a 100 MiB copy peaks at 37 MiB of Go heap with 4 parts of
// 8 MiB). Part buffers of the configured size are pooled between uploads.
// Any failure, cancellation included, aborts the multipart upload.
//
// Integrity: when the source's content-md5 is a plain MD5, PutObject sends
// it as Content-MD5 and the server refuses data that differs (BadDigest);
// a multipart copy computes the whole object's MD5 on a goroutine of its
// own, off the upload's critical path, and refuses to complete on a
// mismatch, and every part carries its CRC32C (x-amz-checksum-crc32c,
// hardware-accelerated), which the site checks: cheaper than a second MD5
// pass per part. A body
// shorter than the replica's Size fails as transient (a broken stream);
// a longer one fails as permanent, detected before its last byte is sent
// so that no version is stored.
//
// # Errors and retries
//
// One function, translate, classifies every S3 error at this boundary:
// missing key, version or bucket, refused access, bad credentials and any
// other 4xx wrap domain.ErrPermanent, with the S3 code and HTTP status in
// the message; 5xx, throttling, timeouts, BadDigest and network errors stay
// transient. The SDK retries nothing but part uploads (Config.PartAttempts):
// the application retries whole copies with its own policy, and a streamed
// PutObject body could not be sent twice anyway.
//
// # Idempotent writes
//
// Every replica carries x-amz-meta-scal-replication-status: REPLICA and
// x-amz-meta-scal-version-id: <source version id>. Before writing, Put
// (unless Config.SkipExistingCheck) looks for a version of the key that
// already replicates the same source version and returns it instead:
//
//   - HeadObject of the latest version: if it is the replica, done (one
//     call: the usual replay, a crash between the write and the ack).
//   - 404: the key does not exist, or its latest version is a delete
//     marker: write.
//   - Another latest version: list the key's versions (one page, newest
//     first) and HeadObject, at most 16 of them, those newer than the
//     newest delete marker whose size and MD5 ETag could match.
//
// A delete marker carries no metadata, so which source delete marker a
// destination marker replicates cannot be known: a delete marker is
// skipped only when the key's latest version already is a delete marker.
// That is also why the search stops at the newest delete marker. Replaying
// the versions of a key from some point on, in order, as a restarted
// replicator does, a delete marker in the replayed run finds data on top
// and is written again; had the data versions after it then been found
// below that marker and skipped, the key would end deleted while the
// source holds data. Stopping at the marker makes them be written again
// too: a run that holds a delete marker leaves duplicates, but the key
// always ends in the source's state, and runs without delete markers write
// nothing twice. Versions written to the destination by anyone else are
// not replicas and never match.
//
// The check costs one HeadObject per new key, and a HeadObject and a
// listing per new version of an existing key. Writing 4 KiB objects with
// 16 workers to the local versitygw (2 busy CPUs, so give or take a lot),
// it took new keys from 1400-2000 to 900-1400 objects/s and new versions
// of existing keys from 900-1600 to 400-780, while a replay that finds its
// replica runs at 2000-3700 (BenchmarkPut measures them).
//
// # versitygw (v1.8, posix backend with versioning)
//
// The local stack's S3 server differs from AWS S3 in ways this package
// works around or accepts (TestVersitygwBehaviour pins them):
//
//   - Versioned PutObject and CompleteMultipartUpload return the version
//     id, and HeadObject returns user metadata (the SDK lower-cases the
//     keys). Should a server not return the version id, Put looks it up.
//   - HeadObject of a key whose latest version is a delete marker answers
//     a bare 404, without x-amz-delete-marker: the existence check treats
//     both cases alike, and so needs no listing for new keys.
//   - DeleteObject of a key that does not exist adds no delete marker and
//     returns no version id (AWS S3 adds a marker): Put of a delete marker
//     for such a key returns an empty version id and no error.
//   - ListObjectVersions lists a key's versions newest first, but their
//     LastModified only to the second, while delete markers have
//     nanoseconds; the SDK returns versions and markers as two lists. They
//     are merged by time to the second, then by version id, versitygw's
//     ids being ULIDs that grow with time.
//   - A listing reads the key's whole directory: its cost grows with the
//     number of objects next to the key.
//   - An unknown access key gets 404 XAdminUserNotFound rather than 403
//     InvalidAccessKeyId; a HeadObject with a wrong secret gets a 403
//     without a code. Both are permanent.
//   - Tags are validated as AWS does: a tag value with '&' is refused
//     (InvalidTag, permanent).
//   - Without --keep-alive every request opens a new connection: small
//     objects go about 1.8 times faster with it.
//   - A PutObject with object lock settings to a bucket without object
//     lock stores the version, then answers 400 InvalidRequest "Bucket is
//     missing ObjectLockConfiguration". Put therefore reads the bucket's
//     object lock configuration first (remembered once enabled) and
//     refuses such a replica before writing anything.
//   - GetObject leaves out the object lock headers; HeadObject has them.
package s3site
