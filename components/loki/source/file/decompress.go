package file

import (
	"compress/bzip2"
	"compress/gzip"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"os"
)

// runCompressed reads a compressed file (a rotated archive) once: it waits
// initial_delay for the writer to finish, decompresses, skips the bytes its
// saved position says were sent, and sends the rest. Positions count
// decompressed bytes. The file is read again only if another file replaces
// it at the path.
func (t *tailer) runCompressed(ctx context.Context) {
	if !sleep(ctx, t.opts.initialDelay) && ctx.Err() != nil {
		return
	}
	first := true
	for ctx.Err() == nil {
		f, err := os.Open(t.path)
		if err != nil {
			t.setErr(err)
			if !sleep(ctx, t.opts.maxPoll) {
				return
			}
			continue
		}
		start := int64(0)
		read := true
		if off, _, ok := t.pos.get(t.key); ok && first {
			start = off
		} else if first && t.pos.isCorrupt(t.key) {
			switch t.opts.onPositionsError {
			case onPositionsErrorSkip:
				f.Close()
				t.skipCorrupt()
				return
			case onPositionsErrorRestartEnd:
				// A compressed file is complete: its end is all of it.
				read = false
			}
		}
		first = false
		if read {
			if err := t.readCompressed(ctx, f, start); err != nil {
				t.setErr(err)
			}
		}
		// Wait until another file takes the path.
		for ctx.Err() == nil {
			if t.check(f, 0) == fileReplaced {
				break
			}
			if !sleep(ctx, t.opts.maxPoll) {
				break
			}
		}
		f.Close()
		if ctx.Err() == nil {
			t.commit(0)
		}
	}
}

// maxDecompressed bounds what one compressed file may expand to (a
// decompression bomb stops there, reported).
const maxDecompressed = 16 << 30

func (t *tailer) readCompressed(ctx context.Context, f *os.File, start int64) error {
	var r io.Reader
	var err error
	switch t.opts.format {
	case "gz":
		r, err = gzip.NewReader(f)
	case "z":
		r, err = zlib.NewReader(f)
	case "bz2":
		r = bzip2.NewReader(f)
	default:
		return fmt.Errorf("unknown compression format %q", t.opts.format)
	}
	if err != nil {
		return fmt.Errorf("decompressing %s: %w", t.path, err)
	}
	r = io.LimitReader(r, maxDecompressed)
	if start > 0 {
		if _, err := io.CopyN(io.Discard, r, start); err != nil {
			return nil // already read whole
		}
	}
	lr := newLineReader(r, start, t.opts.enc.forFile(f), t.opts.maxLineSize)
	lr.bomChecked = start != 0
	t.commit(start)
	_, err = t.drain(ctx, lr, true)
	return err
}
