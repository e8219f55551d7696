package gui

import (
	"fmt"
	"io"
	"reflect"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
)

// DumpTree writes what o shows as text, one line per visible object that
// carries text (labels, entries, buttons, rich text, hyperlinks, checks,
// selects, plain canvas text...), indented by two spaces per enclosing
// widget. It is for tests: the smoke test reads it (the app writes it on
// SIGUSR1, see main.go) to check which screen the window shows.
//
// Only objects the canvas would paint are listed: hidden objects and
// their children are skipped, and inside a list only the rows that exist.
// A password entry shows its length, never its text. Call it on the Fyne
// goroutine.
func DumpTree(w io.Writer, o fyne.CanvasObject) {
	if o == nil {
		return
	}
	d := &dumper{w: w}
	if walk := canvasWalker(o); walk != nil {
		d.walkCanvas(walk, o)
		return
	}
	d.walk(o)
}

type dumper struct {
	w     io.Writer
	depth int // enclosing widgets
}

// walk goes down the tree itself; it sees into a widget only through
// widgetObjects.
func (d *dumper) walk(o fyne.CanvasObject) {
	if !o.Visible() {
		return
	}
	if d.line(o) {
		return
	}
	var children []fyne.CanvasObject
	switch o := o.(type) {
	case *fyne.Container:
		children = o.Objects
	case fyne.Widget:
		if widgetObjects != nil {
			children = widgetObjects(o)
		}
		d.depth++
		defer func() { d.depth-- }()
	}
	for _, c := range children {
		d.walk(c)
	}
}

// walkCanvas follows the canvas's own paint walk (the objects the
// renderers really hold), listing the part of it under root.
func (d *dumper) walkCanvas(walk func(before, after func(fyne.CanvasObject)), root fyne.CanvasObject) {
	inside := false
	var skip fyne.CanvasObject // a widget already written as one line
	var stack []bool           // per open node: whether it counted as a widget level
	walk(func(o fyne.CanvasObject) {
		if o == root {
			inside = true
		}
		counted := false
		if inside && skip == nil {
			if d.line(o) {
				skip = o
			} else if _, ok := o.(fyne.Widget); ok {
				d.depth++
				counted = true
			}
		}
		stack = append(stack, counted)
	}, func(o fyne.CanvasObject) {
		if stack[len(stack)-1] {
			d.depth--
		}
		stack = stack[:len(stack)-1]
		if o == skip {
			skip = nil
		}
		if o == root {
			inside = false
		}
	})
}

// line writes the line of o if o is a widget whose text this dump knows
// how to read, or a canvas text, and reports whether it did: the parts of
// such a widget are not listed again.
func (d *dumper) line(o fyne.CanvasObject) bool {
	var s string
	switch o := o.(type) {
	case *widget.Label:
		s = "Label " + quote(o.Text)
	case *widget.SelectEntry:
		s = "SelectEntry " + quote(o.Text)
	case *widget.Entry:
		switch {
		case o.Password:
			s = fmt.Sprintf("Entry password len=%d", len([]rune(o.Text)))
		default:
			s = "Entry " + quote(o.Text)
		}
		if o.PlaceHolder != "" {
			s += " placeholder=" + quote(o.PlaceHolder)
		}
		if o.Disabled() {
			s += " disabled"
		}
	case *widget.Button:
		s = "Button " + quote(o.Text)
		if o.Disabled() {
			s += " disabled"
		}
	case *widget.Hyperlink:
		s = "Hyperlink " + quote(o.Text)
		if o.URL != nil {
			s += " url=" + quote(o.URL.String())
		}
	case *widget.RichText:
		s = "RichText " + quote(o.String())
	case *widget.Check:
		s = fmt.Sprintf("Check %s checked=%v", quote(o.Text), o.Checked)
	case *widget.Select:
		s = "Select " + quote(o.Selected)
		if o.Selected == "" && o.PlaceHolder != "" {
			s += " placeholder=" + quote(o.PlaceHolder)
		}
	case *widget.RadioGroup:
		s = fmt.Sprintf("RadioGroup %s selected=%s", quoteAll(o.Options), quote(o.Selected))
	case *widget.TextGrid:
		s = "TextGrid " + quote(o.Text())
	case *canvas.Text:
		if strings.TrimSpace(o.Text) == "" {
			return true
		}
		s = "Text " + quote(o.Text)
	default:
		return false
	}
	fmt.Fprintf(d.w, "%s%s\n", strings.Repeat("  ", d.depth), s)
	return true
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// widgetObjects returns the objects a widget's renderer holds, for the
// walk that does not go through a canvas. Fyne keeps renderers private
// to its drivers; the tests of this package set it from
// fyne.io/fyne/v2/test (which cannot be linked into the app: it installs
// a test app when loaded). Left nil, widgets the dump does not know are
// opaque.
var widgetObjects func(fyne.Widget) []fyne.CanvasObject

// canvasWalker returns the paint walk of o's canvas, when the canvas has
// one: the desktop driver's canvas has a WalkTrees method (from Fyne's
// internal common canvas) that visits every visible object it paints,
// renderer children included, in paint order. Its node type is internal
// to Fyne, hence reflection. It returns nil for other canvases (the test
// driver's).
func canvasWalker(o fyne.CanvasObject) func(before, after func(fyne.CanvasObject)) {
	a := fyne.CurrentApp()
	if a == nil {
		return nil
	}
	c := a.Driver().CanvasForObject(o)
	if c == nil {
		return nil
	}
	m := reflect.ValueOf(c).MethodByName("WalkTrees")
	if !m.IsValid() || m.Type().NumIn() != 2 {
		return nil
	}
	fnType := m.Type().In(0)
	if fnType.Kind() != reflect.Func || fnType.NumIn() != 2 || m.Type().In(1) != fnType {
		return nil
	}
	nodeObj := func(node reflect.Value) fyne.CanvasObject {
		get := node.MethodByName("Obj")
		if !get.IsValid() {
			return nil
		}
		obj, _ := get.Call(nil)[0].Interface().(fyne.CanvasObject)
		return obj
	}
	return func(before, after func(fyne.CanvasObject)) {
		wrap := func(f func(fyne.CanvasObject)) reflect.Value {
			return reflect.MakeFunc(fnType, func(args []reflect.Value) []reflect.Value {
				f(nodeObj(args[0])) // nil too: before and after must pair
				return nil
			})
		}
		m.Call([]reflect.Value{wrap(before), wrap(after)})
	}
}
