package iso9660

import "errors"

// Sentinel errors; the errors returned by this package wrap one of them (or fs.ErrNotExist).
var (
	// ErrNotISO: the data has no ISO 9660 volume descriptor set.
	ErrNotISO = errors.New("iso9660: not an ISO 9660 image")
	// ErrCorrupt: a structure points outside the image or is malformed (truncated images
	// land here).
	ErrCorrupt = errors.New("iso9660: corrupt image")
	// ErrUnsupported: valid ISO 9660 this reader does not handle (interleaved files, a
	// logical block size other than 2048).
	ErrUnsupported = errors.New("iso9660: unsupported feature")
	// ErrLimit: a bound on entries, depth or directory size was hit.
	ErrLimit = errors.New("iso9660: limit exceeded")
	// ErrNoBootCatalog: the image has no El Torito boot record.
	ErrNoBootCatalog = errors.New("iso9660: no El Torito boot catalogue")
)
