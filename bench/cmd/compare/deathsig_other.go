//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing where a child cannot be tied to its parent.
func setDeathSignal(*exec.Cmd) {}
