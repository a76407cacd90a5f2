// Package benchutil holds what berth's benchmarks and the libcontainer
// comparison share: the minimal task root both sides run in, latency
// statistics, RSS readings and the removal of the benchmark's cgroups.
package benchutil

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Programs are copied into the benchmark root with the shared libraries
// they load: /bin/true is the task both sides launch, /bin/sleep the task
// that sleeps while supervisor RSS is read.
var Programs = []string{"/bin/true", "/bin/sleep"}

// MakeRootfs fills dir (which must exist and be empty) with a minimal task
// root: the host's Programs and their shared libraries at the same paths
// (so /bin/true in the task is the host's very binary), the host's
// top-level symlinks such as /bin -> usr/bin, empty mount points for
// /proc, /dev, /sys and /tmp, and an /etc/passwd with root. berth and
// libcontainer are pointed at the same dir, so both do the same work.
func MakeRootfs(dir string) error {
	for _, d := range []string{"proc", "dev", "sys", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	files := map[string]bool{}
	for _, p := range Programs {
		files[p] = true
		libs, err := sharedLibs(p)
		if err != nil {
			return err
		}
		for _, l := range libs {
			files[l] = true
		}
	}
	for f := range files {
		if err := mirror(dir, f, 0); err != nil {
			return err
		}
	}
	etc := map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\n",
		"group":  "root:x:0:\n",
	}
	for name, content := range etc {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
	}
	return nil
}

// sharedLibs lists the shared objects prog loads, as ldd resolves them on
// the host, the ELF interpreter included. A static program has none.
func sharedLibs(prog string) ([]string, error) {
	out, err := exec.Command("ldd", prog).Output()
	if err != nil {
		// ldd exits 1 for a static binary ("not a dynamic executable").
		if bytes.Contains(out, []byte("not a dynamic")) {
			return nil, nil
		}
		if ee, ok := err.(*exec.ExitError); ok && bytes.Contains(ee.Stderr, []byte("not a dynamic")) {
			return nil, nil
		}
		return nil, fmt.Errorf("rootfs: ldd %s: %w", prog, err)
	}
	var libs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			switch {
			case f == "=>" && i+1 < len(fields) && strings.HasPrefix(fields[i+1], "/"):
				libs = append(libs, fields[i+1])
			case i == 0 && strings.HasPrefix(f, "/"):
				libs = append(libs, f) // the interpreter line
			}
		}
	}
	return libs, sc.Err()
}

// mirror copies the host file p to the same path below root, creating
// its directories, and recreating every symlink on the way (/bin ->
// usr/bin, /lib64/ld-linux-x86-64.so.2 -> ...) so that the path resolves
// inside root just as it does on the host.
func mirror(root, p string, depth int) error {
	if depth > 16 {
		return fmt.Errorf("rootfs: %s: too many levels of symbolic links", p)
	}
	comps := strings.Split(strings.Trim(filepath.Clean(p), "/"), "/")
	cur := "/"
	for i, c := range comps {
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(next)
			if err != nil {
				return fmt.Errorf("rootfs: %w", err)
			}
			if err := os.Symlink(target, filepath.Join(root, next)); err != nil && !os.IsExist(err) {
				return fmt.Errorf("rootfs: %w", err)
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			return mirror(root, filepath.Join(append([]string{target}, comps[i+1:]...)...), depth+1)
		case fi.IsDir():
			if err := os.MkdirAll(filepath.Join(root, next), 0o755); err != nil {
				return fmt.Errorf("rootfs: %w", err)
			}
			cur = next
		default:
			return copyFile(next, filepath.Join(root, next), fi.Mode().Perm())
		}
	}
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if os.IsExist(err) {
			return nil
		}
		return fmt.Errorf("rootfs: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("rootfs: copy %s: %w", src, err)
	}
	return out.Close()
}
