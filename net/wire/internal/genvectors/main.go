// Command genvectors writes the relay frame test vectors to
// testdata/frames at the repository root:
//
//	go run ./net/wire/internal/genvectors
//
// The vectors are made from fixed bytes, so running it again changes
// nothing unless the vectors in internal/vectors changed. Files that no
// vector names any more are removed.
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"github.com/ephemera-im/ephemera/net/wire/internal/vectors"
)

func main() {
	dir := flag.String("dir", "testdata/frames", "output directory")
	flag.Parse()
	all, err := vectors.All()
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		log.Fatal(err)
	}
	keep := map[string]bool{}
	for _, v := range all {
		b, err := v.Marshal()
		if err != nil {
			log.Fatal(err)
		}
		name := v.Name + ".json"
		keep[name] = true
		if err := os.WriteFile(filepath.Join(*dir, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	old, _ := filepath.Glob(filepath.Join(*dir, "*.json"))
	for _, p := range old {
		if !keep[filepath.Base(p)] {
			if err := os.Remove(p); err != nil {
				log.Fatal(err)
			}
		}
	}
	log.Printf("wrote %d vectors to %s", len(all), *dir)
}
