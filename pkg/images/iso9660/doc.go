// Package iso9660 reads ISO 9660 images in place: the primary volume descriptor, directories
// with Rock Ridge, Joliet or plain names, the El Torito boot catalogue, and files as
// io.ReaderAt together with their byte extents in the image, so a server can send a file
// straight from the image's descriptor.
//
// Everything read from the image is untrusted: every offset and length is checked against the
// image size, recursion and entry counts are bounded, and errors wrap ErrNotISO, ErrCorrupt,
// ErrUnsupported or fs.ErrNotExist.
//
// Names follow the richest tree the image has: Rock Ridge names in the primary tree, else the
// Joliet tree, else plain ISO 9660 names with the ";1" version and a trailing dot removed.
// Lookups try an exact match first and then a case-insensitive one.
package iso9660
