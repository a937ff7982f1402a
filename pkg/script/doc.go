// Package script renders pxe-edge's per-client scripts (iPXE scripts, and any text a boot
// server hands out per machine) from templates in text/template's syntax:
//
//	t, err := script.Parse("boot.ipxe", src)  // once per file; errors name the construct
//	out, err := t.Render(script.Data{MAC: …})  // per request; the whole script or an error
//
// Only the syntax is text/template's, not its executor: text/template's Execute calls
// reflect.Value.MethodByName, which makes the linker keep every exported method of every
// reachable type, about 1.6 MB of the arm64 binary (docs/bench/size.md). The package uses
// text/template/parse, which does not, and walks the tree itself over plain values: Data,
// string, the integer types, bool, float64, complex128, map[string]string and []string.
// Everything text/template does with those values is reproduced (template_test.go compares
// both on the same templates, FuzzScriptTemplate on arbitrary ones); {{template}},
// {{define}}, {{block}}, call, html and js are refused at parse time by name. Missing map
// keys render as "" (missingkey=zero). Nothing here may import text/template.
//
// Templates come from an SD card anyone with the card can edit, so a render is bounded:
// output (1 MiB), steps, loop iterations, bytes produced by functions, nesting depth and
// printf widths; a limit is an error wrapping ErrLimit, never a truncated script.
//
// The package knows nothing about HTTP or DHCP: pkg/http gathers Data for a request and
// serves the result.
package script
