package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestRunActions(t *testing.T) {
	var out, errb bytes.Buffer
	version = "v9.9.9-test"
	if code := run([]string{"--version"}, &out, &errb); code != 0 || out.String() != "pxe-edge v9.9.9-test\n" {
		t.Errorf("--version: %d %q", code, out.String())
	}
	out.Reset()
	if code := run([]string{"--dump-config"}, &out, &errb); code != 0 {
		t.Fatalf("--dump-config: %d", code)
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil || m["USE_TFTP"] != true || m["NETBOOT_DIR"] != "netboot" {
		t.Errorf("--dump-config output: %v %s", err, out.String())
	}
	out.Reset()
	if code := run([]string{"--dump-config-merged", "--dhcp-proxy", "-s", "10.0.0.2"}, &out, &errb); code != 0 || !strings.Contains(out.String(), `"DHCP_SERVER_IP": "10.0.0.2"`) {
		t.Errorf("--dump-config-merged: %d %s", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-h"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "--netboot-dir") {
		t.Errorf("-h: %d", code)
	}
	errb.Reset()
	if code := run([]string{"--dhcp", "-b", "10.1.1.1", "-e", "10.1.1.0", "-a", t.TempDir()}, &out, &errb); code != 2 {
		t.Errorf("bad configuration: exit %d, want 2", code)
	}
	if lines := strings.Count(errb.String(), "pxe-edge: bad configuration:"); lines < 2 {
		t.Errorf("every problem on its own line: %q", errb.String())
	}
}
