package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hook is a config hook running sh -c script.
func hook(script string) map[string]any {
	return map[string]any{"path": "/bin/sh", "args": []string{"sh", "-c", script}}
}

// logHook appends its name and the status it read on stdin to log.
func logHook(name, log string) map[string]any {
	return hook(fmt.Sprintf(`echo %s $(grep -o '"status":"[a-z]*"') $(readlink /proc/self/ns/uts) >> %s`, name, log))
}

// TestOCIHooksOrder: every hook of the spec runs, in its order and place:
// prestart and createRuntime in the runtime's namespaces, createContainer
// in the container's before its pivot_root (host paths), startContainer
// inside the container before its command, poststart after the start;
// each reads the container's state on its stdin. run runs them all, as
// create, start and delete do.
func TestOCIHooksOrder(t *testing.T) {
	t.Parallel()
	tk := newTask(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
		cfg["hooks"] = map[string]any{
			"prestart":        []any{logHook("prestart", log)},
			"createRuntime":   []any{logHook("createRuntime", log)},
			"createContainer": []any{logHook("createContainer", log)},
			"startContainer":  []any{logHook("startContainer", "/tmp/started")},
			"poststart":       []any{logHook("poststart", log)},
			"poststop":        []any{logHook("poststop", log)},
		}
	}, "/bin/sh", "-c", "cat /tmp/started; readlink /proc/self/ns/uts")
	res := ociRun(t, tk.stateDir, "run", "--bundle", b, tk.id)
	mustSucceed(t, res)
	host, err := os.Readlink("/proc/self/ns/uts")
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Fields(res.stdout)
	if len(out) != 4 || out[0] != "startContainer" || out[1] != `"status":"created"` || out[2] != out[3] || out[3] == host {
		t.Fatalf("the container's output: want startContainer's line in its uts namespace, then that namespace; got %q", res.stdout)
	}
	own := out[3]
	body, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`prestart "status":"created" ` + host,
		`createRuntime "status":"creating" ` + host,
		`createContainer "status":"creating" ` + own,
		`poststart "status":"running" ` + host,
		`poststop "status":"stopped" ` + host,
	}, "\n") + "\n"
	if string(body) != want {
		logb, _ := os.ReadFile(filepath.Join(tk.stateDir, "..", "oci.log"))
		t.Errorf("hooks ran as:\n%s\nwant:\n%s\nlog: %s", body, want, logb)
	}
}

// TestOCIHookFailures: a failing hook that runs before the command fails
// the verb that runs it, naming it, and leaves nothing behind (the
// task's leak check); poststart's does not.
func TestOCIHookFailures(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			tk := newTask(t)
			b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
				cfg["hooks"] = map[string]any{kind: []any{hook("true"), hook("echo no way >&2; exit 3")}}
			}, "/bin/true")
			res := ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id)
			mustFail(t, res, fmt.Sprintf("hooks.%s[1] /bin/sh: exit status 3: no way", kind))
			if st := ociRun(t, tk.stateDir, "state", tk.id); st.code == 0 {
				t.Errorf("the container is left after a failed create:\n%s", st)
			}
		})
	}
	t.Run("startContainer", func(t *testing.T) {
		t.Parallel()
		tk := newTask(t)
		b := atkBundle(t, tk, func(cfg map[string]any, _ string) {
			cfg["hooks"] = map[string]any{"startContainer": []any{hook("echo no way >&2; exit 3")}}
		}, "/bin/sh", "-c", "echo ran")
		mustSucceed(t, ociRun(t, tk.stateDir, "create", "--bundle", b, tk.id))
		res := ociRun(t, tk.stateDir, "start", tk.id)
		mustFail(t, res, "hooks.startContainer[0] /bin/sh: exit status 3: no way")
		if strings.Contains(res.stdout, "ran") {
			t.Errorf("the command ran after its startContainer hook failed:\n%s", res)
		}
		st := ociStateOf(t, tk.stateDir, tk.id)
		if st.Status != "stopped" {
			t.Errorf("after a failed startContainer hook the container is %s, want stopped", st.Status)
		}
		mustSucceed(t, ociRun(t, tk.stateDir, "delete", tk.id))
	})
}
