package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/berthrun/berth/executor"
	"github.com/berthrun/berth/stats"
)

// cliDriver runs every operation as a berth command, as a script does:
// `run -d`, `exec`, `stats --json`, `stop`, `state`, `delete`. Each
// detached task has its supervisor (a lean reaper once the task runs),
// which the host's counts include.
type cliDriver struct {
	bin          string // the berth binary; berth-init beside it
	stateDir     string
	cgroupParent string
}

type cliTask struct {
	id   string
	kind *kind
}

func (t *cliTask) ID() string { return t.id }

// berth runs one berth command and returns its stdout, exit code and
// stderr; err only when it could not be run or did not finish in time.
func (d *cliDriver) berth(args ...string) (string, int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin, append([]string{"--state-dir", d.stateDir, "--cgroup-parent", d.cgroupParent}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		return stdout.String(), ee.ExitCode(), stderr.String(), nil
	case err != nil:
		return "", -1, stderr.String(), fmt.Errorf("berth %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), 0, stderr.String(), nil
}

// want checks a command's exit code; the error quotes berth's stderr.
func want(verb string, code, wantCode int, stderr string, err error) error {
	if err != nil {
		return err
	}
	if code != wantCode {
		return fmt.Errorf("berth %s: exit code %d, want %d: %s", verb, code, wantCode, strings.TrimSpace(stderr))
	}
	return nil
}

func (d *cliDriver) launch(k *kind) (task, string, error) {
	id := newID(k)
	args := []string{"run", "-d", "--id", id}
	if k.grace > 0 {
		args = append(args, "--stop-signal", k.stopSignal, "--grace", k.grace.String())
	} else {
		args = append(args, "--grace", "0s")
	}
	if k.res.MemoryBytes > 0 {
		args = append(args, "--memory", strconv.FormatInt(k.res.MemoryBytes, 10))
	}
	if k.res.PidsLimit > 0 {
		args = append(args, "--pids-limit", strconv.FormatInt(k.res.PidsLimit, 10))
	}
	out, code, stderr, err := d.berth(append(append(args, "--"), k.argv...)...)
	if err := want("run -d", code, 0, stderr, err); err != nil {
		return nil, "launch", err
	}
	if got := strings.TrimSpace(out); got != id {
		return nil, "launch", fmt.Errorf("berth run -d printed %q, want the id %q", got, id)
	}
	return &cliTask{id: id, kind: k}, "launch", nil
}

// exec runs, in turn at random, as the library driver does: /bin/true, a
// shell that leaves a process behind, and a sleep past --timeout.
func (d *cliDriver) exec(tk task) (string, error) {
	t := tk.(*cliTask)
	switch r := rand.IntN(10); {
	case r < 7:
		_, code, stderr, err := d.berth("exec", t.id, "--", "/bin/true")
		return "exec", want("exec", code, 0, stderr, err)
	case r < 9:
		out, code, stderr, err := d.berth("exec", t.id, "--", "/bin/sh", "-c", "sleep 3600 & echo ok")
		if err := want("exec", code, 0, stderr, err); err != nil {
			return "exec-bg", err
		}
		if out != "ok\n" {
			return "exec-bg", fmt.Errorf("berth exec: output %q, want %q", out, "ok\n")
		}
		return "exec-bg", nil
	default:
		_, code, stderr, err := d.berth("exec", "--timeout", execDeadline.String(), t.id, "--", "sleep", "3600")
		if err := want("exec --timeout", code, 125, stderr, err); err != nil {
			return "exec-timeout", err
		}
		if !strings.Contains(stderr, "deadline passed") {
			return "exec-timeout", fmt.Errorf("berth exec --timeout: stderr %q does not say the deadline passed", stderr)
		}
		return "exec-timeout", nil
	}
}

func (d *cliDriver) stats(tk task) (string, error) {
	t := tk.(*cliTask)
	out, code, stderr, err := d.berth("stats", t.id, "--json")
	if err := want("stats --json", code, 0, stderr, err); err != nil {
		return "stats", err
	}
	var u stats.TaskResourceUsage
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		return "stats", fmt.Errorf("berth stats --json: %w", err)
	}
	return "stats", checkPids(t.kind, len(u.Pids))
}

// stop stops the task with its recorded signal and grace, checks how the
// state says it ended, and deletes it.
func (d *cliDriver) stop(tk task) (string, error) {
	t := tk.(*cliTask)
	name := "stop-kill"
	if t.kind.grace > 0 {
		name = "stop-signal"
	}
	_, code, stderr, err := d.berth("stop", t.id)
	if err := want("stop", code, 0, stderr, err); err != nil {
		return name, err
	}
	out, code, stderr, err := d.berth("state", t.id)
	if err := want("state", code, 0, stderr, err); err != nil {
		return name, err
	}
	var st executor.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return name, fmt.Errorf("berth state: %w", err)
	}
	if st.Status != executor.StatusStopped {
		return name, fmt.Errorf("berth state after stop: status %q", st.Status)
	}
	if err := checkEnd(t.kind, st.ExitCode, st.Signal); err != nil {
		return name, err
	}
	_, code, stderr, err = d.berth("delete", t.id)
	return name, want("delete", code, 0, stderr, err)
}

func (d *cliDriver) kill(tk task) error {
	_, code, stderr, err := d.berth("delete", "--force", tk.ID())
	return want("delete --force", code, 0, stderr, err)
}

// berthBinaries returns the absolute directory of the berth and
// berth-init to run: dir, or a temp dir they are built into, which cleanup
// removes. The soak recognises its supervisors by this directory.
func berthBinaries(dir string) (string, func(), error) {
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "berth-soak-bin-")
		if err != nil {
			return "", cleanup, err
		}
		cleanup = func() { os.RemoveAll(tmp) }
		if err := buildBerth(tmp); err != nil {
			cleanup()
			return "", func() {}, err
		}
		dir = tmp
	}
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(abs, "berth"))
	}
	if err != nil {
		cleanup()
		return "", func() {}, err
	}
	return abs, cleanup, nil
}

// buildBerth builds berth and berth-init, static, into dir, as `make
// build` does: berth finds berth-init beside itself.
func buildBerth(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w (run from the bench module, or pass -bin)", err)
	}
	mod := strings.TrimSpace(string(out))
	if filepath.Base(filepath.Dir(mod)) != "bench" {
		return fmt.Errorf("build berth: the current directory is not in the bench module (go.mod %q): run from bench/, or pass -bin", mod)
	}
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/...")
	cmd.Dir = filepath.Dir(filepath.Dir(mod))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/... in %s: %w\n%s", cmd.Dir, err, out)
	}
	return nil
}
