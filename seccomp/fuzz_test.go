package seccomp

import (
	"encoding/json"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berthrun/berth/seccomp/filter"
)

// FuzzCompile feeds profile JSON through both ways in (Docker's format
// and plain OCI). Compile may refuse, but never panics, and whatever it
// returns is a program the kernel's checker takes: at most 4096
// instructions, every jump inside it, a return at the end, and one that
// runs to a return for any call.
func FuzzCompile(f *testing.F) {
	if def, err := json.Marshal(mobyseccomp.DefaultProfile()); err == nil {
		f.Add(def)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var profiles []*specs.LinuxSeccomp
		if s, err := loadProfile(data, berthCaps); err == nil && s != nil {
			profiles = append(profiles, s)
		}
		var oci specs.LinuxSeccomp
		if json.Unmarshal(data, &oci) == nil {
			profiles = append(profiles, &oci)
		}
		for _, s := range profiles {
			p, err := Compile(s)
			if err != nil {
				continue
			}
			if err := verify(p.Raw); err != nil {
				t.Fatalf("malformed program: %v", err)
			}
			if p.Len() > filter.MaxInsns {
				t.Fatalf("%d instructions", p.Len())
			}
			for _, c := range []call{x64(0), x64(59, 1, 2, 3), i386(11), x64(x32Bit | 1), x64(1 << 31), mk(0xc00000b7, 0, nil)} {
				if _, _, err := run(p.Raw, c); err != nil {
					t.Fatalf("run %+v: %v", c, err)
				}
			}
			if p.Flags&^uint(unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW) != 0 {
				t.Fatalf("flags %#x", p.Flags)
			}
		}
	})
}
