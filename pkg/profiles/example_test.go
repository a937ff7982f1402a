package profiles_test

import (
	"fmt"

	"github.com/pxe-edge/pxe-edge/pkg/profiles"
)

// A profiles file: machines in the static-lease group "lab" install Debian without a
// keystroke; everyone else gets the menu with the local disk as default.
func ExampleSet_Resolve() {
	set, err := profiles.Parse([]byte(`{
	  "default": "local", "timeout": 10,
	  "profiles": [{"name": "lab", "match": {"group": ["lab"]},
	                "default": "debian-installer", "timeout": 0,
	                "args": "console=ttyS0 hostname={hostname}"}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	d := set.Resolve(profiles.Facts{MAC: "52:54:00:00:00:01", Group: "lab", Hostname: "pc-7"})
	fmt.Printf("%s %q %v %q\n", d.Profile, d.Default, d.Timeout, d.Args)
	d = set.Resolve(profiles.Facts{MAC: "52:54:00:00:00:02"})
	fmt.Printf("%q %q %v\n", d.Profile, d.Default, d.Timeout)
	// Output:
	// lab "debian-installer" 0s "console=ttyS0 hostname=pc-7"
	// "" "local" 10s
}
