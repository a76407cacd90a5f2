package nsinit

import (
	"errors"
	"os"
	"path"
	"strings"

	"github.com/berthrun/berth/mounts"
	"golang.org/x/sys/unix"
)

// ErrNotFound is a command that is nowhere on the task's PATH.
var ErrNotFound = errors.New("executable file not found in $PATH")

// lookPath finds name on the PATH of the task's environment (not the init
// stage's own, which is empty). It runs in the child after pivot_root and
// the user switch, so it sees the task's files with the task's rights.
// A name found only without execute permission is EACCES (exit 126), a
// name found nowhere is ENOENT (exit 127).
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExec(name)
	}
	pathVar := ""
	// The first PATH= is the one the task's getenv will see.
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			pathVar = kv[len("PATH="):]
			break
		}
	}
	var denied error
	for _, dir := range strings.Split(pathVar, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, name)
		err := checkExec(p)
		if err == nil {
			return p, nil
		}
		if errors.Is(err, unix.EACCES) && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", &os.PathError{Op: "exec", Path: name, Err: notFound{}}
}

// notFound is ENOENT with the text users know from shells; it unwraps to
// the errno so the report carries ENOENT to the parent.
type notFound struct{}

func (notFound) Error() string        { return ErrNotFound.Error() }
func (notFound) Unwrap() error        { return unix.ENOENT }
func (notFound) Is(target error) bool { return target == ErrNotFound }

// checkExec reports whether p is a regular file this thread may execute.
func checkExec(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return &os.PathError{Op: "exec", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return &os.PathError{Op: "exec", Path: p, Err: unix.EACCES}
	}
	if err := unix.Faccessat(unix.AT_FDCWD, p, unix.X_OK, unix.AT_EACCESS); err != nil {
		return &os.PathError{Op: "exec", Path: p, Err: err}
	}
	return nil
}

// pathOf digs the path out of an error that carries one.
func pathOf(err error) string {
	var me *mounts.Error
	if errors.As(err, &me) {
		return me.Path
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Path
	}
	return ""
}
