package proc

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

func TestStat(t *testing.T) {
	tests := []struct {
		pid  int
		want Stat
	}{
		{1, Stat{Pid: 1, PPid: 0, PGrp: 1, Session: 1, Comm: "systemd", State: 'S', UTime: 1234, STime: 5678,
			StartTime: 5, NumThreads: 3, VSize: 170000000, RSSPages: 3200}},
		// comm "(a) b)" holds both a ") " and a trailing ')'; the start
		// time does not fit in 32 bits.
		{42, Stat{Pid: 42, PPid: 1, PGrp: 42, Session: 42, Comm: "(a) b)", State: 'R', UTime: 150, STime: 25,
			StartTime: 4294967296123, NumThreads: 3, VSize: 10485760, RSSPages: 2560}},
		{77, Stat{Pid: 77, PPid: 2, Comm: "kworker/0:1-events", State: 'I', STime: 3, StartTime: 40, NumThreads: 1}},
	}
	for _, tc := range tests {
		got, err := testFS.Stat(tc.pid)
		if err != nil {
			t.Fatalf("Stat(%d): %v", tc.pid, err)
		}
		if got != tc.want {
			t.Errorf("Stat(%d) = %+v; want %+v", tc.pid, got, tc.want)
		}
		start, err := testFS.StartTime(tc.pid)
		if err != nil || start != tc.want.StartTime {
			t.Errorf("StartTime(%d) = %d, %v; want %d", tc.pid, start, err, tc.want.StartTime)
		}
	}
}

func TestStatErrors(t *testing.T) {
	tests := []struct {
		pid      int
		want     string
		notExist bool
	}{
		{100, "stat pid 100: parse testdata/proc/100/stat: no parenthesised command name", false},
		{101, `stat pid 101: parse testdata/proc/101/stat: field 14 (utime) "notanumber": not a number`, false},
		{102, "stat pid 102: parse testdata/proc/102/stat: 5 fields, want at least 24", false},
		{103, `stat pid 103: parse testdata/proc/103/stat: field 3 (state) "Sx": not one character`, false},
		{9999, "stat pid 9999: open testdata/proc/9999/stat: no such file or directory", true},
	}
	for _, tc := range tests {
		_, err := testFS.Stat(tc.pid)
		checkErr(t, err, tc.want, tc.notExist)
		_, err = testFS.StartTime(tc.pid)
		checkErr(t, err, tc.want, tc.notExist)
	}
}

// TestStatParse covers shapes of comm and pid fields not in testdata.
func TestStatParse(t *testing.T) {
	const tail = " S 1 2 3 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 4096 -1"
	tests := []struct {
		in, comm, err string
	}{
		{in: "5 ()" + tail, comm: ""},
		{in: "5 ())" + tail, comm: ")"},
		{in: "5 (a b (c))" + tail, comm: "a b (c)"},
		{in: "5 (x) S 1 2)" + tail, comm: "x) S 1 2"},
		{in: "5 (new\nline)" + tail, comm: "new\nline"},
		{in: "x (a)" + tail, err: `field 1 (pid) "x": not a number`},
		{in: "5 a)" + tail, err: "no parenthesised command name"},
		{in: "5 (a" + tail, err: "no parenthesised command name"},
		{in: "5 (a) S 1 2 3 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 4096", err: "23 fields, want at least 24"},
		{in: "5 (a) S 1 2 3 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 99 -4096 1", err: `field 23 (vsize) "-4096": not a number`},
	}
	for _, tc := range tests {
		got, err := statParse(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("statParse(%q) error %v; want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("statParse(%q): %v", tc.in, err)
			continue
		}
		if got.Comm != tc.comm || got.Pid != 5 || got.PPid != 1 || got.UTime != 7 || got.STime != 8 ||
			got.StartTime != 99 || got.VSize != 4096 || got.RSSPages != -1 {
			t.Errorf("statParse(%q) = %+v; want comm %q and the tail's numbers", tc.in, got, tc.comm)
		}
	}
}

// TestStatReader: the poller's reader gives what Stat gives, for live
// processes and a fixture root, and a missing pid is not-exist.
func TestStatReader(t *testing.T) {
	for _, root := range []string{"/proc", "testdata"} {
		p := New(root)
		pids, err := p.Pids()
		if err != nil {
			t.Fatal(err)
		}
		r := p.NewStatReader()
		for _, pid := range pids {
			want, werr := p.Stat(pid)
			got, gerr := r.Stat(pid)
			if (werr == nil) != (gerr == nil) || werr == nil && got != want {
				// A live process may change between the two reads: only
				// its times and sizes.
				if root == "testdata" || got.Pid != want.Pid || got.StartTime != want.StartTime {
					t.Errorf("%s pid %d: reader %+v, %v; Stat %+v, %v", root, pid, got, gerr, want, werr)
				}
			}
		}
	}
	if _, err := New("/proc").NewStatReader().Stat(1 << 30); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing pid: %v, want not-exist", err)
	}
}

func BenchmarkStatReader(b *testing.B) {
	r := New("/proc").NewStatReader()
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Stat(pid); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStat(b *testing.B) {
	p := New("/proc")
	pid := os.Getpid()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Stat(pid); err != nil {
			b.Fatal(err)
		}
	}
}
