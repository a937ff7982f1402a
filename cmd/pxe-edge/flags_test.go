package main

import (
	"flag"
	"os"
	"testing"

	"github.com/pxe-edge/pxe-edge/internal/config"
)

var update = flag.Bool("update", false, "rewrite FLAGS.md")

const flagsHeader = "# pxe-edge flags and PyPXE JSON keys\n\n" +
	"Generated from internal/config (`go test ./cmd/pxe-edge -update`). Precedence: defaults <\n" +
	"`--config FILE` (PyPXE JSON, keys as below) < command-line flags. Short flags are PyPXE's.\n" +
	"Also: `--config FILE`, `--dump-config`, `--dump-config-merged`, `--version`, `-h/--help`.\n" +
	"Exit status 2 for any bad flag or setting.\n\n"

// FLAGS.md is the settings table, kept in step with the code.
func TestFlagsDoc(t *testing.T) {
	want := flagsHeader + config.Markdown()
	if *update {
		if err := os.WriteFile("FLAGS.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("FLAGS.md")
	if err != nil || string(got) != want {
		t.Fatalf("FLAGS.md is out of date (go test ./cmd/pxe-edge -update): %v", err)
	}
}
