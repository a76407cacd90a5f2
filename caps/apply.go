package caps

import (
	"fmt"
	"strings"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// Apply sets the capabilities of the calling thread: the bounding set keeps
// only bounding; effective, permitted and inheritable become granted (a
// subset of bounding), and the ambient set becomes granted when ambient is
// true (berth asks for it for non-root users) and empty otherwise.
//
// Apply runs in the re-exec'd child just before execve, on a thread locked
// with runtime.LockOSThread: capability sets belong to a thread, and execve
// keeps those of the thread that calls it. It works both as uid 0 and right
// after the thread switched to a non-root uid with PR_SET_KEEPCAPS set.
//
// Errors name the set, as in "capabilities: bounding: operation not
// permitted", and wrap the errno.
func Apply(bounding, granted []string, ambient bool) error {
	s := Sets{Bounding: bounding, Effective: granted, Permitted: granted, Inheritable: granted}
	if ambient {
		s.Ambient = granted
	}
	return ApplySets(s)
}

// Sets are the five capability sets of a thread, by name, as an OCI
// bundle gives them.
type Sets struct {
	Bounding, Effective, Permitted, Inheritable, Ambient []string
}

// ApplySets sets the calling thread's capability sets to exactly s. The
// effective and inheritable sets must lie within the permitted one, the
// permitted within the bounding, and the ambient within both permitted and
// inheritable: the kernel's rules, checked first so that the error names
// the set.
func ApplySets(s Sets) error {
	var masks [5]uint64
	for i, names := range [][]string{s.Bounding, s.Effective, s.Permitted, s.Inheritable, s.Ambient} {
		m, err := Mask(names)
		if err != nil {
			return fmt.Errorf("capabilities: %w", err)
		}
		masks[i] = m
	}
	bound, eff, perm, inh, amb := masks[0], masks[1], masks[2], masks[3], masks[4]
	for _, c := range []struct {
		set, within uint64
		what        string
	}{
		{perm, bound, "permitted: %s: not in the bounding set"},
		{eff, perm, "effective: %s: not in the permitted set"},
		{inh, bound, "inheritable: %s: not in the bounding set"},
		{amb, perm & inh, "ambient: %s: not in both the permitted and inheritable sets"},
	} {
		if extra := c.set &^ c.within; extra != 0 {
			return fmt.Errorf("capabilities: "+c.what+": %w", strings.Join(Names(extra), ", "), unix.EINVAL)
		}
	}
	last, err := capability.LastCap()
	if err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	if extra := bound &^ upTo(last); extra != 0 {
		return fmt.Errorf("capabilities: %s: not supported by the running kernel: %w",
			strings.Join(Names(extra), ", "), unix.EINVAL)
	}

	cur, err := getSets()
	if err != nil {
		return fmt.Errorf("capabilities: capget: %w", err)
	}
	// Nothing can enter the permitted set, so a missing capability fails
	// here, before anything is changed, with its name.
	if missing := bound &^ cur.permitted; missing != 0 {
		return fmt.Errorf("capabilities: permitted: %s not held: %w",
			strings.Join(Names(missing), ", "), unix.EPERM)
	}

	// A uid change away from 0 with PR_SET_KEEPCAPS keeps the permitted set
	// but clears the effective one, and dropping from the bounding set
	// needs CAP_SETPCAP in effective: raise effective to permitted first.
	if cur.effective != cur.permitted {
		cur.effective = cur.permitted
		if err := setSets(cur); err != nil {
			return fmt.Errorf("capabilities: effective: %w", err)
		}
	}

	// The bounding set goes first, while CAP_SETPCAP may still be in the
	// effective set; the capset below may take it away. Only raised bits
	// are dropped, so a set that already fits needs no CAP_SETPCAP.
	for c := capability.Cap(0); c <= last; c++ {
		if bound&(1<<uint(c)) != 0 {
			continue
		}
		raised, err := capability.GetBound(c)
		if err != nil {
			return fmt.Errorf("capabilities: bounding: %w", err)
		}
		if !raised {
			continue
		}
		if err := capability.DropBound(c); err != nil {
			return fmt.Errorf("capabilities: bounding: %w", err)
		}
	}

	// Inheritable must not exceed the bounding set, which now holds every
	// wanted capability, so one capset sets all three.
	if err := setSets(sets{effective: eff, permitted: perm, inheritable: inh}); err != nil {
		return fmt.Errorf("capabilities: effective, permitted, inheritable: %w", err)
	}

	// The capset already lowered every ambient bit outside permitted and
	// inheritable; clear the rest too so the ambient set is exactly what is
	// asked. Raising needs the bit in permitted and inheritable, which the
	// capset above provided. A non-root task keeps across execve only its
	// ambient set (plus what file capabilities grant): that is why berth asks
	// for ambient = names for non-root users.
	if err := capability.ResetAmbient(); err != nil {
		return fmt.Errorf("capabilities: ambient: %w", err)
	}
	if amb != 0 {
		for c := capability.Cap(0); c <= last; c++ {
			if amb&(1<<uint(c)) == 0 {
				continue
			}
			if err := capability.SetAmbient(true, c); err != nil {
				return fmt.Errorf("capabilities: ambient: %w", err)
			}
		}
	}
	return nil
}

// sets holds the three capget/capset sets of a thread as 64-bit masks.
type sets struct {
	effective, permitted, inheritable uint64
}

// getSets reads the calling thread's sets; pid 0 in the header means the
// calling thread, not the thread group.
func getSets() (sets, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return sets{}, err
	}
	return sets{
		effective:   join(data[0].Effective, data[1].Effective),
		permitted:   join(data[0].Permitted, data[1].Permitted),
		inheritable: join(data[0].Inheritable, data[1].Inheritable),
	}, nil
}

// setSets writes the calling thread's sets. Version 3 takes two 32-bit
// words per set, low word first.
func setSets(s sets) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(s.effective), Permitted: uint32(s.permitted), Inheritable: uint32(s.inheritable)},
		{Effective: uint32(s.effective >> 32), Permitted: uint32(s.permitted >> 32), Inheritable: uint32(s.inheritable >> 32)},
	}
	return unix.Capset(&hdr, &data[0])
}

func join(lo, hi uint32) uint64 {
	return uint64(hi)<<32 | uint64(lo)
}

// upTo is the mask of capabilities 0 through last.
func upTo(last capability.Cap) uint64 {
	if last >= 63 {
		return ^uint64(0)
	}
	return 1<<(uint(last)+1) - 1
}

// RaiseEffective raises the calling thread's effective set to its
// permitted set: after a switch away from uid 0 with PR_SET_KEEPCAPS the
// effective set is empty, and a step that needs a capability before the
// capability step (loading a seccomp filter without no_new_privs needs
// CAP_SYS_ADMIN) raises it first.
func RaiseEffective() error {
	cur, err := getSets()
	if err != nil {
		return fmt.Errorf("capabilities: capget: %w", err)
	}
	if cur.effective == cur.permitted {
		return nil
	}
	cur.effective = cur.permitted
	if err := setSets(cur); err != nil {
		return fmt.Errorf("capabilities: effective: %w", err)
	}
	return nil
}
