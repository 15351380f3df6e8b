package domain_test

import (
	"strings"
	"testing"

	"github.com/openbackbeat/backbeat/domain"
)

func TestSplitVersionedKey(t *testing.T) {
	tests := []struct {
		vkey, key, vid string
		isVersion      bool
	}{
		{"photos/cat.jpg\x00v1", "photos/cat.jpg", "v1", true},
		{"photos/cat.jpg", "photos/cat.jpg", "", false},
		{"k\x00", "k", "", true},
		{"\x00v1", "", "v1", true},
		{"", "", "", false},
		{"a\x00b\x00c", "a", "b\x00c", true}, // the first NUL separates
		{"é/ü\x00v", "é/ü", "v", true},
	}
	for _, tt := range tests {
		key, vid, isVersion := domain.SplitVersionedKey(tt.vkey)
		if key != tt.key || vid != tt.vid || isVersion != tt.isVersion {
			t.Errorf("SplitVersionedKey(%q) = %q, %q, %v; want %q, %q, %v", tt.vkey, key, vid, isVersion, tt.key, tt.vid, tt.isVersion)
		}
	}
	if got := domain.VersionedKey("a/b", "v9"); got != "a/b\x00v9" {
		t.Errorf("VersionedKey = %q", got)
	}
	key, vid, ok := domain.SplitVersionedKey(domain.VersionedKey("x y", "123"))
	if key != "x y" || vid != "123" || !ok {
		t.Errorf("SplitVersionedKey(VersionedKey) = %q, %q, %v", key, vid, ok)
	}
}

func TestNormalizeKey(t *testing.T) {
	tests := []struct {
		name, id, vFormat, want string
		wantErr                 bool
	}{
		{"v0 master", "a/b", "v0", "a/b", false},
		{"v0 version", "a/b\x00v1", "v0", "a/b\x00v1", false},
		{"no format is v0", "a/b\x00v1", "", "a/b\x00v1", false},
		{"v0 keeps what looks like a v1 prefix", "\x7fMa", "v0", "\x7fMa", false},
		{"v1 master", "\x7fMa/b", "v1", "a/b", false},
		{"v1 version", "\x7fVa/b\x00v1", "v1", "a/b\x00v1", false},
		{"v1 empty master key", "\x7fM", "v1", "", false},
		{"v1 without prefix", "a/b", "v1", "", true},
		{"v1 with another prefix", "\x7fXa", "v1", "", true},
		{"unknown format", "a", "v2", "", true},
		{"format is case sensitive", "a", "V0", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.NormalizeKey(tt.id, tt.vFormat)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("NormalizeKey(%q, %q) = %q, %v; want %q, error %v", tt.id, tt.vFormat, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.vFormat) && !strings.Contains(err.Error(), "prefix") {
				t.Errorf("error %q names neither the format nor the prefix", err)
			}
		})
	}
}

func TestDocumentID(t *testing.T) {
	tests := []struct {
		key, vid, vFormat, want string
	}{
		{"a/b", "", "v0", "a/b"},
		{"a/b", "v1", "v0", "a/b\x00v1"},
		{"a/b", "v1", "", "a/b\x00v1"},
		{"a/b", "", "v1", "\x7fMa/b"},
		{"a/b", "v1", "v1", "\x7fVa/b\x00v1"},
	}
	for _, tt := range tests {
		got := domain.DocumentID(tt.key, tt.vid, tt.vFormat)
		if got != tt.want {
			t.Errorf("DocumentID(%q, %q, %q) = %q, want %q", tt.key, tt.vid, tt.vFormat, got, tt.want)
		}
		// NormalizeKey inverts DocumentID into the journal's v0 form.
		norm, err := domain.NormalizeKey(got, tt.vFormat)
		want := tt.key
		if tt.vid != "" {
			want = domain.VersionedKey(tt.key, tt.vid)
		}
		if err != nil || norm != want {
			t.Errorf("NormalizeKey(DocumentID(%q, %q, %q)) = %q, %v; want %q", tt.key, tt.vid, tt.vFormat, norm, err, want)
		}
	}
}

func TestOrderingKey(t *testing.T) {
	tests := []struct {
		bucket, key, want string
	}{
		{"b", "a b+c", "b%2Fa%20b%2Bc"},
		{"bucket", "photos/2024/cat.jpg", "bucket%2Fphotos%2F2024%2Fcat.jpg"},
		// encodeURIComponent leaves letters, digits and -_.!~*'() alone.
		{"b", "AZaz09-_.!~*'()", "b%2FAZaz09-_.!~*'()"},
		{"b", "#$&+,/:;=?@[]%\"<>\\^`{|}", "b%2F%23%24%26%2B%2C%2F%3A%3B%3D%3F%40%5B%5D%25%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"b", "é", "b%2F%C3%A9"},
		{"b", "日本", "b%2F%E6%97%A5%E6%9C%AC"},
		{"b", "😀", "b%2F%F0%9F%98%80"},
		{"b", "\x00\x7f\n", "b%2F%00%7F%0A"},
		{"b", "", "b%2F"},
	}
	for _, tt := range tests {
		if got := domain.OrderingKey(tt.bucket, tt.key); got != tt.want {
			t.Errorf("OrderingKey(%q, %q) = %q, want %q", tt.bucket, tt.key, got, tt.want)
		}
	}
	// Versions of one key share the ordering key; other keys do not.
	if domain.OrderingKey("b", "k") == domain.OrderingKey("b", "k2") || domain.OrderingKey("b", "k") == domain.OrderingKey("b2", "k") {
		t.Error("different keys share an ordering key")
	}
	// Slashes inside the key are encoded like the separator.
	if got := domain.OrderingKey("a", "b/c"); got != "a%2Fb%2Fc" {
		t.Errorf("OrderingKey(a, b/c) = %q", got)
	}
}
