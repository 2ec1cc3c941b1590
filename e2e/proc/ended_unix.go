//go:build unix

package proc

import "syscall"

// ended reports whether no process has the ID pid.
func ended(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }
