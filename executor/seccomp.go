package executor

import (
	"fmt"

	"github.com/berthrun/berth/caps"
	"github.com/berthrun/berth/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// seccompFilter compiles the task's system call filter: the one the
// Command gives, or Docker's default for the task's capability set (its
// rules follow capabilities: with CAP_SYS_ADMIN, mount is allowed, say).
// Nil when unconfined.
func seccompFilter(iso Isolation, set []string) (*seccomp.Program, error) {
	if iso.SeccompUnconfined {
		if iso.Seccomp != nil {
			return nil, fmt.Errorf("seccomp: a profile and unconfined both given")
		}
		return nil, nil
	}
	if iso.Seccomp == nil {
		return seccomp.CompileDefault(set)
	}
	return seccomp.Compile(iso.Seccomp)
}

// LoadSeccompProfile reads a JSON profile file, in Docker's form or OCI's,
// for a task with iso's capabilities (Docker's form has rules that depend
// on them). The CLI's --seccomp FILE.
func LoadSeccompProfile(file string, iso Isolation) (*specs.LinuxSeccomp, error) {
	set, err := caps.Compute(iso.CapAdd, iso.CapDrop)
	if err != nil {
		return nil, err
	}
	return seccomp.LoadFile(file, set)
}
