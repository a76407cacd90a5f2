package main

import "golang.org/x/sys/unix"

func socket(family, typ int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_SOCKET, uintptr(family), uintptr(typ), 0)
	return int(r), e
}
