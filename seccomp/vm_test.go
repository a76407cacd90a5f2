package seccomp

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthrun/berth/seccomp/filter"
)

// This file is a small classic BPF interpreter for the instructions the
// kernel's seccomp checker accepts and the compiler emits, written from
// linux/filter.h independently of the compiler's encoder: it reads the
// wire form, so a test through it checks the bytes the kernel gets.

// call is a synthetic struct seccomp_data.
type call struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

func (c call) bytes() []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[0:], c.nr)
	binary.LittleEndian.PutUint32(b[4:], c.arch)
	for i, a := range c.args {
		binary.LittleEndian.PutUint64(b[16+8*i:], a)
	}
	return b
}

func x64(nr uint32, args ...uint64) call  { return mk(unix.AUDIT_ARCH_X86_64, nr, args) }
func i386(nr uint32, args ...uint64) call { return mk(unix.AUDIT_ARCH_I386, nr, args) }

func mk(arch, nr uint32, args []uint64) call {
	c := call{nr: nr, arch: arch}
	copy(c.args[:], args)
	return c
}

type insn struct {
	code   uint16
	jt, jf uint8
	k      uint32
}

func decode(raw []byte) ([]insn, error) {
	fs, err := filter.Decode(raw)
	if err != nil {
		return nil, err
	}
	out := make([]insn, len(fs))
	for i, f := range fs {
		out[i] = insn{f.Code, f.Jt, f.Jf, f.K}
	}
	return out, nil
}

// verify checks what the kernel's checker does for these instructions:
// length, known opcodes, aligned loads inside seccomp_data, every jump
// landing inside the program, and a return last.
func verify(raw []byte) error {
	prog, err := decode(raw)
	if err != nil {
		return err
	}
	n := len(prog)
	for i, in := range prog {
		switch in.code {
		case opLdAbs:
			if in.k%4 != 0 || in.k+4 > 64 {
				return fmt.Errorf("insn %d: load at %d", i, in.k)
			}
		case opAndK, opRetK:
		case opJa:
			if uint64(i)+1+uint64(in.k) >= uint64(n) {
				return fmt.Errorf("insn %d: ja %d out of range", i, in.k)
			}
		case opJeqK, opJgtK, opJgeK, opJsetK:
			if i+1+int(in.jt) >= n || i+1+int(in.jf) >= n {
				return fmt.Errorf("insn %d: jump %d/%d out of range", i, in.jt, in.jf)
			}
		default:
			return fmt.Errorf("insn %d: opcode %#x", i, in.code)
		}
	}
	if prog[n-1].code != opRetK {
		return fmt.Errorf("last insn is %#x, not a return", prog[n-1].code)
	}
	return nil
}

// longestPath is the most instructions one run can execute: jumps only go
// forward, so it is the longest path of a DAG, computed from the end.
func longestPath(raw []byte) int {
	prog, err := decode(raw)
	if err != nil {
		panic(err)
	}
	n := len(prog)
	long := make([]int, n+1)
	for i := n - 1; i >= 0; i-- {
		in := prog[i]
		switch in.code {
		case opRetK:
			long[i] = 1
		case opJa:
			long[i] = 1 + long[i+1+int(in.k)]
		case opJeqK, opJgtK, opJgeK, opJsetK:
			long[i] = 1 + max(long[i+1+int(in.jt)], long[i+1+int(in.jf)])
		default:
			long[i] = 1 + long[i+1]
		}
	}
	return long[0]
}

// run executes raw on c and returns the filter's answer and how many
// instructions it executed.
func run(raw []byte, c call) (uint32, int, error) {
	prog, err := decode(raw)
	if err != nil {
		return 0, 0, err
	}
	data := c.bytes()
	var a uint32
	steps := 0
	for pc := 0; pc < len(prog); {
		in := prog[pc]
		steps++
		pc++
		switch in.code {
		case opLdAbs:
			if in.k%4 != 0 || in.k+4 > 64 {
				return 0, steps, fmt.Errorf("load at %d", in.k)
			}
			a = binary.LittleEndian.Uint32(data[in.k:])
		case opAndK:
			a &= in.k
		case opRetK:
			return in.k, steps, nil
		case opJa:
			pc += int(in.k)
		case opJeqK, opJgtK, opJgeK, opJsetK:
			var ok bool
			switch in.code {
			case opJeqK:
				ok = a == in.k
			case opJgtK:
				ok = a > in.k
			case opJgeK:
				ok = a >= in.k
			case opJsetK:
				ok = a&in.k != 0
			}
			if ok {
				pc += int(in.jt)
			} else {
				pc += int(in.jf)
			}
		default:
			return 0, steps, fmt.Errorf("opcode %#x at %d", in.code, pc-1)
		}
	}
	return 0, steps, fmt.Errorf("ran off the end")
}

// eval runs p on c, failing t on a malformed program.
func eval(t testing.TB, p *Program, c call) uint32 {
	t.Helper()
	ret, _, err := run(p.Raw, c)
	if err != nil {
		t.Fatalf("run %+v: %v", c, err)
	}
	return ret
}

const (
	allow     = unix.SECCOMP_RET_ALLOW
	killProc  = unix.SECCOMP_RET_KILL_PROCESS
	killThrd  = unix.SECCOMP_RET_KILL_THREAD
	retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	retEPERM  = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

func errnoRet(e uint32) uint32 { return unix.SECCOMP_RET_ERRNO | e }

// retName prints an answer for test failures.
func retName(r uint32) string {
	switch r & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "KILL_PROCESS"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "KILL_THREAD"
	case unix.SECCOMP_RET_TRAP:
		return "TRAP"
	case unix.SECCOMP_RET_ERRNO:
		return fmt.Sprintf("ERRNO(%d)", r&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_TRACE:
		return fmt.Sprintf("TRACE(%d)", r&unix.SECCOMP_RET_DATA)
	case unix.SECCOMP_RET_LOG:
		return "LOG"
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	}
	return fmt.Sprintf("%#x", r)
}
