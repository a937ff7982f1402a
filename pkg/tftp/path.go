package tftp

import (
	"fmt"
	"io/fs"
	"strings"
)

// CleanPath turns a file name from a request into a root-relative slash path: `\` becomes
// `/` (Windows-minded firmware), leading slashes are stripped (clients ask for
// "/pxelinux.0"), empty and "." elements are dropped. A ".." element anywhere, a NUL byte,
// a name longer than MaxPathLen or one that cleans to nothing is refused with an error
// satisfying errors.Is(err, fs.ErrPermission); os.Root below enforces the rest (symlinks).
func CleanPath(name string) (string, error) {
	if len(name) > MaxPathLen {
		return "", &fs.PathError{Op: "open", Path: name[:32] + "…", Err: fmt.Errorf("name longer than %d bytes: %w", MaxPathLen, fs.ErrPermission)}
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("NUL in name: %w", fs.ErrPermission)}
	}
	s := strings.ReplaceAll(name, `\`, "/")
	var b strings.Builder
	b.Grow(len(s))
	for elem := range strings.SplitSeq(s, "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("parent reference: %w", fs.ErrPermission)}
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	if b.Len() == 0 {
		return "", &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("no file name: %w", fs.ErrPermission)}
	}
	return b.String(), nil
}
