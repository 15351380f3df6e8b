//go:build race

package s3site

// raceEnabled tells measurements that the race detector slows them down.
const raceEnabled = true
