package assets

import (
	"bytes"
	"image/png"
	"testing"
)

func TestIconIsSquarePNGOfAtLeast512(t *testing.T) {
	cfg, err := png.DecodeConfig(bytes.NewReader(Icon))
	if err != nil {
		t.Fatalf("decode icon: %v", err)
	}
	if cfg.Width != cfg.Height || cfg.Width < 512 {
		t.Errorf("icon is %dx%d, want square, at least 512x512", cfg.Width, cfg.Height)
	}
}
