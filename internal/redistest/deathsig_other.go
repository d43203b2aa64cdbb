//go:build !linux

package redistest

import "os/exec"

// setDeathSignal does nothing here: only Linux can tie the server's life
// to the test process's.
func setDeathSignal(*exec.Cmd) {}
