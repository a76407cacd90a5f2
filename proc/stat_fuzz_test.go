package proc

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// formatStat prints st as the kernel prints /proc/PID/stat, with the
// fields Stat does not keep set to plausible constants. The state is one
// raw byte, as the parser takes it.
func formatStat(st Stat) string {
	return fmt.Sprintf("%d (%s) %s %d %d %d 0 -1 4194560 0 0 0 0 %d %d 0 0 20 0 %d 0 %d %d %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
		st.Pid, st.Comm, []byte{st.State}, st.PPid, st.PGrp, st.Session, st.UTime, st.STime,
		st.NumThreads, st.StartTime, st.VSize, st.RSSPages)
}

// FuzzStat feeds /proc/PID/stat text to the parser, directly and through
// a StatReader reading it from a file. A task names its own comm (prctl
// PR_SET_NAME), so those bytes are the task's choice.
//
// Properties: both readers agree; an accepted text's Comm is what lies
// between the first '(' and the last ')'; fields past rss do not matter;
// printing the result the kernel's way parses back to the same Stat.
func FuzzStat(f *testing.F) {
	root := f.TempDir()
	const pid = 4242
	if err := os.MkdirAll(filepath.Join(root, fmt.Sprint(pid)), 0o755); err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(root, fmt.Sprint(pid), "stat")
	sr := New(root).NewStatReader()
	f.Add([]byte("5 (a b (c)) S 1 2 3 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 4096 -1"))
	f.Add([]byte(formatStat(Stat{Pid: 7, Comm: ") (", State: 'R', RSSPages: -5, VSize: math.MaxUint64})))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := statParseBytes(data)
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rst, rerr := sr.Stat(pid)
		if (err == nil) != (rerr == nil) || st != rst {
			t.Fatalf("statParseBytes = %+v, %v; StatReader = %+v, %v", st, err, rst, rerr)
		}
		if err != nil {
			return
		}
		open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
		if st.Comm != string(data[open+1:end]) {
			t.Fatalf("Comm %q, want the bytes between the first '(' and the last ')': %q", st.Comm, data[open+1:end])
		}
		if isSpace(st.State) {
			t.Fatalf("State %q is white space", st.State)
		}
		if more, err := statParseBytes(append(bytes.Clone(data), " x y"...)); err != nil || more != st {
			t.Fatalf("trailing fields changed the result: %+v, %v; want %+v", more, err, st)
		}
		if st.State == ')' {
			// Printed bare, a ')' state would become the end of the comm:
			// the kernel's states are letters.
			return
		}
		again, err := statParse(formatStat(st))
		if err != nil || again != st {
			t.Fatalf("reprinted %+v parses as %+v, %v", st, again, err)
		}
	})
}

// FuzzStatRoundTrip prints a Stat the kernel's way and parses it back:
// whatever comm a task chose, every field comes back unchanged.
func FuzzStatRoundTrip(f *testing.F) {
	f.Add(uint32(1), "systemd", byte('S'), int32(0), int32(1), int32(1), uint64(1234), uint64(5678), int32(3), uint64(5), uint64(170000000), int64(3200))
	f.Add(uint32(1<<31), "(a) b)", byte('R'), int32(-1), int32(-2), int32(0), uint64(math.MaxUint64), uint64(0), int32(math.MaxInt32), uint64(math.MaxUint64), uint64(0), int64(math.MaxInt64))
	f.Add(uint32(9), "new\nline\t) 1 2 3", byte('Z'), int32(math.MinInt32), int32(0), int32(0), uint64(0), uint64(0), int32(math.MinInt32), uint64(0), uint64(0), int64(math.MinInt64+1))
	f.Fuzz(func(t *testing.T, pid uint32, comm string, state byte, ppid, pgrp, session int32,
		utime, stime uint64, threads int32, start, vsize uint64, rss int64) {
		if pid > 1<<31 || rss == math.MinInt64 {
			t.Skip("outside what the kernel prints: pid_t, and an rss of -2^63")
		}
		if !(state >= 'A' && state <= 'Z' || state >= 'a' && state <= 'z') {
			t.Skip("the kernel's states are letters")
		}
		want := Stat{Pid: int(pid), PPid: int(ppid), PGrp: int(pgrp), Session: int(session), Comm: comm,
			State: state, UTime: utime, STime: stime, StartTime: start, NumThreads: int(threads),
			VSize: vsize, RSSPages: rss}
		got, err := statParse(formatStat(want))
		if err != nil || got != want {
			t.Fatalf("%q parses as %+v, %v; want %+v", formatStat(want), got, err, want)
		}
	})
}
