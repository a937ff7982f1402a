package script_test

import (
	"fmt"

	"github.com/pxe-edge/pxe-edge/pkg/script"
)

func Example() {
	t, err := script.Parse("boot.ipxe", "#!ipxe\n"+
		"{{if eq .Platform \"efi\"}}chain {{.BaseURL}}/{{.BuildArch}}/grubnetx64.efi\n"+
		"{{else}}chain {{.BaseURL}}/pxelinux.0\n{{end}}"+
		"echo rack={{.Reservation.rack}} unknown={{.Reservation.nope}}\n")
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := t.Render(script.Data{
		Platform: "efi", BuildArch: "x86_64", BaseURL: "http://10.50.0.1",
		Reservation: map[string]string{"rack": "r7"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(out))

	_, err = script.Parse("x.ipxe", "{{template \"other\"}}")
	fmt.Println(err)
	// Output:
	// #!ipxe
	// chain http://10.50.0.1/x86_64/grubnetx64.efi
	// echo rack=r7 unknown=
	// template: x.ipxe:1:11: {{template "other"}}: not supported in pxe-edge scripts
}
