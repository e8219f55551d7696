// Command genicon draws Ephemera's application icon: a rounded square in a
// violet-to-indigo gradient holding a white speech bubble that fades out
// towards its upper right corner and dissolves into a few drifting dots.
//
// The drawing is pure arithmetic (4×4 supersampling per pixel, no fonts, no
// external files), so the output is the same on every machine; assets/icon.png
// is its committed output (go generate ./assets).
package main

import (
	"flag"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
)

func main() {
	out := flag.String("o", "icon.png", "output PNG file")
	size := flag.Int("size", 512, "width and height in pixels")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := png.Encode(f, Draw(*size)); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
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
