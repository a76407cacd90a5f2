package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/internal/logs"
)

// TestLogs: what a detached task writes to stdout and stderr is kept in its
// state dir; logs prints each on its own stream, filtered by --stdout and
// --stderr, cut by --tail; delete removes it (the leftover check).
func TestLogs(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run([]string{"-d"}, "/bin/sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exec sleep 1000")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	deadline := time.Now().Add(runTimeout)
	for {
		res = d.verb("logs")
		if strings.Count(res.stdout, "\n") == 2 && strings.Count(res.stderr, "\n") == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.code != 0 || res.stdout != "out1\nout2\n" || res.stderr != "err1\nerr2\n" {
		t.Fatalf("logs: want out1, out2 on stdout and err1, err2 on stderr:\n%s", res)
	}
	if res = d.verb("logs", "--stdout", "--tail", "1"); res.stdout != "out2\n" || res.stderr != "" {
		t.Errorf("logs --stdout --tail 1:\n%s", res)
	}
	if res = d.verb("logs", "--stderr"); res.stdout != "" || res.stderr != "err1\nerr2\n" {
		t.Errorf("logs --stderr:\n%s", res)
	}
	assertBerthError(t, d.verb("logs", "--stdout", "--stderr"), 125, "--stdout", "--stderr")
	assertBerthError(t, d.berth("logs", "nosuch-task"), 125, "nosuch-task")
	mustSucceed(t, d.verb("delete", "--force"))
}

// TestLogsFollow: logs -f prints lines as the task writes them and ends
// when the task does.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run([]string{"-d"}, "/bin/sh", "-c", "echo first; sleep 1; echo second; sleep 0.5")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	res = d.verb("logs", "-f")
	if res.code != 0 || res.stdout != "first\nsecond\n" {
		t.Errorf("logs -f: want both lines, then the end with the task:\n%s", res)
	}
	if st := d.state(); st.Status != "stopped" {
		t.Errorf("logs -f returned while the task is %s", st.Status)
	}
	mustSucceed(t, d.verb("delete"))
}

// TestLogsBounded: a task that writes without end does not fill the disk:
// its log is rotated past logs.MaxSize, keeping one older generation, and
// the task is never blocked by it (its output keeps coming).
func TestLogsBounded(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run([]string{"-d"}, "/usr/bin/seq", "1", "1000000000000")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	dir := filepath.Join(d.stateDir, d.id)
	rotated := filepath.Join(dir, logs.Rotated(logs.Stdout))
	deadline := time.Now().Add(runTimeout)
	for {
		if _, err := os.Stat(rotated); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A writer as fast as seq overshoots by what it writes during one
	// rotation: allow that, not an unbounded file.
	const slack = 3 * logs.MaxSize
	last := ""
	for i := 0; i < 3; i++ {
		time.Sleep(500 * time.Millisecond)
		for _, f := range []string{filepath.Join(dir, logs.Stdout), rotated} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%v (the log was never rotated?)", err)
			}
			if fi.Size() > slack {
				t.Errorf("%s is %d bytes, want at most about %d", f, fi.Size(), logs.MaxSize)
			}
		}
		b, err := os.ReadFile(rotated)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if end := lines[len(lines)-1]; end == last {
			t.Errorf("the task's output stopped at %s: blocked?", end)
		} else {
			last = end
		}
	}
	mustSucceed(t, d.verb("delete", "--force"))
}

// TestLogsToFile: run -d --stdout FILE sends stdout to the user's file, as
// before; logs has only stderr then.
func TestLogsToFile(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	file := filepath.Join(t.TempDir(), "out")
	res := d.run([]string{"-d", "--stdout", file}, "/bin/sh", "-c", "echo to-file; echo to-log >&2")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	d.waitStatus("stopped")
	if b, err := os.ReadFile(file); err != nil || string(b) != "to-file\n" {
		t.Errorf("--stdout file holds %q, %v", b, err)
	}
	if res = d.verb("logs"); res.stdout != "" || res.stderr != "to-log\n" {
		t.Errorf("logs:\n%s", res)
	}
	mustSucceed(t, d.verb("delete"))
}
