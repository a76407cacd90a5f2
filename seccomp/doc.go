// Package seccomp compiles an OCI LinuxSeccomp profile into a classic BPF
// program for seccomp(2), in pure Go (no libseccomp), in the parent. The
// child loads it with package filter as the last step before execve.
//
// # What a profile means here
//
// The default action (with defaultErrnoRet) answers every call that no
// rule decides. A rule names calls, an action (with errnoRet: the errno
// of SCMP_ACT_ERRNO, the data of SCMP_ACT_TRACE; EPERM when absent) and
// argument conditions, all of which must hold (AND). The seven operators
// compare 64-bit arguments unsigned; MASKED_EQ is (arg & value) ==
// valueTwo. Several rules for one call are checked in profile order and
// the first that matches decides; a rule without conditions always
// matches, so rules after it for that call are dead. Names that no
// compiled table knows are skipped and listed in Program.Unknown.
// SCMP_ACT_NOTIFY, listenerPath and the listener and TSYNC flags are
// refused: the filter is loaded on the one thread that execs the task,
// and there is no notify agent.
//
// # Architectures
//
// x86_64 and its compat ABIs. The tables (zsyscalls.go, generated from
// golang.org/x/sys and checked against the kernel headers) give the
// numbers of x86_64 and i386.
//
//   - x86_64 (SCMP_ARCH_X86_64; also when architectures is empty).
//   - i386 (SCMP_ARCH_X86): its own numbers; arguments are 32-bit, so only
//     their low words are compared (values modulo 2^32, as libseccomp).
//   - x32 (numbers with bit 30 set on AUDIT_ARCH_X86_64) never runs: when
//     SCMP_ARCH_X32 is listed it gets the default action if that denies,
//     else ENOSYS; when not listed, KILL_PROCESS.
//   - Any other architecture: KILL_PROCESS. Its numbers mean other calls,
//     so neither the rules nor the default were written for it, and a
//     permissive default would let through what the rules deny. The
//     whole process dies, not just the thread (KILL_THREAD would leave
//     the rest running in an unknown state).
//
// A number above the largest its table knows is a call newer than this
// build: it gets ENOSYS, as from an older kernel, so libc falls back
// (glibc uses clone3 and falls back to clone on ENOSYS only; EPERM
// would fail the call). A permissive default (ALLOW, LOG) is kept for
// them instead: such a profile lists what it denies.
//
// # Program layout
//
//	ld arch
//	jeq AUDIT_ARCH_X86_64 → x86_64
//	jeq AUDIT_ARCH_I386   → i386          (when listed)
//	ret KILL_PROCESS
//	x86_64: ld nr
//	        jset 0x40000000 → x32
//	        search tree over nr            (KILL_PROCESS when not listed)
//	x32:    ret (x32 action)
//	i386:   ld nr
//	        search tree over nr
//
// A search tree covers every number 0..2^32-1 as segments: runs of
// consecutive numbers with one unconditional answer (neighbouring calls
// with the same action, the holes of the table, and the ENOSYS run above
// it merge), and single numbers whose rules test arguments. It is a
// balanced binary search on the segments' first numbers, one JGE per
// level, ending in a RET for a run, or in the number's rule block. A
// rule block tests each rule in order and returns its action, falling
// to the next rule on the first failed condition and returning the
// number's final answer (its unconditional rule's, or the default) after
// the last. A 64-bit condition decides on the high words and looks at the
// low words only when they are equal. Consecutive one-argument equality
// rules with one action (Docker's socket families, personalities) become
// one set test: the high word once, then a binary search of the low
// words. Rules at the end of a block that give the final answer anyway
// are dropped.
//
// Docker's default with berth's default capabilities compiles to about
// 510 instructions, and a call runs at most 25 of them (socket, through
// its family set; read runs 11, most calls 10 to 13).
//
// Classic BPF's conditional jumps reach 255 instructions. The assembler
// (asm.go) places symbolic labels, and a conditional jump whose target
// lies further is pointed at an unconditional jump (32-bit offset) placed
// right after it, a trampoline; layout repeats until every offset fits.
// A program longer than the kernel's 4096 instructions is refused.
//
// # Wire form
//
// Program.Raw holds the instructions as struct sock_filter, 8 bytes each,
// little endian: u16 code, u8 jt, u8 jf, u32 k. Package filter decodes
// and installs it; it imports only x/sys/unix, for the lean init binary.
package seccomp
