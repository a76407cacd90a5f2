package cgroup

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/cilium/ebpf/asm"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Device control. A task holds CAP_MKNOD, and every filesystem it can
// write to inside is nodev, but a node it makes in a writable bind or in a
// --rootfs directory lives on the host's disk, where any host user can
// open it: a 0666 node for /dev/kvm, a disk or someone's pty. The device
// controller is what stops it: the kernel asks it on every mknod and on
// every open of a device node, whatever the mount. A task may use only
// DefaultDevices and the Config.Devices given to New.
//
// On cgroup v2 (and on the unified hierarchy of a hybrid host) the
// controller is a BPF_PROG_TYPE_CGROUP_DEVICE program. One program with
// the default allowlist is attached once to the parent cgroup
// (Config.Parent) with BPF_F_ALLOW_OVERRIDE: the kernel computes a
// cgroup's effective programs by walking up to the first cgroup that has
// any, and further only past ancestors attached with BPF_F_ALLOW_MULTI, so
// every task cgroup and every exec leaf below it runs the parent's
// program, and a task that needs more devices gets its own program
// (defaults + its devices) on its own cgroup, which replaces the parent's
// for its subtree. Launches after the first only query the parent (one
// BPF_PROG_QUERY, one program's info). The task has no CAP_SYS_ADMIN or
// CAP_BPF and can attach or detach nothing. A hybrid host uses the program
// and no v1 devices cgroup (the kernel consults both): joining a v1 cgroup
// costs each launch an RCU grace period (see Hybrid). A caller that
// wants the rules in a v1 devices cgroup as well, where monitors and
// validators read devices.list, names "devices" in Config.V1Controllers:
// the task then gets a v1 devices cgroup with the same rules as a v1
// host's.
//
// On a pure v1 host the task joins a devices cgroup of its own, where New
// writes "a" to devices.deny and then one devices.allow line per allowed
// rule. That join is one more cgroup.procs write on every v1 launch. A v1
// join takes cgroup_threadgroup_rwsem for writing, which waits for an RCU
// grace period (milliseconds) unless a writer took it moments before:
// the freezer's join, just before, pays that wait, and the devices join
// after it cost a median 17µs here (kernel 6.18).

// DeviceRule allows a task a device, or a class of them.
type DeviceRule struct {
	// Type is "c" (character device) or "b" (block device).
	Type string
	// Major and Minor number the device; -1 means any.
	Major, Minor int64
	// Access is what the task may do: some of "r" (open for reading), "w"
	// (open for writing) and "m" (mknod). A node the task makes lives on
	// whatever filesystem it is made in, which may be the host's: grant
	// "m" only for devices every host user may use anyway.
	Access string
}

// String formats r as a v1 devices.allow line: "c 10:232 rw".
func (r DeviceRule) String() string {
	num := func(n int64) string {
		if n < 0 {
			return "*"
		}
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%s %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// DefaultDevices is what every task may use: the nodes of its /dev (the
// host's null, zero, full, random, urandom and tty bound in) and its own
// devpts's ptmx and ptys. mknod is allowed for the first seven, which any
// host user may open anyway, not for ptys (136:*): a node made for one on
// the host's disk would open another user's terminal there. devpts makes a
// pty's node without asking the device controller.
func DefaultDevices() []DeviceRule {
	return []DeviceRule{
		{Type: "c", Major: 1, Minor: 3, Access: "rwm"},   // null
		{Type: "c", Major: 1, Minor: 5, Access: "rwm"},   // zero
		{Type: "c", Major: 1, Minor: 7, Access: "rwm"},   // full
		{Type: "c", Major: 1, Minor: 8, Access: "rwm"},   // random
		{Type: "c", Major: 1, Minor: 9, Access: "rwm"},   // urandom
		{Type: "c", Major: 5, Minor: 0, Access: "rwm"},   // tty
		{Type: "c", Major: 5, Minor: 2, Access: "rwm"},   // ptmx
		{Type: "c", Major: 136, Minor: -1, Access: "rw"}, // pts/N
	}
}

// Device numbers are 12 bits of major and 20 of minor (MINORBITS).
const (
	maxMajor = 1<<12 - 1
	maxMinor = 1<<20 - 1
)

// validateDevices checks Config.Devices; errors name the field.
func validateDevices(rules []DeviceRule) error {
	for i, r := range rules {
		field := fmt.Sprintf("Devices[%d]", i)
		if r.Type != "c" && r.Type != "b" {
			return fmt.Errorf("%s: type %q: want c or b", field, r.Type)
		}
		if r.Major < -1 || r.Major > maxMajor {
			return fmt.Errorf("%s: major %d: want -1 (any) to %d", field, r.Major, maxMajor)
		}
		if r.Minor < -1 || r.Minor > maxMinor {
			return fmt.Errorf("%s: minor %d: want -1 (any) to %d", field, r.Minor, maxMinor)
		}
		if r.Access == "" {
			return fmt.Errorf("%s: access is empty: want some of rwm", field)
		}
		for j, c := range r.Access {
			if !strings.ContainsRune("rwm", c) || strings.ContainsRune(r.Access[:j], c) {
				return fmt.Errorf("%s: access %q: want some of rwm, each once", field, r.Access)
			}
		}
	}
	return nil
}

// allowed is the whole allowlist of a task: the defaults, then extra.
func allowed(extra []DeviceRule) []DeviceRule {
	return append(DefaultDevices(), extra...)
}

// deviceProgram is a compiled device filter: its BPF instructions in the
// kernel's encoding, and the tags the kernel may compute for them.
type deviceProgram struct {
	insns []byte
	// tags are the first 8 bytes of the SHA-1 and of the SHA-256 of the
	// instructions (bpf_prog_calc_tag; map pointers would be zeroed, this
	// program has none): kernels before 6.18 use SHA-1, later ones
	// SHA-256. A chance match of 64 bits across the two is not a concern.
	tags [2][unix.BPF_TAG_SIZE]byte
}

// is reports whether a loaded program's tag is this program's.
func (p *deviceProgram) is(tag [unix.BPF_TAG_SIZE]byte) bool {
	return tag == p.tags[0] || tag == p.tags[1]
}

// compileDevices compiles an allowlist to a BPF_PROG_TYPE_CGROUP_DEVICE
// program that returns 1 (allow) for an access a rule covers and 0
// otherwise, with cgroup2.DeviceFilter's generator.
func compileDevices(rules []DeviceRule) (*deviceProgram, error) {
	oci := make([]specs.LinuxDeviceCgroup, len(rules))
	for i, r := range rules {
		oci[i] = specs.LinuxDeviceCgroup{Allow: true, Type: r.Type, Major: ptr(r.Major), Minor: ptr(r.Minor), Access: r.Access}
	}
	insns, _, err := cgroup2.DeviceFilter(oci)
	if err != nil {
		return nil, err
	}
	if err := requireAllAccess(insns, rules); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, nativeOrder()); err != nil {
		return nil, err
	}
	p := &deviceProgram{insns: buf.Bytes()}
	sum1, sum256 := sha1.Sum(p.insns), sha256.Sum256(p.insns)
	copy(p.tags[0][:], sum1[:])
	copy(p.tags[1][:], sum256[:])
	return p, nil
}

// requireAllAccess makes each rule's access check demand every bit of the
// request. cgroup2.DeviceFilter lets a request through a rule when it
// shares any bit with the rule's access ((req & allowed) != 0), so a
// read-write open passed an "r" rule: a task given a disk with :ro wrote
// to it. The device cgroup's own meaning (v1's devices.allow) is that
// every bit requested is allowed: (req & ^allowed) == 0. Each check is
// the generator's three instructions
//
//	w1 = w3; w1 &= allowed; if r1 == 0 goto next
//
// rewritten in place to
//
//	w1 = w3; w1 &= ^allowed & rwm; if r1 != 0 goto next
//
// A rule with all of rwm has no check. When the generator emits another
// shape, no program is made: a device filter that cannot be fixed is not
// loaded half-right.
func requireAllAccess(insns asm.Instructions, rules []DeviceRule) error {
	const all = unix.BPF_DEVCG_ACC_READ | unix.BPF_DEVCG_ACC_WRITE | unix.BPF_DEVCG_ACC_MKNOD
	want := 0
	for _, r := range rules {
		if r.Access != "rwm" {
			want++
		}
	}
	mov, and := asm.Mov.Reg32(asm.R1, asm.R3).OpCode, asm.And.Imm32(asm.R1, 0).OpCode
	jeq := asm.JEq.Imm(asm.R1, 0, "").OpCode
	got := 0
	for i := 0; i+2 < len(insns); i++ {
		m, a, j := &insns[i], &insns[i+1], &insns[i+2]
		if m.OpCode == mov && m.Dst == asm.R1 && m.Src == asm.R3 && a.OpCode == and && a.Dst == asm.R1 &&
			j.OpCode == jeq && j.Dst == asm.R1 && j.Constant == 0 {
			a.Constant = int64(^uint32(a.Constant) & all)
			j.OpCode = asm.JNE.Imm(asm.R1, 0, "").OpCode
			got++
		}
	}
	if got != want {
		return fmt.Errorf("device filter: %d access checks found in the generated program, want %d: the generator changed", got, want)
	}
	return nil
}

// nativeOrder is the byte order the kernel reads instructions in. The
// encoder takes binary.LittleEndian or binary.BigEndian only, not
// binary.NativeEndian.
func nativeOrder() binary.ByteOrder {
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 {
		return binary.LittleEndian
	}
	return binary.BigEndian
}

// defaultProgram is the parent's program, compiled once per process.
var defaultProgram = sync.OnceValues(func() (*deviceProgram, error) {
	return compileDevices(DefaultDevices())
})

// deviceProgName names berth's programs for bpftool; berth recognises its
// own by tag, not by name.
const deviceProgName = "berth_devices"

// isCgroup2 reports whether dir is on a cgroup2 filesystem. A tree that is
// not (a test's fake one) takes no BPF program, and can hold no process
// either: clone3 and cgroup.procs place a process only in a real cgroup.
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// ensureParentFilter makes sure the parent cgroup dir has berth's default
// program attached with BPF_F_ALLOW_OVERRIDE. On every launch but the
// first this is a query: the one program attached there is recognised by
// its tag. Two berths that both find it missing both attach; the kernel
// replaces a cgroup's single overridable program in one step, so the
// second takes the first's place and one stays.
func ensureParentFilter(dir string) error {
	fail := func(err error) error { return fmt.Errorf("device filter: attach to %s: %w", dir, err) }
	prog, err := defaultProgram()
	if err != nil {
		return fail(fmt.Errorf("compile: %w", err))
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	ids, flags, err := bpfQueryDevice(fd)
	if err != nil {
		return fail(fmt.Errorf("query attached programs: %w", err))
	}
	if len(ids) == 1 && flags == unix.BPF_F_ALLOW_OVERRIDE {
		tag, err := bpfProgTag(ids[0])
		switch {
		case err == nil && prog.is(tag):
			return nil
		case err != nil && !errors.Is(err, unix.ENOENT):
			// ENOENT: another berth replaced it since the query.
			return fail(fmt.Errorf("program %d: %w", ids[0], err))
		}
	}
	if err := attachDeviceProgram(fd, prog, unix.BPF_F_ALLOW_OVERRIDE); err != nil {
		if len(ids) > 0 && flags != unix.BPF_F_ALLOW_OVERRIDE {
			// The kernel refuses an overridable program beside programs
			// attached as non-overridable or multi.
			return fail(fmt.Errorf("%w (%d programs attached there with flags %#x)", err, len(ids), flags))
		}
		return fail(err)
	}
	return nil
}

// attachTaskFilter attaches to the task's cgroup dir a program allowing
// the defaults and extra. It replaces the parent's for the task and every
// cgroup below it, and is attached without BPF_F_ALLOW_OVERRIDE, so that
// nothing below can replace it in turn. The cgroup holds the program's
// only reference once the fd is closed: removing the cgroup frees it.
func attachTaskFilter(dir string, extra []DeviceRule) error {
	fail := func(err error) error { return fmt.Errorf("device filter: attach to %s: %w", dir, err) }
	prog, err := compileDevices(allowed(extra))
	if err != nil {
		return fail(fmt.Errorf("compile: %w", err))
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fail(err)
	}
	defer unix.Close(fd)
	if err := attachDeviceProgram(fd, prog, 0); err != nil {
		return fail(err)
	}
	return nil
}

// attachDeviceProgram loads prog and attaches it to the cgroup fd with
// flags, then drops the program fd: the attachment keeps it alive.
func attachDeviceProgram(cgroupFD int, prog *deviceProgram, flags uint32) error {
	progFD, err := bpfLoadDevice(prog.insns, deviceProgName)
	if err != nil {
		return fmt.Errorf("load program: %w", err)
	}
	defer unix.Close(progFD)
	if err := bpfAttachDevice(cgroupFD, progFD, flags); err != nil {
		return fmt.Errorf("attach program: %w", err)
	}
	return nil
}

// v1DeviceSpec is what cgroup1 writes to a new v1 devices cgroup: "a" to
// devices.deny (which empties the list the cgroup inherited and denies by
// default), then each allowed rule to devices.allow: the caller's extra
// rules first, in their order, then the defaults. The kernel lists them
// in devices.list in the order written (a rule for a device already
// listed widens that entry instead), and an allowlist means the same in
// any order; extra first is the order OCI's validation reads back, the
// bundle's rules as given (runtime-tools' linux_cgroups_devices).
func v1DeviceSpec(extra []DeviceRule) []specs.LinuxDeviceCgroup {
	out := []specs.LinuxDeviceCgroup{{Allow: false, Type: "a", Access: "rwm"}}
	for _, r := range append(slices.Clone(extra), DefaultDevices()...) {
		out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: r.Type, Major: ptr(r.Major), Minor: ptr(r.Minor), Access: r.Access})
	}
	return out
}

// checkV1Devices checks that the v1 devices controller is mounted below
// root: without it a v1 task could use every device.
func checkV1Devices(root string) error {
	if !v1Mounted(root, "devices") {
		return fmt.Errorf("cgroup v1 devices controller is not mounted at %s: berth needs it to keep a task from making and opening device nodes", filepath.Join(root, "devices"))
	}
	return nil
}
