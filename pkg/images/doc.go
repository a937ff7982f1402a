// Package images is pxe-edge's image catalogue: it scans `<netboot>/images/` for ISO files,
// kernel + initrd directories and iPXE scripts, recognises known distributions from a recipe
// table, serves the files inside ISOs over HTTP and TFTP without extracting them, and renders
// boot menus (iPXE, pxelinux, GRUB) from the catalogue and a machine's profile decision.
//
// A broken entry (a corrupt or truncated ISO, an unknown layout, an unreadable file) is
// listed as not bootable with the reason; it never hides or breaks the others. The catalogue
// keeps only small per-entry summaries in memory and opens files on demand, so its memory and
// open descriptors stay bounded however many images there are.
package images
