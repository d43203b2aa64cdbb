package main

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the child if this process dies first.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
