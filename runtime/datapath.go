package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Data directory names. Labels may be any string, so a component ID is not a
// safe file name: "/../../../tmp/x" would climb out of --storage.path, a
// 300-byte label exceeds NAME_MAX, and "A" and "a" are one directory on a
// case-insensitive filesystem. DataDirName maps every ID to one safe,
// bounded, distinct name.
const (
	// MaxPlainDirName is the longest ID kept as its own directory name.
	MaxPlainDirName = 100
	// hashedPrefixLen bounds the readable prefix of a hashed name; with the
	// "+" and the 12 hex digits a hashed name is at most 77 bytes.
	hashedPrefixLen = 64
	// hashHexLen is the number of hex digits of SHA-256(ID) in a hashed
	// name: 48 bits, so a collision among even 100,000 IDs has a chance
	// below 1 in 10^5, and one is reported (never silently shared).
	hashHexLen = 12
)

// DataDirName returns the name of id's data directory under --storage.path.
//
// An ID made only of the bytes [a-z0-9._-], not starting with a dot and at
// most MaxPlainDirName (100) bytes long is its own name, as flow always stored
// it, so existing WALs are found: every ID written with a plain lower-case
// label ("prometheus.remote_write.default", "loki.write.my-loki").
//
// Any other ID becomes a readable prefix (lower-cased; every run of other
// bytes replaced by one "_"; at most 64 bytes), a "+", and the first 12 hex
// digits of the SHA-256 of the whole ID: "loki.write.Prod EU" becomes
// "loki.write.prod_eu+" followed by 12 hex digits. A "+" never occurs in a
// plain name, so a hashed name never equals one, and two distinct IDs get
// distinct names unless their hashes collide (checked at load: see
// checkDataDirs). Every name is one path element of at most 100 bytes,
// all lower-case, never "." or "..".
func DataDirName(id string) string {
	if isPlainDirName(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	var b strings.Builder
	b.Grow(hashedPrefixLen + 1 + hashHexLen)
	replaced := false
	for i := 0; i < len(id) && b.Len() < hashedPrefixLen; i++ {
		c := id[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if !plainByte(c) || (b.Len() == 0 && c == '.') {
			if !replaced {
				b.WriteByte('_')
				replaced = true
			}
			continue
		}
		b.WriteByte(c)
		replaced = false
	}
	b.WriteByte('+')
	var hx [hashHexLen]byte
	hex.Encode(hx[:], sum[:hashHexLen/2])
	b.Write(hx[:])
	return b.String()
}

func plainByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

func isPlainDirName(id string) bool {
	if id == "" || len(id) > MaxPlainDirName || id[0] == '.' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !plainByte(id[i]) {
			return false
		}
	}
	return true
}

// checkDataDirs reports two components of g that would share a data
// directory, at both blocks. Names are compared case-insensitively, as a
// case-insensitive filesystem (macOS, Windows) would.
func checkDataDirs(nodes []*gnode) hcl.Diagnostics {
	var diags hcl.Diagnostics
	var seen map[string]*gnode
	for _, n := range nodes {
		if n.st.reg.NoDataPath {
			continue
		}
		if seen == nil {
			seen = map[string]*gnode{}
		}
		key := strings.ToLower(n.st.dirName)
		prev, dup := seen[key]
		if !dup {
			seen[key] = n
			continue
		}
		at := func(r hcl.Range) string { return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column) }
		hint := "Change one of the labels."
		summary := fmt.Sprintf("components %q and %q would share the data directory %q", prev.id, n.id, n.st.dirName)
		diags = append(diags,
			&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  summary,
				Detail:   fmt.Sprintf("The other is defined at %s. Each component needs its own directory under --storage.path. %s", at(n.block.NameRange), hint),
				Subject:  prev.block.NameRange.Ptr(),
			},
			&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  summary,
				Detail:   fmt.Sprintf("The other is defined at %s. Each component needs its own directory under --storage.path. %s", at(prev.block.NameRange), hint),
				Subject:  n.block.NameRange.Ptr(),
			})
	}
	return diags
}

// ensureDataDir creates st's data directory, migrating a legacy one first
// (see migrateLegacyDir), and checks that it is a real directory directly
// under the storage root. A symbolic link there is refused: flow never
// follows a link planted inside --storage.path to write elsewhere (the root
// itself may be a link; it is the operator's choice).
func (r *Runtime) ensureDataDir(st *nodeState) error {
	root := r.opts.DataPath
	if err := checkInside(root, st.dataPath); err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o750); err != nil {
		return fmt.Errorf("creating --storage.path: %w", err)
	}
	r.migrateLegacyDir(st)
	if err := os.Mkdir(st.dataPath, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating data directory: %w", err)
	}
	fi, err := os.Lstat(st.dataPath)
	if err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("data directory %s is a symbolic link: flow does not follow links inside --storage.path (point --storage.path itself at the other disk, or replace the link with a directory)", st.dataPath)
	case !fi.IsDir():
		return fmt.Errorf("data directory %s exists and is not a directory", st.dataPath)
	}
	return nil
}

// checkInside verifies that path is one element directly below root.
// DataDirName guarantees it; this is the second line of defence.
func checkInside(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == "." || rel == ".." || strings.ContainsAny(rel, `/\`) || filepath.IsAbs(rel) {
		return fmt.Errorf("data directory %q is not directly inside --storage.path %q", path, root)
	}
	return nil
}

// migrateLegacyDir renames the directory an older flow used for st's
// component (<storage.path>/<id>, the raw ID) to its DataDirName, once,
// when the new directory does not exist yet. Only a real directory that is
// exactly one element below the root is moved: an ID such as
// "/../../x" never named a legacy directory inside the root, and is
// ignored. On a case-insensitive filesystem the legacy directory of
// "loki.write.A" is also that of "loki.write.a"; it is left to the latter
// when the config has it. A failed rename is logged, and the component starts
// with a new, empty directory.
func (r *Runtime) migrateLegacyDir(st *nodeState) {
	if st.dirName == st.id || strings.ContainsAny(st.id, "/\\\x00") || len(st.id) > 255 {
		return
	}
	root := r.opts.DataPath
	legacy := filepath.Join(root, st.id)
	if checkInside(root, legacy) != nil || filepath.Base(legacy) != st.id {
		return
	}
	if _, err := os.Lstat(st.dataPath); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	fi, err := os.Lstat(legacy)
	if err != nil || !fi.IsDir() {
		return
	}
	if lower := strings.ToLower(st.id); lower != st.id && isPlainDirName(lower) {
		if g := r.graph.Load(); g != nil {
			if n, ok := g.byID[lower]; ok && !n.st.reg.NoDataPath {
				if fl, err := os.Lstat(filepath.Join(root, lower)); err == nil && os.SameFile(fi, fl) {
					st.log.Warn("not migrating the legacy data directory: on this case-insensitive filesystem it belongs to another component", "dir", legacy, "other", lower)
					return
				}
			}
		}
	}
	if err := os.Rename(legacy, st.dataPath); err != nil {
		st.log.Warn("could not move the legacy data directory; starting with an empty one", "from", legacy, "to", st.dataPath, "err", err)
		return
	}
	st.log.Info("moved the data directory to its new name", "from", legacy, "to", st.dataPath)
}
