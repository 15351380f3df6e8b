//go:build race

package mongojournal

const raceEnabled = true
