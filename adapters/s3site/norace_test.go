//go:build !race

package s3site

const raceEnabled = false
