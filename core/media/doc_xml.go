package media

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"strings"
)

// This file holds the streaming XML rewriter that the document formats
// (Office Open XML, OpenDocument) share. It reads raw tokens, so prefixes
// and namespace declarations are written back as they were, and matches
// elements and attributes by local name: producers do not all use the
// conventional prefixes, and a local-name match cannot be dodged by
// choosing another one.

// xmlAction says what happens to an element.
type xmlAction int

const (
	xmlKeep      xmlAction = iota
	xmlDrop                // the element and everything inside it
	xmlBlankText           // keep the element, drop its character data and children
)

// xmlRules decide, element by element, what a rewrite keeps.
type xmlRules struct {
	// element is called for each start element with the local names of
	// its ancestors (outermost first).
	element func(anc []string, se xml.StartElement) xmlAction
	// attr is called for each attribute of a kept element; it returns
	// whether to keep it and the value to write (a blanked author, say).
	attr func(anc []string, se xml.StartElement, a xml.Attr) (keep bool, value string)
	// removed is told about each dropped or blanked element with its text
	// (at most maxReportText bytes) and each attribute changed.
	removed func(anc []string, se xml.StartElement, text string)
	// removedAttr is told about each removed or changed attribute.
	removedAttr func(se xml.StartElement, a xml.Attr)
}

const (
	maxReportText = 200
	maxXMLDepth   = 256
)

// rewriteXML copies the XML document r to w, applying rules. The output
// is canonical for the rewriter (same input, same output; rewriting its
// own output changes nothing), comments are dropped and empty elements
// are written as <a/>. It returns an error wrapping ErrMalformed for
// input that is not well-formed XML.
func rewriteXML(t Type, part string, r io.Reader, w io.Writer, rules xmlRules) error {
	dec := xml.NewDecoder(r)
	dec.Strict = true
	bw := bufio.NewWriter(w)
	var (
		anc     []string // local names of open kept elements
		pending bool     // a start tag was written without its closing '>'
		skip    int      // depth inside a dropped or blanked element
		blanked bool     // the element being skipped is kept, only emptied
		skipEl  xml.StartElement
		skipTxt strings.Builder
		stack   []string // qualified names of open kept elements, for end tags
	)
	closePending := func() {
		if pending {
			bw.WriteByte('>')
			pending = false
		}
	}
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				return err // from the ZIP reader, already naming the part
			}
			return malformed(t, "%s: %v", part, err)
		}
		if skip > 0 {
			switch tk := tok.(type) {
			case xml.StartElement:
				skip++
				if skip > maxXMLDepth {
					return malformed(t, "%s: elements nested too deeply", part)
				}
			case xml.EndElement:
				skip--
				if skip == 0 {
					if rules.removed != nil {
						rules.removed(anc, skipEl, strings.TrimSpace(skipTxt.String()))
					}
					if blanked {
						// The element was written as a start tag; close it empty.
						bw.WriteString("/>")
						pending = false
					}
				}
			case xml.CharData:
				if skipTxt.Len() < maxReportText {
					s := string(tk)
					if len(s) > maxReportText-skipTxt.Len() {
						s = s[:maxReportText-skipTxt.Len()]
					}
					skipTxt.WriteString(s)
				}
			}
			continue
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if len(anc) >= maxXMLDepth {
				return malformed(t, "%s: elements nested too deeply", part)
			}
			act := xmlKeep
			if rules.element != nil {
				act = rules.element(anc, tk)
			}
			if act == xmlDrop {
				skip, blanked, skipEl = 1, false, tk.Copy()
				skipTxt.Reset()
				continue
			}
			closePending()
			bw.WriteByte('<')
			bw.WriteString(qname(tk.Name))
			for _, a := range tk.Attr {
				v := a.Value
				if rules.attr != nil {
					keep, nv := rules.attr(anc, tk, a)
					if !keep || nv != v {
						if rules.removedAttr != nil {
							rules.removedAttr(tk, a)
						}
					}
					if !keep {
						continue
					}
					v = nv
				}
				bw.WriteByte(' ')
				bw.WriteString(qname(a.Name))
				bw.WriteString(`="`)
				writeEscaped(bw, v, true)
				bw.WriteByte('"')
			}
			pending = true
			if act == xmlBlankText {
				skip, blanked, skipEl = 1, true, tk.Copy()
				skipTxt.Reset()
				continue
			}
			anc = append(anc, tk.Name.Local)
			stack = append(stack, qname(tk.Name))
		case xml.EndElement:
			if len(stack) == 0 || stack[len(stack)-1] != qname(tk.Name) {
				return malformed(t, "%s: unexpected end element %s", part, qname(tk.Name))
			}
			if pending {
				bw.WriteString("/>")
				pending = false
			} else {
				bw.WriteString("</")
				bw.WriteString(qname(tk.Name))
				bw.WriteByte('>')
			}
			stack = stack[:len(stack)-1]
			anc = anc[:len(anc)-1]
		case xml.CharData:
			if len(stack) == 0 {
				// Whitespace (and a byte order mark) around the root:
				// normalised away.
				if strings.Trim(string(tk), " \t\r\n\ufeff") != "" {
					return malformed(t, "%s: text outside the root element", part)
				}
				continue
			}
			closePending()
			writeEscaped(bw, string(tk), false)
		case xml.ProcInst:
			if len(stack) > 0 || tk.Target != "xml" {
				// Processing instructions other than the declaration carry
				// nothing a viewer needs (mso-application hints aside).
				if tk.Target != "mso-application" {
					continue
				}
			}
			closePending()
			bw.WriteString("<?")
			bw.WriteString(tk.Target)
			if len(tk.Inst) > 0 {
				bw.WriteByte(' ')
				bw.Write(tk.Inst)
			}
			bw.WriteString("?>")
			if len(stack) == 0 {
				bw.WriteByte('\n')
			}
		case xml.Directive:
			// A DOCTYPE has no place in these formats.
			return malformed(t, "%s: unexpected directive", part)
		case xml.Comment:
			// Dropped: comments can carry anything.
		}
	}
	if len(stack) != 0 || skip != 0 {
		return malformed(t, "%s: unexpected end of XML", part)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return nil
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// writeEscaped writes s with the characters XML requires escaped; in
// attributes, also quotes and whitespace that attribute normalisation
// would otherwise change.
func writeEscaped(w *bufio.Writer, s string, attr bool) {
	for _, r := range s {
		switch r {
		case '&':
			w.WriteString("&amp;")
		case '<':
			w.WriteString("&lt;")
		case '>':
			w.WriteString("&gt;")
		case '\r':
			w.WriteString("&#xD;")
		case '"':
			if attr {
				w.WriteString("&quot;")
			} else {
				w.WriteRune(r)
			}
		case '\n':
			if attr {
				w.WriteString("&#xA;")
			} else {
				w.WriteRune(r)
			}
		case '\t':
			if attr {
				w.WriteString("&#x9;")
			} else {
				w.WriteRune(r)
			}
		default:
			w.WriteRune(r)
		}
	}
}

// attrValue returns the value of the attribute with the given local name.
func attrValue(se xml.StartElement, local string) (string, bool) {
	for _, a := range se.Attr {
		if a.Name.Local == local {
			return a.Value, true
		}
	}
	return "", false
}
