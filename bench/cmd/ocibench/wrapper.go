package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"golang.org/x/sys/unix"
)

// crun 1.8 knows runtime-spec up to 1.1 and rejects the config containerd
// v2.4 writes (ociVersion 1.3.0: "unknown version specified"). Under
// containerd, crun is therefore called through this benchmark's own binary
// under the name wrapperName (a symlink): on create it rewrites ociVersion
// to 1.1.0 in the bundle's config.json, then it execs crun with the same
// arguments. Every call pays one start of this (static Go) binary; the
// benchmark counts the calls (one line each to OCIBENCH_WRAP_LOG) and times
// the wrapper's start on its own, so that the cost can be taken out.
const wrapperName = "crun-1.1-spec"

// Environment of the wrapper, set on crun's containerd (the shim passes
// its environment on).
const (
	envWrapTarget = "OCIBENCH_CRUN"
	envWrapLog    = "OCIBENCH_WRAP_LOG"
)

var ociVersion = regexp.MustCompile(`"ociVersion"\s*:\s*"[^"]*"`)

func wrapperMain() {
	args := os.Args[1:]
	if log := os.Getenv(envWrapLog); log != "" {
		if f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			fmt.Fprintln(f, args)
			f.Close()
		}
	}
	bundle, create := "", false
	for i, a := range args {
		switch {
		case (a == "--bundle" || a == "-b") && i+1 < len(args):
			bundle = args[i+1]
		case len(a) > len("--bundle=") && a[:len("--bundle=")] == "--bundle=":
			bundle = a[len("--bundle="):]
		case a == "create" || a == "run":
			create = true
		}
	}
	if create {
		if bundle == "" {
			bundle = "."
		}
		cfg := filepath.Join(bundle, "config.json")
		if b, err := os.ReadFile(cfg); err == nil {
			b = ociVersion.ReplaceAll(b, []byte(`"ociVersion":"1.1.0"`))
			if err := os.WriteFile(cfg, b, 0o644); err != nil {
				fmt.Fprintln(os.Stderr, wrapperName+":", err)
				os.Exit(1)
			}
		}
	}
	crun := os.Getenv(envWrapTarget)
	if crun == "" {
		crun = "/usr/bin/crun"
	}
	err := unix.Exec(crun, append([]string{crun}, args...), os.Environ())
	fmt.Fprintln(os.Stderr, wrapperName+": exec", crun+":", err)
	os.Exit(1)
}
