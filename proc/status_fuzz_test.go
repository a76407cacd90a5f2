package proc

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// formatStatus prints the lines of /proc/PID/status that Status keeps.
func formatStatus(st Status) string {
	ids := func(v [4]int) string { return fmt.Sprintf("%d\t%d\t%d\t%d", v[0], v[1], v[2], v[3]) }
	return fmt.Sprintf("Name:\t%s\nUmask:\t0022\nUid:\t%s\nGid:\t%s\nVmRSS:\t%8d kB\nVmSwap:\t%8d kB\nThreads:\t%d\n"+
		"CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\nNoNewPrivs:\t%d\n",
		st.Name, ids(st.Uid), ids(st.Gid), st.VmRSS/1024, st.VmSwap/1024, st.Threads,
		st.CapInh, st.CapPrm, st.CapEff, st.CapBnd, st.CapAmb, st.NoNewPrivs)
}

// FuzzStatus feeds /proc/PID/status text to the parser. The Name line
// carries the task's comm.
//
// Properties: ids fit in 32 bits, sizes are whole kB that did not
// overflow; lines Status does not know change nothing; printing the
// result the kernel's way parses back to the same Status.
func FuzzStatus(f *testing.F) {
	f.Add("Name:\t sp ace\nUid:\t4294967295\t0\t0\t0\nVmSwap:\t0 kB\nNoNewPrivs:\t1\nExtra:\tignored\nno colon here\n")
	f.Add(formatStatus(Status{Name: "x:y\\n", VmRSS: math.MaxUint64 / 1024 * 1024, CapBnd: math.MaxUint64, Threads: -1}))
	f.Add("Name:\tx\nVmRSS:\t18014398509481984 kB\n")
	f.Fuzz(func(t *testing.T, data string) {
		st, err := statusParse(data)
		if err != nil {
			return
		}
		for i := range 4 {
			if st.Uid[i] < 0 || st.Uid[i] > math.MaxUint32 || st.Gid[i] < 0 || st.Gid[i] > math.MaxUint32 {
				t.Fatalf("ids %v %v: not 32-bit ids", st.Uid, st.Gid)
			}
		}
		if st.VmRSS%1024 != 0 || st.VmSwap%1024 != 0 {
			t.Fatalf("VmRSS %d, VmSwap %d: not whole kB (overflowed)", st.VmRSS, st.VmSwap)
		}
		if strings.Contains(st.Name, "\n") {
			t.Fatalf("Name %q spans lines", st.Name)
		}
		var known []string
		for line := range strings.Lines(data) {
			key, _, _ := strings.Cut(line, ":")
			switch key {
			case "Name", "Uid", "Gid", "VmRSS", "VmSwap", "CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Threads":
				known = append(known, strings.TrimSuffix(line, "\n")+"\n")
			}
		}
		if only, err := statusParse(strings.Join(known, "")); err != nil || only != st {
			t.Fatalf("without unknown lines: %+v, %v; want %+v", only, err, st)
		}
		again, err := statusParse(formatStatus(st))
		if err != nil || again != st {
			t.Fatalf("reprinted %+v parses as %+v, %v", st, again, err)
		}
	})
}
