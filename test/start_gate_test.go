package test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthrun/berth/executor"
	"golang.org/x/sys/unix"
)

// TestWaitForStart: a task launched with WaitForStart is set up and held
// before its command (OCI's create): created, its command not run; Start
// runs it; a second Start is refused; the caller reaps it (nothing of
// berth's stays between them); delete removes it all.
func TestWaitForStart(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	out := filepath.Join(t.TempDir(), "ran")
	e := executor.New(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent, KeepState: true, ExternalReaper: true})
	cmd := &executor.Command{ID: tk.id, Cmd: "/bin/sh", Args: []string{"-c", "echo ran > /out/ran; exec sleep 1000"},
		Env: []string{tk.marker}, WaitForStart: true,
		Isolation: executor.Isolation{Mounts: []executor.Mount{{Source: filepath.Dir(out), Destination: "/out"}}}}
	ps, err := e.Launch(cmd)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	store := executor.NewStore(tk.stateDir, cgroupParent, nil)
	st, err := store.Get(tk.id)
	if err != nil || st.Status != executor.StatusCreated {
		t.Fatalf("after launch: %+v, %v; want created", st, err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := os.Stat(out); err == nil {
		t.Fatal("the command ran before its start")
	}
	if err := store.Start(tk.id); err != nil {
		t.Fatalf("Start: %v", err)
	}
	deadline := time.Now().Add(runTimeout)
	for {
		if b, err := os.ReadFile(out); err == nil && strings.TrimSpace(string(b)) == "ran" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not run after its start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st, err := store.Get(tk.id); err != nil || st.Status != executor.StatusRunning {
		t.Errorf("after start: %+v, %v; want running", st, err)
	}
	if err := store.Start(tk.id); !errors.Is(err, executor.ErrNotCreated) {
		t.Errorf("second Start: %v, want ErrNotCreated", err)
	}
	// The test process is the task's parent: berth left nothing between.
	if ppid := parentOf(t, ps.Pid); ppid != os.Getpid() {
		t.Errorf("the task's parent is %d, want the launching process %d", ppid, os.Getpid())
	}
	if err := store.Stop(tk.id, "SIGKILL", 0); err != nil {
		t.Fatal(err)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(ps.Pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(tk.id, false); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteCreated: a created task that never started is killed and
// removed by a plain delete, as OCI's delete does.
func TestDeleteCreated(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	e := executor.New(executor.Config{StateDir: tk.stateDir, CgroupParent: cgroupParent, KeepState: true, ExternalReaper: true})
	ps, err := e.Launch(&executor.Command{ID: tk.id, Cmd: "/bin/true", Env: []string{tk.marker}, WaitForStart: true})
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	store := executor.NewStore(tk.stateDir, cgroupParent, nil)
	done := make(chan error, 1)
	go func() {
		var ws unix.WaitStatus
		_, err := unix.Wait4(ps.Pid, &ws, 0, nil)
		done <- err
	}()
	if err := store.Delete(tk.id, false); err != nil {
		t.Fatalf("delete of a created task: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// parentOf reads a process's parent pid.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}
