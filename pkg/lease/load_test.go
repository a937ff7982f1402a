package lease

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func noSync(*os.File) error { return nil }

func snapText(gen uint64, ls ...Lease) string {
	b := []byte(snapComment)
	b = appendRecord(b, &record{op: opSnapshot, n: gen})
	for _, l := range ls {
		b = appendRecord(b, &record{op: opLease, lease: l})
	}
	return string(appendRecord(b, &record{op: opEnd, n: uint64(len(ls))}))
}

func journalText(gen uint64, ls ...Lease) string {
	b := []byte(journalComment)
	b = appendRecord(b, &record{op: opJournal, n: gen})
	for _, l := range ls {
		b = appendRecord(b, &record{op: opLease, lease: l})
	}
	return string(b)
}

func leaseLine(l Lease) string { return string(appendRecord(nil, &record{op: opLease, lease: l})) }

func ips(ls []Lease) []int {
	var out []int
	for _, l := range ls {
		out = append(out, int(l.IP.As4()[3]))
	}
	slices.Sort(out)
	return out
}

func TestLoadDamaged(t *testing.T) {
	a, b, c, d := bound(1, 1), bound(2, 2), bound(3, 3), bound(4, 4)
	garbage := make([]byte, 5000)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range garbage {
		garbage[i] = byte(r.UintN(256))
	}
	torn := leaseLine(d)
	torn = torn[:len(torn)/2]
	badMid := leaseLine(b)
	badMid = badMid[:30] + "X" + badMid[31:]
	const absent = "\x00absent"
	tests := []struct {
		name          string
		snap, journal string
		want          []int // last octets of the leases loaded
		skipped       int
		torn, damaged bool
		kept          int // *.damaged files
	}{
		{name: "fresh", snap: absent, journal: absent},
		{name: "clean both", snap: snapText(4, a, b), journal: journalText(5, c, d), want: []int{1, 2, 3, 4}},
		{name: "torn last line", snap: snapText(4, a), journal: journalText(5, b, c) + torn, want: []int{1, 2, 3}, torn: true, damaged: true, kept: 1},
		{name: "valid but unterminated last line", snap: snapText(4, a), journal: strings.TrimSuffix(journalText(5, b, c), "\n"), want: []int{1, 2, 3}, damaged: true, kept: 1},
		{name: "bad checksum in the middle", snap: snapText(4, a), journal: journalText(5) + leaseLine(c) + badMid + leaseLine(d), want: []int{1, 3, 4}, skipped: 1, damaged: true, kept: 1},
		{name: "bad line in snapshot", snap: snapText(4, a, c)[:0] + snapComment + string(appendRecord(nil, &record{op: opSnapshot, n: 4})) + leaseLine(a) + badMid + leaseLine(c) + string(appendRecord(nil, &record{op: opEnd, n: 3})), journal: journalText(5, d), want: []int{1, 3, 4}, skipped: 1, damaged: true, kept: 1},
		{name: "empty files", snap: "", journal: "", damaged: true},
		{name: "empty journal", snap: snapText(4, a), journal: "", want: []int{1}, damaged: true},
		{name: "garbage journal", snap: snapText(4, a, b), journal: string(garbage), want: []int{1, 2}, skipped: -1, torn: true, damaged: true, kept: 1},
		{name: "garbage snapshot", snap: string(garbage), journal: journalText(5, c), want: []int{3}, skipped: -1, damaged: true, kept: 1},
		{name: "journal without snapshot", snap: absent, journal: journalText(5, a, b), want: []int{1, 2}, damaged: true},
		{name: "snapshot without journal", snap: snapText(4, a, b), journal: absent, want: []int{1, 2}, damaged: true},
		{name: "journal already in snapshot", snap: snapText(5, a), journal: journalText(5, b), want: []int{1}, damaged: true},
		{name: "journal without header", snap: snapText(4, a), journal: leaseLine(b), want: []int{1, 2}, damaged: true, kept: 1},
		{name: "snapshot without end", snap: strings.TrimSuffix(snapText(4, a, b), string(appendRecord(nil, &record{op: opEnd, n: 2}))), journal: journalText(5), want: []int{1, 2}, damaged: true, kept: 1},
		{name: "very long line", snap: snapText(4, a), journal: journalText(5, b) + strings.Repeat("z", 200<<10) + "\n" + leaseLine(c), want: []int{1, 2, 3}, skipped: 1, damaged: true, kept: 1},
		{name: "crlf", snap: snapText(4, a), journal: strings.ReplaceAll(journalText(5, b), "\n", "\r\n"), want: []int{1}, skipped: 2, damaged: true, kept: 1},
		{name: "later record wins", snap: snapText(4, a), journal: journalText(5, bound(1, 9), bound(2, 1)), want: []int{1, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.snap != absent {
				writeFile(t, dir, snapName, tt.snap)
			}
			if tt.journal != absent {
				writeFile(t, dir, journalName, tt.journal)
			}
			s, rep := mustOpen(t, dir, Options{Sync: noSync})
			if got := ips(s.All()); !slices.Equal(got, tt.want) {
				t.Errorf("leases = %v, want %v", got, tt.want)
			}
			if rep.Leases != len(tt.want) {
				t.Errorf("report Leases = %d", rep.Leases)
			}
			if tt.skipped >= 0 && rep.Skipped != tt.skipped || tt.skipped < 0 && rep.Skipped == 0 {
				t.Errorf("Skipped = %d, want %d", rep.Skipped, tt.skipped)
			}
			if rep.TornTail != tt.torn || rep.Damaged() != tt.damaged || len(rep.Preserved) != tt.kept {
				t.Errorf("report = %+v; want torn %v damaged %v kept %d", rep, tt.torn, tt.damaged, tt.kept)
			}
			for _, p := range rep.Preserved {
				if _, err := os.Stat(p); err != nil {
					t.Errorf("preserved file: %v", err)
				}
			}
			// Whatever was found, the store works and the next start is clean.
			mustCommit(t, s, bound(50, 50))
			mustClose(t, s)
			s, rep = mustOpen(t, dir, Options{Sync: noSync})
			defer mustClose(t, s)
			if rep.Damaged() {
				t.Errorf("second open still damaged: %+v", rep)
			}
			if got, want := ips(s.All()), append(slices.Clone(tt.want), 50); !slices.Equal(got, want) {
				t.Errorf("after recovery leases = %v, want %v", got, want)
			}
		})
	}
}

// TestLoadCleanDoesNotRewrite checks that an ordinary restart appends to the existing
// journal instead of writing a snapshot (few writes on an SD card).
func TestLoadCleanDoesNotRewrite(t *testing.T) {
	dir := t.TempDir()
	s, _ := mustOpen(t, dir, Options{})
	mustCommit(t, s, bound(1, 1))
	mustClose(t, s)
	snapBefore, _ := os.Stat(filepath.Join(dir, snapName))
	var cs countingSync
	s, _ = mustOpen(t, dir, Options{Sync: cs.sync})
	if n := cs.n.Load(); n != 0 {
		t.Errorf("clean open synced %d times", n)
	}
	mustCommit(t, s, bound(2, 2))
	mustClose(t, s)
	snapAfter, _ := os.Stat(filepath.Join(dir, snapName))
	if !os.SameFile(snapBefore, snapAfter) {
		t.Error("clean reopen rewrote the snapshot")
	}
	if j := readFile(t, dir, journalName); strings.Count(j, "\tlease\t") != 2 {
		t.Errorf("journal:\n%s", j)
	}
}

// TestLoadTruncatedEverywhere cuts a real journal at every byte: each load must succeed
// and hold exactly the leases whose lines were complete.
func TestLoadTruncatedEverywhere(t *testing.T) {
	src := t.TempDir()
	s, _ := mustOpen(t, src, Options{Sync: noSync, CompactAfter: 1000})
	const n = 10
	for i := range n {
		l := bound(i, i)
		l.Hostname = strings.Repeat("h", i)
		mustCommit(t, s, l)
	}
	mustClose(t, s)
	snap, journal := readFile(t, src, snapName), readFile(t, src, journalName)
	dir := scratchDir(t)
	for cut := 0; cut <= len(journal); cut++ {
		resetDir(t, dir)
		writeFile(t, dir, snapName, snap)
		writeFile(t, dir, journalName, journal[:cut])
		s, rep, err := Open(dir, Options{Sync: noSync})
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		complete := strings.Count(journal[:cut], "\tlease\t") // lines that reached their '\n'…
		if cut < len(journal) && !strings.HasSuffix(journal[:cut], "\n") {
			// …minus a torn line, unless only its '\n' is missing (then it is valid).
			last := journal[strings.LastIndexByte(journal[:cut], '\n')+1 : cut]
			if _, err := parseLine([]byte(last)); err != nil && strings.Contains(last, "\tlease\t") {
				complete--
			}
		}
		if got := s.Len(); got != complete {
			t.Errorf("cut %d/%d: %d leases, want %d (report %+v)", cut, len(journal), got, complete, rep)
		}
		s.Close()
	}
}

// TestLoadBitFlips flips random bytes of a journal: loading never fails, and every lease
// whose line was not touched is still there.
func TestLoadBitFlips(t *testing.T) {
	src := t.TempDir()
	s, _ := mustOpen(t, src, Options{Sync: noSync, CompactAfter: 1000})
	for i := range 20 {
		mustCommit(t, s, bound(i, i))
	}
	mustClose(t, s)
	snap, journal := readFile(t, src, snapName), readFile(t, src, journalName)
	r := rand.New(rand.NewPCG(3, 4))
	dir := scratchDir(t)
	for round := range 1000 {
		j := []byte(journal)
		pos := r.IntN(len(j))
		j[pos] ^= byte(1 << r.IntN(8))
		resetDir(t, dir)
		writeFile(t, dir, snapName, snap)
		writeFile(t, dir, journalName, string(j))
		s, _, err := Open(dir, Options{Sync: noSync})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Lines other than the flipped one (and, for a flipped '\n', the next one).
		for i := range 20 {
			line := leaseLine(bound(i, i))
			at := strings.Index(journal, line)
			if at <= pos && pos < at+len(line) || at == pos+1 && journal[pos] == '\n' {
				continue
			}
			if _, ok := s.Get(mac(i)); !ok {
				t.Errorf("round %d: flip at %d lost untouched lease %d", round, pos, i)
			}
		}
		s.Close()
	}
}
