package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/berthrun/berth/executor"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setHooks gives the container the config's hooks that run before its
// command: prestart and createRuntime in berth-oci, at the init stage's
// pause after the container's mounts and before its pivot_root (a failing
// one fails create); createContainer and startContainer, which the init
// stage runs, the container's state for their stdin. Each gets the state
// as of its run, with the init stage's pid: "creating", but "created" for
// prestart (as runtime-tools and crun have it) and startContainer.
func setHooks(cmd *executor.Command, spec *specs.Spec, id, bundle string) {
	h := spec.Hooks
	if h == nil {
		return
	}
	state := func(pid int) *stateJSON {
		return &stateJSON{OCIVersion: specs.Version, ID: id, Pid: pid, Status: "creating", Bundle: bundle,
			Rootfs: cmd.TaskDir, Created: time.Now(), Annotations: spec.Annotations}
	}
	if len(h.Prestart)+len(h.CreateRuntime) > 0 {
		cmd.Hooks.Runtime = func(pid int) error {
			// prestart's state says "created", as runtime-tools and crun
			// have it (runc says "creating").
			st := state(pid)
			st.Status = executor.StatusCreated
			if err := runHooks("prestart", h.Prestart, st); err != nil {
				return err
			}
			return runHooks("createRuntime", h.CreateRuntime, state(pid))
		}
	}
	if len(h.CreateContainer)+len(h.StartContainer) > 0 {
		cmd.Hooks.State = func(pid int, status string) []byte {
			st := state(pid)
			st.Status = status
			b, _ := json.Marshal(st)
			return b
		}
	}
}

// runHooks runs hooks in order, each with the container's state on its
// stdin, in berth-oci's namespaces. The first failure ends the run and is
// returned.
func runHooks(kind string, hooks []specs.Hook, st *stateJSON) error {
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, h.Path, err)
		}
	}
	return nil
}

// warnHooks runs every hook whatever the others do (poststart, poststop:
// a failing one is a warning and the rest still run) and logs each
// failure.
func warnHooks(g *global, kind string, hooks []specs.Hook, st *stateJSON) {
	state, err := json.Marshal(st)
	if err != nil {
		logLine(g, "warning", err.Error())
		return
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			logLine(g, "warning", fmt.Sprintf("hooks.%s[%d] %s: %v", kind, i, h.Path, err))
		}
	}
}

// runHook runs one hook, killed at its timeout.
func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: must be positive", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	cmd := exec.CommandContext(ctx, h.Path, args[1:]...)
	cmd.Args = args
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if out.Len() > 0 {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out.Bytes()))
		}
		return err
	}
	return nil
}
