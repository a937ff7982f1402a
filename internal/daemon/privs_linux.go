//go:build linux

package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keptCaps are the capabilities pxe-edge runs with: the three its systemd unit grants. They
// are needed for the daemon's whole life, not only at start: DHCP's raw socket is reopened
// on every carrier return, the address is restored through netlink, and the 67/4011 holder
// sockets are bound again.
var keptCaps = []capability{capNetRaw, capNetBindService, capNetAdmin}

// dropPrivileges reduces a process started as root (or with more capabilities than it
// needs) to keptCaps on every thread, empties the bounding set and sets no_new_privs, so a
// bug in a server cannot use root's other powers (reading any file, loading modules,
// ptrace). It returns the capabilities kept, or nil when there was nothing to drop.
//
// Capabilities belong to threads, and the Go runtime has several, so every change goes
// through AllThreadsSyscall; that is not available in cgo builds (release builds are
// CGO_ENABLED=0), which get an error and keep what they have.
func dropPrivileges(runAs, stateDir string) ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("capget: %w", err)
	}
	permitted := uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted)
	var keep uint64
	var names []string
	for _, c := range keptCaps {
		if bit := uint64(1) << uint(c.bit); permitted&bit != 0 {
			keep |= bit
			names = append(names, c.name)
		}
	}
	bounding, err := boundingSet()
	if err != nil {
		return nil, err
	}
	if permitted&^keep == 0 && bounding&^keep == 0 && runAs == "" {
		return nil, nil
	}

	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); e != 0 {
		return nil, allThreadsErr("prctl(PR_SET_NO_NEW_PRIVS)", e)
	}
	// Dropping from the bounding set needs CAP_SETPCAP, so it comes before capset removes it.
	if permitted&(1<<unix.CAP_SETPCAP) != 0 {
		for c := 0; c < 64; c++ {
			if bounding&(1<<uint(c)) == 0 || keep&(1<<uint(c)) != 0 {
				continue
			}
			if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, uintptr(c), 0); e != 0 {
				return nil, allThreadsErr("prctl(PR_CAPBSET_DROP)", e)
			}
		}
	}
	if runAs != "" {
		if err := becomeUser(runAs, stateDir); err != nil {
			return nil, err
		}
	}
	var set [2]unix.CapUserData
	set[0].Effective, set[0].Permitted = uint32(keep), uint32(keep)
	set[1].Effective, set[1].Permitted = uint32(keep>>32), uint32(keep>>32)
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&set[0])), 0); e != 0 {
		return nil, allThreadsErr("capset", e)
	}
	return names, nil
}

// boundingSet reads the calling thread's capability bounding set from /proc.
func boundingSet() (uint64, error) {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, errors.New("no CapBnd line in /proc/thread-self/status")
}

func allThreadsErr(op string, e syscall.Errno) error {
	if e == syscall.ENOTSUP {
		return fmt.Errorf("%s on all threads: not possible in a cgo build (build with CGO_ENABLED=0)", op)
	}
	return fmt.Errorf("%s: %w", op, e)
}

// becomeUser switches every thread to the user name (its primary group, no supplementary
// groups), keeping the permitted capabilities across the switch (PR_SET_KEEPCAPS); the
// caller then makes the kept ones effective again. The state directory is handed to the user
// first, since the lease store and the boot-once file write into it for the daemon's life.
func becomeUser(name, stateDir string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user %s: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("--user %s: uid %q gid %q", name, u.Uid, u.Gid)
	}
	if os.Getuid() != 0 {
		return fmt.Errorf("--user %s: only root can change user", name)
	}
	if stateDir != "" {
		if err := os.MkdirAll(stateDir, 0o750); err != nil {
			return err
		}
		if err := filepath.WalkDir(stateDir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, uid, gid)
		}); err != nil {
			return fmt.Errorf("--user %s: handing over %s: %w", name, stateDir, err)
		}
	}
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1, 0); e != 0 {
		return allThreadsErr("prctl(PR_SET_KEEPCAPS)", e)
	}
	// The standard library changes ids on every thread.
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid %d: %w", uid, err)
	}
	return nil
}
