package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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
// its log is trimmed to its last logs.MaxSize once it passes twice that,
// on a tmpfs of logs.FSSize, and the task is neither blocked nor failed by
// it: its output keeps coming, and logs shows the newest.
func TestLogsBounded(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run([]string{"-d"}, "/usr/bin/seq", "1", "1000000000000")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	path := filepath.Join(d.stateDir, d.id, logs.Dir, logs.Stdout)
	deadline := time.Now().Add(runTimeout)
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 3*logs.MaxSize || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := 0
	for i := 0; i < 3; i++ {
		time.Sleep(300 * time.Millisecond)
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		if st.Size <= 3*logs.MaxSize {
			t.Fatalf("the task wrote only %d bytes: blocked or dead?", st.Size)
		}
		if held := st.Blocks * 512; held > logs.FSSize {
			t.Errorf("the log holds %d bytes (size %d), want at most %d", held, st.Size, logs.FSSize)
		}
		res = d.verb("logs", "--tail", "2")
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		n, err := strconv.Atoi(lines[0]) // the last may be cut mid-write
		if res.code != 0 || err != nil || n <= last {
			t.Errorf("logs --tail 2 after %d: want a higher number:\n%s", last, res)
		}
		last = n
	}
	if st := d.state(); st.Status != "running" {
		t.Errorf("the writer is %s (exit %d): its log must not make it fail", st.Status, st.ExitCode)
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

// TestTaskCannotFillDiskThroughLog: a detached task holds a writable fd of
// its log in berth's state dir; growing it at once (fallocate, ftruncate)
// must not reach the state dir's filesystem: the log lives on a tmpfs of
// its own, bounded.
func TestTaskCannotFillDiskThroughLog(t *testing.T) {
	t.Parallel()
	d := newDetached(t)
	res := d.run(append([]string{"-d"}, probeMount()...), "/bin/sh", "-c", "/probe/probe fallocate 1 1G; /probe/probe truncate 1 1T; exec /probe/probe pause")
	if res.code != 0 {
		t.Fatalf("run -d:\n%s", res)
	}
	d.waitStatus("running")
	dir := filepath.Join(d.stateDir, d.id, logs.Dir)
	var sfs syscall.Statfs_t
	if err := syscall.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Type != 0x01021994 { // TMPFS_MAGIC
		t.Errorf("the logs are on filesystem %#x, want a tmpfs of their own", sfs.Type)
	}
	if total := int64(sfs.Blocks) * sfs.Bsize; total > 2*logs.FSSize {
		t.Errorf("the logs' filesystem holds %d bytes, want at most about %d", total, logs.FSSize)
	}
	deadline := time.Now().Add(runTimeout)
	for {
		res = d.verb("logs", "--tail", "2")
		if strings.Contains(res.stdout+res.stderr, "truncate") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res.code != 0 || !strings.Contains(res.stdout, "fallocate") {
		t.Errorf("logs after the attempts:\n%s", res)
	}
	mustSucceed(t, d.verb("delete", "--force"))
}
