package daemon

import (
	"encoding/json"
	"maps"
	"strconv"
	"testing"
)

// FuzzParseBootMap: the --boot-map reader never panics; what it accepts has no empty file
// name, and written back as JSON it reads the same.
func FuzzParseBootMap(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseBootMap(b, "map.json")
		if err != nil {
			return
		}
		// The same input reads the same every time (no dependence on map order).
		for range 3 {
			if m2, err := parseBootMap(b, "map.json"); err != nil || !maps.Equal(m, m2) {
				t.Fatalf("read again: %v %v vs %v", err, m2, m)
			}
		}
		raw := make(map[string]string, len(m))
		for k, v := range m {
			if v == "" {
				t.Fatalf("arch %d: empty file name accepted", k)
			}
			raw[strconv.Itoa(int(k))] = v
		}
		out, err := json.Marshal(raw)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseBootMap(out, "map.json")
		if err != nil || !maps.Equal(m, again) {
			t.Fatalf("round trip: %v %v vs %v", err, again, m)
		}
	})
}
