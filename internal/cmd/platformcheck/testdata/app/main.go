// Command app stands for a change that calls a Unix-only API from code
// every platform builds, as main.go once did with SIGUSR1.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/dep"
)

func main() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	fmt.Println(dep.Name())
}
