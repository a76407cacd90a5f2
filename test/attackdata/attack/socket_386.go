package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// socket goes through socketcall(2), as i386 libcs do: its arguments are
// behind a pointer, where a seccomp filter cannot look.
func socket(family, typ int) (int, unix.Errno) {
	const sysSocket = 1
	args := [3]uint32{uint32(family), uint32(typ), 0}
	r, _, e := unix.RawSyscall(unix.SYS_SOCKETCALL, sysSocket, uintptr(unsafe.Pointer(&args[0])), 0)
	return int(r), e
}
