//go:build race

package main

// raceEnabled says whether the tests run with the race detector; the crash
// test builds the binary it starts the same way.
const raceEnabled = true
