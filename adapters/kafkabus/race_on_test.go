//go:build race

package kafkabus_test

// raceDetector says the tests run under the race detector.
const raceDetector = true
