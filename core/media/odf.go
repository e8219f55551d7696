package media

import (
	"encoding/xml"
	"strings"
)

// OpenDocument (ODT, ODS, ODP). meta.xml keeps only its statistics and
// language; thumbnails and signatures are left out together with their
// manifest entries; comment (annotation) authors and their dates are
// removed from content and styles; the printer named in settings.xml
// goes; pictures and embedded documents are sanitized with their own
// formats. The mimetype entry stays first and stored, as the
// specification requires.

func init() {
	registerZipDoc(zipDocFormat{plan: odfPlan, first: "mimetype"}, ODT, ODS, ODP)
}

var odfMetaKeep = map[string]bool{"document-statistic": true, "language": true}

// Printer settings that name the printer or carry its driver's data.
var odfPrinterItems = map[string]bool{"PrinterName": true, "PrinterSetup": true, "PrinterPaperFromSetup": true}

func odfPlan(name string) partPlan {
	base := name[strings.LastIndex(name, "/")+1:]
	switch {
	case name == "mimetype":
		return partPlan{kind: partCopy}
	case strings.HasPrefix(name, "Thumbnails/"):
		if strings.HasSuffix(name, "/") {
			return partPlan{kind: partDrop}
		}
		return partPlan{kind: partDrop, cat: CatThumbnail, label: "Thumbnail (" + name + ")"}
	case name == "META-INF/manifest.xml":
		return partPlan{kind: partXML, rules: manifestRules}
	case strings.HasPrefix(name, "META-INF/") && strings.Contains(strings.ToLower(name), "signatures"):
		return partPlan{kind: partDrop, cat: CatAuthor, label: "Digital signature"}
	case base == "meta.xml":
		return partPlan{kind: partXML, rules: odfMetaRules}
	case base == "settings.xml":
		return partPlan{kind: partXML, rules: odfSettingsRules}
	case base == "content.xml", base == "styles.xml":
		return partPlan{kind: partXML, rules: odfContentRules}
	case strings.HasSuffix(name, "/"):
		return partPlan{kind: partCopy}
	case strings.HasPrefix(name, "Pictures/"), strings.HasPrefix(name, "ObjectReplacements/"),
		strings.HasPrefix(name, "Media/"):
		return partPlan{kind: partMedia}
	}
	return partPlan{kind: partCopy}
}

// odfMetaRules keeps office:meta and, inside it, only odfMetaKeep.
func odfMetaRules(j *zipJob, name string) xmlRules {
	return xmlRules{
		element: func(anc []string, se xml.StartElement) xmlAction {
			if len(anc) == 2 && anc[1] == "meta" && !odfMetaKeep[se.Name.Local] {
				return xmlDrop
			}
			return xmlKeep
		},
		removed: func(anc []string, se xml.StartElement, text string) {
			propLabel(j.rep, se.Name.Local, text, se)
		},
	}
}

// manifestRules drops the manifest entries of parts left out.
func manifestRules(j *zipJob, name string) xmlRules {
	return xmlRules{element: func(anc []string, se xml.StartElement) xmlAction {
		if se.Name.Local == "file-entry" {
			if p, _ := attrValue(se, "full-path"); j.dropped[p] {
				return xmlDrop
			}
		}
		return xmlKeep
	}}
}

// odfSettingsRules drops the printer's name and driver settings.
func odfSettingsRules(j *zipJob, name string) xmlRules {
	return xmlRules{
		element: func(anc []string, se xml.StartElement) xmlAction {
			if se.Name.Local == "config-item" {
				if n, _ := attrValue(se, "name"); odfPrinterItems[n] {
					return xmlDrop
				}
			}
			return xmlKeep
		},
		removed: func(anc []string, se xml.StartElement, text string) {
			if n, _ := attrValue(se, "name"); n == "PrinterName" && text != "" {
				j.rep.add(CatDevice, "Printer: %s", text)
			} else {
				j.rep.add(CatDevice, "Printer settings")
			}
		},
	}
}

// odfContentRules removes the authors, initials and dates of comments
// and the authors of tracked changes.
func odfContentRules(j *zipJob, name string) xmlRules {
	return xmlRules{
		element: func(anc []string, se xml.StartElement) xmlAction {
			switch se.Name.Local {
			case "creator", "creator-initials":
				if len(anc) > 0 && (anc[len(anc)-1] == "annotation" || anc[len(anc)-1] == "change-info") {
					return xmlDrop
				}
			case "date":
				if len(anc) > 0 && anc[len(anc)-1] == "annotation" {
					return xmlDrop
				}
			}
			return xmlKeep
		},
		removed: func(anc []string, se xml.StartElement, text string) {
			switch se.Name.Local {
			case "creator":
				j.rep.add(CatAuthor, "Comment author: %s", text)
			case "creator-initials":
				j.rep.add(CatAuthor, "Comment author initials: %s", text)
			case "date":
				j.rep.add(CatTime, "Comment dates")
			}
		},
	}
}
