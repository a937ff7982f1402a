package httpd

import (
	"errors"
	"io/fs"
	"strings"
)

// errBadPath marks a request path that is refused outright (400), as opposed to one that
// is well-formed but names nothing (404) or leads out of the root (403).
var errBadPath = errors.New("bad path")

// cleanPath turns a decoded URL path into a slash-separated path relative to the netboot
// root, valid for fs.ValidPath and os.Root. It refuses instead of repairing: a client that
// asks for "..", a backslash or a control character is probing or broken, and silently
// serving some other file would hide that. Empty and "." elements are dropped (firmware
// sometimes sends "//boot.ipxe"). The root itself is ".".
func cleanPath(p string) (string, error) {
	if len(p) > 1024 {
		return "", errBadPath
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		// NUL, control characters and DEL: no legitimate file name has them; backslash:
		// Windows-style separators ("..\..\etc") must not become a second path syntax.
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", errBadPath
		}
	}
	var b strings.Builder
	b.Grow(len(p))
	for elem := range strings.SplitSeq(p, "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			return "", errBadPath
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	if b.Len() == 0 {
		return ".", nil
	}
	out := b.String()
	if !fs.ValidPath(out) {
		return "", errBadPath
	}
	return out, nil
}
