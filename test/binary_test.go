package test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/internal/testutil"
)

// sha256File is the hex sha256 of a file's content.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// berthBinaries are the host binaries no task may ever change: berth and,
// beside it, berth-init.
func berthBinaries(t *testing.T) []string {
	t.Helper()
	if filepath.Dir(berthInitBin) != filepath.Dir(berthBin) {
		t.Fatalf("berth-init %s is not beside berth %s", berthInitBin, berthBin)
	}
	if _, err := os.Stat(berthInitBin); err != nil {
		t.Fatalf("berth-init: %v", err)
	}
	return []string{berthBin, berthInitBin}
}

// binarySums records the sha256 of each berth binary and registers a check
// at cleanup that none changed.
func binarySums(t *testing.T) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, b := range berthBinaries(t) {
		sums[b] = sha256File(t, b)
	}
	t.Cleanup(func() {
		for b, want := range sums {
			if got := sha256File(t, b); got != want {
				t.Errorf("%s changed while tasks ran: sha256 %s, was %s", b, got, want)
			}
		}
	})
	return sums
}

// devIno is "DEV:INO" of path, as `probe exe-attack` takes it.
func devIno(t *testing.T, path string) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// peer is another task in tk's state dir with its own id and marker; its
// leftover check runs at cleanup (tk's own checks the dirs are empty).
func (tk *task) peer() *task {
	t := tk.t
	o := *tk
	o.id = uniqueID(t)
	o.marker = testutil.NewMarker(t)
	t.Cleanup(func() {
		if killed := testutil.KillMarked(o.marker); len(killed) > 0 {
			t.Errorf("task %s left processes behind (killed now): %v", o.id, killed)
		}
		testutil.AssertNothingLeft(t, testutil.Leftovers{StateDir: o.stateDir, CgroupParent: o.cgParent, ID: o.id})
	})
	return &o
}

// AttackCount is what `probe exe-attack` did to one target binary.
type AttackCount struct {
	Opened          int            `json:"opened"`
	OnWritableMount int            `json:"on_writable_mount"`
	Pids            []int          `json:"pids"`
	Writable        int            `json:"writable"`
	Appended        int            `json:"appended"`
	Errors          map[string]int `json:"errors"`
	Reached         map[string]int `json:"reached"`
}

// TestTaskCannotRewriteBerthBinaries is CVE-2019-5736's shape: a task in
// the host's pid namespace watches /proc/*/exe for berth and berth-init,
// opens every one it can reach O_PATH (an init stage between its
// capability drop and its execve, an exec helper), keeps the fd and keeps
// trying to reopen it writable through /proc/self/fd, while the test
// launches many short tasks and execs to present such processes. It never
// gets a writable fd, and neither binary changes. Nor does it reach such a
// process's root, cwd or fds through /proc/PID (CVE-2016-9962).
//
// A binary some process is executing cannot be opened for writing
// (ETXTBSY), so the attacker holds what it caught until nothing runs it:
// the attacking task is launched through the library (no berth process
// stays alive for it, as a detached task's supervisor would), and the
// test leaves it a quiet second after the launches. Other tests may keep
// the binaries busy meanwhile, so an O_PATH fd of one on a writable mount
// fails the test by itself.
func TestTaskCannotRewriteBerthBinaries(t *testing.T) {
	t.Parallel()
	binaries := berthBinaries(t)
	binarySums(t)
	berth, initBin := binaries[0], binaries[1]

	tk := newTask(t)
	e := newExecutor(t, tk)
	attack := newLineWriter(`"ready":true`)
	cmd := probeCommand(tk, "exe-attack", "600",
		berth+"@"+devIno(t, berth), initBin+"@"+devIno(t, initBin),
		// A control: the probe run by the execs below, which the
		// attacker may open. It shows the scan finds what it looks for.
		probeBin+"@"+devIno(t, probeBin))
	cmd.Isolation.PID = executor.ModeHost
	cmd.Stdout = attack
	if _, err := e.Launch(cmd); err != nil {
		t.Fatalf("Launch the attacker: %v", err)
	}
	attack.waitReady(t)

	const tasks, workers, execs = 150, 4, 30
	peers := make([]*task, tasks)
	for i := range peers {
		peers[i] = tk.peer()
	}
	var mu sync.Mutex
	var failures []string
	record := func(res result) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, res.String())
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				// Every third one in the host's pid namespace too.
				var flags []string
				if i%3 == 0 {
					flags = []string{"--pid", "host"}
				}
				p := peers[i]
				if res := p.runBerth(nil, p.runArgs(flags, "/bin/true")...); res.code != 0 {
					record(res)
				}
			}
		})
	}
	wg.Go(func() {
		for range execs {
			res := tk.runBerth(nil, execArgs(tk.id, nil, "/probe/probe", "sleep", "0.2")...)
			if res.code != 0 {
				record(res)
			}
		}
	})
	for i := range peers {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, f := range failures {
		t.Errorf("a launch or exec beside the attack failed:\n%s", f)
	}

	// The quiet second: no berth process of this test runs now.
	time.Sleep(time.Second)
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("stop the attacker: %v", err)
	}
	if st := waitExit(t, e); st.ExitCode != 0 {
		t.Errorf("attacker: %+v, want exit 0 after its report; output %q", st, attack.String())
	}
	out := attack.String()
	var report struct {
		Scans     int                     `json:"scans"`
		Pids      int                     `json:"pids"`
		ExeOpened int                     `json:"exe_opened"`
		Seconds   float64                 `json:"seconds"`
		Targets   map[string]*AttackCount `json:"targets"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &report); err != nil {
		t.Fatalf("attacker's report: %v: %q", err, out)
	}
	t.Logf("attacker: %d scans of up to %d processes in %.1fs; %d exe links opened; berth %+v; berth-init %+v",
		report.Scans, report.Pids, report.Seconds, report.ExeOpened, report.Targets[berth], report.Targets[initBin])
	for _, b := range []string{berth, initBin} {
		c := report.Targets[b]
		if c == nil {
			t.Errorf("attacker's report lacks %s: %q", b, out)
			continue
		}
		if c.Writable != 0 || c.Appended != 0 {
			t.Errorf("a task reopened %s writable %d times and appended %d bytes (processes %v, opened O_PATH %d times)",
				b, c.Writable, c.Appended, c.Pids, c.Opened)
		}
		// What saved the binary otherwise may only be that some process
		// (another test's berth) was running it at every try: an O_PATH
		// fd on a writable mount is writable once none is.
		if c.OnWritableMount != 0 {
			t.Errorf("a task got %d O_PATH fds of %s on a writable mount through /proc/PID/exe (processes %v): it can rewrite the binary once nothing runs it",
				c.OnWritableMount, b, c.Pids)
		}
		// CVE-2016-9962: a berth process caught inside the task must not
		// hand it its root, cwd or fds through /proc.
		if len(c.Reached) != 0 {
			t.Errorf("a task reached into processes running %s through /proc/PID: %v (processes %v)", b, c.Reached, c.Pids)
		}
	}
	if c := report.Targets[probeBin]; c == nil || c.Opened == 0 {
		t.Errorf("the attacker never found the probe processes the execs ran (%+v): its scan is broken, so it proves nothing: %q", c, out)
	}
}

// TestTaskCannotPlantDecoyBerthInit: a task plants, inside its own root, an
// executable at the host paths of berth-init and berth (and on the usual
// PATH), which leaves a file if it ever runs. Exec into the task still
// works, never runs a decoy, and the host's binaries are unchanged.
func TestTaskCannotPlantDecoyBerthInit(t *testing.T) {
	t.Parallel()
	binaries := berthBinaries(t)
	binarySums(t)
	root := newRootfs(t)
	d, st := startPauseRootfs(t, root)

	var decoys []string
	for _, b := range binaries {
		decoys = append(decoys, b)
		for _, dir := range []string{"/", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"} {
			decoys = append(decoys, filepath.Join(dir, filepath.Base(b)))
		}
	}
	res := d.exec(nil, append([]string{"/probe", "copy-self"}, decoys...)...)
	mustSucceed(t, res)
	var planted struct {
		Copied []string `json:"copied"`
		Error  string   `json:"error"`
	}
	decodeOne(t, res, &planted)
	if planted.Error != "" || len(planted.Copied) != len(decoys) {
		t.Fatalf("the task could not plant its decoys: %+v", planted)
	}
	for _, p := range decoys {
		if !hostHas(filepath.Join(root, p)) {
			t.Fatalf("decoy %s is not in the task's root %s", p, root)
		}
	}

	for _, flags := range [][]string{nil, {"--user", "alice"}, {"--timeout", "30s"}, {"--env", "X=1", "--cwd", "/tmp"}} {
		ids := d.execIDs(flags, "/probe")
		if ids.Exe != "/probe" {
			t.Errorf("exec %q ran %q, want /probe", flags, ids.Exe)
		}
	}
	res = d.exec(nil, "/probe", "exit", "3")
	if res.code != 3 || strings.Contains(res.stdout+res.stderr, "decoy") {
		t.Errorf("want exit 3 from the probe:\n%s", res)
	}
	for _, p := range decoys {
		mark := filepath.Join(root, filepath.Dir(p), "decoy-ran-"+filepath.Base(p))
		if b, err := os.ReadFile(mark); err == nil {
			t.Errorf("berth ran the task's decoy %s: it left %s (%q)", p, mark, b)
		}
	}
	d.assertOnlyMain(st, "after the execs")
}
