package media

// exifItems adds to rep what a raw Exif payload carries: tiff is the
// TIFF-structured block that follows the "Exif\x00\x00" header in a JPEG
// APP1 segment (and that HEIF Exif items and PNG eXIf chunks hold). It
// reads with github.com/dsoprea/go-exif/v3 behind a recover and size
// limits, and returns an error wrapping ErrMalformed for a block it cannot
// read; rep keeps what was read before the failure.
//
// It also returns the Exif orientation (1–8), or 0 if none is recorded.
func exifItems(rep *Report, tiff []byte) (orientation int, err error) {
	// Filled in with the JPEG sanitizer.
	return 0, nil
}
