package images_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/pxe-edge/pxe-edge/pkg/images"
	"github.com/pxe-edge/pxe-edge/pkg/profiles"
	"github.com/pxe-edge/pxe-edge/pkg/tftp"
)

// How the daemon wires the catalogue: a periodic rescan (plus Rescan on SIGHUP), the HTTP
// handler under /images/ with boot-once consumption, the TFTP overlay that also generates
// pxelinux.cfg/default, and the iPXE menu as the default script.
func Example() {
	dir, _ := os.MkdirTemp("", "images-example")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "rescue.ipxe"), []byte("#!ipxe\nshell\n"), 0o644)

	cat := images.NewCatalog(dir, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cat.Rescan()                    // at start, and on SIGHUP
	go cat.Run(ctx, 10*time.Second) // cheap stat-based rescans

	resolver, err := profiles.New("", dir) // --profiles FILE, --state-dir
	if err != nil {
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/images/", &images.Handler{Catalog: cat, OnFetch: func(mac, entry string) {
		resolver.ConsumeIf(mac, entry)
	}})

	client := images.Client{Arch: images.ArchOf(7), MAC: "52:54:00:12:34:56", ServerURL: "http://192.168.2.2"}
	decision := resolver.Resolve(profiles.Facts{MAC: client.MAC, Arch: 7, Platform: string(client.Arch), IP: netip.MustParseAddr("192.168.2.100")})
	script := images.IPXEMenu(cat.Entries(), client, decision)

	var inner tftp.FileSource // the daemon's bootfs-wrapped DirSource
	_ = &images.TFTPSource{Catalog: cat, Inner: inner, Generate: func(req *tftp.Request) ([]byte, bool) {
		if req.Path != "pxelinux.cfg/default" {
			return nil, false
		}
		c := images.Client{Arch: images.ArchBIOS, ServerURL: "http://192.168.2.2"} // MAC from the lease table
		return []byte(images.PXELinuxMenu(cat.Entries(), c, resolver.Resolve(profiles.Facts{}))), true
	}}

	e, _ := cat.Lookup("rescue.ipxe")
	fmt.Println(e.Kind, e.Method, e.Bootable)
	fmt.Println(len(script) > 0, decision.Default, decision.Timeout)
	// Output:
	// script script true
	// true local 10s
}
