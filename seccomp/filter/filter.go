// Package filter loads a compiled seccomp program into the kernel. It is
// the child's half of package seccomp (which compiles, in the parent) and
// imports nothing but the standard library and x/sys/unix, so the lean
// init binary can link it.
//
// The wire form of a program is its classic BPF instructions, 8 bytes
// each, little endian: u16 code, u8 jt, u8 jf, u32 k (struct sock_filter).
package filter

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// InsnSize is the size of one instruction in the wire form.
	InsnSize = 8
	// MaxInsns is the most instructions the kernel takes in one program
	// (BPF_MAXINSNS).
	MaxInsns = 4096
)

// Decode returns the instructions of a program in the wire form, or an
// error when raw is not a whole number of instructions, 1 to MaxInsns.
func Decode(raw []byte) ([]unix.SockFilter, error) {
	if len(raw)%InsnSize != 0 {
		return nil, fmt.Errorf("seccomp program: %d bytes is not a whole number of %d-byte instructions", len(raw), InsnSize)
	}
	n := len(raw) / InsnSize
	if n == 0 || n > MaxInsns {
		return nil, fmt.Errorf("seccomp program: %d instructions, want 1 to %d", n, MaxInsns)
	}
	insns := make([]unix.SockFilter, n)
	for i := range insns {
		b := raw[i*InsnSize:]
		insns[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.LittleEndian.Uint32(b[4:]),
		}
	}
	return insns, nil
}

// Install loads raw (the wire form) as a seccomp filter of the calling
// thread, with flags (SECCOMP_FILTER_FLAG_*). It runs in the child: the
// caller has locked its OS thread, set no_new_privs (or holds
// CAP_SYS_ADMIN), and execs from this thread next, so the filter is
// inherited across execve by the task. Without TSYNC the other threads of
// the Go runtime stay unfiltered; they die at execve. A program the kernel
// refuses comes back as an error wrapping the errno (EINVAL for a
// malformed program, EFAULT, EACCES without no_new_privs).
func Install(raw []byte, flags uint) error {
	insns, err := Decode(raw)
	if err != nil {
		return err
	}
	prog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(insns)
	if errno != 0 {
		return fmt.Errorf("seccomp set mode filter: %w", errno)
	}
	return nil
}
