package loadgen

// ReadEvent exposes readEvent to the package's tests.
var ReadEvent = readEvent
