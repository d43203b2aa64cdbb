//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing here: only Linux ties a child's life to its
// parent's. Children still exit when their standard input closes.
func setDeathSignal(*exec.Cmd) {}
