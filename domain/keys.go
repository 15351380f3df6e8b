package domain

import (
	"fmt"
	"strings"
)

// VersionSeparator separates a key from its version id in a versioned key.
const VersionSeparator = "\x00"

// Metadata key prefixes of the v1 bucket format.
const (
	V1MasterPrefix  = "\x7fM"
	V1VersionPrefix = "\x7fV"
)

// VersionedKey is how the metadata journal names a version: key + NUL +
// versionId.
func VersionedKey(key, versionID string) string {
	return key + VersionSeparator + versionID
}

// SplitVersionedKey splits a journal key into object key and version id.
// A master key (no separator) returns isVersion=false.
func SplitVersionedKey(vkey string) (key, versionID string, isVersion bool) {
	key, versionID, isVersion = strings.Cut(vkey, VersionSeparator)
	return key, versionID, isVersion
}

// NormalizeKey turns a metadata document id of either bucket format into
// the v0 form (master `key`, version `key\0versionId`).
func NormalizeKey(id, vFormat string) (string, error) {
	switch vFormat {
	case "", "v0":
		return id, nil
	case "v1":
		if k, ok := strings.CutPrefix(id, V1VersionPrefix); ok {
			return k, nil
		}
		if k, ok := strings.CutPrefix(id, V1MasterPrefix); ok {
			return k, nil
		}
		return "", fmt.Errorf("metadata key %q has no v1 prefix", id)
	}
	return "", fmt.Errorf("unknown bucket key format %q", vFormat)
}

// DocumentID is the inverse of NormalizeKey: the document id of a version
// (versionID set) or a master (versionID empty) in the given format.
func DocumentID(key, versionID, vFormat string) string {
	id := key
	if versionID != "" {
		id = VersionedKey(key, versionID)
	}
	if vFormat != "v1" {
		return id
	}
	if versionID != "" {
		return V1VersionPrefix + id
	}
	return V1MasterPrefix + id
}

// OrderingKey is the bus key of every entry about bucket/key: versions of one
// key share it, so they stay in order. It is URI-encoded as upstream does
// with encodeURIComponent.
func OrderingKey(bucket, key string) string {
	return encodeURIComponent(bucket + "/" + key)
}

func encodeURIComponent(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
