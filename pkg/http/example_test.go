package httpd_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	httpd "github.com/pxe-edge/pxe-edge/pkg/http"
)

// Example serves a netboot directory on loopback: a plain file, and an iPXE script
// rendered for the client that asks. The daemon does the same with its lease table as
// Config.Clients, the event bus, and the image catalogue mounted under /images/.
func Example() {
	dir, _ := os.MkdirTemp("", "netboot")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "boot.ipxe"), []byte("#!ipxe\necho hello {{.IP}}\nchain {{.BaseURL}}/menu.ipxe\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("served as is\n"), 0o644)

	srv, err := httpd.New(httpd.Config{
		Root:     dir,
		ServerIP: netipMust("127.0.0.1"), // what scripts advertise as {{.BaseURL}}'s host
		Logger:   slog.New(slog.DiscardHandler),
		Mounts: []httpd.Mount{{Prefix: "/version/", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "v1\n")
		})}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	base := "http://" + ln.Addr().String()
	for _, p := range []string{"/boot.ipxe", "/README", "/version/"} {
		resp, err := http.Get(base + p)
		if err != nil {
			fmt.Println(err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s %d\n%s", p, resp.StatusCode, replacePort(string(body), ln))
	}
	stop()
	fmt.Println("Serve:", <-done)
	// Output:
	// /boot.ipxe 200
	// #!ipxe
	// echo hello 127.0.0.1
	// chain http://127.0.0.1:PORT/menu.ipxe
	// /README 200
	// served as is
	// /version/ 200
	// v1
	// Serve: <nil>
}
