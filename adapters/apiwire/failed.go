package apiwire

// The failed-version routes use upstream's capitalised member names.

// VersionEntry is what every entry of the failed routes begins with: a
// version and the site (StorageClass) it is listed for.
type VersionEntry struct {
	Bucket       string `json:"Bucket"`
	Key          string `json:"Key"`
	VersionID    string `json:"VersionId"`
	StorageClass string `json:"StorageClass"`
	Size         int64  `json:"Size"`
	LastModified string `json:"LastModified"`
}

// FailedVersion is a version that failed to replicate to a site: one
// entry of GET /_/crr/failed.
type FailedVersion struct {
	VersionEntry
	// FailedAt (when the entry was listed) and Reason (why the site's copy
	// failed, its replicationInfo) are this service's additions to
	// upstream's listing.
	FailedAt string `json:"FailedAt,omitempty"`
	Reason   string `json:"Reason,omitempty"`
}

// FailedPage is one page of failed versions.
type FailedPage struct {
	IsTruncated bool `json:"IsTruncated"`
	// NextMarker, when IsTruncated, resumes the listing.
	NextMarker *int64          `json:"NextMarker,omitempty"`
	Versions   []FailedVersion `json:"Versions"`
}

// RetryEntry names a failed version to retry for a site (StorageClass):
// POST /_/crr/failed takes an array of them.
type RetryEntry struct {
	Bucket       string `json:"Bucket"`
	Key          string `json:"Key"`
	VersionID    string `json:"VersionId"`
	StorageClass string `json:"StorageClass"`
	// ForceRetry retries even if the version is not listed as failed.
	ForceRetry bool `json:"ForceRetry,omitempty"`
}

// RetriedVersion is a version queued again for replication: one entry of
// the retry's answer.
type RetriedVersion struct {
	VersionEntry
	ReplicationStatus string `json:"ReplicationStatus"`
}
