// Command attack is a static helper the attack tests run inside tasks:
// each subcommand tries one thing and prints one line saying how it went,
// "ok ..." or "err NAME" with the errno's name. It builds for amd64 and
// for 386 (the i386 compat ABI, entered through int 0x80).
package main

import (
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: attack CMD ARGS...")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "sys":
		// sys NR [ARG...]: a raw system call with numeric arguments.
		var a [6]uintptr
		for i, s := range args[1:] {
			a[i] = uintptr(num(s))
		}
		r, _, e := unix.RawSyscall6(uintptr(num(args[0])), a[0], a[1], a[2], a[3], a[4], a[5])
		report(int(r), e)
	case "socket":
		// socket FAMILY TYPE: socket(2) where the ABI has it, socketcall(2)
		// SYS_SOCKET on 386.
		fd, e := socket(int(num(args[0])), int(num(args[1])))
		report(fd, e)
	case "handle":
		// handle DIR INO [write]: open_by_handle_at through the mount of
		// DIR, of inode INO of its filesystem (an ext4 handle with
		// generation 0, which ext4 does not check), and read (or open for
		// writing) it.
		handle(args[0], uint32(num(args[1])), len(args) > 2 && args[2] == "write")
	case "cgmove":
		// cgmove CGROUPDIR NODE: move this process into CGROUPDIR, then
		// try to make a node for /dev/kvm (10:232) at NODE.
		err := os.WriteFile(args[0]+"/cgroup.procs", []byte("0"), 0)
		fmt.Printf("move %v\n", errName(err))
		err = unix.Mknod(args[1], unix.S_IFCHR|0o666, int(unix.Mkdev(10, 232)))
		fmt.Printf("mknod %v\n", errName(err))
	case "mountcg":
		// mountcg DIR NODE: mount cgroup2 at DIR, move to its root, mknod.
		err := unix.Mount("cgroup2", args[0], "cgroup2", 0, "")
		fmt.Printf("mount %v\n", errName(err))
		err = os.WriteFile(args[0]+"/cgroup.procs", []byte("0"), 0)
		fmt.Printf("move %v\n", errName(err))
		err = unix.Mknod(args[1], unix.S_IFCHR|0o666, int(unix.Mkdev(10, 232)))
		fmt.Printf("mknod %v\n", errName(err))
	case "rlimit":
		// rlimit RESOURCE SOFT HARD: setrlimit, as the task may try.
		err := unix.Setrlimit(int(num(args[0])), &unix.Rlimit{Cur: num(args[1]), Max: num(args[2])})
		report(0, errnoOf(err))
	case "open":
		// open PATH rw|r: open a file or device.
		flags := unix.O_RDONLY
		if args[1] == "rw" {
			flags = unix.O_RDWR
		}
		fd, err := unix.Open(args[0], flags|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		report(fd, errnoOf(err))
	default:
		fmt.Fprintln(os.Stderr, "attack: unknown command", os.Args[1])
		os.Exit(2)
	}
}

func num(s string) uint64 {
	if s == "-1" {
		return ^uint64(0)
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "attack: bad number", s)
		os.Exit(2)
	}
	return v
}

func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EINVAL
}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	if pe, ok := err.(*os.PathError); ok {
		err = pe.Err
	}
	if e, ok := err.(unix.Errno); ok {
		return "err " + unix.ErrnoName(e)
	}
	return "err " + err.Error()
}

func report(r int, e unix.Errno) {
	if e != 0 {
		fmt.Printf("err %s\n", unix.ErrnoName(e))
		return
	}
	fmt.Printf("ok %d\n", r)
}

func handle(dir string, ino uint32, write bool) {
	mfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fmt.Printf("err mountfd %v\n", errName(err))
		return
	}
	// struct file_handle: handle_bytes, handle_type, then FILEID_INO32_GEN.
	var fh struct {
		bytes uint32
		typ   int32
		ino   uint32
		gen   uint32
	}
	fh.bytes, fh.typ, fh.ino = 8, 1, ino
	flags := unix.O_RDONLY
	if write {
		flags = unix.O_WRONLY | unix.O_APPEND
	}
	r, _, e := unix.Syscall(unix.SYS_OPEN_BY_HANDLE_AT, uintptr(mfd), uintptr(unsafe.Pointer(&fh)), uintptr(flags|unix.O_CLOEXEC))
	if e != 0 {
		fmt.Printf("err %s\n", unix.ErrnoName(e))
		return
	}
	fd := int(r)
	if write {
		fmt.Println("ok opened for writing")
		return
	}
	buf := make([]byte, 256)
	n, err := unix.Read(fd, buf)
	if err != nil {
		fmt.Printf("err read %v\n", errName(err))
		return
	}
	fmt.Printf("ok %q\n", buf[:n])
}
