package proc

import "testing"

func TestStatus(t *testing.T) {
	tests := []struct {
		pid  int
		want Status
	}{
		{1, Status{Name: "systemd", VmRSS: 12800 * 1024, CapEff: 0x1ffffffffff, CapPrm: 0x1ffffffffff,
			CapBnd: 0x1ffffffffff, Threads: 3}},
		{42, Status{Name: "(a) b)", Uid: [4]int{1000, 1001, 1002, 1003}, Gid: [4]int{2000, 2001, 2002, 2003},
			VmRSS: 10240 * 1024, VmSwap: 512 * 1024, CapEff: 0xa80425fb, CapPrm: 0xa80425fb, CapBnd: 0x1ffffffffff,
			CapAmb: 0x400, NoNewPrivs: 1, Threads: 3}},
		// Kernel thread: no Vm lines.
		{77, Status{Name: "kworker/0:1-events", CapEff: 0x1ffffffffff, CapPrm: 0x1ffffffffff,
			CapBnd: 0x1ffffffffff, Threads: 1}},
	}
	for _, tc := range tests {
		got, err := testFS.Status(tc.pid)
		if err != nil {
			t.Fatalf("Status(%d): %v", tc.pid, err)
		}
		if got != tc.want {
			t.Errorf("Status(%d) = %+v; want %+v", tc.pid, got, tc.want)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		pid      int
		want     string
		notExist bool
	}{
		{100, `status pid 100: parse testdata/proc/100/status: Uid "0\t0\t0": 3 ids, want 4`, false},
		{101, `status pid 101: parse testdata/proc/101/status: VmRSS "12 MB": want "N kB"`, false},
		{102, "status pid 102: parse testdata/proc/102/status: no Name line", false},
		{103, `status pid 103: parse testdata/proc/103/status: CapEff "zz": invalid syntax`, false},
		{9999, "status pid 9999: open testdata/proc/9999/status: no such file or directory", true},
	}
	for _, tc := range tests {
		_, err := testFS.Status(tc.pid)
		checkErr(t, err, tc.want, tc.notExist)
	}
}

// TestStatusParse covers values not in testdata.
func TestStatusParse(t *testing.T) {
	got, err := statusParse("Name:\t sp ace\nUid:\t4294967295\t0\t0\t0\nVmSwap:\t0 kB\nNoNewPrivs:\t1\nExtra:\tignored\nno colon here\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Name: " sp ace", Uid: [4]int{4294967295, 0, 0, 0}, NoNewPrivs: 1}
	if got != want {
		t.Errorf("statusParse = %+v; want %+v", got, want)
	}
	for in, wantErr := range map[string]string{
		"Name:\tx\nUid:\t4294967296\t0\t0\t0\n":    `Uid "4294967296\t0\t0\t0": value out of range`,
		"Name:\tx\nVmRSS:\t18014398509481984 kB\n": `VmRSS "18014398509481984 kB": value out of range`,
		"Name:\tx\nThreads:\tmany\n":               `Threads "many": invalid syntax`,
	} {
		if _, err := statusParse(in); err == nil || err.Error() != wantErr {
			t.Errorf("statusParse(%q) error %v; want %q", in, err, wantErr)
		}
	}
}
