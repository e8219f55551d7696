package media

import (
	"encoding/xml"
	"io"
	"net/url"
	"path"
	"strings"
)

// Office Open XML (DOCX, XLSX, PPTX). The document properties
// (docProps/core.xml, docProps/app.xml) lose every element but a few
// harmless ones; custom properties, thumbnails and signatures are left
// out together with their relationships and content-type overrides;
// comment and tracked-change authors are blanked (the schema requires
// the attribute) and their initials and dates removed; media and
// embedded documents are sanitized with their own formats.

func init() {
	registerZipDoc(zipDocFormat{plan: ooxmlPlan}, DOCX, XLSX, PPTX)
}

// Elements of docProps/app.xml that say nothing about who, when or with
// what: kept. Everything else (Application, Company, Manager, Template,
// TotalTime, statistics, titles of parts) goes.
var ooxmlAppKeep = map[string]bool{
	"DocSecurity": true, "ScaleCrop": true, "LinksUpToDate": true,
	"SharedDoc": true, "HyperlinksChanged": true,
}

// Elements of docProps/core.xml that are kept.
var ooxmlCoreKeep = map[string]bool{"language": true}

func ooxmlPlan(name string) partPlan {
	lower := strings.ToLower(name)
	switch {
	case lower == "docprops/core.xml":
		return partPlan{kind: partXML, rules: propsRules(ooxmlCoreKeep)}
	case lower == "docprops/app.xml":
		return partPlan{kind: partXML, rules: propsRules(ooxmlAppKeep)}
	case lower == "docprops/custom.xml":
		return partPlan{kind: partDrop, describe: describeCustomProps}
	case strings.HasPrefix(lower, "docprops/thumbnail"):
		return partPlan{kind: partDrop, cat: CatThumbnail, label: "Thumbnail (" + name + ")"}
	case strings.HasPrefix(lower, "_xmlsignatures/"):
		return partPlan{kind: partDrop, cat: CatAuthor, label: "Digital signature"}
	case lower == "[content_types].xml":
		return partPlan{kind: partXML, rules: contentTypesRules}
	case strings.HasSuffix(lower, ".rels"):
		return partPlan{kind: partXML, rules: relsRules}
	case lower == "ppt/commentauthors.xml", lower == "ppt/authors.xml",
		strings.HasPrefix(lower, "xl/persons/"), lower == "word/people.xml":
		return partPlan{kind: partXML, rules: authorRules}
	case strings.HasSuffix(lower, ".xml") && (strings.HasPrefix(lower, "word/") ||
		strings.HasPrefix(lower, "ppt/comments/") || strings.HasPrefix(lower, "xl/comments") ||
		strings.HasPrefix(lower, "xl/threadedcomments/") || strings.HasPrefix(lower, "xl/revisions/")):
		return partPlan{kind: partXML, rules: authorRules}
	case strings.HasPrefix(lower, "word/media/"), strings.HasPrefix(lower, "xl/media/"),
		strings.HasPrefix(lower, "ppt/media/"), strings.HasPrefix(lower, "word/embeddings/"),
		strings.HasPrefix(lower, "xl/embeddings/"), strings.HasPrefix(lower, "ppt/embeddings/"):
		if strings.HasSuffix(name, "/") {
			return partPlan{kind: partCopy}
		}
		return partPlan{kind: partMedia}
	}
	return partPlan{kind: partCopy}
}

// propsRules keeps the root of a properties part and, below it, only the
// elements named in keep.
func propsRules(keep map[string]bool) func(*zipJob, string) xmlRules {
	return func(j *zipJob, name string) xmlRules {
		return xmlRules{
			element: func(anc []string, se xml.StartElement) xmlAction {
				if len(anc) == 1 && !keep[se.Name.Local] {
					return xmlDrop
				}
				return xmlKeep
			},
			removed: func(anc []string, se xml.StartElement, text string) {
				propLabel(j.rep, se.Name.Local, text, se)
			},
		}
	}
}

// describeCustomProps lists custom properties before the part is dropped.
func describeCustomProps(j *zipJob, name string, data []byte) {
	n := 0
	_ = rewriteXML(j.t, name, strings.NewReader(string(data)), io.Discard, xmlRules{
		element: func(anc []string, se xml.StartElement) xmlAction {
			if se.Name.Local == "property" {
				return xmlDrop
			}
			return xmlKeep
		},
		removed: func(anc []string, se xml.StartElement, text string) {
			n++
			prop, _ := attrValue(se, "name")
			j.rep.add(CatOther, "Custom property: %s = %s", prop, text)
		},
	})
	if n == 0 {
		j.rep.add(CatOther, "Custom properties")
	}
}

// relsRules drops relationships to parts that were left out.
func relsRules(j *zipJob, name string) xmlRules {
	// word/_rels/document.xml.rels describes word/document.xml, whose
	// relative targets resolve from word/.
	dir := path.Dir(path.Dir(name))
	if dir == "." {
		dir = ""
	}
	return xmlRules{removed: func(anc []string, se xml.StartElement, text string) {
		if typ, _ := attrValue(se, "Type"); strings.HasSuffix(typ, "/attachedTemplate") {
			target, _ := attrValue(se, "Target")
			j.rep.add(CatOther, "Template: %s", target)
		}
	}, element: func(anc []string, se xml.StartElement) xmlAction {
		if se.Name.Local != "Relationship" {
			return xmlKeep
		}
		if mode, _ := attrValue(se, "TargetMode"); mode == "External" {
			return xmlKeep
		}
		target, _ := attrValue(se, "Target")
		if typ, _ := attrValue(se, "Type"); strings.HasSuffix(typ, "/attachedTemplate") {
			return xmlDrop
		}
		if j.dropped[resolvePart(dir, target)] {
			return xmlDrop
		}
		if u, err := url.PathUnescape(target); err == nil && j.dropped[resolvePart(dir, u)] {
			return xmlDrop
		}
		return xmlKeep
	}}
}

// contentTypesRules drops content-type overrides of parts left out.
func contentTypesRules(j *zipJob, name string) xmlRules {
	return xmlRules{element: func(anc []string, se xml.StartElement) xmlAction {
		if se.Name.Local == "Override" {
			if p, _ := attrValue(se, "PartName"); j.dropped[resolvePart("", p)] {
				return xmlDrop
			}
		}
		return xmlKeep
	}}
}

// authorAttrs are attributes that name or identify a person, blanked
// (schemas require several of them); dropAttrs are optional ones that
// identify a person or a moment, removed.
var (
	authorAttrs = map[string]bool{"author": true, "name": true, "displayName": true}
	dropAttrs   = map[string]bool{"initials": true, "date": true, "dateUtc": true, "userId": true,
		"providerId": true, "userName": true, "dT": true, "dt": true, "created": true}
	// Elements whose name attribute is a person's (elsewhere name is a
	// style or font name and stays).
	personElems = map[string]bool{"cmAuthor": true, "author": true, "person": true}
)

// authorRules blanks comment and revision authors in a content part and
// empties the author list of spreadsheet comments.
func authorRules(j *zipJob, name string) xmlRules {
	return xmlRules{
		element: func(anc []string, se xml.StartElement) xmlAction {
			switch se.Name.Local {
			case "presenceInfo", "attachedTemplate":
				return xmlDrop
			case "author":
				if len(anc) > 0 && anc[len(anc)-1] == "authors" {
					return xmlBlankText // spreadsheet comment authors
				}
			}
			return xmlKeep
		},
		attr: func(anc []string, se xml.StartElement, a xml.Attr) (bool, string) {
			switch {
			case a.Name.Local == "name" || a.Name.Local == "displayName":
				if personElems[se.Name.Local] {
					return true, ""
				}
			case authorAttrs[a.Name.Local]:
				return true, ""
			case dropAttrs[a.Name.Local]:
				return false, ""
			}
			return true, a.Value
		},
		removed: func(anc []string, se xml.StartElement, text string) {
			if text != "" {
				j.rep.add(CatAuthor, "Comment author: %s", text)
			}
		},
		removedAttr: func(se xml.StartElement, a xml.Attr) {
			if a.Value == "" {
				return
			}
			switch a.Name.Local {
			case "author", "name", "displayName":
				j.rep.add(CatAuthor, "Comment author: %s", a.Value)
			case "initials":
				j.rep.add(CatAuthor, "Comment author initials: %s", a.Value)
			case "date", "dateUtc", "dT", "dt", "created":
				j.rep.add(CatTime, "Comment or revision dates")
			default:
				j.rep.add(CatAuthor, "Comment author account")
			}
		},
	}
}
