package nsinit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is a resolved task user.
type User struct {
	UID, GID int
	// Groups are the supplementary groups: every group in the group file
	// that lists the user's name as a member, plus the explicit group of a
	// "user:group" spec. Sorted and deduplicated; GID itself is present only
	// when one of those rules puts it there. Nil when there are none.
	Groups []int
	Home   string // home directory from passwd, "/" when unknown
	Name   string // login name, "" when given numerically and not in passwd
}

// userMaxID is the largest id LookupUser accepts. The kernel's ids are
// 32-bit and (uid_t)-1 means "unchanged" to setresuid(2); like runc and
// Docker we stay below 2^31-1 so an id is never negative in a signed int32
// and never collides with the overflow ids.
const userMaxID = 1<<31 - 2

// userMaxLine bounds one passwd or group line. Group lines of large
// directories run past bufio's 64 KiB default, so the limit is generous;
// a longer line is skipped as malformed instead of being held in memory,
// because the file comes from the task's root and may be hostile.
const userMaxLine = 4 << 20

var (
	errUserInvalidID  = errors.New("invalid id")
	errUserNotRegular = errors.New("not a regular file")
)

// LookupUser resolves spec against the passwd and group files at passwdPath
// and groupPath. It runs in the re-exec'd child after pivot_root, which
// passes "/etc/passwd" and "/etc/group", so the files (and any symlinks in
// their paths) are the task root's, not the host's.
//
// spec is "", "name", "uid", or any of those user forms followed by
// ":group" or ":gid":
//   - "" is root: uid 0, gid 0, no supplementary groups, Name and Home from
//     passwd's uid 0 entry if it has one (Home "/" otherwise).
//   - a numeric uid is accepted whether or not passwd lists it. If it does,
//     GID, Name and Home come from that entry; if not, GID is 0 (as in
//     Docker and runc) and Name is "".
//   - a user name must be in passwd: `user "bob": no such user in /etc/passwd`.
//   - a numeric group is always accepted; a group name must be in the group
//     file: `group "wheel": no such group in /etc/group`.
//   - a missing file is fine when nothing has to be looked up by name in it;
//     otherwise the open error is returned (`user "bob": open /etc/passwd:
//     no such file or directory`). Any other read error is always returned.
//   - ids must be in 0..2^31-2: `user "-1": invalid id`.
//
// Supplementary groups are looked up by the user's name, so a numeric uid
// with no passwd entry gets only the explicit group, if any.
func LookupUser(spec, passwdPath, groupPath string) (User, error) {
	if spec == "" {
		return userRoot(passwdPath)
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || (hasGroup && (groupPart == "" || strings.Contains(groupPart, ":"))) {
		return User{}, fmt.Errorf("user %q: want USER[:GROUP]", spec)
	}

	u := User{Home: "/"}
	if userIsNumeric(userPart) {
		uid, err := userParseID(userPart)
		if err != nil {
			return User{}, fmt.Errorf("user %q: %w", userPart, err)
		}
		u.UID = uid
		ent, found, err := passwdFind(passwdPath, func(e passwdEntry) bool { return e.uid == uid })
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return User{}, fmt.Errorf("user %q: %w", userPart, err)
		}
		if found {
			u.GID, u.Name, u.Home = ent.gid, ent.name, ent.home
		}
	} else {
		ent, found, err := passwdFind(passwdPath, func(e passwdEntry) bool { return e.name == userPart })
		if err != nil {
			return User{}, fmt.Errorf("user %q: %w", userPart, err)
		}
		if !found {
			return User{}, fmt.Errorf("user %q: no such user in %s", userPart, passwdPath)
		}
		u.UID, u.GID, u.Name, u.Home = ent.uid, ent.gid, ent.name, ent.home
	}

	// The group file is needed for a group name and for the memberships of
	// a named user. Read it once for both.
	needGroupName := hasGroup && !userIsNumeric(groupPart)
	var groups []groupEntry
	if needGroupName || u.Name != "" {
		var err error
		groups, err = groupRead(groupPath)
		if err != nil {
			switch {
			case needGroupName:
				return User{}, fmt.Errorf("group %q: %w", groupPart, err)
			case !errors.Is(err, fs.ErrNotExist):
				return User{}, fmt.Errorf("user %q: %w", userPart, err)
			}
		}
	}

	if hasGroup {
		gid, err := userGroupID(groupPart, groupPath, groups)
		if err != nil {
			return User{}, err
		}
		u.GID = gid
		u.Groups = append(u.Groups, gid)
	}
	if u.Name != "" {
		for _, g := range groups {
			if slices.Contains(g.members, u.Name) {
				u.Groups = append(u.Groups, g.gid)
			}
		}
	}
	slices.Sort(u.Groups)
	u.Groups = slices.Compact(u.Groups)
	return u, nil
}

// userRoot resolves the empty spec: root with its passwd name and home.
func userRoot(passwdPath string) (User, error) {
	u := User{Home: "/"}
	ent, found, err := passwdFind(passwdPath, func(e passwdEntry) bool { return e.uid == 0 })
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return User{}, fmt.Errorf("user %q: %w", "", err)
	}
	// Only the name and home come from the entry: "" means gid 0 whatever
	// passwd's uid 0 line says.
	if found {
		u.Name, u.Home = ent.name, ent.home
	}
	return u, nil
}

// userGroupID resolves the group part of a spec against the parsed group
// file.
func userGroupID(spec, groupPath string, groups []groupEntry) (int, error) {
	if userIsNumeric(spec) {
		gid, err := userParseID(spec)
		if err != nil {
			return 0, fmt.Errorf("group %q: %w", spec, err)
		}
		return gid, nil
	}
	for _, g := range groups {
		if g.name == spec {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("group %q: no such group in %s", spec, groupPath)
}

// userIsNumeric reports whether s is meant as an id rather than a name:
// optional '-' then only digits. useradd refuses such names, and a leading
// '-' is kept numeric so "-1" is reported as an invalid id, not an unknown
// user.
func userIsNumeric(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// userParseID parses a decimal id in 0..userMaxID.
func userParseID(s string) (int, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || n > userMaxID {
		return 0, errUserInvalidID
	}
	return int(n), nil
}

// passwdEntry is the part of a passwd line LookupUser uses.
type passwdEntry struct {
	name     string
	uid, gid int
	home     string
}

// passwdParseLine parses "name:password:uid:gid:gecos:home:shell". Trailing
// fields may be missing (gid then 0, home "/"); a line without a name or a
// valid uid, or with an invalid gid, is malformed.
func passwdParseLine(line string) (passwdEntry, bool) {
	f := strings.Split(line, ":")
	if len(f) < 3 || f[0] == "" {
		return passwdEntry{}, false
	}
	e := passwdEntry{name: f[0], home: "/"}
	var err error
	if e.uid, err = userParseID(f[2]); err != nil {
		return passwdEntry{}, false
	}
	if len(f) > 3 && strings.TrimSpace(f[3]) != "" {
		if e.gid, err = userParseID(f[3]); err != nil {
			return passwdEntry{}, false
		}
	}
	if len(f) > 5 && f[5] != "" {
		e.home = f[5]
	}
	return e, true
}

// passwdFind returns the first well-formed entry of the passwd file at path
// for which match is true, as getpwnam(3) and getpwuid(3) do.
func passwdFind(path string, match func(passwdEntry) bool) (passwdEntry, bool, error) {
	f, err := userOpen(path)
	if err != nil {
		return passwdEntry{}, false, err
	}
	defer f.Close()
	var (
		found passwdEntry
		ok    bool
	)
	err = userReadLines(f, func(line string) bool {
		e, valid := passwdParseLine(line)
		if valid && match(e) {
			found, ok = e, true
			return false
		}
		return true
	})
	return found, ok, err
}

// groupEntry is the part of a group line LookupUser uses.
type groupEntry struct {
	name    string
	gid     int
	members []string
}

// groupParseLine parses "name:password:gid:member,member". The member list
// may be missing; a line without a name or a valid gid is malformed.
func groupParseLine(line string) (groupEntry, bool) {
	f := strings.Split(line, ":")
	if len(f) < 3 || f[0] == "" {
		return groupEntry{}, false
	}
	gid, err := userParseID(f[2])
	if err != nil {
		return groupEntry{}, false
	}
	e := groupEntry{name: f[0], gid: gid}
	if len(f) > 3 {
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				e.members = append(e.members, m)
			}
		}
	}
	return e, true
}

// groupRead returns every well-formed entry of the group file at path.
func groupRead(path string) ([]groupEntry, error) {
	f, err := userOpen(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var groups []groupEntry
	err = userReadLines(f, func(line string) bool {
		if e, ok := groupParseLine(line); ok {
			groups = append(groups, e)
		}
		return true
	})
	return groups, err
}

// userMaxFile bounds a passwd or group file: a hostile task root could
// make the init stage, which runs without the task's limits, read or hold
// gigabytes.
const userMaxFile = 64 << 20

// userOpen opens a passwd or group file from the task's root. The root may
// be hostile, so the open resolves inside "/" (the task's root after
// pivot_root) and refuses /proc magic links, which lead anywhere, such as a
// host process's root; files on procfs or sysfs are refused too, they are
// kernel interfaces (reading /proc/kmsg consumes the host's log).
// O_NONBLOCK keeps a FIFO from blocking the open forever, and anything
// but a regular file (a FIFO, /dev/zero, a directory) is refused before it
// is read, as is a file over userMaxFile.
func userOpen(path string) (*os.File, error) {
	root, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(root)
	return userOpenAt(root, path)
}

// userOpenAt is userOpen inside the directory root instead of "/".
func userOpenAt(root int, path string) (*os.File, error) {
	fd, err := unix.Openat2(root, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(fd, &sfs); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "statfs", Path: path, Err: err}
	}
	if sfs.Type == unix.PROC_SUPER_MAGIC || sfs.Type == unix.SYSFS_MAGIC {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errUserKernelFile}
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errUserNotRegular}
	}
	if st.Size() > userMaxFile {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: errUserTooLarge}
	}
	return f, nil
}

var (
	errUserKernelFile = errors.New("a procfs or sysfs file, not a user database")
	errUserTooLarge   = fmt.Errorf("larger than %d MiB", userMaxFile>>20)
)

// UserNames maps the uids of the passwd file of the task whose root is the
// directory fd root to their names, read with the same distrust as the init
// stage reads it (inside the root, no magic links, no kernel files, no
// FIFOs, bounded). It runs in the parent (berth ps). The first entry of a
// uid wins, as getpwuid(3) has it.
func UserNames(root int) (map[int]string, error) {
	f, err := userOpenAt(root, "/etc/passwd")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[int]string{}
	err = userReadLines(f, func(line string) bool {
		if e, ok := passwdParseLine(line); ok {
			if _, seen := names[e.uid]; !seen {
				names[e.uid] = e.name
			}
		}
		return true
	})
	return names, err
}

// userReadLines calls fn with each meaningful line of r until fn returns
// false. Blank lines, '#' comments and NIS compat lines ("+name", "-name",
// "+") are skipped: berth does not consult NIS, and treating "+" as a name
// would be wrong. Lines longer than userMaxLine are skipped whole.
func userReadLines(r io.Reader, fn func(line string) bool) (err error) {
	// The size was checked at open, but a task can grow the file after
	// (truncate to a terabyte of holes): never read past the bound.
	lr := &io.LimitedReader{R: r, N: userMaxFile + 1}
	br := bufio.NewReader(lr)
	defer func() {
		if lr.N <= 0 && err == nil {
			err = errUserTooLarge
		}
	}()
	var (
		buf     []byte
		tooLong bool
	)
	for {
		chunk, isPrefix, err := br.ReadLine()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !tooLong {
			if len(buf)+len(chunk) > userMaxLine {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if isPrefix {
			continue
		}
		line := strings.TrimSpace(string(buf))
		skip := tooLong
		buf, tooLong = buf[:0], false
		if skip || line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		if !fn(line) {
			return nil
		}
	}
}
