// Package httpd is pxe-edge's HTTP side: it serves the netboot directory (confined with
// os.Root, Range and conditional requests, the kernel's sendfile path for large files),
// renders per-client iPXE scripts from templates, and hosts the live boot dashboard, its
// JSON/SSE API and Prometheus metrics.
//
// The directory is pkg/http; the package is named httpd so that it does not shadow net/http
// at call sites. It imports only pkg/events and the standard library: what it needs from the
// DHCP side comes through the Clients interface, which the daemon implements.
package httpd
