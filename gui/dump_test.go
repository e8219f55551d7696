package gui

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func init() {
	// The test driver's canvas has no paint walk: DumpTree sees into
	// widgets through their test renderers.
	widgetObjects = func(w fyne.Widget) []fyne.CanvasObject { return test.WidgetRenderer(w).Objects() }
}

// dumpFixture is a screen with one of each kind of text the dump knows,
// hidden objects, and a list whose rows exist only once it is laid out.
func dumpFixture() (root, inner fyne.CanvasObject) {
	pass := widget.NewPasswordEntry()
	pass.SetText("hunter2 secret")
	pass.SetPlaceHolder("Passphrase")
	empty := widget.NewEntry()
	empty.SetPlaceHolder("Write a message")
	disabled := widget.NewButton("Unlock", nil)
	disabled.Disable()
	u, _ := url.Parse("https://example.org/")
	hidden := widget.NewLabel("Hidden label")
	hidden.Hide()
	hiddenBox := container.NewVBox(widget.NewLabel("Inside a hidden box"))
	hiddenBox.Hide()
	list := widget.NewList(
		func() int { return 1000 },
		func() fyne.CanvasObject { return widget.NewLabel("template") },
		func(id widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(fmt.Sprintf("row %d", id)) },
	)
	sel := widget.NewSelect([]string{"Off", "30 s"}, nil)
	sel.SetSelected("30 s")
	inner = container.NewVBox(
		widget.NewLabel("Bob"),
		canvas.NewText("12:04", nil),
		widget.NewRichTextFromMarkdown("**Smoke** signal"),
	)
	root = container.NewBorder(
		container.NewVBox(
			widget.NewLabel("Ephemera"),
			pass, empty, disabled,
			widget.NewHyperlink("a link", u),
			widget.NewCheck("Verified", nil),
			sel,
			hidden, hiddenBox,
			inner,
		),
		nil, nil, nil,
		list,
	)
	return root, inner
}

func TestDumpTree(t *testing.T) {
	test.NewTempApp(t)
	root, _ := dumpFixture()
	w := test.NewTempWindow(t, root)
	w.Resize(fyne.NewSize(400, 700))

	var b strings.Builder
	DumpTree(&b, w.Content())
	got := b.String()

	// The border layout holds its centre (the list) first.
	wantSuffix := `Label "Ephemera"
Entry password len=14 placeholder="Passphrase"
Entry "" placeholder="Write a message"
Button "Unlock" disabled
Hyperlink "a link" url="https://example.org/"
Check "Verified" checked=false
Select "30 s"
Label "Bob"
Text "12:04"
RichText "Smoke signal"
`
	if !strings.HasSuffix(got, wantSuffix) {
		t.Fatalf("dump:\n%s\nwant it to end:\n%s", got, wantSuffix)
	}
	for _, absent := range []string{"hunter2", "secret", "Hidden label", "Inside a hidden box", "template"} {
		if strings.Contains(got, absent) {
			t.Errorf("dump contains %q; it should not:\n%s", absent, got)
		}
	}
	// The list shows its first rows only, indented under the list (and the
	// widgets between it and the rows).
	rows := strings.Split(strings.TrimSuffix(strings.TrimSuffix(got, wantSuffix), "\n"), "\n")
	if len(rows) < 3 || len(rows) > 100 {
		t.Fatalf("dump lists %d list rows, want a screenful (3 to 100) of 1000:\n%s", len(rows), got)
	}
	for i, r := range rows {
		want := fmt.Sprintf("Label %q", fmt.Sprintf("row %d", i))
		if strings.TrimLeft(r, " ") != want || !strings.HasPrefix(r, "    ") {
			t.Errorf("list line %d is %q, want %q indented at least twice", i, r, want)
		}
	}
}

func TestDumpTreeSubtree(t *testing.T) {
	test.NewTempApp(t)
	root, inner := dumpFixture()
	test.NewTempWindow(t, root)

	var b strings.Builder
	DumpTree(&b, inner)
	want := "Label \"Bob\"\nText \"12:04\"\nRichText \"Smoke signal\"\n"
	if got := b.String(); got != want {
		t.Errorf("dump of a subtree:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	DumpTree(&b, nil)
	if b.Len() != 0 {
		t.Errorf("dump of nil wrote %q, want nothing", b.String())
	}
}

// TestDumpTreeCanvasWalk checks the path the desktop app takes, through a
// canvas paint walk, against the direct walk: the same lines for the
// whole tree and for a part of it. The walk here is a stand-in for the
// desktop canvas's WalkTrees, visiting the same objects in the same order.
func TestDumpTreeCanvasWalk(t *testing.T) {
	test.NewTempApp(t)
	root, inner := dumpFixture()
	w := test.NewTempWindow(t, root)
	w.Resize(fyne.NewSize(400, 700))
	if canvasWalker(root) != nil {
		t.Fatal("the test canvas has a paint walk; this test assumes it has none")
	}

	var visit func(o fyne.CanvasObject, before, after func(fyne.CanvasObject))
	visit = func(o fyne.CanvasObject, before, after func(fyne.CanvasObject)) {
		if !o.Visible() {
			return
		}
		before(o)
		var children []fyne.CanvasObject
		switch o := o.(type) {
		case *fyne.Container:
			children = o.Objects
		case fyne.Widget:
			children = test.WidgetRenderer(o).Objects()
		}
		for _, c := range children {
			visit(c, before, after)
		}
		after(o)
	}
	walk := func(before, after func(fyne.CanvasObject)) { visit(root, before, after) }

	for _, part := range []fyne.CanvasObject{root, inner} {
		var direct, viaCanvas strings.Builder
		DumpTree(&direct, part)
		(&dumper{w: &viaCanvas}).walkCanvas(walk, part)
		if direct.String() != viaCanvas.String() {
			t.Errorf("canvas walk dump:\n%s\ndirect walk dump:\n%s", viaCanvas.String(), direct.String())
		}
		if direct.Len() == 0 {
			t.Error("empty dump")
		}
	}
}
