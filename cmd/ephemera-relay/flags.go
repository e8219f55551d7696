package main

import (
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// byteSize is an int flag that takes sizes like 1048576, 512KiB or 1MiB.
type byteSize int

// byteSize64 is byteSize for int64 fields.
type byteSize64 int64

func (b *byteSize) String() string   { return strconv.Itoa(int(*b)) }
func (b *byteSize64) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	if n > math.MaxInt32 {
		return fmt.Errorf("%d bytes is too large", n)
	}
	*b = byteSize(n)
	return nil
}

func (b *byteSize64) Set(s string) error {
	n, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize64(n)
	return nil
}

// parseBytes reads a non-negative size with an optional binary suffix
// (KiB, MiB, GiB; K, M, G and KB, MB, GB mean the same).
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	upper := strings.ToUpper(t)
	for _, u := range []struct {
		suffix []string
		mult   int64
	}{
		{[]string{"KIB", "KB", "K"}, 1 << 10},
		{[]string{"MIB", "MB", "M"}, 1 << 20},
		{[]string{"GIB", "GB", "G"}, 1 << 30},
		{[]string{"B"}, 1},
	} {
		for _, suf := range u.suffix {
			if strings.HasSuffix(upper, suf) {
				t, mult = strings.TrimSpace(t[:len(t)-len(suf)]), u.mult
				goto parse
			}
		}
	}
parse:
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("invalid size %q (want bytes, e.g. 1048576 or 1MiB)", s)
	}
	return n * mult, nil
}

// levelFlag is a slog.Level flag.
type levelFlag slog.Level

func (l *levelFlag) String() string { return strings.ToLower(slog.Level(*l).String()) }

func (l *levelFlag) Set(s string) error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	*l = levelFlag(lv)
	return nil
}

// listFlag is a comma-separated list of strings; giving it again appends.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}
