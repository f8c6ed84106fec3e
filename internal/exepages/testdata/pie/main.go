// Command pie is built with -buildmode=pie by exepages' tests: it releases
// its executable's pages, then uses relocated pointers (interface tables,
// type descriptors, function values).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/flow-telemetry/flow/internal/exepages"
)

type shape interface{ area() float64 }

type square struct{ side float64 }

func (s square) area() float64 { return s.side * s.side }

func main() {
	n, err := exepages.Release()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
	shapes := []shape{square{2}, square{3}}
	total := 0.0
	for _, s := range shapes {
		total += s.area()
	}
	m := map[string]any{"total": total, "names": []string{"b", "a"}}
	b, err := json.Marshal(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "marshal:", err)
		os.Exit(1)
	}
	names := []string{"b", "a"}
	sort.Strings(names)
	func() {
		defer func() { _ = recover() }()
		panic(errors.New("recovered"))
	}()
	fmt.Printf("ok after releasing %d bytes: %s %v\n", n, b, names)
}
