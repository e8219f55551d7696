// Command genicon draws Ephemera's application icon: a rounded square in a
// violet-to-indigo gradient holding a white speech bubble that fades out
// towards its upper right corner and dissolves into a few drifting dots.
//
// The drawing is pure arithmetic (4×4 supersampling per pixel, no fonts, no
// external files), so the output is the same on every machine; assets/icon.png
// and the per-size icons in assets/icons/ (PNGs for the freedesktop hicolor
// theme, a multi-size .ico for Windows) are its committed output
// (go generate ./assets). Each size is drawn, not scaled down, so small
// icons stay sharp.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

// hicolorSizes are the sizes desktop environments look up in the freedesktop
// hicolor theme (share/icons/hicolor/NxN/apps); icoSizes are the ones Windows
// picks from for the taskbar, title bar, Explorer views and Alt-Tab.
var (
	hicolorSizes = []int{16, 24, 32, 48, 64, 128, 256, 512}
	icoSizes     = []int{16, 24, 32, 48, 64, 128, 256}
)

func main() {
	out := flag.String("o", "icon.png", "output PNG file")
	size := flag.Int("size", 512, "width and height in pixels")
	icons := flag.String("icons", "", "also write NxN.png for the hicolor sizes and ephemera.ico into this `directory`")
	flag.Parse()
	if err := writePNG(*out, *size); err != nil {
		log.Fatal(err)
	}
	if *icons == "" {
		return
	}
	for _, n := range hicolorSizes {
		if err := writePNG(filepath.Join(*icons, fmt.Sprintf("%dx%d.png", n, n)), n); err != nil {
			log.Fatal(err)
		}
	}
	ico, err := encodeICO(icoSizes)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*icons, "ephemera.ico"), ico, 0o644); err != nil {
		log.Fatal(err)
	}
}

func writePNG(name string, size int) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := png.Encode(f, Draw(size)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// encodeICO draws the icon at each size and packs the PNGs into one Windows
// icon file. Entries may hold PNG data instead of a bitmap since Windows
// Vista, which keeps the file small and the code short.
//
// Layout: a 6-byte header (reserved 0, type 1 = icon, count), one 16-byte
// directory entry per image (width and height with 0 meaning 256, colour
// count, reserved, planes, bits per pixel, data size, data offset), then
// the images.
func encodeICO(sizes []int) ([]byte, error) {
	var images [][]byte
	for _, n := range sizes {
		if n < 1 || n > 256 {
			return nil, fmt.Errorf("icon size %d: an ICO entry holds 1 to 256 pixels", n)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, Draw(n)); err != nil {
			return nil, err
		}
		images = append(images, b.Bytes())
	}
	var out bytes.Buffer
	le := binary.LittleEndian
	out.Write(le.AppendUint16(nil, 0))
	out.Write(le.AppendUint16(nil, 1))
	out.Write(le.AppendUint16(nil, uint16(len(sizes))))
	offset := 6 + 16*len(sizes)
	for i, n := range sizes {
		dim := byte(n % 256) // 256 is written as 0
		out.Write([]byte{dim, dim, 0, 0})
		out.Write(le.AppendUint16(nil, 1))  // colour planes
		out.Write(le.AppendUint16(nil, 32)) // bits per pixel
		out.Write(le.AppendUint32(nil, uint32(len(images[i]))))
		out.Write(le.AppendUint32(nil, uint32(offset)))
		offset += len(images[i])
	}
	for _, img := range images {
		out.Write(img)
	}
	return out.Bytes(), nil
}

// The design lives on a 512-unit canvas and is scaled to the requested size.
const canvas = 512.0

var (
	bgTop    = rgb{0x6a, 0x46, 0xd8} // violet
	bgBottom = rgb{0x1d, 0x2a, 0x6e} // deep indigo
	white    = rgb{0xff, 0xff, 0xff}
)

type rgb struct{ r, g, b float64 }

func (c rgb) lerp(d rgb, t float64) rgb {
	return rgb{c.r + (d.r-c.r)*t, c.g + (d.g-c.g)*t, c.b + (d.b-c.b)*t}
}

// Draw renders the icon at size×size pixels.
func Draw(size int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // samples per axis
	scale := canvas / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var acc rgb
			var alpha float64
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) * scale
					y := (float64(py) + (float64(sy)+0.5)/ss) * scale
					c, a := sample(x, y)
					acc.r += c.r * a
					acc.g += c.g * a
					acc.b += c.b * a
					alpha += a
				}
			}
			if alpha == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: clamp8(acc.r / alpha),
				G: clamp8(acc.g / alpha),
				B: clamp8(acc.b / alpha),
				A: clamp8(alpha / (ss * ss) * 255),
			})
		}
	}
	return img
}

// sample returns the colour and opacity of the design at one point.
func sample(x, y float64) (rgb, float64) {
	if !inRoundRect(x, y, 24, 24, 488, 488, 104) {
		return rgb{}, 0
	}
	// Diagonal gradient, top left to bottom right.
	c := bgTop.lerp(bgBottom, clamp01((x+y-48)/(2*464)))

	if ink := bubble(x, y); ink > 0 {
		c = c.lerp(white, ink)
	}
	return c, 1
}

// bubble returns the opacity of the white speech bubble and its dots at a
// point: solid at the lower left, fading to faint at the upper right.
func bubble(x, y float64) float64 {
	// Fade along the diagonal from the tail (lower left) to the upper right.
	d := ((x - 120) - (y - 400)) / 520 // 0 at the tail, ~1 at the far corner
	fade := 1 - 0.85*smoothstep(0.25, 1.0, d)

	body := inRoundRect(x, y, 104, 128, 392, 336, 96)
	tail := inTriangle(x, y, 150, 300, 118, 404, 250, 330)
	if body || tail {
		return fade
	}
	// Dots breaking away from the upper right corner, smaller and fainter
	// the further they drift.
	dots := []struct{ cx, cy, r, a float64 }{
		{406, 114, 14, 0.36},
		{434, 84, 10, 0.26},
		{454, 122, 6, 0.2},
		{446, 60, 5, 0.14},
	}
	for _, dt := range dots {
		if math.Hypot(x-dt.cx, y-dt.cy) <= dt.r {
			return dt.a
		}
	}
	return 0
}

func inRoundRect(x, y, x0, y0, x1, y1, r float64) bool {
	if x < x0 || x > x1 || y < y0 || y > y1 {
		return false
	}
	cx := math.Max(x0+r, math.Min(x, x1-r))
	cy := math.Max(y0+r, math.Min(y, y1-r))
	return math.Hypot(x-cx, y-cy) <= r
}

func inTriangle(x, y, ax, ay, bx, by, cx, cy float64) bool {
	side := func(px, py, qx, qy float64) float64 { return (qx-px)*(y-py) - (qy-py)*(x-px) }
	d1, d2, d3 := side(ax, ay, bx, by), side(bx, by, cx, cy), side(cx, cy, ax, ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

func smoothstep(e0, e1, x float64) float64 {
	t := clamp01((x - e0) / (e1 - e0))
	return t * t * (3 - 2*t)
}

func clamp01(v float64) float64 { return math.Max(0, math.Min(1, v)) }

func clamp8(v float64) uint8 { return uint8(math.Round(math.Max(0, math.Min(255, v)))) }
