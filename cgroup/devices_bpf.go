package cgroup

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The few bpf(2) commands device control needs, called directly: a launch
// pays for exactly these syscalls, with no feature probing. Each attr
// struct is the leading part of the kernel's union bpf_attr for its
// command; the kernel zero-fills the rest up to the size passed.

// bpfLicense is the program's license string. It matters only for helpers
// the kernel keeps for GPL programs, and a device filter calls none.
const bpfLicense = "Apache-2.0"

// bpfAttachType is BPF_CGROUP_DEVICE, the hook on mknod and on open of a
// device node.
const bpfAttachType = unix.BPF_CGROUP_DEVICE

// bpfPointer is an __aligned_u64 field holding a user pointer. It is an
// unsafe.Pointer, not a uintptr, so that the garbage collector keeps what
// it points to and updates it if a goroutine stack moves.
type bpfPointer struct{ p unsafe.Pointer }

// The structs below lay out __aligned_u64 pointers as 8-byte Go pointers:
// this line does not compile where pointers have another size.
var _ [unsafe.Sizeof(bpfPointer{}) - 8]struct{}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr, up to
// prog_name.
type progLoadAttr struct {
	progType    uint32
	insnCnt     uint32
	insns       bpfPointer
	license     bpfPointer
	logLevel    uint32
	logSize     uint32
	logBuf      bpfPointer
	kernVersion uint32
	progFlags   uint32
	progName    [unix.BPF_OBJ_NAME_LEN]byte
}

// bpfLoadDevice loads a BPF_PROG_TYPE_CGROUP_DEVICE program and returns
// its fd (close-on-exec, as every bpf fd). A program the verifier rejects
// is loaded again with a log, for the error.
func bpfLoadDevice(insns []byte, name string) (int, error) {
	const insnSize = 8
	license := []byte(bpfLicense + "\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE,
		insnCnt:  uint32(len(insns) / insnSize),
		insns:    bpfPointer{p: unsafe.Pointer(&insns[0])},
		license:  bpfPointer{p: unsafe.Pointer(&license[0])},
	}
	copy(attr.progName[:unix.BPF_OBJ_NAME_LEN-1], name)
	fd, err := progLoad(&attr)
	if err == nil || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL)) {
		return fd, err
	}
	log := make([]byte, 64<<10)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = bpfPointer{p: unsafe.Pointer(&log[0])}
	if fd, lerr := progLoad(&attr); lerr == nil {
		unix.Close(fd) // loads with a log but not without: report the first error
	}
	text, _, _ := strings.Cut(string(log), "\x00")
	text = strings.TrimSpace(text)
	if text == "" {
		return -1, err
	}
	lines := strings.Split(text, "\n")
	return -1, fmt.Errorf("%w (verifier: %s)", err, strings.Join(lines[max(0, len(lines)-3):], "; "))
}

// progLoad runs BPF_PROG_LOAD again while it fails with EAGAIN: the
// verifier gives up when a signal is pending, and the Go runtime signals
// its threads (SIGURG) to preempt goroutines.
func progLoad(attr *progLoadAttr) (fd int, err error) {
	for range 10 {
		fd, err = bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(attr), unsafe.Sizeof(*attr))
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	return fd, err
}

// progAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type progAttachAttr struct {
	targetFD    uint32
	attachBPFFD uint32
	attachType  uint32
	attachFlags uint32
}

// bpfAttachDevice attaches the program progFD to the cgroup cgroupFD.
// Without BPF_F_ALLOW_MULTI a cgroup holds one program per hook, and
// attaching another replaces it in one step.
func bpfAttachDevice(cgroupFD, progFD int, flags uint32) error {
	attr := progAttachAttr{
		targetFD:    uint32(cgroupFD),
		attachBPFFD: uint32(progFD),
		attachType:  bpfAttachType,
		attachFlags: flags,
	}
	_, err := bpf(unix.BPF_PROG_ATTACH, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// progQueryAttr is the BPF_PROG_QUERY part of union bpf_attr, up to
// revision: the kernel writes attach_flags, prog_cnt and revision back
// whatever size it is given.
type progQueryAttr struct {
	targetFD        uint32
	attachType      uint32
	queryFlags      uint32
	attachFlags     uint32
	progIDs         bpfPointer
	progCnt         uint32
	_               uint32
	progAttachFlags bpfPointer
	linkIDs         bpfPointer
	linkAttachFlags bpfPointer
	revision        uint64
}

// maxCgroupProgs is the kernel's limit of programs per cgroup and hook
// (BPF_CGROUP_MAX_PROGS).
const maxCgroupProgs = 64

// bpfQueryDevice lists the device programs attached to the cgroup fd
// itself (not those it inherits) and the flags they were attached with.
func bpfQueryDevice(cgroupFD int) (ids []uint32, flags uint32, err error) {
	buf := make([]uint32, maxCgroupProgs)
	attr := progQueryAttr{
		targetFD:   uint32(cgroupFD),
		attachType: bpfAttachType,
		progIDs:    bpfPointer{p: unsafe.Pointer(&buf[0])},
		progCnt:    uint32(len(buf)),
	}
	if _, err := bpf(unix.BPF_PROG_QUERY, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		return nil, 0, err
	}
	return buf[:attr.progCnt], attr.attachFlags, nil
}

// progGetFDAttr is the BPF_PROG_GET_FD_BY_ID part of union bpf_attr.
type progGetFDAttr struct {
	progID    uint32
	nextID    uint32
	openFlags uint32
}

// objInfoAttr is the BPF_OBJ_GET_INFO_BY_FD part of union bpf_attr.
type objInfoAttr struct {
	bpfFD   uint32
	infoLen uint32
	info    bpfPointer
}

// progInfo is the leading part of struct bpf_prog_info, up to the tag.
type progInfo struct {
	progType uint32
	id       uint32
	tag      [unix.BPF_TAG_SIZE]byte
}

// bpfProgTag returns the tag of the program with id. ENOENT: no such
// program (any more).
func bpfProgTag(id uint32) (tag [unix.BPF_TAG_SIZE]byte, err error) {
	get := progGetFDAttr{progID: id}
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, unsafe.Pointer(&get), unsafe.Sizeof(get))
	if err != nil {
		return tag, err
	}
	defer unix.Close(fd)
	info, err := bpfProgInfo(fd)
	return info.tag, err
}

// bpfProgInfo reads the type, id and tag of the program fd.
func bpfProgInfo(fd int) (progInfo, error) {
	var info progInfo
	attr := objInfoAttr{bpfFD: uint32(fd), infoLen: uint32(unsafe.Sizeof(info)), info: bpfPointer{p: unsafe.Pointer(&info)}}
	_, err := bpf(unix.BPF_OBJ_GET_INFO_BY_FD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return info, err
}
