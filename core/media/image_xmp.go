package media

import (
	"bytes"
	"strings"
)

// xmpItems adds to rep what an XMP packet found in an image says, by
// looking for well-known property names; the packet itself is always
// reported as "XMP". It never fails: XMP is dropped whatever it holds.
func xmpItems(rep *Report, x []byte) {
	rep.add(CatOther, "XMP")
	has := func(names ...string) bool {
		for _, n := range names {
			if bytes.Contains(x, []byte(n)) {
				return true
			}
		}
		return false
	}
	if has("exif:GPSLatitude", "exif:GPSLongitude", "GPSLatitude") {
		rep.add(CatLocation, "GPS position (in XMP)")
	}
	if has("photoshop:City", "Iptc4xmpCore:Location", "photoshop:Country", "Iptc4xmpExt:LocationShown") {
		rep.add(CatLocation, "Place names (in XMP)")
	}
	if has("tiff:Make", "tiff:Model", "aux:SerialNumber", "exifEX:BodySerialNumber", "aux:Lens") {
		rep.add(CatDevice, "Camera details (in XMP)")
	}
	if has("xmp:CreateDate", "photoshop:DateCreated", "exif:DateTimeOriginal", "xmp:ModifyDate", "xmp:MetadataDate") {
		rep.add(CatTime, "Dates (in XMP)")
	}
	if has("xmp:CreatorTool", "stEvt:softwareAgent") {
		rep.add(CatSoftware, "Editing software (in XMP)")
	}
	if has("dc:creator", "dc:rights", "xmpRights:Owner", "photoshop:AuthorsPosition") {
		rep.add(CatAuthor, "Author (in XMP)")
	}
	if has("dc:description", "dc:title", "dc:subject", "exif:UserComment") {
		rep.add(CatComment, "Description or keywords (in XMP)")
	}
	if has("xmpMM:History", "xmpMM:DocumentID", "xmpMM:OriginalDocumentID") {
		rep.add(CatOther, "Editing history and document IDs (in XMP)")
	}
	if has("GCamera:MicroVideo", "GCamera:MotionPhoto", "Camera:MotionPhoto", "MotionPhoto") {
		rep.add(CatEmbedded, "Motion photo video")
	}
}

// textLabel is a readable quote of a short untrusted text for a label.
func textLabel(b []byte) string {
	return cleanLabel(strings.TrimRight(string(b), "\x00"))
}
