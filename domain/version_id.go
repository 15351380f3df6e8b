package domain

// Version ids come in two orders. CloudServer's count down: a smaller id
// is newer, and the master document follows the smallest. ULIDs, which S3
// servers such as versitygw hand out (and the simulator records as they
// are), count up. Code that orders versions by id asks IsULID which kind
// it holds; correctness never rests on the order alone.

// IsULID reports whether id looks like a ULID: 26 characters of
// Crockford's base32, which sort as the time they were made.
func IsULID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' && c != 'I' && c != 'L' && c != 'O' && c != 'U') {
			return false
		}
	}
	return true
}
