// Command berth-oci is berth as an OCI runtime: runc's command line, as
// containerd's runc shim calls it (through go-runc), over berth's library.
// berth's own CLI and its contract are untouched.
//
//	berth-oci [--root DIR] [--log FILE] [--log-format json|text] [--debug] VERB ...
//
// A container's stdio is this process's, handed to it as is; errors go to
// --log as JSON lines (stdio belongs to the container) and to stderr.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// global are the flags before the verb.
type global struct {
	root, log, logFormat string
	debug, systemdCgroup bool
	logFile              *os.File
}

const defaultRoot = "/run/berth-oci"

type verb struct {
	name, usage string
	run         func(g *global, args []string) error
}

var verbs []verb

func main() { os.Exit(run(os.Args[1:])) }

func run(argv []string) int {
	g := &global{}
	fs := pflag.NewFlagSet("berth-oci", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	fs.StringVar(&g.root, "root", defaultRoot, "state of the containers")
	fs.StringVar(&g.log, "log", "", "write errors (and with --debug, more) to FILE")
	fs.StringVar(&g.logFormat, "log-format", "text", "json or text")
	fs.BoolVar(&g.debug, "debug", false, "log more")
	fs.BoolVar(&g.systemdCgroup, "systemd-cgroup", false, "use systemd's cgroup manager (not supported)")
	var rootless string
	fs.StringVar(&rootless, "rootless", "false", "rootless mode (not supported)")
	fs.String("criu", "", "checkpointing (not supported)")
	help := fs.BoolP("help", "h", false, "this help")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(argv); err != nil {
		return fail(g, fmt.Errorf("%w (berth-oci --help)", err))
	}
	if g.log != "" {
		f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fail(g, fmt.Errorf("--log: %w", err))
		}
		g.logFile = f
	}
	if g.logFormat != "json" && g.logFormat != "text" {
		return fail(g, fmt.Errorf("--log-format %q: want json or text", g.logFormat))
	}
	if g.systemdCgroup {
		return fail(g, errors.New("--systemd-cgroup: not supported: berth manages cgroupfs paths (linux.cgroupsPath as a path)"))
	}
	if rootless != "false" && rootless != "auto" {
		return fail(g, errors.New("--rootless: not supported"))
	}
	rest := fs.Args()
	if *help || len(rest) == 0 {
		usage(os.Stdout)
		if *help {
			return 0
		}
		return 2
	}
	for _, v := range verbs {
		if v.name == rest[0] {
			if err := v.run(g, rest[1:]); err != nil {
				if errors.Is(err, pflag.ErrHelp) {
					fmt.Printf("usage: berth-oci %s %s\n", v.name, v.usage)
					if verbSet != nil {
						fmt.Print(verbSet.FlagUsages())
					}
					return 0
				}
				var ex exitError
				if errors.As(err, &ex) {
					return int(ex)
				}
				return fail(g, fmt.Errorf("%s: %w", v.name, err))
			}
			return 0
		}
	}
	return fail(g, fmt.Errorf("unknown verb %q (berth-oci --help)", rest[0]))
}

// exitError is a verb's exit status that is not a failure of berth-oci
// (exec's command's own).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: berth-oci [--root DIR] [--log FILE] [--log-format json|text] [--debug] VERB ...")
	fmt.Fprintln(w, "berth as an OCI runtime, with runc's command line. Verbs:")
	for _, v := range verbs {
		fmt.Fprintf(w, "  %-8s %s\n", v.name, v.usage)
	}
}

// fail reports err on stderr and, when --log is set, as a log line there
// (the format go-runc reads back), and returns the exit status.
func fail(g *global, err error) int {
	msg := err.Error()
	fmt.Fprintln(os.Stderr, "berth-oci: "+msg)
	if g.logFile != nil {
		logLine(g, "error", msg)
	}
	return 1
}

// logLine writes one line to --log.
func logLine(g *global, level, msg string) {
	if g.logFile == nil {
		return
	}
	now := time.Now().Format(time.RFC3339Nano)
	if g.logFormat == "json" {
		b, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		g.logFile.Write(append(b, '\n'))
		return
	}
	fmt.Fprintf(g.logFile, "time=%q level=%s msg=%q\n", now, level, strings.ReplaceAll(msg, "\n", " "))
}

// verbSet is the running verb's flag set, for its --help.
var verbSet *pflag.FlagSet

// verbFlags makes a verb's flag set; its errors are returned, not printed,
// and -h or --help comes back as pflag.ErrHelp.
func verbFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	verbSet = fs
	return fs
}

// oneID takes the container id, the only positional argument.
func oneID(fs *pflag.FlagSet, n int) (string, []string, error) {
	args := fs.Args()
	if len(args) < 1 || args[0] == "" {
		return "", nil, errors.New("no container id given")
	}
	if len(args) > n {
		return "", nil, fmt.Errorf("unexpected arguments %q", args[n:])
	}
	return args[0], args[1:], nil
}
