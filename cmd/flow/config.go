package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// configExtensions are the file types a config directory is made of.
var configExtensions = []string{".river", ".alloy"}

// readConfig reads PATH: a single file, or every .river and .alloy file
// directly in a directory (not recursing), which together form one graph.
func readConfig(path string) (map[string][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !fi.IsDir() {
		src, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		return map[string][]byte{path: src}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("reading config directory: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() || !hasConfigExtension(e.Name()) {
			continue
		}
		p := filepath.Join(path, e.Name())
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		files[p] = src
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("config directory %s holds no %s files", path, strings.Join(configExtensions, " or "))
	}
	return files, nil
}

func hasConfigExtension(name string) bool {
	for _, ext := range configExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}
