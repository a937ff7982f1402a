package profiles

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the dashboard write token's name in the state directory.
const TokenFile = "dashboard.token"

// LoadOrCreateToken returns the dashboard's write token from dir/dashboard.token, creating
// it (32 random bytes, hex, mode 0600, written atomically) at first start. created tells the
// caller to log it. A token file that is not 64 hex characters is an error, never silently
// replaced.
func LoadOrCreateToken(dir string) (token string, created bool, err error) {
	p := filepath.Join(dir, TokenFile)
	b, err := os.ReadFile(p)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) != 64 {
			return "", false, fmt.Errorf("profiles: %s: not a 64-character token", p)
		}
		if _, err := hex.DecodeString(t); err != nil {
			return "", false, fmt.Errorf("profiles: %s: not hex", p)
		}
		return t, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, err
	}
	t := hex.EncodeToString(raw[:])
	tmp, err := os.CreateTemp(dir, TokenFile+".tmp-*")
	if err != nil {
		return "", false, err
	}
	name := tmp.Name()
	defer os.Remove(name) // a no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, err
	}
	if _, err := tmp.WriteString(t + "\n"); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, err
	}
	if err := tmp.Close(); err != nil {
		return "", false, err
	}
	// Link, not rename: two processes starting at once must not both "create" a token.
	if err := os.Link(name, p); err != nil {
		if errors.Is(err, os.ErrExist) {
			return LoadOrCreateToken(dir)
		}
		return "", false, err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return t, true, nil
}

// CheckToken compares a presented token with the expected one in constant time. An empty
// expected token never matches.
func CheckToken(want, got string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}
