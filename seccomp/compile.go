package seccomp

import (
	"fmt"
	"slices"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Program is a compiled filter, ready for filter.Install.
type Program struct {
	// Raw is the classic BPF program in filter's wire form: 8 bytes per
	// instruction, little endian.
	Raw []byte
	// Flags are the SECCOMP_FILTER_FLAG_* bits to load it with.
	Flags uint
	// Unknown lists, sorted, the call names of the profile that no
	// compiled architecture's table knows (calls of other architectures,
	// or newer than this build); their rules were skipped, as runc does.
	Unknown []string
}

// Len is the program's length in instructions.
func (p *Program) Len() int { return len(p.Raw) / 8 }

// Offsets in struct seccomp_data (linux/seccomp.h), little endian: the
// low word of a 64-bit argument comes first.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks a call of the x32 ABI: an x86_64 task with a number
// carrying it runs the x32 table (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// arch is one architecture the program dispatches on.
type arch struct {
	name  specs.Arch
	audit uint32 // AUDIT_ARCH_*, what seccomp_data.arch holds
	table *syscallTable
	// wide: arguments are 64-bit. On i386 they are 32-bit and only the low
	// word is compared (a value is taken modulo 2^32, as libseccomp does),
	// so a sign-extended -1 in a profile matches a 32-bit -1.
	wide bool
}

var (
	archX86_64 = &arch{specs.ArchX86_64, unix.AUDIT_ARCH_X86_64, &tableX86_64, true}
	archI386   = &arch{specs.ArchX86, unix.AUDIT_ARCH_I386, &tableI386, false}
)

// rule is one profile rule, checked.
type rule struct {
	args   []specs.LinuxSeccompArg
	action uint32
}

// compiler holds one Compile's state.
type compiler struct {
	a         asm
	rules     []rule
	names     [][]string // rules' names
	def       uint32     // the default action
	enosys    uint32     // for numbers above a table
	x32       uint32     // for x32 calls
	arches    []*arch
	listedX32 bool
}

// Compile checks s and compiles it for x86_64 and its compat ABIs. Every
// error names the field of s at fault. See the package doc for the
// program's layout and what each architecture gets.
func Compile(s *specs.LinuxSeccomp) (*Program, error) {
	if s == nil {
		return nil, fmt.Errorf("seccomp: no profile")
	}
	c := &compiler{}
	var err error
	if c.def, err = parseAction(s.DefaultAction, s.DefaultErrnoRet, -1); err != nil {
		return nil, err
	}
	flags, err := parseFlags(s.Flags)
	if err != nil {
		return nil, err
	}
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: listenerPath %q: notify listeners are not supported", s.ListenerPath)
	}
	if s.ListenerMetadata != "" {
		return nil, fmt.Errorf("seccomp: listenerMetadata %q: notify listeners are not supported", s.ListenerMetadata)
	}
	if err := c.parseArches(s.Architectures); err != nil {
		return nil, err
	}
	if err := c.parseRules(s.Syscalls); err != nil {
		return nil, err
	}

	// A call newer than the table is one the profile could not name: it
	// gets ENOSYS, as from an older kernel, so that libc falls back (glibc
	// tries clone3, then clone, on ENOSYS only). A permissive default
	// stays permissive: the profile then lists what it denies.
	c.enosys = retErrno(unix.ENOSYS)
	if permissive(c.def) {
		c.enosys = c.def
	}
	// x32 calls are never allowed: they would need a table of their own
	// and rules written for it. Listed, they get the default action when
	// it denies, else ENOSYS (a kernel without x32); not listed, they are
	// an architecture the profile did not name.
	c.x32 = unix.SECCOMP_RET_KILL_PROCESS
	if c.listedX32 {
		c.x32 = c.def
		if permissive(c.def) || c.def&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_TRACE {
			c.x32 = retErrno(unix.ENOSYS)
		}
	}

	perNr, unknown := c.resolve()
	c.emit(perNr)
	raw, err := c.a.assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return &Program{Raw: raw, Flags: flags, Unknown: unknown}, nil
}

func retErrno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

// permissive: the action lets the call run.
func permissive(act uint32) bool {
	return act == unix.SECCOMP_RET_ALLOW || act == unix.SECCOMP_RET_LOG
}

// maxErrno is the largest errno the kernel returns (MAX_ERRNO); it
// clamps larger ones, and past 16 bits they would spill into the action.
const maxErrno = 4095

// parseAction turns an action and its errnoRet into SECCOMP_RET_* with
// data: the default's when rule is -1, else syscalls[rule]'s.
func parseAction(a specs.LinuxSeccompAction, errnoRet *uint, rule int) (uint32, error) {
	// The field names are built only for an error: Compile runs per launch.
	fields := func() (string, string) {
		if rule < 0 {
			return "defaultAction", "defaultErrnoRet"
		}
		return fmt.Sprintf("syscalls[%d].action", rule), fmt.Sprintf("syscalls[%d].errnoRet", rule)
	}
	data := uint(unix.EPERM) // what ERRNO and TRACE carry unless told
	var ret uint32
	switch a {
	case specs.ActKill, specs.ActKillThread:
		ret = unix.SECCOMP_RET_KILL_THREAD
	case specs.ActKillProcess:
		ret = unix.SECCOMP_RET_KILL_PROCESS
	case specs.ActTrap:
		ret = unix.SECCOMP_RET_TRAP
	case specs.ActAllow:
		ret = unix.SECCOMP_RET_ALLOW
	case specs.ActLog:
		ret = unix.SECCOMP_RET_LOG
	case specs.ActErrno:
		if errnoRet != nil {
			if *errnoRet > maxErrno {
				_, errnoField := fields()
				return 0, fmt.Errorf("seccomp: %s %d: out of range 0 to %d", errnoField, *errnoRet, maxErrno)
			}
			data = *errnoRet
		}
		return unix.SECCOMP_RET_ERRNO | uint32(data), nil
	case specs.ActTrace:
		if errnoRet != nil {
			if *errnoRet > unix.SECCOMP_RET_DATA {
				_, errnoField := fields()
				return 0, fmt.Errorf("seccomp: %s %d: out of range 0 to %d", errnoField, *errnoRet, unix.SECCOMP_RET_DATA)
			}
			data = *errnoRet
		}
		return unix.SECCOMP_RET_TRACE | uint32(data), nil
	case specs.ActNotify:
		field, _ := fields()
		return 0, fmt.Errorf("seccomp: %s %q: notify is not supported (no listener)", field, a)
	case "":
		field, _ := fields()
		return 0, fmt.Errorf("seccomp: %s: empty", field)
	default:
		field, _ := fields()
		return 0, fmt.Errorf("seccomp: %s %q: unknown action", field, a)
	}
	if errnoRet != nil {
		_, errnoField := fields()
		return 0, fmt.Errorf("seccomp: %s %d: %s returns no errno", errnoField, *errnoRet, a)
	}
	return ret, nil
}

func parseFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var out uint
	for i, f := range flags {
		field := fmt.Sprintf("flags[%d] %q", i, f)
		switch f {
		case specs.LinuxSeccompFlagLog:
			out |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			out |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv, "SECCOMP_FILTER_FLAG_NEW_LISTENER":
			return 0, fmt.Errorf("seccomp: %s: notify listeners are not supported", field)
		case "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_TSYNC_ESRCH":
			return 0, fmt.Errorf("seccomp: %s: not supported: the filter is loaded on the one thread that execs the task", field)
		default:
			return 0, fmt.Errorf("seccomp: %s: unknown flag", field)
		}
	}
	return out, nil
}

// knownArches are the architectures OCI names. Those that cannot run on
// x86_64 are accepted and compiled to nothing: the kernel never reports
// them for a task here.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true,
	specs.ArchARM: true, specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true,
	specs.ArchMIPS64N32: true, specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true,
	specs.ArchMIPSEL64N32: true, specs.ArchPPC: true, specs.ArchPPC64: true, specs.ArchPPC64LE: true,
	specs.ArchS390: true, specs.ArchS390X: true, specs.ArchPARISC: true, specs.ArchPARISC64: true,
	specs.ArchRISCV64: true, specs.ArchLOONGARCH64: true, specs.ArchM68K: true,
	specs.ArchSH: true, specs.ArchSHEB: true,
}

func (c *compiler) parseArches(list []specs.Arch) error {
	if len(list) == 0 {
		// None listed: the native one only, as libseccomp does.
		c.arches = []*arch{archX86_64}
		return nil
	}
	var x86_64, x86 bool
	for i, a := range list {
		switch {
		case a == specs.ArchX86_64:
			x86_64 = true
		case a == specs.ArchX86:
			x86 = true
		case a == specs.ArchX32:
			c.listedX32 = true
		case !knownArches[a]:
			return fmt.Errorf("seccomp: architectures[%d] %q: unknown architecture", i, a)
		}
	}
	if x86_64 {
		c.arches = append(c.arches, archX86_64)
	}
	if x86 {
		c.arches = append(c.arches, archI386)
	}
	if len(c.arches) == 0 {
		return fmt.Errorf("seccomp: architectures %q: neither %s nor %s: nothing could run", list, specs.ArchX86_64, specs.ArchX86)
	}
	return nil
}

func (c *compiler) parseRules(calls []specs.LinuxSyscall) error {
	for i, sc := range calls {
		act, err := parseAction(sc.Action, sc.ErrnoRet, i)
		if err != nil {
			return err
		}
		if len(sc.Names) == 0 {
			return fmt.Errorf("seccomp: syscalls[%d].names: empty", i)
		}
		for j, n := range sc.Names {
			if n == "" {
				return fmt.Errorf("seccomp: syscalls[%d].names[%d]: empty", i, j)
			}
		}
		for j, a := range sc.Args {
			af := func() string { return fmt.Sprintf("syscalls[%d].args[%d]", i, j) }
			if a.Index > 5 {
				return fmt.Errorf("seccomp: %s.index %d: out of range 0 to 5", af(), a.Index)
			}
			switch a.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
				specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
			case "":
				return fmt.Errorf("seccomp: %s.op: empty", af())
			default:
				return fmt.Errorf("seccomp: %s.op %q: unknown operator", af(), a.Op)
			}
		}
		c.rules = append(c.rules, rule{args: sc.Args, action: act})
		c.names = append(c.names, sc.Names)
	}
	return nil
}

// resolve looks up every rule's names in each architecture's table:
// perNr[a] lists, sorted, nr<<32|rule for each rule naming nr on
// c.arches[a], so one number's rules are a run in profile order. unknown
// lists the names that no table knows.
func (c *compiler) resolve() (perNr [][]uint64, unknown []string) {
	perNr = make([][]uint64, len(c.arches))
	for a := range perNr {
		perNr[a] = make([]uint64, 0, 512)
	}
	for i, names := range c.names {
		for _, n := range names {
			known := false
			for a, ar := range c.arches {
				if nr, ok := ar.table.lookup(n); ok {
					known = true
					perNr[a] = append(perNr[a], uint64(nr)<<32|uint64(i))
				}
			}
			if !known && !slices.Contains(unknown, n) {
				unknown = append(unknown, n)
			}
		}
	}
	for a := range perNr {
		slices.Sort(perNr[a])
		perNr[a] = slices.Compact(perNr[a]) // a name listed twice in a rule
	}
	sort.Strings(unknown)
	return perNr, unknown
}
