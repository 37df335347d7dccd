package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes a started groupsd get SIGKILL when the test binary
// dies (for example on a test timeout), so no server outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
