// Command pecheck checks that a Windows executable is what Ephemera ships:
// a 64-bit (PE32+) GUI-subsystem program for amd64 whose resources hold the
// application icon at every size, a version resource with the expected
// version, and an application manifest. scripts/package-check.sh runs it on
// the cross-built .exe; it exits 1 with one line per problem.
//
//	go run ./scripts/pecheck -version 0.1.0.1 -icons 16,24,32,48,64,128,256 ephemera.exe
//
// The resource tree is read with debug/pe and by hand: a directory of types
// (RT_ICON, RT_GROUP_ICON, RT_VERSION, RT_MANIFEST), each a directory of
// names, each a directory of languages whose leaves point at the data.
package main

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// Resource types (winuser.h).
const (
	rtIcon      = 3
	rtGroupIcon = 14
	rtVersion   = 16
	rtManifest  = 24
)

const subsystemWindowsGUI = 2 // IMAGE_SUBSYSTEM_WINDOWS_GUI

func main() {
	version := flag.String("version", "", "expected four-part file version, such as 0.1.0.1")
	icons := flag.String("icons", "", "comma-separated icon sizes the group icon must hold")
	product := flag.String("product-version", "", "text the ProductVersion string must contain")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: pecheck [-version A.B.C.D] [-icons 16,32,...] [-product-version TEXT] FILE.exe")
		os.Exit(2)
	}
	var sizes []int
	if *icons != "" {
		for _, s := range strings.Split(*icons, ",") {
			n, err := strconv.Atoi(s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "pecheck: -icons: %v\n", err)
				os.Exit(2)
			}
			sizes = append(sizes, n)
		}
	}
	report, problems := check(flag.Arg(0), *version, *product, sizes)
	for _, l := range report {
		fmt.Println(l)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "pecheck: %s: %s\n", flag.Arg(0), p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// check returns what it found and what is wrong.
func check(name, wantVersion, wantProduct string, wantIcons []int) (report, problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	f, err := pe.Open(name)
	if err != nil {
		return nil, []string{err.Error()}
	}
	defer f.Close()

	if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
		bad("machine %#x, want amd64 (%#x)", f.Machine, pe.IMAGE_FILE_MACHINE_AMD64)
	}
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return report, append(problems, "not PE32+ (no 64-bit optional header)")
	}
	report = append(report, "PE32+ amd64")
	if oh.Subsystem != subsystemWindowsGUI {
		bad("subsystem %d, want %d (Windows GUI: no console window)", oh.Subsystem, subsystemWindowsGUI)
	} else {
		report = append(report, "subsystem: Windows GUI")
	}

	res, err := readResources(f, oh)
	if err != nil {
		return report, append(problems, err.Error())
	}
	var types []int
	for t := range res {
		types = append(types, int(t))
	}
	sort.Ints(types)
	report = append(report, fmt.Sprintf("resource types: %v", types))

	// The group icon lists each image's size and the RT_ICON id holding it.
	groups := res[rtGroupIcon]
	if len(groups) == 0 {
		bad("no RT_GROUP_ICON resource (no application icon)")
	}
	for gid, g := range groups {
		got, err := groupIconSizes(g, res[rtIcon])
		if err != nil {
			bad("group icon %d: %v", gid, err)
			continue
		}
		report = append(report, fmt.Sprintf("group icon %d: sizes %v", gid, got))
		if wantIcons != nil && fmt.Sprint(got) != fmt.Sprint(sorted(wantIcons)) {
			bad("group icon %d has sizes %v, want %v", gid, got, sorted(wantIcons))
		}
	}

	versions := res[rtVersion]
	if len(versions) == 0 {
		bad("no RT_VERSION resource")
	}
	for _, v := range versions {
		fv, err := fixedFileVersion(v)
		if err != nil {
			bad("version resource: %v", err)
			continue
		}
		report = append(report, "file version: "+fv)
		if wantVersion != "" && fv != wantVersion {
			bad("file version %s, want %s", fv, wantVersion)
		}
		if wantProduct != "" && !bytes.Contains(v, utf16le(wantProduct)) {
			bad("version resource has no string %q", wantProduct)
		}
	}

	manifests := res[rtManifest]
	if len(manifests) == 0 {
		bad("no RT_MANIFEST resource")
	}
	for _, m := range manifests {
		if !bytes.Contains(m, []byte("asInvoker")) {
			bad("manifest does not say requestedExecutionLevel asInvoker")
		} else {
			report = append(report, "manifest: asInvoker")
		}
	}
	return report, problems
}

func sorted(s []int) []int {
	s = append([]int(nil), s...)
	sort.Ints(s)
	return s
}

// readResources returns the data of every resource by type and id (the
// first language of each).
func readResources(f *pe.File, oh *pe.OptionalHeader64) (map[uint32]map[uint32][]byte, error) {
	if len(oh.DataDirectory) <= pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
		return nil, errors.New("no resource data directory")
	}
	dd := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
	if dd.VirtualAddress == 0 || dd.Size == 0 {
		return nil, errors.New("no resources")
	}
	var sec *pe.Section
	for _, s := range f.Sections {
		if dd.VirtualAddress >= s.VirtualAddress && dd.VirtualAddress < s.VirtualAddress+s.VirtualSize {
			sec = s
		}
	}
	if sec == nil {
		return nil, fmt.Errorf("resource directory at RVA %#x is in no section", dd.VirtualAddress)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("section %s: %v", sec.Name, err)
	}
	base := dd.VirtualAddress - sec.VirtualAddress
	if int(base) >= len(data) {
		return nil, errors.New("resource directory outside its section's data")
	}
	rsrc := data[base:]
	// Leaf data is addressed by RVA; turn it into an offset in data.
	at := func(rva, size uint32) ([]byte, error) {
		off := int64(rva) - int64(sec.VirtualAddress)
		if off < 0 || off+int64(size) > int64(len(data)) {
			return nil, fmt.Errorf("resource data at RVA %#x+%d outside section %s", rva, size, sec.Name)
		}
		return data[off : off+int64(size)], nil
	}

	out := map[uint32]map[uint32][]byte{}
	types, err := dirEntries(rsrc, 0)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		if !t.dir {
			return nil, fmt.Errorf("resource type %d is a leaf", t.id)
		}
		names, err := dirEntries(rsrc, t.off)
		if err != nil {
			return nil, err
		}
		out[t.id] = map[uint32][]byte{}
		for _, n := range names {
			if !n.dir {
				return nil, fmt.Errorf("resource %d/%d is a leaf", t.id, n.id)
			}
			langs, err := dirEntries(rsrc, n.off)
			if err != nil {
				return nil, err
			}
			if len(langs) == 0 || langs[0].dir {
				return nil, fmt.Errorf("resource %d/%d has no data", t.id, n.id)
			}
			leaf := langs[0].off
			if int(leaf)+16 > len(rsrc) {
				return nil, fmt.Errorf("resource %d/%d: data entry out of range", t.id, n.id)
			}
			rva := binary.LittleEndian.Uint32(rsrc[leaf:])
			size := binary.LittleEndian.Uint32(rsrc[leaf+4:])
			b, err := at(rva, size)
			if err != nil {
				return nil, err
			}
			out[t.id][n.id] = b
		}
	}
	return out, nil
}

type entry struct {
	id  uint32 // numeric id; named entries are skipped
	off uint32 // offset of the subdirectory or data entry in .rsrc
	dir bool
}

// dirEntries reads the IMAGE_RESOURCE_DIRECTORY at off: a 16-byte header
// whose last two fields count named and id entries, then 8-byte entries.
func dirEntries(rsrc []byte, off uint32) ([]entry, error) {
	if int(off)+16 > len(rsrc) {
		return nil, fmt.Errorf("resource directory at %#x out of range", off)
	}
	named := int(binary.LittleEndian.Uint16(rsrc[off+12:]))
	ids := int(binary.LittleEndian.Uint16(rsrc[off+14:]))
	var es []entry
	for i := 0; i < named+ids; i++ {
		p := int(off) + 16 + 8*i
		if p+8 > len(rsrc) {
			return nil, fmt.Errorf("resource directory at %#x: entry %d out of range", off, i)
		}
		name := binary.LittleEndian.Uint32(rsrc[p:])
		target := binary.LittleEndian.Uint32(rsrc[p+4:])
		if name&0x80000000 != 0 {
			continue // a string name; Ephemera's resources use ids
		}
		es = append(es, entry{id: name, off: target &^ 0x80000000, dir: target&0x80000000 != 0})
	}
	return es, nil
}

// groupIconSizes reads a GRPICONDIR (reserved, type 1, count, then 14-byte
// entries: width, height, colours, reserved, planes, bit count, bytes, id)
// and checks that each entry's RT_ICON image has that size.
func groupIconSizes(g []byte, icons map[uint32][]byte) ([]int, error) {
	if len(g) < 6 || binary.LittleEndian.Uint16(g[2:]) != 1 {
		return nil, errors.New("not an icon group")
	}
	n := int(binary.LittleEndian.Uint16(g[4:]))
	if len(g) < 6+14*n {
		return nil, fmt.Errorf("%d entries do not fit in %d bytes", n, len(g))
	}
	var sizes []int
	for i := 0; i < n; i++ {
		e := g[6+14*i:]
		w := int(e[0])
		if w == 0 {
			w = 256
		}
		id := uint32(binary.LittleEndian.Uint16(e[12:]))
		img, ok := icons[id]
		if !ok {
			return nil, fmt.Errorf("entry %dx%d names RT_ICON %d, which is missing", w, w, id)
		}
		if bytes.HasPrefix(img, []byte("\x89PNG\r\n\x1a\n")) {
			cfg, err := png.DecodeConfig(bytes.NewReader(img))
			if err != nil {
				return nil, fmt.Errorf("RT_ICON %d: %v", id, err)
			}
			if cfg.Width != w || cfg.Height != w {
				return nil, fmt.Errorf("RT_ICON %d is %dx%d, its group entry says %dx%d", id, cfg.Width, cfg.Height, w, w)
			}
		} else if len(img) < 40 { // a BITMAPINFOHEADER at least
			return nil, fmt.Errorf("RT_ICON %d: %d bytes is neither PNG nor bitmap", id, len(img))
		}
		sizes = append(sizes, w)
	}
	sort.Ints(sizes)
	return sizes, nil
}

// fixedFileVersion finds VS_FIXEDFILEINFO by its signature and returns the
// file version as A.B.C.D.
func fixedFileVersion(v []byte) (string, error) {
	sig := binary.LittleEndian.AppendUint32(nil, 0xFEEF04BD)
	i := bytes.Index(v, sig)
	if i < 0 || i+16 > len(v) {
		return "", errors.New("no VS_FIXEDFILEINFO")
	}
	ms := binary.LittleEndian.Uint32(v[i+8:])
	ls := binary.LittleEndian.Uint32(v[i+12:])
	return fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xffff, ls>>16, ls&0xffff), nil
}

func utf16le(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}
