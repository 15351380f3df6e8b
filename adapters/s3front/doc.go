// Package s3front is an S3 endpoint that plays CloudServer's part of
// replication in the local stack and in tests (`backbeat s3`): object data
// goes to the source S3 server (versitygw) as the client signed it,
// streamed through a reverse proxy, and each new version's metadata is
// then written in the CloudServer layout through app.Simulator's writer,
// with replicationInfo PENDING when a rule matches. PutBucketReplication,
// which versitygw lacks, is answered here and validated by domain.
//
// In production CloudServer itself is the source endpoint and this front
// is not used. Every request's SigV4 signature is checked with
// aws-sdk-go-v2's signer before anything is forwarded or answered.
package s3front
