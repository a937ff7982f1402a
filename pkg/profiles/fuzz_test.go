package profiles

import (
	"strings"
	"testing"
)

// FuzzParse: any profiles file either fails with ErrInvalid or yields decisions whose
// arguments carry no control characters and whose default is a valid entry name.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample), "52:54:00:aa:bb:cc", "lab", "pc1")
	f.Add([]byte(`{"profiles":[{"name":"a","match":{"mac_prefix":["00"]},"args":"{hostname} {ip}"}]}`), "00:00:00:00:00:00", "", "a b\nc")
	f.Add([]byte(`{}`), "", "", "")
	f.Fuzz(func(t *testing.T, data []byte, mac, group, host string) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		d := s.Resolve(Facts{MAC: mac, Group: group, Hostname: host})
		if strings.ContainsAny(d.Args, "\n\r\x00") {
			t.Fatalf("control characters in args %q", d.Args)
		}
		if checkEntry(d.Default) != nil {
			t.Fatalf("bad default %q", d.Default)
		}
	})
}

// FuzzState: the boot-once loader never accepts an entry a Set would refuse.
func FuzzState(f *testing.F) {
	f.Add([]byte(`{"version":1,"next":[{"mac":"52:54:00:00:00:01","entry":"a.iso","set":"2024-01-01T00:00:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseState(data)
		if err != nil {
			return
		}
		for k, n := range m {
			if NormalizeMAC(k) != k || checkEntry(n.Entry) != nil {
				t.Fatalf("accepted %q → %q", k, n.Entry)
			}
		}
	})
}
