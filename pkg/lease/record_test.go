package lease

import (
	"bytes"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []record{
		{op: opLease, lease: bound(1, 1)},
		{op: opLease, lease: Lease{MAC: mac(2), IP: ip(2), State: Offered, Hostname: "a b\tc%d\x00é", ClientID: []byte{0xff, 0}}},
		{op: opLease, lease: Lease{IP: ip(3), State: Declined, Expiry: t0}},
		{op: opLease, lease: Lease{MAC: []byte{1}, IP: ip(4), State: Released}},
		{op: opTouch, lease: Lease{MAC: mac(5), IP: ip(5), Expiry: t0}},
		{op: opTouch, lease: Lease{MAC: mac(5), IP: ip(5)}},
		{op: opDel, lease: Lease{IP: ip(6)}},
		{op: opSnapshot, n: 0},
		{op: opJournal, n: 1<<64 - 1},
		{op: opEnd, n: 10000},
	}
	for _, r := range recs {
		line := appendRecord(nil, &r)
		if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
			t.Fatalf("%q: not exactly one line", line)
		}
		got, err := parseLine(line[:len(line)-1])
		if err != nil {
			t.Fatalf("parseLine(%q): %v", line, err)
		}
		if !equalRecords(&got, &r) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", line, got, r)
		}
	}
}

func equalRecords(a, b *record) bool {
	return a.op == b.op && a.n == b.n && equalLeases([]Lease{a.lease}, []Lease{b.lease})
}

// TestRecordGolden pins the on-disk text: changing it breaks every existing state dir.
func TestRecordGolden(t *testing.T) {
	l := Lease{MAC: mac(0x0102), IP: ip(7), Expiry: t0, Hostname: "pi 4", ClientID: []byte{1, 2}, State: Bound}
	got := string(appendRecord(nil, &record{op: opLease, lease: l}))
	want := "lease\t10.99.0.7\t52:54:00:00:01:02\tbound\t2026-11-26T12:00:00Z\tpi%204\t0102\n"
	if got[9:] != want {
		t.Errorf("line = %q, want %q after the checksum", got, want)
	}
	if _, err := parseLine([]byte(got[:len(got)-1])); err != nil {
		t.Error(err)
	}
}

func TestParseLineErrors(t *testing.T) {
	good := string(appendRecord(nil, &record{op: opLease, lease: bound(1, 1)}))
	good = good[:len(good)-1]
	withCRC := crcLine
	cases := map[string]string{
		"empty":             "",
		"no tab":            "0123456789abcdef",
		"bad crc hex":       "zzzzzzzz\tend\t1",
		"crc mismatch":      "00000000" + good[8:],
		"flipped bit":       good[:20] + string(good[20]^1) + good[21:],
		"unknown op":        withCRC("lose\t1"),
		"lease few fields":  withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound"),
		"lease many fields": withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\t\t\t"),
		"ipv6":              withCRC("lease\tfe80::1\t52:54:00:00:00:01\tbound\t\t\t"),
		"bad ip":            withCRC("lease\t10.0.0\t52:54:00:00:00:01\tbound\t\t\t"),
		"bad mac":           withCRC("lease\t10.0.0.1\t52:54:00:00:00:0g\tbound\t\t\t"),
		"mac separator":     withCRC("lease\t10.0.0.1\t52-54-00-00-00-01\tbound\t\t\t"),
		"mac too long":      withCRC("lease\t10.0.0.1\t" + strings.Repeat("00:", 16) + "00\tbound\t\t\t"),
		"no mac bound":      withCRC("lease\t10.0.0.1\t\tbound\t\t\t"),
		"bad state":         withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tBOUND\t\t\t"),
		"bad time":          withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t2026-11-26 12:00:00\t\t"),
		"raw space":         withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\ta b\t"),
		"short escape":      withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\tab%4\t"),
		"bad escape":        withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\t%zz\t"),
		"odd hex":           withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\t\t012"),
		"touch no mac":      withCRC("touch\t10.0.0.1\t\t"),
		"del extra":         withCRC("del\t10.0.0.1\tx"),
		"number sign":       withCRC("end\t+1"),
		"number zero pad":   withCRC("end\t01"),
		"number empty":      withCRC("end\t"),
		"too long":          withCRC("lease\t10.0.0.1\t52:54:00:00:00:01\tbound\t\t" + strings.Repeat("a", maxLine) + "\t"),
	}
	for name, line := range cases {
		if _, err := parseLine([]byte(line)); !errors.Is(err, errLine) {
			t.Errorf("%s: parseLine(%.60q) = %v, want errLine", name, line, err)
		}
	}
	if _, err := parseLine([]byte(withCRC("end\t0"))); err != nil {
		t.Errorf("control case failed: %v", err)
	}
}

// crcLine prefixes body with its checksum, for hand-written test records.
func crcLine(body string) string {
	var b []byte
	b = append(b, "00000000\t"...)
	b = append(b, body...)
	sum := crcOf([]byte(body))
	const hexdig = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		b[i] = hexdig[sum&0xf]
		sum >>= 4
	}
	return string(b)
}

// crcOf is a record body's checksum as the codec writes it.
func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
