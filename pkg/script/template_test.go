package script

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"text/template"
)

// text/template is the oracle here: tests may use it, the binary does not (doc.go).

var (
	tmplFull = Data{
		MAC: "52:54:00:12:34:56", MACHyp: "52-54-00-12-34-56", MACHex: "525400123456",
		IP: "10.50.0.23", Arch: 7, ArchName: "x64-uefi", Platform: "efi", BuildArch: "x86_64",
		Hostname: "node1", UUID: "9f2a0c1e-4a57-4d2b-8f3e-0a1b2c3d4e5f", Kind: "ipxe-script",
		Reservation: map[string]string{"rack": "r7", "role": "worker", "kernel": "vmlinuz-6.1", "empty": "", "%x": "100%"},
		Server:      "10.50.0.1", Port: 8080, BaseURL: "http://10.50.0.1:8080",
	}
	tmplEmpty = Data{IP: "127.0.0.1", Server: "127.0.0.1", Port: 80, BaseURL: "http://127.0.0.1"}
	tmplBIOS  = Data{
		MAC: "52:54:00:00:00:02", MACHyp: "52-54-00-00-00-02", MACHex: "525400000002", IP: "10.50.0.24",
		Arch: 0, ArchName: "x86-bios", Platform: "pcbios", BuildArch: "i386",
		Reservation: map[string]string{}, Server: "fd00::1", Port: 80, BaseURL: "http://[fd00::1]",
	}
	tmplData = []Data{tmplFull, tmplEmpty, tmplBIOS}
)

// oracle renders src with text/template as pkg/http did before this package.
func oracle(name, src string, data any) (string, error) {
	t, err := template.New(name).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = t.Execute(&b, data)
	return b.String(), err
}

func ours(name, src string, data any) (string, error) {
	t, err := Parse(name, src)
	if err != nil {
		return "", err
	}
	out, err := t.render(data)
	return string(out), err
}

// compareTemplate fails t unless both evaluators agree on src and data: same output, or both
// an error. Constructs refused as unsupported are not compared.
func compareTemplate(t *testing.T, name, src string, data Data) (string, error) {
	t.Helper()
	want, werr := oracle(name, src, data)
	got, gerr := ours(name, src, data)
	switch {
	case gerr != nil && errors.Is(gerr, ErrUnsupported):
		// Refused by name (TestTemplateErrors); text/template may well accept it.
	case werr != nil && gerr == nil:
		t.Errorf("%q: text/template fails (%v), ours renders %q", src, werr, got)
	case werr == nil && gerr != nil:
		t.Errorf("%q: text/template renders %q, ours fails: %v", src, want, gerr)
	case werr == nil && got != want:
		t.Errorf("%q:\n got %q\nwant %q", src, got, want)
	case werr != nil && werr.Error() != gerr.Error() && !strings.Contains(werr.Error(), "reflect:"):
		// Messages match too, except where text/template reports a reflect panic.
		t.Errorf("%q: error\n got %v\nwant %v", src, gerr, werr)
	}
	return got, gerr
}

// tmplCases are templates both evaluators must agree on, for every tmplData.
var tmplCases = []string{
	"",
	"plain text, no actions ${mac:hexhyp} {notaction}",
	"#!ipxe\nchain {{.BaseURL}}/{{.BuildArch}}/kernel mac={{.MAC}} {{.MACHyp}} {{.MACHex}}\n",
	"{{.IP}} {{.Arch}} {{.ArchName}} {{.Platform}} {{.Hostname}} {{.UUID}} {{.Kind}} {{.Server}} {{.Port}}",
	"{{.Reservation}}|{{.Reservation.rack}}|{{.Reservation.nope}}|{{.Reservation.empty}}",
	"{{.}}", "{{$}}", "{{$.MAC}}", "{{.Reservation | len}}",
	"{{/* a comment */}}x{{- /* trimmed */ -}} y {{- .MAC -}} \n z",
	"a  {{- 3 -}}  b {{ 4 }} c {{- \"s\"}}",
	"{{if .Hostname}}host {{.Hostname}}{{else if .MAC}}mac {{.MAC}}{{else}}nothing{{end}}",
	"{{if .Reservation}}has{{else}}none{{end}} {{if .Reservation.rack}}rack{{end}}",
	"{{if eq .Platform \"efi\"}}efi{{else if eq .Platform \"pcbios\"}}bios{{else}}other {{.Platform}}{{end}}",
	"{{if eq .BuildArch \"x86_64\" \"i386\"}}x86{{end}} {{if ne .Arch 0}}uefi{{end}} {{if eq .Arch 7}}seven{{end}}",
	"{{if and .MAC .Hostname}}both{{end}} {{if or .Hostname .MAC}}either{{end}} {{if not .Hostname}}nohost{{end}}",
	"{{and .MAC .Hostname}}|{{or .Hostname .MAC}}|{{or .Hostname \"\"}}|{{and 1 0 2}}|{{or 0 \"\" nil}}|{{and}}",
	"{{with .Reservation.rack}}rack {{.}}{{else}}no rack{{end}}",
	"{{with .Hostname}}{{.}}{{else with .MAC}}by mac {{.}}{{else}}anon{{end}}",
	"{{with $r := .Reservation}}{{$r.role}} {{$.MAC}}{{end}}",
	"{{range $k, $v := .Reservation}}{{$k}}={{$v}};{{else}}empty{{end}}",
	"{{range .Reservation}}[{{.}}]{{end}}",
	"{{range $v := .Reservation}}[{{$v}}]{{end}}",
	"{{range 3}}{{.}}{{end}} {{range $i := 4}}{{$i}}{{end}} {{range 0}}x{{else}}zero{{end}} {{range -2}}x{{end}}",
	"{{range .Arch}}{{.}},{{end}}",
	"{{range $i, $c := .Reservation}}{{if eq $i \"rack\"}}{{break}}{{end}}{{$i}} {{end}}",
	"{{range $k, $v := .Reservation}}{{if not $v}}{{continue}}{{end}}{{$k}} {{end}}",
	"{{$x := 1}}{{range 3}}{{$x = .}}{{end}}{{$x}}",
	"{{$k := \"\"}}{{$v := \"\"}}{{range $k, $v = .Reservation}}{{end}}{{$k}}={{$v}}",
	"{{$x := .MAC}}{{if true}}{{$x := \"inner\"}}{{$x}}{{end}} {{$x}}",
	"{{$a := .Arch}}{{$a}} {{$a = 9}}{{$a}}",
	"{{printf \"%s-%d-%v-%q-%x-%X-%5s|%-5s|%05d\" .MAC .Port .Arch .Hostname .MACHex .Platform \"a\" \"b\" .Arch}}",
	"{{printf \"%T %T %T %T\" .Arch .Port .Reservation .}}",
	"{{printf \"%v %d\" 1.5 'a'}} {{printf \"%v\" 2i}} {{printf \"%v\" 0x10}} {{printf \"%v\" 1e3}} {{printf \"%v %v\" nil true}}",
	"{{printf \"%s\"}} {{printf \"%d\" \"x\"}} {{printf \"no verbs\" 1 2}} {{printf \"%!\"}}",
	"{{.MAC | printf \"%s!\"}} {{\"%s?\" | printf}} {{.Arch | printf \"%03d\"}}",
	"{{print .MAC 1 2 \"x\" .Arch}} {{println .MAC \"y\"}} {{print}} {{print nil}}",
	"{{index .Reservation \"rack\"}} {{index .Reservation \"nope\"}} {{index .MAC 0}} {{index .Reservation}}",
	"{{slice .MACHex 0 6}} {{slice .MACHex 6}} {{slice .MAC}} {{len .MAC}} {{len .Reservation}}",
	"{{urlquery .MAC \"a b&c\"}} {{urlquery .Arch}} {{urlquery}} {{urlquery \"x y\"}} {{urlquery nil}}",
	"{{lt .Arch 8}} {{le .Port 80}} {{gt .Hostname \"a\"}} {{ge 2.5 2.5}} {{lt -1 .Arch}} {{gt .Arch -1}}",
	"{{eq .Reservation nil}} {{eq nil nil}} {{eq \"a\" nil}} {{eq nil .MAC}} {{ne .MAC \"\"}} {{eq . nil}}",
	"{{eq 1 1.0}}",
	"{{eq 1.5 1.5}} {{eq 2i 2i}} {{eq true true}} {{eq .Arch .Arch}} {{eq (index .MAC 0) 53}}",
	"{{(.Reservation).rack}} {{(index .Reservation \"rack\")}} {{(print .MAC).x}}",
	"{{$r := .Reservation}}{{$r.rack}} {{$.Reservation.role}}",
	"{{not 0}} {{not \"\"}} {{not .}} {{not nil}} {{true}} {{false}} {{nil | not}}",
	"{{if 1.0}}f{{end}}{{if 0i}}c{{end}}{{if 'x'}}r{{end}}",
	"{{.MAC | len | printf \"%d chars\"}}",
	"{{\"a\" | eq \"a\"}} {{1 | eq 2 1}} {{.Hostname | and .MAC}} {{.Hostname | or .MAC}}",
	"{{range $i, $e := 3}}x{{end}}",
	"{{template \"x\"}}",
	"{{define \"x\"}}y{{end}}z",
	"{{call .MAC}}",
	"{{html .MAC}}",
	"{{.Nope}}", "{{.MAC.x}}", "{{.Reservation.rack.x}}", "{{.Arch.x}}",
	"{{.MAC 1}}", "{{.Reservation.rack 1}}", "{{1 | .MAC}}", "{{\"a\" \"b\"}}", "{{$ 1}}",
	"{{nil}}", "{{if}}", "{{end}}", "{{range .MAC}}{{end}}", "{{range .}}{{end}}", "{{with}}",
	"{{if .}}{{.X}}{{end}}", "{{nope}}", "{{.MAC | nope}}", "{{$x}}", "{{break}}",
	"{{eq}}", "{{eq 1}}", "{{eq 1 \"a\"}}", "{{eq . .}}", "{{eq .Reservation .Reservation}}", "{{lt true false}}",
	"{{lt 1 \"a\"}}", "{{lt nil 1}}", "{{lt . 1}}", "{{lt 1i 2i}}", "{{ne 1}}", "{{not}}", "{{not 1 2}}",
	"{{len 3}}", "{{len nil}}", "{{len .}}", "{{index nil 1}}", "{{index .MAC 99}}", "{{index .MAC 17}}",
	"{{index .MAC -1}}", "{{index .MAC \"a\"}}", "{{index .MAC nil}}", "{{index .Reservation 1}}",
	"{{index .Reservation nil}}", "{{index .Arch 0}}", "{{index . 0}}", "{{index .MAC 0 0}}",
	"{{slice .MAC 3 1}}", "{{slice .MAC 1 2 3}}", "{{slice .MAC 99}}", "{{slice nil}}", "{{slice .Arch}}",
	"{{slice .MAC 1 2 3 4}}", "{{printf 3}}", "{{printf nil}}", "{{printf .Arch}}", "{{printf true}}",
	"{{printf .MAC}}", "{{printf}}", "{{1 | printf}}", "{{printf (index .Reservation \"nope\")}}",
	"{{if 99999999999999999999}}{{end}}", "{{print 99999999999999999999}}",
	"{{with .Reservation.nope}}{{.x}}{{end}}", "{{nil.x}}",
	"{{(index .Reservation).rack}}", "{{$x := nil}}", "{{$x := .Reservation.nope}}{{$x.y}}",
	"{{range $x := nil}}{{end}}", "{{if (print)}}e{{else}}n{{end}}",
}

func TestTemplateMatchesTextTemplate(t *testing.T) {
	rendered, failed := 0, 0
	for _, src := range tmplCases {
		for _, d := range tmplData {
			_, err := compareTemplate(t, "case.ipxe", src, d)
			if err != nil && errors.Is(err, ErrLimit) {
				t.Errorf("%q: limit hit: %v", src, err)
			}
			if err != nil {
				failed++
			} else {
				rendered++
			}
		}
	}
	// Both kinds must be exercised, or the comparison proves little.
	if rendered < 150 || failed < 150 {
		t.Errorf("%d renders and %d errors compared; the table lost cases", rendered, failed)
	}
	t.Logf("%d renders and %d errors agree with text/template", rendered, failed)
}

// TestTemplateNetboot renders every shipped script (netboot/) and the example templates
// (testdata/scripts) with both evaluators.
func TestTemplateNetboot(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.ipxe", "*.ipxe.tmpl", "hosts/*.ipxe", "hosts/*.ipxe.tmpl"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "netboot", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	examples, _ := filepath.Glob(filepath.Join("testdata", "scripts", "*"))
	if len(examples) == 0 {
		t.Fatal("no testdata/scripts")
	}
	files = append(files, examples...)
	if len(files) == 0 {
		t.Fatal("no netboot/*.ipxe files found")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range tmplData {
			if _, err := compareTemplate(t, filepath.Base(f), string(src), d); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}

// TestTemplateErrors: errors name the construct and carry the template's name and position.
func TestTemplateErrors(t *testing.T) {
	for _, c := range []struct {
		src, want   string
		unsupported bool
	}{
		{"x\n{{.Nope}}", "template: e.ipxe:2:2: executing \"e.ipxe\" at <.Nope>: can't evaluate field Nope in type script.Data", false},
		{"{{.MAC.x}}", "can't evaluate field x in type string", false},
		{"{{if}}", "template: e.ipxe:1: missing value for if", false},
		{"{{nope 1}}", `function "nope" not defined`, false},
		{"{{eq 1 \"a\"}}", "error calling eq: incompatible types for comparison: int and string", false},
		{"{{template \"x\"}}", `{{template "x"}}: not supported`, true},
		{"{{define \"x\"}}y{{end}}", `{{define "x"}} (or {{block}}): not supported`, true},
		{"{{block \"b\" .}}y{{end}}", `{{define "b"}} (or {{block}}): not supported`, true},
		{"a\n{{call .MAC}}", "e.ipxe:2:2: function call: not supported", true},
		{"{{if .MAC}}{{html .MAC}}{{end}}", "function html: not supported", true},
		{"{{.MAC | js}}", "function js: not supported", true},
	} {
		_, err := ours("e.ipxe", c.src, tmplFull)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to contain %q", c.src, err, c.want)
			continue
		}
		if got := errors.Is(err, ErrUnsupported); got != c.unsupported {
			t.Errorf("%q: unsupported = %v, want %v (%v)", c.src, got, c.unsupported, err)
		}
	}
}

// TestTemplateLimits: untrusted templates cost bounded work and memory, and a limit is an
// error (a 500), never a truncated script.
func TestTemplateLimits(t *testing.T) {
	for _, src := range []string{
		"{{range 1000000000}}x{{end}}",
		"{{range 400}}{{range 400}}{{end}}{{end}}",
		"{{range 1000}}" + strings.Repeat("y", 2000) + "{{end}}",
		"{{range 50000}}{{$x := printf \"%999999d\" 1}}{{end}}",
		"{{range 100}}{{printf \"%999999d\" 1}}{{end}}",
		"{{range 90000}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{$.MAC}}{{end}}",
		"{{" + strings.Repeat("(", 1200) + "1" + strings.Repeat(")", 1200) + "}}",
	} {
		out, err := ours("l.ipxe", src, tmplFull)
		if err == nil || !errors.Is(err, ErrLimit) || out != "" {
			t.Errorf("%.60q: %d bytes, err %v; want a limit error and no output", src, len(out), err)
		}
	}
	// Just under the output limit renders.
	src := "{{range 512}}" + strings.Repeat("z", 2047) + "\n{{end}}"
	if out, err := ours("ok.ipxe", src, tmplFull); err != nil || len(out) != tmplMaxOutput {
		t.Errorf("1 MiB script: %d bytes, %v", len(out), err)
	}
}

// TestScriptDataFields: the evaluator sees every Data field, with its value and type,
// as text/template does through reflection.
func TestScriptDataFields(t *testing.T) {
	v := reflect.ValueOf(tmplFull)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		got, ok := tmplFull.templateField(f.Name)
		if !ok {
			t.Errorf("templateField lacks %s", f.Name)
			continue
		}
		if !reflect.DeepEqual(got, v.Field(i).Interface()) {
			t.Errorf("%s: %#v, want %#v", f.Name, got, v.Field(i).Interface())
		}
	}
	if _, ok := tmplFull.templateField("Nope"); ok {
		t.Error("templateField(Nope) is ok")
	}
}

func BenchmarkTemplateRender(b *testing.B) {
	src, err := os.ReadFile(filepath.Join("..", "..", "netboot", "boot.ipxe"))
	if err != nil {
		b.Fatal(err)
	}
	text := string(src) + "\n{{range $k, $v := .Reservation}}set {{$k}} {{$v}}\n{{end}}{{if eq .Platform \"efi\"}}chain {{.BaseURL}}/{{.BuildArch}}.efi{{end}}\n"
	b.Run("pxe-edge", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ours("boot.ipxe", text, tmplFull); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("text-template", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := oracle("boot.ipxe", text, tmplFull); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestNoTextTemplate: the package exists to keep text/template's executor out of the binary
// (doc.go); neither it nor pkg/http may pull it in again.
func TestNoTextTemplate(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".", "../http").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if p == "text/template" || p == "html/template" {
			t.Errorf("%s is linked in", p)
		}
	}
}
