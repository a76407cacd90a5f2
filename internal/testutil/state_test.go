package testutil

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestWaitComm(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skipf("needs sleep(1) on PATH: %v", err)
	}
	c := exec.Command(sleep, "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	pid := c.Process.Pid
	st, err := ReadProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitComm(pid, st.StartTime, "sleep", 10*time.Second); err != nil {
		t.Errorf("WaitComm(sleep): %v", err)
	}
	err = WaitComm(pid, st.StartTime, "berth-reaper", 50*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), `named "sleep"`) {
		t.Errorf("WaitComm for a name it never gets = %v, want an error saying it is named \"sleep\"", err)
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	err = WaitComm(pid, st.StartTime, "sleep", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitComm of an exited process = %v, want an error saying it exited", err)
	}
}
