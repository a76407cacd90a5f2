package seccomp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/berthrun/berth/internal/inputfile"
	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capsSpec is the runtime spec moby's profile code reads: only the
// capability sets, all three set to caps. Its rules key on the bounding
// set; effective and permitted are set alike so that a change there
// cannot leave a rule following a set the task does not have.
func capsSpec(caps []string) *specs.Spec {
	set := append([]string(nil), caps...)
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: set, Effective: set, Permitted: set,
	}}}
}

// Default returns Docker's default profile (github.com/moby/profiles)
// for a task whose final capability set is caps (names such as
// "CAP_SYS_ADMIN"): rules that Docker includes or excludes by capability
// follow caps, so with CAP_SYS_ADMIN mount is allowed, and without
// CAP_SYS_PTRACE ptrace is not. Rules gated on a minimum kernel version
// follow the running kernel.
func Default(caps []string) (*specs.LinuxSeccomp, error) {
	p, err := mobyseccomp.GetDefaultProfile(capsSpec(caps))
	if err != nil {
		return nil, fmt.Errorf("seccomp: default profile: %w", err)
	}
	tighten(p)
	return p, nil
}

// tighten closes two gaps of Docker's default profile that berth's threat
// model (no user namespace; SECURITY.md) cannot leave open:
//
//   - i386's socketcall multiplexes socket(2) with the address family in
//     memory, where no filter can read it: a 32-bit task made the sockets
//     the x86_64 rules refuse (AF_VSOCK reaches the hypervisor, across
//     network namespaces). socketcall(SYS_SOCKET) fails with EPERM; the
//     other calls it multiplexes, and i386's direct socket system call
//     (checked like x86_64's), still work.
//   - open_by_handle_at, which Docker allows with CAP_DAC_READ_SEARCH,
//     opens any file of a filesystem by inode number, whatever directory
//     hides it and whatever the task's root is: it stays denied.
func tighten(p *specs.LinuxSeccomp) {
	drop := map[string]bool{"socketcall": true, "open_by_handle_at": true}
	rules := p.Syscalls[:0]
	for _, r := range p.Syscalls {
		names := r.Names[:0]
		for _, n := range r.Names {
			if !drop[n] {
				names = append(names, n)
			}
		}
		if r.Names = names; len(names) > 0 {
			rules = append(rules, r)
		}
	}
	eperm := uint(unix.EPERM)
	const sysSocket = 1 // socketcall's call number for socket(2)
	p.Syscalls = append([]specs.LinuxSyscall{
		{Names: []string{"socketcall"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: sysSocket, Op: specs.OpEqualTo}}},
		{Names: []string{"socketcall"}, Action: specs.ActAllow},
	}, rules...)
}

// LoadFile reads a profile in Docker's JSON format from path and resolves
// it for caps as Default does. Docker's format extends OCI's
// LinuxSeccomp (archMap, includes, excludes, the old "name"), so a plain
// OCI LinuxSeccomp document loads too. A profile with neither a
// defaultAction nor a rule is refused: Docker reads it as "no filter",
// and a file meant to confine should not silently stop confining.
func LoadFile(path string, caps []string) (*specs.LinuxSeccomp, error) {
	body, err := readProfile(path)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	p, err := loadProfile(body, caps)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %q: %w", path, err)
	}
	return p, nil
}

// maxProfile bounds a profile file: Docker's default is 20 KiB.
const maxProfile = 1 << 20

// readProfile reads a profile file: a regular file of at most maxProfile
// bytes.
func readProfile(path string) ([]byte, error) { return inputfile.Read(path, maxProfile) }

// loadProfile is LoadFile on bytes.
func loadProfile(body []byte, caps []string) (*specs.LinuxSeccomp, error) {
	// moby dereferences each rule: a null one would panic there.
	var rules struct{ Syscalls []json.RawMessage }
	if err := json.Unmarshal(body, &rules); err == nil {
		for i, r := range rules.Syscalls {
			if string(r) == "null" {
				return nil, fmt.Errorf("syscalls[%d]: null", i)
			}
		}
	}
	p, err := mobyseccomp.LoadProfile(string(body), capsSpec(caps))
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("empty: no defaultAction and no syscalls")
	}
	return p, nil
}

// defaultCache holds Docker's default compiled per capability set: a
// launch then costs a map lookup and a copy, not a resolve and compile
// (about 130 µs here, see BenchmarkCompileDefault).
var defaultCache struct {
	sync.Mutex
	progs map[string]*Program
}

// defaultCacheMax bounds the cache: capability sets seen by one process
// are few, but nothing should grow without end in a long-lived caller.
const defaultCacheMax = 64

// CompileDefault is Compile(Default(caps)), cached by the capability set
// (order and repeats in caps do not matter). The Program is the caller's
// own copy.
func CompileDefault(caps []string) (*Program, error) {
	set := slices.Clone(caps)
	slices.Sort(set)
	key := strings.Join(slices.Compact(set), ",")
	if key == precompiledKey {
		p := precompiled
		return &Program{Raw: slices.Clone(p.Raw), Flags: p.Flags, Unknown: slices.Clone(p.Unknown)}, nil
	}

	defaultCache.Lock()
	p, ok := defaultCache.progs[key]
	defaultCache.Unlock()
	if !ok {
		s, err := Default(caps)
		if err != nil {
			return nil, err
		}
		if p, err = Compile(s); err != nil {
			return nil, err
		}
		defaultCache.Lock()
		if defaultCache.progs == nil || len(defaultCache.progs) >= defaultCacheMax {
			defaultCache.progs = map[string]*Program{}
		}
		defaultCache.progs[key] = p
		defaultCache.Unlock()
	}
	return &Program{Raw: slices.Clone(p.Raw), Flags: p.Flags, Unknown: slices.Clone(p.Unknown)}, nil
}

// CompileFresh is Compile(Default(caps)), neither cached nor precompiled:
// for go generate and the test that checks the precompiled program.
func CompileFresh(caps []string) (*Program, error) {
	s, err := Default(caps)
	if err != nil {
		return nil, err
	}
	return Compile(s)
}
