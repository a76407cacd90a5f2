package seccomp

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func uintp(v uint) *uint { return &v }

func mustCompile(t testing.TB, s *specs.LinuxSeccomp) *Program {
	t.Helper()
	p, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if err := verify(p.Raw); err != nil {
		t.Fatalf("compiled program is malformed: %v", err)
	}
	return p
}

// both lists the two compiled architectures.
var bothArches = []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}

// nrOf is the number of a call on an architecture, from x/sys (the
// source the tables were generated from) where it is a constant here.
func nrOf(t testing.TB, tbl *syscallTable, name string) uint32 {
	t.Helper()
	nr, ok := tbl.lookup(name)
	if !ok {
		t.Fatalf("no %s in the table", name)
	}
	return nr
}

func TestTables(t *testing.T) {
	for _, c := range []struct {
		tbl  *syscallTable
		name string
		nr   uint32
	}{
		{&tableX86_64, "read", unix.SYS_READ}, {&tableX86_64, "getpid", unix.SYS_GETPID},
		{&tableX86_64, "clone3", unix.SYS_CLONE3}, {&tableX86_64, "keyctl", unix.SYS_KEYCTL},
		{&tableX86_64, "file_getattr", 468}, {&tableX86_64, "file_setattr", 469}, {&tableX86_64, "listns", 470},
		{&tableI386, "getpid", 20}, {&tableI386, "socketcall", 102}, {&tableI386, "clone3", 435},
		{&tableI386, "_llseek", 140}, {&tableI386, "listns", 470},
	} {
		if got, ok := c.tbl.lookup(c.name); !ok || got != c.nr {
			t.Errorf("lookup(%q) = %d, %v; want %d", c.name, got, ok, c.nr)
		}
	}
	for _, tbl := range []*syscallTable{&tableX86_64, &tableI386} {
		seen := map[uint32]string{}
		var max uint32
		for i, e := range tbl.calls {
			if i > 0 && tbl.calls[i-1].name >= e.name {
				t.Errorf("table not sorted at %q", e.name)
			}
			if prev, ok := seen[e.nr]; ok {
				t.Errorf("%d is both %s and %s", e.nr, prev, e.name)
			}
			seen[e.nr] = e.name
			max = maxU32(max, e.nr)
		}
		if max != tbl.max || max < 470 {
			t.Errorf("max %d, table says %d", max, tbl.max)
		}
	}
	if _, ok := tableX86_64.lookup("socketcall"); ok {
		t.Errorf("x86_64 has no socketcall")
	}
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// wideValues are 64-bit values around the word boundaries, where a
// comparison that looks at one word only, or compares signed, goes wrong.
var wideValues = []uint64{
	0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	0x100000000, 0x100000001, 0x1ffffffff, 0x7fffffff00000000, 0x8000000000000000,
	0xfffffffe00000000, 0xfffffffeffffffff, 0xffffffff00000000, 0xffffffff00000001,
	0xfffffffffffffffe, 0xffffffffffffffff,
}

func opHolds(op specs.LinuxSeccompOperator, a, v, v2 uint64) bool {
	switch op {
	case specs.OpEqualTo:
		return a == v
	case specs.OpNotEqual:
		return a != v
	case specs.OpLessThan:
		return a < v
	case specs.OpLessEqual:
		return a <= v
	case specs.OpGreaterEqual:
		return a >= v
	case specs.OpGreaterThan:
		return a > v
	case specs.OpMaskedEqual:
		return a&v == v2
	}
	panic(op)
}

var allOps = []specs.LinuxSeccompOperator{specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
	specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual}

// TestOperators checks each operator on 64-bit values around the word
// boundaries, on x86_64, against Go's unsigned comparison; and on i386,
// where arguments are 32-bit, on the low words.
func TestOperators(t *testing.T) {
	getpid := nrOf(t, &tableX86_64, "getpid")
	getpid32 := nrOf(t, &tableI386, "getpid")
	for _, op := range allOps {
		for _, v := range wideValues {
			v2s := []uint64{0}
			if op == specs.OpMaskedEqual {
				v2s = []uint64{0, v, v & 0xffffffff, v & 0xffffffff00000000, 1}
			}
			for _, v2 := range v2s {
				for idx := uint(0); idx < 6; idx += 5 {
					p := mustCompile(t, &specs.LinuxSeccomp{
						DefaultAction: specs.ActErrno, Architectures: bothArches,
						Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActAllow,
							Args: []specs.LinuxSeccompArg{{Index: idx, Value: v, ValueTwo: v2, Op: op}}}},
					})
					for _, a := range wideValues {
						for _, d := range []uint64{a - 1, a, a + 1} {
							var args [6]uint64
							args[idx] = d
							want := retEPERM
							if opHolds(op, d, v, v2) {
								want = allow
							}
							if got := eval(t, p, x64(getpid, args[:]...)); got != want {
								t.Fatalf("x86_64: arg%d %#x %s %#x (two %#x): got %s, want %s", idx, d, op, v, v2, retName(got), retName(want))
							}
							// i386: the kernel passes 32-bit arguments; the
							// rule's values count modulo 2^32.
							args[idx] = d & 0xffffffff
							want = retEPERM
							if opHolds(op, d&0xffffffff, v&0xffffffff, v2&0xffffffff) {
								want = allow
							}
							if got := eval(t, p, i386(getpid32, args[:]...)); got != want {
								t.Fatalf("i386: arg%d %#x %s %#x (two %#x): got %s, want %s", idx, d&0xffffffff, op, v, v2, retName(got), retName(want))
							}
						}
					}
				}
			}
		}
	}
}

// TestArgsAreANDed: every argument of a rule must hold.
func TestArgsAreANDed(t *testing.T) {
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"ioctl"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: 3, Op: specs.OpEqualTo},
			{Index: 1, Value: 0x100000000, Op: specs.OpGreaterEqual},
			{Index: 2, Value: 0xff, ValueTwo: 0x10, Op: specs.OpMaskedEqual},
		}}},
	})
	ioctl := nrOf(t, &tableX86_64, "ioctl")
	for _, c := range []struct {
		args []uint64
		want uint32
	}{
		{[]uint64{3, 0x100000000, 0x110}, allow},
		{[]uint64{3, 0x1ffffffff, 0xabc10}, allow},
		{[]uint64{4, 0x100000000, 0x110}, retEPERM},
		{[]uint64{3, 0xffffffff, 0x110}, retEPERM},
		{[]uint64{3, 0x100000000, 0x111}, retEPERM},
		{[]uint64{0x100000003, 0x100000000, 0x10}, retEPERM},
	} {
		if got := eval(t, p, x64(ioctl, c.args...)); got != c.want {
			t.Errorf("ioctl%#x: got %s, want %s", c.args, retName(got), retName(c.want))
		}
	}
}

// TestRuleOrder: rules for one call are checked in profile order and the
// first match wins; with none matching, the default applies; a rule
// without arguments ends the list.
func TestRuleOrder(t *testing.T) {
	p := mustCompile(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActErrno, DefaultErrnoRet: uintp(uint(unix.EACCES)),
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: uintp(11), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 9, Op: specs.OpEqualTo}}},
			{Names: []string{"kill", "tkill"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 15, Op: specs.OpLessEqual}}},
			{Names: []string{"kill"}, Action: specs.ActErrno, ErrnoRet: uintp(22), Args: []specs.LinuxSeccompArg{{Index: 1, Value: 30, Op: specs.OpLessThan}}},
			{Names: []string{"tkill"}, Action: specs.ActTrap},
			{Names: []string{"tkill"}, Action: specs.ActAllow}, // after an unconditional rule: never reached
		},
	})
	kill, tkill := nrOf(t, &tableX86_64, "kill"), nrOf(t, &tableX86_64, "tkill")
	for _, c := range []struct {
		c    call
		want uint32
	}{
		{x64(kill, 1, 9), errnoRet(11)}, // the first rule, though the second matches too
		{x64(kill, 1, 15), allow},
		{x64(kill, 1, 20), errnoRet(22)},
		{x64(kill, 1, 30), errnoRet(uint32(unix.EACCES))}, // none: the default
		{x64(tkill, 1, 9), allow},
		{x64(tkill, 1, 16), unix.SECCOMP_RET_TRAP},
		{x64(nrOf(t, &tableX86_64, "getpid")), errnoRet(uint32(unix.EACCES))},
	} {
		if got := eval(t, p, c.c); got != c.want {
			t.Errorf("nr %d args %v: got %s, want %s", c.c.nr, c.c.args[:2], retName(got), retName(c.want))
		}
	}
}

// TestActions: each action's return value and data.
func TestActions(t *testing.T) {
	rules := []struct {
		name   string
		action specs.LinuxSeccompAction
		errno  *uint
		want   uint32
	}{
		{"read", specs.ActErrno, nil, retEPERM}, // ERRNO without errnoRet: EPERM
		{"write", specs.ActErrno, uintp(0), errnoRet(0)},
		{"open", specs.ActErrno, uintp(4095), errnoRet(4095)},
		{"close", specs.ActTrace, uintp(1234), unix.SECCOMP_RET_TRACE | 1234},
		{"stat", specs.ActTrace, nil, unix.SECCOMP_RET_TRACE | 1},
		{"fstat", specs.ActKill, nil, killThrd},
		{"lstat", specs.ActKillThread, nil, killThrd},
		{"poll", specs.ActKillProcess, nil, killProc},
		{"lseek", specs.ActTrap, nil, unix.SECCOMP_RET_TRAP},
		{"mmap", specs.ActLog, nil, unix.SECCOMP_RET_LOG},
		{"mprotect", specs.ActAllow, nil, allow},
	}
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActTrace, DefaultErrnoRet: uintp(77), Architectures: bothArches}
	for _, r := range rules {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{r.name}, Action: r.action, ErrnoRet: r.errno})
	}
	p := mustCompile(t, s)
	for _, r := range rules {
		if got := eval(t, p, x64(nrOf(t, &tableX86_64, r.name))); got != r.want {
			t.Errorf("%s: got %s, want %s", r.name, retName(got), retName(r.want))
		}
		if got := eval(t, p, i386(nrOf(t, &tableI386, r.name))); got != r.want {
			t.Errorf("i386 %s: got %s, want %s", r.name, retName(got), retName(r.want))
		}
	}
	if got := eval(t, p, x64(nrOf(t, &tableX86_64, "getpid"))); got != unix.SECCOMP_RET_TRACE|77 {
		t.Errorf("default: got %s, want TRACE(77)", retName(got))
	}
}

// TestArchitectures: an architecture not listed is killed; x32 calls
// never run.
func TestArchitectures(t *testing.T) {
	getpid, getpid32 := nrOf(t, &tableX86_64, "getpid"), nrOf(t, &tableI386, "getpid")
	const aarch64 = 0xc00000b7 // AUDIT_ARCH_AARCH64
	for _, c := range []struct {
		name    string
		arches  []specs.Arch
		def     specs.LinuxSeccompAction
		calls   []call
		want    []uint32
		comment string
	}{
		{"native only", nil, specs.ActErrno,
			[]call{x64(getpid), i386(getpid32), x64(x32Bit | getpid), mk(aarch64, 172, nil)},
			[]uint32{allow, killProc, killProc, killProc}, ""},
		{"x86_64 and x86", []specs.Arch{specs.ArchX86_64, specs.ArchX86}, specs.ActErrno,
			[]call{x64(getpid), i386(getpid32), x64(x32Bit | getpid)},
			[]uint32{allow, allow, killProc}, ""},
		{"x32 listed: the default", bothArches, specs.ActErrno,
			[]call{x64(x32Bit | getpid), x64(x32Bit | 0), x64(0xffffffff)},
			[]uint32{retEPERM, retEPERM, retEPERM}, ""},
		{"x32 listed, permissive default: ENOSYS", bothArches, specs.ActAllow,
			[]call{x64(x32Bit | getpid), x64(x32Bit | 39), i386(getpid32), mk(aarch64, 172, nil)},
			[]uint32{retENOSYS, retENOSYS, allow, killProc}, ""},
		{"i386 only", []specs.Arch{specs.ArchX86}, specs.ActErrno,
			[]call{x64(getpid), i386(getpid32), x64(x32Bit | getpid)},
			[]uint32{killProc, allow, killProc}, ""},
		{"foreign arches ignored", []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64}, specs.ActAllow,
			[]call{x64(getpid), mk(aarch64, 172, nil)},
			[]uint32{allow, killProc}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: c.def, Architectures: c.arches,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActAllow}}})
			for i, cl := range c.calls {
				if got := eval(t, p, cl); got != c.want[i] {
					t.Errorf("arch %#x nr %#x: got %s, want %s", cl.arch, cl.nr, retName(got), retName(c.want[i]))
				}
			}
		})
	}
}

// TestENOSYSAboveTable: numbers above the table's largest get ENOSYS
// (unless the default lets everything run); numbers inside it that no
// rule names get the default.
func TestENOSYSAboveTable(t *testing.T) {
	for _, def := range []specs.LinuxSeccompAction{specs.ActErrno, specs.ActKillProcess, specs.ActAllow} {
		p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: def, Architectures: bothArches,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"getpid"}, Action: specs.ActTrap}}})
		d, _ := parseAction(def, nil, -1)
		above := retENOSYS
		if def == specs.ActAllow {
			above = allow
		}
		for _, c := range []struct {
			c    call
			want uint32
		}{
			{x64(tableX86_64.max + 1), above},
			{x64(1000), above},
			{x64(x32Bit - 1), above},
			{x64(0x80000000), above},
			{x64(tableX86_64.max), d},
			{x64(400), d}, // a hole in the x86_64 table
			{i386(tableI386.max + 1), above},
			{i386(0xffffffff), above},
			{i386(x32Bit | 20), above}, // no x32 bit on i386: just a big number
			{i386(tableI386.max), d},
			{x64(nrOf(t, &tableX86_64, "getpid")), unix.SECCOMP_RET_TRAP},
		} {
			if got := eval(t, p, c.c); got != c.want {
				t.Errorf("default %s, arch %#x nr %#x: got %s, want %s", def, c.c.arch, c.c.nr, retName(got), retName(c.want))
			}
		}
	}
}

// TestTrampolines: a profile whose program is far longer than a
// conditional jump reaches (255) still answers every call right.
func TestTrampolines(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: bothArches}
	want := map[string]uint64{}
	for i, e := range tableX86_64.calls {
		if _, ok := tableI386.lookup(e.name); !ok || i%3 == 0 {
			continue
		}
		v := uint64(i)*0x100000001 + 7
		want[e.name] = v
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActErrno, ErrnoRet: uintp(uint(i % 4000)),
			Args: []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: v, Op: specs.OpGreaterThan}}})
	}
	p := mustCompile(t, s)
	if p.Len() < 1500 {
		t.Fatalf("program of %d instructions: too short to need trampolines", p.Len())
	}
	t.Logf("%d rules: %d instructions, longest path %d", len(s.Syscalls), p.Len(), longestPath(p.Raw))
	prog, _ := decode(p.Raw)
	tramps := 0
	for _, in := range prog {
		if in.code == opJa { // this profile has no other use for JA
			tramps++
		}
	}
	if tramps == 0 {
		t.Fatalf("no trampolines in a program of %d instructions", p.Len())
	}
	for i, r := range s.Syscalls {
		v := want[r.Names[0]]
		idx := r.Args[0].Index
		for _, a := range []struct {
			tbl *syscallTable
			mk  func(uint32, ...uint64) call
			v   uint64
		}{{&tableX86_64, x64, v}, {&tableI386, i386, v & 0xffffffff}} {
			nr := nrOf(t, a.tbl, r.Names[0])
			var args [6]uint64
			args[idx] = a.v + 1
			if got := eval(t, p, a.mk(nr, args[:]...)); got != errnoRet(uint32(*r.ErrnoRet)) {
				t.Fatalf("rule %d %s(%#x): got %s", i, r.Names[0], args[idx], retName(got))
			}
			args[idx] = a.v
			if got := eval(t, p, a.mk(nr, args[:]...)); got != retEPERM {
				t.Fatalf("rule %d %s(%#x): got %s, want the default", i, r.Names[0], args[idx], retName(got))
			}
		}
	}
}

// TestAssembleFarJumps: the assembler turns jumps beyond 255 into
// trampolines and leaves near ones alone.
func TestAssembleFarJumps(t *testing.T) {
	for _, gap := range []int{0, 254, 255, 256, 300, 3000} {
		var a asm
		far, near := a.newLabel(), a.newLabel()
		a.ld(offNr)
		a.jmp(opJeqK, 1, far, next)
		a.jmp(opJeqK, 2, near, next)
		a.jmp(opJeqK, 3, next, far)
		for i := 0; i < gap; i++ {
			a.ret(1000 + uint32(i))
		}
		a.place(near)
		a.ret(2)
		a.place(far)
		a.ret(1)
		raw, err := a.assemble()
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(raw); err != nil {
			t.Fatalf("gap %d: %v", gap, err)
		}
		for nr, want := range map[uint32]uint32{1: 1, 2: 2, 3: 1000, 4: 1} {
			if gap == 0 && nr == 3 {
				want = 2
			}
			got, _, err := run(raw, call{nr: nr})
			if err != nil || got != want {
				t.Errorf("gap %d nr %d: got %d (%v), want %d", gap, nr, got, err, want)
			}
		}
		if tramps := len(raw)/8 - (gap + 6); (gap < 250 && tramps != 0) || (gap > 255 && tramps == 0) {
			t.Errorf("gap %d: %d trampolines", gap, tramps)
		}
	}
}

// TestFieldErrors: what Compile refuses, and that the error names the
// field.
func TestFieldErrors(t *testing.T) {
	ok := func() *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActAllow},
			{Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}, {Index: 1, Op: specs.OpNotEqual}}},
		}}
	}
	mustCompile(t, ok())
	for _, c := range []struct {
		edit func(*specs.LinuxSeccomp)
		want string
	}{
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[1].Op = "SCMP_CMP_FOO" },
			`seccomp: syscalls[1].args[1].op "SCMP_CMP_FOO": unknown operator`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[0].Op = "" }, `seccomp: syscalls[1].args[0].op: empty`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Args[1].Index = 6 }, `seccomp: syscalls[1].args[1].index 6: out of range 0 to 5`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActNotify },
			`seccomp: defaultAction "SCMP_ACT_NOTIFY": notify is not supported (no listener)`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].Action = specs.ActNotify },
			`seccomp: syscalls[0].action "SCMP_ACT_NOTIFY": notify is not supported (no listener)`},
		{func(s *specs.LinuxSeccomp) { s.ListenerPath = "/run/agent.sock" },
			`seccomp: listenerPath "/run/agent.sock": notify listeners are not supported`},
		{func(s *specs.LinuxSeccomp) { s.ListenerMetadata = "x" }, `seccomp: listenerMetadata "x": notify listeners are not supported`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "" }, `seccomp: defaultAction: empty`},
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = "SCMP_ACT_MAYBE" }, `seccomp: defaultAction "SCMP_ACT_MAYBE": unknown action`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Action = "" }, `seccomp: syscalls[1].action: empty`},
		{func(s *specs.LinuxSeccomp) { s.DefaultErrnoRet = uintp(1) },
			`seccomp: defaultErrnoRet 1: SCMP_ACT_ERRNO`}, // with ERRNO it is fine: changed below
		{func(s *specs.LinuxSeccomp) { s.DefaultAction = specs.ActAllow; s.DefaultErrnoRet = uintp(1) },
			`seccomp: defaultErrnoRet 1: SCMP_ACT_ALLOW returns no errno`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[0].ErrnoRet = uintp(1) },
			`seccomp: syscalls[0].errnoRet 1: SCMP_ACT_ALLOW returns no errno`},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Action = specs.ActErrno
			s.Syscalls[0].ErrnoRet = uintp(4096)
		},
			`seccomp: syscalls[0].errnoRet 4096: out of range 0 to 4095`},
		{func(s *specs.LinuxSeccomp) {
			s.Syscalls[0].Action = specs.ActTrace
			s.Syscalls[0].ErrnoRet = uintp(65536)
		},
			`seccomp: syscalls[0].errnoRet 65536: out of range 0 to 65535`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Names = nil }, `seccomp: syscalls[1].names: empty`},
		{func(s *specs.LinuxSeccomp) { s.Syscalls[1].Names = []string{"write", ""} }, `seccomp: syscalls[1].names[1]: empty`},
		{func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{specs.ArchX86_64, "SCMP_ARCH_VAX"} },
			`seccomp: architectures[1] "SCMP_ARCH_VAX": unknown architecture`},
		{func(s *specs.LinuxSeccomp) { s.Architectures = []specs.Arch{specs.ArchAARCH64, specs.ArchX32} },
			`seccomp: architectures ["SCMP_ARCH_AARCH64" "SCMP_ARCH_X32"]: neither SCMP_ARCH_X86_64 nor SCMP_ARCH_X86: nothing could run`},
		{func(s *specs.LinuxSeccomp) {
			s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, "SECCOMP_FILTER_FLAG_TSYNC"}
		},
			`seccomp: flags[1] "SECCOMP_FILTER_FLAG_TSYNC": not supported: the filter is loaded on the one thread that execs the task`},
		{func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_NEW_LISTENER"} },
			`seccomp: flags[0] "SECCOMP_FILTER_FLAG_NEW_LISTENER": notify listeners are not supported`},
		{func(s *specs.LinuxSeccomp) {
			s.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}
		},
			`seccomp: flags[0] "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": notify listeners are not supported`},
		{func(s *specs.LinuxSeccomp) { s.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"} },
			`seccomp: flags[0] "SECCOMP_FILTER_FLAG_FAST": unknown flag`},
	} {
		s := ok()
		c.edit(s)
		_, err := Compile(s)
		if strings.HasSuffix(c.want, ": SCMP_ACT_ERRNO") {
			// defaultErrnoRet with ERRNO is allowed.
			if err != nil {
				t.Errorf("defaultErrnoRet with ERRNO: %v", err)
			}
			continue
		}
		if err == nil || err.Error() != c.want {
			t.Errorf("got %v\nwant %s", err, c.want)
		}
	}
	if _, err := Compile(nil); err == nil {
		t.Errorf("Compile(nil) succeeded")
	}
}

func TestFlags(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}}
	if p := mustCompile(t, s); p.Flags != unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW {
		t.Errorf("flags %#x", p.Flags)
	}
}

// TestUnknownNames: names no table knows are skipped and reported; the
// rest of their rule still applies.
func TestUnknownNames(t *testing.T) {
	p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"no_such_call", "getpid", "arm_fadvise64_64", "no_such_call"}, Action: specs.ActAllow},
		{Names: []string{"socketcall"}, Action: specs.ActAllow}, // i386 only, not compiled here
	}})
	if got := fmt.Sprint(p.Unknown); got != "[arm_fadvise64_64 no_such_call socketcall]" {
		t.Errorf("Unknown %s", got)
	}
	if got := eval(t, p, x64(nrOf(t, &tableX86_64, "getpid"))); got != allow {
		t.Errorf("getpid: %s", retName(got))
	}
	p = mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: bothArches, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"socketcall", "arch_prctl"}, Action: specs.ActAllow}}})
	if len(p.Unknown) != 0 {
		t.Errorf("Unknown %s: each name is known on one of the arches", p.Unknown)
	}
}

// TestEqualitySets: runs of one-argument equality rules with one action
// compile to a search over the values; values in several high words, a
// run broken by another action, and sets of every size up to 40 all
// answer as the rules read in order would.
func TestEqualitySets(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	fcntl, fcntl32 := nrOf(t, &tableX86_64, "fcntl"), nrOf(t, &tableI386, "fcntl")
	for n := 1; n <= 40; n++ {
		var rules []specs.LinuxSyscall
		var vals []uint64
		for i := 0; i < n; i++ {
			v := rnd.Uint64N(64)
			switch rnd.IntN(4) {
			case 0:
				v |= uint64(rnd.IntN(3)) << 32
			case 1:
				v = 0xffffffff - v
			}
			vals = append(vals, v)
			act, errno := specs.ActAllow, (*uint)(nil)
			if i%7 == 6 { // breaks the run
				act, errno = specs.ActErrno, uintp(uint(100+i))
			}
			rules = append(rules, specs.LinuxSyscall{Names: []string{"fcntl"}, Action: act, ErrnoRet: errno,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: v, Op: specs.OpEqualTo}}})
		}
		p := mustCompile(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: bothArches, Syscalls: rules})
		expect := func(a uint64, wide bool) uint32 {
			for _, r := range rules {
				v := r.Args[0].Value
				if !wide {
					v &= 0xffffffff
				}
				if a == v {
					if r.ErrnoRet != nil {
						return errnoRet(uint32(*r.ErrnoRet))
					}
					return allow
				}
			}
			return retEPERM
		}
		for _, v := range vals {
			for _, a := range []uint64{v - 1, v, v + 1, v ^ 1<<32, v & 0xffffffff} {
				if got, want := eval(t, p, x64(fcntl, 0, a)), expect(a, true); got != want {
					t.Fatalf("n %d: fcntl(_, %#x): got %s, want %s", n, a, retName(got), retName(want))
				}
				a &= 0xffffffff
				if got, want := eval(t, p, i386(fcntl32, 0, a)), expect(a, false); got != want {
					t.Fatalf("n %d: i386 fcntl(_, %#x): got %s, want %s", n, a, retName(got), retName(want))
				}
			}
		}
	}
}

// TestTooLong: a profile that needs more than the kernel's 4096
// instructions is refused, not truncated.
func TestTooLong(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: bothArches}
	for i, e := range tableX86_64.calls {
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{e.name}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(i) << 32, Op: specs.OpGreaterThan}, {Index: 1, Value: 1, Op: specs.OpLessThan}}})
	}
	_, err := Compile(s)
	if err == nil || !strings.HasPrefix(err.Error(), "seccomp: program of ") || !strings.HasSuffix(err.Error(), " instructions: more than the kernel's 4096") {
		t.Errorf("got %v", err)
	}
}
