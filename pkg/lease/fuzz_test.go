package lease

import (
	"bytes"
	"testing"
)

// FuzzParseLine feeds arbitrary lines to the journal parser: it must never panic, and a
// line it accepts must encode to a line that parses to the same record. Checksums are
// recomputed for half the inputs so the fuzzer gets past the CRC to the field parsers.
func FuzzParseLine(f *testing.F) {
	for _, r := range []record{
		{op: opLease, lease: bound(1, 1)},
		{op: opLease, lease: Lease{MAC: mac(2), IP: ip(2), State: Offered, Hostname: "a%20b", ClientID: []byte{1, 2}}},
		{op: opLease, lease: Lease{IP: ip(3), State: Declined, Expiry: t0}},
		{op: opTouch, lease: Lease{MAC: mac(5), IP: ip(5), Expiry: t0}},
		{op: opDel, lease: Lease{IP: ip(6)}},
		{op: opJournal, n: 7},
	} {
		line := appendRecord(nil, &r)
		f.Add(line[:len(line)-1], false)
		f.Add(line[9:len(line)-1], true)
	}
	f.Add([]byte("# comment"), false)
	f.Add([]byte("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t2026-01-01T00:00:00Z\t%41%zz\t0"), true)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		line := data
		if fixCRC {
			line = []byte(crcLine(string(data)))
		}
		r, err := parseLine(line)
		if err != nil {
			return
		}
		enc := appendRecord(nil, &r)
		if bytes.IndexByte(enc[:len(enc)-1], '\n') >= 0 {
			t.Fatalf("encoding of %q holds a newline: %q", line, enc)
		}
		r2, err := parseLine(enc[:len(enc)-1])
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", enc, line, err)
		}
		if !equalRecords(&r, &r2) {
			t.Fatalf("round trip changed the record:\n%q\n%+v\n%+v", line, r, r2)
		}
	})
}

// FuzzLoad opens a state directory whose journal is arbitrary bytes (after a valid
// snapshot): Open must succeed, keep the snapshot's leases unless the journal validly
// changes them, and leave files that reopen clean.
func FuzzLoad(f *testing.F) {
	valid := journalText(5, bound(2, 2), bound(3, 3))
	f.Add([]byte(valid))
	f.Add([]byte(valid[:len(valid)-7]))
	f.Add([]byte(journalText(5) + string(appendRecord(nil, &record{op: opDel, lease: Lease{IP: ip(1)}}))))
	f.Add([]byte(journalText(5) + string(appendRecord(nil, &record{op: opTouch, lease: Lease{MAC: mac(1), IP: ip(1), Expiry: t0}}))))
	f.Add([]byte(journalText(4, bound(9, 9))))
	f.Add([]byte("\n\n#\n"))
	snap := snapText(4, bound(1, 1))
	dir := scratchDir(f)
	f.Fuzz(func(t *testing.T, journal []byte) {
		resetDir(t, dir)
		writeFile(t, dir, snapName, snap)
		writeFile(t, dir, journalName, string(journal))
		s, rep, err := Open(dir, Options{Sync: noSync})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if rep.Leases != s.Len() {
			t.Errorf("report says %d leases, store has %d", rep.Leases, s.Len())
		}
		want := s.All()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, rep, err = Open(dir, Options{Sync: noSync})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer s.Close()
		if rep.Damaged() {
			t.Errorf("reopen after recovery still damaged: %+v", rep)
		}
		if got := s.All(); !equalLeases(got, want) {
			t.Errorf("reopen changed the table:\n%s\nwant\n%s", dump(got), dump(want))
		}
	})
}
